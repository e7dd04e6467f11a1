"""The serving process keeps freed memory only where glibc allows it and the operator did not tune it."""

from __future__ import annotations

import platform

import pytest

from estimation_engine.allocator import keep_freed_memory


def test_an_operator_s_malloc_tunables_take_precedence():
    assert keep_freed_memory({"MALLOC_ARENA_MAX": "2"}) is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_glibc_accepts_the_thresholds():
    assert keep_freed_memory({}) is True
