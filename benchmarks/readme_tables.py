"""The README's result tables, rendered from committed result files, so that a table cannot drift from its data.

The tables, each between marker comments in ``README.md``:

- ``demo``: the score cards of ``robust-snn demo`` (``benchmarks/results_demo/scorecards.json``, written with
  its run facts ``run.json`` by ``benchmarks/demo_results.py``);
- ``robustness``: the paper-protocol comparison of every training method on synth-kws
  (``benchmarks/results_robustness/robustness.json``, written by ``benchmarks/robustness.py``);
- ``robustness-fsdd``: the same protocol on real speech, FSDD (``benchmarks/results_robustness_fsdd/``).
- ``robustness-paper-scale``: the paper's network (40 MFCC, 256 recurrent adaptive LIF) on FSDD and synth-kws
  (``benchmarks/results_robustness_fsdd_paper{,_e40}/``, ``benchmarks/results_robustness_paper{,_e40,_beta2}/``):
  accuracy at zeta 0.5 and under the attack at eps 0.1, also as a fraction of each seed's own clean accuracy (the
  paper's measure).

Usage::

    python benchmarks/readme_tables.py           # rewrite the tables in README.md from the result files
    python benchmarks/readme_tables.py --check   # exit 1 naming each table that differs (what the test does)

Only the text between ``<!-- readme-tables:NAME -->`` and ``<!-- /readme-tables:NAME -->`` is generated; the
prose around it is written by hand and has to agree with the numbers (re-read it after regenerating).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO = ROOT / "benchmarks" / "results_demo"
ROBUSTNESS = ROOT / "benchmarks" / "results_robustness" / "robustness.json"
ROBUSTNESS_FSDD = ROOT / "benchmarks" / "results_robustness_fsdd" / "robustness.json"
# the paper-scale runs, in the README's order (data set label, result file)
ROBUSTNESS_PAPER_SCALE = tuple((label, ROOT / "benchmarks" / folder / "robustness.json") for label, folder in (
    ("FSDD", "results_robustness_fsdd_paper"), ("FSDD", "results_robustness_fsdd_paper_e40"),
    ("synth-kws", "results_robustness_paper"), ("synth-kws", "results_robustness_paper_e40"),
    ("synth-kws", "results_robustness_paper_beta2")))
KEPT_ZETA, KEPT_EPS = 0.5, 0.1

# README labels of the methods (the paper's names for their hyperparameters).
LABELS = {"noise": "noise (eta 0.3)", "dropout": "dropout (p 0.3)", "adversarial": "**adversarial** (beta 0.5)",
          "fn-adversarial": "fn-adversarial (eta 0.3 + beta)", "adversarial-warm": "adversarial-warm (3 steps)"}
ZETAS = (0.3, 0.5, 0.7)


def method_label(method: str, settings: dict[str, Any]) -> str:
    """The README label of ``method`` in a run: its fields set by ``--hyper`` where the run set any (the default
    label would name the default value), else :data:`LABELS`'."""
    hyper = settings.get("hyperparameters", {}).get(method)
    if not hyper:
        return LABELS.get(method, method)
    values = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in hyper.items())
    return f"**{method}** ({values})"
EPS = (0.05, 0.1)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers), *("| " + " | ".join(r) + " |" for r in rows)]


def demo_table(cards: list[dict[str, Any]], run: dict[str, Any]) -> str:
    """The demo's intro line and score-card table."""
    rules = sorted({c["spec_rule"] for c in cards})
    spec = ("each model's spec is " + rules[0].replace("nominal_accuracy", "its own programmed nominal accuracy")
            if len(rules) == 1 else "specs: " + "; ".join(rules))
    per_device = {c["device"]: c["n_chips"] for c in cards}
    usual = max(set(per_device.values()), key=list(per_device.values()).count)
    chips = f"{usual} chips per profile" + "".join(f", {n} on {d}" for d, n in per_device.items() if n != usual)
    lines = [f"What it printed on the 2-core development machine ({run['date']}, `{run['command']}`, "
             f"{run['threads']} thread, {run['seconds']:.0f} s in all at load average {run['load_average']:.1f}; "
             f"{spec}, {chips}; the full cards with their advice: "
             "[`benchmarks/results_demo/scorecards.json`](benchmarks/results_demo/scorecards.json)):", ""]
    rows = [[c["model"], c["device"], f"{c['nominal_accuracy']:.3f}", f"{c['mean_accuracy']:.3f}",
             f"{c['p5_accuracy']:.3f}", f"{c['spec']:.3f}",
             f"{c['yield']:.2f} [{c['yield_ci95'][0]:.2f}, {c['yield_ci95'][1]:.2f}]",
             f"{c['worst_case_accuracy']:.3f}", c["grade"],
             (c.get("advice") or [{"action": "-"}])[0]["action"]] for c in cards]
    lines += _table(["model", "device", "nominal", "mean chip", "p5 chip", "spec", "yield [95% CI]",
                     "worst case (attack)", "grade", "first advice"], rows)
    return "\n".join(lines)


def _pct(stats: dict[str, Any]) -> str:
    return f"{100 * stats['mean']:.1f} +- {100 * stats['std']:.1f}"


