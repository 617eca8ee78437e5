"""Deterministic random streams: one generator per (seed, chip, stage, draw).

Why not one generator for the whole ensemble: then chip ``k`` would depend on how many chips were drawn before
it, on the chunk size and on the order of the stages. Deriving every stream from a hash of its coordinates
makes chip ``k`` of seed ``s`` the same chip whether it is drawn alone or among 1,000, in any chunking, and
adding a read-noise stage does not change the fabrication draws of the stages before it.

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
