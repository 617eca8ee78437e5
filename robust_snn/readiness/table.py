"""Score cards on the terminal: one table, a one-line legend, then why each non-ready row fails and what to try.

Shared by ``robust-snn evaluate`` and ``robust-snn demo`` so both say the same thing the same way. The table is
drawn with rich when it is installed (the ``report`` extra), else as aligned plain text; the advice commands
are printed as plain lines so they copy and paste whole.
"""

from __future__ import annotations

from typing import Any, Sequence

from .card import ScoreCard, card_dict

HEADERS = ["model", "device", "nominal", "mean", "p5", "spec", "yield [95% CI]", "worst case", "grade"]
TERMINAL_ADVICE = 3  # suggestions shown per card; the JSON and the report hold them all


def legend(cards: Sequence[dict[str, Any]]) -> str:
    """One line: what spec, yield, worst case and nominal mean in this table."""
    rules = sorted({str(c.get("spec_rule", "")) for c in cards})
    spec = ("spec = " + rules[0].replace("nominal_accuracy", "each row's nominal")) if len(rules) == 1 else \
        "spec per row (" + "; ".join(rules) + ")"
    targets = sorted({c["target_yield"] for c in cards})
    return (f"{spec}; yield = fraction of chips >= spec [95% CI], target {', '.join(str(t) for t in targets)}; "
            "worst case = accuracy under a parameter attack at the device's own spread; nominal = after "
            "programming for that device (quantisation, shared levels), so it differs per device.")


def rows(cards: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [[str(c["model"] or "model"), c["device"], f"{c['nominal_accuracy']:.3f}", f"{c['mean_accuracy']:.3f}",
             f"{c['p5_accuracy']:.3f}", f"{c['spec']:.3f}",
             f"{c['yield']:.2f} [{c['yield_ci95'][0]:.2f}, {c['yield_ci95'][1]:.2f}]",
             f"{c['worst_case_accuracy']:.3f}", c["grade"]] for c in cards]


def advice_lines(cards: Sequence[dict[str, Any]], limit: int | None = TERMINAL_ADVICE,
                 where: str | None = None) -> list[str]:
    """Per non-ready card: its causes (``why``) and its top suggestions with their commands (``try``)."""
    lines: list[str] = []
    for c in cards:
        diagnosis = [d for d in c.get("diagnosis") or [] if d["cause"] != "yield"]
        advice = c.get("advice") or []
        if c["grade"] == "ready" or not (diagnosis or advice):
            continue
        lines.append(f"{c['model'] or 'model'} on {c['device']}: {c['grade']}")
        lines += [f"  why: {d['summary']}" for d in diagnosis]
        shown = advice if limit is None else advice[:limit]
        for item in shown:
            lines.append(f"  try {item['rank']}. {item['action']}: {item['why']}")
            if item.get("command"):
                lines.append(f"       {item['command']}")
        if len(shown) < len(advice):
            lines.append(f"  ({len(advice) - len(shown)} more in the JSON and the report)")
    if lines and where:
        lines.append(f"(run the commands from {where})")
    return lines


def print_cards(cards: Sequence[ScoreCard | dict[str, Any]], title: str = "Deployment readiness",
                where: str | None = None) -> None:
    """Print the table, the legend and the advice to stdout."""
    cards = [card_dict(c) for c in cards]
    body = rows(cards)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]
        print(title)
        for line in [HEADERS, *body]:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))
    else:
        table = Table(title=title)
        for h in HEADERS:
            table.add_column(h)
        for r in body:
            table.add_row(*r)
        Console(width=120).print(table)
    print(legend(cards))
    for line in advice_lines(cards, where=where):
        print(line)


__all__ = ["HEADERS", "advice_lines", "legend", "print_cards", "rows"]
