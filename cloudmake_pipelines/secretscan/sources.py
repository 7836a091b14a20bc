"""What to scan: files and directories, or the added lines of git diffs (staged, a range, all history).

A diff becomes one :class:`Blob` per file (per commit in history mode): its added lines joined, with the
line number each has in the new revision, so findings point at the file and line a reviewer opens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "--unified=0", "--find-renames",
                 "--diff-filter=d", "--src-prefix=a/", "--dst-prefix=b/")
# "@@ -a,b +c,d @@", or for a merge's combined diff "@@@ -a,b -c,d +e,f @@@" (one column per parent)
_HUNK = re.compile(rb"^(@@+) (?:-\d+(?:,\d+)? )+\+(\d+)(?:,\d+)? \1")
_COMMIT_MARK = b"\x00commit "
_ESCAPES = {b"a": 7, b"b": 8, b"t": 9, b"n": 10, b"v": 11, b"f": 12, b"r": 13, b'"': 34, b"\\": 92}
SKIP_DIRS = {".git", ".hg", ".svn"}


@dataclass
class Blob:
    """Content to scan: a whole file's bytes, or a diff's added lines with their new-revision numbers."""

    path: str
    data: bytes
    line_numbers: list[int] | None = None
    commit: str | None = None


@dataclass(frozen=True)
class FileRef:
    """A file on disk to be read by a worker: ``path`` as shown, ``location`` as opened."""

    path: str
    location: str
    size: int


def git(args: Iterable[str], cwd: str | Path | None = None) -> bytes:
    """Run git and return stdout; a failure is a usage error (exit 2) quoting git's message."""
    import subprocess  # here: a scan of named files runs no git (a pre-commit hook's start-up)

    args = list(args)
    try:
        done = subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=cwd, capture_output=True,
                              check=False)
    except FileNotFoundError:
        raise ConfigError("git is not installed or not on PATH") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {args[0]} failed: {message[0] if message else f'exit {done.returncode}'}")
    return done.stdout


def repo_root(cwd: str | Path | None = None) -> Path:
    return Path(os.fsdecode(git(["rev-parse", "--show-toplevel"], cwd).strip()))


def staged(cwd: str | Path | None = None) -> list[Blob]:
    """The added lines of the index against HEAD (against the empty tree before the first commit)."""
    root = repo_root(cwd)
    return list(parse_diff(git(["diff", "--cached", *_DIFF_OPTIONS], root)))


def diff_range(spec: str, cwd: str | Path | None = None) -> list[Blob]:
    """The added lines between two revisions, ``A..B`` (or ``A...B``, or one revision against the work tree)."""
    if not spec or spec.startswith("-"):
        raise ConfigError(f"--git-diff {spec!r}: expected a revision range such as HEAD~1..HEAD")
    root = repo_root(cwd)
    revisions = [r for r in re.split(r"\.\.\.?", spec) if r]
    for revision in revisions:
        try:
            git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], root)
        except ConfigError:
            raise ConfigError(f"--git-diff {spec}: {revision!r} is not a commit in {root}") from None
    return list(parse_diff(git(["diff", *_DIFF_OPTIONS, spec, "--"], root)))


