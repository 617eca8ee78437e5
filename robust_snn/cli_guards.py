"""What the command line checks before it runs, so that a run never gives a wrong answer with exit status 0.

- **Data against model** (``evaluate``, ``attack``, ``export --format bundle --data``, ``train --init``): the
  data's front end, class names and data set against what the model file records
  (:mod:`robust_snn.data.provenance`); ``--allow-frontend-mismatch`` and ``--allow-other-data`` opt out.
- **A configuration that contradicts itself** is an error naming both places (``[train] method = "noise"``
  beside ``[method] name = "standard"``; ``[train] hidden`` beside ``[network] hidden``). The command line
  still wins over the file (README: "an option given on the command line wins"); when ``--method`` replaces
  the file's method, the file's ``[method]`` hyperparameters (which belong to the other method) are dropped
  with a note. The merging itself is the library's (:mod:`robust_snn.training.configure`); this module turns
  the parsed flags into its overrides.
- **train's outputs**: an existing MODEL is not overwritten without ``--force``; ``--resume`` without a
  checkpoint is an error naming the checkpoint looked for; Ctrl-C says what was saved and the exact command
  that continues (exit status 130).
- **Examples** run under the same contract (:func:`run_as_command`): a missing path is one line, exit 2.
- **train's common settings as flags** (``--hidden``, ``--recurrent/--no-recurrent``, ``--readout``,
  ``--batch-size``, ``--lr``), with the same names as the ``[network]`` / ``[train]`` keys they override.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .config import ConfigError

# Options not saved in the [train] section of the effective configuration: their resolved value is saved in
# [train] / [network] under the config key, or they concern this invocation only (overwrite, resume).
NOT_SAVED = ("epochs", "seed", "batch-size", "lr", "hidden", "recurrent", "readout", "resume", "force")


def run_as_command(main: Callable[[], Any], prog: str | None = None) -> None:
    """Run a script's ``main`` (the examples) under the CLI's exit-status contract: a user error (a missing path,
    a bad data spec, a damaged file) is one line on stderr and exit status 2, not a traceback; Ctrl-C is 130."""
    from .errors import USER_ERRORS

    name = prog or Path(sys.argv[0]).name
    try:
        main()
    except USER_ERRORS as exc:
        print(f"{name}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        sys.exit(130)


def add_data_check_options(p: argparse.ArgumentParser, other_data: bool = True) -> None:
    """``--allow-frontend-mismatch`` (and ``--allow-other-data``) on a command that feeds data to a model."""
    p.add_argument("--allow-frontend-mismatch", action="store_true",
                   help="run even when the data's front end (mel bands, f_min/f_max, window, ...) differs from the "
                        "one the model was trained with (default: such a difference is an error naming the field)")
    if other_data:
        p.add_argument("--allow-other-data", action="store_true",
                       help="the data is deliberately another data set than the model's (or names its classes "
                            "differently): no warning, no error (default: warn about another data set, refuse "
                            "other class names)")


def add_train_options(p: argparse.ArgumentParser) -> None:
    """train's flags for the common settings and its output guards; every default shown in ``--help``."""
    from .core.network import READOUTS, NetworkConfig
    from .training.configure import DEFAULT_HIDDEN
    from .training.trainer import TrainConfig

    train, net = TrainConfig(), NetworkConfig()
    p.add_argument("--force", action="store_true",
                   help="overwrite MODEL if it exists (default: an existing MODEL is an error)")
    add_data_check_options(p, other_data=False)
    p.add_argument("--hidden", type=int, nargs="+", default=None, metavar="N",
                   help="hidden layer sizes, e.g. --hidden 64 64 ([network] hidden; default: "
                        f"{' '.join(map(str, DEFAULT_HIDDEN))}, a fan-in that fits DYNAP-SE2 and Xylo Audio 2)")
    p.add_argument("--recurrent", action=argparse.BooleanOptionalAction, default=None,
                   help="recurrent connections in the hidden layers ([network] recurrent; default: recurrent)")
    p.add_argument("--readout", choices=READOUTS, default=None,
                   help=f"how spikes become logits ([network] readout; default: {net.readout})")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help=f"samples per optimiser step ([train] batch_size; default: {train.batch_size})")
    p.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate, x{train.lr_decay_factor} after {train.lr_decay_at:.0%}% of the epochs "
                        f"([train] lr; default: {train.lr})")


