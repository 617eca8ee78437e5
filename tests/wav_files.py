"""Tiny WAV files for the data tests: 16-bit mono PCM written with the standard library's ``wave``."""

import wave

import numpy as np


def write_wav(path, samples, rate):
    """``samples`` (floats in [-1, 1]) at ``rate`` Hz into ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
