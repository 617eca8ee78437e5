"""Parameter families and the physical view of a model's parameters.

Every later stage (attacks, device mismatch, quantisation, export) treats a parameter by its *family*:
weights are programmed into synapses, time constants and thresholds come from bias circuits, and each has its
own mismatch on silicon. The vocabulary is Rockpool's, with one spelling per family:

``weights``, ``biases``, ``taus``, ``thresholds``, ``decays`` (decay factors such as snntorch's ``beta``),
``adaptation`` (spike-frequency adaptation strength) and ``other``.

Positive quantities (time constants, thresholds) are kept positive *by construction*: the module stores
``log_tau_mem`` as its leaf and exposes ``tau_mem = exp(log_tau_mem)`` through a :class:`PositiveParameter`
descriptor, so no optimiser step can make a time constant negative. Everything outside the optimiser sees the
*physical view* (:func:`physical_parameters`): tensors in physical units (seconds, not logarithms) keyed by
plain names such as ``layers.0.tau_mem``. :func:`functional_forward` evaluates any module on such a dict
(optionally with a leading chip axis under ``torch.func.vmap``), so attacks and mismatch models perturb
seconds on any module, ours or Rockpool's or snntorch's, without mutating it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

FAMILIES: tuple[str, ...] = ("weights", "biases", "taus", "thresholds", "decays", "adaptation", "other")

_LOG_PREFIX = "log_"


class PositiveParameter:
    """Descriptor: ``module.<name>`` reads ``exp(module.log_<name>)``; the leaf is the logarithm.

    Declared on the class, with a docstring giving units and shape, e.g.
    ``tau_mem = PositiveParameter("membrane time constant (s), (n_out,)")``.
    """

    def __init__(self, doc: str = "") -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.raw = name, _LOG_PREFIX + name

    def __get__(self, obj: nn.Module | None, owner: type | None = None):  # noqa: ANN204
        if obj is None:
            return self
        return torch.exp(getattr(obj, self.raw))

    def __set__(self, obj: nn.Module, value: torch.Tensor) -> None:
        value = torch.as_tensor(value, dtype=torch.float32)
        if not torch.isfinite(value).all() or (value <= 0).any():
            raise ValueError(f"{self.name} must be finite and > 0 everywhere, got min {float(value.min())!r}")
        raw = getattr(obj, self.raw, None)
        if isinstance(raw, nn.Parameter):
            with torch.no_grad():
                raw.copy_(torch.log(value).expand_as(raw))
        else:
            setattr(obj, self.raw, nn.Parameter(torch.log(value)))


def _positive_names(module: nn.Module) -> set[str]:
    return {n for cls in type(module).__mro__ for n, v in vars(cls).items() if isinstance(v, PositiveParameter)}


def _split(name: str) -> tuple[str, str]:
    prefix, _, attr = name.rpartition(".")
    return (prefix + "." if prefix else ""), attr


def _module_at(model: nn.Module, prefix: str) -> nn.Module:
    return model.get_submodule(prefix.rstrip(".")) if prefix else model


def physical_name(model: nn.Module, name: str) -> str:
    """Stored leaf name -> physical name: ``a.log_tau`` -> ``a.tau`` where ``tau`` is a positive parameter."""
    prefix, attr = _split(name)
    if attr.startswith(_LOG_PREFIX) and attr[len(_LOG_PREFIX):] in _positive_names(_module_at(model, prefix)):
        return prefix + attr[len(_LOG_PREFIX):]
    return name


def physical_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """All parameters in physical units, keyed by physical names, differentiable w.r.t. the leaves.

    Frozen parameters are included: device mismatch perturbs them too.
    """
    out: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        plain = physical_name(model, name)
        out[plain] = param if plain == name else torch.exp(param)
    return out


def stored_parameters(model: nn.Module, physical: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`physical_parameters` for the given dict (``log`` where the leaf is a logarithm)."""
    leaf_of = {physical_name(model, name): name for name, _ in model.named_parameters()}
    out: dict[str, torch.Tensor] = {}
    for plain, value in physical.items():
        if plain not in leaf_of:
            raise KeyError(f"model has no parameter named {plain!r}")
        leaf = leaf_of[plain]
        out[leaf] = value if leaf == plain else torch.log(value)
    return out


def functional_forward(model: nn.Module, physical: dict[str, torch.Tensor], *args, **kwargs):  # noqa: ANN002
    """``model(*args)`` evaluated with the physical parameter dict ``physical`` (vmap- and grad-safe)."""
    return torch.func.functional_call(model, stored_parameters(model, physical), args, kwargs)


def trainable_mask(model: nn.Module) -> dict[str, bool]:
    """Which physical parameters the optimiser updates (``requires_grad`` of the stored leaf)."""
    return {physical_name(model, name): p.requires_grad for name, p in model.named_parameters()}


def _infer_family(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1].lower()
    if "thresh" in leaf or leaf in {"vth", "v_th"}:
        return "thresholds"
    if "tau" in leaf:
        return "taus"
    if "bias" in leaf:
        return "biases"
    if leaf in {"alpha", "beta", "decay", "decays", "dash_mem", "dash_syn"}:
        return "decays"
    if "adapt" in leaf:
        return "adaptation"
    if "weight" in leaf or leaf.startswith("w_") or leaf == "w":
        return "weights"
    return "other"


def parameter_families(model: nn.Module) -> dict[str, str]:
    """Family of every physical parameter name.

    Modules may declare ``param_families: dict[str, str]`` (attribute name -> family), as ours do; for any
    other module (Rockpool, snntorch, plain torch) the family is inferred from the attribute name
    (``weight``/``w_rec`` -> weights, ``bias`` -> biases, ``tau_*`` -> taus, ``threshold`` -> thresholds,
    ``alpha``/``beta`` -> decays), falling back to ``other``.
    """
    families: dict[str, str] = {}
    for name, _ in model.named_parameters():
        plain = physical_name(model, name)
        prefix, attr = _split(plain)
        module = _module_at(model, prefix)
        declared = getattr(module, "param_families", None)
        family = declared.get(attr) if isinstance(declared, dict) else None
        families[plain] = family or _infer_family(plain)
    return families


def names_in_families(model: nn.Module, families: tuple[str, ...]) -> list[str]:
    """Physical parameter names of ``model`` whose family is in ``families`` (``ConfigError`` when none is)."""
    names = [n for n, f in parameter_families(model).items() if f in families]
    if not names:
        raise ConfigError(f"the model has no parameters in the families {list(families)}")
    return names
