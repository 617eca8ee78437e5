"""Faults: runs killed at random points resume to the same result; outputs are never half written; a full disk
or an unwritable folder gives one clear line and leaves earlier results intact."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from robust_snn.cli import main
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.io import atomic
from robust_snn.io.model_file import save_model

# Enough epochs that a kill 0-1.5 s after the first checkpoint lands mid-training (8 epochs of this network took
# about 1.5 s of training once the scan ran as C loops, and the kill could land after the last write).
TINY = '[network]\nhidden = [8]\n\n[train]\ndata = "synth-kws"\nepochs = 30\nbatch_size = 256\nquiet = true\n'


def train(cwd, out, resume=True):
    args = [sys.executable, "-m", "robust_snn", "train", "--config", "tiny.toml", "--out", out]
    return subprocess.Popen(args + (["--resume"] if resume else []), cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_training_killed_at_random_points_resumes_to_the_same_model(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    reference = train(tmp_path, "ref.rsnn", resume=False)
    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    rng = random.Random(11)
    kills = 0
    while True:
        proc = train(tmp_path, "m.rsnn", resume=(tmp_path / "m.rsnn.ckpt").exists())  # --resume needs one
        if kills < 3:
            # Kill at a random moment after the run has made progress (a checkpoint exists), so that the
            # kill lands mid-epoch or mid-write however slow this machine is today.
            deadline = time.monotonic() + 300
            while not (tmp_path / "m.rsnn.ckpt").exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)  # no cleanup handlers run: as a power cut or an OOM kill
                proc.wait()
                kills += 1
                assert not (tmp_path / "m.rsnn").exists()
                continue
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=600) == 0, stderr
        break
    assert kills >= 1, "no kill landed during training; the test did not test anything"
    assert "resuming from m.rsnn.ckpt" in stderr, "the last run started from scratch instead of resuming"
    assert (tmp_path / "m.rsnn").read_bytes() == (tmp_path / "ref.rsnn").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


WRITER = """
import sys
from robust_snn.io.atomic import write_json_atomic
while True:
    write_json_atomic(sys.argv[1], {"payload": list(range(1_000_000))})
"""


def test_a_process_killed_while_writing_never_leaves_a_half_written_file(tmp_path):
    path = tmp_path / "result.json"
    rng = random.Random(3)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        while not path.exists():
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())  # a torn write would not parse
        assert len(data["payload"]) == 1_000_000


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "m.rsnn"
    save_model(path, SNNClassifier(NetworkConfig(n_in=16, hidden=(8,), n_classes=8)))
    return path


def _full_disk(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(*_, **__):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("fault, where, message", [
    (_full_disk, "fsync", "No space left on device"),
    (_read_only, "mkstemp", "Permission denied"),
])
def test_a_full_disk_or_read_only_folder_exits_2_and_keeps_the_earlier_result(tmp_path, model_path, capsys,
                                                                              monkeypatch, fault, where, message):
    card = tmp_path / "card.json"
    args = ["evaluate", str(model_path), "--data", "synth-kws", "--device", "gaussian-10", "--chips", "2",
            "--quiet", "--json", str(card)]
    assert main(args) == 0
    before = card.read_bytes()
    capsys.readouterr()
    target = atomic.os if where == "fsync" else atomic.tempfile
    monkeypatch.setattr(target, where, fault)
    assert main(args[:-1] + [str(card)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert card.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "card.json.config.toml", "m.rsnn"]
