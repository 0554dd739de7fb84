"""The vector-index benchmark: helios.VectorIndex against faiss and numpy.

On structured float32 data (d = 128 points on a random 32-dimensional
linear subspace plus 0.1 noise, generated with fixed seeds: faiss' IndexPQ
with M = 16 finds about 0.42 of the true 10 nearest, as on SIFT-like
descriptors), 1 000 queries from the same distribution and k = 10, it times
in one process, on 1 and 2 threads:

* flat exact search: helios (``VectorIndex.flat``), faiss ``IndexFlatL2``
  and the best numpy we could write (blocks of 65 536 base vectors:
  ``||x||² - 2 q·x`` by one sgemm, ``argpartition``, then a merge), with ids
  checked equal to faiss' (ties aside: the check reports the share of equal
  rows);
* product quantization, M = 16, nbits = 8: helios (``VectorIndex.pq``)
  against faiss ``IndexPQ``: training time (on 65 536 vectors, faiss' cap
  of 256 per centroid, both), add time, QPS and recall@10 (the share of the
  exact 10 nearest found in the 10 returned);
* the dense-versus-PQ sweep: N = 10⁴, 10⁵, 10⁶ at 1 and 2 threads, flat
  and PQ QPS side by side, with PQ's recall and the bytes per vector.

faiss runs its own OpenMP threads (``faiss.omp_set_num_threads``) and numpy
its BLAS threads (threadpoolctl). Times are the best of --repeats runs
after a warm-up. N is 1 000 000 (about 3 GB in all), 100 000 with --quick.

Usage (after `make python`):

    .venv/bin/python benches/bench_index.py [--quick] [--repeats R]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Callable, ContextManager, Dict, List, Optional, Tuple

import numpy as np

import helios

try:
    import faiss
except ImportError:  # pragma: no cover - faiss-cpu is in requirements-dev.txt
    faiss = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is in requirements-dev.txt
    threadpool_limits = None

D = 128
K = 10
N_QUERIES = 1000
PQ_M = 16
PQ_NBITS = 8
TRAIN_ROWS = 65_536
LATENT = 32


def blas_threads(count: int) -> ContextManager[object]:
    """Limit numpy's BLAS to ``count`` threads, when threadpoolctl is there."""
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


