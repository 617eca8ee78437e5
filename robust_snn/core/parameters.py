"""Parameter declarations, families and the physical view of a model's parameters.

Every later stage (attacks, device mismatch, quantisation, export) treats a parameter by its *family*:
weights are programmed into synapses, time constants and thresholds come from bias circuits, and each has its
own mismatch on silicon. The vocabulary is Rockpool's, with one spelling per family:

``weights``, ``biases``, ``taus``, ``thresholds``, ``decays`` (decay factors such as snntorch's ``beta``),
``adaptation`` (spike-frequency adaptation strength) and ``other``.

Our modules declare each parameter once, on the class, as a :class:`Parameter` (Rockpool's ``Parameter``
without the metaclass): family, symbolic shape, unit, constraint, how it is initialised and what it means.
Everything else is derived from that one declaration: the tensor itself (a constructor calls
:func:`initialise`, which takes the shape, the initial value and the constraint check from the declarations),
:func:`parameter_families`, the stored name of the leaf and the *physical view*. Positive quantities (time
constants, thresholds) are kept positive *by construction*: the module stores ``log_tau_mem`` as its leaf and
``module.tau_mem`` reads ``exp(log_tau_mem)``, so no optimiser step can make a time constant negative.
Everything outside the optimiser sees the physical view
(:func:`physical_parameters`): tensors in physical units (seconds, not logarithms) keyed by plain names such as
``layers.0.tau_mem``. :func:`functional_forward` evaluates any module on such a dict (optionally with a leading
chip axis under ``torch.func.vmap``), so attacks and mismatch models perturb seconds on any module, ours or
Rockpool's or snntorch's, without mutating it. Modules that declare nothing (Rockpool's, snntorch's, plain
torch) get their families from a ``param_families`` dict if they have one, else from their attribute names.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError

FAMILIES: tuple[str, ...] = ("weights", "biases", "taus", "thresholds", "decays", "adaptation", "other")

_LOG_PREFIX = "log_"


CONSTRAINTS: tuple[str, ...] = ("real", "positive", "zero_diagonal")

InitRule = Callable[[nn.Module, tuple[int, ...], "torch.Generator | None", dict[str, torch.Tensor]], torch.Tensor]
"""``rule(module, shape, generator, given) -> tensor of that shape``: Rockpool's ``init_func(shape)``, also
given the module (its sizes, ``dt``), the random generator and the parameters :func:`initialise` received as
constructor arguments (a weight scale that depends on the time constants reads them there). The rule's
docstring, first paragraph, says in words what it draws (:func:`describe_parameters`)."""


def zeros(module: nn.Module, shape: tuple[int, ...], generator: torch.Generator | None,
          given: dict[str, torch.Tensor]) -> torch.Tensor:
    """0"""
    return torch.zeros(shape)


class Parameter:
    """One parameter, declared on its module's class; ``module.<name>`` is its value in physical units.

    - ``family``: one of :data:`FAMILIES` (what attacks, device profiles and ``network.trainable`` select);
    - ``shape``: symbolic, each entry an ``int`` or the name of a module attribute, e.g. ``("n_out", "n_in")``
      (:func:`check_declared` resolves and checks it);
    - ``unit``: the physical unit of the value (``"s"`` for time constants);
    - ``constraint``: ``"real"`` (the leaf is the value, under the parameter's own name), ``"positive"`` (the
      leaf is ``log_<name>`` and the value ``exp`` of it, so it stays > 0 whatever the optimiser does; assigning
      a tensor stores its logarithm) or ``"zero_diagonal"`` (a square matrix whose diagonal the module's forward
      pass holds at zero);
    - ``init``: how :func:`initialise` creates it: an :data:`InitRule` (a random draw, :func:`zeros`), or
      ``None`` (the default) for the constructor's argument of the same name, broadcast to the shape (Rockpool:
      concrete data overrides ``init_func``); ``doc``: what it is;
    - ``only_if``: a boolean module attribute the parameter exists under (``"recurrent"``, ``"adaptive"``).

    Example (:class:`~robust_snn.core.lif.LIFLayer`; its constructor has ``tau_mem: float = DEFAULT_TAU_MEM``)::

        tau_mem = Parameter("taus", ("n_out",), "s", "membrane time constant", constraint="positive")
        bias = Parameter("biases", ("n_out",), "membrane units per step", "constant input current", init=zeros)
    """

    def __init__(self, family: str, shape: tuple[str | int, ...], unit: str, doc: str, *,
                 constraint: str = "real", init: InitRule | None = None, only_if: str | None = None) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown parameter family {family!r}; known: {', '.join(FAMILIES)}")
        if constraint not in CONSTRAINTS:
            raise ValueError(f"unknown parameter constraint {constraint!r}; known: {', '.join(CONSTRAINTS)}")
        if init is not None and not callable(init):
            raise ValueError(f"init must be an init rule (a callable) or None, got {init!r}")
        self.family, self.shape, self.unit, self.constraint = family, tuple(shape), unit, constraint
        self.init, self.only_if, self.doc = init, only_if, doc
        self.__doc__ = f"{doc} ({unit}), shape {self.shape}, family {family}" + (f"; {constraint}" if
                                                                                 constraint != "real" else "")
        self.name = self.stored = ""
        self.owner: type | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.owner = name, owner
        self.stored = _LOG_PREFIX + name if self.constraint == "positive" else name

    def shape_of(self, module: nn.Module) -> tuple[int, ...]:
        """The declared shape with every attribute name resolved on ``module``."""
        return tuple(d if isinstance(d, int) else int(getattr(module, d)) for d in self.shape)

    @property
    def init_doc(self) -> str:
        """How it is initialised, in words: the rule's docstring, or the constructor argument and its default."""
        if self.init is not None:
            return " ".join((self.init.__doc__ or self.init.__name__).strip().split("\n\n")[0].split())
        default = inspect.signature(self.owner.__init__).parameters[self.name].default if self.owner else None
        return f"the {self.name} argument" + ("" if default in (None, inspect.Parameter.empty)
                                              else f" (default {default})")

    def __repr__(self) -> str:
        return (f"Parameter({self.name!r}, family={self.family!r}, shape={self.shape}, unit={self.unit!r}, "
                f"constraint={self.constraint!r})")

    def __get__(self, obj: nn.Module | None, owner: type | None = None):  # noqa: ANN204
        if obj is None:
            return self
        if self.constraint == "positive":
            return torch.exp(getattr(obj, self.stored))
        # The leaf under the same name: nn.Module's own lookup (AttributeError while not yet registered).
        return nn.Module.__getattr__(obj, self.name)

    def __set__(self, obj: nn.Module, value: torch.Tensor) -> None:
        # Reached for values nn.Module.__setattr__ does not register itself (a plain tensor, a number).
        if self.constraint != "positive":
            obj.register_parameter(self.name, value if isinstance(value, nn.Parameter)
                                   else nn.Parameter(torch.as_tensor(value, dtype=torch.float32)))
            return
        value = torch.as_tensor(value, dtype=torch.float32)
        if not torch.isfinite(value).all() or (value <= 0).any():
            raise ValueError(f"{self.name} must be finite and > 0 everywhere, got min {float(value.min())!r}")
        raw = obj.__dict__["_parameters"].get(self.stored)
        if isinstance(raw, nn.Parameter):
            with torch.no_grad():
                raw.copy_(torch.log(value).expand_as(raw))
        else:
            obj.register_parameter(self.stored, nn.Parameter(torch.log(value)))


