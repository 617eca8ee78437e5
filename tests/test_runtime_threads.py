"""The thread policy: one intra-op thread unless asked; ``--threads`` on every computing command, from the
command line or ``--config``; the API's :func:`set_threads` / :func:`use_threads`; Ray workers follow the
caller; and results do not depend on the thread count beyond float rounding."""

from __future__ import annotations

import sys

import pytest
import torch

from robust_snn import set_threads, use_threads
from robust_snn.cli import ACCELERATED_COMMANDS, COMPUTING_COMMANDS, build_parser, main
from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import evaluate_ensemble
from robust_snn.distributed.backend import _call
from robust_snn.runtime.threads import DEFAULT_THREADS
from robust_snn.training import TrainConfig, fit, make_method

from conftest import make_pattern_data


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train(threads: int) -> tuple[list[dict], dict[str, torch.Tensor]]:
    train, val = make_pattern_data(64, seed=0), make_pattern_data(32, seed=1)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(48,), n_classes=3, recurrent=True, seed=2))
    with use_threads(threads):
        result = fit(model, train, val, make_method("standard"), TrainConfig(epochs=2, batch_size=32),
                     progress=False)
    return result.history, {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_gives_the_same_results_on_one_and_two_threads():
    history_1, state_1 = _train(1)
    history_2, state_2 = _train(2)
    for row_1, row_2 in zip(history_1, history_2, strict=True):
        assert row_1.keys() == row_2.keys()
        for key in row_1:
            assert row_1[key] == pytest.approx(row_2[key], rel=1e-5, abs=1e-6), key
    for name, value in state_1.items():
        torch.testing.assert_close(state_2[name], value, rtol=1e-5, atol=1e-6)


def test_ensemble_accuracies_are_the_same_on_one_and_two_threads():
    data = make_pattern_data(64, seed=3, time=40)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(48,), n_classes=3, recurrent=True, seed=4)).eval()
    results = []
    for threads in (1, 2):
        with use_threads(threads):
            results.append(evaluate_ensemble(model, "gaussian-10", data, n_chips=16, chunk_size=8,
                                             progress=False))
    one, two = results
    assert one.nominal_accuracy == two.nominal_accuracy
    # Chip accuracies are counts of right answers: a last-bit difference could flip one sample on one chip.
    assert max(abs(a - b) for a, b in zip(one.per_chip_accuracy, two.per_chip_accuracy)) <= 1 / 64


def test_set_threads_applies_the_default_and_use_threads_restores():
    torch.set_num_threads(2)
    assert set_threads() == DEFAULT_THREADS == torch.get_num_threads() == 1
    with use_threads(2) as n:
        assert n == 2 == torch.get_num_threads()
    assert torch.get_num_threads() == 1
    with pytest.raises(ConfigError, match="threads must be a whole number"):
        set_threads(0)


def test_every_computing_command_takes_threads_and_the_accelerated_ones_take_accelerator():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    for name in COMPUTING_COMMANDS:
        if name not in sub:  # a command another change adds later (tune) is checked when it exists
            continue
        options = {s for a in sub[name]._actions for s in a.option_strings}  # noqa: SLF001
        assert "--threads" in options, name
        assert ("--accelerator" in options) == (name in ACCELERATED_COMMANDS), name
    assert set(ACCELERATED_COMMANDS) == {"train", "evaluate", "attack", "export", "demo"}


def test_the_cli_applies_the_policy_before_the_command_runs(tmp_path, capsys):
    missing = str(tmp_path / "missing.rsnn")
    torch.set_num_threads(2)
    assert main(["attack", missing, "--data", "synth-kws"]) == 2  # the model file is missing: exit 2 ...
    assert torch.get_num_threads() == DEFAULT_THREADS  # ... after the policy was applied
    assert main(["attack", missing, "--data", "synth-kws", "--threads", "2"]) == 2
    assert torch.get_num_threads() == 2
    config = tmp_path / "run.toml"
    config.write_text("[attack]\nthreads = 3\n")
    assert main(["attack", missing, "--data", "synth-kws", "--config", str(config)]) == 2
    assert torch.get_num_threads() == 3
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads must be a whole number of threads"),
    (["--config", "{config}"], "threads must be an integer"),
])
def test_a_bad_thread_count_exits_2_with_one_line(tmp_path, capsys, argv, message):
    config = tmp_path / "bad.toml"
    config.write_text('[attack]\nthreads = "many"\n')
    argv = [a.replace("{config}", str(config)) for a in argv]
    assert main(["attack", str(tmp_path / "m.rsnn"), "--data", "synth-kws", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _worker_threads(_: int) -> int:
    return torch.get_num_threads()


def test_a_task_runs_on_the_callers_thread_count():
    """What a Ray worker runs first (``_call`` with the driver's count): the worker follows the caller."""
    torch.set_num_threads(1)
    assert _call(_worker_threads, 0, None, False, 2) == 2


def test_ray_workers_follow_the_callers_thread_count():
    ray = pytest.importorskip("ray")
    from robust_snn.distributed import run_tasks

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for threads in (2, 1):  # Ray starts workers with OMP_NUM_THREADS=1: 2 shows the caller's count won
            torch.set_num_threads(threads)
            assert run_tasks(_worker_threads, [0, 1], backend="ray") == [threads, threads]
    finally:
        if started:
            ray.shutdown()


def test_large_work_takes_the_free_cores_only_under_the_policy(monkeypatch):
    from robust_snn.runtime import threads

    monkeypatch.setattr(threads, "cores", lambda: 4)
    busy = {"other": 0}
    monkeypatch.setattr(threads, "other_runnable", lambda: busy["other"])
    set_threads()  # the policy: one thread, widened for large work
    with threads.LargeWork() as wide:
        assert wide.update() == threads.LARGE_WORK_MAX_THREADS == 2  # 4 free cores, capped at the measured 2
        busy["other"] = 3  # three other processes want the CPU: back to one thread for the next chunk
        assert wide.update() == 1
    assert torch.get_num_threads() == 1
    busy["other"] = 0
    assert threads.LargeWork(large=False).update() == 1  # work that is not large stays on one thread
    set_threads(1)  # a count the user chose is never changed
    assert threads.LargeWork().update() == 1
    with use_threads(3):
        assert threads.LargeWork().update() == 3


def test_the_ensemble_widens_under_the_policy_and_gives_the_same_accuracies(monkeypatch):
    from robust_snn.runtime import threads

    seen = []
    real_update = threads.LargeWork.update
    monkeypatch.setattr(threads, "other_runnable", lambda: 0)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads.LargeWork, "update", lambda self: seen.append(real_update(self)) or seen[-1])
    data = make_pattern_data(48, seed=5, time=30)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, recurrent=True, seed=6)).eval()
    set_threads(1)
    pinned = evaluate_ensemble(model, "gaussian-20", data, n_chips=8, chunk_size=4, progress=False)
    set_threads()
    widened = evaluate_ensemble(model, "gaussian-20", data, n_chips=8, chunk_size=4, progress=False)
    assert seen == [1, 1, 2, 2] and torch.get_num_threads() == 1
    assert widened == pinned


def test_other_processes_running_are_seen():
    import subprocess
    import time

    from robust_snn.runtime.threads import other_runnable

    if other_runnable() is None:
        pytest.skip("no /proc/loadavg here")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert max(other_runnable() for _ in range(50)) >= 1
    finally:
        spinner.kill()
        spinner.wait()
