"""Scanning sources end to end: read each file once, skip binaries early, spread large trees over cores."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from .content import HEAD_BYTES, Piece, pieces
from .engine import Engine
from .findings import ScanResult, Skipped
from .rules import RuleSet
from .sources import Blob, FileRef

#: Below this many bytes, starting worker processes costs more than it saves: one core scans ~600 MB per
#: CPU-second here, so a pool (~50 ms to start) pays off only on large trees.
PARALLEL_THRESHOLD = 64 * 1024 * 1024
BATCH_BYTES = 4 * 1024 * 1024

Progress = Callable[[int], None]

_worker_engine: Engine | None = None  # inherited by forked workers


def make_engine(ruleset: RuleSet, expected_bytes: int | None = None) -> Engine:
    """The engine for a scan of any size: hyperscan's database is cached on disk, so a small scan pays
    only for loading it, and the answer never depends on how much else is scanned (``expected_bytes``
    is accepted for callers that size their work; it no longer changes which rules run)."""
    return Engine(ruleset)


def read(ref: FileRef, ruleset: RuleSet) -> Iterator[Piece | Skipped]:
    """The file's pieces to scan (windows, archive members, printable runs; see :mod:`.content`), or a
    :class:`Skipped` saying why (part of) it was not scanned; nothing when the allowlist excludes the
    path (lock files)."""
    if ruleset.allowlist.allows_path(ref.path):
        return
    if ruleset.max_file_size is not None and ref.size > ruleset.max_file_size:
        yield Skipped(ref.path, f"larger than {ruleset.max_file_size / (1024 * 1024):g} MiB (max_file_size_mb)")
        return
    try:
        with open(ref.location, "rb") as handle:
            yield from pieces(ref.path, handle, ref.size)
    except OSError as exc:
        yield Skipped(ref.path, f"unreadable: {exc.strerror or exc}")


def scan_files(engine: Engine, refs: list[FileRef], *, jobs: int = 1, progress: Progress | None = None,
               parallel_threshold: int = PARALLEL_THRESHOLD) -> ScanResult:
    """Scan files, in ``jobs`` processes when the tree holds at least ``parallel_threshold`` bytes."""
    started = time.perf_counter()
    total = sum(ref.size for ref in refs)
    batches = _batches(refs)
    result = ScanResult()
    if jobs > 1 and total >= parallel_threshold and len(batches) > 1:
        global _worker_engine
        _worker_engine = engine
        import multiprocessing  # only here: importing it costs a pre-commit run ~20 ms
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for part, size in zip(pool.map(_scan_batch, batches), map(_batch_size, batches), strict=True):
                result.add(part)
                if progress:
                    progress(size)
    else:
        for batch in batches:
            result.add(_scan_batch(batch, engine))
            if progress:
                progress(_batch_size(batch))
    result.findings.sort(key=lambda f: f.order)
    result.seconds = time.perf_counter() - started
    return result


def scan_blobs(engine: Engine, blobs: Iterable[Blob], *, progress: Progress | None = None) -> ScanResult:
    """Scan diff blobs (added lines); binary content (a NUL byte) is skipped."""
    started = time.perf_counter()
    result = ScanResult()
    for blob in blobs:
        if engine.ruleset.allowlist.allows_path(blob.path):
            continue
        if b"\0" in blob.data[:HEAD_BYTES]:
            result.skipped.append(Skipped(blob.path, "binary"))
            continue
        result.files += 1
        result.bytes += len(blob.data)
        result.findings += engine.scan(blob.data, blob.path, line_numbers=blob.line_numbers, commit=blob.commit)
        if progress:
            progress(1)
    result.seconds = time.perf_counter() - started
    return result


def _scan_batch(batch: list[FileRef], engine: Engine | None = None) -> ScanResult:
    engine = engine or _worker_engine
    result = ScanResult()
    for ref in batch:
        seen = False
        for piece in read(ref, engine.ruleset):
            if isinstance(piece, Skipped):
                result.skipped.append(piece)
                continue
            seen = True
            result.bytes += len(piece.data) if piece.owned is None else piece.owned
            result.findings += engine.scan(piece.data, piece.path, first_line=piece.first_line, owned=piece.owned,
                                          offsets=piece.offsets)
        result.files += seen
    return result


def _batches(refs: list[FileRef]) -> list[list[FileRef]]:
    batches: list[list[FileRef]] = [[]]
    size = 0
    for ref in refs:
        if size >= BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(ref)
        size += ref.size
    return [b for b in batches if b]


def _batch_size(batch: list[FileRef]) -> int:
    return sum(ref.size for ref in batch)
