"""The RBF feature map from Python: kernel ridge regression with a linear solve.

Run it with `python examples/python/embed.py` once `make python` has run.

helios.rkhs_embed(X, landmarks, gamma) returns Phi(X), an n x m matrix whose
rows are points of a feature space in which dot products approximate the RBF
kernel: Phi(X) @ Phi(Y).T ≈ exp(-gamma ||x - y||²). A linear model on Phi is
then (approximately) a kernel model, at the cost of an n x m matrix instead
of an n x n one.
"""

from __future__ import annotations

import sys

import numpy as np

import helios


def main() -> int:
    rng = np.random.default_rng(0)
    gamma = 2.0

    # 1. A noisy 1-D target, y = sin(3x) + noise, on 5000 points.
    x = rng.uniform(-2.0, 2.0, size=(5000, 1))
    y = np.sin(3.0 * x[:, 0]) + 0.1 * rng.standard_normal(len(x))

    # 2. 64 landmarks drawn from the data, and the features of every point.
    #    float64 in, float64 out (float32 in would give float32 out).
    landmarks = x[rng.choice(len(x), 64, replace=False)]
    phi = helios.rkhs_embed(x, landmarks, gamma)
    print(f"Phi: {phi.shape} {phi.dtype} from X {x.shape} and {len(landmarks)} landmarks")

    # 3. The features reproduce the kernel: compare Phi Phiᵀ with K on a few points.
    some = phi[:200]
    kernel = np.exp(-gamma * (x[:200] - x[:200].T) ** 2)
    print(f"max |Phi Phiᵀ - K| on 200 points: {np.abs(some @ some.T - kernel).max():.2e}")

    # 4. Ridge regression on the features (a 64 x 64 solve instead of 5000 x 5000).
    weights = np.linalg.solve(phi.T @ phi + 1e-3 * np.eye(phi.shape[1]), phi.T @ y)
    grid = np.linspace(-2.0, 2.0, 9)[:, None]
    prediction = helios.rkhs_embed(grid, landmarks, gamma) @ weights
    error = np.abs(prediction - np.sin(3.0 * grid[:, 0])).max()
    for point, value in zip(grid[:, 0], prediction):
        print(f"  f({point:+.1f}) = {value:+.3f}   sin(3x) = {np.sin(3.0 * point):+.3f}")
    print(f"max error on the grid: {error:.3f}")

    # 5. Errors come back as helios.HeliosError with the C status and message.
    bad = x.copy()
    bad[42, 0] = np.nan
    try:
        helios.rkhs_embed(bad, landmarks, gamma)
    except helios.HeliosError as caught:
        print(f"a NaN in X: {caught.status}: {caught.message}")
    return 0 if error < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