def once(function: Callable[[], object]) -> float:
    """The wall time of one call (for steps that change the index: train, add)."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def structured(n: int, seed: int) -> np.ndarray:
    """``n`` points ``z A + 0.1 e``: z of LATENT standard normal values, A a fixed
    LATENT x D matrix (the same for every seed), e standard normal noise."""
    basis = np.random.default_rng(12345).standard_normal((LATENT, D), dtype=np.float32)
    basis /= np.sqrt(LATENT)
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, LATENT), dtype=np.float32) @ basis
    points += 0.1 * rng.standard_normal((n, D), dtype=np.float32)
    return points


def numpy_search(base: np.ndarray, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Exact L2 search in numpy, in blocks of base vectors (see the module docstring)."""
    block = 65_536
    q_norms = np.einsum("ij,ij->i", queries, queries)
    best_d = np.full((len(queries), k), np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    for start in range(0, len(base), block):
        chunk = base[start : start + block]
        dist = queries @ chunk.T
        dist *= -2.0
        dist += np.einsum("ij,ij->i", chunk, chunk)[None, :]
        kk = min(k, len(chunk))
        part = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        cand_d = np.concatenate([best_d, np.take_along_axis(dist, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(cand_d, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_d + q_norms[:, None], best_i


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of each row of ``truth`` found anywhere in the same row of ``found``."""
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth))
    return hits / truth.size


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def flat_rows(
    base: np.ndarray, queries: np.ndarray, threads: int, repeats: int, numpy_too: bool
) -> Tuple[List[Tuple[str, float]], np.ndarray]:
    """(name, seconds) per flat contender at ``threads``, and helios' ids."""
    rows: List[Tuple[str, float]] = []
    index = helios.VectorIndex.flat(D, threads=threads)
    index.add(base)
    ids = index.search(queries, K)[1]
    rows.append(("helios flat", best_time(lambda: index.search(queries, K), repeats)))
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
        reference = faiss.IndexFlatL2(D)
        reference.add(base)
        faiss_ids = reference.search(queries, K)[1]
        rows.append(("faiss IndexFlatL2", best_time(lambda: reference.search(queries, K), repeats)))
        same = float(np.mean(np.all(faiss_ids == ids, axis=1)))
        rows.append((f"  (rows with ids equal to faiss: {same:.3f})", float("nan")))
    if numpy_too:
        with blas_threads(threads):
            rows.append(
                ("numpy blocked", best_time(lambda: numpy_search(base, queries, K), repeats))
            )
    del index
    return rows, ids


def pq_rows(
    base: np.ndarray, queries: np.ndarray, truth: np.ndarray, threads: int, repeats: int
) -> List[Tuple[str, float, float, float, float]]:
    """(name, train s, add s, search s, recall@10) for helios and faiss PQ."""
    train = base[:TRAIN_ROWS]
    rows = []
    index = helios.VectorIndex.pq(D, m=PQ_M, nbits=PQ_NBITS, seed=0, threads=threads)
    train_s = once(lambda: index.train(train))
    add_s = once(lambda: index.add(base))
    ids = index.search(queries, K)[1]
    search_s = best_time(lambda: index.search(queries, K), repeats)
    rows.append(("helios PQ", train_s, add_s, search_s, recall(ids, truth)))
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
        reference = faiss.IndexPQ(D, PQ_M, PQ_NBITS)
        train_s = once(lambda: reference.train(train))
        add_s = once(lambda: reference.add(base))
        ids = reference.search(queries, K)[1]
        search_s = best_time(lambda: reference.search(queries, K), repeats)
        rows.append(("faiss IndexPQ", train_s, add_s, search_s, recall(ids, truth)))
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 100 000 instead of 1 000 000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else 1_000_000
    print(f"bench_index: d = {D}, N = {n}, {N_QUERIES} queries, k = {K}; load {load()}")
    if faiss is None:
        print("faiss is not installed: `pip install -r requirements-dev.txt` (faiss-cpu)")
    base = structured(n, 1)
    queries = structured(N_QUERIES, 2)

    truths: Dict[int, np.ndarray] = {}
    print("\n## Flat (exact) search")
    print(f"{'contender':<34} {'threads':>7} {'seconds':>9} {'QPS':>9} {'vs faiss':>9}")
    for threads in (1, 2):
        rows, ids = flat_rows(base, queries, threads, args.repeats, numpy_too=True)
        truths[n] = ids
        faiss_s = dict(rows).get("faiss IndexFlatL2")
        for name, seconds in rows:
            if seconds != seconds:  # NaN: a note line
                print(name)
                continue
            ratio = f"{faiss_s / seconds:8.2f}x" if faiss_s else "      n/a"
            print(f"{name:<34} {threads:>7} {seconds:>9.3f} {N_QUERIES / seconds:>9.0f} {ratio}")

    print(f"\n## PQ, M = {PQ_M}, nbits = {PQ_NBITS} (trained on {TRAIN_ROWS} vectors)")
    print(f"{'contender':<16} {'threads':>7} {'train s':>8} {'add s':>7} {'search s':>9} "
          f"{'QPS':>8} {'recall@10':>9} {'QPS vs faiss':>12}")
    for threads in (1, 2):
        rows = pq_rows(base, queries, truths[n], threads, args.repeats)
        faiss_s = next((r[3] for r in rows if r[0] == "faiss IndexPQ"), None)
        for name, train_s, add_s, search_s, rec in rows:
            ratio = f"{faiss_s / search_s:11.2f}x" if faiss_s else "         n/a"
            print(f"{name:<16} {threads:>7} {train_s:>8.2f} {add_s:>7.2f} {search_s:>9.3f} "
                  f"{N_QUERIES / search_s:>8.0f} {rec:>9.3f} {ratio}")

    print("\n## Dense versus PQ (helios): which wins where")
    print(f"{'N':>9} {'threads':>7} {'flat QPS':>9} {'PQ QPS':>9} {'PQ/flat':>8} "
          f"{'PQ recall':>9} {'flat B/vec':>10} {'PQ B/vec':>8} {'PQ train+add s':>14}")
    for size in (10_000, 100_000, 1_000_000):
        if size > n:
            continue
        part = base[:size]
        for threads in (1, 2):
            index = helios.VectorIndex.flat(D, threads=threads)
            index.add(part)
            truth = index.search(queries, K)[1]
            flat_s = best_time(lambda: index.search(queries, K), args.repeats)
            del index
            pq = helios.VectorIndex.pq(D, m=PQ_M, nbits=PQ_NBITS, seed=0, threads=threads)
            build_s = once(lambda: pq.train(part[:TRAIN_ROWS])) + once(lambda: pq.add(part))
            ids = pq.search(queries, K)[1]
            pq_s = best_time(lambda: pq.search(queries, K), args.repeats)
            print(f"{size:>9} {threads:>7} {N_QUERIES / flat_s:>9.0f} {N_QUERIES / pq_s:>9.0f} "
                  f"{flat_s / pq_s:>7.2f}x {recall(ids, truth):>9.3f} {4 * D:>10} {PQ_M:>8} "
                  f"{build_s:>14.2f}")
    print(f"\nload at the end: {load()}")


if __name__ == "__main__":
    main()
