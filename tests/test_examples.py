"""Every example runs at tiny size."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_trains_saves_and_converts(tmp_path, capsys):
    accuracy = load("quickstart").main(["--out", str(tmp_path / "q.rsnn"), "--epochs", "2", "--samples", "128"])
    assert accuracy > 0.5
    assert "Rockpool conversion gives the same logits: True" in capsys.readouterr().out


def tiny_model_file(tmp_path, n_in=16, n_classes=8, readout="leaky"):
    import robust_snn
    from robust_snn.core import NetworkConfig, SNNClassifier

    path = tmp_path / "tiny.rsnn"
    robust_snn.save_model(path, SNNClassifier(NetworkConfig(n_in=n_in, hidden=(8,), n_classes=n_classes,
                                                            readout=readout, seed=0)))
    return path


def test_speech_commands_example_on_a_tiny_folder_in_the_real_layout(tmp_path):
    from test_data_speech_commands import make_folder

    folder = make_folder(tmp_path / "sc")
    card = load("train_speech_commands").main([str(folder), "--epochs", "1", "--hidden", "8", "--chips", "2",
                                              "--classes", "yes,no,up",
                                              "--method", "standard", "--out", str(tmp_path / "sc.rsnn")])
    assert card.n_chips == 2 and (tmp_path / "sc.rsnn").exists()


def test_shd_example_on_a_tiny_hdf5_pair(tmp_path):
    from test_data_shd import write_h5

    samples = [([0.0175 + 0.01 * (k % 2), 0.5025], [k % 700, 699]) for k in range(20)]
    write_h5(tmp_path / "shd_train.h5", samples, [k % 2 for k in range(20)], keys=["zero", "one"])
    write_h5(tmp_path / "shd_test.h5", samples[:4], [0, 1, 0, 1], keys=["zero", "one"])
    results = load("train_shd").main([str(tmp_path), "--epochs", "1", "--hidden", "8", "--downsample", "7"])
    assert set(results) == {"standard", "adversarial"}


def test_compare_methods_example_prints_one_row_per_method(capsys):
    rows = load("compare_methods").main(["--methods", "standard,noise", "--epochs", "1", "--hidden", "8",
                                         "--chips", "2"])
    assert set(rows) == {"standard", "noise"}
    assert "noise" in capsys.readouterr().out


def test_custom_device_profile_example_scores_a_model_on_a_user_profile(tmp_path):
    card = load("custom_device_profile").main([str(tiny_model_file(tmp_path)), "--out", str(tmp_path / "chip.toml"),
                                              "--chips", "2"])
    assert card.device == "my-chip" and card.fits_device


def test_export_example_writes_nir_and_a_xylo_spec(tmp_path):
    result = load("export_to_chips").main([str(tiny_model_file(tmp_path)), "--out-dir", str(tmp_path / "exp")])
    assert result["xylo_violations"] == [] and (tmp_path / "exp" / "xylo_spec.json").exists()


def test_own_words_example_trains_and_scores_on_a_folder_of_wavs(tmp_path, capsys):
    from test_data_folder import make_word_folder

    folder = make_word_folder(tmp_path / "my_words")
    cards = load("train_own_words").main([str(folder), "--epochs", "1", "--chips", "2",
                                          "--out-dir", str(tmp_path / "models")])
    assert set(cards) == {"standard", "adversarial"} and all(c.n_chips == 2 for c in cards.values())
    assert (tmp_path / "models" / "adversarial.rsnn").exists() and "go, stop, wait" in capsys.readouterr().out


def test_own_words_example_names_a_missing_folder_in_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_own_words.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"train_own_words.py: error: folder not found: {tmp_path / 'nope'}"