def declared(module: nn.Module | type) -> dict[str, Parameter]:
    """The :class:`Parameter` declarations of a module (or module class), by name, in declaration order."""
    return dict(_declared(module if isinstance(module, type) else type(module)))


@functools.lru_cache(maxsize=None)
def _declared(cls: type) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        out.update({n: v for n, v in vars(klass).items() if isinstance(v, Parameter)})
    return out


@functools.lru_cache(maxsize=None)
def _positive(cls: type) -> frozenset[str]:
    return frozenset(n for n, d in _declared(cls).items() if d.constraint == "positive")


def _positive_names(module: nn.Module) -> frozenset[str]:
    return _positive(type(module))


def initialise(module: nn.Module, generator: torch.Generator | None = None,
               **given: float | torch.Tensor) -> None:
    """Create the declared parameters of ``module`` (called by its constructor once its sizes are set).

    For each declaration present (``only_if`` holds), in declaration order: the shape from the declaration; the
    value from ``given[name]`` (a scalar broadcast to the shape) where the declaration has no init rule, else
    from ``init(module, shape, generator, given)``; then the constraint checked and the leaf registered
    (``log`` of a positive one). Random draws thus come in declaration order from the one ``generator``
    (``None``: torch's global generator). ``ValueError`` names a given value of the wrong shape, a positive
    parameter that is not, a zero-diagonal one that is not; ``TypeError`` a missing or unknown given name (the
    value of a parameter that is absent, its ``only_if`` false, is ignored).
    """
    decls = [d for d in declared(module).values() if d.only_if is None or getattr(module, d.only_if)]
    from_args = {d.name for d in decls if d.init is None}
    unknown = set(given) - {d.name for d in declared(module).values() if d.init is None}
    if unknown or from_args - set(given):
        raise TypeError(f"{type(module).__name__}: initialise needs the values of {sorted(from_args)}, "
                        f"got {sorted(given)}")
    values = {d.name: _broadcast(given[d.name], d.shape_of(module), d.name) for d in decls if d.init is None}
    for decl in decls:
        shape = decl.shape_of(module)
        value = values[decl.name] if decl.init is None else decl.init(module, shape, generator, values)
        if tuple(value.shape) != shape:
            raise ValueError(f"init rule of {decl.name} gave shape {tuple(value.shape)}, declared {shape}")
        if decl.constraint == "zero_diagonal" and value.diagonal().any():
            raise ValueError(f"{decl.name} must have a zero diagonal")
        setattr(module, decl.name, value)  # Parameter.__set__: registers the leaf (log for positive ones)


