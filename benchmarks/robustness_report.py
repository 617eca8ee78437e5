"""Summaries of the robustness benchmark: per-method statistics over seeds, the Markdown tables and the plots.

Pure functions of the unit results (``benchmarks/robustness_unit.py``), so a finished run can be re-summarised
without recomputing anything. "mean +- std" in every table is over *training seeds* of each seed's figure (the
mean over chips, or the attacked accuracy): the spread that says whether a difference between methods is
real. The spread over chips (within one network) is reported separately, as the pooled chip std and the worst
chip, as the paper's min column.
"""

from __future__ import annotations

import io
import statistics
from pathlib import Path
from typing import Any, Sequence

from robust_snn.io.atomic import write_bytes_atomic


def _stats(values: Sequence[float]) -> dict[str, Any]:
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": values}


def summarise(units: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{method: {metric: {"mean", "std", "per_seed"}}}`` over the seeds of each method, in ``methods`` order."""
    out: dict[str, dict[str, Any]] = {}
    for method in methods:
        runs = [u for u in units if u["unit"]["method"] == method]
        if not runs:
            continue
        evals = [u["eval"] for u in runs]
        zetas = [m["zeta"] for m in evals[0]["mismatch"]]
        out[method] = {
            "seeds": [u["unit"]["seed"] for u in runs],
            "nominal_accuracy": _stats([e["nominal_accuracy"] for e in evals]),
            "best_val_accuracy": _stats([u["train"]["best_val_accuracy"] or 0.0 for u in runs]),
            "mismatch": [{"zeta": z, "accuracy": _stats([e["mismatch"][i]["mean"] for e in evals]),
                          "chip_std": statistics.fmean(e["mismatch"][i]["std"] for e in evals),
                          "min": min(e["mismatch"][i]["min"] for e in evals)}
                         for i, z in enumerate(zetas)],
            "attack": [{"eps": a["eps"],
                        "attacked_accuracy": _stats([e["attack"][i]["attacked_accuracy"] for e in evals]),
                        "random_accuracy": _stats([e["attack"][i]["random_accuracy"] for e in evals])}
                       for i, a in enumerate(evals[0]["attack"])],
            "landscape_slope": _stats([e["landscape"]["mean_slope"] for e in evals]),
            "devices": {p: {"mean_accuracy": _stats([e["devices"][p]["mean"] for e in evals]),
                            "p5_accuracy": _stats([e["devices"][p]["p5"] for e in evals]),
                            "min": min(e["devices"][p]["min"] for e in evals)}
                        for p in evals[0]["devices"]},
        }
    return out


def timing_summary(units: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Measured seconds per training epoch and per evaluation, by method, and the cost relative to standard.

    Kept apart from :func:`summarise` because it changes from run to run (and a resumed unit trains fewer
    epochs in the run that finishes it); seconds per epoch stay comparable either way. The fastest seed counts:
    the first unit of a process also pays one-off start-up costs, and load from elsewhere only adds time."""
    per_method: dict[str, Any] = {}
    for method in methods:
        runs = [u["timing"] for u in units if u["unit"]["method"] == method]
        epochs = [t["seconds_per_epoch"] for t in runs if t.get("seconds_per_epoch")]
        if not runs:
            continue
        per_method[method] = {"seconds_per_epoch": min(epochs) if epochs else None,
                              "eval_seconds": statistics.fmean(sum(t["eval_seconds"].values()) for t in runs)}
    base = (per_method.get("standard") or {}).get("seconds_per_epoch")
    for row in per_method.values():
        row["cost_vs_standard"] = row["seconds_per_epoch"] / base if base and row["seconds_per_epoch"] else None
    return per_method


def _pct(stats: dict[str, Any]) -> str:
    return f"{100 * stats['mean']:.1f} +- {100 * stats['std']:.1f}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def markdown(summary: dict[str, Any], timing: dict[str, Any], settings: dict[str, Any], command: str,
             plots: Sequence[str]) -> str:
    """The benchmark's Markdown report: the command, the settings and one table per test."""
    methods = list(summary)
    first = summary[methods[0]]
    zetas = [m["zeta"] for m in first["mismatch"]]
    eps = [a["eps"] for a in first["attack"]]
    profiles = list(first["devices"])
    # hyperparameters set by --hyper (the tables name methods only)
    hyper = "".join(f"{m} with {', '.join(f'{k} = {v}' for k, v in h.items())}; "
                    for m, h in settings.get("hyperparameters", {}).items())
    lines = [
        "# Robustness benchmark", "",
        f"Command: `{command}`", "",
        f"Data `{settings['data']}`, preset `{settings['preset']}`: {settings['architecture']}; "
        f"{settings['epochs']} epochs, best-validation checkpoint, seeds {settings['seeds']}; {hyper}"
        f"random mismatch: {settings['draws']} chips per zeta on weights and biases; attack: cross-entropy PGA, "
        f"{settings['attack_steps']} steps, min over {settings['attack_repeats']} starts; device profiles: "
        f"{settings['chips']} chips each. Accuracies in % on the test split ({settings['n_test']} samples); "
        "mean +- std over training seeds.", "",
        "## Random mismatch: theta (1 + zeta N(0,1)) on weights and biases", "",
    ]
    lines += _table(["method", *(f"zeta {z:g}" for z in zetas)],
                    [[m, *(_pct(row["accuracy"]) for row in summary[m]["mismatch"])] for m in methods])
    lines += ["Spread over chips (pooled std over chips / worst chip of all seeds):", ""]
    lines += _table(["method", *(f"zeta {z:g}" for z in zetas if z)],
                    [[m, *(f"{100 * row['chip_std']:.1f} / {100 * row['min']:.1f}"
                           for row in summary[m]["mismatch"] if row["zeta"])] for m in methods])
    lines += ["## Targeted attack: worst-case accuracy (cross-entropy attack, relative box eps)", ""]
    lines += _table(["method", *(f"eps {e:g}" for e in eps)],
                    [[m, *(_pct(row["attacked_accuracy"]) for row in summary[m]["attack"])] for m in methods])
    lines += ["Random corners of the same box, for comparison:", ""]
    lines += _table(["method", *(f"eps {e:g}" for e in eps)],
                    [[m, *(_pct(row["random_accuracy"]) for row in summary[m]["attack"])] for m in methods])
    lines += ["## Flatness (Table S1) and training cost", "",
              "Mean slope |dL/d alpha| of the test loss along relative directions v ~ N(0, (0.2|theta|)^2), "
              "alpha in [-2, 2] (lower is flatter). Cost: measured seconds per epoch relative to `standard` "
              "(this run, this machine; busy machines make it noisy).", ""]
    lines += _table(["method", "clean test", "best val", "slope", "cost vs standard"],
                    [[m, _pct(summary[m]["nominal_accuracy"]), _pct(summary[m]["best_val_accuracy"]),
                      f"{summary[m]['landscape_slope']['mean']:.4f} +- {summary[m]['landscape_slope']['std']:.4f}",
                      (f"{timing[m]['cost_vs_standard']:.2f}" if timing.get(m, {}).get("cost_vs_standard")
                       else "-")] for m in methods])
    lines += ["## Device profiles: mean chip accuracy (5th percentile)", "",
              "These profiles also vary time constants and thresholds, quantise and drift; see "
              "`robust-snn devices`.", ""]
    lines += _table(["method", *profiles],
                    [[m, *(f"{_pct(summary[m]['devices'][p]['mean_accuracy'])} "
                           f"({100 * summary[m]['devices'][p]['p5_accuracy']['mean']:.1f})" for p in profiles)]
                     for m in methods])
    if plots:
        lines += ["## Plots", "", *(f"![{Path(p).stem}]({Path(p).name})" for p in plots), ""]
    return "\n".join(lines)


