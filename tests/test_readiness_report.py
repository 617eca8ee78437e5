"""What the report and the terminal table say about score cards built by hand (no models: fast)."""

from robust_snn.readiness.advice import with_advice
from robust_snn.readiness.report import write_report
from robust_snn.readiness.table import advice_lines, legend

from test_readiness_advice import card


def test_the_legend_names_the_spec_rule_the_target_the_worst_case_and_why_nominal_differs_per_device():
    line = legend([card(), card(device="rram")])
    assert "\n" not in line
    assert "0.95 x each row's nominal" in line and "target 0.95" in line
    assert "worst case" in line and "after programming" in line


def test_the_terminal_shows_why_and_the_top_commands_of_a_not_ready_card_and_nothing_for_a_ready_one():
    lines = advice_lines([with_advice(card()), with_advice(card(model="ok.rsnn", grade="ready"))], limit=2)
    text = "\n".join(lines)
    assert "m.rsnn on dynapse2: not-ready" in text and "ok.rsnn" not in text
    assert "why: chip-to-chip spread too wide" in text
    assert "try 1. device-aware-training" in text and "try 3." not in text
    assert "robust-snn train --data synth-kws --device dynapse2 --method adversarial" in text
    assert "more in the JSON and the report" in text


def test_a_report_without_models_gives_the_table_the_advice_and_says_what_it_skipped(tmp_path):
    cards = [with_advice(card(cvar5_accuracy=0.6)), with_advice(card(model="b.rsnn", cvar5_accuracy=0.6))]
    text = write_report(tmp_path / "rep", cards).read_text()
    assert "| m.rsnn | dynapse2 |" in text and "| b.rsnn | dynapse2 |" in text
    assert "## Why not ready, and what to try" in text
    assert "`robust-snn train --data synth-kws --device dynapse2 --method adversarial" in text
    assert "## Not analysed here" in text and "Gaussian sweep" in text and "sensitivity" in text
    assert (tmp_path / "rep" / "per_chip_histogram.png").stat().st_size > 1000


def test_sensitivity_carried_by_the_cards_is_plotted_on_one_scale_for_every_model(tmp_path):
    rows_a = [{"group": "layers.0 weights", "family": "weights", "accuracy_drop": 0.08}]
    rows_b = [{"group": "layers.0 weights", "family": "weights", "accuracy_drop": 0.01}]
    cards = [with_advice(card(cvar5_accuracy=0.6, model="a", sensitivity=rows_a)),
             with_advice(card(cvar5_accuracy=0.6, model="b", sensitivity=rows_b))]
    text = write_report(tmp_path / "rep", cards).read_text()
    assert "## Sensitivity of a on dynapse2" in text and "## Sensitivity of b on dynapse2" in text
    assert "sensitivity" not in text.split("## Not analysed here")[-1]
    import json

    left, right = json.loads((tmp_path / "rep" / "analysis.json").read_text())["sensitivity_axis"]
    assert left <= 0 and right >= 0.08  # b's bars (0.01) are drawn on a's range (0.08): one scale
    for name in ("sensitivity_a.png", "sensitivity_b.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000
