"""Where and how torch computes: the thread policy (:mod:`.threads`) and the accelerator (:mod:`.accelerator`)."""

from .accelerator import ACCELERATORS, AcceleratorError, module_device, place, resolve_accelerator
from .threads import DEFAULT_THREADS, check_threads, get_threads, set_threads, use_threads

__all__ = ["ACCELERATORS", "AcceleratorError", "DEFAULT_THREADS", "check_threads", "get_threads", "module_device",
           "place", "resolve_accelerator", "set_threads", "use_threads"]
