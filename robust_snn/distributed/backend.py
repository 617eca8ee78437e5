"""Run independent tasks in this process or on a Ray cluster, with the same results in the same order.

One narrow interface, :func:`run_tasks`, so that a chip ensemble and a method sweep distribute the same way:
a picklable, top-level ``fn`` is applied to each item (``fn(item)``, or ``fn(item, shared)`` when a
``shared`` payload is given), and the results come back in the order of ``items`` however the tasks were
scheduled. Determinism is the caller's job and is easy here: every task must compute its result from its
item alone (chip ``k`` from ``(seed, k)``, a training run from its own seed), never from which worker runs it
or when.

Backends:

- ``"local"``: sequentially, in this process; exceptions propagate unchanged.
- ``"ray"``: one Ray task per item, gathered with ``ray.wait`` as they finish. Joins the Ray instance this
  process is already connected to, else starts an embedded one (``ray.init()``) or joins the cluster at
  ``address`` (``ray.init(address=...)``). A task whose worker process dies (killed, out of memory, node lost)
  is resubmitted by Ray up to ``max_retries`` times; results that already arrived are kept and were already
  passed to ``on_result``, so a caller that checkpoints there loses nothing even when a task finally fails.
  An exception *raised* by ``fn`` is deterministic (bad data, bad configuration) and is not retried: it is
  re-raised here as the original exception, so a user error in a worker still exits 2 from the CLI.

``shared`` is put into Ray's object store once and every task reads it from there (on a cluster: once per
node), so a model state dict or a data set is not serialised again for each of hundreds of tasks.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from ..config import ConfigError

BACKENDS = ("local", "ray")
INSTALL_HINT = 'pip install "robust-snn[ray]"'


class BackendError(ConfigError):
    """The execution backend cannot be used (Ray missing, cluster unreachable); the message says what to do.

    A :class:`~robust_snn.config.ConfigError`, so the CLI reports it in one line with exit status 2.
    """


def require_ray() -> Any:
    """The ``ray`` module, or :class:`BackendError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise BackendError(f"the ray backend needs Ray, which is not installed; install it with: {INSTALL_HINT}"
                           ) from None
    return ray


def check_backend(backend: str, address: str | None = None) -> None:
    """Refuse, before any work is done, a backend that cannot run: unknown name, an address without Ray,
    Ray not installed (with the install hint)."""
    if backend not in BACKENDS:
        raise BackendError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise BackendError(f"an address ({address!r}) needs the ray backend")
    if backend == "ray":
        require_ray()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) address nothing answers on, within ``timeout_s``.

    Ray itself retries an unreachable head node for minutes, printing warnings; a user who mistyped the
    address should learn it in seconds. ``auto`` (the cluster of this node) is left to Ray.
    """
    import socket

    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address != "auto":
            raise BackendError(f"Ray address must be HOST:PORT, ray://HOST:PORT or auto, got {address!r}")
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BackendError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); is the head "
                           f"node running (`ray start --head`) and the port open?") from None


def _auth_hint(address: str | None) -> str:
    """Ray >= 2.59 clusters use token authentication, and a client given an explicit address only sends the
    token when told to: the usual reason a reachable head node refuses us."""
    if address in (None, "auto") or os.environ.get("RAY_AUTH_MODE"):
        return ""
    return ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token and give the cluster's token "
            "(~/.ray/auth_token or RAY_AUTH_TOKEN; `ray get-auth-token` on the head node prints it)")


def connect(address: str | None = None) -> Any:
    """Connect to Ray once per process and return the module.

    Already connected: that connection is used (and ``address`` is not checked against it). Otherwise
    ``address=None`` starts an embedded single-machine instance with all local CPUs; an address (``auto``,
    ``HOST:6379``, ``ray://HOST:10001``) joins that cluster. The instance stays up for later calls in this
    process (starting one costs seconds) and Ray shuts it down at exit.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address is not None:
        _check_reachable(address)
    # Quiet workers and no dashboard for an embedded instance; a Ray Client (ray://) connection forwards extra
    # arguments to the server's ray.init, so it gets none.
    options: dict[str, Any] = {} if address and address.startswith("ray://") else {
        "log_to_driver": False, "configure_logging": False}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"cannot connect to {where}: {first}{_auth_hint(address)}") from None
    return ray


def _progress(desc: str | None, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc or "tasks", unit="task", leave=False, dynamic_ncols=True,
                disable=desc is None)


def _call(fn: Callable[..., Any], item: Any, shared: Any, with_shared: bool, threads: int | None = None) -> Any:
    """One task. ``threads``: the caller's intra-op thread count, applied in a Ray worker first, so workers
    follow the thread policy of :mod:`robust_snn.runtime.threads` (parallelism across tasks, not inside)."""
    if threads is not None:
        from ..runtime.threads import set_threads

        set_threads(threads)
    return fn(item, shared) if with_shared else fn(item)


def _run_local(fn: Callable[..., Any], items: Sequence[Any], shared: Any, with_shared: bool,
               on_result: Callable[[int, Any], None] | None, bar: Any) -> list[Any]:
    results = []
    for index, item in enumerate(items):
        result = _call(fn, item, shared, with_shared)
        results.append(result)
        if on_result is not None:
            on_result(index, result)
        bar.update()
    return results


def _run_ray(fn: Callable[..., Any], items: Sequence[Any], shared: Any, with_shared: bool, address: str | None,
             max_retries: int, on_result: Callable[[int, Any], None] | None, bar: Any) -> list[Any]:
    ray = connect(address)
    remote = ray.remote(_call).options(max_retries=max_retries, retry_exceptions=False)
    shared_ref = ray.put(shared) if with_shared else None
    fn_ref = ray.put(fn)
    from ..runtime.threads import get_threads

    threads = get_threads()
    pending = {remote.remote(fn_ref, item, shared_ref, with_shared, threads): i for i, item in enumerate(items)}
    results: list[Any] = [None] * len(items)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    results[index] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise
                if on_result is not None:
                    on_result(index, results[index])
                bar.update()
    except BaseException:
        for ref in pending:  # do not leave orphaned tasks computing for nobody
            ray.cancel(ref, force=True)
        raise
    return results


def run_tasks(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    backend: str = "local",
    address: str | None = None,
    max_retries: int = 3,
    on_result: Callable[[int, Any], None] | None = None,
    desc: str | None = None,
    shared: Any = None,
) -> list[Any]:
    """``[fn(item) for item in items]`` on ``backend``, in the order of ``items``.

    ``fn`` must be a top-level function (workers import it by module and name) and ``items`` picklable.
    With ``shared`` given, ``fn(item, shared)`` is called instead and ``shared`` is shipped once.
    ``on_result(index, result)`` is called in this process as each task finishes (in completion order),
    e.g. to checkpoint finished work. ``desc`` shows a progress bar with that label (none when ``None``).
    ``address`` and ``max_retries`` (resubmissions after a worker dies) apply to the ``ray`` backend.
    """
    check_backend(backend, address)
    if max_retries < 0:
        raise ConfigError(f"max_retries must be >= 0, got {max_retries!r}")
    items = list(items)
    with_shared = shared is not None
    bar = _progress(desc, len(items))
    try:
        if backend == "local":
            return _run_local(fn, items, shared, with_shared, on_result, bar)
        return _run_ray(fn, items, shared, with_shared, address, max_retries, on_result, bar)
    finally:
        bar.close()


__all__ = ["BACKENDS", "BackendError", "INSTALL_HINT", "check_backend", "connect", "require_ray", "run_tasks"]
