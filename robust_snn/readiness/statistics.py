"""Statistics of a chip ensemble: yield with an exact confidence interval, tail risk, sample size.

The question behind every number: "if we flash these weights onto every chip off the line, what fraction meets
the accuracy spec, and how sure are we?" A yield measured on ``n`` simulated chips is a binomial proportion;
its Clopper-Pearson interval is exact (never narrower than the truth, even at 0 or n successes), which is what
a sign-off decision needs. The same interval on the nominal accuracy (a proportion of test samples) tells
whether the network is better than chance at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import beta as beta_distribution


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval ``(low, high)`` for ``successes`` out of ``trials``."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta_distribution.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta_distribution.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


@dataclass(frozen=True)
class YieldEstimate:
    """Fraction of chips meeting the spec, with its exact interval."""

    passed: int
    n_chips: int
    value: float
    ci: tuple[float, float]
    confidence: float


def chip_yield(accuracies: Sequence[float], spec: float, confidence: float = 0.95) -> YieldEstimate:
    """Yield = fraction of chips with accuracy >= ``spec`` (an absolute accuracy in [0, 1])."""
    if not accuracies:
        raise ValueError("no chip accuracies given")
    passed = sum(1 for a in accuracies if a >= spec)
    n = len(accuracies)
    return YieldEstimate(passed, n, passed / n, clopper_pearson(passed, n, confidence), confidence)


def cvar(accuracies: Sequence[float], tail: float = 0.05) -> float:
    """Mean accuracy of the worst ``tail`` fraction of chips (at least one chip): conditional value at risk."""
    if not accuracies:
        raise ValueError("no chip accuracies given")
    if not 0 < tail <= 1:
        raise ValueError(f"tail must be in (0, 1], got {tail!r}")
    worst = sorted(accuracies)[: max(1, math.ceil(tail * len(accuracies)))]
    return sum(worst) / len(worst)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def chips_needed(yield_value: float, width: float, confidence: float = 0.95, max_chips: int = 1_000_000) -> int:
    """Smallest number of chips whose Clopper-Pearson interval at ``yield_value`` is at most ``width`` wide.

    Answers "how many simulated chips before the yield number is sharp enough to sign off".
    """
    if not 0 < width < 1:
        raise ValueError(f"width must be in (0, 1), got {width!r}")

    def width_at(n: int) -> float:
        low, high = clopper_pearson(round(yield_value * n), n, confidence)
        return high - low

    lo, hi = 1, 2
    while width_at(hi) > width:
        lo, hi = hi, hi * 2
        if hi > max_chips:
            return max_chips
    while lo < hi:
        mid = (lo + hi) // 2
        if width_at(mid) <= width:
            hi = mid
        else:
            lo = mid + 1
    return lo


def majority_rate(labels: Sequence[int]) -> float:
    """Chance level of a split: the accuracy of always answering its most frequent class (``max_c n_c / n``).

    Never below ``1 / classes``, and the honest floor on an unbalanced split, where ``1 / classes`` is beaten by
    a network that has learnt nothing but the class frequencies.
    """
    if not labels:
        raise ValueError("no labels given")
    counts: dict[int, int] = {}
    for label in labels:
        counts[int(label)] = counts.get(int(label), 0) + 1
    return max(counts.values()) / len(labels)


def clearly_above_chance(accuracy: float, n_samples: int, chance: float, confidence: float = 0.95
                         ) -> tuple[bool, tuple[float, float]]:
    """``(above, interval)``: the exact (Clopper-Pearson) interval of ``accuracy`` measured on ``n_samples``,
    and whether its lower end is above ``chance``. A model whose interval reaches chance has not been shown
    to have learnt anything, whatever its yield against a spec relative to itself."""
    interval = clopper_pearson(round(accuracy * n_samples), n_samples, confidence)
    return interval[0] > chance, interval


GRADES = ("ready", "marginal", "not-ready")


def grade(yield_ci: tuple[float, float], target_yield: float, fits_device: bool, above_chance: bool = True) -> str:
    """The readiness grade. The rule, on the yield interval and not on a point estimate:

    - ``ready``: the network fits the device, its nominal accuracy is clearly above chance, and the whole
      interval clears the target (``low >= target_yield``): even the pessimistic end of the evidence meets it;
    - ``not-ready``: the network does not fit, its nominal accuracy is not clearly above chance (see
      :func:`clearly_above_chance`: a relative spec would otherwise pass a network that is equally useless on
      every chip), or the whole interval misses the target (``high < target``);
    - ``marginal``: the interval straddles the target: more chips (see :func:`chips_needed`) or more
      robustness are needed to decide.
    """
    low, high = yield_ci
    if not fits_device or not above_chance or high < target_yield:
        return "not-ready"
    return "ready" if low >= target_yield else "marginal"


def chips_to_decide(yield_value: float, target_yield: float, confidence: float = 0.95,
                    max_chips: int = 100_000) -> int | None:
    """Smallest number of chips whose Clopper-Pearson interval at ``yield_value`` excludes ``target_yield``.

    The interval of ``round(yield_value n)`` passes out of ``n`` chips must lie wholly above the target (when
    ``yield_value >= target_yield``: the grade would be ``ready``) or wholly below it (``not-ready``). ``None``
    when the yield sits on the target (no number of chips decides) or more than ``max_chips`` would be needed.
    Rounding makes the width slightly non-monotone in ``n``; the search takes the first ``n`` of a doubling
    ladder refined by bisection, which can overshoot the exact minimum by a few chips.
    """
    if not 0 <= yield_value <= 1 or not 0 < target_yield <= 1:
        raise ValueError(f"need yield and target in [0, 1], got {yield_value!r}, {target_yield!r}")
    above = yield_value >= target_yield
    if yield_value == target_yield and target_yield < 1:
        return None

    def decides(n: int) -> bool:
        low, high = clopper_pearson(round(yield_value * n), n, confidence)
        return low >= target_yield if above else high < target_yield

    lo, hi = 1, 1
    while not decides(hi):
        lo, hi = hi, hi * 2
        if hi > max_chips:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if decides(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def spec_for_ready(accuracies: Sequence[float], target_yield: float, confidence: float = 0.95) -> float | None:
    """The highest absolute spec at which these chips would grade ``ready`` (resources aside): the accuracy of
    the ``k``-th best chip, ``k`` the fewest passes whose Clopper-Pearson lower bound reaches ``target_yield``.
    ``None`` when even all chips passing is not enough evidence (too few chips for the target)."""
    ordered = sorted(accuracies, reverse=True)
    n = len(ordered)
    for k in range(1, n + 1):
        if clopper_pearson(k, n, confidence)[0] >= target_yield:
            return ordered[k - 1]
    return None
