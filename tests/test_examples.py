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
