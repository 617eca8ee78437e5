"""Does this data belong to this model? The data's front end, class names and data set against the model file's.

A model file records how its inputs were made (``front_end``: the :class:`~.frontend.FrontEndConfig`), what
its outputs mean (``classes``) and what it was trained on (``data``: the spec). Feeding it data made another
way runs without any error and gives a wrong number: ``synth-kws?fmax=1500`` on a model trained with
``f_max = 4000`` Hz halves its accuracy, silently. So every command that feeds data to a model compares them
first:

- **front end**: any differing field is an error naming it (``f_max: model 4000.0, data 1500.0``);
  ``allow_frontend_mismatch`` turns it into a warning (deliberate experiments, e.g. robustness to the front end);
- **class names**: a different label order or different words is an error (label ``i`` would mean another
  word, and the accuracy nothing); ``allow_other_data`` lets it through as a warning;
- **data set**: another corpus (kind or folder) with the same class names is allowed but warned about
  (``synth-kws`` -> ``speech-commands:/data/sc``), since accuracy on one does not transfer to the other as a
  matter of course; ``allow_other_data`` says it is intended and silences the warning.

What a file does not record (files written through the API without ``front_end``/``classes``/``data``) is not
checked: there is nothing to compare with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from ..errors import DataError
from .frontend import FrontEndConfig

_MISSING = object()


def frontend_differences(recorded: Mapping[str, Any], data_frontend: FrontEndConfig | None) -> list[str]:
    """``["f_max: model 4000.0, data 1500.0", ...]``: the fields in which ``data_frontend`` differs from the
    front end a model recorded. A field the record lacks (an older file) counts as its default; a field this
    version does not know is compared only when both sides have it."""
    if data_frontend is None:
        return ["front_end: model " + ", ".join(f"{k} {v}" for k, v in sorted(recorded.items()))
                + "; data has none (spike input)"]
    defaults = {f.name: f.default for f in dataclasses.fields(FrontEndConfig)}
    ours = data_frontend.to_dict()
    out = []
    for name in sorted(set(recorded) | set(ours)):
        model_value = recorded.get(name, defaults.get(name, _MISSING))
        data_value = ours.get(name, _MISSING)
        if model_value is _MISSING or data_value is _MISSING:
            continue
        if model_value != data_value:
            out.append(f"{name}: model {model_value}, data {data_value}")
    return out


def data_identity(spec: str) -> tuple[str, str | None]:
    """``(kind, resolved folder or file)`` of a data spec; options (front end, split, noise) are not identity."""
    head = str(spec).partition("?")[0]
    kind, sep, path = head.partition(":")
    return kind, str(Path(path).expanduser().resolve()) if sep and path else None


def check_model_data(meta: Mapping[str, Any], data: Any, model_name: str, data_spec: str, *,
                     allow_frontend_mismatch: bool = False, allow_other_data: bool = False,
                     check_classes: bool = True) -> list[str]:
    """Raise :class:`DataError` when ``data`` cannot be what the model (metadata ``meta``) expects; return the
    warnings to show (see the module docstring). ``check_classes=False`` for fine-tuning (``train --init``),
    where new data and new class names are the point."""
    warnings: list[str] = []
    recorded = meta.get("front_end")
    if isinstance(recorded, Mapping) and hasattr(data, "frontend"):
        diffs = frontend_differences(recorded, data.frontend)
        if diffs:
            text = (f"{model_name} was trained on another front end than {data_spec} gives: {'; '.join(diffs)}")
            if not allow_frontend_mismatch:
                raise DataError(f"{text} (pass --allow-frontend-mismatch to run anyway)")
            warnings.append(text)
    if not check_classes:
        return warnings
    classes, data_classes = meta.get("classes"), getattr(data, "classes", None)
    if classes and data_classes and list(classes) != list(data_classes):
        first = next((i for i, (a, b) in enumerate(zip(classes, data_classes)) if a != b),
                     min(len(classes), len(data_classes)))
        model_word = classes[first] if first < len(classes) else "(none)"
        data_word = data_classes[first] if first < len(data_classes) else "(none)"
        text = (f"{model_name} and {data_spec} name their classes differently: label {first} is {model_word!r} "
                f"in the model, {data_word!r} in the data")
        if not allow_other_data:
            raise DataError(f"{text} (pass --allow-other-data to run anyway)")
        warnings.append(text)
    trained_on = meta.get("data")
    if isinstance(trained_on, str) and not allow_other_data and data_identity(trained_on) != data_identity(data_spec):
        warnings.append(f"{model_name} was trained on {trained_on.partition('?')[0]}, not on "
                        f"{str(data_spec).partition('?')[0]}: another data set (pass --allow-other-data if intended)")
    return warnings


__all__ = ["check_model_data", "data_identity", "frontend_differences"]
