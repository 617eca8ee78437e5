"""The tune outputs a person reads: the trials table and the Pareto plot (yield vs nominal vs cost).

A trial is on the Pareto front when no other trial is at least as good in all three of yield (the interval's
low end), nominal accuracy and cost (training seconds) and strictly better in one: those are the only trials
worth choosing between; everything else is beaten on every axis a deployment cares about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .trial import RESULT_KEYS, TrialSettings

_AXES = (("yield_low", 1), ("nominal_accuracy", 1), ("train_seconds", -1))
# Row keys that are not the method's hyperparameters (those are the rest).
_NOT_PARAMS = {"trial", "hidden", "epochs", "pareto", *RESULT_KEYS}


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    at_least = all(sign * a[k] >= sign * b[k] for k, sign in _AXES)
    better = any(sign * a[k] > sign * b[k] for k, sign in _AXES)
    return at_least and better


def pareto_front(rows: Sequence[dict[str, Any]]) -> set[int]:
    """Trial indices of the rows no other row dominates (see the module docstring)."""
    return {a["trial"] for a in rows if not any(_dominates(b, a) for b in rows if b is not a)}


def _spec_text(settings: TrialSettings) -> str:
    if settings.spec is not None:
        return f"accuracy >= {settings.spec}"
    return f"accuracy >= {settings.spec_relative} x the trial's programmed nominal accuracy"


def trials_markdown(rows: Sequence[dict[str, Any]], settings: TrialSettings, best: int) -> str:
    """The trials table as Markdown, best trial marked, with the settings that made it."""
    params = [k for k in rows[0] if k not in _NOT_PARAMS]
    head = ["trial", "hidden", "epochs", *params, "nominal", "mean chip", "p5 chip", "yield [95% CI]",
            "worst case", "grade", "train s", "Pareto"]
    lines = [
        f"# Tune: {settings.method} for {settings.device} on {settings.data}",
        "",
        f"Validation split, {settings.chips} chips per trial, seed {settings.seed}; spec: {_spec_text(settings)}; "
        f"target yield {settings.target_yield}. Best trial (**bold**): ready trials by nominal accuracy, others "
        "by the low end of the yield interval; a trial not clearly above chance scores 0.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [str(r["trial"] + 1), str(r["hidden"]), str(r["epochs"]), *(f"{r[k]:g}" for k in params),
                 f"{r['nominal_accuracy']:.3f}", f"{r['mean_accuracy']:.3f}", f"{r['p5_accuracy']:.3f}",
                 f"{r['yield']:.2f} [{r['yield_low']:.2f}, {r['yield_high']:.2f}]",
                 f"{r['worst_case_accuracy']:.3f}", r["grade"] + ("" if r["above_chance"] else " (at chance)"),
                 f"{r['train_seconds']:.0f}",
                 "yes" if r.get("pareto") else ""]
        if r["trial"] == best:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_pareto_plot(path: Path, rows: Sequence[dict[str, Any]], settings: TrialSettings) -> None:
    """Yield (interval low end, with the interval as an error bar) against nominal accuracy; colour = training
    seconds; the Pareto front circled and each point labelled with its trial number."""
    from ..readiness.report import pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    x = [r["nominal_accuracy"] for r in rows]
    y = [r["yield"] for r in rows]
    err = [[r["yield"] - r["yield_low"] for r in rows], [r["yield_high"] - r["yield"] for r in rows]]
    ax.errorbar(x, y, yerr=err, fmt="none", ecolor="0.7", elinewidth=1, zorder=1)
    points = ax.scatter(x, y, c=[r["train_seconds"] for r in rows], cmap="viridis", s=40, zorder=2)
    front = [r for r in rows if r.get("pareto")]
    ax.scatter([r["nominal_accuracy"] for r in front], [r["yield"] for r in front], s=140, facecolors="none",
               edgecolors="crimson", linewidths=1.5, label="Pareto front (yield, nominal, cost)", zorder=3)
    for r in rows:
        ax.annotate(str(r["trial"] + 1), (r["nominal_accuracy"], r["yield"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)
    ax.axhline(settings.target_yield, color="crimson", linestyle="--", linewidth=1,
               label=f"target yield {settings.target_yield}")
    fig.colorbar(points, ax=ax, label="training time (s)")
    ax.set_xlabel("nominal accuracy (validation, after programming)")
    ax.set_ylabel(f"yield ({settings.chips} chips, 95% CI)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"tune {settings.method} for {settings.device}\n{_spec_text(settings)}", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    save_png(fig, path)
    plt.close(fig)


__all__ = ["pareto_front", "trials_markdown", "write_pareto_plot"]
