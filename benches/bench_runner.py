"""The runner benchmark (the dashiCORE sweep): helios.parallel_map against a
plain C loop and numpy, in one process.

For every array length N and every kernel of benches/kernels.c (sign flip,
clamp to [-0.5, 0.5], 3-point stencil), it times

* the plain single-threaded C loop over the whole array,
* numpy doing the same (-x, np.clip, the stencil with slices),
* helios.parallel_map with the native C kernel, on 1 and 2 threads, with the
  automatic block size and a few fixed ones,

and prints the median times with the ratios helios/plain, helios/numpy and
the two-thread speedup t1/t2. Every contender writes into an output array
allocated once before timing (`out=` for numpy and parallel_map), so the
timings hold the kernels and the dispatch, not page faults of fresh memory.
Every helios output is checked bit for bit against the plain loop's.

Usage (after `make python`; `make bench` builds the kernels and runs this):

    cc -O3 -march=native -shared -fPIC -Iinclude benches/kernels.c \
        -o build/bench/libbench_kernels.so
    .venv/bin/python benches/bench_runner.py --kernels build/bench/libbench_kernels.so [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
from _ctypes import CFuncPtr

import helios

FloatArray = np.ndarray


@dataclass(frozen=True)
class Kernel:
    """One benchmark kernel: its name in kernels.c, radius and numpy version
    ``numpy(x, out)``, which writes into ``out``."""

    name: str
    halo: int
    numpy: Callable[[FloatArray, FloatArray], object]


def numpy_stencil(x: FloatArray, y: FloatArray) -> None:
    """y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1], edges clamped, with slices
    (numpy allocates the temporaries of the expression, as numpy code does)."""
    y[1:-1] = 0.25 * x[:-2] + 0.5 * x[1:-1] + 0.25 * x[2:]
    y[0] = 0.25 * x[0] + 0.5 * x[0] + 0.25 * x[1]
    y[-1] = 0.25 * x[-2] + 0.5 * x[-1] + 0.25 * x[-1]


KERNELS = (
    Kernel("signflip", 0, lambda x, y: np.negative(x, out=y)),
    Kernel("clamp", 0, lambda x, y: np.clip(x, -0.5, 0.5, out=y)),
    Kernel("stencil", 1, numpy_stencil),
)


@dataclass(frozen=True)
class Settings:
    """What one run of the bench sweeps, and how long it measures each case."""

    sizes: Sequence[int]
    blocks: Sequence[Optional[int]]  # None = helios's automatic size
    budget_s: float  # measuring time per case
    min_repeats: int
    max_repeats: int = 1000
    min_sample_s: float = 1e-3  # calls are looped until one sample lasts this long


FULL = Settings(
    sizes=(10**4, 10**5, 10**6, 10**7),
    blocks=(None, 4096, 65536, 1 << 20),
    budget_s=0.3,
    min_repeats=7,
)
QUICK = Settings(
    sizes=(10**4, 10**5),
    blocks=(None, 4096),
    budget_s=0.02,
    min_repeats=3,
)


def median_time(function: Callable[[], object], settings: Settings) -> float:
    """The median wall time of one call, in seconds.

    Calls are grouped so that one sample lasts at least ``min_sample_s`` (the
    clock's resolution then does not matter for small arrays); the number of
    samples fills ``budget_s``, within ``min_repeats``..``max_repeats``.
    """
    function()  # warm up: caches, page faults of the first allocation, thread pool
    inner = 1
    while True:
        start = time.perf_counter()
        for _ in range(inner):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= settings.min_sample_s:
            break
        inner *= 2
    repeats = min(max(int(settings.budget_s / elapsed), settings.min_repeats), settings.max_repeats)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def same_bits(a: FloatArray, b: FloatArray) -> bool:
    """Whether two float32 arrays are equal bit for bit."""
    return a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


class NativeKernels:
    """benches/kernels.c, loaded with ctypes."""

    def __init__(self, path: str) -> None:
        self.library = ctypes.CDLL(path)

    def helios_kernel(self, name: str) -> CFuncPtr:
        """``<name>_kernel`` as a helios.KernelF32."""
        kernel: CFuncPtr = helios.KernelF32((f"{name}_kernel", self.library))
        return kernel

    def plain(self, name: str) -> Callable[[FloatArray, FloatArray], None]:
        """``plain_<name>`` as a function ``run(x, out)`` that fills ``out``."""
        function = getattr(self.library, f"plain_{name}")
        function.restype = None
        function.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

        def run(x: FloatArray, y: FloatArray) -> None:
            function(x.ctypes.data, y.ctypes.data, x.size)

        return run


def format_count(n: int) -> str:
    """``10000`` as ``1e4``; other counts as they are."""
    text = f"{n:.0e}".replace("e+0", "e").replace("e+", "e")
    return text if float(text) == n else str(n)


def format_time(seconds: float) -> str:
    """A time with 3 significant digits in a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


COLUMNS = (
    ("kernel", 8), ("N", 8), ("block", 7), ("plain C", 9), ("numpy", 9),
    ("helios t1", 10), ("helios t2", 10), ("t1/plain", 8), ("t2/plain", 8),
    ("t1/numpy", 8), ("t2/numpy", 8), ("t1/t2", 6),
)  # fmt: skip


def print_row(cells: Sequence[str]) -> None:
    """One table row, aligned on COLUMNS."""
    print(
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS))
        ),
        flush=True,
    )


