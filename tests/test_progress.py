"""Progress output for logs and pipelines: no carriage returns off a terminal, one line per epoch, JSON Lines."""

import json
import subprocess
import sys

import torch

from robust_snn.progress import JsonLines, format_epoch, progress_mode


def run(*args):
    # stdout and stderr are pipes here, as in `robust-snn train ... 2>&1 | tee log`.
    return subprocess.run([sys.executable, "-m", "robust_snn", *args], capture_output=True, text=True)


def small_config(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[network]\nhidden = [8]\n\n[train]\nbatch_size = 256\n")
    return str(config)


def test_train_into_a_pipe_prints_one_line_per_epoch_and_no_carriage_return(tmp_path):
    log = tmp_path / "log.jsonl"
    proc = run("train", "--data", "synth-kws", "--epochs", "2", "--out", str(tmp_path / "m.rsnn"),
               "--config", small_config(tmp_path), "--log-json", str(log))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    epoch_lines = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"]
    assert all("val_accuracy=" in line for line in epoch_lines)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    # The JSON log and the history stored in the model file are the same table.
    from robust_snn.io.model_file import read_model

    history = read_model(tmp_path / "m.rsnn")[1]["history"]
    assert rows == json.loads(json.dumps(history))


def test_quiet_prints_no_progress(tmp_path):
    proc = run("train", "--data", "synth-kws", "--epochs", "1", "--out", str(tmp_path / "m.rsnn"),
               "--config", small_config(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "epoch" not in proc.stderr and "\r" not in proc.stderr


def test_log_json_into_a_missing_folder_exits_2_naming_it(tmp_path):
    proc = run("train", "--data", "synth-kws", "--epochs", "1", "--out", str(tmp_path / "m.rsnn"),
               "--config", small_config(tmp_path), "--log-json", str(tmp_path / "nope" / "log.jsonl"))
    assert proc.returncode == 2
    assert "log.jsonl" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_mode_follows_the_stream():
    class Tty:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    assert progress_mode(True, Tty()) == "bar"
    assert progress_mode(True, Pipe()) == "lines"
    assert progress_mode(False, Tty()) == "off"


def test_json_lines_appends_whole_lines_and_writes_null_for_nan(tmp_path):
    path = tmp_path / "log.jsonl"
    with JsonLines(path) as log:
        log.write({"epoch": 1, "train_loss": float("nan"), "lr": torch.tensor(0.5)})
    with JsonLines(path) as log:  # a resumed run appends
        log.write({"epoch": 2, "train_loss": 0.25, "lr": 0.5})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"epoch": 1, "train_loss": None, "lr": 0.5}, {"epoch": 2, "train_loss": 0.25, "lr": 0.5}]


def test_format_epoch_is_one_line_with_every_key():
    line = format_epoch({"epoch": 3, "lr": 0.001, "train_loss": 0.41234, "val_accuracy": 0.875}, total=10)
    assert line == "epoch 3/10 lr=0.0010 train_loss=0.4123 val_accuracy=0.8750"


def test_ensemble_off_a_terminal_prints_one_line_per_profile(capsys, tiny_model, tiny_data):
    from robust_snn.devices import evaluate_ensemble

    evaluate_ensemble(tiny_model, "gaussian-10", tiny_data[1], n_chips=3, chunk_size=2, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("chips ")]
    assert len(lines) == 1 and lines[0].startswith("chips 0-2 of gaussian-10:")


def test_history_and_score_card_load_into_a_table(tmp_path):
    """The documented layouts: history = list of per-epoch dicts; a score card = one flat-ish dict."""
    rows = [{"epoch": 1, "lr": 1e-3, "train_loss": 2.0}, {"epoch": 2, "lr": 1e-3, "train_loss": 1.5}]
    path = tmp_path / "log.jsonl"
    with JsonLines(path) as log:
        for row in rows:
            log.write(row)
    try:
        import pandas as pd
    except ImportError:  # the stdlib shape check instead
        loaded = [json.loads(line) for line in path.read_text().splitlines()]
        assert loaded == rows and all(isinstance(r, dict) for r in loaded)
        return
    frame = pd.read_json(path, lines=True)
    assert list(frame.columns) == ["epoch", "lr", "train_loss"] and frame["train_loss"].tolist() == [2.0, 1.5]
