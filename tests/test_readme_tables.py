"""The README's result tables agree with the committed result files: a stale table fails here.

Two checks: the text between the README's markers equals what ``benchmarks/readme_tables.py`` renders from
``benchmarks/results_demo/`` and the robustness benchmark's ``robustness.json`` files (synth-kws, FSDD, and both
at the paper's scale); and, independently of that
renderer's formatting code, each demo row's numbers read back from the README equal the score card's.
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["demo", "robustness", "robustness-fsdd", "robustness-paper-scale"])
def test_the_readme_table_is_what_the_committed_results_render(name):
    generator = load_generator()
    readme = (ROOT / "README.md").read_text()
    assert generator.current(readme, name) is not None, f"README.md lacks the {name} markers"
    assert generator.current(readme, name) == generator.render_all()[name], (
        f"README's {name} table is stale: run python benchmarks/readme_tables.py")


def test_each_demo_row_of_the_readme_reads_back_as_its_score_card():
    cards = json.loads((ROOT / "benchmarks" / "results_demo" / "scorecards.json").read_text())
    body = load_generator().current((ROOT / "README.md").read_text(), "demo")
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|"))[:2]: [c.strip() for c in line.strip("|").split("|")]
            for line in body.splitlines() if line.startswith("| ") and not line.startswith("| model")}
    assert len(rows) == len(cards)
    for card in cards:
        row = rows[(card["model"], card["device"])]
        assert float(row[2]) == pytest.approx(card["nominal_accuracy"], abs=5e-4)
        assert float(row[4]) == pytest.approx(card["p5_accuracy"], abs=5e-4)
        value, interval = row[6].split(" ", 1)
        half_unit = 5e-3 + 1e-9  # two decimals round by at most half a unit (0.985 prints as 0.98)
        assert float(value) == pytest.approx(card["yield"], abs=half_unit)
        low, high = (float(x) for x in interval.strip("[]").split(","))
        assert (low, high) == pytest.approx(card["yield_ci95"], abs=half_unit)
        assert row[8] == card["grade"]


def test_a_changed_number_is_caught():
    generator = load_generator()
    rendered = generator.render_all()["demo"]
    readme = (ROOT / "README.md").read_text()
    stale = generator.replace(readme, "demo", rendered.replace("| ", "| 9", 1))
    assert generator.current(stale, "demo") != rendered


def test_each_paper_scale_row_reads_back_as_the_benchmark_summary():
    """The kept fractions are recomputed here from the per-seed lists of ``robustness.json``'s method summary
    (written by ``robustness_report``), not from the per-unit results the renderer reads."""
    import statistics

    body = load_generator().current((ROOT / "README.md").read_text(), "robustness-paper-scale")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in body.splitlines()[2:]]
    # (data, seeds x epochs, beta named in the label if not the default) -> the run's folder
    files = {("FSDD", "3 x 15 ep", None): "results_robustness_fsdd_paper",
             ("FSDD", "3 x 40 ep", None): "results_robustness_fsdd_paper_e40",
             ("synth-kws", "3 x 8 ep", None): "results_robustness_paper",
             ("synth-kws", "3 x 40 ep", None): "results_robustness_paper_e40",
             ("synth-kws", "3 x 8 ep", "2"): "results_robustness_paper_beta2"}
    seen = set()
    for row in rows:
        beta = row[1].split("(beta ")[1].rstrip(")") if "(beta " in row[1] else None
        key = (row[0], row[7], None if beta in (None, "0.5") else beta)
        seen.add(key)
        doc = json.loads((ROOT / "benchmarks" / files[key] / "robustness.json").read_text())
        method = row[1].replace("*", "").split(" ")[0]
        hyper = doc["settings"].get("hyperparameters", {}).get(method, {})
        assert str(hyper.get("beta", 0.5)).rstrip("0").rstrip(".") == (beta or "0.5"), (row, hyper)
        summary = doc["methods"][method]
        clean = summary["nominal_accuracy"]["per_seed"]
        zeta = next(m for m in summary["mismatch"] if m["zeta"] == 0.5)["accuracy"]["per_seed"]
        attack = next(a for a in summary["attack"] if a["eps"] == 0.1)["attacked_accuracy"]["per_seed"]
        expected = [clean, zeta, [z / c for z, c in zip(zeta, clean)], attack, [a / c for a, c in zip(attack, clean)]]
        for cell, values in zip(row[2:7], expected):
            mean, std = (float(x) for x in cell.split(" +- "))
            assert mean == pytest.approx(100 * statistics.fmean(values), abs=0.051), (row, cell)
            assert std == pytest.approx(100 * statistics.stdev(values), abs=0.051), (row, cell)
    assert seen == set(files)
