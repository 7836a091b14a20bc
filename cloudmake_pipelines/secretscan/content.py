"""What a file holds, as text to scan: in bounded windows, decoded from archives and UTF-16, and the
printable runs of binaries.

Every file yields :class:`Piece` objects (text with the line its first byte is on, and how much of it
this piece reports on) or :class:`Skipped` ones, so that nothing is left out silently:

- large files are read in windows of :data:`WINDOW` bytes; each window carries :data:`OVERLAP` bytes of
  the next, cut at a line end, so a secret across a window edge is found once, with memory bounded by
  one window whatever the file's size;
- gzip, bzip2, xz, zip and tar archives (nested up to :data:`MAX_DEPTH`) are decoded as streams, with
  limits against decompression bombs (:data:`MAX_EXPANDED` bytes in all, :data:`MAX_RATIO` expansion);
  members are named ``archive.zip!dir/file``;
- UTF-16 with or without a byte-order mark is decoded to UTF-8;
- other binaries (a NUL byte near the start: images, executables) are reduced to their printable runs
  of :data:`MIN_RUN` or more characters, the way ``strings`` does (a PNG tEXt chunk, a token compiled
  into an executable).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .findings import Skipped

HEAD_BYTES = 8192
WINDOW = 8 * 1024 * 1024
OVERLAP = 256 * 1024
MAX_DEPTH = 3
MAX_EXPANDED = 1024 * 1024 * 1024
MAX_RATIO = 200
MIN_RUN = 8
_PRINTABLE_RUNS = re.compile(rb"[\t\x20-\x7e]{%d,}" % MIN_RUN)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_PNG = b"\x89PNG\r\n\x1a\n"
_TAR_MAGIC_AT = 257


@dataclass
class Piece:
    """Text to scan: ``data`` belongs to ``path`` and starts on line ``first_line``; only matches that
    start before ``owned`` are this piece's (the rest of the buffer is overlap with the next piece).
    Text extracted from a binary has ``offsets``: the byte offset in the file of each of its lines, which
    findings report instead of a line number."""

    path: str
    data: bytes
    first_line: int = 1
    owned: int | None = None
    offsets: list[int] | None = None


class _Limit(Exception):
    """An archive went over a decompression limit; it is reported as not scanned."""


class _Budget:
    """Bytes an archive (and everything nested in it) may expand to."""

    def __init__(self, compressed: int):
        self.left = min(MAX_EXPANDED, max(compressed, 1) * MAX_RATIO + 1024 * 1024)

    def spend(self, size: int, where: str) -> None:
        self.left -= size
        if self.left < 0:
            raise _Limit(f"archive expands beyond {MAX_RATIO}x its size or {MAX_EXPANDED // 2**20} MiB "
                         f"(stopped in {where})")


def pieces(path: str, handle: BinaryIO, size: int, *, depth: int = 0,
           budget: _Budget | None = None) -> Iterator[Piece | Skipped]:
    """Everything in the file open at ``handle`` that can hold a secret (see the module docstring)."""
    head = handle.read(HEAD_BYTES)
    kind = _archive_kind(path, head)
    if kind is not None:
        if depth >= MAX_DEPTH:
            yield Skipped(path, f"archive nested deeper than {MAX_DEPTH} levels")
            return
        budget = budget or _Budget(size)
        try:
            yield from _archive(kind, path, _Rewound(head, handle), depth, budget)
        except _Limit as exc:
            yield Skipped(path, str(exc))
        except (OSError, EOFError, ValueError) as exc:  # truncated or corrupt: say so, keep scanning
            yield Skipped(path, f"{kind} archive could not be read ({exc.__class__.__name__}: {exc})"[:200])
        return
    encoding = _utf16(head)
    if encoding is not None:
        yield from _windows(path, _Decoded(_Rewound(head, handle), encoding))
        return
    if head.startswith(_PNG):
        yield from _png_text(path, _Rewound(head, handle))
        return
    if b"\0" in head:
        yield from _printable_runs(path, _Rewound(head, handle))
        return
    yield from _windows(path, _Rewound(head, handle))


def _windows(path: str, handle, window: int = WINDOW, overlap: int = OVERLAP) -> Iterator[Piece]:
    line, carried = 1, b""
    while True:
        chunk = handle.read(window)
        data = carried + chunk if carried else chunk
        if not chunk:
            if data or line == 1:
                yield Piece(path, data, line)
            return
        if len(data) <= overlap:
            carried = data
            continue
        cut = data.rfind(b"\n", 0, len(data) - overlap) + 1 or len(data) - overlap
        yield Piece(path, data, line, owned=cut)
        line += data.count(b"\n", 0, cut)
        carried = data[cut:]


def _printable_runs(path: str, handle) -> Iterator[Piece]:
    """The ``strings`` of a binary, one run per line with its byte offset, read window by window (a run
    across a window edge is cut; runs are short compared with a window)."""
    base = 0
    while True:
        chunk = handle.read(WINDOW)
        if not chunk:
            return
        runs = list(_PRINTABLE_RUNS.finditer(chunk))
        if runs:
            yield Piece(path, b"\n".join(m.group() for m in runs) + b"\n", 1,
                        offsets=[base + m.start() for m in runs])
        base += len(chunk)


def _png_text(path: str, handle) -> Iterator[Piece]:
    """The text chunks of a PNG (tEXt, and zTXt/iTXt decompressed within the limits), one per line as
    ``keyword: text`` with the byte offset of its chunk's data (for uncompressed text, a finding's offset
    is then the secret's in the file); image data is skipped without being held in memory."""
    import zlib

    position = len(handle.read(len(_PNG)))
    texts: list[bytes] = []
    offsets: list[int] = []
    while len(header := handle.read(8)) == 8:
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        position += 8
        if kind not in (b"tEXt", b"zTXt", b"iTXt") or length > WINDOW:
            position += length + 4
            while length > 0:  # skip the chunk and its CRC in bounded reads
                length -= len(handle.read(min(length, 1 << 20))) or length
            handle.read(4)
            continue
        offsets.append(position - 1)  # "keyword: " is one byte longer than "keyword\0"
        position += length + 4
        body = handle.read(length)
        handle.read(4)
        keyword, _, rest = body.partition(b"\0")
        if kind == b"zTXt":
            rest = _inflate(zlib, rest[1:])
        elif kind == b"iTXt":
            compressed, rest = rest[:1] == b"\1", rest[2:]
            rest = rest.split(b"\0", 2)[-1]  # after the language tag and translated keyword
            rest = _inflate(zlib, rest) if compressed else rest
        texts.append(keyword + b": " + rest.replace(b"\0", b" "))
    if texts:
        yield Piece(path, b"\n".join(texts) + b"\n", 1, offsets=offsets)


