"""The Ray backend on a local 2-CPU cluster: same score card as one process, dead workers retried losslessly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from robust_snn.config import ConfigError
from robust_snn.devices import evaluate_ensemble, merge_counts
from robust_snn.distributed import run_tasks
from robust_snn.distributed.ensemble import EnsembleJob, chip_ranges, evaluate_chip_task
from robust_snn.distributed.payload import pack_model, pack_profile
from robust_snn.readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card
from test_distributed_ensemble import data, net  # noqa: F401 - the same tiny network and data as the local tests

ray = pytest.importorskip("ray")
# Workers cannot import this test module (tests/ is not on their path): ship its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module", autouse=True)
def cluster():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    if started:
        ray.shutdown()


def crash_first_attempt(chips: tuple[int, int, bool], shared: tuple[str, EnsembleJob]) -> object:
    """Chip range 2..3 kills its worker process the first time it runs (a marker file remembers)."""
    marker, job = shared
    if chips[0] == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return evaluate_chip_task(chips, job)


def refuse(item: int) -> int:
    raise ConfigError(f"bad item {item}")


def test_ray_score_card_json_is_identical_to_the_single_process_one(net, data):
    # rram has per-inference read noise, drawn per (seed, chip, batch): the hardest case to keep identical.
    kw = dict(n_chips=6, seed=5, chunk_size=2, batch_size=16)
    attack = AttackSettings(steps=2, repeats=1)
    local = score_card(Scored(net, data, "m"), "rram", EnsembleSettings(**kw), attack=attack)
    distributed = score_card(Scored(net, data, "m"), "rram", EnsembleSettings(backend="ray", **kw), attack=attack)
    assert local.to_json() == distributed.to_json()


def test_a_task_whose_worker_dies_is_retried_and_the_result_is_unchanged(net, data, tmp_path):
    marker = tmp_path / "crashed"
    job = EnsembleJob(pack_model(net), pack_profile("gaussian-20"), data, seed=1, chunk_size=2, batch_size=16)
    reported: list[int] = []
    parts = run_tasks(crash_first_attempt, chip_ranges(6, 2), backend="ray", shared=(str(marker), job),
                      max_retries=2, on_result=lambda i, _: reported.append(i))
    assert marker.exists()  # the worker really died once
    assert sorted(reported) == [0, 1, 2]  # every range reported exactly once, none lost
    expected = evaluate_ensemble(net, "gaussian-20", data, n_chips=6, seed=1, chunk_size=2, batch_size=16,
                                 progress=False)
    assert merge_counts("gaussian-20", 1, parts) == expected


def test_an_exception_raised_in_a_worker_arrives_as_itself(net):
    with pytest.raises(ConfigError) as raised:
        run_tasks(refuse, [7], backend="ray")
    assert type(raised.value) is ConfigError and str(raised.value) == "bad item 7"  # one line for the CLI
