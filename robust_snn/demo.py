"""``robust-snn demo``: the main job on the embedded corpus, end to end.

Trains a standard and an adversarially robust network (same architecture, same budget, same seed) on
``synth-kws``, scores both on several device profiles with per-chip ensembles, prints the score cards, writes a
report folder (Markdown, JSON, plots) and exports the robust network (deployment bundle for DYNAP-SE2 + NIR).
``quick`` shrinks every budget so the whole run takes well under two minutes (used by the smoke test).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .core.network import NetworkConfig, SNNClassifier
from .data import load_dataset
from .devices import load_profile
from .export.bundle import write_bundle
from .export.nir import write_nir
from .io.atomic import OutputError, write_bytes_atomic, write_json_atomic
from .io.model_file import save_model
from .readiness.report import write_report
from .readiness.scorecard import score_card
from .training import TrainConfig, fit, make_method


@dataclass(frozen=True)
class DemoPlan:
    epochs: int
    hidden: int
    chips: int
    profiles: tuple[str, ...]
    robust_method: str
    train_subset: int | None


# 48 recurrent neurons: fan-in 16 + 48 = 64, the DYNAP-SE2 limit, so the resource check passes.
FULL = DemoPlan(epochs=12, hidden=48, chips=100, profiles=("gaussian-20", "dynapse2", "rram", "pcm"),
                robust_method="adversarial", train_subset=None)
QUICK = DemoPlan(epochs=4, hidden=32, chips=16, profiles=("gaussian-20", "dynapse2", "rram"),
                 robust_method="adversarial-warm", train_subset=2048)


def _subset(data: Any, n: int | None) -> Any:
    if n is None or n >= len(data):
        return data
    return torch.utils.data.Subset(data, list(range(0, len(data), max(1, len(data) // n)))[:n])


def _print_table(cards: list[dict[str, Any]]) -> None:
    headers = ["model", "device", "nominal", "mean", "p5", "yield [95% CI]", "worst case", "grade"]
    rows = [[c["model"], c["device"], f"{c['nominal_accuracy']:.3f}", f"{c['mean_accuracy']:.3f}",
             f"{c['p5_accuracy']:.3f}", f"{c['yield']:.2f} [{c['yield_ci95'][0]:.2f}, {c['yield_ci95'][1]:.2f}]",
             f"{c['worst_case_accuracy']:.3f}", c["grade"]] for c in cards]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        for line in [headers, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))
        return
    table = Table(title="Deployment readiness (synth-kws test split)")
    for h in headers:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    Console(width=120).print(table)


def run_demo(out: str | Path = "demo-out", quick: bool = False, seed: int = 0, progress: bool = True
             ) -> dict[str, Any]:
    """Run the demo into ``out``; returns ``{"cards": [...], "files": {...}, "seconds": ...}``."""
    plan = QUICK if quick else FULL
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror}") from None
    start = time.perf_counter()
    train = _subset(load_dataset("synth-kws", "train"), plan.train_subset)
    val, test = load_dataset("synth-kws", "val"), load_dataset("synth-kws", "test")
    config = NetworkConfig(n_in=16, hidden=(plan.hidden,), n_classes=8, recurrent=True, seed=seed)
    train_config = TrainConfig(epochs=plan.epochs, lr=2e-3, seed=seed)
    models: dict[str, SNNClassifier] = {}
    for label, method_name in (("standard", "standard"), ("robust", plan.robust_method)):
        t0 = time.perf_counter()
        print(f"[demo] training {label} ({method_name}, {plan.epochs} epochs) ...", flush=True)
        model = SNNClassifier(config)
        method = make_method(method_name)
        fit(model, train, val, method, train_config, checkpoint=out / f"{label}.ckpt", resume=True,
            progress=progress, describe={"data": "synth-kws", "demo": label})
        save_model(out / f"{label}.rsnn", model, method=method.describe(), data="synth-kws",
                   classes=list(test.classes), front_end=test.frontend.to_dict())
        (out / f"{label}.ckpt").unlink(missing_ok=True)
        models[label] = model
        elapsed = time.perf_counter() - t0
        if label == "standard":
            cost = {"standard": 1.0, "adversarial": 10.0, "adversarial-warm": 4.5}.get(plan.robust_method, 5.0)
            print(f"[demo] standard took {elapsed:.0f} s; estimated remaining: about "
                  f"{elapsed * cost + 8 * len(plan.profiles):.0f} s", flush=True)
    cards = []
    for profile_name in plan.profiles:
        profile = load_profile(profile_name)
        print(f"[demo] scoring on {profile_name} ({plan.chips} chips) ...", flush=True)
        for label, model in models.items():
            cards.append(score_card(model, profile, test, n_chips=plan.chips, seed=seed, progress=progress,
                                    model_name=label, attack_repeats=1))
    _print_table(cards)
    report_dir = out / "report"
    reports = []
    for profile_name in plan.profiles:
        subset = [c for c in cards if c["device"] == profile_name]
        with_analysis = profile_name == plan.profiles[1]  # curves, landscapes, sensitivity once (dynapse2)
        reports.append(write_report(report_dir / profile_name, subset, models=models if with_analysis else None,
                                    data=test if with_analysis else None, seed=seed,
                                    title=f"Deployment readiness on {profile_name}"))
    index = ["# robust-snn demo", "", f"Seed {seed}; {'quick' if quick else 'full'} run; "
             f"{plan.epochs} epochs, 16 -> {plan.hidden} recurrent LIF -> 8; robust method `{plan.robust_method}`.",
             ""] + [f"- [{p.parent.name}]({p.parent.name}/report.md)" for p in reports]
    write_bytes_atomic(report_dir / "README.md", "\n".join(index).encode())
    write_json_atomic(out / "scorecards.json", cards)
    write_bundle(out / "robust.bundle.rsnn", out / "robust.rsnn", load_profile("dynapse2"),
                 next(c for c in cards if c["model"] == "robust" and c["device"] == "dynapse2"))
    write_nir(out / "robust.nir", models["robust"])
    seconds = time.perf_counter() - start
    print(f"[demo] done in {seconds:.0f} s: report {report_dir / 'README.md'}, bundle {out / 'robust.bundle.rsnn'}, "
          f"NIR {out / 'robust.nir'}", flush=True)
    return {"cards": cards, "seconds": seconds,
            "files": {"report": str(report_dir / "README.md"), "bundle": str(out / "robust.bundle.rsnn"),
                      "nir": str(out / "robust.nir")}}
