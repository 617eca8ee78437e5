"""The ``robust-snn`` command line: a thin shell over the public API (see ``shared/CLI.md``).

Exit status 0 on success, 2 for a usage error or bad input (one line on stderr, no traceback), 1 for an
internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ._version import __version__
from .cli_config import COMMANDS_WITH_CONFIG, apply_config, config_path_for, options_of, write_effective_config
from .cli_guards import NOT_SAVED, add_data_check_options, add_train_options, check_data_for_model, interrupted_message
from .errors import USER_ERRORS, ConfigError, DataError
from .io.atomic import write_json_atomic


def _cmd_methods(args: argparse.Namespace) -> int:
    from .training.methods import METHODS, device_methods

    supported = device_methods()
    rows = [{"name": name, "summary": cls.summary, "hyperparameters": cls().hyperparameters(),
             "device": cls.device_summary if name in supported else None}
            for name, cls in sorted(METHODS.items())]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        hp = ", ".join(f"{k}={v}" for k, v in row["hyperparameters"].items()) or "no hyperparameters"
        print(f"{row['name']:<16} {row['summary']}\n{'':<16} {hp}")
        if row["device"]:
            print(f"{'':<16} --device PROFILE: {row['device']}")
    print(f"\n`robust-snn train --device PROFILE` (or [method] device = ...) trains for a chip line: "
          f"{', '.join(supported)}")
    return 0


def _save_config(args: argparse.Namespace, output: str | Path | None, is_folder: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
    """The effective configuration next to ``output`` (nothing for stdout-only runs)."""
    if output is None or str(output) == "-":
        return
    sections = {args.command: options_of(args.subparser, args), **(extra or {})}
    write_effective_config(config_path_for(output, is_folder), args.command, sections)


def _cmd_train(args: argparse.Namespace) -> int:
    from .core.network import SNNClassifier
    from .data import load_dataset
    from .io.model_file import save_model
    from .training import TrainConfig, fit, make_method

    from .cli_guards import check_train_outputs, method_choice, network_settings, train_settings
    from .training.configure import DataShape, check_fits, check_init, default_network

    sections = args.config_data
    check_train_outputs(args)  # no silent overwrite of MODEL, no silent fresh start under --resume
    train_config = TrainConfig.from_dict(train_settings(args, sections))  # [train], then --epochs, --lr, ...
    method_name, method_section = method_choice(args, sections)  # a file naming two methods is an error
    network = network_settings(args, sections)  # [network], then --hidden, --recurrent, --readout
    if args.device is not None:
        method_section["device"] = args.device
    device = method_section.get("device") or None  # train for this chip line (device-aware)
    method = make_method(method_name, method_section)

    train_set = load_dataset(args.data, "train")
    val_set = load_dataset(args.data, "val")
    shape = DataShape.of(train_set)  # input channels, classes, time step
    if args.init is not None:
        from .io.model_file import load_model

        if "network" in sections:
            raise ConfigError("--init takes the architecture from the model file; remove the [network] section")
        if args.adaptive:
            raise ConfigError("--init takes the architecture from the model file; remove --adaptive")
        model = load_model(args.init).train()
        check_data_for_model(args, args.init, train_set, check_classes=False)  # same front end
        check_init(model, shape, args.init, args.data)  # same input channels and classes
        if device:
            check_fits(model, device)
    else:  # sized for the chip line when training for one; a network that does not fit it is refused
        network = {**network, "adaptive": True} if args.adaptive else network
        model = SNNClassifier(default_network(shape, seed=train_config.seed, device=device, network=network))

    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".ckpt")
    describe = {"data": args.data, "network": model.config.to_dict(), "init": args.init}
    if args.resume and checkpoint.exists():
        from .training.checkpoint import load_checkpoint

        done = load_checkpoint(checkpoint).epoch + 1
        print(f"resuming from {checkpoint}: {done} of {train_config.epochs} epochs done", file=sys.stderr)
    from .progress import JsonLines

    with JsonLines(args.log_json) if args.log_json else _NoLog() as log:
        result = fit(model, train_set, val_set, method, train_config, checkpoint=checkpoint, resume=args.resume,
                     progress=not args.quiet, describe=describe, on_epoch=log.write, accelerator=args.accelerator,
                     compile=args.compile)
    effective = {"network": model.config.to_dict(), "train": train_config.__dict__, "method": method.describe()}
    frontend = getattr(train_set, "frontend", None)
    save_model(out, result.model, method=method.describe(), data=args.data, training=effective["train"],
               history=result.history, classes=list(shape.classes) if shape.classes else None,
               front_end=frontend.to_dict() if frontend is not None else None)
    run_options = {k: v for k, v in options_of(args.subparser, args).items() if k not in NOT_SAVED}
    write_effective_config(config_path_for(out), "train", {"train": {**run_options, **effective["train"]},
                                                         "network": effective["network"],
                                                         "method": {"name": method.describe()["name"],
                                                                    **method.hyperparameters()}})
    best = result.best_val_accuracy
    print(f"wrote {out} (best epoch {result.best_epoch}, val accuracy {best:.4f})" if best is not None
          else f"wrote {out}")
    return 0


class _NoLog:
    """Stands in for :class:`robust_snn.progress.JsonLines` when ``--log-json`` is not given."""

    def write(self, row: Any) -> None:
        pass

    def __enter__(self) -> "_NoLog":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _emit_json(dest: str | None, obj: Any) -> None:
    """``--json FILE`` (written atomically) or ``--json -`` (stdout)."""
    if dest is None:
        return
    if dest == "-":
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        write_json_atomic(dest, obj)


def _check_fits_data(model: Any, data: Any, model_name: str, spec: str) -> None:
    """A model and a data set that do not belong together are named here, not deep inside a matrix product."""
    if len(data) == 0:
        raise DataError(f"{spec}: the data set is empty")
    config = getattr(model, "config", None)
    if config is None:
        return
    channels = int(tuple(data[0][0].shape)[-1])
    if channels != config.n_in:
        raise ConfigError(f"{model_name} takes {config.n_in} input channels but {spec} gives {channels}")
    classes = getattr(data, "classes", None)
    if classes and len(classes) > config.n_classes:
        raise ConfigError(f"{model_name} has {config.n_classes} outputs but {spec} has {len(classes)} classes")


def _families(text: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in text.split(",") if f.strip())


def _cmd_attack(args: argparse.Namespace) -> int:
    from .attack import AttackConfig, evaluate_attack
    from .data import load_dataset
    from .io.model_file import load_model

    config = AttackConfig(eps=args.eps, steps=args.steps, divergence="ce", families=_families(args.families))
    model = load_model(args.model)
    data = load_dataset(args.data, args.split)
    _check_fits_data(model, data, args.model, args.data)
    check_data_for_model(args, args.model, data)  # front end, class names, data set
    report = {"model": str(args.model), "data": args.data, "split": args.split,
              **evaluate_attack(model, data, config, repeats=args.repeats, seed=args.seed,
                                accelerator=args.accelerator)}
    if args.json != "-":
        print(f"nominal {report['nominal_accuracy']:.4f}  attacked (eps {args.eps}, {args.steps} steps) "
              f"{report['attacked_accuracy']:.4f}  random {report['random_accuracy']:.4f}")
    _emit_json(args.json, report)
    _save_config(args, args.json)
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from .devices import describe_profiles

    rows = describe_profiles()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<14} {row['family']:<26} {row['description']}\n{'':<14} source: {row['source']}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .devices import load_profile
    from .io.model_file import read_model
    from .progress import print_line
    from .readiness.context import advised_card
    from .readiness.report import write_report
    from .readiness.scorecard import EnsembleSettings, Scored, SpecRule, score_card
    from .readiness.table import print_cards

    # the settings are checked as they are built, before any status line
    settings = EnsembleSettings(n_chips=args.chips, seed=args.seed, progress=not args.quiet, backend=args.backend,
                                address=args.address, accelerator=args.accelerator)
    rule = SpecRule(args.spec, args.spec_relative, args.target_yield)
    profile = load_profile(args.device)
    data = load_dataset(args.data, args.split)
    loaded = {str(path): read_model(path) for path in args.model}
    models = {name: model for name, (model, _) in loaded.items()}
    status = None if args.quiet else (lambda text: print_line(f"[evaluate] {text}"))
    for name, model in models.items():
        _check_fits_data(model, data, name, args.data)
        check_data_for_model(args, name, data)  # front end, class names, data set
    cards = []
    for name, model in models.items():
        if status:
            status(f"scoring {name} on {profile.name}: nominal, {args.chips} chips, then the attack at its scale")
        card = score_card(Scored(model, data, name, source=(args.data, args.split)), profile, settings, rule)
        # why it is not ready and what to try (robust_snn.readiness.advice), from the card and the model's facts
        cards.append(advised_card(model, card.with_extra(data=args.data), data, metadata=loaded[name][1],
                                  seed=args.seed, status=status))
    if args.json != "-":
        print_cards(cards, title=f"Deployment readiness ({args.data}, {args.split} split)")
    _emit_json(args.json, cards[0].to_dict() if len(cards) == 1 else [card.to_dict() for card in cards])
    if args.report:
        path = write_report(args.report, cards, models=models, data=data, seed=args.seed, status=status)
        _save_config(args, args.report, is_folder=True)
        if args.json != "-":
            print(f"report: {path}")
    _save_config(args, args.json)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .io.model_file import load_model

    if args.format == "nir":
        from .export.nir_targets import consumer_notes, robustness_metadata, write_nir_for
        from .io.model_file import read_model

        model, meta = read_model(args.model)
        robustness = robustness_metadata(meta)
        if args.device is not None and robustness["device_profile"] is None:
            from .devices import load_profile

            robustness["device_profile"] = load_profile(args.device).name
        write_nir_for(args.out, model, args.consumer, robustness)
        for note in consumer_notes(model, args.consumer):
            print(f"note: {note}", file=sys.stderr)
    elif args.format == "xylo":
        from .export.xylo import XyloMappingError, map_to_xylo, write_xylo_spec

        try:
            mapping = map_to_xylo(load_model(args.model))
        except XyloMappingError as exc:
            raise ConfigError(f"the model does not fit Xylo Audio 2: {exc}") from None
        write_xylo_spec(args.out, mapping)
    else:
        from .devices import load_profile
        from .export.bundle import require_fit, write_bundle

        if args.device is None:
            raise ConfigError("--format bundle needs --device PROFILE (the weights are programmed for it)")
        profile = load_profile(args.device)
        model = load_model(args.model)
        require_fit(model, profile, args.model)  # write_bundle checks too; here before the score card's work
        card = None
        if args.data is not None:
            from .data import load_dataset
            from .readiness.scorecard import EnsembleSettings, Scored, score_card

            data = load_dataset(args.data, "test")
            _check_fits_data(model, data, args.model, args.data)
            check_data_for_model(args, args.model, data)
            card = score_card(Scored(model, data, str(args.model)), profile,
                              EnsembleSettings(n_chips=args.chips, seed=args.seed, accelerator=args.accelerator))
        write_bundle(args.out, args.model, profile, card)
    _save_config(args, args.out)
    print(f"wrote {args.out} ({args.format})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet, accelerator=args.accelerator)
    _save_config(args, args.out, is_folder=True)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from .tuning import tune_model

    hidden = [int(h) for h in args.hidden.split(",")] if args.hidden else None
    tune_model(args.data, args.device, args.out, method=args.method, spec=args.spec,
               spec_relative=args.spec_relative, target_yield=args.target_yield, trials=args.trials,
               max_epochs=args.max_epochs, chips=args.chips, hidden=hidden, train_samples=args.train_samples,
               time_budget_s=args.time_budget, seed=args.seed, resume=args.resume, address=args.address,
               progress=not args.quiet, threads=args.threads or 1)
    _save_config(args, args.out, is_folder=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robust-snn",
        description="Train spiking networks that keep working on every chip off the line.",
        epilog="example: robust-snn train --data synth-kws --method standard --out model.rsnn",
    )
    parser.add_argument("--version", action="version", version=f"robust-snn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("methods", help="list training methods and their hyperparameters",
                       epilog="example: robust-snn methods --json")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_methods)

    p = sub.add_parser("train", help="train a network; writes MODEL (and MODEL.ckpt while training)",
                       epilog="example: robust-snn train --data shd:~/data/shd --method standard "
                              "--epochs 20 --out shd.rsnn")
    p.add_argument("--data", help="data SPEC: synth-kws, speech-commands:PATH, shd:PATH, fsdd:PATH or folder:PATH "
                                   "(a folder of class sub-folders of WAV files) (required)")
    p.add_argument("--method", default=None,
                   help="training method (see `robust-snn methods`; [method] name; default: standard)")
    p.add_argument("--out", help="model file to write (required); MODEL.config.toml gets the effective config")
    p.add_argument("--epochs", type=int, default=None, help="number of epochs ([train] epochs; default: 10)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the initial weights, the shuffling and the method's draws; the same seed "
                        "gives the same model, bit for bit ([train] seed; default: 0)")
    p.add_argument("--config", default=None, help="TOML file with [network], [train] and [method] sections; "
                   "[train] also takes this command's options (data = \"synth-kws\", ...)")
    p.add_argument("--resume", action="store_true",
                   help="continue from MODEL.ckpt (an error if there is none; may rewrite MODEL)")
    p.add_argument("--init", default=None, help="start from this model file's architecture and weights (fine-tuning)")
    add_train_options(p)  # --force, --allow-frontend-mismatch, --hidden, --recurrent, --readout, --batch-size, --lr
    p.add_argument("--device", default=None, metavar="PROFILE",
                   help="train for this chip line (profile name or TOML file; same as [method] device): every batch "
                        "runs on a fresh simulated chip, the default network is sized to fit the chip, and a network "
                        "that does not fit is refused (methods that support it: see `robust-snn methods`)")
    p.add_argument("--adaptive", action="store_true", default=None,
                   help="adaptive-threshold LIF neurons (the paper's speech network; same as [network] adaptive = true)")
    p.add_argument("--quiet", action="store_true", help="no progress (bar on a terminal, one line per epoch in a log)")
    p.add_argument("--log-json", default=None, metavar="FILE",
                   help="append one JSON object per epoch to FILE (JSON Lines; pandas.read_json(FILE, lines=True))")
    p.add_argument("--compile", action="store_true",
                   help="run the training passes (loss and attack gradients) through torch.compile, after seconds "
                        "of compilation per batch shape: on a GPU a Linear + LIF pass took 0.6x eager's time, on "
                        "the CPU about eager's (needs a C++ compiler); each step agrees with eager training up to "
                        "float rounding, but over a run rounding flips spikes, so the trained model is not the eager "
                        "run's twin")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("attack", help="worst-case accuracy under an adversarial parameter attack",
                       epilog="example: robust-snn attack model.rsnn --data synth-kws --eps 0.1 --json -")
    p.add_argument("model", nargs="?", help="model file (.rsnn)")
    p.add_argument("--data", help="data SPEC (see `robust-snn train --help`) (required)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="which split of the data set to score (default: test)")
    p.add_argument("--eps", type=float, default=0.1, help="relative attack size: |theta* - theta| <= eps |theta|")
    p.add_argument("--steps", type=int, default=10, help="signed-gradient ascent steps")
    p.add_argument("--repeats", type=int, default=5, help="random starts; the worst is reported (paper: 5)")
    p.add_argument("--families", default="weights,biases",
                   help="comma-separated parameter families to attack (weights, biases, taus, thresholds, ...)")
    _add_seed(p)
    p.add_argument("--json", default=None, help="write the attack JSON to FILE ('-' for stdout)")
    p.set_defaults(func=_cmd_attack)

    p = sub.add_parser("devices", help="list device profiles with their sources",
                       epilog="example: robust-snn devices --json")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_devices)

    p = sub.add_parser("evaluate", help="per-chip ensemble and deployment-readiness score card",
                       epilog="example: robust-snn evaluate model.rsnn --data synth-kws --device dynapse2 "
                              "--chips 200 --json card.json --report report/")
    p.add_argument("model", nargs="*", help="model file(s) (.rsnn); several give one comparison table")
    p.add_argument("--data", help="data SPEC (required)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="which split of the data set to score (default: test)")
    p.add_argument("--device", help="profile name (see `robust-snn devices`) or a profile TOML file (required)")
    p.add_argument("--chips", type=int, default=100, help="number of simulated chips")
    _add_seed(p)
    p.add_argument("--spec", type=float, default=None, help="absolute accuracy spec a chip must meet")
    p.add_argument("--spec-relative", type=float, default=0.95,
                   help="spec as a fraction of the nominal accuracy, used when --spec is absent (default 0.95)")
    p.add_argument("--target-yield", type=float, default=0.95, help="yield the grade is judged against")
    p.add_argument("--json", default=None, help="write the readiness JSON to FILE ('-' for stdout)")
    p.add_argument("--report", default=None, help="write a Markdown report with plots into this folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where the chip ensemble runs: this process, or Ray tasks (extra: robust-snn[ray])")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (HOST:PORT, ray://HOST:PORT or auto); default: start one locally")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="chip-mappable export: NIR graph, Xylo Audio 2 spec, or a deployment bundle",
                       epilog="example: robust-snn export model.rsnn --format bundle --device dynapse2 "
                              "--data synth-kws --out model.bundle.rsnn")
    p.add_argument("model", nargs="?", help="model file (.rsnn)")
    p.add_argument("--format", choices=("nir", "xylo", "bundle"), help="(required)")
    p.add_argument("--for", dest="consumer", default="rockpool",
                   choices=("rockpool", "snntorch", "norse", "sinabs", "spyx"),
                   help="nir only: the simulator whose importer reads the graph (default rockpool, also ours)")
    p.add_argument("--out", help="file to write (required)")
    p.add_argument("--device", default=None, help="profile the bundle's weights are programmed for")
    p.add_argument("--data", default=None, help="bundle only: data SPEC to measure the score card on")
    p.add_argument("--chips", type=int, default=100, help="bundle only: chips for the score card")
    _add_seed(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("tune", help="search a method's hyperparameters (Ray Tune) for the best yield on a chip line",
                       epilog="example: robust-snn tune --data synth-kws --device dynapse2 --method adversarial "
                              "--trials 8 --max-epochs 10 --out tune-dynapse2")
    p.add_argument("--data", help="data SPEC (required); trials are scored on its val split, the best also on test")
    p.add_argument("--device", help="profile name or TOML file the models must work on (required)")
    p.add_argument("--out", help="output folder: trials table, Pareto plot, best.rsnn, Ray state (required)")
    p.add_argument("--method", default="adversarial",
                   help="method whose hyperparameters are searched: standard, noise, adversarial, "
                        "adversarial-warm, fn-adversarial (default: adversarial)")
    p.add_argument("--spec", type=float, default=None, help="absolute accuracy spec a chip must meet")
    p.add_argument("--spec-relative", type=float, default=0.95,
                   help="spec as a fraction of each trial's nominal accuracy, when --spec is absent (default 0.95)")
    p.add_argument("--target-yield", type=float, default=0.95, help="yield a trial must reach to be ready")
    p.add_argument("--trials", type=int, default=8, help="number of trials; trial 1 is the method's defaults")
    p.add_argument("--max-epochs", type=int, default=10, help="epochs per trial are searched in [max/2, max]")
    p.add_argument("--hidden", default=None,
                   help="comma-separated hidden widths to search (default: widths that fit the chip's fan-in)")
    p.add_argument("--chips", type=int, default=100, help="simulated chips per trial's score card")
    p.add_argument("--train-samples", type=int, default=None, help="train each trial on this many samples only")
    p.add_argument("--time-budget", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampled points, training and chips")
    p.add_argument("--resume", action="store_true", help="continue the search in --out (finished trials are kept)")
    p.add_argument("--address", default=None, help="Ray cluster to run the trials on (default: this machine)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("demo", help="the main job: train standard and robust networks, score them on several "
                                    "device profiles, write a report, export the robust one",
                       epilog="example: robust-snn demo --out demo-out --quick")
    p.add_argument("--out", default="demo-out", help="output folder")
    p.add_argument("--quick", action="store_true", help="small budgets: well under 2 minutes")
    _add_seed(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    for name, p in sub.choices.items():
        p.set_defaults(subparser=p)
        if name in ("evaluate", "attack", "export"):  # commands that feed data to a model file
            add_data_check_options(p)
        if name in COMMANDS_WITH_CONFIG and name != "train":
            p.add_argument("--config", default=None,
                           help=f"TOML file whose [{name}] section sets any of these options (the command line "
                                f"wins); the effective configuration is saved next to every output")
        if name in COMPUTING_COMMANDS:
            _add_runtime_options(p, accelerator=name in ACCELERATED_COMMANDS)
    return parser


# Commands that compute take --threads; those whose tensors can live on a GPU also take --accelerator.
COMPUTING_COMMANDS = ("train", "evaluate", "attack", "export", "demo", "tune")
ACCELERATED_COMMANDS = ("train", "evaluate", "attack", "export", "demo")


def _add_seed(p: argparse.ArgumentParser) -> None:
    """``--seed`` of the commands that draw chips, attack starts or training batches (one help text)."""
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (chips, attack starts, training); the same seed gives the same numbers, bit "
                        "for bit (default: 0)")


def _add_runtime_options(p: argparse.ArgumentParser, accelerator: bool) -> None:
    """``--threads`` (robust_snn.runtime.threads) and ``--accelerator`` (robust_snn.runtime.accelerator)."""
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="intra-op threads torch computes with (default: the thread policy, one thread, and the "
                        "free cores for chip ensembles; see README 'Speed')")
    if accelerator:
        from .runtime import ACCELERATORS

        p.add_argument("--accelerator", default="auto", choices=ACCELERATORS,
                       help="where the tensors live: cuda if available (auto, the default), cpu, or cuda "
                            "(--device names the chip profile)")


def _apply_runtime_options(args: argparse.Namespace) -> None:
    """Apply the thread policy (or the count asked for) and the memory policy (freed memory kept for reuse,
    :mod:`robust_snn.runtime.memory`), and check the accelerator, before any work.

    An unset ``--threads`` stays unset in the saved configuration: a rerun then follows the policy again."""
    from .runtime import check_threads, resolve_accelerator, retain_freed_memory, set_threads

    retain_freed_memory()
    if hasattr(args, "threads"):
        set_threads(None if args.threads is None else check_threads(args.threads, "--threads"))
    if getattr(args, "accelerator", None) is not None:
        resolve_accelerator(args.accelerator)  # `cuda` without one: one line, exit 2, before any work


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in COMMANDS_WITH_CONFIG:
            from .training import TrainConfig

            extra = TrainConfig.__dataclass_fields__ if args.command == "train" else ()
            args.config_data = apply_config(args.subparser, args, argv, extra_keys=extra)
        _apply_runtime_options(args)
        return int(args.func(args))
    except USER_ERRORS as exc:
        message = " ".join(str(exc).split())  # one line, even when a file's key holds a newline
        print(f"robust-snn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except ImportError as exc:
        if "pip install" not in str(exc):  # a missing optional extra names its install; anything else is a bug
            raise
        print(f"robust-snn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from .training import TrainingDiverged

        if not isinstance(exc, TrainingDiverged):
            raise
        print(f"robust-snn {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except KeyboardInterrupt:
        print(interrupted_message(args, argv), file=sys.stderr)  # train: what was saved, how to continue
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
