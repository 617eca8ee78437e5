"""The classifier network: stacked :class:`LIFLayer` s and a readout, built from a frozen config.

``SNNClassifier(config)(x)`` maps ``(batch, time, n_in)`` to logits ``(batch, n_classes)``. The config is the
architecture's whole description: it is what model files store, so a file rebuilds its network without code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..config import ConfigError, build_dataclass
from .lif import (DEFAULT_ADAPT_STRENGTH, DEFAULT_DT, DEFAULT_TAU_ADAPT, DEFAULT_TAU_MEM, DEFAULT_TAU_SYN,
                  DEFAULT_THRESHOLD, LIFLayer)
from .parameters import FAMILIES, check_declared, parameter_families, physical_name
from .readout import LeakyReadout, SpikeMeanReadout
from .surrogates import SURROGATES, Surrogate

READOUTS = ("spike_mean", "leaky")


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of an :class:`SNNClassifier`. Times in seconds.

    ``trainable`` names the parameter families the optimiser updates; the others stay at their initial
    values (the paper trains weights and biases and keeps time constants and thresholds fixed).
    """

    n_in: int = 16
    hidden: tuple[int, ...] = (64,)
    n_classes: int = 10
    dt: float = DEFAULT_DT
    tau_mem: float = DEFAULT_TAU_MEM
    tau_syn: float = DEFAULT_TAU_SYN
    threshold: float = DEFAULT_THRESHOLD
    recurrent: bool = False
    adaptive: bool = False
    tau_adapt: float = DEFAULT_TAU_ADAPT
    adapt_strength: float = DEFAULT_ADAPT_STRENGTH
    readout: str = "spike_mean"
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float | None = None
    trainable: tuple[str, ...] = ("weights", "biases")
    init_gain: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_in", "n_classes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"network.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"network.hidden must be a non-empty list of sizes >= 1, got {list(self.hidden)!r}")
        for name in ("dt", "tau_mem", "tau_syn", "threshold", "tau_adapt", "adapt_strength", "init_gain"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"network.{name} must be a positive finite number, got {value!r}")
        if self.readout not in READOUTS:
            raise ConfigError(f"network.readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        if self.surrogate not in SURROGATES:
            raise ConfigError(f"network.surrogate must be one of {', '.join(SURROGATES)}, got {self.surrogate!r}")
        unknown = [f for f in self.trainable if f not in FAMILIES]
        if unknown:
            raise ConfigError(f"network.trainable has unknown families {unknown}; known: {', '.join(FAMILIES)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"], d["trainable"] = list(self.hidden), list(self.trainable)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "network") -> "NetworkConfig":
        return build_dataclass(cls, data, where)


