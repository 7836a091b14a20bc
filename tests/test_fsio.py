"""write_output never replaces what a path names: device nodes and FIFOs stay what they are, symbolic links
stay links (written through), regular files are replaced atomically, bad paths are clear errors (exit 2).

The device and FIFO cases run the real commands (`secrets scan -o`, `secrets baseline -o`) and the real
key-file and JWKS writers against nodes made in a temporary directory.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.fsio import write_output
from cloudmake_pipelines.keys.binding import LocalKeyStore, binding_name

NULL_DEVICE = os.makedev(1, 3)  # the numbers of /dev/null on Linux


def cloudmake(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "secrets", *args], cwd=cwd,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture
def null_device(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("creating a character device node (mknod) needs root")
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, NULL_DEVICE)
    return node


class FifoReader:
    """Reads a FIFO on a thread until the writer closes it (a FIFO's open blocks until both ends exist)."""

    def __init__(self, path: Path):
        self.data = b""
        self._thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self._thread.start()

    def _read(self, path: Path) -> None:
        with open(path, "rb") as handle:
            self.data = handle.read()

    def result(self) -> bytes:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the writer never closed the FIFO"
        return self.data


def _is_null_device(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == NULL_DEVICE


def test_a_character_device_is_written_in_place_not_replaced(null_device: Path, tmp_path: Path):
    write_output(null_device, b"report\n")
    assert _is_null_device(null_device)
    (tmp_path / "clean.txt").write_text("nothing to see\n")
    for args in (["scan", "-o", str(null_device), "clean.txt"], ["baseline", "-o", str(null_device), "clean.txt"]):
        result = cloudmake(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert _is_null_device(null_device), args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.txt", "null"]  # no temporary left behind


def test_the_key_file_on_a_device_leaves_the_node_alone(null_device: Path):
    LocalKeyStore(null_device, {})._write_file({binding_name(1): "material"})
    assert _is_null_device(null_device)


def test_a_fifo_receives_the_report_and_stays_a_fifo(tmp_path: Path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    write_output(fifo, b"first\n")
    assert reader.result() == b"first\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)

    (tmp_path / "clean.txt").write_text("nothing to see\n")
    reader = FifoReader(fifo)
    result = cloudmake("scan", "--format", "json", "-o", str(fifo), "clean.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(reader.result())["findings"] == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_output(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # an existing file keeps its permissions

    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "missing" / "x.json")
    with pytest.raises(ConfigError, match="dangling link"):
        write_output(dangling, b"x")
    assert dangling.is_symlink()


def test_a_regular_file_is_replaced_atomically_with_the_forced_mode(tmp_path: Path):
    target = tmp_path / "keys.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    inode = target.stat().st_ino
    write_output(target, b"secret-ish", mode=0o600)
    assert target.read_bytes() == b"secret-ish"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode  # a new file renamed over the old one: readers see old or new
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


def test_bad_targets_are_clear_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        write_output(tmp_path / "nonexistent" / "dir" / "out", b"x")
    with pytest.raises(ConfigError, match="is a directory"):
        write_output(tmp_path, b"x")
    (tmp_path / "clean.txt").write_text("nothing to see\n")
    result = cloudmake("scan", "-o", str(tmp_path / "nonexistent" / "dir" / "out"), "clean.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert b"does not exist; create it first" in result.stderr


def test_dash_is_stdout_for_reports_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "clean.txt").write_text("nothing to see\n")
    result = cloudmake("scan", "--format", "json", "-o", "-", "clean.txt", cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["findings"] == []
    assert not (tmp_path / "-").exists()
    monkeypatch.chdir(tmp_path)
    LocalKeyStore(Path("-"), {})._write_file({binding_name(1): "material"})
    assert (tmp_path / "-").is_file()  # key material never goes to stdout
