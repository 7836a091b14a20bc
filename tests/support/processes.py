"""Start long-running processes (dagster-webserver, dagster-daemon) in tests and always stop them all.

Dagster's processes spawn children (code servers, run workers) that do not exit on SIGTERM to the group,
and some start their own sessions. Every process started here carries a unique marker variable in its
environment, inherited by all its descendants; on exit every process holding the marker is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


def _pids_with_marker(marker: str) -> list[int]:
    needle = f"CM_TEST_PROCESS={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@contextlib.contextmanager
def spawn(args: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """Run ``args`` with output to ``log_path``; on exit stop it and every descendant, whatever happened."""
    marker = uuid.uuid4().hex
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, env={**env, "CM_TEST_PROCESS": marker}, stdout=log, stderr=subprocess.STDOUT,
                                cwd=cwd, start_new_session=True)
        try:
            yield proc
        finally:
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                for pid in _pids_with_marker(marker):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                deadline = time.monotonic() + grace
                while _pids_with_marker(marker) and time.monotonic() < deadline:
                    proc.poll()
                    time.sleep(0.1)
                if not _pids_with_marker(marker):
                    break
            proc.wait(timeout=10)
            leftover = _pids_with_marker(marker)
            assert not leftover, f"processes survived: {leftover}"
