import errno
import json
import os

import pytest

from robust_snn.io import atomic
from robust_snn.io.atomic import OutputError, write_json_atomic


def test_a_failed_write_leaves_the_earlier_file_intact_and_no_temporary_behind(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"accuracy": 0.9})

    def full_disk(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        write_json_atomic(path, {"accuracy": 0.1})
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert os.listdir(tmp_path) == ["result.json"]


def test_a_missing_output_folder_is_named(tmp_path):
    with pytest.raises(OutputError, match="output folder does not exist: .*nowhere"):
        write_json_atomic(tmp_path / "nowhere" / "r.json", {})


def test_an_unwritable_folder_gives_a_clear_error(tmp_path, monkeypatch):
    def refuse(*_, **__):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="cannot write in .*Permission denied"):
        write_json_atomic(tmp_path / "r.json", {})


def test_json_output_is_stable_bytes_for_the_same_content(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    write_json_atomic(tmp_path / "b.json", {"a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_the_next_write_removes_what_a_writer_killed_mid_write_left_behind(tmp_path):
    """A SIGKILLed writer cannot clean up its temporary file; the next successful write of that output does."""
    leftover = tmp_path / ".result.json.k1ll3d.tmp"
    leftover.write_bytes(b'{"half": ')
    os.utime(leftover, ns=(1_000_000_000, 1_000_000_000))  # written long before the next write starts
    other = tmp_path / ".other.json.k1ll3d.tmp"  # another output's leftover is not this write's business
    other.write_bytes(b"{")
    os.utime(other, ns=(1_000_000_000, 1_000_000_000))
    write_json_atomic(tmp_path / "result.json", {"a": 1})
    assert sorted(os.listdir(tmp_path)) == [".other.json.k1ll3d.tmp", "result.json"]
