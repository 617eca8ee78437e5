"""The command line refuses to give a wrong answer with exit status 0: data made another way than the model's,
a configuration that names two methods, an overwritten model, a --resume with nothing to resume; and Ctrl-C
says what was saved and how to continue."""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

import robust_snn
from robust_snn.cli import build_parser, main
from robust_snn.cli_guards import method_choice, network_settings, train_settings
from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.data import FrontEndConfig
from robust_snn.io.model_file import save_model

SYNTH_CLASSES = ["yes", "no", "up", "down", "left", "right", "_unknown_", "_silence_"]


def run(cwd, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "robust_snn", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def one_line_error(proc_or_err):
    err = proc_or_err if isinstance(proc_or_err, str) else proc_or_err.stderr
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def model_file(path, data="synth-kws", classes=SYNTH_CLASSES, front_end=None):
    """A model file as `train` writes it: with the data spec, class names and front end it was trained on."""
    front_end = FrontEndConfig().to_dict() if front_end is None else front_end  # synth-kws's documented default
    save_model(path, SNNClassifier(NetworkConfig(n_in=16, hidden=(8,), n_classes=len(classes), seed=0)),
               data=data, classes=list(classes), front_end=front_end)
    return path


# --- the data's front end, class names and data set against the model file's -------------------------------

@pytest.mark.parametrize("command", [
    ["evaluate", "{m}", "--device", "gaussian-10", "--chips", "2", "--quiet"],
    ["attack", "{m}", "--steps", "1", "--repeats", "1"],
    ["export", "{m}", "--format", "bundle", "--device", "gaussian-10", "--chips", "2", "--out", "{b}"],
])
def test_data_from_another_front_end_exits_2_naming_the_field(tmp_path, capsys, command):
    model = model_file(tmp_path / "m.rsnn")  # f_max 4000 Hz
    args = [w.format(m=model, b=tmp_path / "b.rsnn") for w in command] + ["--data", "synth-kws?fmax=1500"]
    assert main(args) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "f_max: model 4000.0, data 1500.0" in line and "m.rsnn" in line and "--allow-frontend-mismatch" in line
    assert not (tmp_path / "b.rsnn").exists()


def test_allow_frontend_mismatch_runs_and_warns(tmp_path, capsys):
    model = model_file(tmp_path / "m.rsnn")
    assert main(["attack", str(model), "--data", "synth-kws?fmax=1500", "--steps", "1", "--repeats", "1",
                 "--allow-frontend-mismatch"]) == 0
    assert "warning" in capsys.readouterr().err


def test_fine_tuning_on_data_from_another_front_end_exits_2(tmp_path, capsys):
    model = model_file(tmp_path / "m.rsnn")
    assert main(["train", "--init", str(model), "--data", "synth-kws?fmax=1500", "--out",
                 str(tmp_path / "ft.rsnn"), "--quiet"]) == 2
    assert "f_max: model 4000.0, data 1500.0" in one_line_error(capsys.readouterr().err)


def test_a_model_of_one_data_set_scored_on_another_with_the_same_classes_is_named(tmp_path, capsys):
    from test_data_speech_commands import make_folder

    folder = make_folder(tmp_path / "sc")
    spec = f"speech-commands:{folder}?classes=yes,no,up&silence=0&unknown=0"
    model = model_file(tmp_path / "m.rsnn", data="synth-kws", classes=["yes", "no", "up"])
    args = ["attack", str(model), "--data", spec, "--steps", "1", "--repeats", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "trained on synth-kws" in err and f"speech-commands:{folder}" in err
    assert main(args + ["--allow-other-data"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_class_names_that_differ_from_the_models_exit_2(tmp_path, capsys):
    model = model_file(tmp_path / "m.rsnn", classes=["yes", "no", "up", "down", "left", "right", "stop", "go"])
    assert main(["attack", str(model), "--data", "synth-kws", "--steps", "1", "--repeats", "1"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "label 6 is 'stop' in the model, '_unknown_' in the data" in line


def test_a_model_file_that_records_nothing_is_not_checked(tmp_path, capsys):
    """Files written through the API without data/classes/front_end: nothing to compare, no error."""
    path = tmp_path / "bare.rsnn"
    save_model(path, SNNClassifier(NetworkConfig(n_in=16, hidden=(8,), n_classes=8)))
    assert main(["attack", str(path), "--data", "synth-kws?fmax=1500", "--steps", "1", "--repeats", "1"]) == 0
    assert "warning" not in capsys.readouterr().err


# --- a configuration that contradicts itself ----------------------------------------------------------------

def ns(**kw):
    base = {"config": "c.toml", "method": None, "init": None, "epochs": None, "seed": None, "batch_size": None,
            "lr": None, "hidden": None, "recurrent": None, "readout": None}
    return argparse.Namespace(**{**base, **kw})


def test_train_method_beside_a_different_method_name_is_an_error_naming_both(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[train]\nmethod = "noise"\n\n[method]\nname = "standard"\n')
    assert main(["train", "--data", "synth-kws", "--out", str(tmp_path / "m.rsnn"), "--config",
                 str(tmp_path / "c.toml")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "[train] method = 'noise' conflicts with [method] name = 'standard'" in line
    assert not (tmp_path / "m.rsnn").exists()


def test_the_command_lines_method_wins_and_drops_the_files_hyperparameters(capsys):
    sections = {"method": {"name": "awp", "gamma": 0.01}}
    assert method_choice(ns(method="noise"), sections) == ("noise", {})
    assert "gamma" in capsys.readouterr().err
    assert method_choice(ns(), sections) == ("awp", {"gamma": 0.01})
    assert method_choice(ns(method="noise"), {"train": {"method": "noise"}}) == ("noise", {})
    assert method_choice(ns(), {}) == ("standard", {})


def test_network_and_train_flags_override_the_file_under_the_same_names():
    sections = {"network": {"hidden": [16], "recurrent": True, "tau_mem": 0.05},
                "train": {"batch-size": 32, "lr": 0.01, "epochs": 3}}
    assert network_settings(ns(hidden=[5, 4], recurrent=False), sections) == \
        {"hidden": [5, 4], "recurrent": False, "tau_mem": 0.05}
    assert network_settings(ns(), sections) == sections["network"]
    assert train_settings(ns(lr=0.002), sections) == {"batch_size": 32, "lr": 0.002, "epochs": 3}
    with pytest.raises(ConfigError, match=r"\[train\] hidden = \[8\] conflicts with \[network\] hidden = \[16\]"):
        network_settings(ns(hidden=[8]), {**sections, "train": {"hidden": [8]}})
    with pytest.raises(ConfigError, match="remove --hidden"):
        network_settings(ns(hidden=[8], init="m.rsnn"), {})


def test_train_help_shows_every_default_and_evaluate_documents_split_and_seed():
    from robust_snn.core import NetworkConfig as Net
    from robust_snn.training import TrainConfig

    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]  # noqa: SLF001
    helps = {opt: " ".join(a.help.split()) for a in train._actions for opt in a.option_strings}  # noqa: SLF001
    for flag, default in [("--method", "standard"), ("--epochs", TrainConfig().epochs),
                          ("--seed", TrainConfig().seed), ("--hidden", 48), ("--recurrent", "recurrent"),
                          ("--readout", Net().readout), ("--batch-size", TrainConfig().batch_size),
                          ("--lr", TrainConfig().lr), ("--force", "an existing MODEL is an error")]:
        assert f"default: {default}" in helps[flag], (flag, helps[flag])
    text = " ".join(run(".", "train", "--help").stdout.split())
    assert "--no-recurrent" in text and "default: 48" in text  # and argparse prints it
    text = " ".join(run(".", "evaluate", "--help").stdout.split())
    assert "which split of the data set to score (default: test)" in text and "random seed" in text


# --- train's outputs: no overwrite, no silent fresh start, an interrupt that says how to continue ----------

def test_train_refuses_to_overwrite_a_model_without_force_then_the_flags_set_the_network(tmp_path, capsys):
    out = tmp_path / "m.rsnn"
    out.write_bytes(b"precious")
    args = ["train", "--data", "synth-kws", "--out", str(out), "--epochs", "1", "--quiet", "--hidden", "5",
            "--no-recurrent", "--readout", "leaky", "--batch-size", "512", "--lr", "0.002"]
    assert main(args) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(out) in line and "--force" in line and out.read_bytes() == b"precious"
    assert main(args + ["--force"]) == 0
    model, meta = robust_snn.io.model_file.read_model(out)
    assert model.config.hidden == (5,) and not model.config.recurrent and model.config.readout == "leaky"
    assert meta["training"]["batch_size"] == 512 and meta["training"]["lr"] == 0.002


def test_resume_without_a_checkpoint_is_an_error_naming_the_path_looked_for(tmp_path, capsys):
    out = tmp_path / "m.rsnn"
    assert main(["train", "--data", "synth-kws", "--out", str(out), "--resume", "--quiet"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"no checkpoint {out}.ckpt" in line
    assert not out.exists()


def test_ctrl_c_says_what_was_saved_and_the_command_that_continues(tmp_path):
    args = ["train", "--data", "synth-kws", "--out", "m.rsnn", "--epochs", "40", "--hidden", "4",
            "--batch-size", "512", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "robust_snn", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while not (tmp_path / "m.rsnn.ckpt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err = proc.stderr.read()
    assert "Traceback" not in err, err
    assert "checkpoint m.rsnn.ckpt saved after epoch" in err and "m.rsnn not written" in err
    command = err.split("Continue with: ", 1)[1].strip()
    assert command == "robust-snn " + shlex.join(args + ["--resume"])
    # The printed command continues the run (shortened to 2 epochs so that the test stays short).
    words = shlex.split(command)[1:] + ["--epochs", "2"]
    again = run(tmp_path, *words)
    assert again.returncode == 0, again.stderr
    assert "resuming from m.rsnn.ckpt" in again.stderr and (tmp_path / "m.rsnn").exists()


# --- the examples keep the same contract --------------------------------------------------------------------

@pytest.mark.parametrize("example, path, message", [
    ("train_shd.py", "no/such/folder", "shd folder not found"),
    ("custom_device_profile.py", "no/such.rsnn", "file not found: no/such.rsnn"),
])
def test_an_example_given_a_missing_path_exits_2_with_the_clis_one_line_error(tmp_path, example, path, message):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", example)
    proc = subprocess.run([sys.executable, script, path], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert line.startswith(f"{example}: error: ") and message in line
