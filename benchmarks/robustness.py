"""Reproduce the paper's robustness comparison: every method, same network and budget, several seeds, every test.

Follows the protocol of Büchel, Faber & Muir (ICLR 2022; ``shared/reference/paper.md``): each training method
(``standard``, ``noise``, ``dropout``, ``awp``, ``adversarial``, ``fn-adversarial``, ``rwp``, ``asam`` and the
cheaper ``adversarial-warm``) trains the same architecture for the same epochs with the best-validation rule,
over ``--seeds`` seeds; each trained network is scored on the test split under random relative mismatch of its
weights and biases (zeta 0 - 0.7, ``--draws`` chips per level), the targeted cross-entropy parameter attack
(eps 0.005 - 0.5, worst of ``--attack-repeats`` starts), the loss-landscape slope of Table S1, and the device
profiles' chip ensembles. See ``benchmarks/robustness_unit.py`` for what one unit measures and
``benchmarks/robustness_report.py`` for the statistics.

Outputs in ``--out``: ``robustness.json`` (settings, per-method statistics, every unit's results; timings only
under ``"timing"`` keys), ``robustness.md`` (the tables, with the exact command), ``mismatch.png`` and
``attack.png``, ``units/METHOD-seedS.json`` (one per finished unit), ``models/`` (the trained networks).

**Resumable.** Each ``(method, seed)`` is one independent unit, mapped with
``robust_snn.distributed.run_tasks`` (``--backend local``: one after another in this process; ``--backend ray``:
in parallel on the local Ray instance or the cluster at ``--address``). Training checkpoints every epoch, and
each finished unit's result is written atomically by this process as it arrives; rerunning the same command
skips finished units, resumes a half-trained one from its checkpoint, and gives the same ``robustness.json``
(apart from timings) as an uninterrupted run. A unit file computed with other settings is refused, naming the
differences. With a Ray cluster, give an ``--out`` on a file system the workers share for mid-training resume.

Presets (``--preset auto`` picks by data kind):

- ``demo`` (synth-kws): 16 log-mel -> 48 recurrent LIF -> 8, the demo network (it fits DYNAP-SE2's fan-in of
  64); 10 epochs, batch 64, lr 2e-3 (x0.1 after 80%). Sized so that the default run (9 methods x 3 seeds = 27
  units, full protocol) takes 20-30 min with ``--backend ray`` on two free cores, 30-60 min on a shared 2-core
  machine (measured: training 6 s (standard) to ~75 s (fn-adversarial) per unit, evaluation 50-95 s per unit;
  12-19 CPU-minutes per seed; see ``benchmarks/README.md``);
- ``paper-speech`` (speech-commands): the paper's network -- 40 MFCC as input current (30 ms windows, 10 ms
  stride), 256 recurrent adaptive LIF (tau_mem 20 steps = 0.2 s, adaptation 98 steps = 0.98 s, reset by
  subtraction), spike-mean readout, 8 outputs (yes/no/up/down/left/right + unknown + silence); Adam 1e-3 for 80
  epochs then 1e-4 for 20, batch 100. Hours per unit on a CPU: use ``--backend ray``;
- ``shd``: ``n_in`` channels -> 128 recurrent LIF -> classes, 30 epochs, lr 2e-3;
- ``fsdd`` (fsdd, real speech): 16 MFCC over 0.65 s clips -> 48 recurrent LIF -> 10 digits, 80 epochs, lr 2e-3:
  the settings at which standard training reaches 95.1% on the official split (README, Data); a
  ``folder:`` data set uses the ``demo`` preset.

Usage::

    python benchmarks/robustness.py [--data synth-kws] [--out robustness-out] [--seeds 3] [--epochs 10]
        [--backend local|ray] [--address ADDR] [--threads 1] [--compile] [--hyper METHOD.FIELD=VALUE]
        [--quick] [--test-subset N]

``--test-subset N`` scores on N test clips spread evenly over the split (train and val stay whole): the protocol's
cost grows with the test split (synth-kws at the paper's size: 107-114 s per network on 480 of the 1,440 test
clips with two attack sizes; README, "At the paper's scale").
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustness_report  # noqa: E402
import robustness_unit  # noqa: E402
from robustness_unit import UnitSpec, run_unit  # noqa: E402

from robust_snn.config import ConfigError  # noqa: E402
from robust_snn.data import DataError, parse_spec  # noqa: E402
from robust_snn.distributed import BACKENDS, run_tasks  # noqa: E402
from robust_snn.io.atomic import OutputError, write_bytes_atomic, write_json_atomic  # noqa: E402
from robust_snn import make_method  # noqa: E402

METHODS = ("standard", "noise", "dropout", "awp", "adversarial", "fn-adversarial", "rwp", "asam", "adversarial-warm")
ZETAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
ATTACK_EPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
PROFILES = ("gaussian-20", "dynapse2", "rram", "pcm")


@dataclass(frozen=True)
class Preset:
    """Architecture (``NetworkConfig`` fields), training (``TrainConfig`` fields) and data options of a preset."""

    network: dict[str, Any]
    train: dict[str, Any]
    describe: str
    data_options: dict[str, str] = field(default_factory=dict)


PRESETS = {
    "demo": Preset({"hidden": [48], "recurrent": True}, {"epochs": 10, "batch_size": 64, "lr": 2e-3},
                   "{n_in} -> {hidden} recurrent LIF -> {n_out} (spike-mean readout)"),
    "paper-speech": Preset({"hidden": [256], "recurrent": True, "adaptive": True, "tau_mem": 0.2, "tau_adapt": 0.98},
                           {"epochs": 100, "batch_size": 100, "lr": 1e-3},
                           "{n_in} MFCC -> {hidden} recurrent adaptive LIF -> {n_out} (the paper's speech network)",
                           {"features": "mfcc40"}),
    "shd": Preset({"hidden": [128], "recurrent": True}, {"epochs": 30, "batch_size": 64, "lr": 2e-3},
                  "{n_in} -> {hidden} recurrent LIF -> {n_out}"),
    "fsdd": Preset({"hidden": [48], "recurrent": True}, {"epochs": 80, "batch_size": 64, "lr": 2e-3},
                   "{n_in} MFCC -> {hidden} recurrent LIF -> {n_out} (chip-sized: fits DYNAP-SE2's fan-in of 64)",
                   {"features": "mfcc16", "duration": "0.65"}),
}
AUTO_PRESET = {"synth-kws": "demo", "speech-commands": "paper-speech", "shd": "shd", "fsdd": "fsdd", "folder": "demo"}

# --quick: every method and every test, at a size that runs in well under two minutes on one thread.
QUICK = {"hidden": 32, "epochs": 2, "seeds": 2, "subset": {"train": 1024, "val": 256, "test": 256}, "draws": 16,
         "attack_repeats": 2, "attack_steps": 3, "landscape_directions": 2, "landscape_points": 5,
         "profiles": ("gaussian-20", "dynapse2", "rram"), "chips": 16}


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _hyper(text: str) -> tuple[str, str, Any]:
    """``METHOD.FIELD=VALUE`` (VALUE read as JSON where it parses, e.g. ``2.0``, ``true``; else a string)."""
    target, sep, raw = text.partition("=")
    method, dot, name = target.strip().partition(".")
    if not sep or not dot or not method or not name:
        raise argparse.ArgumentTypeError(f"expected METHOD.FIELD=VALUE, e.g. adversarial.beta=2, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return method, name.strip(), value


def method_hyperparameters(methods: tuple[str, ...], overrides: list[tuple[str, str, Any]]) -> dict[str, dict]:
    """``{method: {field: value}}`` from ``--hyper``, each checked by building the method (errors name the field)."""
    chosen: dict[str, dict[str, Any]] = {}
    for method, name, value in overrides:
        if method not in methods:
            raise ConfigError(f"--hyper {method}.{name}: {method!r} is not among --methods ({', '.join(methods)})")
        chosen.setdefault(method, {})[name] = value
    for method, values in chosen.items():
        make_method(method, values)
    return chosen


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synth-kws",
                   help="data SPEC: synth-kws, speech-commands:PATH, shd:PATH, fsdd:PATH or folder:PATH")
    p.add_argument("--preset", default="auto", choices=("auto", *PRESETS), help="architecture and budget")
    p.add_argument("--out", default="robustness-out", help="output folder (also the resume state)")
    p.add_argument("--methods", type=_names, default=METHODS, help="comma-separated methods (default: all nine)")
    p.add_argument("--hyper", type=_hyper, action="append", default=[], metavar="METHOD.FIELD=VALUE",
                   help="a method's hyperparameter instead of its default (repeatable), e.g. adversarial.beta=2; "
                        "part of the units' identity, and named in the report's settings line")
    p.add_argument("--seeds", type=int, default=None, help="number of training seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    p.add_argument("--hidden", type=int, default=None, help="hidden neurons (default: the preset's)")
    p.add_argument("--zetas", type=_floats, default=ZETAS, help="random mismatch levels")
    p.add_argument("--draws", type=int, default=None, help="chips per mismatch level (default 100)")
    p.add_argument("--attack-eps", type=_floats, default=ATTACK_EPS, help="attack sizes")
    p.add_argument("--attack-repeats", type=int, default=None, help="attack starts, the worst counts (default 5)")
    p.add_argument("--attack-steps", type=int, default=None, help="attack steps (default 10)")
    p.add_argument("--profiles", type=_names, default=None, help=f"device profiles (default {','.join(PROFILES)})")
    p.add_argument("--chips", type=int, default=None, help="chips per device profile (default 100)")
    p.add_argument("--subset", type=int, default=None, help="use at most this many samples of each split")
    p.add_argument("--test-subset", type=int, default=None,
                   help="score on at most this many test samples, spread evenly over the split (train and val stay "
                        "whole): the protocol's cost grows with the test split, e.g. synth-kws at the paper's size")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny network, 1 epoch, data subsets, few chips")
    p.add_argument("--backend", default="local", choices=BACKENDS, help="local: one unit after another; ray: parallel")
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per unit (1 avoids oversubscription)")
    p.add_argument("--compile", action="store_true",
                   help="train through torch.compile (fit(compile=True)); results differ from eager by rounding. "
                        "Measured on the paper-speech network: 1.17x per adversarial epoch after ~22 s of "
                        "compilation (benchmarks/README.md), so it pays only on long runs")
    return p


def _pick(value: Any, quick_key: str, default: Any, quick: bool) -> Any:
    if value is not None:
        return value
    return QUICK[quick_key] if quick else default


def make_plan(args: argparse.Namespace) -> tuple[dict[str, Any], list[UnitSpec]]:
    """The run's settings and its units, in the order (method, seed) of the tables."""
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        raise ConfigError(f"--methods: unknown {unknown or 'empty list'}; known: {', '.join(METHODS)}")
    parsed = parse_spec(args.data)
    preset_name = AUTO_PRESET[parsed.kind] if args.preset == "auto" else args.preset
    preset = PRESETS[preset_name]
    data = args.data
    extra = {k: v for k, v in preset.data_options.items() if parsed.option(k) is None}
    if extra:
        data += ("&" if "?" in data else "?") + "&".join(f"{k}={v}" for k, v in extra.items())
        parse_spec(data)
    network = dict(preset.network)
    network["hidden"] = [_pick(args.hidden, "hidden", network["hidden"][0], args.quick)]
    train = {**preset.train, "epochs": _pick(args.epochs, "epochs", preset.train["epochs"], args.quick)}
    seeds = _pick(args.seeds, "seeds", 3, args.quick)
    subset = dict(QUICK["subset"]) if args.quick else {}
    if args.subset is not None:
        subset = {s: args.subset for s in ("train", "val", "test")}
    if args.test_subset is not None:
        if args.test_subset < 1:
            raise ConfigError(f"--test-subset must be >= 1, got {args.test_subset}")
        subset["test"] = min(args.test_subset, subset.get("test", args.test_subset))
    points = QUICK["landscape_points"] if args.quick else 21
    common = dict(
        data=data, network=network, train=train, zetas=tuple(args.zetas),
        draws=_pick(args.draws, "draws", 100, args.quick), attack_eps=tuple(args.attack_eps),
        attack_repeats=_pick(args.attack_repeats, "attack_repeats", 5, args.quick),
        attack_steps=_pick(args.attack_steps, "attack_steps", 10, args.quick),
        landscape_directions=QUICK["landscape_directions"] if args.quick else 5,
        landscape_alphas=tuple(round(-2 + 4 * i / (points - 1), 6) for i in range(points)),
        profiles=tuple(_pick(args.profiles, "profiles", PROFILES, args.quick)),
        chips=_pick(args.chips, "chips", 100, args.quick), subset=subset,
        workdir=str(Path(args.out).resolve()), threads=args.threads, compile=args.compile,
    )
    for name in ("draws", "attack_repeats", "attack_steps", "chips"):
        if common[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {common[name]}")
    if seeds < 1 or train["epochs"] < 1 or network["hidden"][0] < 1:
        raise ConfigError("--seeds, --epochs and --hidden must be >= 1")
    hyper = method_hyperparameters(tuple(args.methods), args.hyper)
    specs = [UnitSpec(method=m, seed=s, hyperparameters=hyper.get(m, {}), **common)
             for m in args.methods for s in range(seeds)]
    settings = {"data": data, "preset": preset_name, "describe": preset.describe, "network": network,
                "train": train, "seeds": list(range(seeds)), "methods": list(args.methods),
                **{k: common[k] for k in ("zetas", "draws", "attack_eps", "attack_repeats", "attack_steps",
                                          "landscape_directions", "profiles", "chips", "subset")},
                "epochs": train["epochs"], "quick": bool(args.quick), **({"hyperparameters": hyper} if hyper else {})}
    return json.loads(json.dumps(settings)), specs


def unit_path(out: Path, spec: UnitSpec) -> Path:
    return out / "units" / f"{spec.name}.json"


def finished_units(out: Path, specs: list[UnitSpec]) -> dict[str, dict[str, Any]]:
    """Unit results already on disk, checked against the plan: a unit computed with other settings is refused."""
    done = {}
    for spec in specs:
        path = unit_path(out, spec)
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        if result.get("unit") != spec.identity():
            stored = result.get("unit", {})
            changed = sorted(k for k in set(stored) | set(spec.identity()) if stored.get(k) != spec.identity().get(k))
            raise ConfigError(f"{path} was computed with other settings ({', '.join(changed)}); "
                              "use another --out, or delete it to recompute")
        done[spec.name] = result
    return done


def _without_per_chip(value: Any) -> Any:
    """The unit results without per-chip lists (kept in the unit files; the summary JSON stays readable)."""
    if isinstance(value, dict):
        return {k: _without_per_chip(v) for k, v in value.items() if k != "per_chip"}
    if isinstance(value, list):
        return [_without_per_chip(v) for v in value]
    return value


def _architecture(settings: dict[str, Any], first: dict[str, Any]) -> str:
    net = first["train"]["network"]
    return settings["describe"].format(n_in=net["n_in"], hidden=" + ".join(map(str, net["hidden"])),
                                       n_out=net["n_classes"])


def write_outputs(out: Path, settings: dict[str, Any], units: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """``robustness.json``, the plots and ``robustness.md`` from the finished units; returns the JSON document."""
    summary = robustness_report.summarise(units, settings["methods"])
    timing = robustness_report.timing_summary(units, settings["methods"])
    settings = {**settings, "architecture": _architecture(settings, units[0]), "n_test": units[0]["eval"]["n_test"]}
    doc = {"command": command, "settings": settings, "methods": summary,
           "units": [_without_per_chip(u) for u in units], "timing": timing}
    write_json_atomic(out / "robustness.json", doc)
    try:
        plots = robustness_report.plot(summary, out)
    except ImportError as exc:
        print(f"[robustness] no plots: {exc}", file=sys.stderr)
        plots = []
    text = robustness_report.markdown(summary, timing, settings, command, [str(p) for p in plots])
    write_bytes_atomic(out / "robustness.md", text.encode())
    return doc


def _register_for_ray() -> None:
    """Ship the unit module by value: Ray workers cannot import ``benchmarks/`` (it is not a package)."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(robustness_unit)


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    settings, specs = make_plan(args)
    out = Path(args.out)
    try:
        (out / "units").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror}") from None
    done = finished_units(out, specs)
    pending = [s for s in specs if s.name not in done]
    print(f"[robustness] {len(specs)} units ({len(settings['methods'])} methods x {len(settings['seeds'])} seeds); "
          f"{len(done)} already finished, {len(pending)} to run on backend {args.backend}", flush=True)
    start = time.perf_counter()

    def on_result(index: int, result: dict[str, Any]) -> None:
        spec = pending[index]
        write_json_atomic(unit_path(out, spec), result)
        spec.checkpoint_path().unlink(missing_ok=True)
        done[spec.name] = result
        t = result["timing"]
        print(f"[robustness] {spec.name}: clean {result['eval']['nominal_accuracy']:.3f}, train "
              f"{t['train_seconds']:.0f} s, eval {sum(t['eval_seconds'].values()):.0f} s "
              f"({len(done)}/{len(specs)} done, {time.perf_counter() - start:.0f} s elapsed)", flush=True)

    if pending:
        if args.backend == "ray":
            _register_for_ray()
        run_tasks(run_unit, pending, backend=args.backend, address=args.address, on_result=on_result)
    units = [done[s.name] for s in specs]
    doc = write_outputs(out, settings, units, command)
    print(f"[robustness] wrote {out / 'robustness.md'} and {out / 'robustness.json'} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    command = "python benchmarks/robustness.py " + " ".join(shlex.quote(a) for a in words)
    try:
        run(args, command.strip())
    except (ConfigError, DataError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
