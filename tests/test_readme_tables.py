"""The README's result tables agree with the committed result files: a stale table fails here.

Two checks: the text between the README's markers equals what ``benchmarks/readme_tables.py`` renders from
``benchmarks/results_demo/`` and the robustness benchmark's ``robustness.json`` files (synth-kws, FSDD); and, independently of that
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


@pytest.mark.parametrize("name", ["demo", "robustness", "robustness-fsdd"])
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
        assert float(value) == pytest.approx(card["yield"], abs=5e-3)
        low, high = (float(x) for x in interval.strip("[]").split(","))
        assert (low, high) == pytest.approx(card["yield_ci95"], abs=5e-3)
        assert row[8] == card["grade"]


def test_a_changed_number_is_caught():
    generator = load_generator()
    rendered = generator.render_all()["demo"]
    readme = (ROOT / "README.md").read_text()
    stale = generator.replace(readme, "demo", rendered.replace("| ", "| 9", 1))
    assert generator.current(stale, "demo") != rendered
