"""``--config FILE.toml`` for every command, and the effective configuration written next to every output.

Why: a run that decides a tape-out must be repeatable from its outputs alone. Each command reads the TOML
section named after it (``[evaluate]``, ``[attack]``, ``[export]``, ``[demo]``; ``train`` reads ``[train]``
plus ``[network]`` and ``[method]``), whose keys are the command's long options (``chips = 200``,
``spec-relative = 0.9`` or ``spec_relative = 0.9``). An option given on the command line wins over the file;
the file wins over the built-in default. One file may hold sections for several commands.

After a run the resolved options are written as TOML next to each output (``OUT.config.toml`` beside a file,
``config.toml`` inside an output folder), in the format ``--config`` reads back: ``robust-snn evaluate
--config card.json.config.toml`` repeats the run. Values are checked against the option's type and choices,
and errors name the file, the section and the key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import tomli_w

from ._version import __version__
from .config import ConfigError, load_toml
from .io.atomic import write_bytes_atomic

COMMANDS_WITH_CONFIG = ("train", "evaluate", "attack", "export", "demo", "tune")
TRAIN_SECTIONS = ("network", "method")  # besides [train]: the architecture and the method's hyperparameters
NOT_OPTIONS = {"config", "func", "command", "help"}

# Options a command cannot run without; argparse does not enforce them so that they may come from --config.
REQUIRED = {
    "train": ("data", "out"),
    "evaluate": ("model", "data", "device"),
    "attack": ("model", "data"),
    "export": ("model", "format", "out"),
    "tune": ("data", "device", "out"),
}


def _given_on_command_line(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Destinations the user set explicitly (so --config must not override them)."""
    given = set()
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of actions
        if not action.option_strings:
            continue
        for word in argv:
            if word == "--":
                break
            if any(word == opt or word.startswith(opt + "=") for opt in action.option_strings):
                given.add(action.dest)
    return given


def _checked(value: Any, action: argparse.Action, where: str) -> Any:
    """``value`` from TOML converted to what the option's action would have stored, or a ConfigError."""
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if action.nargs in ("+", "*"):
        items = value if isinstance(value, list) else [value]
        if action.nargs == "+" and not items:
            raise ConfigError(f"{where} must not be empty")
        return [_checked_scalar(v, action, f"{where}[{i}]") for i, v in enumerate(items)]
    return _checked_scalar(value, action, where)


def _checked_scalar(value: Any, action: argparse.Action, where: str) -> Any:
    kind = action.type
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise ConfigError(f"{where} has the wrong type: {value!r}")
    if kind is int:
        if not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif kind is float:
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif kind is None or kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
    else:
        try:
            value = kind(str(value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value


def _check_sections(data: Mapping[str, Any], path: str) -> None:
    known = set(COMMANDS_WITH_CONFIG) | set(TRAIN_SECTIONS)
    for name, value in data.items():
        if name not in known:
            raise ConfigError(f"{path}: unknown section [{name}]; known: {', '.join(sorted(known))}")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name} must be a [section], got {value!r}")


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str],
                 extra_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Fill ``args`` from ``args.config``'s ``[COMMAND]`` section; returns the whole file (``{}`` without one).

    ``extra_keys`` are keys of the command's section that are not options (``train``'s TrainConfig fields);
    they are left in the returned dict for the command to validate.
    """
    data: dict[str, Any] = {}
    if getattr(args, "config", None) is not None:
        data = load_toml(args.config)
        _check_sections(data, args.config)
    section = dict(data.get(args.command, {}))
    actions = {a.dest: a for a in parser._actions if a.dest not in NOT_OPTIONS}  # noqa: SLF001
    given = _given_on_command_line(parser, argv)
    extra = set(extra_keys)
    for key, value in section.items():
        dest = key.replace("-", "_")
        where = f"{args.config}: {args.command}.{key}"
        if dest in extra:
            continue
        if dest not in actions:
            known = sorted({*actions, *extra})
            raise ConfigError(f"{where} is not an option of `robust-snn {args.command}`; known: {', '.join(known)}")
        value = _checked(value, actions[dest], where)
        positional_given = not actions[dest].option_strings and getattr(args, dest)
        if dest not in given and not positional_given:
            setattr(args, dest, value)
    for dest in REQUIRED.get(args.command, ()):
        if getattr(args, dest) in (None, []):
            action = actions[dest]
            flag = action.option_strings[0] if action.option_strings else dest.upper()
            raise ConfigError(f"{args.command} needs {flag} (on the command line or as `{dest} = ...` in the "
                              f"[{args.command}] section of --config)")
    return data


def options_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The command's resolved options as a TOML-ready dict (unset options omitted: TOML has no null)."""
    out = {}
    for action in parser._actions:  # noqa: SLF001
        if action.dest in NOT_OPTIONS:
            continue
        value = getattr(args, action.dest, None)
        if value is not None:
            out[action.dest.replace("_", "-")] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def _toml_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value if v is not None]
    if isinstance(value, Path):
        return str(value)
    return value


def config_path_for(output: str | Path, is_folder: bool = False) -> Path:
    """Where the effective configuration of ``output`` goes: inside a folder, or beside a file."""
    output = Path(output)
    return output / "config.toml" if is_folder else output.with_name(output.name + ".config.toml")


def write_effective_config(path: str | Path, command: str, sections: Mapping[str, Any]) -> Path:
    """Write ``sections`` (``{section: {key: value}}``) atomically as TOML that ``--config`` reads back."""
    path = Path(path)
    header = (f"# Effective configuration of `robust-snn {command}` (robust-snn {__version__}).\n"
              f"# Repeat the run: robust-snn {command} --config {path.name}\n\n")
    write_bytes_atomic(path, (header + tomli_w.dumps(_toml_ready(sections))).encode())
    return path


__all__ = ["REQUIRED", "apply_config", "config_path_for", "options_of", "write_effective_config"]
