"""helios.VectorIndex: flat search against numpy brute force, PQ against faiss
and against its own reconstructions, ids, determinism, persistence,
concurrency, lifetime and bad input."""

from __future__ import annotations

import copy
import doctest
import gc
import inspect
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import pytest
from helpers import assert_bitwise_equal

import helios
from helios import _index

# The fixed phrases of docs/THREADING.md (as in test_basics).
REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"

METRICS = ["l2", "ip"]
NO_ID = 2**64 - 1


def status_of(call: Callable[[], object]) -> helios.HeliosError:
    with pytest.raises(helios.HeliosError) as caught:
        call()
    return caught.value


# ---- independent references ---------------------------------------------------


def brute_force(
    x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, metric: str
) -> Tuple[np.ndarray, np.ndarray]:
    """The k best stored vectors of each query in float64 with numpy alone:
    squared distances by broadcasting (no GEMM identity) or inner products,
    ordered by (distance, id), padded with +inf/-inf and UINT64_MAX."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    ids = np.asarray(ids, np.uint64)
    if metric == "l2":
        keys = ((q64[:, None, :] - x64[None, :, :]) ** 2).sum(axis=-1)
    else:
        keys = -(q64 @ x64.T)
    sign, pad = (1.0, np.inf) if metric == "l2" else (-1.0, -np.inf)
    distances = np.full((len(q), k), pad)
    labels = np.full((len(q), k), NO_ID, np.uint64)
    kept = min(k, len(x))
    for row in range(len(q)):
        order = np.lexsort((ids, keys[row]))[:kept]  # by key, then by id
        distances[row, :kept] = sign * keys[row, order]
        labels[row, :kept] = ids[order]
    return distances, labels


def assert_matches_brute_force(
    index: helios.VectorIndex,
    x: np.ndarray,
    ids: np.ndarray,
    q: np.ndarray,
    k: int,
) -> None:
    """helios' (D, I) equal the numpy reference: the same ids, distances
    within 1e-5 of their scale (||q||² + ||x||² for L2, ||q||·||x|| for IP)."""
    D, I = index.search(q, k)
    assert D.shape == I.shape == (len(q), k)
    assert D.dtype == np.float32 and I.dtype == np.int64 and D.flags.c_contiguous
    expected_d, expected_i = brute_force(x, ids, q, k, index.metric)
    np.testing.assert_array_equal(I.view(np.uint64), expected_i)
    padded = expected_i == NO_ID
    assert (I[padded] == -1).all()
    np.testing.assert_array_equal(D[padded], expected_d[padded])  # the infinities
    position = {int(i): row for row, i in enumerate(np.asarray(ids, np.uint64))}
    norms = (x.astype(np.float64) ** 2).sum(axis=1)
    q_norms = (q.astype(np.float64) ** 2).sum(axis=1)
    for row in range(len(q)):
        for col in np.flatnonzero(~padded[row]):
            stored = norms[position[int(expected_i[row, col])]]
            if index.metric == "l2":
                scale = q_norms[row] + stored
            else:
                scale = np.sqrt(q_norms[row] * stored)
            error = abs(float(D[row, col]) - expected_d[row, col])
            assert error <= 1e-5 * scale + 1e-30, (row, col, D[row, col], expected_d[row, col])


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` found in the same row of ``found``."""
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth)]
    return float(np.mean(hits)) / truth.shape[1]


def flat_index(
    x: np.ndarray, metric: str = "l2", ids: Optional[Any] = None
) -> helios.VectorIndex:
    """A flat index holding the rows of x (with these ids, or 0, 1, 2, ...)."""
    index = helios.VectorIndex.flat(x.shape[1], metric)
    index.add(x, ids)
    return index


# ---- flat search against numpy ----------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_flat_search_equals_numpy_brute_force(rng: np.random.Generator, metric: str) -> None:
    # 1000 vectors: 62 full packs of 16 and a partial one.
    x = rng.standard_normal((1000, 24)).astype(np.float32)
    q = rng.standard_normal((70, 24)).astype(np.float32)  # two query blocks of 64
    index = flat_index(x, metric)
    assert len(index) == 1000 and index.is_trained
    for k in (1, 10, 37):
        assert_matches_brute_force(index, x, np.arange(1000), q, k)


@pytest.mark.parametrize("metric", METRICS)
def test_k_above_the_count_pads_with_minus_one_and_infinity(
    rng: np.random.Generator, metric: str
) -> None:
    x = rng.standard_normal((5, 6)).astype(np.float32)
    q = rng.standard_normal((3, 6)).astype(np.float32)
    index = flat_index(x, metric)
    assert_matches_brute_force(index, x, np.arange(5), q, 8)
    D, I = index.search(q, 8)
    pad = np.inf if metric == "l2" else -np.inf
    assert (I[:, 5:] == -1).all() and (D[:, 5:] == pad).all()
    assert sorted(I[0, :5].tolist()) == [0, 1, 2, 3, 4]
    # An empty index: padding only.
    empty = helios.VectorIndex.flat(6, metric)
    D, I = empty.search(q, 4)
    assert (I == -1).all() and (D == pad).all() and D.shape == (3, 4)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_duplicates_tie_exactly_and_go_to_the_smaller_id(
    rng: np.random.Generator, metric: str
) -> None:
    base = rng.standard_normal((40, 12)).astype(np.float32)
    x = np.vstack([base, base[:10], base[:10]])  # rows 0..9 three times each
    ids = rng.permutation(np.arange(100, 100 + len(x), dtype=np.uint64) * 7)
    index = flat_index(x, metric, ids)
    # Queries at (and near) duplicated vectors: their copies are among the hits.
    q = np.vstack([base[:10], base[:10] + 0.01]).astype(np.float32)
    assert_matches_brute_force(index, x, ids, q, 6)
    # The full ranking: the three copies of a vector sit side by side, with
    # bit-equal distances, in increasing id order.
    D, I = index.search(base[:10], len(x))
    for row in range(10):
        for copied in range(10):
            copies = sorted(int(ids[j]) for j in (copied, 40 + copied, 50 + copied))
            at = np.flatnonzero(np.isin(I[row].view(np.uint64), copies))
            assert at.tolist() == [at[0], at[0] + 1, at[0] + 2]
            assert I[row, at].view(np.uint64).tolist() == copies
            assert D[row, at[0]] == D[row, at[1]] == D[row, at[2]]
        if metric == "l2":
            assert D[row, :3].tolist() == [0.0, 0.0, 0.0]  # a vector's distance to itself


