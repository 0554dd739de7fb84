"""helios.NystromEngine: values against numpy and scikit-learn, incremental
updates, determinism, landmark selection, persistence, concurrency, lifetime
and bad input."""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import gc
import inspect
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
from helpers import TOL_F32, TOL_F64, assert_bitwise_equal, max_diff, rbf, reference_embed

import helios
from helios import _nystrom

# The fixed phrases of docs/THREADING.md (as in test_basics).
REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"
SINGLE_OWNER = "single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY)"

SELECTIONS = ["uniform", "kmeans++"]


def tolerance(dtype: np.dtype) -> float:
    return TOL_F32 if dtype == np.float32 else TOL_F64


def reference_normaliser(landmarks: np.ndarray, gamma: float, ridge: float) -> np.ndarray:
    """(K(L, L) + ridge·I)^(-1/2) from np.linalg.eigh, eigenvalues at or below
    m · eps · λ_max counted as 0: the map of ``reference_embed`` on the identity."""
    m = len(landmarks)
    values, vectors = np.linalg.eigh(rbf(landmarks, landmarks, gamma) + ridge * np.eye(m))
    scale = np.zeros_like(values)
    kept = values > m * np.finfo(np.float64).eps * max(values.max(), 0.0)
    scale[kept] = 1.0 / np.sqrt(values[kept])
    result: np.ndarray = (vectors * scale) @ vectors.T
    return result


def row_indices(rows: np.ndarray, x: np.ndarray) -> List[int]:
    """For each of ``rows``, the index of an equal row of ``x`` (or -1)."""
    equal = (rows[:, None, :] == x[None, :, :]).all(axis=-1)
    return [int(np.flatnonzero(hits)[0]) if hits.any() else -1 for hits in equal]


def status_of(call: Callable[[], object]) -> helios.HeliosError:
    with pytest.raises(helios.HeliosError) as caught:
        call()
    return caught.value


# ---- values -----------------------------------------------------------------


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("ridge", [0.0, 1e-6, 0.1])
def test_features_match_a_numpy_reference_on_the_engines_landmarks(
    dtype: np.dtype, rng: np.random.Generator, selection: str, ridge: float
) -> None:
    x = rng.standard_normal((400, 5)).astype(dtype)
    y = rng.standard_normal((150, 5)).astype(dtype)
    engine = helios.NystromEngine(
        gamma=0.2, ridge=ridge, landmark_count=40, selection=selection, seed=3, dtype=dtype
    )
    phi = engine.build(x)
    landmarks = engine.landmarks
    assert phi.shape == (400, 40) and phi.dtype == dtype and phi.flags.c_contiguous
    assert landmarks.shape == (40, 5) and landmarks.dtype == dtype

    diff = max_diff(engine.transform(y), reference_embed(y, landmarks, 0.2, ridge))
    assert diff < tolerance(dtype), f"transform: max abs diff {diff:.3g} vs numpy"
    diff = max_diff(phi, reference_embed(x, landmarks, 0.2, ridge))
    assert diff < tolerance(dtype), f"build: max abs diff {diff:.3g} vs numpy"
    normaliser = engine.normaliser
    assert normaliser.shape == (40, 40) and normaliser.dtype == dtype
    diff = max_diff(normaliser, reference_normaliser(landmarks, 0.2, ridge))
    # The normaliser's entries are larger than Phi's (up to ~1/sqrt(λ_min)).
    scale = float(np.abs(normaliser).max())
    assert diff < tolerance(dtype) * max(scale, 1.0), f"normaliser: max abs diff {diff:.3g}"


@pytest.mark.parametrize("gamma,d,m", [(0.2, 5, 40), (0.1, 8, 64)])
def test_with_ridge_0_the_features_are_scikit_learns_nystroem(
    dtype: np.dtype, rng: np.random.Generator, gamma: float, d: int, m: int
) -> None:
    from sklearn.kernel_approximation import Nystroem

    x = rng.standard_normal((500, d))
    y = rng.standard_normal((200, d))
    engine = helios.NystromEngine(gamma, ridge=0.0, landmark_count=m, seed=11, dtype=dtype)
    engine.build(x.astype(dtype))
    landmarks = engine.landmarks.astype(np.float64)
    # Fitted on the engine's landmarks with n_components = m, Nystroem keeps
    # all of them, in the order of a random permutation (component_indices_);
    # reordering the landmarks reorders the output columns the same way.
    nystroem = Nystroem(kernel="rbf", gamma=gamma, n_components=m, random_state=0).fit(landmarks)
    order = np.asarray(nystroem.component_indices_)
    assert np.array_equal(nystroem.components_, landmarks[order])
    expected = nystroem.transform(y)
    phi = engine.transform(y.astype(dtype))
    diff = max_diff(phi[:, order], expected)
    assert diff < tolerance(dtype), f"max abs diff {diff:.3g} vs sklearn Nystroem ({dtype})"