def _broadcast(value: float | torch.Tensor, shape: tuple[int, ...], name: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.dim() == 0:
        t = t.expand(shape).clone()
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must be a scalar or have shape {shape}, got {tuple(t.shape)}")
    return t


def check_declared(model: nn.Module) -> None:
    """``ValueError`` naming the first declared parameter of any submodule that is missing (where its
    ``only_if`` holds) or whose shape differs from its declaration."""
    for prefix, module in model.named_modules():
        for name, decl in declared(module).items():
            where = f"{prefix}.{name}" if prefix else name
            exists = decl.only_if is None or bool(getattr(module, decl.only_if))
            leaf = module._parameters.get(decl.stored)
            if exists != (leaf is not None):
                raise ValueError(f"parameter {where} is declared {'present' if exists else 'absent'} "
                                 f"({decl.only_if or 'always'}) but is {'missing' if exists else 'there'}")
            if leaf is None:
                continue
            shape = decl.shape_of(module)
            if tuple(leaf.shape) != shape:
                raise ValueError(f"parameter {where} has shape {tuple(leaf.shape)}, declared {decl.shape} = {shape}")


def describe_parameters(model: nn.Module) -> list[dict[str, object]]:
    """One row per physical parameter: ``name``, ``family``, ``shape``, ``unit``, ``constraint``, ``init``,
    ``doc`` (from its declaration; for an undeclared parameter the family as :func:`parameter_families` gives
    it and empty strings), in the order of the physical view."""
    families = parameter_families(model)
    rows = []
    for name, value in physical_parameters(model).items():
        prefix, attr = _split(name)
        decl = declared(_module_at(model, prefix)).get(attr)
        rows.append({"name": name, "family": families[name], "shape": tuple(value.shape),
                     "unit": decl.unit if decl else "", "constraint": decl.constraint if decl else "real",
                     "init": decl.init_doc if decl else "", "doc": decl.doc if decl else ""})
    return rows


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

    From the parameter's :class:`Parameter` declaration (ours); for any other module (Rockpool, snntorch, plain
    torch) from a ``param_families: dict[str, str]`` attribute (attribute name -> family) if it has one, else
    inferred from the attribute name (``weight``/``w_rec`` -> weights, ``bias`` -> biases, ``tau_*`` -> taus,
    ``threshold`` -> thresholds, ``alpha``/``beta`` -> decays), falling back to ``other``.
    """
    families: dict[str, str] = {}
    for name, _ in model.named_parameters():
        plain = physical_name(model, name)
        prefix, attr = _split(plain)
        module = _module_at(model, prefix)
        decl = _declared(type(module)).get(attr)
        legacy = getattr(module, "param_families", None)
        family = decl.family if decl is not None else (legacy.get(attr) if isinstance(legacy, dict) else None)
        families[plain] = family or _infer_family(plain)
    return families


def names_in_families(model: nn.Module, families: tuple[str, ...]) -> list[str]:
    """Physical parameter names of ``model`` whose family is in ``families`` (``ConfigError`` when none is)."""
    names = [n for n, f in parameter_families(model).items() if f in families]
    if not names:
        raise ConfigError(f"the model has no parameters in the families {list(families)}")
    return names
