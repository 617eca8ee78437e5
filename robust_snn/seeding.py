"""Deterministic random streams: one generator per named coordinate tuple, the one seed formula of the package.

Every random draw of the package comes from a stream named by its coordinates:

- a chip's fabrication and reads (:mod:`robust_snn.devices.model`): ``(seed, chip, stage index, stage kind[,
  "read", draw])``; device-aware training's chip of a batch: ``("device-aware", seed, epoch, step)``;
- training (:mod:`robust_snn.training.trainer`): ``("train", seed, epoch, stream)``, stream 0 the shuffling and
  1 the method's draws;
- data sets (:mod:`robust_snn.data.datasets`): ``("data", seed, split, index, access)``, index -1 the choice of
  the split's clips;
- the parameter attack (:mod:`robust_snn.attack`): ``("attack", seed, restart)``.

Why not one generator for a whole run: then chip ``k`` would depend on how many chips were drawn before it, on
the chunk size and on the order of the stages, and a resumed run would not replay its epochs. Why not a linear
mix such as ``seed * 1_000_003 + epoch * 7_919``: such mixes collide (the attack's first restart, the first
epoch's shuffling and the first training item's draw were once one stream for the same seed). Deriving every
stream from a hash of its named coordinates makes chip ``k`` of seed ``s`` the same chip whether it is drawn
alone or among 1,000, in any chunking, adding a read-noise stage does not change the fabrication draws of the
stages before it, and two kinds of draw never share a stream.

The hash is BLAKE2b over the text of the coordinates (stable across platforms, Python versions and runs;
Python's ``hash`` is salted per process and would not be).
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from the coordinates ``parts`` (ints and strings), stable across runs and machines."""
    text = "/".join(f"{type(p).__name__}:{p}" for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & (2**63 - 1)


def generator(*parts: int | str) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded with :func:`derive_seed` of ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


__all__ = ["derive_seed", "generator"]
