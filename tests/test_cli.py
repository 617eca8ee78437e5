import subprocess
import sys

import robust_snn
from robust_snn.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "robust_snn", *args], capture_output=True, text=True)


def test_version_and_help():
    assert run("--version").stdout.strip() == f"robust-snn {robust_snn.__version__}"
    out = run("--help").stdout
    assert "train" in out and "methods" in out and "example" in out


def test_methods_lists_standard(capsys):
    assert main(["methods"]) == 0
    assert "standard" in capsys.readouterr().out


def test_bad_data_spec_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = run("train", "--data", "nosuch", "--out", str(tmp_path / "m.rsnn"))
    assert proc.returncode == 2
    assert "unknown data spec 'nosuch'" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_config_file_names_the_field(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nlr = 'fast'\n")
    proc = run("train", "--data", "synth-kws", "--out", str(tmp_path / "m.rsnn"), "--config", str(cfg))
    assert proc.returncode == 2 and "train.lr must be a number" in proc.stderr


def test_train_then_attack_end_to_end_on_the_embedded_corpus(tmp_path):
    import json

    model = tmp_path / "m.rsnn"
    config = tmp_path / "c.toml"
    config.write_text("[network]\nhidden = [16]\n\n[train]\nbatch_size = 128\n")
    proc = run("train", "--data", "synth-kws", "--method", "standard", "--epochs", "1", "--out", str(model),
               "--config", str(config), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.rsnn.config.json").read_text())["network"]["hidden"] == [16]
    loaded = robust_snn.load_model(model)
    assert loaded.config.n_classes == 8 and loaded.config.n_in == 16
    proc = run("attack", str(model), "--data", "synth-kws", "--eps", "0.1", "--steps", "2", "--repeats", "1",
               "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in ("eps", "steps", "nominal_accuracy", "attacked_accuracy", "random_accuracy"):
        assert key in report
    assert report["attacked_accuracy"] <= report["nominal_accuracy"]
