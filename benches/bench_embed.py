"""The feature-map benchmark: helios.rkhs_embed against numpy and scikit-learn.

For X of n x 64 float32 points and m = 1024 landmarks (n = 100000, or 10000
with --quick) it times, in one process:

* helios.rkhs_embed on 1 and 2 threads (writing into a preallocated ``out``);
* the best numpy version we could write, on 1 and 2 BLAS threads: the
  normaliser from np.linalg.eigh (float64, per call, as helios does), then for
  each chunk of rows one sgemm ``X_c @ (2γL)ᵀ``, the norms subtracted in
  place, ``np.minimum(., 0)``, ``np.exp`` in place and a second sgemm with the
  normaliser into the preallocated output; the chunk size is tuned first;
* scikit-learn's ``Nystroem(kernel="rbf").transform`` with the same landmarks
  (``fit`` on the landmarks themselves, whose ``components_`` are then used by
  every contender), on 1 and 2 BLAS threads; ``fit`` is not timed;
* a large numpy sgemm, as the machine's peak GFLOP/s at 1 and 2 threads.

BLAS thread counts are set with threadpoolctl (in requirements-dev.txt); when
it is missing, numpy and scikit-learn run with their default thread count and
the table says so. Times are the best of --repeats runs. GFLOP/s count the
map's 2·n·m·d + 2·n·m² flops (not the normaliser's eigendecomposition, which
every contender but scikit-learn's transform pays per call: its time is
printed separately). The helios and numpy outputs must agree within 1e-4 (max
abs difference); the difference to scikit-learn is printed.

Usage (after `make python`):

    .venv/bin/python benches/bench_embed.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Dict, List, Optional

import numpy as np

import helios

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is in requirements-dev.txt
    threadpool_info = None
    threadpool_limits = None

D = 64
M = 1024
AGREEMENT = 1e-4


def blas_threads(count: int) -> ContextManager[object]:
    """Limit numpy's (and scipy's) BLAS to ``count`` threads, when threadpoolctl is there."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count)


