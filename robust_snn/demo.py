"""``robust-snn demo``: the main job on the embedded corpus, end to end.

Trains a standard and a robust network (noise training, sigma 0.2, in the full and the quick run alike; same
architecture, same budget, same seed) on ``synth-kws``, scores both on several device profiles with per-chip
ensembles, prints the score cards, writes a report folder (Markdown, JSON, plots) and exports the robust network
(deployment bundle for DYNAP-SE2 + NIR).
``quick`` shrinks every budget so the whole run takes well under two minutes (used by the smoke test).

Time estimate: after the standard network trains, the demo prints the time it expects in all: the standard
network's measured training time ``t`` scaled by the plan's measured ratios, ``t (1 + robust_cost +
scoring_cost)`` plus the data loading already done. The ratios were measured on the 2-core development machine
(2026-11-30, one thread, shared with other jobs): full plan 0.83 (robust / standard training: 19 s / 23 s) and 12.1
(scoring on six profiles, 400 chips on gaussian-10, reports, export: 278 s / standard training), 325 s in all at
load average 5.4 (the run of commit cdb8110 gave 0.66 and 6.1: 37 s / 56 s, 448 s at load 6.5; at 2a0c81e, load 2.3,
0.86 and 8.9: 6 s / 7 s, 62 s, 76 s in all, estimated 95 s); quick plan 0.51 and 11.2 (noise training, one run
at load average 5.2, 102 s in all; 31 s at load 2.4 at 2a0c81e; 2.0-2.9 and 13.6-19 when it trained
``adversarial-warm``); its standard training takes only ~2-8 s, so its estimate is the rougher one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .core.network import SNNClassifier
from .data import load_dataset
from .data.splits import strided_subset
from .devices import load_profile
from .export.bundle import write_bundle
from .export.nir import write_nir
from .io.atomic import OutputError, write_bytes_atomic, write_json_atomic
from .io.model_file import save_model
from .progress import print_line
from .readiness.context import advised_card
from .readiness.report import model_analysis, summary_table, write_report
from .readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card
from .readiness.table import print_cards
from .training import TrainConfig, fit, make_method
from .training.configure import default_network


@dataclass(frozen=True)
class DemoPlan:
    epochs: int
    hidden: int | None  # None: the default network's width for BUNDLE_DEVICE (training.configure.default_network)
    chips: int
    profiles: tuple[str, ...]
    robust_method: str
    train_subset: int | None
    robust_cost: float  # robust training time / standard training time (measured, see the module docstring)
    scoring_cost: float  # scoring, reports and export time / standard training time (measured)
    robust_hyperparameters: dict[str, Any] | None = None  # the robust method's settings (None: its defaults)
    more_chips: dict[str, int] | None = None  # profiles scored with more chips than ``chips`` (see FULL)


BUNDLE_DEVICE = "dynapse2"  # the robust network is bundled for it, so both networks are built to fit it
# The default network (hidden=None): 48 recurrent neurons, fan-in 16 + 48 - 1 = 63 <= 64, the DYNAP-SE2 limit.
# Robust method: noise training, sigma 0.2 (relative Gaussian noise on weights and biases, fresh each step), at about
# the cost of standard training (`adversarial` cost 12x and was `not-ready` everywhere). Measured on synth-kws, 12
# epochs, gaussian-10, 400 chips: yield 0.98 [0.96, 0.99] (`ready`) against standard's 0.94 [0.92, 0.97]; noise
# --device dynapse2 (sigma 0.3) reached 0.97 at 100 chips (benchmarks/results_device_aware/synth_kws.json).
# gaussian-10 is scored on 400 chips: with 100, `ready` needs all 100 to pass (99 of 100 gives an interval from
# 0.9455), so a 98-99% yield reads `marginal`; 400 chips resolve it. Both models get the same chips. xylo-audio2 is
# digital: every chip is the programmed network (quantisation only), so any network that fits it is `ready` there.
FULL = DemoPlan(epochs=12, hidden=None, chips=100,
                profiles=("gaussian-10", "gaussian-20", "dynapse2", "rram", "pcm", "xylo-audio2"),
                robust_method="noise", train_subset=None, robust_cost=0.83, scoring_cost=12.1,
                robust_hyperparameters={"sigma": 0.2}, more_chips={"gaussian-10": 400})
# The quick run shrinks budgets only: same robust method and settings as FULL, so what it smoke-tests
# is what the full run ships.
QUICK = DemoPlan(epochs=4, hidden=32, chips=16, profiles=("gaussian-20", "dynapse2", "rram"),
                 robust_method=FULL.robust_method, train_subset=2048, robust_cost=0.5, scoring_cost=11.0,
                 robust_hyperparameters=FULL.robust_hyperparameters)


def run_demo(out: str | Path = "demo-out", quick: bool = False, seed: int = 0, progress: bool = True,
             accelerator: str | torch.device | None = None) -> dict[str, Any]:
    """Run the demo into ``out``; returns ``{"cards": [...], "files": {...}, "seconds": ...}``.

    ``accelerator``: where the networks are trained and scored (``"auto"``, ``"cpu"``, ``"cuda"``; ``None``: CPU).
    """
    plan = QUICK if quick else FULL
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror}") from None
    start = time.perf_counter()
    train = strided_subset(load_dataset("synth-kws", "train"), plan.train_subset)
    val, test = load_dataset("synth-kws", "val"), load_dataset("synth-kws", "test")
    config = default_network(test, seed=seed, device=BUNDLE_DEVICE,  # 16 -> recurrent LIF -> 8, dt of the data
                             network={"hidden": [plan.hidden]} if plan.hidden is not None else None)
    train_config = TrainConfig(epochs=plan.epochs, lr=2e-3, seed=seed)
    models: dict[str, SNNClassifier] = {}
    facts: dict[str, dict[str, Any]] = {}  # training facts the advice reads (method, history)
    say = print_line if progress else (lambda text: None)
    phases = {"data": time.perf_counter() - start}  # seconds per stage, returned (how the ratios were measured)
    estimate = None
    for label, method_name in (("standard", "standard"), ("robust", plan.robust_method)):
        t0 = time.perf_counter()
        print(f"[demo] training {label} ({method_name}, {plan.epochs} epochs) ...", flush=True)
        model = SNNClassifier(config)
        method = make_method(method_name, plan.robust_hyperparameters if label == "robust" else None)
        result = fit(model, train, val, method, train_config, checkpoint=out / f"{label}.ckpt", resume=True,
                     progress=progress, describe={"data": "synth-kws", "demo": label}, accelerator=accelerator)
        model = result.model
        facts[label] = {"method": method.describe(), "history": result.history}
        save_model(out / f"{label}.rsnn", model, method=method.describe(), data="synth-kws",
                   classes=list(test.classes), front_end=test.frontend.to_dict())
        (out / f"{label}.ckpt").unlink(missing_ok=True)
        models[label] = model
        phases[label] = elapsed = time.perf_counter() - t0
        # The estimate scales the standard network's measured training time by the plan's measured ratios.
        if label == "standard":
            left = elapsed * (plan.robust_cost + plan.scoring_cost)
            estimate = time.perf_counter() - start + left
            print(f"[demo] standard took {elapsed:.0f} s; estimated: about {left:.0f} s more, "
                  f"{estimate:.0f} s in all", flush=True)
        else:
            print(f"[demo] robust took {elapsed:.0f} s; estimated: about "
                  f"{phases['standard'] * plan.scoring_cost:.0f} s more (scoring, reports, export)", flush=True)
    cards = []
    for profile_name in plan.profiles:
        profile = load_profile(profile_name)
        n_chips = (plan.more_chips or {}).get(profile_name, plan.chips)
        print(f"[demo] scoring on {profile_name} ({n_chips} chips) ...", flush=True)
        for label, model in models.items():
            say(f"[demo] scoring {label} on {profile_name}: {n_chips} chips, then the attack at its scale")
            card = score_card(Scored(model, test, label), profile,
                              EnsembleSettings(n_chips=n_chips, seed=seed, progress=progress),
                              attack=AttackSettings(repeats=1))
            # Commands in the advice name the model file relative to the demo folder (run them from there).
            cards.append(advised_card(model, card.with_extra(model_path=f"{label}.rsnn", data="synth-kws"),
                                      test, metadata=facts[label], seed=seed, status=say,
                                      sensitivity_chips=4 if quick else 8))
    phases["scoring"] = time.perf_counter() - start - sum(phases.values())
    print_cards(cards, title="Deployment readiness (synth-kws test split)", where=str(out))
    card_json = [card.to_dict() for card in cards]
    report_dir = out / "report"
    # The Gaussian sweep and the landscapes do not depend on the device: measured once, shown in every report.
    analysis = model_analysis(models, test, seed=seed, status=say)
    xmax = max([r["accuracy_drop"] for c in card_json for r in c.get("sensitivity") or []] + [0.0])
    reports = []
    for profile_name in plan.profiles:
        say(f"[demo] report on {profile_name}: plots and sensitivity")
        subset = [c for c in cards if c.device == profile_name]
        reports.append(write_report(report_dir / profile_name, subset, models=models, data=test, seed=seed,
                                    title=f"Deployment readiness on {profile_name}", analysis=analysis,
                                    sensitivity_xmax=xmax, where=f"the demo folder ({out})"))
    index = ["# robust-snn demo", "", f"Seed {seed}; {'quick' if quick else 'full'} run; "
             f"{plan.epochs} epochs, {config.n_in} -> {config.hidden[0]} recurrent LIF -> {config.n_classes}; "
             f"robust method `{plan.robust_method}` {plan.robust_hyperparameters or ''}; {plan.chips} chips per "
             "profile" + "".join(f", {n} on {name}" for name, n in (plan.more_chips or {}).items())
             + ". Every profile's report has the same analysis: table, advice, "
             "per-chip histogram, sensitivity on that device, and the device-independent Gaussian sweep and loss "
             "landscapes.", "", "## All profiles", ""] + summary_table(cards)
    index += ["## First thing to try", "", f"Commands run from the demo folder ({out}).", "",
              "| model | device | grade | causes | first suggestion |", "|---|---|---|---|---|"]
    for c in card_json:
        causes = [d for d in c.get("diagnosis") or [] if d["cause"] != "yield"]
        first = (c.get("advice") or [None])[0]
        index.append(f"| {c['model']} | {c['device']} | {c['grade']} | {', '.join(d['cause'] for d in causes) or '-'} | "
                     + (f"{first['action']}: `{first['command']}`" if first and first.get("command")
                        else (first["action"] if first else "-")) + " |")
    index += ["", "## Reports", ""] + [f"- [{p.parent.name}]({p.parent.name}/report.md)" for p in reports]
    write_bytes_atomic(report_dir / "README.md", "\n".join(index).encode())
    write_json_atomic(out / "scorecards.json", card_json)
    write_bundle(out / "robust.bundle.rsnn", out / "robust.rsnn", load_profile(BUNDLE_DEVICE),
                 next(c for c in cards if c.model == "robust" and c.device == BUNDLE_DEVICE))
    write_nir(out / "robust.nir", models["robust"])
    seconds = time.perf_counter() - start
    phases["reports_and_export"] = seconds - sum(phases.values())
    print(f"[demo] done in {seconds:.0f} s: report {report_dir / 'README.md'}, bundle {out / 'robust.bundle.rsnn'}, "
          f"NIR {out / 'robust.nir'}", flush=True)
    return {"cards": card_json, "seconds": seconds, "estimated_seconds": estimate, "phases": phases,
            "files": {"report": str(report_dir / "README.md"), "bundle": str(out / "robust.bundle.rsnn"),
                      "nir": str(out / "robust.nir")}}