def train_settings(args: argparse.Namespace, sections: Mapping[str, Any]) -> dict[str, Any]:
    """The TrainConfig fields: ``[train]`` (either key spelling), then the command line's flags
    (:func:`robust_snn.training.configure.train_settings`)."""
    from .training.configure import TRAIN_FLAGS, train_settings as merged

    return merged(sections, {name: getattr(args, name, None) for name in TRAIN_FLAGS})


def method_choice(args: argparse.Namespace, sections: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(method name, [method] hyperparameters)``; a file naming two methods is an error, and the file's
    hyperparameters that ``--method`` makes unused are named in a note (:func:`robust_snn.training.configure.
    method_choice`)."""
    from .training.configure import method_choice as chosen

    name, section, dropped = chosen(sections, args.method, args.config)
    if dropped:
        print(f"robust-snn train: note: --method {args.method} replaces [method] name = "
              f"{sections['method']['name']!r} of {args.config}; its hyperparameters ({', '.join(dropped)}) are not "
              "used", file=sys.stderr)
    return name, section


def network_settings(args: argparse.Namespace, sections: Mapping[str, Any]) -> dict[str, Any]:
    """``[network]`` with train's network flags applied (the command line wins; :func:`robust_snn.training.
    configure.network_settings`); with ``--init`` (the architecture comes from the model file) they are an
    error."""
    from .training.configure import NETWORK_FLAGS, network_settings as merged

    flags = {name: getattr(args, name, None) for name in NETWORK_FLAGS}
    network = merged(sections, flags, args.config)
    if getattr(args, "init", None) is not None:
        given = [f"--{n}" for n, v in flags.items() if v is not None]
        if given:
            raise ConfigError(f"--init takes the architecture from the model file; remove {', '.join(given)}")
    return network


def check_data_for_model(args: argparse.Namespace, model_path: str | Path, data: Any, *,
                         check_classes: bool = True) -> None:
    """The data against the model file's record (:func:`robust_snn.data.provenance.check_model_data`): an
    error exits 2; warnings go to stderr."""
    from .data.provenance import check_model_data
    from .io.tensors import load_tensors

    meta = load_tensors(model_path)[1]
    for text in check_model_data(meta, data, str(model_path), args.data,
                                 allow_frontend_mismatch=getattr(args, "allow_frontend_mismatch", False),
                                 allow_other_data=getattr(args, "allow_other_data", False),
                                 check_classes=check_classes):
        print(f"robust-snn {args.command}: warning: {text}", file=sys.stderr)


def checkpoint_path(out: str | Path) -> Path:
    """Where train keeps its checkpoint for MODEL: ``MODEL.ckpt`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def check_train_outputs(args: argparse.Namespace) -> None:
    """Refuse to overwrite MODEL without ``--force`` and to ``--resume`` without a checkpoint; both exit 2.

    ``--resume`` may rewrite MODEL: it is the model of the run being continued (its checkpoint is MODEL.ckpt).
    """
    out, checkpoint = Path(args.out), checkpoint_path(args.out)
    if args.resume and not checkpoint.exists():
        raise ConfigError(f"--resume: no checkpoint {checkpoint} to continue from (run without --resume to start "
                          "training)")
    if out.exists() and not args.resume and not getattr(args, "force", False):
        raise ConfigError(f"{out} exists; pass --force to overwrite it")


def interrupted_message(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """What Ctrl-C leaves behind, and for ``train`` the exact command that continues from it."""
    if getattr(args, "command", None) != "train" or not getattr(args, "out", None):
        return "interrupted"
    checkpoint = checkpoint_path(args.out)
    words = list(argv) + ([] if "--resume" in argv else ["--resume"])
    if not checkpoint.exists():
        return (f"interrupted before the first epoch ended: nothing saved ({args.out} not written). "
                f"Start again with: robust-snn {shlex.join(list(argv))}")
    from .io.tensors import FileFormatError
    from .training.checkpoint import load_checkpoint

    try:
        done = f"after epoch {load_checkpoint(checkpoint).epoch + 1}"
    except FileFormatError:
        done = "(unreadable)"
    return (f"interrupted: checkpoint {checkpoint} saved {done}; {args.out} not written. "
            f"Continue with: robust-snn {shlex.join(words)}")


__all__ = ["add_data_check_options", "add_train_options", "check_data_for_model", "check_train_outputs", "checkpoint_path",
           "interrupted_message", "method_choice", "network_settings", "run_as_command", "train_settings"]
