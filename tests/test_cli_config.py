"""Every command takes ``--config``, saves its effective configuration next to its outputs, and gives the same
bytes when run twice or re-run from that saved configuration (CLI.md: same seed, same inputs, same numbers)."""

import subprocess
import sys
from pathlib import Path

import pytest


def run(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "robust_snn", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    return proc


def ok(cwd, *args):
    proc = run(cwd, *args)
    assert proc.returncode == 0, f"{args}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny model trained from a config file, trained twice (the second time from the saved configuration)."""
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "run.toml").write_text(
        '[network]\nhidden = [8]\n\n[train]\ndata = "synth-kws"\nepochs = 1\nbatch_size = 256\nquiet = true\n\n'
        '[method]\nname = "noise"\n\n'
        '[evaluate]\ndata = "synth-kws"\ndevice = "dynapse2"\nchips = 3\nquiet = true\n\n'
        '[attack]\ndata = "synth-kws"\nsteps = 1\nrepeats = 1\neps = 0.05\n')
    ok(cwd, "train", "--config", "run.toml", "--out", "m.rsnn")
    return cwd


def test_train_reads_its_options_from_the_config_and_saves_a_config_that_repeats_the_run(work):
    saved = (work / "m.rsnn.config.toml").read_text()
    assert 'data = "synth-kws"' in saved and 'name = "noise"' in saved and "hidden = [\n    8,\n]" in saved
    ok(work, "train", "--config", "m.rsnn.config.toml", "--out", "again.rsnn")
    assert (work / "again.rsnn").read_bytes() == (work / "m.rsnn").read_bytes()


@pytest.mark.parametrize("command, output", [
    (["evaluate", "m.rsnn", "--json", "{o}", "--config", "run.toml"], "card.json"),
    (["attack", "m.rsnn", "--json", "{o}", "--config", "run.toml"], "attack.json"),
    (["export", "m.rsnn", "--format", "nir", "--out", "{o}"], "m.nir"),
    (["export", "m.rsnn", "--format", "xylo", "--out", "{o}"], "m.xylo.json"),
    (["export", "m.rsnn", "--format", "bundle", "--device", "xylo-audio2", "--data", "synth-kws", "--chips", "2",
      "--out", "{o}"], "m.bundle.rsnn"),
])
def test_each_command_gives_the_same_bytes_twice_and_from_its_saved_config(work, command, output):
    if "xylo" in command and subprocess.run([sys.executable, "-c", "import xylosim"]).returncode != 0:
        pytest.skip("xylosim (the xylo extra) is not installed")
    first, second, third = (f"1-{output}", f"2-{output}", f"3-{output}")
    ok(work, *[w.format(o=first) for w in command])
    ok(work, *[w.format(o=second) for w in command])
    assert (work / first).read_bytes() == (work / second).read_bytes()
    saved = work / f"{first}.config.toml"
    assert saved.exists(), f"no effective configuration next to {first}"
    ok(work, command[0], "--config", saved.name, "--json" if command[0] != "export" else "--out", third)
    assert (work / third).read_bytes() == (work / first).read_bytes()


def test_the_command_line_wins_over_the_config_file(work):
    ok(work, "evaluate", "m.rsnn", "--config", "run.toml", "--chips", "2", "--json", "two.json")
    assert "chips = 2\n" in (work / "two.json.config.toml").read_text()
    assert '"n_chips": 2' in (work / "two.json").read_text()


def test_a_report_folder_gets_the_configuration_inside(work):
    ok(work, "evaluate", "m.rsnn", "--config", "run.toml", "--report", "rep")
    assert "[evaluate]" in (work / "rep" / "config.toml").read_text()


@pytest.mark.parametrize("text, message", [
    ("[evaluate]\nchips = 'many'\n", "evaluate.chips must be an integer, got 'many'"),
    ("[evaluate]\nchipz = 3\n", "evaluate.chipz is not an option of `robust-snn evaluate`"),
    ("[evaluat]\nchips = 3\n", "unknown section [evaluat]"),
    ("[evaluate]\nsplit = 'dev'\n", "evaluate.split must be one of train, val, test, got 'dev'"),
    ("[evaluate]\nquiet = 1\n", "evaluate.quiet must be true or false"),
    ("evaluate = 3\n", "evaluate must be a [section]"),
    ("[evaluate\n", "is not valid TOML"),
])
def test_bad_config_files_exit_2_with_one_line_naming_the_key(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    proc = run(tmp_path, "evaluate", "m.rsnn", "--config", "bad.toml")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_missing_required_option_is_named_with_where_it_may_come_from(tmp_path):
    proc = run(tmp_path, "evaluate", "m.rsnn", "--device", "dynapse2")
    assert proc.returncode == 2
    assert "evaluate needs --data (on the command line or as `data = ...` in the [evaluate] section" in proc.stderr
    proc = run(tmp_path, "export", "--format", "nir", "--out", "x.nir")
    assert proc.returncode == 2 and "export needs MODEL" in proc.stderr


def test_the_saved_configuration_is_never_left_half_written(work):
    """Written through the atomic path: no temporary files are left beside the outputs."""
    assert not [p for p in Path(work).iterdir() if p.name.endswith(".tmp")]
