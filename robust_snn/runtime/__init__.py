"""Where and how torch computes: the thread policy (:mod:`.threads`), the memory policy (:mod:`.memory`) and the
accelerator (:mod:`.accelerator`)."""

from .accelerator import ACCELERATORS, AcceleratorError, module_device, place, resolve_accelerator
from .memory import retain_freed_memory
from .threads import DEFAULT_THREADS, check_threads, get_threads, set_threads, use_threads

__all__ = ["ACCELERATORS", "AcceleratorError", "DEFAULT_THREADS", "check_threads", "get_threads", "module_device",
           "place", "resolve_accelerator", "retain_freed_memory", "set_threads", "use_threads"]
