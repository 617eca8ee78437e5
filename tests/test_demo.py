"""Smoke test of the main job (`robust-snn demo --quick`): every artefact is written and loads back."""

import json

import robust_snn
from robust_snn.demo import run_demo


def test_quick_demo_trains_scores_reports_exports_and_gives_the_same_bytes_twice(tmp_path):
    """Every artefact is written and loads back; and (CLI.md: same seed, same inputs, same numbers) a second run
    writes the same score cards, trained models and bundle, byte for byte. One test, so that the quick demo runs
    twice in all and not three times (it is the suite's longest piece of work)."""
    result = run_demo(tmp_path / "demo", quick=True, progress=False)
    devices = {c["device"] for c in result["cards"]}
    assert {"gaussian-20", "dynapse2", "rram"} <= devices
    assert {c["model"] for c in result["cards"]} == {"standard", "robust"}
    assert json.loads((tmp_path / "demo" / "scorecards.json").read_text()) == result["cards"]
    assert (tmp_path / "demo" / "report" / "dynapse2" / "accuracy_vs_mismatch.png").stat().st_size > 1000
    index = (tmp_path / "demo" / "report" / "README.md").read_text()
    for card in result["cards"]:  # the index summarises every profile; every profile gets the same analysis
        assert f"| {card['model']} | {card['device']} |" in index
        assert isinstance(card["diagnosis"], list) and isinstance(card["advice"], list)
        assert (card["advice"] == []) == (card["grade"] == "ready")
    for device in devices:
        for png in ("accuracy_vs_mismatch.png", "loss_landscape_2d.png", "sensitivity_robust.png"):
            assert (tmp_path / "demo" / "report" / device / png).stat().st_size > 1000, (device, png)
    bundle = robust_snn.load_model(tmp_path / "demo" / "robust.bundle.rsnn")
    assert bundle.config.n_classes == 8
    from robust_snn.export.nir import from_nir

    assert from_nir(tmp_path / "demo" / "robust.nir").config.hidden == bundle.config.hidden
    # The quick run shrinks budgets only: its robust model is trained with the full demo's method and settings.
    from robust_snn.demo import FULL
    from robust_snn.io.model_file import read_model
    from robust_snn.training import make_method

    shipped = json.loads(json.dumps(make_method(FULL.robust_method, FULL.robust_hyperparameters).describe()))
    assert read_model(tmp_path / "demo" / "robust.rsnn")[1]["method"] == shipped

    run_demo(tmp_path / "again", quick=True, progress=False)
    for output in ("scorecards.json", "standard.rsnn", "robust.rsnn", "robust.bundle.rsnn"):
        assert (tmp_path / "demo" / output).read_bytes() == (tmp_path / "again" / output).read_bytes(), output
