"""run_tasks without Ray: the local backend's contract, and the errors a user gets when Ray cannot be used."""

from __future__ import annotations

import sys

import pytest

from robust_snn.config import ConfigError
from robust_snn.distributed import BackendError, run_tasks


def square(x: int) -> int:
    return x * x


def offset(x: int, shared: dict) -> int:
    return x + shared["offset"]


def test_local_backend_returns_results_in_item_order() -> None:
    assert run_tasks(square, [3, 1, 2]) == [9, 1, 4]


def test_on_result_sees_every_index_once_with_its_result() -> None:
    seen: list[tuple[int, int]] = []
    run_tasks(square, [5, 6, 7], on_result=lambda i, r: seen.append((i, r)))
    assert sorted(seen) == [(0, 25), (1, 36), (2, 49)]


def test_shared_payload_is_passed_as_second_argument() -> None:
    assert run_tasks(offset, [1, 2], shared={"offset": 10}) == [11, 12]


def test_exceptions_of_the_task_propagate_unchanged() -> None:
    with pytest.raises(ZeroDivisionError):
        run_tasks(lambda x: 1 // x, [1, 0])


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="backend must be one of local, ray"):
        run_tasks(square, [1], backend="dask")


def test_address_without_ray_backend_is_refused() -> None:
    with pytest.raises(BackendError, match="needs the ray backend"):
        run_tasks(square, [1], address="10.0.0.1:6379")


def test_missing_ray_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(BackendError, match=r'pip install "robust-snn\[ray\]"'):
        run_tasks(square, [1], backend="ray")


def test_an_unreachable_cluster_address_fails_fast_with_a_clear_error() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is already connected to Ray")
    with pytest.raises(BackendError, match="cannot reach the Ray cluster at '127.0.0.1:1'"):
        run_tasks(square, [1], backend="ray", address="127.0.0.1:1")


def test_a_malformed_cluster_address_is_named() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is already connected to Ray")
    with pytest.raises(BackendError, match="must be HOST:PORT"):
        run_tasks(square, [1], backend="ray", address="head-node")