def history(cwd: str | Path | None = None) -> Iterator[Blob]:
    """Every commit's added lines on every ref, streamed from ``git log -p`` (oldest memory use: one file)."""
    root = repo_root(cwd)
    command = ["git", "-c", "core.quotePath=false", "log", "-p", "--cc", "--all", "--full-history", "--reverse",
               "--format=%x00commit %H", *_DIFF_OPTIONS]
    import subprocess

    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield from parse_diff(process.stdout)
        stderr = process.stderr.read()
        if process.wait() != 0 and b"does not have any commits" not in stderr:
            raise ConfigError(f"git log failed: {stderr.decode('utf-8', 'replace').strip()[:300]}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def commit_count(cwd: str | Path | None = None) -> int:
    try:
        return int(git(["rev-list", "--all", "--count"], cwd).strip() or 0)
    except ConfigError:
        return 0


def parse_diff(lines: Iterable[bytes]) -> Iterator[Blob]:
    """Blobs of added lines from unified diff text (``git diff -U0`` or ``git log -p --cc`` output).

    In a merge's combined diff only lines added against every parent count: the merge itself wrote them
    (a conflict resolution); lines taken from one side were already scanned in that side's commits.
    """
    if isinstance(lines, bytes):
        lines = lines.splitlines(keepends=True)
    commit = path = None
    added: list[bytes] = []
    numbers: list[int] = []
    in_hunk = False
    next_line = columns = 0

    def flush() -> Iterator[Blob]:
        if path is not None and added:
            yield Blob(path, b"\n".join(added), numbers[:], commit)
        added.clear()
        numbers.clear()

    for raw in lines:
        line = raw.rstrip(b"\n")
        if line.startswith(_COMMIT_MARK):
            yield from flush()
            commit, path, in_hunk = line[len(_COMMIT_MARK):].decode(), None, False
        elif line.startswith((b"diff --git ", b"diff --cc ", b"diff --combined ")):
            yield from flush()
            path, in_hunk = None, False
        elif in_hunk and line[:1] in (b"+", b"-", b" ") and len(line) >= columns:
            prefix = line[:columns]
            if b"-" in prefix:  # removed: not in the new revision
                continue
            if prefix == b"+" * columns:
                added.append(line[columns:].rstrip(b"\r"))
                numbers.append(next_line)
            next_line += 1
        elif (hunk := _HUNK.match(line)) is not None:
            in_hunk, columns, next_line = True, len(hunk.group(1)) - 1, int(hunk.group(2))
        elif not in_hunk and line.startswith(b"+++ "):
            target = _unquote(line[4:])
            path = None if target == b"/dev/null" else os.fsdecode(target[2:] if target.startswith(b"b/") else target)
    yield from flush()


def _unquote(name: bytes) -> bytes:
    """git's C-style quoting of unusual file names (``"b/tab\\there"``, octal escapes for bytes)."""
    name = name.rstrip(b"\t")
    if not (name.startswith(b'"') and name.endswith(b'"')):
        return name
    out, body, i = bytearray(), name[1:-1], 0
    while i < len(body):
        if body[i:i + 1] == b"\\" and i + 1 < len(body):
            nxt = body[i + 1:i + 2]
            if nxt.isdigit():
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, nxt[0]))
            i += 2
            continue
        out.append(body[i])
        i += 1
    return bytes(out)


def files(paths: Iterable[str], *, respect_gitignore: bool = True) -> Iterator[FileRef]:
    """Every regular file under ``paths``. Inside a git work tree, files git ignores are left out (the
    tracked and untracked-but-not-ignored files are scanned) unless ``respect_gitignore`` is false."""
    for given in paths:
        target = Path(given)
        if not target.exists():
            raise ConfigError(f"{given}: no such file or directory")
        if target.is_file():
            yield FileRef(given, given, target.stat().st_size)
            continue
        listed = _git_listed(target) if respect_gitignore else None
        yield from listed if listed is not None else _walk(target)


def _git_listed(directory: Path) -> list[FileRef] | None:
    import subprocess

    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
                             cwd=directory, capture_output=True, check=False)
    except FileNotFoundError:
        return None
    if out.returncode != 0:
        return None
    refs = []
    for name in out.stdout.split(b"\0"):
        if not name:
            continue
        location = os.path.join(directory, os.fsdecode(name))
        try:
            stat = os.stat(location)
        except OSError:  # deleted in the work tree but still in the index
            continue
        if os.path.isfile(location):
            refs.append(FileRef(os.path.normpath(location), location, stat.st_size))
    return refs


def _walk(directory: Path) -> Iterator[FileRef]:
    stack = [str(directory)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield FileRef(os.path.normpath(entry.path), entry.path, entry.stat(follow_symlinks=False).st_size)