def best_time(function: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` wall times of ``function()`` (after one warm-up)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def numpy_normaliser(landmarks: np.ndarray, gamma: float, ridge: float) -> np.ndarray:
    """(K(L, L) + ridge·I)^(-1/2) in float64 via eigh, pseudo-inverse below m·eps·λ_max,
    rounded once to the landmarks' dtype (what helios documents)."""
    m = len(landmarks)
    l64 = landmarks.astype(np.float64)
    norms = np.einsum("ij,ij->i", l64, l64)
    gram = l64 @ l64.T
    gram *= -2.0
    gram += norms[:, None]
    gram += norms[None, :]
    np.maximum(gram, 0.0, out=gram)
    gram *= -gamma
    np.exp(gram, out=gram)
    gram[np.diag_indices(m)] = 1.0 + ridge
    values, vectors = np.linalg.eigh(gram)
    cutoff = m * np.finfo(np.float64).eps * max(values.max(), 0.0)
    scale = np.zeros_like(values)
    kept = values > cutoff
    scale[kept] = 1.0 / np.sqrt(values[kept])
    result: np.ndarray = ((vectors * scale) @ vectors.T).astype(landmarks.dtype)
    return result


def numpy_embed(
    x: np.ndarray, landmarks: np.ndarray, gamma: float, ridge: float, out: np.ndarray, chunk: int
) -> np.ndarray:
    """The feature map in numpy, chunk by chunk, in place (see the module docstring)."""
    normaliser = numpy_normaliser(landmarks, gamma, ridge)
    dtype = x.dtype
    scaled_t = np.ascontiguousarray((2.0 * gamma * landmarks).T.astype(dtype))  # d x m
    gamma_l_norms = (gamma * np.einsum("ij,ij->i", landmarks, landmarks)).astype(dtype)
    buffer = np.empty((chunk, len(landmarks)), dtype)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        kernel = buffer[: len(block)]
        # -gamma ||x - l||² = 2γ x·l - γ||l||² - γ||x||², clamped at 0, exp.
        np.matmul(block, scaled_t, out=kernel)
        kernel -= gamma_l_norms
        kernel -= (gamma * np.einsum("ij,ij->i", block, block)).astype(dtype)[:, None]
        np.minimum(kernel, 0.0, out=kernel)
        np.exp(kernel, out=kernel)
        np.matmul(kernel, normaliser, out=out[start : start + len(block)])
    return out


def tune_chunk(
    x: np.ndarray, landmarks: np.ndarray, gamma: float, ridge: float, repeats: int
) -> Dict[int, float]:
    """Time numpy_embed on the first rows for a few chunk sizes."""
    rows = x[: min(len(x), 10_000)]
    out = np.empty((len(rows), len(landmarks)), x.dtype)
    return {
        chunk: best_time(
            functools.partial(numpy_embed, rows, landmarks, gamma, ridge, out, chunk), repeats
        )
        for chunk in (256, 512, 1024, 2048, 4096)
    }


def sgemm_peak(repeats: int) -> float:
    """GFLOP/s of a 3072³ float32 matmul (numpy's BLAS, current thread limit)."""
    size = 3072
    rng = np.random.default_rng(1)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), np.float32)
    seconds = best_time(lambda: np.matmul(a, b, out=out), repeats)
    return 2.0 * size**3 / seconds / 1e9


@dataclass
class Row:
    """One line of the table: ``seconds`` per call, of which ``fixed`` is the
    normaliser (or scikit-learn's fit), paid once per call whatever n."""

    name: str
    threads: int
    seconds: float
    fixed: float = 0.0


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def measure(
    threads: int,
    x: np.ndarray,
    landmarks: np.ndarray,
    gamma: float,
    ridge: float,
    nystroem: Optional[Any],
    repeats: int,
    outputs: Dict[str, np.ndarray],
) -> List[Row]:
    """Time every contender at ``threads`` threads (helios) / BLAS threads (the rest)."""
    n, m = len(x), len(landmarks)
    rows: List[Row] = []

    out = np.empty((n, m), np.float32)
    seconds = best_time(
        functools.partial(helios.rkhs_embed, x, landmarks, gamma, ridge, threads, out=out),
        repeats,
    )
    # A one-row X costs the normaliser and nothing else.
    fixed = best_time(
        functools.partial(helios.rkhs_embed, x[:1], landmarks, gamma, ridge, threads), repeats
    )
    rows.append(Row("helios rkhs_embed", threads, seconds, fixed))
    outputs.setdefault("helios", out)

    timings = tune_chunk(x, landmarks, gamma, ridge, repeats)
    chunk = min(timings, key=timings.__getitem__)
    print(
        f"numpy chunk sizes at {threads} thread(s), first {min(n, 10_000)} rows: "
        + ", ".join(f"{c}: {t * 1e3:.0f} ms" for c, t in timings.items())
        + f" -> {chunk}"
    )
    out = np.empty((n, m), np.float32)
    seconds = best_time(
        functools.partial(numpy_embed, x, landmarks, gamma, ridge, out, chunk), repeats
    )
    fixed = best_time(functools.partial(numpy_normaliser, landmarks, gamma, ridge), repeats)
    rows.append(Row(f"numpy chunked ({chunk} rows)", threads, seconds, fixed))
    outputs.setdefault("numpy", out)

    if nystroem is not None:
        from sklearn.base import clone

        latest: Dict[str, np.ndarray] = {}

        def transform() -> None:
            latest["phi"] = nystroem.transform(x)

        seconds = best_time(transform, max(1, repeats - 1))
        fit = best_time(functools.partial(clone(nystroem).fit, landmarks), repeats)
        rows.append(Row("sklearn Nystroem.transform", threads, seconds))
        rows.append(Row("sklearn fit + transform", threads, fit + seconds, fit))
        outputs.setdefault("sklearn", latest["phi"])
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 10000 instead of 100000")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender")
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    args = parser.parse_args(argv)

    n = 10_000 if args.quick else 100_000
    gamma, ridge = 1.0 / D, 0.0
    flops = 2.0 * n * M * D + 2.0 * n * M * M
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((n, D), dtype=np.float32)
    landmarks = np.ascontiguousarray(x[rng.choice(n, M, replace=False)])

    nystroem = None
    if not args.no_sklearn:
        try:
            import sklearn
            from sklearn.kernel_approximation import Nystroem
        except ImportError:
            print("scikit-learn is not installed: its rows are skipped (make venv)")
        else:
            # Fitted on the landmarks with n_components = m, Nystroem keeps them
            # all, permuted; every contender uses that order.
            nystroem = Nystroem(kernel="rbf", gamma=gamma, n_components=M, random_state=0)
            nystroem.fit(landmarks)
            landmarks = np.ascontiguousarray(nystroem.components_)
            print(f"scikit-learn {sklearn.__version__}")

    print(
        f"helios {helios.version()} ({helios.LIBRARY_PATH}), numpy {np.__version__}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load()}"
    )
    if threadpool_info is not None:
        libraries = ", ".join(
            f"{info['internal_api']} {info.get('version')} ({info.get('architecture')})"
            for info in threadpool_info()
        )
        print(f"BLAS/OpenMP: {libraries}; thread counts set with threadpoolctl")
    else:
        print("threadpoolctl is not installed: numpy and scikit-learn use their default threads")
    print(f"n = {n}, d = {D}, m = {M}, float32, gamma = {gamma}, ridge = {ridge}")
    print(f"map flops 2nmd + 2nm² = {flops / 1e9:.1f} GFLOP; best of {args.repeats} runs\n")

    peaks: Dict[int, float] = {}
    rows: List[Row] = []
    outputs: Dict[str, np.ndarray] = {}
    for threads in (1, 2):
        with blas_threads(threads):
            peaks[threads] = sgemm_peak(args.repeats)
            rows += measure(threads, x, landmarks, gamma, ridge, nystroem, args.repeats, outputs)

    print(
        "\nnumpy sgemm peak (3072³): "
        + ", ".join(f"{peaks[t]:.0f} GFLOP/s at {t} thread(s)" for t in (1, 2))
        + "\n"
    )
    reference = {(row.name, row.threads): row.seconds for row in rows}
    numpy_names = {row.threads: row.name for row in rows if row.name.startswith("numpy")}
    header = (
        f"{'contender':<28} {'thr':>3} {'time (s)':>8} {'fixed':>6} {'GFLOP/s':>7} "
        f"{'% peak':>6} {'map only':>8} {'vs numpy':>8} {'vs sklearn':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        gflops = flops / row.seconds / 1e9
        map_only = flops / max(row.seconds - row.fixed, 1e-9) / 1e9
        versus = []
        for name in (numpy_names[row.threads], "sklearn Nystroem.transform"):
            base = reference.get((name, row.threads))
            versus.append(f"{base / row.seconds:.2f}x" if base else "-")
        print(
            f"{row.name:<28} {row.threads:>3} {row.seconds:>8.3f} {row.fixed:>6.3f} "
            f"{gflops:>7.1f} {100 * gflops / peaks[row.threads]:>5.1f}% {map_only:>8.1f} "
            f"{versus[0]:>8} {versus[1]:>10}"
        )
    print(
        "\nthr: helios threads / BLAS threads. fixed: seconds of the call spent on the "
        "normaliser\n(eigendecomposition of K(L, L); for scikit-learn its fit), paid per call "
        "whatever n.\nGFLOP/s: of the map's flops over the whole time; % peak: of the sgemm "
        "peak at the same\nthread count; map only: GFLOP/s over time - fixed. vs numpy / vs "
        "sklearn: that contender's\ntime (numpy chunked, sklearn transform) at the same thread "
        "count over this row's\n(above 1: this row is faster)."
    )

    difference = float(np.abs(outputs["helios"] - outputs["numpy"]).max())
    print(f"\nmax abs difference helios vs numpy: {difference:.2e} (must be < {AGREEMENT:g})")
    if "sklearn" in outputs:
        versus_sklearn = float(np.abs(outputs["helios"] - outputs["sklearn"]).max())
        print(f"max abs difference helios vs sklearn: {versus_sklearn:.2e}")
    print(f"load average at the end: {load()}")
    if not difference < AGREEMENT:
        print("FAILED: helios and numpy disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
