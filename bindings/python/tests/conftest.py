"""Shared fixtures of the helios Python tests."""

from __future__ import annotations

import ctypes
import shutil
from typing import Iterator

import numpy as np
import pytest

import helios
from helpers import compile_shared

# Native kernels compiled at test time, for what a Python-written ctypes
# kernel cannot show: code that runs on the helios threads without the GIL.
NATIVE_KERNELS_C = r"""
#include <stddef.h>
#include <time.h>

/* Every call adds one to *arrived and then waits (up to 10 s) until *arrived
 * reaches 2: two calls must be inside it at the same time to succeed. */
int rendezvous(const double *block, size_t block_len, size_t core_offset,
               size_t core_len, double *core_out, void *user_data) {
    (void)block_len;
    int *arrived = user_data;
    struct timespec pause = {0, 1000000};
    __atomic_fetch_add(arrived, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 10000 && __atomic_load_n(arrived, __ATOMIC_SEQ_CST) < 2; i++)
        nanosleep(&pause, NULL);
    if (__atomic_load_n(arrived, __ATOMIC_SEQ_CST) < 2) return 99;
    for (size_t k = 0; k < core_len; k++) core_out[k] = 2.0 * block[core_offset + k];
    return 0;
}
"""


@pytest.fixture(autouse=True)
def restore_default_threads() -> Iterator[None]:
    """Undo any helios.set_num_threads a test makes."""
    before = helios.get_num_threads()
    yield
    helios.set_num_threads(before)


@pytest.fixture(scope="session")
def c_compiler() -> str:
    """The C compiler, or skip the test."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc) to build native test kernels")
    return compiler


@pytest.fixture(scope="session")
def native_kernels(c_compiler: str, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The compiled NATIVE_KERNELS_C."""
    folder = tmp_path_factory.mktemp("native")
    return ctypes.CDLL(str(compile_shared(c_compiler, NATIVE_KERNELS_C, folder / "libkernels.so")))


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> np.dtype:
    """Each element type helios maps."""
    dtype: np.dtype = np.dtype(request.param)
    return dtype


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every run sees the same data."""
    return np.random.default_rng(20240601)
