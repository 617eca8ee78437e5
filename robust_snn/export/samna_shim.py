"""Import Rockpool's Xylo tools (mapper, quantisers, ``XyloSim``) without the vendor package ``samna``.

Why: ``import rockpool.devices.xylo`` imports ``samna`` at module level in several files (``xylo_samna.py``,
``xa2_devkit_utils.py``, ...), so the whole subpackage fails to import without it, although the parts we need
(the graph mapper, the quantisers and the C++ simulator ``xylosim``) never call it. ``samna`` is a
closed-source driver for the development kits; its PyPI releases are stubs that try to install from elsewhere
at import time, so this package never installs it, never depends on it and never imports an installed one.

How: :func:`samna_stub` puts an import hook on ``sys.meta_path`` that answers ``samna`` and every
``samna.<sub>`` with a stub module. Any attribute of a stub is a :class:`_Placeholder`, which can sit in
class bases, type hints and module-level assignments (all that the import needs) but raises
:class:`SamnaUnavailableError` when *called*, so hardware functionality fails with a message that names the
problem. On exit the hook and every stub module are removed from ``sys.modules`` again: the rest of the process
sees no ``samna``. Rockpool modules imported under the stub stay imported (with placeholders bound inside
them); that is the point. If a real ``samna`` is already imported, nothing is stubbed.

Use :func:`import_xylo` (cached) rather than the context manager directly.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator

_NAME = "samna"
_LOCK = threading.RLock()


class SamnaUnavailableError(ImportError):
    """A ``samna`` (Xylo hardware driver) function was called; it is not installed and never imported here."""


class _Placeholder:
    """Stands in for any ``samna`` object: importable and nameable, but calling it raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, item: str) -> "_Placeholder":
        if item.startswith("__"):
            raise AttributeError(item)
        return _Placeholder(f"{self._name}.{item}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise SamnaUnavailableError(
            f"{self._name}() needs the vendor package 'samna' (Xylo hardware driver), which robust-snn does not "
            "use; only the mapper, the quantisers and XyloSim are available here"
        )

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)  # `class X(samna.Foo):` defines a plain class

    def __getitem__(self, key: Any) -> "_Placeholder":
        return self  # `List[samna.Foo]` in type hints

    def __or__(self, other: Any) -> "_Placeholder":
        return self

    __ror__ = __or__

    def __repr__(self) -> str:
        return f"<samna placeholder {self._name}>"


class _StubModule(types.ModuleType):
    """A ``samna`` or ``samna.<sub>`` module whose every public attribute is a :class:`_Placeholder`."""

    def __getattr__(self, item: str) -> _Placeholder:
        if item.startswith("__"):
            raise AttributeError(item)
        return _Placeholder(f"{self.__name__}.{item}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of ``samna`` and ``samna.*`` with :class:`_StubModule` s (first on ``sys.meta_path``)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == _NAME or fullname.startswith(_NAME + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []  # a package, so `import samna.a.b` works
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _is_samna(name: str) -> bool:
    return name == _NAME or name.startswith(_NAME + ".")


@contextlib.contextmanager
def samna_stub() -> Iterator[None]:
    """Within the block, ``import samna[.x.y]`` gives stubs; afterwards ``sys.modules`` has no ``samna`` again.

    A real ``samna`` already in ``sys.modules`` is left alone and used. Thread-safe (one stub at a time).
    """
    with _LOCK:
        real = sys.modules.get(_NAME)
        if real is not None and not isinstance(real, _StubModule):
            yield
            return
        saved = {k: v for k, v in sys.modules.items() if _is_samna(k)}
        finder = _StubFinder()
        sys.meta_path.insert(0, finder)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)
            for name in [k for k in sys.modules if _is_samna(k)]:
                del sys.modules[name]
            sys.modules.update(saved)


@dataclass(frozen=True)
class XyloTools:
    """Rockpool's Xylo Audio 2 (SYNS61201) tools, imported under :func:`samna_stub`.

    ``xylo_sim`` is ``None`` when the optional C++ simulator ``xylosim`` is not installed (extra ``xylo``).
    ``config_from_specification`` is Rockpool's, but it builds a ``samna`` configuration object, so calling
    it raises an ``ImportError`` naming ``samna`` (Rockpool's own stand-in, or :class:`SamnaUnavailableError`);
    use ``XyloSim.from_specification`` instead.
    """

    mapper: Callable[..., dict]
    drc_error: type
    channel_quantize: Callable[..., dict]
    global_quantize: Callable[..., dict]
    config_from_specification: Callable[..., Any]
    xylo_sim: Any | None


_TOOLS: XyloTools | None = None


def import_xylo() -> XyloTools:
    """Import (once) and return Rockpool's Xylo Audio 2 mapper, quantisers and simulator, without ``samna``.

    Raises ``ImportError`` naming the missing piece when Rockpool's Xylo subpackage cannot be imported.
    """
    global _TOOLS
    with _LOCK:
        if _TOOLS is not None:
            return _TOOLS
        try:
            with samna_stub():
                from rockpool.devices.xylo.syns61201 import config_from_specification, mapper
                from rockpool.devices.xylo.syns61201.xylo_mapper import DRCError
                from rockpool.transform.quantize_methods import channel_quantize, global_quantize

                try:  # needs the optional C++ simulator `xylosim`
                    from rockpool.devices.xylo.syns61201.xylo_sim import XyloSim as xylo_sim
                except (ImportError, NameError):  # Rockpool 3.1's syns61300/__init__ raises NameError then
                    xylo_sim = None
        except ImportError as exc:
            raise ImportError(
                f"Rockpool's Xylo support (rockpool.devices.xylo.syns61201) could not be imported: {exc}"
            ) from exc
        _TOOLS = XyloTools(mapper, DRCError, channel_quantize, global_quantize, config_from_specification,
                           xylo_sim)
        return _TOOLS


__all__ = ["SamnaUnavailableError", "XyloTools", "import_xylo", "samna_stub"]