def plot(summary: dict[str, Any], out: Path) -> list[Path]:
    """``mismatch.png`` and ``attack.png``: accuracy vs zeta / eps per method, the seed mean as a line and the
    band between the best and worst seed. Needs matplotlib (``pip install "robust-snn[report]"``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('the plots need matplotlib: pip install "robust-snn[report]"') from exc
    files = []
    figures = (("mismatch", "accuracy", "zeta (relative std of weights and biases)", False),
               ("attack", "attacked_accuracy", "attack eps (relative box)", True))
    for key, stat, xlabel, log in figures:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        colours = plt.get_cmap("tab10")
        for i, (method, data) in enumerate(summary.items()):
            rows = data[key]
            x = [r["zeta" if key == "mismatch" else "eps"] for r in rows]
            mean = [100 * r[stat]["mean"] for r in rows]
            low = [100 * min(r[stat]["per_seed"]) for r in rows]
            high = [100 * max(r[stat]["per_seed"]) for r in rows]
            ax.plot(x, mean, marker="o", ms=3, color=colours(i % 10), label=method)
            ax.fill_between(x, low, high, color=colours(i % 10), alpha=0.15, linewidth=0)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("Random mismatch" if key == "mismatch" else "Targeted parameter attack (worst of repeats)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / f"{key}.png"
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
        plt.close(fig)
        write_bytes_atomic(path, buffer.getvalue())
        files.append(path)
    return files


__all__ = ["markdown", "plot", "summarise", "timing_summary"]
