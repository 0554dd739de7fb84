"""Nearest-neighbour search with helios.VectorIndex: exact (flat) and compressed (PQ).

Run it with `.venv/bin/python examples/python/vector_search.py` after `make python`.

A flat index keeps every vector and finds the exact k nearest ones. A product-
quantized (PQ) index first learns m small codebooks (one per slice of the
vector), then keeps only m bytes per vector: far less memory, approximate
answers. Recall@10 measures how many of the exact 10 nearest neighbours the
PQ index finds. The API follows faiss: search returns (D, I), distances and
ids of shape (n_queries, k).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import helios


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    """The mean fraction of the exact 10 nearest ids that the search found."""
    hits = [len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact)]
    return float(np.mean(hits)) / exact.shape[1]


def random_vectors() -> float:
    """Flat and PQ on 8000 random vectors of 32 values (drawn around 40 centres)."""
    rng = np.random.default_rng(0)
    centres = 4.0 * rng.standard_normal((40, 32))
    points = centres[rng.integers(0, 40, 8200)] + rng.standard_normal((8200, 32))
    data = points[:8000].astype(np.float32)  # the index stores float32
    queries = points[8000:].astype(np.float32)

    # Exact search: no training, add the vectors (ids 0, 1, 2, ...) and search.
    flat = helios.VectorIndex.flat(32)  # metric "l2": squared Euclidean distance
    flat.add(data)
    D, I = flat.search(queries, k=10)
    print(f"flat index: {len(flat)} vectors; query 0's nearest ids {I[0, :5].tolist()}")
    print("            at squared distances " + ", ".join(f"{d:.2f}" for d in D[0, :5]))

    # PQ: 8 sub-spaces of 4 values, 8-bit codes (256 centroids each): 8 bytes
    # per vector instead of 128. Train on the data, then add it.
    pq = helios.VectorIndex.pq(32, m=8, nbits=8, seed=0)
    pq.train(data)
    pq.add(data)
    _, I_pq = pq.search(queries, k=10)
    recall = recall_at_10(I_pq, I)
    print(f"PQ index (m=8, 8 bits): recall@10 {recall:.3f} against the flat index")
    # to_bytes() is what save() writes: the ids and vectors, or codebooks and codes.
    flat_size, pq_size = len(flat.to_bytes()), len(pq.to_bytes())
    print(f"sizes: flat {flat_size / 1e6:.2f} MB, PQ {pq_size / 1e6:.2f} MB (codebooks included)")
    return recall


def digits() -> bool:
    """Flat and PQ on scikit-learn's handwritten digits, then save and reload."""
    x, y = load_digits(return_X_y=True)  # 1797 images of 8 x 8 pixels, bundled
    x = x.astype(np.float32) / 16.0
    database, labels = x[:1700], y[:1700]
    queries, truth = x[1700:], y[1700:]

    flat = helios.VectorIndex.flat(64)
    flat.add(database)
    pq = helios.VectorIndex.pq(64, m=16, nbits=8, seed=0)
    pq.train(database)
    pq.add(database)

    _, exact = flat.search(queries, k=10)
    _, approximate = pq.search(queries, k=10)
    print(f"\ndigits: {len(flat)} images indexed, {len(queries)} queries")
    print(f"PQ index (m=16, 8 bits): recall@10 {recall_at_10(approximate, exact):.3f}")
    # A 5-nearest-neighbour classifier: the most common label among the hits.
    for name, ids in (("flat", exact), ("PQ", approximate)):
        votes = [np.bincount(labels[row[:5]]).argmax() for row in ids]
        print(f"5-NN accuracy with the {name} index: {np.mean(votes == truth):.3f}")

    # Save, load and compare: the loaded index answers with the same bits.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits_pq.hvx"
        pq.save(path)
        loaded = helios.VectorIndex.load(path)
        D_saved, I_saved = pq.search(queries, k=10)
        D_loaded, I_loaded = loaded.search(queries, k=10)
        same = np.array_equal(D_saved, D_loaded) and np.array_equal(I_saved, I_loaded)
        print(f"saved {path.stat().st_size} bytes, reloaded: {loaded}")
        print(f"same results after reload: {same}")
    return same


def main() -> int:
    recall = random_vectors()
    same = digits()
    return 0 if recall > 0.2 and same else 1


if __name__ == "__main__":
    sys.exit(main())