def test_hand_made_ties_are_broken_by_the_smaller_id() -> None:
    # L2 from the origin: four vectors at distance 1, one at distance 4.
    x = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [2, 0]], dtype=np.float32)
    index = flat_index(x, "l2", [9, 3, 5, 1, 0])
    D, I = index.search([0.0, 0.0], 5)
    assert I.tolist() == [[1, 3, 5, 9, 0]]
    assert D.tolist() == [[1.0, 1.0, 1.0, 1.0, 4.0]]
    D, I = index.search([0.0, 0.0], 2)  # the cut falls inside the tie
    assert I.tolist() == [[1, 3]]

    # Inner products with (1, 1): three scores of 1, one of 0, one of -1.
    x = np.array([[1, 0], [0, 1], [2, -1], [0, 0], [-1, 0]], dtype=np.float32)
    index = flat_index(x, "ip", [40, 20, 30, 10, 5])
    D, I = index.search([[1.0, 1.0]], 6)
    assert I.tolist() == [[20, 30, 40, 10, 5, -1]]
    assert D.tolist() == [[1.0, 1.0, 1.0, 0.0, -1.0, -np.inf]]


@pytest.mark.parametrize("metric", METRICS)
def test_a_query_alone_gets_the_bits_it_gets_in_a_batch(
    rng: np.random.Generator, metric: str
) -> None:
    x = rng.standard_normal((700, 20)).astype(np.float32)
    q = rng.standard_normal((130, 20)).astype(np.float32)
    index = flat_index(x, metric)
    D, I = index.search(q, 9, threads=2)
    for row in range(0, 130, 3):
        d_alone, i_alone = index.search(q[row], 9, threads=1)  # a 1-D query is one row
        assert i_alone.shape == (1, 9)
        assert_bitwise_equal(d_alone[0], D[row])
        np.testing.assert_array_equal(i_alone[0], I[row])
    # A batch of other queries around it changes nothing either.
    d_part, i_part = index.search(q[60:75], 9)
    assert_bitwise_equal(d_part, D[60:75])
    np.testing.assert_array_equal(i_part, I[60:75])


# ---- ids ----------------------------------------------------------------------


def test_custom_uint64_ids_then_sequential_ids(rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 4)).astype(np.float32)
    q = rng.standard_normal((5, 4)).astype(np.float32)
    big = [2**63 + 5, 17, 2**40, 2**64 - 3]
    index = helios.VectorIndex.flat(4)
    index.add(x[:4], np.array(big, dtype=np.uint64))
    index.add(x[4])  # sequential: one past the largest id ever added, 2**64 - 2
    all_ids = np.array(big + [2**64 - 2], np.uint64)
    assert len(index) == 5
    for i, id_ in enumerate(all_ids):
        assert_bitwise_equal(index.reconstruct(int(id_)), x[i])
    assert_matches_brute_force(index, x[:5], all_ids, q, 5)
    D, I = index.search(x[0], 1)
    assert I[0, 0] == np.uint64(2**63 + 5).view(np.int64) and I[0, 0] < 0
    assert I.view(np.uint64)[0, 0] == 2**63 + 5
    # No sequential id is left below the padding id 2**64 - 1.
    error = status_of(lambda: index.add(x[5]))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert "sequential ids would pass UINT64_MAX - 1" in error.message, error.message
    assert len(index) == 5
    # An id of 2**63 or more comes back through I.view(np.uint64).
    index.remove(I.view(np.uint64)[0])
    assert len(index) == 4

    # Sequential ids continue after the largest custom one, also after removals.
    index = helios.VectorIndex.flat(4)
    index.add(x[:2], [10, 3])  # a list of Python ints: next id 11
    index.add(x[2:4])  # 11, 12
    index.remove(11)  # one id as an int
    index.add(x[4:6])  # 13, 14: a removed id is never given again
    kept = x[[0, 1, 3, 4, 5]]
    kept_ids = np.array([10, 3, 12, 13, 14])
    assert_matches_brute_force(index, kept, kept_ids, q, 5)
    assert_matches_brute_force(index, kept, kept_ids, x, 2)
    for id_, row in zip(kept_ids, kept):
        assert_bitwise_equal(index.reconstruct(np.int64(id_)), row)


@pytest.mark.parametrize("metric", METRICS)
def test_remove_then_search_equals_numpy_on_the_rest(
    rng: np.random.Generator, metric: str
) -> None:
    x = rng.standard_normal((500, 10)).astype(np.float32)
    ids = rng.permutation(np.arange(500, dtype=np.int64) * 3 + 1)  # int64 ids
    q = rng.standard_normal((40, 10)).astype(np.float32)
    index = flat_index(x, metric, ids)
    gone = rng.choice(500, 180, replace=False)
    index.remove(ids[gone[:100]])  # int64 array
    index.remove(ids[gone[100:]].astype(np.uint64).tolist())  # list of ints
    keep = np.setdiff1d(np.arange(500), gone)
    assert len(index) == len(keep) == 320
    assert_matches_brute_force(index, x[keep], ids[keep], q, 12)
    error = status_of(lambda: index.reconstruct(int(ids[gone[0]])))
    assert error.code == helios.Status.INVALID_ARGUMENT and "is not in the index" in error.message
    # Removing everything leaves an empty index that still searches (padding).
    index.remove(ids[keep])
    assert len(index) == 0
    D, I = index.search(q[:2], 3)
    assert (I == -1).all()


