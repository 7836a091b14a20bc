"""Writing an output file without ever destroying what the path names.

Every command that writes a file the user names (a report ``-o``, a baseline, the JWKS document, the
master-key file) goes through :func:`write_output`:

- ``-``: standard output (where the caller allows it: never for key material).
- a character device or FIFO (``/dev/null``, ``/dev/stdout``, a pipe): opened and written in place; a
  rename over it would replace the device node with a regular file (as root, ``/dev/null`` for the whole
  machine).
- a block device, socket or directory: refused (exit 2).
- a symbolic link: written *through* to the file it names, by the same rules; the link itself is never
  replaced. A dangling link is refused (its target would be created somewhere the user did not name).
- a regular file, or nothing yet: replaced atomically (a temporary file in the same directory, fsync,
  ``os.replace``, fsync of the directory), so a reader or a killed run never sees half a file. An existing
  file keeps its permission bits; a new one gets ``mode`` (default: 0666 minus the umask).
- a missing parent directory, or one that cannot be written: a :class:`ConfigError` naming the path.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .errors import CloudMakeError, ConfigError


def write_output(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 dash_is_stdout: bool = False) -> None:
    """Write ``data`` to ``path`` (see the module docstring for what each kind of path gets).

    ``mode``: permission bits forced on the result (0o600 for key material), new file or not.
    ``dash_is_stdout``: ``-`` means standard output (reports); off for key material, where ``-`` is a
    file name like any other.
    """
    if dash_is_stdout and os.fspath(path) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    given = Path(path)
    target = _resolve_links(given)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigError(f"{given}: cannot write here ({exc.strerror})") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_special(given, target, info.st_mode, data)
        return
    _replace_atomically(given, target, data, mode if mode is not None else
                        (stat.S_IMODE(info.st_mode) if info is not None else None))


def _resolve_links(given: Path) -> Path:
    """The file a chain of symbolic links ends at; a dangling or looping link is refused."""
    if not given.is_symlink():
        return given
    try:
        target = given.resolve(strict=True)
    except FileNotFoundError:
        raise ConfigError(f"{given}: a symbolic link to {os.readlink(given)}, which does not exist; "
                          "refusing to create a file through a dangling link (write to the target path "
                          "itself if that is what you mean)") from None
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"{given}: cannot follow the symbolic link ({exc})") from None
    return target


def _write_special(given: Path, target: Path, st_mode: int, data: bytes) -> None:
    if stat.S_ISDIR(st_mode):
        raise ConfigError(f"{given}: is a directory; expected a file path")
    if not (stat.S_ISCHR(st_mode) or stat.S_ISFIFO(st_mode)):
        kind = "block device" if stat.S_ISBLK(st_mode) else "socket" if stat.S_ISSOCK(st_mode) else "special file"
        raise ConfigError(f"{given}: is a {kind}; expected a regular file, a character device, a FIFO or '-'")
    try:  # no O_CREAT, no O_TRUNC: the node stays what it is
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{given}: cannot open for writing ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _replace_atomically(given: Path, target: Path, data: bytes, mode: int | None) -> None:
    directory = target.parent
    if not directory.is_dir():
        raise ConfigError(f"{given}: the directory {directory} does not exist; create it first")
    temporary = directory / f".{target.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise ConfigError(f"{given}: cannot write in {directory} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode if mode is not None else 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CloudMakeError(f"{given}: writing failed ({exc.strerror})") from None
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
