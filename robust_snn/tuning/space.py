"""What ``robust-snn tune`` searches: each method's hyperparameters, the hidden width the chip can hold, epochs.

The space is written with Ray Tune's own domain objects (``tune.uniform``, ``tune.loguniform``, ...) and sampled
here, up front, with one seeded generator: trial ``i`` of seed ``s`` is the same point on every machine and on
every resume, and the whole plan can be read before any compute is spent (it is written to ``plan.json``).

Ranges, per method (the paper's values inside each range):

- ``noise``: ``sigma`` in [0.05, 0.5] (paper 0.3);
- ``adversarial`` / ``adversarial-warm``: ``beta`` log-uniform in [0.05, 1.0] (paper 0.5 for speech),
  ``eps`` in [0.02, 0.3] (paper 0.1);
- ``fn-adversarial``: the adversarial ones plus ``eta`` in [0.05, 0.5] (paper 0.3);
- every method: ``hidden`` among widths that fit the chip (:func:`widths_that_fit`), ``epochs`` in
  ``[max(1, max_epochs // 2), max_epochs]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..config import ConfigError
from ..devices.limits import largest_hidden
from ..devices.profiles import ResourceLimits

TUNABLE_METHODS = ("standard", "noise", "adversarial", "adversarial-warm", "fn-adversarial")

# Widths tried when the chip sets no fan-in or neuron limit (e.g. the generic gaussian profiles).
UNLIMITED_WIDTHS = (32, 64, 128)


def _method_space(method: str) -> dict[str, Any]:
    from ray import tune

    adversarial = {"beta": tune.loguniform(0.05, 1.0), "eps": tune.uniform(0.02, 0.3)}
    spaces: dict[str, dict[str, Any]] = {
        "standard": {},
        "noise": {"sigma": tune.uniform(0.05, 0.5)},
        "adversarial": adversarial,
        "adversarial-warm": adversarial,
        "fn-adversarial": {**adversarial, "eta": tune.uniform(0.05, 0.5)},
    }
    if method not in spaces:
        raise ConfigError(f"tune searches the methods {', '.join(TUNABLE_METHODS)}; got {method!r}")
    return spaces[method]


def widths_that_fit(n_in: int, n_classes: int, limits: ResourceLimits, recurrent: bool = True,
                    count: int = 3) -> list[int]:
    """Up to ``count`` hidden widths of a one-layer network that the chip can hold, spread between half and all
    of the widest that fits (:func:`robust_snn.devices.limits.largest_hidden`); :data:`UNLIMITED_WIDTHS` when
    the chip sets no limit on the width."""
    largest = largest_hidden(limits, n_in, n_classes, recurrent)
    if largest is None:
        return list(UNLIMITED_WIDTHS)
    return sorted({max(1, round(largest * f)) for f in np.linspace(0.5, 1.0, count)})


@dataclass(frozen=True)
class Point:
    """One trial: its index, the network width, the epochs and the method's hyperparameters."""

    trial: int
    hidden: int
    epochs: int
    params: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "hidden": self.hidden, "epochs": self.epochs, **self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Point":
        rest = {k: v for k, v in data.items() if k not in ("trial", "hidden", "epochs")}
        return cls(int(data["trial"]), int(data["hidden"]), int(data["epochs"]), rest)


def sample_points(method: str, trials: int, widths: list[int], max_epochs: int, seed: int) -> list[Point]:
    """``trials`` points of the search space, drawn with ``numpy.random.default_rng(seed)``.

    Trial 0 is the method's defaults (the paper's settings) at the widest width and ``max_epochs``, so the
    search never reports something worse than what a user gets without it.
    """
    from ray import tune

    if trials < 1:
        raise ConfigError(f"tune needs at least 1 trial, got {trials!r}")
    if max_epochs < 1:
        raise ConfigError(f"max epochs must be >= 1, got {max_epochs!r}")
    space = _method_space(method)
    rng = np.random.default_rng(seed)
    from ..training.methods import METHODS

    defaults = METHODS[method]().hyperparameters()
    points = [Point(0, max(widths), max_epochs, {k: defaults[k] for k in space})]
    hidden = tune.choice(widths)
    epochs = tune.randint(max(1, max_epochs // 2), max_epochs + 1)
    draw: Callable[[Any], Any] = lambda domain: domain.sample(random_state=rng)  # noqa: E731
    for i in range(1, trials):
        params = {k: round(float(draw(d)), 4) for k, d in space.items()}
        points.append(Point(i, int(draw(hidden)), int(draw(epochs)), params))
    return points


__all__ = ["TUNABLE_METHODS", "Point", "sample_points", "widths_that_fit"]