def test_remove_refuses_unknown_or_repeated_ids_and_removes_nothing(
    rng: np.random.Generator,
) -> None:
    x = rng.standard_normal((50, 4)).astype(np.float32)
    q = rng.standard_normal((10, 4)).astype(np.float32)
    index = flat_index(x)
    before = index.search(q, 50)
    for bad, fragment in (
        ([3, 4, 77], "ids[2] = 77 is not in the index"),
        ([3, 4, 3], "ids[2] = 3 appears twice in this call"),
        ([2**64 - 2], "ids[0] = 18446744073709551614 is not in the index"),
        ([], "no ids to remove (n = 0)"),
        (np.empty(0, np.uint64), "no ids to remove (n = 0)"),
    ):
        error = status_of(lambda: index.remove(bad))
        assert error.code == helios.Status.INVALID_ARGUMENT, error
        assert fragment in error.message, error.message
        assert len(index) == 50
    after = index.search(q, 50)
    assert_bitwise_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


def test_add_refuses_duplicate_ids_and_adds_nothing(rng: np.random.Generator) -> None:
    x = rng.standard_normal((20, 4)).astype(np.float32)
    index = flat_index(x[:10], ids=np.arange(10, dtype=np.uint64) + 100)
    for ids, fragment in (
        ([200, 201, 105], "ids[2] = 105 is already in the index"),
        ([200, 201, 200], "ids[2] = 200 appears twice in this call"),
        ([200, 201, 2**64 - 1], "ids[2] is UINT64_MAX"),
    ):
        error = status_of(lambda: index.add(x[10:13], ids))
        assert error.code == helios.Status.INVALID_ARGUMENT, error
        assert fragment in error.message, error.message
        assert len(index) == 10
    # The ids of the failed calls are still free.
    index.add(x[10:13], [200, 201, 202])
    assert len(index) == 13
    assert_bitwise_equal(index.reconstruct(202), x[12])