def time_helios(
    x: FloatArray,
    kernel: Kernel,
    c_kernel: CFuncPtr,
    block: Optional[int],
    threads: int,
    reference: FloatArray,
    settings: Settings,
) -> float:
    """Check one helios configuration against the plain loop's output and time it."""
    out = np.empty_like(x)

    def run() -> FloatArray:
        return helios.parallel_map(
            x, c_kernel, halo=kernel.halo, block_elems=block, threads=threads, out=out
        )

    assert same_bits(run(), reference), (
        f"helios {kernel.name} N={x.size} block={block} threads={threads} "
        f"differs from the plain loop"
    )
    return median_time(run, settings)


def sweep_size(native: NativeKernels, kernel: Kernel, x: FloatArray, settings: Settings) -> bool:
    """Print the rows of one kernel and length; return whether numpy matched C bit for bit."""
    plain = native.plain(kernel.name)
    c_kernel = native.helios_kernel(kernel.name)
    reference, out = np.empty_like(x), np.empty_like(x)
    plain(x, reference)
    t_plain = median_time(lambda: plain(x, out), settings)
    t_numpy = median_time(lambda: kernel.numpy(x, out), settings)
    for block in settings.blocks:
        if block is not None and block >= x.size:
            continue  # a single block: the same as block = N
        t1, t2 = (
            time_helios(x, kernel, c_kernel, block, threads, reference, settings)
            for threads in (1, 2)
        )
        print_row([
            kernel.name, format_count(x.size), "auto" if block is None else str(block),
            format_time(t_plain), format_time(t_numpy), format_time(t1), format_time(t2),
            f"{t1 / t_plain:.2f}", f"{t2 / t_plain:.2f}",
            f"{t1 / t_numpy:.2f}", f"{t2 / t_numpy:.2f}", f"{t1 / t2:.2f}",
        ])  # fmt: skip
    kernel.numpy(x, out)
    return same_bits(out, reference)


def sweep(native: NativeKernels, settings: Settings) -> List[str]:
    """Measure and print every case; return notes about numpy's rounding."""
    rng = np.random.default_rng(7)
    print_row([name for name, _ in COLUMNS])
    print_row(["-" * width for _, width in COLUMNS])
    notes = []
    for kernel in KERNELS:
        for n in settings.sizes:
            x = rng.standard_normal(n).astype(np.float32)
            if not sweep_size(native, kernel, x, settings):
                notes.append(f"{kernel.name} N={n}: numpy rounds differently from the C loop")
    return notes


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the arguments, run the sweep and print the table."""
    parser = argparse.ArgumentParser(
        description="helios.parallel_map against a plain C loop and numpy (the runner sweep)"
    )
    parser.add_argument(
        "--kernels",
        default="build/bench/libbench_kernels.so",
        help="the compiled benches/kernels.c (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.kernels):
        parser.error(f"{args.kernels} not found: build benches/kernels.c first (`make bench` does)")
    settings = QUICK if args.quick else FULL

    print(
        f"helios {helios.version()} ({helios.LIBRARY_PATH}), numpy {np.__version__}, "
        f"Python {sys.version.split()[0]}"
    )
    print(
        f"{os.cpu_count()} CPUs, helios default threads {helios.get_num_threads()}; float32 data; "
        f"median of repeated calls, every contender writing into a preallocated output"
    )
    print(
        "t1, t2: helios.parallel_map with the native kernel on 1 and 2 threads; "
        "ratios below 1 mean helios is faster; t1/t2 is the 2-thread speedup\n"
    )
    start = time.perf_counter()
    notes = sweep(NativeKernels(args.kernels), settings)
    print(
        f"\nevery helios output equals the plain C loop's bit for bit; "
        f"{time.perf_counter() - start:.0f} s in all"
    )
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