def _inflate(zlib, data: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, MAX_RATIO * max(len(data), 1024))
    return out


def _utf16(head: bytes) -> str | None:
    """UTF-16 by its byte-order mark, or without one by NUL bytes in every other position."""
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    sample = head[:4096]
    if len(sample) < 16 or b"\0" not in sample:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _archive_kind(path: str, head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and path.lower().endswith((".bz2", ".tbz", ".tbz2")):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\0"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + 5] == b"ustar":
        return "tar"
    return None


def _archive(kind: str, path: str, handle, depth: int, budget: _Budget) -> Iterator[Piece | Skipped]:
    if kind in ("gzip", "bzip2", "xz"):
        stream = _Capped(_decompressor(kind, handle), budget, path)
        name = os.path.basename(path.rsplit("!", 1)[-1])
        stem, dot, suffix = name.rpartition(".")
        inner = (f"{stem}.tar" if suffix.lower() in ("tgz", "tbz", "tbz2", "txz") else stem) if dot else name
        yield from pieces(f"{path}!{inner}", stream, MAX_EXPANDED, depth=depth + 1, budget=budget)
    elif kind == "zip":
        yield from _zip(path, handle, depth, budget)
    else:
        yield from _tar(path, handle, depth, budget)


def _decompressor(kind: str, handle):
    import bz2
    import gzip
    import lzma

    opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
    return opener(fileobj=handle, mode="rb")


def _zip(path: str, handle, depth: int, budget: _Budget) -> Iterator[Piece | Skipped]:
    """Members streamed one by one: zip's directory is at its end, so the archive is read in place when it
    is a file, else (inside another archive) spooled to a temporary file past :data:`WINDOW` bytes."""
    import tempfile
    import zipfile

    with _seekable(handle, tempfile, zipfile) as source, zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            where = f"{path}!{info.filename}"
            if info.compress_size and info.file_size > MAX_RATIO * info.compress_size + 1024 * 1024:
                raise _Limit(f"archive member {info.filename} expands {info.file_size // max(info.compress_size, 1)}x "
                             f"(limit {MAX_RATIO}x)")
            with archive.open(info) as member:
                yield from pieces(where, _Capped(member, budget, where), info.file_size, depth=depth + 1,
                                  budget=budget)


def _tar(path: str, handle, depth: int, budget: _Budget) -> Iterator[Piece | Skipped]:
    import tarfile

    with tarfile.open(fileobj=handle, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            where = f"{path}!{member.name}"
            budget.spend(0, where)
            extracted = archive.extractfile(member)
            if extracted is not None:
                yield from pieces(where, _Capped(extracted, budget, where), member.size, depth=depth + 1,
                                  budget=budget)


def _seekable(handle, tempfile, zipfile):
    """The file under ``handle`` rewound, or a spooled copy of the stream (bounded memory)."""
    from contextlib import nullcontext

    raw = handle.raw if isinstance(handle, _Rewound) else None
    if raw is not None and getattr(raw, "seekable", lambda: False)():
        raw.seek(0)
        return nullcontext(raw)
    spool = tempfile.SpooledTemporaryFile(max_size=WINDOW)
    while chunk := handle.read(1 << 20):
        spool.write(chunk)
    spool.seek(0)
    return spool


class _Decoded:
    """A UTF-16 stream read as UTF-8, decoded incrementally (memory bounded by the reads)."""

    def __init__(self, stream, encoding: str):
        import codecs

        self._stream, self._decoder = stream, codecs.getincrementaldecoder(encoding)("replace")

    def read(self, size: int = -1) -> bytes:
        raw = self._stream.read(size if size is None or size < 0 else size * 2)
        return self._decoder.decode(raw, final=not raw).encode("utf-8", "surrogateescape")


class _Capped:
    """A stream that charges what it reads to the archive's budget."""

    def __init__(self, stream, budget: _Budget, where: str):
        self._stream, self._budget, self._where = stream, budget, where

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._budget.left + 1, 1)
        data = self._stream.read(size)
        self._budget.spend(len(data), self._where)
        return data


class _Rewound:
    """A stream whose first bytes were already read (to sniff its kind), put back in front."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream = head, stream

    @property
    def raw(self):
        """The stream under the sniffed head (seekable when it is a file)."""
        return self._stream

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out, self._head = self._head + self._stream.read(), b""
            return out
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            if len(out) < size:
                out += self._stream.read(size - len(out))
            return out
        return self._stream.read(size)