def test_with_every_row_a_landmark_phi_phi_t_is_the_kernel(rng: np.random.Generator) -> None:
    x = rng.standard_normal((60, 3))
    engine = helios.NystromEngine(0.5, ridge=0.0, landmark_count=60, selection="kmeans++")
    phi = engine.build(x)
    assert sorted(row_indices(engine.landmarks, x)) == list(range(60))
    diff = max_diff(phi @ phi.T, rbf(x, x, 0.5))
    assert diff < 1e-12, f"max abs diff {diff:.3g} between Phi Phiᵀ and K"


def test_duplicate_rows_give_finite_features(dtype: np.dtype, rng: np.random.Generator) -> None:
    base = rng.standard_normal((30, 4))
    x = np.repeat(base, 4, axis=0).astype(dtype)  # every row four times
    for selection in SELECTIONS:
        # 40 landmarks among 30 distinct rows: some landmarks must repeat.
        engine = helios.NystromEngine(
            0.3, ridge=0.0, landmark_count=40, selection=selection, dtype=dtype
        )
        phi = engine.build(x)
        landmarks = engine.landmarks
        assert len(np.unique(landmarks, axis=0)) < 40
        assert np.isfinite(phi).all() and np.isfinite(engine.normaliser).all()
        diff = max_diff(phi, reference_embed(x, landmarks, 0.3, 0.0))
        assert diff < tolerance(dtype), f"{selection}: max abs diff {diff:.3g} vs numpy pinv"


# ---- incremental updates ----------------------------------------------------


def test_build_then_update_equals_transform_of_all_rows(
    dtype: np.dtype, rng: np.random.Generator
) -> None:
    x1 = rng.standard_normal((700, 6)).astype(dtype)
    x2 = rng.standard_normal((333, 6)).astype(dtype)
    x3 = rng.standard_normal((5, 6)).astype(dtype)
    engine = helios.NystromEngine(0.1, landmark_count=50, selection="kmeans++", dtype=dtype)
    phi1 = engine.build(x1)
    before = phi1.copy()
    phi12 = engine.update(x2, phi1)
    assert phi12.shape == (1033, 50) and phi12.dtype == dtype and phi12.flags.c_contiguous
    assert_bitwise_equal(phi1, before)  # phi_old is read, not changed
    assert np.array_equal(phi12, engine.transform(np.vstack([x1, x2])))
    phi123 = engine.update(x3, phi12)
    assert np.array_equal(phi123, engine.transform(np.vstack([x1, x2, x3])))
    # No old rows: the update is a transform.
    assert np.array_equal(engine.update(x2, np.empty((0, 50), dtype)), engine.transform(x2))


def test_update_into_writes_only_the_new_rows(dtype: np.dtype, rng: np.random.Generator) -> None:
    x1 = rng.standard_normal((300, 4)).astype(dtype)
    x2 = rng.standard_normal((120, 4)).astype(dtype)
    x3 = rng.standard_normal((30, 4)).astype(dtype)
    engine = helios.NystromEngine(0.3, landmark_count=24, dtype=dtype)
    phi1 = engine.build(x1)
    used_sentinel, spare_sentinel = 7.0, -3.0
    buffer = np.full((500, 24), spare_sentinel, dtype)
    buffer[:300] = used_sentinel  # stands for the used rows: they must not be touched
    rows = engine.update_into(x2, buffer, rows_used=300)
    assert rows == 420
    assert (buffer[:300] == used_sentinel).all()
    assert np.array_equal(buffer[300:420], engine.transform(x2))
    assert (buffer[420:] == spare_sentinel).all()
    rows = engine.update_into(x3, buffer, rows)
    assert rows == 450 and np.array_equal(buffer[420:450], engine.transform(x3))
    assert (buffer[450:] == spare_sentinel).all()
    # With the real old rows, the buffer holds the features of all rows.
    buffer[:300] = phi1
    assert np.array_equal(buffer[:450], engine.transform(np.vstack([x1, x2, x3])))

    # Too little spare room: BUFFER_TOO_SMALL and nothing written.
    before = buffer.copy()
    error = status_of(lambda: engine.update_into(x2, buffer, rows_used=450))
    assert error.code == helios.Status.BUFFER_TOO_SMALL
    assert "holds 12000 elements but 13680 are needed" in error.message, error.message
    assert_bitwise_equal(buffer, before)


def test_zero_new_rows_are_refused_like_every_empty_input(rng: np.random.Generator) -> None:
    x = rng.standard_normal((50, 3))
    engine = helios.NystromEngine(0.5, landmark_count=8)
    phi = engine.build(x)
    for call in (
        lambda: engine.transform(x[:0]),
        lambda: engine.update(x[:0], phi),
        lambda: engine.update_into(x[:0], np.empty((50, 8)), 50),
    ):
        with pytest.raises(helios.HeliosError, match="n = 0") as caught:
            call()
        assert caught.value.code == helios.Status.INVALID_ARGUMENT


