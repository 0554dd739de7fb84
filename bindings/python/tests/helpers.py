"""Kernels, independent numpy references and tools shared by the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

import helios


def stencil3(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
    """y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1], clamped at the block's ends.

    With a halo of 1 the block's ends are the array's ends wherever it matters.
    """
    i = np.arange(start, start + n)
    left = block[np.maximum(i - 1, 0)]
    right = block[np.minimum(i + 1, len(block) - 1)]
    result: helios.FloatArray = 0.25 * left + 0.5 * block[i] + 0.25 * right
    return result


def stencil3_reference(x: helios.FloatArray) -> helios.FloatArray:
    """The same stencil computed with edge padding and slicing, not through blocks."""
    padded = np.pad(x, 1, mode="edge")
    result: helios.FloatArray = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return result


def bits(a: helios.FloatArray) -> np.ndarray:
    """The array's bit patterns, for exact (bit for bit) comparisons."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bitwise_equal(actual: helios.FloatArray, expected: helios.FloatArray) -> None:
    """Same dtype, same shape, same bits."""
    assert actual.dtype == expected.dtype
    assert np.array_equal(bits(actual), bits(expected))


def compile_shared(compiler: str, source: str, target: Path) -> Path:
    """Compile C ``source`` into the shared library ``target``."""
    c_file = target.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(target), str(c_file)],
        check=True,
        capture_output=True,
    )
    return target
