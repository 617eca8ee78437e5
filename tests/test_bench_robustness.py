"""The robustness benchmark (benchmarks/robustness.py) at its smallest size: every method in the table and the
JSON, and a run killed mid-way continues where it stopped and ends with the same results."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# Every method and every test of the protocol, shrunk: 2 epochs (so a run can stop between them), 2 seeds.
TINY = ["--quick", "--subset", "48", "--hidden", "8", "--epochs", "2", "--draws", "3", "--chips", "3",
        "--zetas", "0,0.3", "--attack-eps", "0.05,0.5", "--attack-repeats", "1", "--attack-steps", "2",
        "--profiles", "gaussian-20,dynapse2"]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("robustness_bench", BENCHMARKS / "robustness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def without_timing(value):
    """The results without what may differ between runs: timings and the command line (its --out)."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in ("timing", "command")}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


@pytest.fixture(scope="module")
def bench():
    return load_benchmark()


@pytest.fixture(scope="module")
def finished(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness") / "run"
    assert bench.main([*TINY, "--out", str(out)]) == 0
    return out


def test_every_method_is_in_the_table_the_json_and_the_plots(bench, finished):
    doc = json.loads((finished / "robustness.json").read_text())
    table = (finished / "robustness.md").read_text()
    assert sorted(doc["methods"]) == sorted(bench.METHODS) and len(bench.METHODS) == 9
    for method in bench.METHODS:
        assert doc["methods"][method]["seeds"] == [0, 1]
        assert [row["zeta"] for row in doc["methods"][method]["mismatch"]] == [0.0, 0.3]
        assert [row["eps"] for row in doc["methods"][method]["attack"]] == [0.05, 0.5]
        assert set(doc["methods"][method]["devices"]) == {"gaussian-20", "dynapse2"}
        assert sum(f"| {method} |" in line for line in table.splitlines()) == 6  # one row in each table
    assert "Command: `python benchmarks/robustness.py --quick" in table
    assert len(doc["units"]) == 18
    for name in ("mismatch.png", "attack.png"):
        assert (finished / name).stat().st_size > 1000


def test_zeta_zero_is_the_nominal_accuracy_and_chips_lose_accuracy_on_average(finished):
    doc = json.loads((finished / "robustness.json").read_text())
    for unit in doc["units"]:
        zero, noisy = unit["eval"]["mismatch"]
        assert zero["mean"] == unit["eval"]["nominal_accuracy"] and zero["n_chips"] == 1
        assert noisy["n_chips"] == 3 and noisy["min"] <= noisy["mean"]
        attacked = [a["attacked_accuracy"] for a in unit["eval"]["attack"]]
        assert all(0 <= a <= 1 for a in attacked)


def test_a_run_killed_mid_training_resumes_and_gives_the_same_json(bench, finished, tmp_path, monkeypatch):
    out = tmp_path / "run"
    unit_module = sys.modules["robustness_unit"]
    real_fit = unit_module.fit

    def killed_after_one_epoch(*args, **kwargs):
        if kwargs["checkpoint"].name == "awp-seed1.ckpt":
            real_fit(*args, **kwargs, stop_after=1)
            raise KeyboardInterrupt  # as if the run were killed after the unit's first epoch
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(unit_module, "fit", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        bench.main([*TINY, "--out", str(out)])
    assert sorted(p.stem for p in (out / "units").glob("*.json")) == sorted(
        [f"{m}-seed{s}" for m in ("standard", "noise", "dropout") for s in (0, 1)] + ["awp-seed0"])
    assert (out / "checkpoints" / "awp-seed1.ckpt").exists()
    monkeypatch.setattr(unit_module, "fit", real_fit)

    ran = []
    real_run_unit = bench.run_unit
    monkeypatch.setattr(bench, "run_unit", lambda spec: ran.append(spec.name) or real_run_unit(spec))
    assert bench.main([*TINY, "--out", str(out)]) == 0
    assert ran[0] == "awp-seed1" and len(ran) == 18 - 7  # finished units are not recomputed
    resumed = json.loads((out / "units" / "awp-seed1.json").read_text())
    assert resumed["timing"]["resumed_from_epoch"] == 1 and resumed["timing"]["epochs_run"] == 1
    assert not (out / "checkpoints" / "awp-seed1.ckpt").exists()
    fresh = json.loads((finished / "robustness.json").read_text())
    assert without_timing(json.loads((out / "robustness.json").read_text())) == without_timing(fresh)


def test_a_unit_computed_with_other_settings_is_refused(bench, finished, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    path = out / "units" / "rwp-seed0.json"
    unit = json.loads(path.read_text())
    unit["unit"]["draws"] = 99
    path.write_text(json.dumps(unit))
    assert bench.main([*TINY, "--out", str(out)]) == 2
    assert "rwp-seed0.json was computed with other settings (draws)" in capsys.readouterr().err


def test_speech_commands_uses_the_papers_network_and_input(bench, tmp_path):
    args = bench.parser().parse_args(["--data", f"speech-commands:{tmp_path}", "--out", str(tmp_path / "o")])
    settings, specs = bench.make_plan(args)
    assert settings["preset"] == "paper-speech" and settings["data"].endswith("?features=mfcc40")
    network = specs[0].network
    assert network["hidden"] == [256] and network["recurrent"] and network["adaptive"]
    assert network["tau_mem"] == pytest.approx(0.2) and network["tau_adapt"] == pytest.approx(0.98)
    assert specs[0].train == {"epochs": 100, "batch_size": 100, "lr": 1e-3}
    assert len(specs) == 9 * 3 and specs[0].draws == 100 and specs[0].attack_repeats == 5


def test_test_subset_cuts_only_the_test_split_evenly_over_the_classes(bench, tmp_path):
    args = bench.parser().parse_args(["--data", "synth-kws", "--test-subset", "480", "--out", str(tmp_path / "o")])
    _, specs = bench.make_plan(args)
    assert specs[0].subset == {"test": 480}
    import robustness_unit
    from robust_snn import load_dataset

    train, val, test = robustness_unit.splits(specs[0])
    full = [load_dataset(specs[0].data, s) for s in ("train", "val", "test")]
    assert (len(train), len(val), len(test)) == (len(full[0]), len(full[1]), 480)
    labels = [int(test[i][1]) for i in range(len(test))]
    full_labels = [int(full[2][i][1]) for i in range(len(full[2]))]
    per_class = {c: labels.count(c) for c in set(full_labels)}
    # every class keeps its share of the full test split (within one clip of a third)
    assert all(abs(per_class[c] - full_labels.count(c) / 3) <= 1 for c in per_class), per_class
    bad = bench.parser().parse_args(["--test-subset", "0", "--out", str(tmp_path / "p")])
    with pytest.raises(bench.ConfigError, match="--test-subset must be >= 1"):
        bench.make_plan(bad)
