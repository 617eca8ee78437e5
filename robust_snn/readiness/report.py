"""Human reports: Markdown with PNG plots (matplotlib, the ``report`` extra), next to the JSON score cards.

One report per device profile; every report gets the same analysis:

- the score-card table, its legend, and per non-ready card why it fails and what to try
  (:mod:`robust_snn.readiness.advice`);
- the per-chip accuracy histogram on that device, each model's spec line labelled in its colour;
- the sensitivity attribution on that device (which layer x family costs the most accuracy), one panel per
  model on a shared axis so that the models compare at a glance;
- two device-independent analyses, measured once per model and shown in every report: the *relative
  Gaussian* mismatch sweep ``theta (1 + zeta N(0, 1))`` (the paper's test-time model, not the device profile)
  and the weight-loss landscape (1-D slope, and the 2-D slice of each model side by side).

Every model keeps one colour in every plot: solid line = mean over chips (or directions), dotted = minimum,
shaded band = mean +- std (or min..max over directions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from torch import nn
from torch.utils.data import Dataset

from ..devices import DeviceProfile, build_profile, evaluate_ensemble
from ..io.atomic import OutputError, atomic_path, write_bytes_atomic, write_json_atomic
from .card import ScoreCard, card_dict
from .efficiency import efficiency_markdown
from .landscape import landscape_1d, landscape_2d
from .sensitivity import sensitivity
from .table import legend

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5)
GRID = [-2 + 2 / 3 * i for i in range(7)]  # alphas of the 2-D landscape slice


def gaussian_profile(zeta: float) -> Any:
    """Relative Gaussian mismatch ``theta (1 + zeta N(0, 1))`` on every parameter (the paper's test model)."""
    return build_profile({
        "name": f"gaussian-{zeta:g}", "family": "gaussian", "description": f"relative Gaussian, zeta {zeta:g}",
        "source": "Buechel, Faber & Muir, ICLR 2022 evaluation protocol",
        "stages": [{"kind": "relative_gaussian", "floor": 0.01, "spread": {"default": {"synapse": zeta}}}],
    })


def mismatch_curve(model: nn.Module, data: Dataset, levels: Sequence[float] = LEVELS, n_chips: int = 16,
                   seed: int = 0) -> dict[str, list[float]]:
    """Mean, standard deviation and minimum chip accuracy at each relative Gaussian mismatch level."""
    means, stds, mins = [], [], []
    for zeta in levels:
        result = evaluate_ensemble(model, gaussian_profile(zeta), data, n_chips=n_chips if zeta else 1, seed=seed,
                                   progress=False, batch_size=256)
        means.append(result.mean_accuracy)
        stds.append(result.std_accuracy)
        mins.append(result.min_accuracy)
    return {"levels": list(levels), "mean": means, "std": stds, "min": mins}


def model_analysis(models: dict[str, nn.Module], data: Dataset, seed: int = 0, status: Any = None
                   ) -> dict[str, Any]:
    """The device-independent analysis of each model: Gaussian sweep, 1-D landscape, 2-D landscape slice."""
    out: dict[str, Any] = {"curves": {}, "landscape": {}, "landscape_2d": {}}
    for name, model in models.items():
        say = status or (lambda text: None)
        say(f"report: relative Gaussian sweep of {name} ({len(LEVELS)} levels x 16 chips)")
        out["curves"][name] = mismatch_curve(model, data, seed=seed)
        say(f"report: loss landscape of {name} (3 directions x 21 points)")
        land = landscape_1d(model, data, directions=3, seed=seed)
        out["landscape"][name] = {"alphas": land.alphas, "losses": land.losses, "mean_slope": land.mean_slope}
        say(f"report: 2-D loss landscape of {name} ({len(GRID)} x {len(GRID)} points)")
        alphas, grid = landscape_2d(model, data, alphas=GRID, seed=seed)
        out["landscape_2d"][name] = {"alphas": alphas, "losses": grid}
    return out


def model_colours(names: Sequence[str]) -> dict[str, Any]:
    """One colour per model name, the same in every plot (matplotlib's tab10 in order of first appearance)."""
    plt = pyplot()
    palette = plt.get_cmap("tab10").colors
    unique = list(dict.fromkeys(names))
    return {name: palette[i % len(palette)] for i, name in enumerate(unique)}


def pyplot():  # noqa: ANN202
    """matplotlib's pyplot on the file-only Agg backend (reports run on headless machines), or an
    ``ImportError`` naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("reports need matplotlib: pip install 'robust-snn[report]'") from exc
    return plt


def save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` as PNG atomically (a killed report leaves no half-written plot)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _name(card: dict[str, Any]) -> str:
    return str(card.get("model") or "model")


def summary_table(cards: Sequence[ScoreCard | dict[str, Any]]) -> list[str]:
    """The score-card table in Markdown, one row per card, then its one-line legend."""
    cards = [card_dict(c) for c in cards]
    lines = ["| model | device | nominal | mean | p5 | min | CVaR5 | spec | yield [95% CI] | worst case | fits | grade |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cards:
        lo, hi = c["yield_ci95"]
        lines.append(f"| {_name(c)} | {c['device']} | {c['nominal_accuracy']:.3f} | {c['mean_accuracy']:.3f} "
                     f"| {c['p5_accuracy']:.3f} | {c['min_accuracy']:.3f} | {c['cvar5_accuracy']:.3f} | {c['spec']:.3f} "
                     f"| {c['yield']:.3f} [{lo:.3f}, {hi:.3f}] | {c['worst_case_accuracy']:.3f} | {c['fits_device']} "
                     f"| **{c['grade']}** |")
    return lines + ["", legend(cards), ""]


def advice_markdown(cards: Sequence[dict[str, Any]], where: str | None = None) -> list[str]:
    """Per non-ready card: why (its diagnosis) and what to try, ranked, each with its command."""
    lines: list[str] = []
    for c in cards:
        if c["grade"] == "ready" or not (c.get("diagnosis") or c.get("advice")):
            continue
        lines += [f"### {_name(c)} on {c['device']}: {c['grade']}", "", "Why:", ""]
        lines += [f"- {d['summary']}" for d in c.get("diagnosis") or []]
        lines += ["", "What to try, most promising first (ranking rule: `robust_snn/readiness/advice.py`):", ""]
        for item in c.get("advice") or []:
            lines.append(f"{item['rank']}. **{item['action']}**: {item['why']}")
            if item.get("command"):
                lines.append(f"   `{item['command']}`")
        lines.append("")
    if lines:
        head = ["## Why not ready, and what to try", ""]
        if where:
            head += [f"Run the commands from {where}.", ""]
        lines = head + lines
    return lines


def _sensitivities(cards: Sequence[dict[str, Any]], models: dict[str, nn.Module] | None, data: Dataset | None,
                   seed: int, profile: DeviceProfile | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per model: the card's own attribution, else measured here on the card's device (``profile`` when the
    card names it: a user-written profile cannot be found again by its name)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in cards:
        if c.get("sensitivity") is not None:
            out[_name(c)] = c["sensitivity"]
        elif models and data is not None and _name(c) in models:
            device = profile if profile is not None and profile.name == c["device"] else c["device"]
            out[_name(c)] = sensitivity(models[_name(c)], device, data, seed=seed)
    return out


def _histogram(plt: Any, cards: Sequence[dict[str, Any]], colours: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    accs = [a for c in cards for a in c["per_chip_accuracy"]]
    lo, hi = min(accs + [c["spec"] for c in cards]), max(accs + [c["spec"] for c in cards])
    bins = [lo + (hi - lo + 1e-9) * i / 24 for i in range(25)]
    for c in cards:
        colour = colours[_name(c)]
        ax.hist(c["per_chip_accuracy"], bins=bins, alpha=0.5, color=colour, label=f"{_name(c)}: {c['n_chips']} chips")
        ax.axvline(c["spec"], color=colour, linestyle="--", linewidth=1.5, label=f"{_name(c)} spec {c['spec']:.3f}")
    devices = sorted({c["device"] for c in cards})
    ax.set_xlabel("per-chip accuracy")
    ax.set_ylabel("chips")
    ax.set_title(f"Per-chip accuracy on {', '.join(devices)}: {' vs '.join(dict.fromkeys(_name(c) for c in cards))}")
    ax.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)


def _gaussian_sweep(plt: Any, curves: dict[str, Any], cards: Sequence[dict[str, Any]], colours: dict[str, Any],
                    path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, curve in curves.items():
        colour = colours[name]
        low = [m - s for m, s in zip(curve["mean"], curve["std"])]
        high = [m + s for m, s in zip(curve["mean"], curve["std"])]
        ax.fill_between(curve["levels"], low, high, color=colour, alpha=0.15)
        ax.plot(curve["levels"], curve["mean"], color=colour, marker="o", label=f"{name}: mean (band +- std)")
        ax.plot(curve["levels"], curve["min"], color=colour, linestyle=":", label=f"{name}: min chip")
    for c in cards:
        if _name(c) in curves:
            ax.axhline(c["spec"], color=colours[_name(c)], linestyle="--", linewidth=1,
                       label=f"{_name(c)} spec on {c['device']} ({c['spec']:.3f})")
    ax.set_xlabel("relative mismatch zeta: theta (1 + zeta N(0, 1)) on every parameter")
    ax.set_ylabel("accuracy")
    ax.set_title("Relative Gaussian mismatch sweep (device-independent, 16 chips per level)")
    ax.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)


def _landscapes(plt: Any, landscape: dict[str, Any], colours: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, land in landscape.items():
        n = len(land["alphas"])
        mean = [sum(c[i] for c in land["losses"]) / len(land["losses"]) for i in range(n)]
        ax.fill_between(land["alphas"], [min(c[i] for c in land["losses"]) for i in range(n)],
                        [max(c[i] for c in land["losses"]) for i in range(n)], color=colours[name], alpha=0.15)
        ax.plot(land["alphas"], mean, color=colours[name],
                label=f"{name}: mean of {len(land['losses'])} directions, slope {land['mean_slope']:.3f}")
    ax.set_xlabel("alpha: theta + alpha v, v ~ N(0, (0.2 |theta|)^2)")
    ax.set_ylabel("test cross-entropy")
    ax.set_title("Weight-loss landscape (band: min..max over directions)")
    ax.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)


def _landscapes_2d(plt: Any, grids: dict[str, Any], path: Path) -> None:
    names = list(grids)
    values = [v for g in grids.values() for row in g["losses"] for v in row]
    levels = [min(values) + (max(values) - min(values) + 1e-9) * i / 12 for i in range(13)]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names) + 1, 3.8), squeeze=False, sharey=True)
    contour = None
    for ax, name in zip(axes[0], names):
        alphas = grids[name]["alphas"]
        contour = ax.contourf(alphas, alphas, grids[name]["losses"], levels=levels)
        ax.set_title(f"{name}: loss around theta")
        ax.set_xlabel("beta (direction v)")
    axes[0][0].set_ylabel("alpha (direction u)")
    fig.colorbar(contour, ax=list(axes[0]), label="test cross-entropy (shared scale)")
    save_png(fig, path)
    plt.close(fig)


def _sensitivity_plots(plt: Any, sens: dict[str, list[dict[str, Any]]], device: str, colours: dict[str, Any],
                       folder: Path, xmax: float | None) -> tuple[list[str], list[float]]:
    """One PNG per model, all on the same x range (and the same group order) so they compare directly;
    returns the files and that range."""
    groups = list(dict.fromkeys(r["group"] for rows in sens.values() for r in rows))
    drops = [r["accuracy_drop"] for rows in sens.values() for r in rows]
    right = max([xmax or 0.0] + drops)
    left = min(drops + [0.0])
    xlim = [left - 0.05 * (right - left + 1e-6), right + 0.05 * (right - left + 1e-6)]
    files = []
    for model_name, rows in sens.items():
        by_group = {r["group"]: r["accuracy_drop"] for r in rows}
        fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(groups) + 1.5))
        ax.barh(groups, [by_group.get(g, 0.0) for g in groups], color=colours.get(model_name))
        ax.set_xlim(*xlim)
        ax.set_xlabel("mean accuracy drop when only this group varies (shared scale)")
        ax.set_title(f"Sensitivity of {model_name} on {device}")
        ax.invert_yaxis()
        name = "sensitivity_" + "".join(ch if ch.isalnum() else "_" for ch in model_name) + ".png"
        save_png(fig, folder / name)
        plt.close(fig)
        files.append(name)
    return files, xlim


def write_report(folder: str | Path, cards: Sequence[ScoreCard | dict[str, Any]], *,
                 models: dict[str, nn.Module] | None = None, data: Dataset | None = None, seed: int = 0,
                 title: str = "Deployment readiness", analysis: dict[str, Any] | None = None,
                 sensitivity_xmax: float | None = None, where: str | None = None, status: Any = None,
                 profile: DeviceProfile | None = None) -> Path:
    """Write ``report.md``, ``scorecards.json``, ``analysis.json`` and the plots into ``folder``.

    ``cards``: score cards on one device (several models give one table). With ``models`` (name -> model, the
    names as in the cards) and ``data``, the report measures each model's device-independent analysis
    (:func:`model_analysis`) unless ``analysis`` brings it, and the sensitivity on the cards' device unless a
    card carries its own. ``sensitivity_xmax``: a common right edge for the sensitivity bars of several reports.
    ``where``: the folder the advice commands run from; ``status``: called with a line before each long step.
    ``profile``: the cards' device profile object (needed for a user-written profile, which a card names but
    which cannot be looked up by that name); by default the profile a typed card (:class:`ScoreCard`) carries.
    Returns the Markdown path.
    """
    if profile is None:
        profile = next((c.profile for c in cards if isinstance(c, ScoreCard)), None)
    cards = [card_dict(c) for c in cards]
    plt = pyplot()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create report folder {folder}: {exc.strerror}") from None
    write_json_atomic(folder / "scorecards.json", list(cards))
    if analysis is None and models and data is not None:
        analysis = model_analysis(models, data, seed=seed, status=status)
    sens = _sensitivities(cards, models, data, seed, profile)
    colours = model_colours([_name(c) for c in cards] + list((analysis or {}).get("curves", {})))
    device = ", ".join(sorted({c["device"] for c in cards}))

    _histogram(plt, cards, colours, folder / "per_chip_histogram.png")
    lines = [f"# {title}", ""] + summary_table(cards)
    lines += [f"Spec rule: {cards[0]['spec_rule']}; target yield {cards[0]['target_yield']}; "
              f"{cards[0]['n_chips']} simulated chips, seed {cards[0]['seed']}.",
              "Grade: *ready* if the whole 95% yield interval clears the target and the network fits the device, "
              "*not-ready* if the interval lies below it or the network does not fit, *marginal* otherwise.", ""]
    for c in cards:
        if c["violations"]:
            lines.append(f"- {_name(c)} on {c['device']}, violations: " + "; ".join(c["violations"]))
    lines += ["", f"![per-chip accuracy on {device}](per_chip_histogram.png)", ""]
    lines += advice_markdown(cards, where)
    lines += efficiency_markdown(cards)

    skipped, xlim = [], None
    if analysis:
        _gaussian_sweep(plt, analysis["curves"], cards, colours, folder / "accuracy_vs_mismatch.png")
        lines += ["## Relative Gaussian mismatch sweep (device-independent)", "",
                  "Every parameter drawn as theta (1 + zeta N(0, 1)), 16 chips per level: the paper's test-time "
                  f"model, not the {device} profile; the same figure in every device's report. Dashed: each "
                  f"model's spec on {device}.", "", "![relative Gaussian sweep](accuracy_vs_mismatch.png)", ""]
        _landscapes(plt, analysis["landscape"], colours, folder / "loss_landscape.png")
        lines += ["## Weight-loss landscape (device-independent)", "",
                  "Loss along random relative directions (mean of 3); the mean slope |dL/d alpha| is the paper's "
                  "flatness measure (Table S1): flatter minima tolerate mismatch.", "", "| model | mean slope |",
                  "|---|---|"]
        lines += [f"| {name} | {land['mean_slope']:.4f} |" for name, land in analysis["landscape"].items()]
        lines += ["", "![loss landscape](loss_landscape.png)", ""]
        _landscapes_2d(plt, analysis["landscape_2d"], folder / "loss_landscape_2d.png")
        lines += ["2-D slices (two random relative directions per model, one colour scale):", "",
                  "![2-D loss landscapes](loss_landscape_2d.png)", ""]
    else:
        skipped.append("the Gaussian sweep and the loss landscapes (no models or data were given to the report)")
    if sens:
        files, xlim = _sensitivity_plots(plt, sens, device, colours, folder, sensitivity_xmax)
        for (model_name, rows), png in zip(sens.items(), files):
            lines += [f"## Sensitivity of {model_name} on {device}", "", "Mismatch applied to one group (layer x family) "
                      "at a time, ranked: where better matching (silicon area) buys the most accuracy. Same x scale "
                      "for every model.", "", "| group | accuracy drop |", "|---|---|"]
            lines += [f"| {r['group']} | {r['accuracy_drop']:.4f} |" for r in rows]
            lines += ["", f"![sensitivity of {model_name}]({png})", ""]
    else:
        skipped.append("the sensitivity attribution (no models or data were given to the report)")
    if skipped:
        lines += ["## Not analysed here", ""] + [f"- {s}" for s in skipped] + [""]
    path = folder / "report.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    if analysis or sens:
        write_json_atomic(folder / "analysis.json", {**(analysis or {}), "sensitivity": sens,
                                                      "sensitivity_axis": xlim if sens else None})
    return path


__all__ = ["LEVELS", "advice_markdown", "gaussian_profile", "mismatch_curve", "model_analysis", "model_colours",
           "pyplot", "save_png", "summary_table", "write_report"]
