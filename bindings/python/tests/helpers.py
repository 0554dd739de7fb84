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


# ---- the feature map written with numpy alone ----------------------------------

# Tolerances (max abs difference) on the well-conditioned data of these tests
# (cond K(L, L) below about 1e3, entries of Phi below 1). Measured: about
# 5e-15 for float64 and 1.5e-6 for float32 against a float64 reference.
TOL_F64 = 1e-12
TOL_F32 = 2e-5


def rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma ||a_i - b_j||²) by broadcasting, in float64 (no GEMM identity)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def reference_embed(x: np.ndarray, landmarks: np.ndarray, gamma: float, ridge: float) -> np.ndarray:
    """The feature map in float64 with numpy alone: K(X, L) · (K(L, L) + ridge·I)^(-1/2),
    the inverse square root from np.linalg.eigh with eigenvalues at or below
    m · eps · λ_max counted as 0 (the pseudo-inverse threshold helios documents)."""
    m = len(landmarks)
    values, vectors = np.linalg.eigh(rbf(landmarks, landmarks, gamma) + ridge * np.eye(m))
    cutoff = m * np.finfo(np.float64).eps * max(values.max(), 0.0)
    scale = np.zeros_like(values)
    kept = values > cutoff
    scale[kept] = 1.0 / np.sqrt(values[kept])
    return rbf(x, landmarks, gamma) @ ((vectors * scale) @ vectors.T)


def tolerance(dtype: np.dtype) -> float:
    """The max abs difference allowed against the float64 reference."""
    return TOL_F32 if dtype == np.float32 else TOL_F64


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, in float64."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
