"""A kernel classifier from a linear one: helios.NystromEngine on the digits data.

Run it with `.venv/bin/python examples/python/nystrom_classifier.py` after `make python`.

An RBF-kernel SVM compares every point with every other one (n x n). The
Nyström engine instead picks m landmarks among the training rows and maps each
point to m features whose dot products approximate the same kernel,
exp(-gamma ||x - y||²), so a linear model on them behaves like a kernel model
at a cost linear in n (on 1347 rows the exact SVM is still quick).
"""

from __future__ import annotations

import sys
import time

from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

import helios


def main() -> int:
    gamma = 0.05

    # 1. 1797 images of 8 x 8 pixels (64 features, values 0..16), scaled to [0, 1].
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )

    # 2. The engine chooses 300 landmarks among the training rows (k-means++
    #    spreads them over the data; the seed makes the choice repeatable) and
    #    returns the training features; transform embeds the test rows with the
    #    same landmarks (float64 data, float64 engine: the default dtype).
    started = time.perf_counter()
    with helios.NystromEngine(gamma, landmark_count=300, selection="kmeans++", seed=0) as engine:
        phi_train = engine.build(x_train)
        phi_test = engine.transform(x_test)
    linear = RidgeClassifier(alpha=1e-3).fit(phi_train, y_train)  # a linear model on Phi
    nystrom_time = time.perf_counter() - started
    nystrom_accuracy = linear.score(phi_test, y_test)

    # 3. The exact kernel machine (same kernel), for comparison.
    started = time.perf_counter()
    svm = SVC(kernel="rbf", gamma=gamma).fit(x_train, y_train)
    svm_time = time.perf_counter() - started
    svm_accuracy = svm.score(x_test, y_test)

    print(f"features: {phi_train.shape} for training, {phi_test.shape} for testing")
    print(f"helios Nyström + ridge: accuracy {nystrom_accuracy:.4f} in {nystrom_time:.3f} s")
    print(f"exact RBF SVC:          accuracy {svm_accuracy:.4f} in {svm_time:.3f} s")
    return 0 if nystrom_accuracy > 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
