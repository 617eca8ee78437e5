"""Bad input gets one clear line naming the problem (exit status 2 on the CLI), never a traceback or a silently
wrong number. Each case here fails if its check is removed (the error would come from deep inside torch/numpy,
or not at all)."""

import copy
import subprocess
import sys
from importlib import resources

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robust_snn.config import ConfigError, load_toml
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.data import DataError, load_dataset
from robust_snn.devices import build_profile
from robust_snn.io.model_file import save_model
from robust_snn.io.tensors import load_tensors, save_tensors


def cli(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "robust_snn", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    return proc


def refused(proc, message):
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def model_file(path, **config):
    save_model(path, SNNClassifier(NetworkConfig(**{"n_in": 16, "hidden": (8,), "n_classes": 8, **config})))
    return path


def test_a_model_for_other_data_is_named_before_it_runs(tmp_path):
    model_file(tmp_path / "m5.rsnn", n_in=5)
    refused(cli(tmp_path, "evaluate", "m5.rsnn", "--data", "synth-kws", "--device", "dynapse2", "--chips", "2"),
            "m5.rsnn takes 5 input channels but synth-kws gives 16")
    model_file(tmp_path / "m3.rsnn", n_classes=3)
    refused(cli(tmp_path, "attack", "m3.rsnn", "--data", "synth-kws"), "m3.rsnn has 3 outputs but synth-kws has 8")


def test_non_finite_parameters_in_a_model_file_are_named(tmp_path):
    path = model_file(tmp_path / "m.rsnn")
    tensors, meta = load_tensors(path)
    tensors["layers.0.bias"][2] = float("nan")
    save_tensors(path, tensors, meta)
    refused(cli(tmp_path, "attack", "m.rsnn", "--data", "synth-kws"), "non-finite values (NaN or inf) in layers.0.bias")


def test_a_model_that_does_not_fit_the_device_is_not_bundled_for_it(tmp_path):
    model_file(tmp_path / "big.rsnn", hidden=(100,))
    refused(cli(tmp_path, "export", "big.rsnn", "--format", "bundle", "--device", "dynapse2", "--out", "b.rsnn"),
            "big.rsnn does not fit dynapse2: fan_in: 100 > 64")
    assert not (tmp_path / "b.rsnn").exists()


@pytest.mark.parametrize("args, message", [
    (["attack", "m.rsnn", "--data", "synth-kws", "--eps", "-0.1"], "attack.eps must be a relative size in [0, 1)"),
    (["attack", "m.rsnn", "--data", "synth-kws", "--eps", "1.5"], "attack.eps must be a relative size in [0, 1)"),
    (["evaluate", "m.rsnn", "--data", "synth-kws", "--device", "dynapse2", "--chips", "0"], "n_chips must be >= 1"),
    (["evaluate", "m.rsnn", "--data", "synth-kws", "--device", "dynapse2", "--spec", "1.2"],
     "spec must be an accuracy in [0, 1]"),
    (["evaluate", "m.rsnn", "--data", "synth-kws", "--device", "neverchip"], "unknown device profile 'neverchip'"),
    (["evaluate", "m.rsnn", "--data", "synth-kws", "--device", "neg.toml"], "synapse must be"),
    (["evaluate", "m.rsnn", "--data", "kws", "--device", "dynapse2"], "unknown data spec 'kws'"),
    (["evaluate", "nothere.rsnn", "--data", "synth-kws", "--device", "dynapse2"], "file not found: nothere.rsnn"),
])
def test_out_of_range_and_unknown_values_exit_2_naming_them(tmp_path, args, message):
    model_file(tmp_path / "m.rsnn")
    (tmp_path / "neg.toml").write_text(
        'name = "neg"\nfamily = "gaussian"\ndescription = "d"\nsource = "s"\n'
        '[[stages]]\nkind = "relative_gaussian"\nsource = "s"\n[stages.spread.weights]\nsynapse = -0.05\n')
    refused(cli(tmp_path, *args), message)


def test_integer_or_misshaped_input_is_named_by_the_model():
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3))
    with pytest.raises(ValueError, match="floating-point input tensor.*torch.int64"):
        model(torch.ones(2, 5, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"shape \(batch, time, 4\), got \(5, 4\)"):
        model(torch.ones(5, 4))


def test_corrupt_and_empty_data_files_are_named(tmp_path):
    from test_data_speech_commands import make_folder

    folder = make_folder(tmp_path / "sc")
    clip = folder / "yes" / "dd_nohash_0.wav"
    clip.write_bytes(b"this is not a wav file")
    with pytest.raises(DataError, match=r"dd_nohash_0.wav is not a PCM WAV file"):  # named when the folder is read
        data = load_dataset(f"speech-commands:{folder}?classes=yes,no", "test")
        [data[i] for i in range(len(data))]

    shd = tmp_path / "shd"
    shd.mkdir()
    for split in ("train", "test"):
        (shd / f"shd_{split}.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(DataError, match="shd_test.h5 is not a readable HDF5 file"):
        load_dataset(f"shd:{shd}", "test")

    from robust_snn.core.evaluation import evaluate

    with pytest.raises(DataError, match="the data set is empty"):
        evaluate(SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3)),
                 torch.utils.data.TensorDataset(torch.zeros(0, 5, 4), torch.zeros(0, dtype=torch.int64)))


def _builtin(name):
    with resources.as_file(resources.files("robust_snn.devices").joinpath("profiles", f"{name}.toml")) as path:
        return load_toml(path)


toml_values = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                        st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers()))


def _paths(node, prefix=()):
    """Every (path to a value) in a nested TOML document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_profile_parser_accepts_or_names_the_field_for_any_mutation(data):
    """Replace, delete or add any field of a built-in profile: a valid profile or a ConfigError naming where
    (the key added, or the innermost key on the path to the value changed; as written or escaped as Python
    writes it), never another exception (a TypeError deep in a stage would be a traceback for the user)."""
    name = data.draw(st.sampled_from(["pcm", "dynapse2", "rram", "xylo-audio2", "gaussian-20"]))
    doc = copy.deepcopy(_builtin(name))
    path = data.draw(st.sampled_from(list(_paths(doc))))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    value = data.draw(toml_values)
    # Where the change is: the key added, else the innermost table key on the path to the changed value.
    where = [key for key in path if isinstance(key, str)][-1]
    if action == "replace" or (action == "delete" and isinstance(parent, list)):
        parent[path[-1]] = value
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        where = data.draw(st.text(min_size=1, max_size=6))
        parent[where] = value
    try:
        build_profile(doc)
    except ConfigError as exc:
        message = str(exc)
        assert where in message or repr(where)[1:-1] in message, f"{action} at {path}: {message}"


def test_a_missing_optional_extra_exits_2_with_its_install_command(tmp_path, monkeypatch, capsys):
    import robust_snn.export.nir as nir_export
    from robust_snn.cli import main

    def no_nir():
        raise ImportError("NIR export needs the 'nir' extra: pip install 'robust-snn[nir]'")

    monkeypatch.setattr(nir_export, "_nir", no_nir)
    model_file(tmp_path / "m.rsnn")
    assert main(["export", str(tmp_path / "m.rsnn"), "--format", "nir", "--out", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'robust-snn[nir]'" in err and len(err.strip().splitlines()) == 1
