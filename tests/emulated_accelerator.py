"""A second device on a CPU-only machine, to catch tensors the package creates on the CPU regardless.

Without a GPU, nothing fails when code writes ``torch.zeros(n)`` where ``torch.zeros(n, device=x.device)`` was
meant: every tensor is on the CPU anyway. This module emulates an accelerator with real numbers:

- the accelerator is torch's ``meta`` device, so module code sees ``tensor.device != cpu`` and every
  ``.to(device)``, ``device=`` and ``new_*`` path it would take on a GPU;
- :class:`OnAccelerator` tensors report ``device='meta'`` but carry a CPU tensor with the values, and
  :class:`EmulatedAccelerator` (a ``TorchDispatchMode``) runs every aten operation on those CPU values;
- it raises, like CUDA does, when an operation mixes accelerator tensors with CPU tensors of one or more
  dimensions (0-dim CPU tensors are allowed, as on CUDA), when a CPU generator draws a tensor on the
  accelerator, and when an accelerator tensor is turned into numpy without ``.cpu()``.

What it cannot catch: anything about CUDA itself (kernels missing or numerically different, nondeterministic
kernels, memory, streams, speed), and code that tests ``tensor.is_cuda`` or ``device.type == "cuda"``.
Results are computed by the CPU kernels, so they equal the CPU run's bit for bit, which the tests check.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

ACCELERATOR = torch.device("meta")
aten = torch.ops.aten

# Operations that legitimately take tensors on both devices (copies between devices, CPU index tensors).
_CROSS_DEVICE = {aten._to_copy.default, aten.copy_.default, aten.index.Tensor, aten.index_put_.default,
                 aten.index_put.default, aten._index_put_impl_.default}


class MixedDevices(RuntimeError):
    """An operation mixed accelerator and CPU tensors (what CUDA reports as 'Expected all tensors to be on the
    same device')."""


class OnAccelerator(torch.Tensor):
    """A tensor on the emulated accelerator: ``device`` is meta, ``value`` holds the numbers on the CPU."""

    value: torch.Tensor

    @staticmethod
    def __new__(cls, value: torch.Tensor) -> "OnAccelerator":
        out = torch.Tensor._make_wrapper_subclass(cls, value.size(), strides=value.stride(), dtype=value.dtype,
                                                  device=ACCELERATOR, requires_grad=value.requires_grad,
                                                  storage_offset=value.storage_offset())
        out.value = value
        return out

    def __repr__(self) -> str:  # noqa: D105
        return f"OnAccelerator({self.value!r})"

    def tolist(self) -> Any:  # CUDA tensors copy to the host for tolist(); torch refuses it for subclasses
        return self.value.tolist()

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        raise RuntimeError(f"{func} on an emulated accelerator tensor outside EmulatedAccelerator()")


def _to_cpu_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Replace ``device=meta`` by the CPU; say whether the output belongs on the accelerator."""
    device = kwargs.get("device")
    if device is not None and torch.device(device).type == "meta":
        return {**kwargs, "device": torch.device("cpu")}, True
    return kwargs, False


class EmulatedAccelerator(TorchDispatchMode):
    """Runs every operation on the CPU values of :class:`OnAccelerator` tensors (see module docstring)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        kwargs = dict(kwargs or {})
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        on_acc = [t for t in tensors if isinstance(t, OnAccelerator)]
        on_cpu = [t for t in tensors if not isinstance(t, OnAccelerator) and t.device.type == "cpu"]
        kwargs, to_acc = _to_cpu_kwargs(kwargs)
        if func in (aten._to_copy.default,) and not to_acc and "device" in kwargs:
            to_acc = False  # an explicit move elsewhere (.cpu()) leaves the accelerator
        elif on_acc and "device" not in kwargs:
            to_acc = True
        if func not in _CROSS_DEVICE and on_acc and any(t.dim() > 0 for t in on_cpu):
            shapes = [tuple(t.shape) for t in on_cpu if t.dim() > 0]
            raise MixedDevices(f"{func}: accelerator tensors mixed with CPU tensors of shapes {shapes}")
        generator = kwargs.get("generator")
        if to_acc and generator is not None and generator.device.type == "cpu" and func not in _CROSS_DEVICE:
            raise MixedDevices(f"{func}: a CPU generator cannot draw a tensor on the accelerator")
        unwrap = lambda t: t.value if isinstance(t, OnAccelerator) else t  # noqa: E731
        out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))
        if not to_acc:
            return out
        # An output that is an input's own values (in-place and out= operations) is that input.
        inputs = {id(t.value): t for t in on_acc}

        def wrap(t: Any) -> Any:
            if not isinstance(t, torch.Tensor):
                return t
            return inputs[id(t)] if id(t) in inputs else OnAccelerator(t)

        return tree_map(wrap, out)


@contextlib.contextmanager
def emulated_accelerator(monkeypatch: Any = None) -> Iterator[torch.device]:
    """Inside the block, ``meta`` tensors hold real numbers (see module docstring); yields the device."""
    with EmulatedAccelerator():
        yield ACCELERATOR


def values(t: torch.Tensor) -> torch.Tensor:
    """The CPU values of a tensor, whether on the emulated accelerator or not."""
    return t.value if isinstance(t, OnAccelerator) else t