def robustness_table(doc: dict[str, Any]) -> str:
    """Test accuracy % (mean +- std over seeds) per method; the best robustness figure of each column in bold."""
    summary, timing = doc["methods"], doc.get("timing", {})
    # the baselines first, then the paper's method and its variants (stable within each group)
    methods = sorted((m for m in doc["settings"]["methods"] if m in summary), key=lambda m: "adversarial" in m)

    def at(items: list[dict[str, Any]], key: str, value: float) -> dict[str, Any]:
        return next(i for i in items if abs(i[key] - value) < 1e-9)

    columns: list[tuple[str, Callable[[str], float], bool]] = [  # header, value (mean), higher is better
        *((f"random zeta {z:g}", lambda m, z=z: at(summary[m]["mismatch"], "zeta", z)["accuracy"]["mean"], True)
          for z in ZETAS),
        *((f"attack eps {e:g}", lambda m, e=e: at(summary[m]["attack"], "eps", e)["attacked_accuracy"]["mean"], True)
          for e in EPS),
        ("slope (S1)", lambda m: summary[m]["landscape_slope"]["mean"], False),
    ]
    best = {h: (max if up else min)(methods, key=value) for h, value, up in columns}

    def cell(header: str, method: str, text: str) -> str:
        return f"**{text}**" if best[header] == method else text

    rows = []
    for m in methods:
        row = [method_label(m, doc["settings"]), _pct(summary[m]["nominal_accuracy"])]
        for z in ZETAS:
            row.append(cell(f"random zeta {z:g}", m, _pct(at(summary[m]["mismatch"], "zeta", z)["accuracy"])))
        for e in EPS:
            row.append(cell(f"attack eps {e:g}", m, _pct(at(summary[m]["attack"], "eps", e)["attacked_accuracy"])))
        row.append(cell("slope (S1)", m, f"{summary[m]['landscape_slope']['mean']:.3f}"))
        cost = (timing.get(m) or {}).get("cost_vs_standard")
        row.append(f"{cost:.1f}" if cost else "-")
        rows.append(row)
    headers = ["method", "clean", *(h for h, _, _ in columns), "cost"]
    return "\n".join(_table(headers, rows))


def kept_table(docs: list[tuple[str, dict[str, Any]]]) -> str:
    """Per data set and method: clean accuracy, accuracy at zeta ``KEPT_ZETA`` and under the attack at eps
    ``KEPT_EPS`` (%), and each as a percentage of the same seed's clean accuracy; mean +- std over seeds."""
    rows = []
    for label, doc in docs:
        for method in doc["settings"]["methods"]:
            units = [u for u in doc["units"] if u["unit"]["method"] == method]
            if not units:
                continue
            clean = [u["eval"]["nominal_accuracy"] for u in units]
            zeta = [next(m["mean"] for m in u["eval"]["mismatch"] if abs(m["zeta"] - KEPT_ZETA) < 1e-9) for u in units]
            eps = [next(a["attacked_accuracy"] for a in u["eval"]["attack"] if abs(a["eps"] - KEPT_EPS) < 1e-9)
                   for u in units]

            def stat(values: list[float]) -> str:
                return _pct({"mean": statistics.fmean(values),
                             "std": statistics.stdev(values) if len(values) > 1 else 0.0})

            rows.append([label, method_label(method, doc["settings"]), stat(clean), stat(zeta),
                         stat([z / c for z, c in zip(zeta, clean)]), stat(eps),
                         stat([e / c for e, c in zip(eps, clean)]),
                         f"{len(units)} x {doc['settings']['epochs']} ep", f"{doc['settings']['n_test']}"])
    return "\n".join(_table(["data", "method", "clean", f"random zeta {KEPT_ZETA:g}", "kept (% of clean)",
                              f"attack eps {KEPT_EPS:g}", "kept (% of clean)", "seeds x epochs", "test clips"],
                             rows))


def render_all() -> dict[str, str]:
    """``{marker name: generated text}`` from the committed result files."""
    cards = json.loads((DEMO / "scorecards.json").read_text())
    run = json.loads((DEMO / "run.json").read_text())
    return {"demo": demo_table(cards, run), "robustness": robustness_table(json.loads(ROBUSTNESS.read_text())),
            "robustness-fsdd": robustness_table(json.loads(ROBUSTNESS_FSDD.read_text())),
            "robustness-paper-scale": kept_table([(label, json.loads(path.read_text()))
                                                  for label, path in ROBUSTNESS_PAPER_SCALE])}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- readme-tables:{name} -->\n)(.*?)(\n<!-- /readme-tables:{name} -->)", re.S)


def current(text: str, name: str) -> str | None:
    """The text between ``name``'s markers in ``text`` (``None`` without markers)."""
    match = _pattern(name).search(text)
    return match.group(2) if match else None


def replace(text: str, name: str, body: str) -> str:
    if current(text, name) is None:
        raise SystemExit(f"README.md has no <!-- readme-tables:{name} --> ... <!-- /readme-tables:{name} --> markers")
    return _pattern(name).sub(lambda m: m.group(1) + body + m.group(3), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if any differs")
    args = parser.parse_args(argv)
    text = README.read_text()
    tables = render_all()
    if args.check:
        stale = [name for name, body in tables.items() if current(text, name) != body]
        for name in stale:
            print(f"README.md: the {name} table differs from its result files; run python benchmarks/readme_tables.py",
                  file=sys.stderr)
        return 1 if stale else 0
    new = text
    for name, body in tables.items():
        new = replace(new, name, body)
    if new != text:
        sys.path.insert(0, str(ROOT))
        from robust_snn.io.atomic import write_bytes_atomic

        write_bytes_atomic(README, new.encode())
        print(f"rewrote {', '.join(tables)} in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
