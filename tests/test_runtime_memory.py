"""The memory policy: glibc keeps freed blocks for reuse (robust_snn.runtime.memory), and the CLI applies it."""

from __future__ import annotations

import ctypes
import sys

import pytest
import torch

import robust_snn.runtime.memory as memory
from robust_snn import cli

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def mmapped_bytes() -> int:
    """Bytes glibc holds in separately mmapped blocks (``mallinfo2().hblkhd``)."""
    libc = ctypes.CDLL("libc.so.6")
    try:
        mallinfo2 = libc.mallinfo2
    except AttributeError:
        pytest.skip("glibc older than 2.33 (no mallinfo2)")
    mallinfo2.restype = MallInfo2
    return mallinfo2().hblkhd


@glibc
def test_after_the_policy_a_large_tensor_comes_from_the_reused_heap_not_a_fresh_mapping():
    assert memory.retain_freed_memory() is True
    assert memory.retain_freed_memory() is True  # idempotent
    before = mmapped_bytes()
    block = torch.empty(8 << 20, dtype=torch.uint8)  # 8 MB: above glibc's default 128 kB mmap threshold
    block.fill_(1)
    assert mmapped_bytes() - before < (8 << 20)
    del block


def test_every_command_applies_the_memory_policy(monkeypatch, capsys):
    called = []
    monkeypatch.setattr("robust_snn.runtime.retain_freed_memory", lambda: called.append(True) or True)
    assert cli.main(["devices"]) == 0
    assert called == [True]
