"""A data set whose answer is known before any network sees it: shared by the tests that build networks by hand.

Class ``c`` holds input channel ``c`` at 1 and the other at 0 for the whole clip, so a hand-set network whose
hidden neuron ``c`` listens to channel ``c`` has a known margin, and every score-card number follows from it.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset


def one_channel_per_class(per_class: int, time: int) -> TensorDataset:
    """``2 * per_class`` clips of ``time`` steps and 2 channels; class c: channel c at 1, the other at 0."""
    x = torch.zeros(2 * per_class, time, 2)
    y = torch.arange(2).repeat_interleave(per_class)
    for c in (0, 1):
        x[y == c, :, c] = 1.0
    return TensorDataset(x, y)