# ---- determinism and landmark selection -------------------------------------


@pytest.mark.parametrize("selection", SELECTIONS)
def test_bit_identical_for_every_thread_count(
    dtype: np.dtype, rng: np.random.Generator, selection: str
) -> None:
    # 5000 rows: many 256-row embedding blocks and two k-means++ distance blocks.
    x = rng.standard_normal((5000, 12)).astype(dtype)
    y = rng.standard_normal((1000, 12)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        engine = helios.NystromEngine(
            0.05, landmark_count=64, selection=selection, seed=5, threads=threads, dtype=dtype
        )
        assert engine.threads == threads
        results.append((engine.build(x), engine.transform(y), engine.landmarks))
    for result in results[1:]:
        for actual, expected in zip(result, results[0]):
            assert_bitwise_equal(actual, expected)
    # Changing the thread count of a built engine changes no bit either.
    engine.threads = None
    assert engine.threads is None
    assert_bitwise_equal(engine.transform(y), results[0][1])
    engine.threads = 2
    assert_bitwise_equal(engine.transform(y), results[0][1])


@pytest.mark.parametrize("selection", SELECTIONS)
def test_landmarks_are_rows_of_x_chosen_by_the_seed(
    rng: np.random.Generator, selection: str
) -> None:
    x = rng.standard_normal((400, 3))

    def landmarks(seed: int) -> np.ndarray:
        engine = helios.NystromEngine(0.5, landmark_count=25, selection=selection, seed=seed)
        engine.build(x)
        result: np.ndarray = engine.landmarks
        return result

    first = landmarks(42)
    assert_bitwise_equal(landmarks(42), first)  # the same seed twice
    other = landmarks(43)
    assert not np.array_equal(other, first)
    for chosen in (first, other):
        indices = row_indices(chosen, x)
        assert -1 not in indices, "a landmark that is not a row of X"
        assert len(set(indices)) == 25, "a row chosen twice"


def test_kmeans_plus_plus_spreads_the_landmarks(rng: np.random.Generator) -> None:
    # 5 tight clusters, one of them holding 96% of the points: uniform sampling
    # rarely leaves it, k-means++ covers every cluster with its first picks.
    centres = np.array([[0, 0], [50, 0], [0, 50], [50, 50], [25, 100]], dtype=np.float64)
    sizes = [960, 10, 10, 10, 10]
    x = np.vstack([c + 0.1 * rng.standard_normal((size, 2)) for c, size in zip(centres, sizes)])
    engine = helios.NystromEngine(0.01, landmark_count=5, selection="kmeans++", seed=1)
    engine.build(x)
    nearest = np.argmin(((engine.landmarks[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3, 4]


# ---- layouts, dtypes and out= -----------------------------------------------


def test_strided_rows_are_passed_without_a_copy_and_give_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    wide = rng.standard_normal((900, 11))
    wide[:, :2] = np.nan  # outside the views: helios must never read them
    wide[:, 8:] = np.inf
    x = wide[::2, 2:8]
    assert not x.flags.c_contiguous
    contiguous = np.ascontiguousarray(x)
    engine = helios.NystromEngine(0.2, landmark_count=30)
    reference = helios.NystromEngine(0.2, landmark_count=30)
    assert_bitwise_equal(engine.build(x), reference.build(contiguous))
    assert_bitwise_equal(engine.landmarks, reference.landmarks)

    seen: List[Tuple[Any, ...]] = []
    flavor = _nystrom._FLAVORS[np.dtype(np.float64)]

    def spy(*args: Any) -> int:
        seen.append(args)
        status: int = flavor.transform(*args)
        return status

    monkeypatch.setitem(
        _nystrom._FLAVORS, np.dtype(np.float64), dataclasses.replace(flavor, transform=spy)
    )
    phi = engine.transform(x)
    (args,) = seen
    address = ctypes.cast(args[1], ctypes.c_void_p).value
    assert address == x.ctypes.data and args[2:5] == (450, 6, 22)  # x, n, d, ldx
    assert_bitwise_equal(phi, reference.transform(contiguous))


def test_out_receives_the_features_and_is_returned(
    dtype: np.dtype, rng: np.random.Generator
) -> None:
    x = rng.standard_normal((200, 3)).astype(dtype)
    engine = helios.NystromEngine(0.5, landmark_count=10, dtype=dtype)
    out = np.full((200, 10), np.nan, dtype)
    assert engine.build(x, out=out) is out
    assert_bitwise_equal(out, engine.transform(x))
    out2 = np.full((50, 10), np.nan, dtype)
    assert engine.transform(x[:50], out=out2) is out2
    assert_bitwise_equal(out2, out[:50])


def test_float32_and_float64_engines_differ_only_by_rounding(rng: np.random.Generator) -> None:
    x = rng.standard_normal((300, 4))
    f64 = helios.NystromEngine(0.3, landmark_count=20, seed=9)
    f32 = helios.NystromEngine(0.3, landmark_count=20, seed=9, dtype=np.float32)
    assert f64.dtype == np.float64 and f32.dtype == np.float32
    phi64, phi32 = f64.build(x), f32.build(x.astype(np.float32))
    assert phi32.dtype == np.float32
    np.testing.assert_array_equal(f32.landmarks, f64.landmarks.astype(np.float32))
    diff = max_diff(phi32, phi64)
    assert diff < TOL_F32, f"max abs diff {diff:.3g} between the float32 and float64 engines"


def test_the_binding_refuses_a_dtype_it_would_have_to_convert(rng: np.random.Generator) -> None:
    x64 = rng.standard_normal((40, 3))
    x32 = x64.astype(np.float32)
    f32 = helios.NystromEngine(0.5, landmark_count=5, dtype=np.float32)
    f64 = helios.NystromEngine(0.5, landmark_count=5, dtype="float64")
    with pytest.raises(TypeError, match="X has dtype float64 but the engine holds float32"):
        f32.build(x64)  # never rounded down silently
    with pytest.raises(TypeError, match="X has dtype float32 but the engine holds float64"):
        f64.build(x32)  # nor widened: the same rule as helios.rkhs_embed
    with pytest.raises(TypeError, match="X has dtype int64"):
        f64.build(np.ones((40, 3), np.int64))
    phi32, phi64 = f32.build(x32), f64.build(x64)
    with pytest.raises(TypeError, match="X_new has dtype float64 but the engine holds float32"):
        f32.update(x64, phi32)
    with pytest.raises(TypeError, match="phi_old has dtype float64 but the engine holds float32"):
        f32.update(x32, phi64)
    with pytest.raises(TypeError, match="buffer has dtype float64 but the engine holds float32"):
        f32.update_into(x32, np.empty((100, 5)), 40)
    with pytest.raises(TypeError, match="out has dtype float64 but the engine holds float32"):
        f32.transform(x32, out=np.empty((40, 5)))
    for bad in (np.int32, np.float16, ">f8", "complex128"):
        with pytest.raises(TypeError, match="dtype must be numpy.float32 or numpy.float64"):
            helios.NystromEngine(0.5, dtype=bad)


def test_layouts_and_shapes_the_binding_refuses(rng: np.random.Generator) -> None:
    x = rng.standard_normal((40, 4))
    engine = helios.NystromEngine(0.5, landmark_count=6)
    phi = engine.build(x)

    def refused(error: type, fragment: str, call: Callable[[], object]) -> None:
        with pytest.raises(error, match=fragment):
            call()

    refused(TypeError, "X must be a numpy.ndarray, got list", lambda: engine.transform(x.tolist()))
    refused(ValueError, "X must be 2-D", lambda: engine.transform(x[0]))
    refused(ValueError, "X is not row-major", lambda: engine.transform(np.asfortranarray(x)))
    refused(ValueError, "X is not row-major", lambda: engine.transform(x[:, ::2]))
    refused(ValueError, "X has rows that are not", lambda: engine.transform(x[::-1]))
    refused(ValueError, "X_new is not row-major", lambda: engine.update(x.T.copy().T, phi))
    refused(
        ValueError,
        r"phi_old must have shape \(rows, 6\).*got \(40, 5\)",
        lambda: engine.update(x, phi[:, :5]),
    )
    refused(ValueError, "phi_old is not C-contiguous", lambda: engine.update(x, phi[::2]))
    refused(TypeError, "phi_old must be a numpy.ndarray", lambda: engine.update(x, phi.tolist()))
    refused(
        ValueError,
        r"buffer must have shape \(rows, 6\)",
        lambda: engine.update_into(x, np.empty(600), 0),
    )
    read_only = np.empty((100, 6))
    read_only.flags.writeable = False
    refused(ValueError, "buffer is read-only", lambda: engine.update_into(x, read_only, 0))
    refused(ValueError, "rows_used must not be negative", lambda: engine.update_into(x, phi, -1))
    refused(TypeError, "rows_used must be an int", lambda: engine.update_into(x, phi, 1.0))
    refused(ValueError, r"out has shape \(40, 5\)", lambda: engine.transform(x, out=phi[:, :5]))
    refused(
        ValueError, "out is not C-contiguous", lambda: engine.build(x, out=np.empty((6, 40)).T)
    )


# ---- bad input helios refuses -----------------------------------------------


@pytest.mark.parametrize(
    "options,fragment",
    [
        ({"gamma": 0.0}, "gamma is 0: it must be finite and > 0"),
        ({"gamma": -1.0}, "gamma is -1: it must be finite and > 0"),
        ({"gamma": float("nan")}, "gamma is NaN"),
        ({"gamma": float("inf")}, "gamma is inf"),
        ({"ridge": -1e-3}, "ridge is -0.001: it must be finite and >= 0"),
        ({"ridge": float("nan")}, "ridge is NaN"),
        ({"landmark_count": 0}, "landmark_count is 0: it must be at least 1"),
        ({"threads": 0}, "thread count is 0"),
        ({"threads": 5000}, "thread count 5000 is larger than the maximum 1024"),
    ],
    ids=[
        "gamma=0",
        "gamma<0",
        "gamma=nan",
        "gamma=inf",
        "ridge<0",
        "ridge=nan",
        "m=0",
        "threads=0",
        "threads=5000",
    ],
)
def test_options_helios_refuses(options: Dict[str, Any], fragment: str) -> None:
    arguments: Dict[str, Any] = {"gamma": 0.5, **options}
    error = status_of(lambda: helios.NystromEngine(**arguments))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert fragment in error.message, error.message


def test_options_the_binding_refuses() -> None:
    cases: List[Tuple[type, str, Dict[str, Any]]] = [
        (
            ValueError,
            "selection must be 'uniform' or 'kmeans\\+\\+', got 'kmeans'",
            {"selection": "kmeans"},
        ),
        (TypeError, "selection must be a str, got int", {"selection": 1}),
        (TypeError, "gamma must be a real number, got str", {"gamma": "0.5"}),
        (TypeError, "ridge must be a real number, got NoneType", {"ridge": None}),
        (ValueError, "landmark_count must not be negative", {"landmark_count": -1}),
        (TypeError, "landmark_count must be an int, got float", {"landmark_count": 2.0}),
        (ValueError, r"seed must be in 0..2\*\*64 - 1, got -1", {"seed": -1}),
        (ValueError, "seed must be in", {"seed": 2**64}),
        (TypeError, "seed must be an int, got float", {"seed": 1.5}),
        (ValueError, "threads must not be negative", {"threads": -2}),
    ]
    for error, fragment, options in cases:
        arguments: Dict[str, Any] = {"gamma": 0.5, **options}
        with pytest.raises(error, match=fragment):
            helios.NystromEngine(**arguments)
    assert helios.NystromEngine(0.5, seed=2**64 - 1).seed == 2**64 - 1
    engine = helios.NystromEngine(0.5)
    with pytest.raises(helios.HeliosError, match="thread count is 0"):
        engine.threads = 0
    with pytest.raises(TypeError, match="threads must be an int"):
        engine.threads = 1.5  # type: ignore[assignment]
    assert engine.threads is None


def test_data_helios_refuses(rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 4))
    engine = helios.NystromEngine(0.5, landmark_count=10)

    error = status_of(lambda: engine.build(x[:0]))
    assert error.code == helios.Status.INVALID_ARGUMENT and "n = 0" in error.message
    error = status_of(lambda: engine.build(np.ones((30, 0))))
    assert error.code == helios.Status.INVALID_ARGUMENT and "d = 0" in error.message
    error = status_of(lambda: engine.build(x[:9]))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert "landmark_count 10 is larger than the 9 rows" in error.message, error.message
    assert not engine.built and engine.dim == 0  # a failed build leaves the engine as it was

    phi = engine.build(x)
    for call in (
        lambda: engine.transform(x[:, :3]),
        lambda: engine.update(x[:, :3], phi),
        lambda: engine.update_into(x[:, :3], np.empty((60, 10)), 30),
    ):
        error = status_of(call)
        assert error.code == helios.Status.INVALID_ARGUMENT
        assert "X has 3 columns but the landmarks have 4" in error.message, error.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_value_is_a_numeric_error_naming_the_row(
    dtype: np.dtype, bad: float
) -> None:
    x = np.random.default_rng(1).standard_normal((700, 3)).astype(dtype)
    engine = helios.NystromEngine(0.5, landmark_count=8, threads=2, dtype=dtype)
    wrong = x.copy()
    wrong[517, 2] = bad  # in the third 256-row block
    message = "row 517 of X holds a NaN or infinite value (column 2)"
    error = status_of(lambda: engine.build(wrong))
    assert error.code == helios.Status.NUMERIC and message in error.message, error.message
    assert not engine.built
    phi = engine.build(x)
    for call in (
        lambda: engine.transform(wrong),
        lambda: engine.update(wrong, phi),
        lambda: engine.update_into(wrong, np.zeros((1400, 8), dtype), 700),
    ):
        error = status_of(call)
        assert error.code == helios.Status.NUMERIC and message in error.message, error.message
    assert_bitwise_equal(engine.transform(x), phi)  # the engine is unchanged


def test_calls_before_build_are_an_invalid_state(tmp_path: Path) -> None:
    engine = helios.NystromEngine(0.5, landmark_count=4)
    x = np.ones((10, 2))
    assert not engine.built and engine.dim == 0
    for call in (
        lambda: engine.transform(x),
        lambda: engine.update(x, np.empty((0, 4))),
        lambda: engine.update_into(x, np.empty((10, 4)), 0),
        lambda: engine.landmarks,
        lambda: engine.normaliser,
        lambda: engine.save(tmp_path / "engine.bin"),
        lambda: engine.to_bytes(),
    ):
        error = status_of(call)
        assert error.code == helios.Status.INVALID_STATE
        assert "not built yet: call build first" in error.message, error.message
    assert not (tmp_path / "engine.bin").exists()


# ---- persistence ------------------------------------------------------------


def assert_same_engine(actual: helios.NystromEngine, expected: helios.NystromEngine) -> None:
    for name in ("dtype", "gamma", "ridge", "landmark_count", "selection", "seed", "built"):
        assert getattr(actual, name) == getattr(expected, name), name
    if expected.built:
        assert actual.dim == expected.dim
        assert_bitwise_equal(actual.landmarks, expected.landmarks)
        assert_bitwise_equal(actual.normaliser, expected.normaliser)


def test_save_and_load_give_the_same_bits(
    dtype: np.dtype, rng: np.random.Generator, tmp_path: Path
) -> None:
    x = rng.standard_normal((300, 5)).astype(dtype)
    engine = helios.NystromEngine(
        0.25, ridge=1e-4, landmark_count=20, selection="kmeans++", seed=77, threads=2, dtype=dtype
    )
    engine.build(x)
    path = tmp_path / "engine.helios"
    engine.save(path)
    assert path.read_bytes() == engine.to_bytes()
    for where in (path, str(path), bytes(path)):
        loaded = helios.NystromEngine.load(where)
        assert_same_engine(loaded, engine)
        assert loaded.threads is None  # the thread count is not saved
        assert_bitwise_equal(loaded.transform(x), engine.transform(x))
    assert helios.NystromEngine.load(path, threads=3).threads == 3
    # Saving again replaces the file (atomically, leaving no temporary file).
    engine.build(x[::-1].copy())
    engine.save(str(path))
    assert_same_engine(helios.NystromEngine.load(path), engine)
    assert [p.name for p in tmp_path.iterdir()] == ["engine.helios"]


def test_to_bytes_and_pickle_round_trip(dtype: np.dtype, rng: np.random.Generator) -> None:
    x = rng.standard_normal((200, 3)).astype(dtype)
    engine = helios.NystromEngine(0.5, landmark_count=12, seed=4, threads=3, dtype=dtype)
    engine.build(x)
    data = engine.to_bytes()
    for source in (data, bytearray(data), memoryview(data)):
        assert_same_engine(helios.NystromEngine.from_bytes(source), engine)
    assert helios.NystromEngine.from_bytes(data, threads=2).threads == 2

    for copied in (pickle.loads(pickle.dumps(engine)), copy.deepcopy(engine), copy.copy(engine)):
        assert_same_engine(copied, engine)
        assert copied.threads == 3  # a copy keeps the thread count
        assert_bitwise_equal(copied.transform(x), engine.transform(x))
    # Copies are independent engines.
    copied = pickle.loads(pickle.dumps(engine, protocol=0))
    engine.close()
    assert copied.built and copied.transform(x).shape == (200, 12)


def test_an_unbuilt_engine_pickles_its_options(rng: np.random.Generator) -> None:
    engine = helios.NystromEngine(
        0.7,
        ridge=0.01,
        landmark_count=9,
        selection="kmeans++",
        seed=123,
        threads=2,
        dtype=np.float32,
    )
    copied = pickle.loads(pickle.dumps(engine))
    assert_same_engine(copied, engine)
    assert not copied.built and copied.threads == 2
    x = rng.standard_normal((50, 2)).astype(np.float32)
    assert_bitwise_equal(copied.build(x), engine.build(x))


def test_corrupt_files_are_format_errors_and_missing_ones_io_errors(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    engine = helios.NystromEngine(0.5, landmark_count=6)
    engine.build(rng.standard_normal((40, 3)))
    good = engine.to_bytes()
    path = tmp_path / "engine.bin"

    def load_error(data: bytes) -> helios.HeliosError:
        path.write_bytes(data)
        error = status_of(lambda: helios.NystromEngine.load(path))
        assert str(path) in error.message, error.message
        from_bytes = status_of(lambda: helios.NystromEngine.from_bytes(data))
        assert from_bytes.code == error.code
        return error

    truncated = [good[:-1], good[: len(good) // 2], good[:20], b""]
    flipped = []
    for position in (0, 9, 30, len(good) // 2, len(good) - 1):  # magic, header, data, checksum
        corrupt = bytearray(good)
        corrupt[position] ^= 0x10
        flipped.append(bytes(corrupt))
    for data in truncated + flipped + [b"not an engine at all" * 10]:
        error = load_error(data)
        assert error.code == helios.Status.FORMAT, error
    assert "checksum mismatch" in load_error(flipped[3]).message
    assert "bad magic" in load_error(good[:20]).message

    error = status_of(lambda: helios.NystromEngine.load(tmp_path / "missing.bin"))
    assert error.code == helios.Status.IO and "missing.bin" in error.message, error.message
    assert status_of(lambda: helios.NystromEngine.load(tmp_path)).code == helios.Status.IO
    error = status_of(lambda: engine.save(tmp_path / "no such folder" / "engine.bin"))
    assert error.code == helios.Status.IO, error
    error = status_of(lambda: helios.NystromEngine.load(""))
    assert error.code == helios.Status.INVALID_ARGUMENT, error
    error = status_of(lambda: engine.save(b"bad\0name"))
    assert error.code == helios.Status.INVALID_ARGUMENT, error
    with pytest.raises(TypeError):
        helios.NystromEngine.load(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be bytes-like"):
        helios.NystromEngine.from_bytes("text")  # type: ignore[arg-type]


# ---- concurrency ------------------------------------------------------------


def test_two_threads_on_one_engine_get_results_or_busy(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2000, 16))
    y = rng.standard_normal((400, 16))
    engine = helios.NystromEngine(0.05, landmark_count=64, threads=1)
    phi = engine.build(x)
    expected = {"transform": engine.transform(y), "update": engine.update(y, phi[:100])}
    calls = {
        "transform": lambda: engine.transform(y),
        "update": lambda: engine.update(y, phi[:100]),
    }
    wanted_successes = 50
    start = threading.Barrier(2)
    outcomes: Dict[str, Dict[str, int]] = {kind: {"ok": 0, "busy": 0} for kind in calls}
    failures: List[str] = []

    def hammer(kind: str) -> None:
        # A BUSY answer comes at once, so one thread may see many in a row
        # while the other is inside: count calls until enough succeeded.
        start.wait()
        deadline = time.monotonic() + 30
        while outcomes[kind]["ok"] < wanted_successes and time.monotonic() < deadline:
            try:
                result = calls[kind]()
            except helios.HeliosError as error:
                if error.code != helios.Status.BUSY or "in use" not in error.message:
                    failures.append(f"{kind}: {error}")
                outcomes[kind]["busy"] += 1
            else:
                if not np.array_equal(result, expected[kind]):
                    failures.append(f"{kind}: wrong result")
                outcomes[kind]["ok"] += 1

    workers = [threading.Thread(target=hammer, args=(kind,)) for kind in calls]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    for kind, counts in outcomes.items():
        assert counts["ok"] == wanted_successes, (kind, counts)
    # Whatever the interleaving, the engine is intact.
    assert_bitwise_equal(engine.transform(y), expected["transform"])
    assert_bitwise_equal(engine.update(y, phi[:100]), expected["update"])
    assert engine.built and engine.dim == 16


def test_a_second_thread_inside_a_long_call_gets_busy(rng: np.random.Generator) -> None:
    x = rng.standard_normal((600, 32))
    big = rng.standard_normal((60000, 32))
    engine = helios.NystromEngine(0.02, landmark_count=256, threads=1)
    engine.build(x)
    small = x[:2]
    expected = engine.transform(small)
    started, done = threading.Event(), threading.Event()
    long_results: List[np.ndarray] = []

    def long_call() -> None:
        # ~0.1 s or more with the GIL released; retried if this thread is the
        # one that finds the engine busy.
        started.set()
        try:
            while not long_results:
                try:
                    long_results.append(engine.transform(big))
                except helios.HeliosError as error:
                    if error.code != helios.Status.BUSY:
                        raise
        finally:
            done.set()

    worker = threading.Thread(target=long_call)
    worker.start()
    started.wait()
    busy = None
    while not done.is_set():
        try:
            assert_bitwise_equal(engine.transform(small), expected)
        except helios.HeliosError as error:
            busy = error
            break
    worker.join()
    assert long_results and long_results[0].shape == (60000, 256)
    if busy is None:
        pytest.skip("the long call finished before this thread got a turn")
    assert busy.code == helios.Status.BUSY and busy.status == "HELIOS_ERR_BUSY"
    assert "the Nyström engine is in use" in busy.message, busy.message
    assert_bitwise_equal(engine.transform(small), expected)


def test_eight_threads_with_their_own_engines_get_the_sequential_bits(
    rng: np.random.Generator,
) -> None:
    problems = []
    for i in range(8):
        dtype = np.float32 if i % 2 else np.float64
        x = rng.standard_normal((800 + 37 * i, 8)).astype(dtype)
        options = {
            "gamma": 0.1 + 0.01 * i,
            "landmark_count": 20 + i,
            "selection": SELECTIONS[i % 3 == 0],
            "seed": i,
            "dtype": dtype,
        }
        problems.append((x, options))

    def run(problem: Tuple[np.ndarray, Dict[str, Any]], threads: int) -> Tuple[np.ndarray, ...]:
        x, options = problem
        with helios.NystromEngine(**options, threads=threads) as engine:
            phi = engine.build(x[:500])
            return engine.update(x[500:], phi), engine.transform(x), engine.landmarks

    expected = [run(problem, 1) for problem in problems]
    start = threading.Barrier(len(problems))

    def concurrent(problem: Tuple[np.ndarray, Dict[str, Any]]) -> Tuple[np.ndarray, ...]:
        start.wait()
        return run(problem, 2)

    with ThreadPoolExecutor(max_workers=len(problems)) as pool:
        results = list(pool.map(concurrent, problems))
    for actual, wanted in zip(results, expected):
        for a, w in zip(actual, wanted):
            assert_bitwise_equal(a, w)


def test_close_during_a_call_waits_for_it(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    x = rng.standard_normal((100, 3))
    engine = helios.NystromEngine(0.5, landmark_count=10)
    expected = engine.build(x)
    inside, closed = threading.Event(), threading.Event()
    flavor = _nystrom._FLAVORS[np.dtype(np.float64)]

    def slow_transform(*args: Any) -> int:
        inside.set()
        assert closed.wait(10)
        status: int = flavor.transform(*args)  # runs after close() returned
        return status

    monkeypatch.setitem(
        _nystrom._FLAVORS,
        np.dtype(np.float64),
        dataclasses.replace(flavor, transform=slow_transform),
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(engine.transform, x)
        assert inside.wait(10)
        engine.close()
        assert engine.closed
        closed.set()
        assert_bitwise_equal(result.result(), expected)
    with pytest.raises(ValueError, match="this helios.NystromEngine is closed"):
        engine.transform(x)


# ---- lifetime ---------------------------------------------------------------


def test_a_closed_engine_refuses_every_call(rng: np.random.Generator, tmp_path: Path) -> None:
    x = rng.standard_normal((30, 2))
    with helios.NystromEngine(0.5, landmark_count=5, seed=8) as engine:
        phi = engine.build(x)
        assert not engine.closed
    assert engine.closed
    for call in (
        lambda: engine.build(x),
        lambda: engine.transform(x),
        lambda: engine.update(x, phi),
        lambda: engine.update_into(x, np.empty((60, 5)), 30),
        lambda: engine.landmarks,
        lambda: engine.normaliser,
        lambda: engine.dim,
        lambda: engine.built,
        lambda: engine.threads,
        lambda: setattr(engine, "threads", 2),
        lambda: engine.save(tmp_path / "engine.bin"),
        lambda: engine.to_bytes(),
        lambda: pickle.dumps(engine),
    ):
        with pytest.raises(ValueError, match="this helios.NystromEngine is closed"):
            call()
    engine.close()  # closing twice is harmless
    assert engine.closed
    # The fixed options stay readable, and so does the repr.
    assert (engine.gamma, engine.landmark_count, engine.seed) == (0.5, 5, 8)
    assert repr(engine).endswith(": closed>")


def test_the_garbage_collector_frees_the_engine() -> None:
    freed: List[int] = []
    engine = helios.NystromEngine(0.5)
    native = engine._native
    real_free = native._free
    native._free = lambda handle: freed.append(handle) or real_free(handle)
    handle = native._handle
    del engine
    gc.collect()
    assert freed == [handle]


def test_repr_and_properties(rng: np.random.Generator) -> None:
    engine = helios.NystromEngine(
        0.25, ridge=0.0, landmark_count=7, selection="kmeans++", seed=3, dtype=np.float32
    )
    assert repr(engine) == (
        "<helios.NystromEngine float32 gamma=0.25 ridge=0.0 landmark_count=7 "
        "selection='kmeans++' seed=3: not built, threads=None>"
    )
    assert (engine.gamma, engine.ridge, engine.landmark_count) == (0.25, 0.0, 7)
    assert (engine.selection, engine.seed, engine.dtype) == ("kmeans++", 3, np.float32)
    assert (engine.built, engine.dim, engine.threads) == (False, 0, None)
    engine.build(rng.standard_normal((20, 3)).astype(np.float32))
    engine.threads = 2
    assert (engine.built, engine.dim, engine.threads) == (True, 3, 2)
    assert repr(engine).endswith(": built, d=3, threads=2>")


def test_every_public_member_states_its_thread_safety() -> None:
    phrases = (REENTRANT, SHAREABLE, SINGLE_OWNER)
    flat = lambda value: " ".join((inspect.getdoc(value) or "").split())  # noqa: E731
    assert SINGLE_OWNER in flat(helios.NystromEngine)
    for name, member in vars(helios.NystromEngine).items():
        if name.startswith("_"):
            continue
        assert any(phrase in flat(member) for phrase in phrases), name
    assert REENTRANT in flat(helios.NystromEngine.load)
    assert REENTRANT in flat(helios.NystromEngine.from_bytes)
    assert SINGLE_OWNER in flat(helios.NystromEngine.transform)
