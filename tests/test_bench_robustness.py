"""The robustness benchmark (benchmarks/robustness.py) at its smallest size: every method in the table and the
JSON, and a run killed mid-way continues where it stopped and ends with the same results."""

import importlib.util
import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from hand_built_data import one_channel_per_class
from test_readiness_landscape import margin_network

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


def test_zeta_zero_is_the_nominal_accuracy_and_each_level_summarises_its_chips(finished):
    units = [json.loads(path.read_text()) for path in sorted((finished / "units").glob("*.json"))]
    assert len(units) == 18
    for unit in units:  # the unit files keep each chip's accuracy (robustness.json drops them)
        zero, noisy = unit["eval"]["mismatch"]
        assert zero["mean"] == unit["eval"]["nominal_accuracy"] and zero["n_chips"] == 1
        chips = noisy["per_chip"]
        assert noisy["n_chips"] == len(chips) == 3
        assert noisy["mean"] == pytest.approx(statistics.fmean(chips))
        assert noisy["std"] == pytest.approx(statistics.stdev(chips))
        assert noisy["min"] == min(chips)
        assert noisy["p5"] == pytest.approx(float(np.percentile(chips, 5)))
        attacked = [a["attacked_accuracy"] for a in unit["eval"]["attack"]]
        assert all(0 <= a <= 1 for a in attacked)


def test_the_protocols_random_mismatch_costs_a_sharp_network_and_spares_a_flat_one(bench):
    """The paper's test-time noise ``theta (1 + zeta N(0, 1))`` on the hand-built margin networks of
    test_readiness_landscape: both classify every clip at zeta 0; at zeta 0.5 the sharp one's margin
    ``22 (1 + 0.5 n1) - 20 (1 + 0.5 n2) = 2 + 11 n1 - 10 n2`` flips with probability Phi(-2 / 14.9) ~ 0.45 per
    class, while the flat one's ``2 (1 + 0.5 n1)`` flips only when n1 < -2 (~2%)."""
    from robust_snn.devices import evaluate_ensemble

    unit = sys.modules["robustness_unit"]
    data = one_channel_per_class(4, 20)
    means = {}
    for name, common in (("flat", 0.0), ("sharp", 20.0)):
        model = margin_network(common)
        tiny = evaluate_ensemble(model, unit.relative_gaussian(1e-4), data, n_chips=8, seed=0, progress=False)
        assert list(tiny.per_chip_accuracy) == [1.0] * 8
        result = evaluate_ensemble(model, unit.relative_gaussian(0.5), data, n_chips=200, seed=0, progress=False)
        means[name] = statistics.fmean(result.per_chip_accuracy)
    assert means["flat"] > 0.9
    assert 0.35 < means["sharp"] < 0.75


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


def test_compiled_training_is_part_of_a_units_identity_and_eager_units_keep_theirs(bench, finished, tmp_path,
                                                                                    capsys):
    args = bench.parser().parse_args(["--data", "synth-kws", "--compile", "--out", str(tmp_path / "o")])
    _, specs = bench.make_plan(args)
    assert specs[0].compile and specs[0].identity()["compile"] is True
    # an eager unit's identity has no "compile" key, as units run before the option existed
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    path = out / "units" / "rwp-seed0.json"
    unit = json.loads(path.read_text())
    assert "compile" not in unit["unit"]
    unit["unit"]["compile"] = True  # as if trained through torch.compile: an eager run must not reuse it
    path.write_text(json.dumps(unit))
    assert bench.main([*TINY, "--out", str(out)]) == 2
    assert "rwp-seed0.json was computed with other settings (compile)" in capsys.readouterr().err


def test_a_methods_hyperparameter_reaches_its_training_and_its_units_identity(bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench.main([*TINY, "--methods", "adversarial", "--hyper", "adversarial.beta=0.25", "--out", str(out)]) == 0
    unit = json.loads((out / "units" / "adversarial-seed0.json").read_text())
    assert unit["unit"]["hyperparameters"] == {"beta": 0.25}
    assert unit["train"]["method"]["hyperparameters"]["beta"] == 0.25  # what the trained method said it was
    doc = json.loads((out / "robustness.json").read_text())
    assert doc["settings"]["hyperparameters"] == {"adversarial": {"beta": 0.25}}
    assert "adversarial with beta = 0.25;" in (out / "robustness.md").read_text()
    # the same folder with the default beta is another experiment: refused, naming the field that differs
    assert bench.main([*TINY, "--methods", "adversarial", "--out", str(out)]) == 2
    assert "computed with other settings (hyperparameters)" in capsys.readouterr().err
    # a field the method does not have is named before anything runs
    assert bench.main([*TINY, "--methods", "adversarial", "--hyper", "adversarial.bogus=1", "--out",
                       str(tmp_path / "bad")]) == 2
    assert "bogus" in capsys.readouterr().err