class SNNClassifier(nn.Module):
    """Feed-forward (optionally recurrent, adaptive) CuBa-LIF classifier. ``(batch, time, n_in) -> logits``."""

    def __init__(self, config: NetworkConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        if config is None:
            config = NetworkConfig(**overrides)
        elif overrides:
            config = NetworkConfig(**{**config.to_dict(), **overrides})
        self.config = config
        gen = torch.Generator().manual_seed(config.seed)
        surrogate = Surrogate(config.surrogate, config.surrogate_scale)
        sizes = (config.n_in, *config.hidden)
        self.layers = nn.ModuleList(
            LIFLayer(
                n_in,
                n_out,
                dt=config.dt,
                tau_mem=config.tau_mem,
                tau_syn=config.tau_syn,
                threshold=config.threshold,
                recurrent=config.recurrent,
                adaptive=config.adaptive,
                tau_adapt=config.tau_adapt,
                adapt_strength=config.adapt_strength,
                surrogate=surrogate,
                init_gain=config.init_gain,
                generator=gen,
            )
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        if config.readout == "spike_mean":
            self.readout: nn.Module = SpikeMeanReadout(sizes[-1], config.n_classes, generator=gen)
        else:
            self.readout = LeakyReadout(
                sizes[-1], config.n_classes, dt=config.dt, tau_mem=config.tau_mem, tau_syn=config.tau_syn,
                generator=gen,
            )
        set_trainable(self, config.trainable)
        check_declared(self)  # every parameter as its layer declares it (family, shape, presence)

    def hidden_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spike trains of every hidden layer, each ``(batch, time, n_hidden)``."""
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.n_in:
            raise ValueError(
                f"expected input of shape (batch, time, {self.config.n_in}), got {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise ValueError(f"expected a floating-point input tensor (spikes or currents), got {x.dtype}; "
                             f"convert it with x.float()")
        for layer in self.layers:
            x = layer(x)
        return self.readout(x)


def set_trainable(model: nn.Module, families: tuple[str, ...] | list[str]) -> None:
    """Set ``requires_grad`` on every parameter leaf by its family (works on any module)."""
    fam = parameter_families(model)
    for name, param in model.named_parameters():
        param.requires_grad_(fam[physical_name(model, name)] in families)


__all__ = ["NetworkConfig", "SNNClassifier", "READOUTS", "compile_for_training", "compile_model", "set_trainable"]


def compile_model(model: nn.Module, *, unroll: bool = False, **kwargs: Any) -> Any:
    """Opt-in ``torch.compile`` of a model's forward (and, through AOTAutograd, its backward).

    Two ways to compile the LIF time loop, same results:

    - ``unroll=False`` (default): the layers keep the fused scan, which Dynamo sees as the custom ops
      ``robust_snn::lif_scan`` / ``lif_scan_backward`` (:mod:`robust_snn.core.lif_scan`): no graph break, and
      compilation that does not grow with the number of steps (seconds), but the loop inside the op runs as in
      eager mode (on the CPU the scan's C loops, on CUDA its Triton kernels), so the step is about as fast as
      eager; Inductor fuses what lies around the layers. For putting our layers inside a larger compiled
      program.
    - ``unroll=True``: the LIF layers switch to their op-by-op path (``use_scan = False``); Dynamo unrolls
      the time loop into the graph and Inductor fuses it, which removes the per-step Python and autograd
      overhead of the op-by-op path. Compilation takes longer the more time steps (25-150 s at T = 100).

    Measured (``benchmarks/bench_core.py``, T = 100, one thread; see benchmarks/README.md): since the scan runs
    as C loops the two are close and which is faster depends on the CPU: on an AVX2 AMD EPYC the scan op
    14.37 / 13.56 ms against 18.55 / 17.88 unrolled (two runs, 2026-12-01; eager 14.86 / 13.19), compiled in
    4 s against 37 s; on an AVX-512 Intel machine (2026-11-30) unrolled 5.99 against 6.32 for the scan op
    (eager 5.89). Hence the default: never much slower, and a compile time that does not grow with T.
    Compilation costs once per input shape, so it pays for long training runs, not for a quick evaluation.
    Needs a C++ compiler (Inductor's CPU backend).
    Returns the compiled callable, which shares the parameters with ``model`` (under other parameter names: to
    train with the package's methods and attacks, use :func:`compile_for_training` or ``fit(compile=True)``).
    """
    for module in model.modules():
        if isinstance(module, LIFLayer):
            module.use_scan = not unroll
    options = {"dynamic": False, **kwargs}
    return torch.compile(model, **options)


def compile_for_training(model: nn.Module, *, unroll: bool = False, **kwargs: Any) -> Callable[[], None]:
    """Compile ``model``'s forward *in place* for gradient steps; returns a function that undoes it.

    Why in place and not :func:`compile_model`: training methods and attacks evaluate the model at other
    parameter values with ``torch.func.functional_call`` (:func:`~robust_snn.core.parameters.functional_forward`),
    which needs the model's own parameter names (a ``torch.compile`` wrapper prefixes them). Here the instance's
    ``forward`` is replaced, so ``model(x)`` and ``functional_call(model, params, x)`` both run the compiled
    graph, and the state dict, names and hooks stay as they are.

    Only passes with autograd enabled take the compiled path (``unroll`` as in :func:`compile_model`: by default
    the LIF layers' fused scan as custom ops, with Inductor fusing what lies around them; ``unroll=True``
    unrolls the LIF loops and fuses forward and backward); ``torch.no_grad`` passes (validation, evaluation) keep the
    eager fused scan, which needs no compilation. So do passes while a submodule has a forward hook (the
    ``dropout`` method's masks): Dynamo does not guard on hooks, so a compiled graph would silently skip a hook
    added after it was compiled. Each new input shape or parameter type (an ``nn.Parameter``
    or a plain tensor, as in an attack) compiles once more; ``dynamic`` is left to ``torch.compile``, so a
    second batch size compiles a shape-generic graph instead of one graph per size. ``kwargs`` go to
    ``torch.compile``. Measured in ``benchmarks/bench_adversarial.py`` (adversarial step) and
    ``benchmarks/bench_core.py``.
    """
    if "forward" in vars(model):
        raise ValueError("the model's forward is already replaced (compiled twice?)")
    layers = [m for m in model.modules() if isinstance(m, LIFLayer)]
    submodules = list(model.modules())[1:]
    eager = model.forward
    compiled = torch.compile(eager, **kwargs)

    def forward(*args: Any, **kw: Any) -> Any:
        if not torch.is_grad_enabled() or any(m._forward_hooks or m._forward_pre_hooks for m in submodules):
            return eager(*args, **kw)
        if not unroll:
            return compiled(*args, **kw)
        before = [layer.use_scan for layer in layers]
        for layer in layers:
            layer.use_scan = False
        try:
            return compiled(*args, **kw)
        finally:
            for layer, value in zip(layers, before):
                layer.use_scan = value

    model.forward = forward  # type: ignore[method-assign]

    def undo() -> None:
        del model.forward

    return undo