def test_ids_the_binding_refuses_before_calling_helios(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 4)).astype(np.float32)
    index = helios.VectorIndex.flat(4)
    cases: List[Tuple[type, str, Any]] = [
        (ValueError, r"ids\[1\] is -1: ids must be non-negative", np.array([0, -1, 2])),
        (ValueError, r"ids\[0\] is -5: ids must be non-negative", [-5, 2**63, 1]),
        (ValueError, r"ids\[2\] is 18446744073709551616, larger than", [0, 1, 2**64]),
        (TypeError, r"ids\[0\] must be an int, got float", [1.0, 2.0, 3.0]),
        (TypeError, r"ids\[0\] must be an int, got float64", np.array([1.0, 2.0, 3.0])),
        (TypeError, r"ids\[0\] must be an int, got bool", [True, False, True]),
        (ValueError, "ids must be 1-D", np.arange(3).reshape(3, 1)),
        (ValueError, "ids has 2 ids but X has 3 vectors", [1, 2]),
    ]
    for error, fragment, ids in cases:
        with pytest.raises(error, match=fragment):
            index.add(x, ids)
        assert len(index) == 0
    with pytest.raises(ValueError, match="id is -1: ids must be non-negative"):
        index.reconstruct(-1)
    with pytest.raises(TypeError, match="id must be an int, got float"):
        index.reconstruct(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ids is -1: ids must be non-negative"):
        index.remove(-1)
    index.add(x, np.array([5, 6, 7], np.uint32))  # any unsigned or signed integer dtype
    assert len(index) == 3


# ---- product quantization -----------------------------------------------------


def clustered(
    rng: np.random.Generator, n: int, d: int, clusters: int, n_queries: int
) -> Tuple[np.ndarray, np.ndarray]:
    """n vectors and n_queries queries from the same gaussian clusters."""
    centres = 4.0 * rng.standard_normal((clusters, d))
    labels = rng.integers(0, clusters, n + n_queries)
    points = (centres[labels] + rng.standard_normal((n + n_queries, d))).astype(np.float32)
    return points[:n], points[n:]


def exact_neighbours(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """The exact k nearest rows of x (L2) for each query, in float64 with numpy."""
    x64 = x.astype(np.float64)
    norms = (x64**2).sum(axis=1)
    result = []
    for start in range(0, len(q), 250):
        q64 = q[start : start + 250].astype(np.float64)
        keys = norms[None, :] - 2.0 * q64 @ x64.T  # + ||q||², the same for a row
        near = np.argpartition(keys, k, axis=1)[:, :k]
        order = np.take_along_axis(keys, near, axis=1).argsort(axis=1)
        result.append(np.take_along_axis(near, order, axis=1))
    return np.vstack(result)


@pytest.fixture(scope="module")
def clusters() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """20000 vectors and 1000 queries (d = 32, 50 clusters) and the exact top 10.

    1000 queries rather than 200: over 200, recall@10 moves by about ±0.02
    between equally good codebooks (measured over seeds), more than the
    0.01 margin the faiss comparison allows; over 1000, by about ±0.006.
    """
    x, q = clustered(np.random.default_rng(20240602), 20000, 32, 50, 1000)
    return x, q, exact_neighbours(x, q, 10)


def pq_recall(
    data: Tuple[np.ndarray, np.ndarray, np.ndarray], m: int, nbits: int
) -> Tuple[float, float, helios.VectorIndex]:
    """recall@10 of helios and of faiss.IndexPQ with the same M and nbits."""
    faiss = pytest.importorskip("faiss")
    x, q, truth = data
    index = helios.VectorIndex.pq(x.shape[1], m=m, nbits=nbits, seed=0)
    index.train(x)
    index.add(x)
    _, found = index.search(q, 10)
    reference = faiss.IndexPQ(x.shape[1], m, nbits)
    reference.train(x)
    reference.add(x)
    _, expected = reference.search(q, 10)
    return recall_at(found, truth), recall_at(expected, truth), index


@pytest.mark.parametrize("m", [8, 16])
def test_pq_recall_is_at_least_faiss_minus_0_01(
    clusters: Tuple[np.ndarray, np.ndarray, np.ndarray], m: int
) -> None:
    helios_recall, faiss_recall, index = pq_recall(clusters, m, 8)
    assert index.is_trained and len(index) == 20000 and (index.m, index.nbits) == (m, 8)
    assert helios_recall >= faiss_recall - 0.01, (helios_recall, faiss_recall)


def assert_codes_are_nearest_centroids(
    index: helios.VectorIndex, x: np.ndarray, ids: np.ndarray
) -> None:
    """Every reconstruction is made of centroids (at most 2**nbits distinct
    sub-vectors per sub-space), and each vector's is the nearest of them."""
    m, nbits = index.m, index.nbits
    assert m is not None and nbits is not None
    dsub = index.dim // m
    rebuilt = np.stack([index.reconstruct(int(i)) for i in ids]).astype(np.float64)
    for j in range(m):
        part = rebuilt[:, j * dsub : (j + 1) * dsub]
        centroids = np.unique(part, axis=0)
        assert len(centroids) <= 2**nbits, (j, len(centroids))
        original = x[:, j * dsub : (j + 1) * dsub].astype(np.float64)
        to_centroids = ((original[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=-1)
        chosen = ((original - part) ** 2).sum(axis=1)
        slack = 1e-5 * ((original**2).sum(axis=1) + (part**2).sum(axis=1)) + 1e-6
        assert (chosen <= to_centroids.min(axis=1) + slack).all(), j


@pytest.mark.parametrize("m,nbits", [(16, 4), (32, 1)], ids=["nbits=4", "nbits=1"])
def test_few_bit_codes_work_and_reconstruct_to_centroids(
    clusters: Tuple[np.ndarray, np.ndarray, np.ndarray], m: int, nbits: int
) -> None:
    helios_recall, faiss_recall, index = pq_recall(clusters, m, nbits)
    # Chance is 10 / 20000; fewer bits leave the recall more to the seed.
    assert helios_recall > 0.05, helios_recall
    assert helios_recall >= faiss_recall - 0.015, (helios_recall, faiss_recall)
    x = clusters[0]
    assert_codes_are_nearest_centroids(index, x[:3000], np.arange(3000))


def test_pq_trains_with_exactly_2_to_the_nbits_vectors(rng: np.random.Generator) -> None:
    x = rng.standard_normal((16, 8)).astype(np.float32)
    index = helios.VectorIndex.pq(8, m=2, nbits=4)
    index.train(x)  # 16 vectors, 16 centroids: each vector its own centroid
    index.add(x)
    for i in range(16):
        assert_bitwise_equal(index.reconstruct(i), x[i])
    D, I = index.search(x, 1)
    assert I[:, 0].tolist() == list(range(16)) and (D == 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_pq_distances_are_those_to_the_reconstructed_vectors(
    rng: np.random.Generator, metric: str
) -> None:
    x, q = clustered(rng, 3000, 16, 20, 30)
    ids = rng.permutation(3000).astype(np.uint64) * 5 + 2**40
    index = helios.VectorIndex.pq(16, m=4, nbits=8, metric=metric, seed=3)
    index.train(x)
    index.add(x, ids)
    assert index.metric == metric and len(index) == 3000
    D, I = index.search(q, 20)
    labels = I.view(np.uint64)
    for row in range(len(q)):
        q64 = q[row].astype(np.float64)
        for col in range(20):
            rebuilt = index.reconstruct(int(labels[row, col])).astype(np.float64)
            if metric == "l2":
                expected = float(((q64 - rebuilt) ** 2).sum())
                scale = expected
            else:
                expected = float(q64 @ rebuilt)
                scale = float(np.linalg.norm(q64) * np.linalg.norm(rebuilt))
            assert abs(float(D[row, col]) - expected) <= 1e-4 * scale + 1e-6, (row, col)
    # The hits are the exact search over the reconstructed vectors.
    rebuilt_all = np.stack([index.reconstruct(int(i)) for i in ids])
    _, expected_ids = brute_force(rebuilt_all, ids, q, 20, metric)
    np.testing.assert_array_equal(labels, expected_ids)


# ---- determinism ------------------------------------------------------------


def test_bit_identical_for_every_thread_count(rng: np.random.Generator) -> None:
    # 17000 vectors: searches split them into up to three ranges of 8192+.
    x, q = clustered(rng, 17000, 16, 40, 100)
    results = []
    for threads in (1, 2, 3):
        pq = helios.VectorIndex.pq(16, m=4, nbits=8, seed=11, threads=threads)
        pq.train(x[:3000])
        pq.add(x)
        flat = helios.VectorIndex.flat(16, "ip", threads=threads)
        flat.add(x)
        assert pq.threads == flat.threads == threads
        results.append((*pq.search(q, 10), *flat.search(q, 10), pq.to_bytes(), flat.to_bytes()))
        # The thread count of one search changes no bit either.
        for other in (1, 3, None):
            d_pq, i_pq = pq.search(q, 10, threads=other)
            assert_bitwise_equal(d_pq, results[-1][0])
            np.testing.assert_array_equal(i_pq, results[-1][1])
    for result in results[1:]:
        for distances in (0, 2):
            assert_bitwise_equal(result[distances], results[0][distances])
        for labels in (1, 3):
            np.testing.assert_array_equal(result[labels], results[0][labels])
        assert result[4] == results[0][4] and result[5] == results[0][5]
    # Retrained with another seed, the codebooks differ (the seed is used).
    other = helios.VectorIndex.pq(16, m=4, nbits=8, seed=12)
    other.train(x[:3000])
    other.add(x)
    assert other.to_bytes() != results[0][4]


# ---- persistence ------------------------------------------------------------


def assert_same_index(
    actual: helios.VectorIndex, expected: helios.VectorIndex, q: np.ndarray
) -> None:
    for name in ("kind", "metric", "dim", "m", "nbits", "train_iterations", "seed", "is_trained"):
        assert getattr(actual, name) == getattr(expected, name), name
    assert len(actual) == len(expected)
    assert actual.to_bytes() == expected.to_bytes()
    if expected.is_trained:
        d_actual, i_actual = actual.search(q, 7)
        d_expected, i_expected = expected.search(q, 7)
        assert_bitwise_equal(d_actual, d_expected)
        np.testing.assert_array_equal(i_actual, i_expected)


def persisted_indexes(rng: np.random.Generator) -> Dict[str, helios.VectorIndex]:
    x, _ = clustered(rng, 600, 8, 5, 0)
    flat = helios.VectorIndex.flat(8, threads=2)
    flat.add(x, rng.permutation(600).astype(np.uint64) + 2**63)
    flat.remove([2**63 + 1, 2**63 + 2])
    pq = helios.VectorIndex.pq(
        8, m=2, nbits=6, metric="ip", seed=9, threads=3, train_iterations=7
    )
    pq.train(x)
    pq.add(x)
    untrained = helios.VectorIndex.pq(8, m=4, nbits=8)
    return {"flat": flat, "pq": pq, "untrained": untrained}


def test_save_load_bytes_and_pickle_give_the_same_bits(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    q = rng.standard_normal((20, 8)).astype(np.float32)
    for name, index in persisted_indexes(rng).items():
        path = tmp_path / f"{name}.hvx"
        index.save(path)
        assert path.read_bytes() == index.to_bytes()
        for where in (path, str(path), bytes(path)):
            loaded = helios.VectorIndex.load(where)
            assert_same_index(loaded, index, q)
            assert loaded.threads is None  # the thread count is not saved
        assert helios.VectorIndex.load(path, threads=2).threads == 2
        data = index.to_bytes()
        for source in (data, bytearray(data), memoryview(data)):
            assert_same_index(helios.VectorIndex.from_bytes(source), index, q)
        assert helios.VectorIndex.from_bytes(data, threads=1).threads == 1
        copies = [pickle.loads(pickle.dumps(index)), pickle.loads(pickle.dumps(index, 0))]
        for copied in copies + [copy.copy(index), copy.deepcopy(index)]:
            assert_same_index(copied, index, q)
            assert copied.threads == index.threads  # a copy keeps the thread count
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["flat.hvx", "pq.hvx", "untrained.hvx"]


def test_a_loaded_index_goes_on_where_the_saved_one_stopped(rng: np.random.Generator) -> None:
    x = rng.standard_normal((12, 4)).astype(np.float32)
    index = flat_index(x[:10])  # ids 0..9
    index.remove([9])
    copied = helios.VectorIndex.from_bytes(index.to_bytes())
    for each in (index, copied):
        each.add(x[10])  # id 10: the next id is saved, not recomputed from the ids left
        assert_bitwise_equal(each.reconstruct(10), x[10])
    assert copied.to_bytes() == index.to_bytes()
    # Copies are independent indexes.
    copied.add(x[11])
    assert (len(copied), len(index)) == (11, 10)
    index.close()
    assert len(copied) == 11


def test_corrupt_and_truncated_bytes_are_format_errors(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    good = persisted_indexes(rng)["pq"].to_bytes()
    path = tmp_path / "index.hvx"

    def load_error(data: bytes) -> helios.HeliosError:
        path.write_bytes(data)
        error = status_of(lambda: helios.VectorIndex.load(path))
        assert str(path) in error.message, error.message
        from_bytes = status_of(lambda: helios.VectorIndex.from_bytes(data))
        assert from_bytes.code == error.code
        return error

    truncated = [good[:-1], good[: len(good) // 2], good[:20], b""]
    flipped = []
    for position in (0, 9, 30, 70, len(good) // 2, len(good) - 1):  # magic, header, data, checksum
        corrupt = bytearray(good)
        corrupt[position] ^= 0x10
        flipped.append(bytes(corrupt))
    for data in truncated + flipped + [b"not an index at all" * 10, good + b"\0"]:
        error = load_error(data)
        assert error.code == helios.Status.FORMAT, error
    error = status_of(lambda: helios.VectorIndex.load(tmp_path / "missing.hvx"))
    assert error.code == helios.Status.IO and "missing.hvx" in error.message, error.message
    assert status_of(lambda: helios.VectorIndex.load(tmp_path)).code == helios.Status.IO
    with pytest.raises(TypeError, match="data must be bytes-like"):
        helios.VectorIndex.from_bytes("text")  # type: ignore[arg-type]


class _WriteBetweenSizeAndCopy:
    """Stands for the library in ``helios._index``: after the size query of
    ``helios_index_to_bytes`` (NULL, capacity 0), ``write`` changes the index,
    as another thread could, before the binding asks for the bytes."""

    def __init__(self, lib: Any, write: Callable[[], None]) -> None:
        self._lib = lib
        self._write = write
        self.calls: List[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def helios_index_to_bytes(self, handle: Any, out: Any, capacity: int, needed: Any) -> int:
        self.calls.append(capacity)
        status: int = self._lib.helios_index_to_bytes(handle, out, capacity, needed)
        if len(self.calls) == 1:
            self._write()
        return status


@pytest.mark.parametrize("write", ["add", "remove"])
def test_to_bytes_follows_an_index_that_changes_between_its_calls(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, write: str
) -> None:
    x = rng.standard_normal((40, 4)).astype(np.float32)
    index = flat_index(x[:30])
    before = index.to_bytes()
    change: Callable[[], None] = (
        (lambda: index.add(x[30:])) if write == "add" else (lambda: index.remove(range(10)))
    )
    proxy = _WriteBetweenSizeAndCopy(_index.LIB, change)
    monkeypatch.setattr(_index, "LIB", proxy)
    data = index.to_bytes()
    monkeypatch.undo()
    # The bytes are those of the index after the write, whole.
    assert data == index.to_bytes() != before
    assert len(helios.VectorIndex.from_bytes(data)) == (40 if write == "add" else 20)
    # The first call asked for the size; a grown index needed one more try.
    assert proxy.calls[0] == 0
    assert len(proxy.calls) == (3 if write == "add" else 2)


def test_a_failed_save_leaves_no_temporary_file_and_the_old_file(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    indexes = persisted_indexes(rng)
    old, new = indexes["flat"], indexes["pq"]
    path = tmp_path / "index.hvx"
    old.save(path)
    (tmp_path / "folder").mkdir()
    before = path.read_bytes()
    for target in (tmp_path / "no such folder" / "index.hvx", tmp_path / "folder"):
        error = status_of(lambda: new.save(target))
        assert error.code == helios.Status.IO, error
        assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "index.hvx"]
        assert list((tmp_path / "folder").iterdir()) == []
        assert path.read_bytes() == before
    for bad in ("", b"bad\0name"):
        assert status_of(lambda: new.save(bad)).code == helios.Status.INVALID_ARGUMENT
    # A save that succeeds replaces the file, leaving no temporary file either.
    new.save(path)
    assert path.read_bytes() == new.to_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "index.hvx"]


# ---- concurrency ------------------------------------------------------------


def test_searches_during_adds_and_removes_see_whole_states(rng: np.random.Generator) -> None:
    """4 threads search while 1 thread adds and removes batches in a fixed
    order: every result is the result of one state the writer produced (each
    state rebuilt afterwards in a fresh index and checked against numpy), and
    each searcher sees the states in order."""
    d, k = 8, 6
    q = rng.standard_normal((5, d)).astype(np.float32)
    base = rng.standard_normal((300, d)).astype(np.float32)
    # Batches close to the queries, so that every add or remove changes the hits.
    batches = [
        (q[b % 5] + 0.05 * rng.standard_normal((30, d))).astype(np.float32) for b in range(8)
    ]
    batch_ids = [np.arange(30, dtype=np.uint64) + 1000 * (b + 1) for b in range(8)]
    operations: List[Tuple[str, int]] = [("add", b) for b in range(8)]
    operations += [("remove", b) for b in (0, 3, 5, 1)]

    # The states, as {id: vector}, in the writer's order.
    states: List[Dict[int, np.ndarray]] = [{i: base[i] for i in range(300)}]
    for action, b in operations:
        state = dict(states[-1])
        for id_, vector in zip(batch_ids[b].tolist(), batches[b]):
            if action == "add":
                state[id_] = vector
            else:
                del state[id_]
        states.append(state)

    index = helios.VectorIndex.flat(d, threads=1)
    index.add(base)
    searchers = 4
    start = threading.Barrier(searchers + 1)
    done = threading.Event()
    seen: List[List[Tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(searchers)]
    failures: List[BaseException] = []
    progress = threading.Condition()

    def search(slot: int) -> None:
        try:
            start.wait()
            while not done.is_set():
                D, I = index.search(q, k, threads=1)
                with progress:
                    seen[slot].append((D, I))
                    progress.notify_all()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
            done.set()

    def write() -> None:
        try:
            start.wait()
            for action, b in operations:
                # Wait for two more searches from every searcher: the second
                # starts after the last write and ends before the next one,
                # so every searcher meets every state (and searches run
                # while the writes do).
                with progress:
                    wanted = [len(results) + 2 for results in seen]
                    progress.wait_for(
                        lambda: done.is_set()
                        or all(len(r) >= w for r, w in zip(seen, wanted))
                    )
                if action == "add":
                    index.add(batches[b], batch_ids[b])
                else:
                    index.remove(batch_ids[b])
            with progress:
                wanted = [len(results) + 2 for results in seen]
                progress.wait_for(
                    lambda: done.is_set() or all(len(r) >= w for r, w in zip(seen, wanted))
                )
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            done.set()

    workers = [threading.Thread(target=search, args=(slot,)) for slot in range(searchers)]
    workers.append(threading.Thread(target=write))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert len(index) == len(states[-1])

    # Each state searched sequentially in a fresh index (the distances do not
    # depend on where a vector is stored), and that checked against numpy.
    expected = []
    for state in states:
        ids = np.array(sorted(state), np.uint64)
        vectors = np.stack([state[int(i)] for i in ids])
        fresh = flat_index(vectors, ids=ids)
        assert_matches_brute_force(fresh, vectors, ids, q, k)
        expected.append(fresh.search(q, k))
    assert len({e[1].tobytes() for e in expected}) == len(states)  # all distinguishable

    for results in seen:
        lowest = 0
        observed: Set[int] = set()
        for D, I in results:
            matching = [
                s
                for s in range(lowest, len(states))
                if np.array_equal(I, expected[s][1])
                and np.array_equal(D.view(np.uint32), expected[s][0].view(np.uint32))
            ]
            assert matching, "a search result that is no state of the index"
            lowest = matching[0]  # the states are distinguishable: one match
            observed.add(lowest)
        assert observed == set(range(len(states)))


def test_close_while_other_threads_search(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    q = rng.standard_normal((50, 16)).astype(np.float32)
    index = flat_index(x)
    expected = index.search(q, 5)
    start = threading.Barrier(4)
    outcomes: List[str] = []

    def search() -> None:
        start.wait()
        while True:
            try:
                D, I = index.search(q, 5)
            except ValueError as error:
                closed = "this helios.VectorIndex is closed" in str(error)
                outcomes.append("closed" if closed else repr(error))
                return
            if not (np.array_equal(I, expected[1]) and np.array_equal(D, expected[0])):
                outcomes.append("wrong result")
                return

    workers = [threading.Thread(target=search) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.wait()
    index.close()
    for worker in workers:
        worker.join()
    assert outcomes == ["closed"] * 3


# ---- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments,fragment",
    [
        ({"dim": 0}, "dim is 0"),
        ({"dim": 0, "kind": "pq"}, "dim is 0"),
        ({"dim": 30, "kind": "pq", "m": 8}, "dim 30 is not divisible by pq_m 8"),
        ({"dim": 32, "kind": "pq", "m": 0}, "pq_m 0 is out of range"),
        ({"dim": 65537 * 2, "kind": "pq", "m": 65537}, "pq_m 65537 is out of range"),
        ({"dim": 32, "kind": "pq", "nbits": 0}, "pq_nbits 0 is out of range: use 1 to 8"),
        ({"dim": 32, "kind": "pq", "nbits": 9}, "pq_nbits 9 is out of range: use 1 to 8"),
        ({"dim": 32, "kind": "pq", "train_iterations": 0}, "train_iterations 0 is out of range"),
        ({"dim": 32, "kind": "pq", "train_iterations": 1001}, "train_iterations 1001"),
        ({"dim": 4, "threads": 0}, "thread count is 0"),
        ({"dim": 4, "threads": 5000}, "larger than the maximum 1024"),
    ],
    ids=[
        "dim=0",
        "pq-dim=0",
        "dim%m",
        "m=0",
        "m>65536",
        "nbits=0",
        "nbits=9",
        "iterations=0",
        "iterations=1001",
        "threads=0",
        "threads=5000",
    ],
)
def test_options_helios_refuses(arguments: Dict[str, Any], fragment: str) -> None:
    error = status_of(lambda: helios.VectorIndex(**arguments))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert fragment in error.message, error.message


def test_options_the_binding_refuses() -> None:
    cases: List[Tuple[type, str, Dict[str, Any]]] = [
        (ValueError, "metric must be 'l2' or 'ip', got 'cosine'", {"metric": "cosine"}),
        (TypeError, "metric must be a str, got int", {"metric": 1}),
        (ValueError, "kind must be 'flat' or 'pq', got 'hnsw'", {"kind": "hnsw"}),
        (ValueError, "dim must not be negative", {"dim": -1}),
        (TypeError, "dim must be an int, got float", {"dim": 4.0}),
        (ValueError, r"nbits must be in 0..2\*\*32 - 1", {"kind": "pq", "nbits": 2**32 + 8}),
        (TypeError, "m must be an int, got str", {"kind": "pq", "m": "2"}),
        (ValueError, r"seed must be in 0..2\*\*64 - 1", {"kind": "pq", "seed": -1}),
        (ValueError, "threads must not be negative", {"threads": -2}),
    ]
    for error, fragment, options in cases:
        arguments: Dict[str, Any] = {"dim": 8, "m": 2, **options}
        with pytest.raises(error, match=fragment):
            helios.VectorIndex(**arguments)
    assert helios.VectorIndex.pq(8, 2, seed=2**64 - 1).seed == 2**64 - 1
    index = helios.VectorIndex.flat(4)
    with pytest.raises(helios.HeliosError, match="thread count is 0"):
        index.threads = 0
    with pytest.raises(TypeError, match="threads must be an int"):
        index.threads = 1.5  # type: ignore[assignment]
    with pytest.raises(TypeError, match="k must be an int"):
        index.search(np.zeros(4), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must not be negative"):
        index.search(np.zeros(4), -1)
    assert index.threads is None


def test_a_pq_index_must_be_trained_first_and_retrained_only_when_empty(
    rng: np.random.Generator,
) -> None:
    x = rng.standard_normal((400, 8)).astype(np.float32)
    index = helios.VectorIndex.pq(8, m=2, nbits=8)
    assert not index.is_trained and len(index) == 0
    for call in (lambda: index.search(x[:3], 2), lambda: index.add(x)):
        error = status_of(call)
        assert error.code == helios.Status.INVALID_STATE, error
        assert "not trained" in error.message, error.message
    error = status_of(lambda: index.train(x[:255]))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert "train needs at least 256 vectors" in error.message, error.message
    assert not index.is_trained
    index.train(x[:256])
    index.train(x)  # again, while empty
    assert index.is_trained
    index.add(x)
    error = status_of(lambda: index.train(x))
    assert error.code == helios.Status.INVALID_STATE
    assert "remove them before training again" in error.message, error.message
    index.remove(np.arange(400))
    index.train(x[::-1])  # empty again: allowed
    # A flat index needs no training; train only checks the vectors.
    flat = helios.VectorIndex.flat(8)
    flat.train(x)
    assert flat.is_trained and len(flat) == 0


@pytest.mark.parametrize("kind", ["flat", "pq"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_values_are_refused_naming_the_row(
    rng: np.random.Generator, kind: str, bad: float
) -> None:
    x = rng.standard_normal((300, 4)).astype(np.float32)
    index = helios.VectorIndex(4, kind, m=2, nbits=4)
    index.train(x)
    index.add(x)
    q = x[:10].copy()
    before = index.search(q, 3)
    wrong = x[:10].copy()
    wrong[7, 1] = bad
    for call, name in (
        (lambda: index.add(wrong), "X"),
        (lambda: index.train(wrong), "X"),
        (lambda: index.search(wrong, 3), "queries"),
    ):
        error = status_of(call)
        assert error.code == helios.Status.NUMERIC, error
        assert f"row 7 of {name} holds a NaN or infinite value (column 1)" in error.message
    # float64 values beyond the float32 range become infinities: refused too.
    huge = x[:10].astype(np.float64)
    huge[2, 3] = 1e300
    error = status_of(lambda: index.add(huge))
    assert "row 2 of X holds a NaN or infinite value (column 3)" in error.message
    big = np.full((1, 4), 1e20, np.float32)  # finite, but its squared norm is not
    assert "squared norm exceeds f32::MAX / 4" in status_of(lambda: index.add(big)).message
    assert len(index) == 300
    after = index.search(q, 3)
    assert_bitwise_equal(after[0], before[0])


def test_k_0_wrong_dimensions_and_empty_arrays_are_refused(rng: np.random.Generator) -> None:
    x = rng.standard_normal((20, 4)).astype(np.float32)
    index = flat_index(x)
    refused: List[Tuple[Callable[[], object], str]] = [
        (lambda: index.search(x, 0), "k is 0: ask for at least one neighbour"),
        (lambda: index.search(x[:, :3], 2), "queries: 3 values per vector, but the index"),
        (lambda: index.add(np.ones((2, 5))), "X: 5 values per vector, but the index has dim 4"),
        (lambda: index.train(np.ones(3)), "X: 3 values per vector, but the index has dim 4"),
        (lambda: index.add(np.empty((0, 4))), "X: no vectors (n = 0)"),
        (lambda: index.add([]), "X: no vectors (n = 0)"),
        (lambda: index.train(np.empty((0, 4))), "X: no vectors (n = 0)"),
        (lambda: index.search(np.empty((0, 4)), 3), "queries: no vectors (n = 0)"),
        (lambda: index.remove([]), "no ids to remove (n = 0)"),
        (lambda: index.reconstruct(20), "id 20 is not in the index"),
    ]
    for call, fragment in refused:
        error = status_of(call)
        assert error.code == helios.Status.INVALID_ARGUMENT, error
        assert fragment in error.message, error.message
    assert len(index) == 20


def test_any_real_array_like_is_converted_to_float32(rng: np.random.Generator) -> None:
    x64 = rng.standard_normal((60, 6))
    x32 = x64.astype(np.float32)
    q64 = rng.standard_normal((7, 6))
    reference = flat_index(x32)
    expected = reference.search(q64.astype(np.float32), 4)
    wide = np.full((120, 10), np.nan)  # outside the view: never read
    wide[::2, 2:8] = x64
    for layout in (x64, x64.tolist(), np.asfortranarray(x64), wide[::2, 2:8], x32.T.copy().T):
        index = helios.VectorIndex.flat(6)
        index.add(layout)
        assert index.to_bytes() == reference.to_bytes()
    strided = np.full((14, 9), np.inf)
    strided[::2, 1:7] = q64
    for queries in (q64, q64.tolist(), np.asfortranarray(q64), strided[::2, 1:7]):
        D, I = reference.search(queries, 4)
        assert_bitwise_equal(D, expected[0])
        np.testing.assert_array_equal(I, expected[1])
    ints = flat_index(np.arange(12).reshape(3, 4), metric="l2")
    D, I = ints.search([0, 1, 2, 3], 1)
    assert I.tolist() == [[0]] and D.tolist() == [[0.0]]
    for bad in (np.ones((2, 6), bool), np.ones((2, 6), complex), [["a"] * 6]):
        with pytest.raises(TypeError, match="X must hold real numbers"):
            reference.add(bad)
    with pytest.raises(ValueError, match="X must be 2-D .* or 1-D"):
        reference.add(np.ones((2, 3, 6)))
    with pytest.raises(ValueError, match="Q must be 2-D"):
        reference.search(np.ones((1, 1, 6)), 1)
    assert len(reference) == 60


# ---- lifetime, properties and documentation -------------------------------------


def test_a_closed_index_refuses_every_call(rng: np.random.Generator, tmp_path: Path) -> None:
    x = rng.standard_normal((10, 4)).astype(np.float32)
    with helios.VectorIndex.pq(4, m=2, nbits=1, seed=5) as index:
        index.train(x)
        index.add(x)
        assert not index.closed
    assert index.closed
    for call in (
        lambda: index.train(x),
        lambda: index.add(x),
        lambda: index.remove([0]),
        lambda: index.search(x, 1),
        lambda: index.reconstruct(0),
        lambda: len(index),
        lambda: index.is_trained,
        lambda: index.threads,
        lambda: setattr(index, "threads", 2),
        lambda: index.save(tmp_path / "index.hvx"),
        lambda: index.to_bytes(),
        lambda: pickle.dumps(index),
    ):
        with pytest.raises(ValueError, match="this helios.VectorIndex is closed"):
            call()
    index.close()  # closing twice is harmless
    assert index.closed and bool(index)
    # The fixed options stay readable, and so does the repr.
    options = (index.kind, index.metric, index.dim, index.m, index.nbits, index.seed)
    assert options == ("pq", "l2", 4, 2, 1, 5)
    assert repr(index) == "<helios.VectorIndex pq l2 dim=4 m=2 nbits=1 seed=5: closed>"
    assert not list(tmp_path.iterdir())


def test_the_garbage_collector_frees_the_index() -> None:
    freed: List[int] = []
    index = helios.VectorIndex.flat(3)
    native = index._native
    real_free = native._free
    native._free = lambda handle: freed.append(handle) or real_free(handle)
    handle = native._handle
    del index
    gc.collect()
    assert freed == [handle]


def test_repr_and_properties(rng: np.random.Generator) -> None:
    flat = helios.VectorIndex.flat(3, "ip", threads=2)
    assert (flat.kind, flat.metric, flat.dim, flat.threads) == ("flat", "ip", 3, 2)
    assert (flat.m, flat.nbits, flat.seed, flat.train_iterations) == (None, None, None, None)
    assert flat.is_trained and len(flat) == 0 and bool(flat)  # an empty index is still true
    assert repr(flat) == "<helios.VectorIndex flat ip dim=3: 0 vectors, threads=2>"
    flat.threads = None
    assert flat.threads is None
    pq = helios.VectorIndex.pq(6, m=3, nbits=2, seed=7, train_iterations=4)
    options = (pq.kind, pq.metric, pq.m, pq.nbits, pq.seed, pq.train_iterations)
    assert options == ("pq", "l2", 3, 2, 7, 4)
    assert repr(pq) == (
        "<helios.VectorIndex pq l2 dim=6 m=3 nbits=2 seed=7: not trained, threads=None>"
    )
    pq.train(rng.standard_normal((8, 6)))
    pq.add(rng.standard_normal((5, 6)))
    assert len(pq) == 5
    assert repr(pq).endswith(": 5 vectors, threads=None>")
    defaults = helios.VectorIndex.pq(32)
    assert (defaults.m, defaults.nbits, defaults.seed, defaults.train_iterations) == (16, 8, 0, 25)


def test_every_public_member_states_its_thread_safety() -> None:
    flat = lambda value: " ".join((inspect.getdoc(value) or "").split())  # noqa: E731
    assert SHAREABLE in flat(helios.VectorIndex)
    for name, member in vars(helios.VectorIndex).items():
        if name.startswith("_") and name != "__len__":
            continue
        assert SHAREABLE in flat(member) or REENTRANT in flat(member), name
    for constructor in ("flat", "pq", "load", "from_bytes"):
        assert REENTRANT in flat(getattr(helios.VectorIndex, constructor)), constructor
    assert "VectorIndex" in helios.__all__


def test_the_examples_in_the_docstrings_run() -> None:
    failures, tried = doctest.testmod(_index, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
