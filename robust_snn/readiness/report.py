"""Human reports: Markdown with PNG plots (matplotlib, the ``report`` extra), next to the JSON score cards.

Plots: per-chip accuracy histogram with the spec line, accuracy vs relative mismatch level (relative
Gaussian, the paper's test-time model), and sensitivity bars (which layer and parameter family costs the most
accuracy under the profile's mismatch). Several score cards (models or devices) give one table and overlaid
curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from torch import nn
from torch.utils.data import Dataset

from ..devices import build_profile, evaluate_ensemble
from ..io.atomic import OutputError, atomic_path, write_bytes_atomic, write_json_atomic
from .landscape import landscape_1d, landscape_2d
from .sensitivity import sensitivity

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5)


def gaussian_profile(zeta: float) -> Any:
    """Relative Gaussian mismatch ``theta (1 + zeta N(0, 1))`` on every parameter (the paper's test model)."""
    return build_profile({
        "name": f"gaussian-{zeta:g}", "family": "gaussian", "description": f"relative Gaussian, zeta {zeta:g}",
        "source": "Buechel, Faber & Muir, ICLR 2022 evaluation protocol",
        "stages": [{"kind": "relative_gaussian", "floor": 0.01, "spread": {"default": {"synapse": zeta}}}],
    })


def mismatch_curve(model: nn.Module, data: Dataset, levels: Sequence[float] = LEVELS, n_chips: int = 16,
                   seed: int = 0) -> dict[str, list[float]]:
    """Mean and minimum chip accuracy at each relative Gaussian mismatch level."""
    means, mins = [], []
    for zeta in levels:
        result = evaluate_ensemble(model, gaussian_profile(zeta), data, n_chips=n_chips if zeta else 1, seed=seed,
                                   progress=False, batch_size=256)
        means.append(result.mean_accuracy)
        mins.append(result.min_accuracy)
    return {"levels": list(levels), "mean": means, "min": mins}


def _pyplot():  # noqa: ANN202
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("reports need matplotlib: pip install 'robust-snn[report]'") from exc
    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def write_report(folder: str | Path, cards: Sequence[dict[str, Any]], *,
                 models: dict[str, nn.Module] | None = None, data: Dataset | None = None, seed: int = 0,
                 title: str = "Deployment readiness") -> Path:
    """Write ``report.md``, ``scorecards.json``, ``analysis.json`` and the plots into ``folder``.

    ``cards``: score cards (several models on one device give one table). With ``models`` (name -> model, the
    names as in the cards) and ``data``, the report also measures and plots, per model, the accuracy vs
    relative-mismatch curve, the weight-loss landscape (the paper's flatness slope) and the sensitivity
    attribution on the cards' device. Returns the Markdown path.
    """
    plt = _pyplot()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create report folder {folder}: {exc.strerror}") from None
    write_json_atomic(folder / "scorecards.json", list(cards))
    curves: dict[str, dict[str, list[float]]] = {}
    sensitivities: dict[str, list[dict[str, Any]]] = {}
    landscapes: dict[str, Any] = {}
    if models and data is not None:
        for name, model in models.items():
            curves[name] = mismatch_curve(model, data, seed=seed)
            sensitivities[name] = sensitivity(model, cards[0]["device"], data, seed=seed)
            landscapes[name] = landscape_1d(model, data, directions=3, seed=seed)
        first = next(iter(models))
        grid_alphas, grid = landscape_2d(models[first], data, alphas=[-2 + 2 / 3 * i for i in range(7)], seed=seed)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for card in cards:
        ax.hist(card["per_chip_accuracy"], bins=20, alpha=0.6, label=f"{card['model'] or 'model'} on {card['device']}")
        ax.axvline(card["spec"], color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("per-chip accuracy")
    ax.set_ylabel("chips")
    ax.set_title("Per-chip accuracy (dashed: spec)")
    ax.legend(fontsize=7)
    _save(fig, folder / "per_chip_histogram.png")
    plt.close(fig)

    lines = [f"# {title}", "", "| model | device | nominal | mean | p5 | min | CVaR5 | yield [95% CI] | worst case | fits | grade |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cards:
        lo, hi = c["yield_ci95"]
        lines.append(f"| {c['model'] or 'model'} | {c['device']} | {c['nominal_accuracy']:.3f} | {c['mean_accuracy']:.3f} "
                     f"| {c['p5_accuracy']:.3f} | {c['min_accuracy']:.3f} | {c['cvar5_accuracy']:.3f} "
                     f"| {c['yield']:.3f} [{lo:.3f}, {hi:.3f}] | {c['worst_case_accuracy']:.3f} | {c['fits_device']} "
                     f"| **{c['grade']}** |")
    lines += ["", f"Spec rule: {cards[0]['spec_rule']}; target yield {cards[0]['target_yield']}; "
              f"{cards[0]['n_chips']} simulated chips, seed {cards[0]['seed']}.",
              "Grade: *ready* if the whole 95% yield interval clears the target and the network fits the device, "
              "*not-ready* if the interval lies below it or the network does not fit, *marginal* otherwise.", ""]
    for c in cards:
        if c["violations"]:
            lines.append(f"- {c['model'] or 'model'} on {c['device']}, violations: " + "; ".join(c["violations"]))
    lines += ["", "![per-chip accuracy](per_chip_histogram.png)", ""]

    if curves:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, curve in curves.items():
            ax.plot(curve["levels"], curve["mean"], marker="o", label=f"{name} (mean)")
            ax.plot(curve["levels"], curve["min"], linestyle=":", label=f"{name} (min)")
        ax.set_xlabel("relative mismatch zeta: theta (1 + zeta N)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
        _save(fig, folder / "accuracy_vs_mismatch.png")
        plt.close(fig)
        lines += ["## Accuracy vs mismatch level", "", "![accuracy vs mismatch](accuracy_vs_mismatch.png)", ""]
    if landscapes:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, land in landscapes.items():
            mean_curve = [sum(c[i] for c in land.losses) / len(land.losses) for i in range(len(land.alphas))]
            ax.plot(land.alphas, mean_curve, label=f"{name} (slope {land.mean_slope:.3f})")
        ax.set_xlabel("alpha: theta + alpha v, v ~ N(0, (0.2 |theta|)^2)")
        ax.set_ylabel("test cross-entropy")
        ax.legend(fontsize=7)
        _save(fig, folder / "loss_landscape.png")
        plt.close(fig)
        lines += ["## Weight-loss landscape", "", "Loss along random relative directions (mean of 3); the mean slope "
                  "|dL/d alpha| is the paper's flatness measure (Table S1): flatter minima tolerate mismatch.", "",
                  "| model | mean slope |", "|---|---|"]
        lines += [f"| {name} | {land.mean_slope:.4f} |" for name, land in landscapes.items()]
        lines += ["", "![loss landscape](loss_landscape.png)", ""]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        contour = ax.contourf(grid_alphas, grid_alphas, grid, levels=12)
        fig.colorbar(contour, ax=ax, label="test cross-entropy")
        ax.set_xlabel("beta (direction v)")
        ax.set_ylabel("alpha (direction u)")
        ax.set_title(f"{first}: loss around theta")
        _save(fig, folder / "loss_landscape_2d.png")
        plt.close(fig)
        lines += [f"2-D slice for {first} (two random relative directions):", "",
                  "![2-D loss landscape](loss_landscape_2d.png)", ""]
    if sensitivities:
        for model_name, rows in sensitivities.items():
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.barh([r["group"] for r in rows], [r["accuracy_drop"] for r in rows])
            ax.set_xlabel("mean accuracy drop when only this group varies")
            ax.invert_yaxis()
            name = "sensitivity_" + "".join(ch if ch.isalnum() else "_" for ch in model_name) + ".png"
            _save(fig, folder / name)
            plt.close(fig)
            lines += [f"## Sensitivity of {model_name} on {cards[0]['device']}", "", "Mismatch applied to one group (layer x family) at a time, "
                      "ranked: where better matching (silicon area) buys the most accuracy.", "",
                      "| group | accuracy drop |", "|---|---|"]
            lines += [f"| {r['group']} | {r['accuracy_drop']:.4f} |" for r in rows]
            lines += ["", f"![sensitivity]({name})", ""]
    path = folder / "report.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    if curves:
        write_json_atomic(folder / "analysis.json", {
            "curves": curves, "sensitivity": sensitivities,
            "landscape": {k: {"alphas": v.alphas, "losses": v.losses, "mean_slope": v.mean_slope}
                          for k, v in landscapes.items()}})
    return path


__all__ = ["LEVELS", "gaussian_profile", "mismatch_curve", "write_report"]
