"""Scale-out: the same independent tasks in this process or on a Ray cluster, with identical results.

- :mod:`.backend`: :func:`run_tasks` -- apply a top-level function to items, locally or as Ray tasks,
  results in item order, progress and ``on_result`` callbacks as tasks finish, dead workers retried;
- :mod:`.ensemble`: :func:`~.ensemble.run_ensemble`, the one entry point of a chip ensemble (settings in
  :class:`~.ensemble.EnsembleSettings`), in this process or split into chip ranges, each range one task that
  rebuilds the model, profile and data from a small payload.

Ray is an optional extra (``pip install "robust-snn[ray]"``); nothing here imports it until the ``ray``
backend is asked for.
"""

from .backend import BACKENDS, INSTALL_HINT, BackendError, check_backend, connect, require_ray, run_tasks

__all__ = ["BACKENDS", "INSTALL_HINT", "BackendError", "check_backend", "connect", "require_ray", "run_tasks"]
