"""helios.rkhs_embed: values against numpy and scikit-learn, kernel approximation,
determinism, layouts, concurrency, the released GIL and bad input."""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
from helpers import TOL_F32, TOL_F64, assert_bitwise_equal, max_diff, rbf, reference_embed, tolerance

import helios
from helios import _embed

# ---- values -----------------------------------------------------------------


@pytest.mark.parametrize("ridge", [0.0, 1e-6, 0.1])
def test_matches_a_numpy_eigh_reference(
    dtype: np.dtype, rng: np.random.Generator, ridge: float
) -> None:
    x = rng.standard_normal((300, 5)).astype(dtype)
    landmarks = rng.standard_normal((40, 5)).astype(dtype)
    phi = helios.rkhs_embed(x, landmarks, gamma=0.2, ridge=ridge)
    assert phi.shape == (300, 40) and phi.dtype == dtype and phi.flags.c_contiguous
    diff = max_diff(phi, reference_embed(x, landmarks, 0.2, ridge))
    assert diff < tolerance(dtype), f"max abs diff {diff:.3g} vs numpy ({dtype}, ridge {ridge})"


def test_the_default_ridge_is_1e_minus_6(rng: np.random.Generator) -> None:
    x = rng.standard_normal((50, 4))
    landmarks = rng.standard_normal((20, 4))
    assert_bitwise_equal(
        helios.rkhs_embed(x, landmarks, 0.3), helios.rkhs_embed(x, landmarks, 0.3, ridge=1e-6)
    )
    diff = max_diff(helios.rkhs_embed(x, landmarks, 0.3), reference_embed(x, landmarks, 0.3, 1e-6))
    assert diff < TOL_F64, f"max abs diff {diff:.3g}"


def test_a_hand_computed_map() -> None:
    # Two landmarks at distance² 2, gamma 0.5: K(L, L) = [[1, c], [c, 1]] with
    # c = e^-1, whose inverse square root has eigenvalues 1/sqrt(1 ± c) along
    # (1, 1) and (1, -1). Phi of the landmarks themselves is K^(1/2).
    landmarks = np.array([[0.0, 0.0], [1.0, 1.0]])
    c = np.exp(-1.0)
    plus, minus = np.sqrt(1 + c), np.sqrt(1 - c)
    root = 0.5 * np.array([[plus + minus, plus - minus], [plus - minus, plus + minus]])
    phi = helios.rkhs_embed(landmarks, landmarks, gamma=0.5, ridge=0.0)
    np.testing.assert_allclose(phi, root, rtol=0, atol=1e-15)
    np.testing.assert_allclose(phi @ phi.T, [[1, c], [c, 1]], rtol=0, atol=1e-15)


def test_duplicate_landmarks_give_the_pseudo_inverse(
    dtype: np.dtype, rng: np.random.Generator
) -> None:
    base = rng.standard_normal((20, 4))
    landmarks = np.vstack([base, base[:5]]).astype(dtype)  # K(L, L) has rank 20 of 25
    x = rng.standard_normal((100, 4)).astype(dtype)
    phi = helios.rkhs_embed(x, landmarks, gamma=0.3, ridge=0.0)
    assert np.isfinite(phi).all()
    diff = max_diff(phi, reference_embed(x, landmarks, 0.3, 0.0))
    assert diff < tolerance(dtype), f"max abs diff {diff:.3g} vs the numpy pseudo-inverse"


def test_points_far_from_the_origin_keep_float32_accuracy(rng: np.random.Generator) -> None:
    # ||x||² + ||l||² - 2 x·l cancels in float32 for points near 1000 unless
    # the distances are taken relative to a nearby origin (helios uses the
    # landmarks' mean).
    x = (1000.0 + rng.standard_normal((500, 64))).astype(np.float32)
    landmarks = x[:64].copy()
    phi = helios.rkhs_embed(x, landmarks, 1 / 128, ridge=0.0)
    diff = max_diff(phi, reference_embed(x, landmarks, 1 / 128, 0.0))
    assert diff < TOL_F32, f"max abs diff {diff:.3g} vs numpy for points near 1000"


def test_clusters_far_from_the_landmarks_mean_keep_float32_accuracy(
    rng: np.random.Generator,
) -> None:
    centres = np.where(rng.random((600, 1)) < 0.5, -1000.0, 1000.0)
    x = (centres + rng.standard_normal((600, 64))).astype(np.float32)
    landmarks = x[:64].copy()
    phi = helios.rkhs_embed(x, landmarks, 1 / 128, ridge=0.0)
    diff = max_diff(phi, reference_embed(x, landmarks, 1 / 128, 0.0))
    assert diff < TOL_F32, f"max abs diff {diff:.3g} vs numpy for two clusters at +-1000"


# ---- scikit-learn -----------------------------------------------------------


@pytest.mark.parametrize("gamma,d,m", [(0.2, 5, 40), (0.1, 8, 64)])
def test_matches_scikit_learn_nystroem(
    dtype: np.dtype, rng: np.random.Generator, gamma: float, d: int, m: int
) -> None:
    from sklearn.kernel_approximation import Nystroem

    landmarks = rng.standard_normal((m, d))
    x = rng.standard_normal((500, d))
    # Fitted on the landmarks themselves with n_components = m, Nystroem keeps
    # all of them as components_, in the order of a random permutation
    # (component_indices_). helios gets the landmarks in that order.
    nystroem = Nystroem(kernel="rbf", gamma=gamma, n_components=m, random_state=0).fit(landmarks)
    order = np.asarray(nystroem.component_indices_)
    assert sorted(order.tolist()) == list(range(m))
    assert np.array_equal(nystroem.components_, landmarks[order])
    expected = nystroem.transform(x)  # float64: sklearn's SVD in float64

    phi = helios.rkhs_embed(x.astype(dtype), landmarks[order].astype(dtype), gamma, ridge=0.0)
    assert phi.dtype == dtype
    diff = max_diff(phi, expected)
    assert diff < tolerance(dtype), f"max abs diff {diff:.3g} vs sklearn Nystroem ({dtype})"

    # Reordering the landmarks only reorders the output columns.
    unordered = helios.rkhs_embed(x.astype(dtype), landmarks.astype(dtype), gamma, ridge=0.0)
    diff = max_diff(unordered[:, order], expected)
    assert diff < tolerance(dtype), f"max abs diff {diff:.3g} after reordering the columns"


# ---- kernel approximation ---------------------------------------------------


def test_phi_phi_t_approximates_k_better_with_more_landmarks(rng: np.random.Generator) -> None:
    x = rng.standard_normal((400, 3))
    gamma = 0.5
    kernel = rbf(x, x, gamma)
    order = rng.permutation(len(x))
    errors = []
    for m in (5, 10, 20, 40, 80, 160):
        # Nested landmark sets: the Nyström residual K - Phi Phiᵀ is PSD and
        # shrinks (in the PSD order) as landmarks are added.
        phi = helios.rkhs_embed(x, x[order[:m]], gamma, ridge=0.0)
        errors.append(np.linalg.norm(phi @ phi.T - kernel) / np.linalg.norm(kernel))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[0] > 0.3 and errors[-1] < 0.03, errors
    # On the landmarks themselves the approximation is exact (ridge 0).
    landmarks = x[order[:40]]
    phi = helios.rkhs_embed(landmarks, landmarks, gamma, ridge=0.0)
    diff = max_diff(phi @ phi.T, rbf(landmarks, landmarks, gamma))
    assert diff < 1e-12, f"max abs diff {diff:.3g}"


# ---- determinism, dtypes and layouts ----------------------------------------


def test_bit_identical_for_every_thread_count(rng: np.random.Generator) -> None:
    # 1000 rows: three whole 256-row blocks and a partial one.
    x = rng.standard_normal((1000, 16)).astype(np.float32)
    landmarks = rng.standard_normal((64, 16)).astype(np.float32)
    first = helios.rkhs_embed(x, landmarks, gamma=0.05, threads=1)
    for threads in (2, 3, None):
        assert_bitwise_equal(helios.rkhs_embed(x, landmarks, gamma=0.05, threads=threads), first)


def test_the_dtype_is_preserved(dtype: np.dtype, rng: np.random.Generator) -> None:
    x = rng.standard_normal((10, 3)).astype(dtype)
    phi = helios.rkhs_embed(x, x[:4], gamma=1.0)
    assert phi.dtype == dtype
    assert phi.shape == (10, 4)


def test_strided_inputs_equal_contiguous_ones_bit_for_bit(
    dtype: np.dtype, rng: np.random.Generator
) -> None:
    d = 6
    wide = rng.standard_normal((800, d + 7)).astype(dtype)
    wide[:, :3] = np.nan  # columns outside the views: helios must never read them
    wide[:, 3 + d :] = np.inf
    x = wide[::2, 3 : 3 + d]  # every other row, some of the columns
    landmarks = wide[1:61:3, 3 : 3 + d]
    assert not x.flags.c_contiguous and not landmarks.flags.c_contiguous
    expected = helios.rkhs_embed(np.ascontiguousarray(x), np.ascontiguousarray(landmarks), 0.2)
    assert np.isfinite(expected).all()
    assert_bitwise_equal(helios.rkhs_embed(x, landmarks, 0.2), expected)
    assert_bitwise_equal(helios.rkhs_embed(x, landmarks, 0.2, threads=3), expected)


def test_strided_inputs_are_passed_without_a_copy(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    seen: List[Tuple[Any, ...]] = []
    flavor = _embed._FLAVORS[np.dtype(np.float64)]

    def spy(*args: Any) -> int:
        seen.append(args)
        status: int = flavor.function(*args)
        return status

    monkeypatch.setitem(_embed._FLAVORS, np.dtype(np.float64), _embed._Flavor(flavor.pointer, spy))
    wide = rng.standard_normal((100, 10))
    x, landmarks = wide[::3, 2:6], wide[:40:4, 1:5]
    helios.rkhs_embed(x, landmarks, 0.5)
    (args,) = seen
    address = lambda pointer: ctypes.cast(pointer, ctypes.c_void_p).value  # noqa: E731
    assert address(args[0]) == x.ctypes.data and args[1:4] == (34, 4, 30)  # x, n, d, ldx
    assert address(args[4]) == landmarks.ctypes.data and args[5:7] == (10, 40)  # L, m, ldl


def test_single_rows_and_columns(rng: np.random.Generator) -> None:
    wide = rng.standard_normal((5, 9))
    one_row = wide[2:3, 1:4]  # a single row: its row stride does not matter
    landmarks = rng.standard_normal((3, 3))
    assert_bitwise_equal(
        helios.rkhs_embed(one_row, landmarks, 0.5),
        helios.rkhs_embed(np.ascontiguousarray(one_row), landmarks, 0.5),
    )
    column = wide[:, 4:5]  # d = 1
    diff = max_diff(
        helios.rkhs_embed(column, column[:2], 0.5), reference_embed(column, column[:2], 0.5, 1e-6)
    )
    assert diff < TOL_F64, f"max abs diff {diff:.3g}"


def test_inputs_are_left_alone_and_may_be_read_only(rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 4)).astype(np.float32)
    landmarks = x[:7].copy()
    before = (x.copy(), landmarks.copy())
    x.flags.writeable = False
    landmarks.flags.writeable = False
    helios.rkhs_embed(x, landmarks, 0.5, threads=2)
    assert_bitwise_equal(x, before[0])
    assert_bitwise_equal(landmarks, before[1])


def test_out_receives_the_result_and_is_returned(dtype: np.dtype, rng: np.random.Generator) -> None:
    x = rng.standard_normal((300, 4)).astype(dtype)
    landmarks = x[:12].copy()
    out = np.full((300, 12), np.nan, dtype)
    phi = helios.rkhs_embed(x, landmarks, 0.5, out=out)
    assert phi is out
    assert_bitwise_equal(out, helios.rkhs_embed(x, landmarks, 0.5))


# ---- concurrency and the GIL ------------------------------------------------


def test_eight_python_threads_get_the_sequential_bits(rng: np.random.Generator) -> None:
    problems = []
    for i in range(8):
        dtype = np.float32 if i % 2 else np.float64
        x = rng.standard_normal((600 + 37 * i, 8)).astype(dtype)
        problems.append((x, x[: 20 + i].copy(), 0.1 + 0.01 * i))
    expected = [
        helios.rkhs_embed(x, landmarks, gamma, threads=1) for x, landmarks, gamma in problems
    ]
    start = threading.Barrier(len(problems))

    def run(problem: Tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
        x, landmarks, gamma = problem
        start.wait()
        return helios.rkhs_embed(x, landmarks, gamma, threads=2)

    with ThreadPoolExecutor(max_workers=len(problems)) as pool:
        results = list(pool.map(run, problems))
    for actual, wanted in zip(results, expected):
        assert_bitwise_equal(actual, wanted)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _overlap_ratio(work: Callable[[int], object]) -> float:
    """Wall time of ``work(0)`` and ``work(1)`` on two threads at once over
    that of ``work(0)`` alone (the faster of two runs): near 1 when they
    overlap, 2 when they do not."""
    single = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        work(0)
        single = min(single, time.perf_counter() - started)
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.perf_counter()
        list(pool.map(work, [0, 1]))
        pair = time.perf_counter() - started
    return pair / single


def test_two_python_threads_embed_faster_than_one_call_after_another() -> None:
    # The one timing test: ctypes releases the GIL during the C call, so two
    # Python threads, each running a single-threaded embedding, overlap. If
    # the GIL were held they would take twice as long as one call.
    if (os.cpu_count() or 1) < 2 or _usable_cpus() < 2:
        pytest.skip(f"needs 2 CPUs to run two embeddings at once (have {_usable_cpus()})")
    rng = np.random.default_rng(7)
    problems = [rng.standard_normal((4000, 64)).astype(np.float32) for _ in range(2)]
    landmarks = [x[:512].copy() for x in problems]
    gamma = 1.0 / 64

    def embed(i: int) -> object:
        return helios.rkhs_embed(problems[i], landmarks[i], gamma, threads=1)

    # A control known to run without the GIL (hashlib releases it for large
    # buffers), measured before and after every attempt: if it does not
    # overlap either, the machine is busy (other processes), not helios.
    buffers = [rng.bytes(48 << 20) for _ in range(2)]

    def digest(i: int) -> object:
        return hashlib.sha256(buffers[i]).digest()

    embed(0)  # warm up (pages, worker pool)
    ratios: List[float] = []
    controls = [_overlap_ratio(digest)]
    for _ in range(3):  # best of three attempts: one quiet moment is enough
        ratios.append(_overlap_ratio(embed))
        controls.append(_overlap_ratio(digest))
        if ratios[-1] < 1.7:
            return
    report = (
        f"two concurrent embeddings took {min(ratios):.2f}x one call (attempts "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); two concurrent sha256 (the GIL-free "
        f"control, before and after each attempt) took "
        f"{', '.join(f'{r:.2f}' for r in controls)}x"
    )
    # Conclusive: an attempt whose controls both overlapped clearly.
    if not any(max(before, after) < 1.5 for before, after in zip(controls, controls[1:])):
        pytest.skip(f"the machine does not run two threads at once right now: {report}")
    pytest.fail(f"{report}; with the GIL released the embeddings should overlap too")


# ---- bad input --------------------------------------------------------------


def ok_x() -> np.ndarray:
    return np.ones((4, 3))


@pytest.mark.parametrize(
    "x,landmarks,options,status,fragment",
    [
        (np.ones((0, 3)), np.ones((2, 3)), {}, "INVALID_ARGUMENT", "n = 0"),
        (np.ones((4, 3)), np.ones((0, 3)), {}, "INVALID_ARGUMENT", "m = 0"),
        (np.ones((4, 0)), np.ones((2, 0)), {}, "INVALID_ARGUMENT", "d = 0"),
        (
            ok_x(),
            ok_x(),
            {"gamma": 0.0},
            "INVALID_ARGUMENT",
            "gamma is 0: it must be finite and > 0",
        ),
        (ok_x(), ok_x(), {"gamma": -1.0}, "INVALID_ARGUMENT", "gamma is -1: it must be finite"),
        (ok_x(), ok_x(), {"gamma": float("nan")}, "INVALID_ARGUMENT", "gamma is NaN"),
        (ok_x(), ok_x(), {"gamma": float("inf")}, "INVALID_ARGUMENT", "gamma is inf"),
        (
            ok_x(),
            ok_x(),
            {"ridge": -1e-3},
            "INVALID_ARGUMENT",
            "ridge is -0.001: it must be finite and >= 0",
        ),
        (ok_x(), ok_x(), {"ridge": float("nan")}, "INVALID_ARGUMENT", "ridge is NaN"),
        (ok_x(), ok_x(), {"ridge": float("inf")}, "INVALID_ARGUMENT", "ridge is inf"),
        (ok_x(), ok_x(), {"threads": 0}, "INVALID_ARGUMENT", "thread count is 0"),
        (
            ok_x(),
            ok_x(),
            {"threads": 10**6},
            "INVALID_ARGUMENT",
            "thread count 1000000 is larger than the maximum 1024",
        ),
    ],
    ids=[
        "n=0",
        "m=0",
        "d=0",
        "gamma=0",
        "gamma<0",
        "gamma=nan",
        "gamma=inf",
        "ridge<0",
        "ridge=nan",
        "ridge=inf",
        "threads=0",
        "threads=1e6",
    ],
)
def test_arguments_helios_refuses(
    x: np.ndarray, landmarks: np.ndarray, options: Dict[str, Any], status: str, fragment: str
) -> None:
    arguments: Dict[str, Any] = {"gamma": 0.5, **options}
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(x, landmarks, **arguments)
    assert caught.value.status == f"HELIOS_ERR_{status}"
    assert caught.value.code == getattr(helios.Status, status)
    assert fragment in caught.value.message, caught.value.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_value_is_a_numeric_error_naming_the_row(dtype: np.dtype, bad: float) -> None:
    x = np.ones((700, 3), dtype)
    x[517, 2] = bad  # in the third 256-row block
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(x, np.ones((5, 3), dtype), 0.5, threads=2)
    assert caught.value.status == "HELIOS_ERR_NUMERIC"
    assert "row 517 of X holds a NaN or infinite value (column 2)" in caught.value.message

    landmarks = np.zeros((5, 3), dtype)
    landmarks[3, 0] = bad
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(np.ones((2, 3), dtype), landmarks, 0.5)
    assert caught.value.status == "HELIOS_ERR_NUMERIC"
    assert "row 3 of landmarks holds a NaN or infinite value (column 0)" in caught.value.message


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_huge_rows_get_kernel_zero_or_a_numeric_error_naming_the_first_row(
    threads: int,
) -> None:
    # float32: distances are taken in float64, so rows 1e20 away get k = 0.
    x = np.zeros((1000, 4), np.float32)
    x[300] = 1e20
    x[900] = -1e20
    phi = helios.rkhs_embed(x, np.ones((5, 4), np.float32), 0.5, threads=threads)
    assert np.all(phi[[300, 900]] == 0.0)
    # float64: a squared distance beyond float64's range is refused.
    x64 = np.zeros((1000, 4))
    x64[300] = 1e160
    x64[900] = -1e160
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(x64, np.ones((5, 4)), 0.5, threads=threads)
    assert caught.value.status == "HELIOS_ERR_NUMERIC"
    assert "row 300 of X is too far from the landmarks" in caught.value.message


def test_an_unaligned_array_is_refused_by_helios() -> None:
    raw = np.zeros(4 * 12 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(4, 3)  # C-ordered, at an odd address
    assert not unaligned.flags.aligned
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(unaligned, np.ones((2, 3), np.float32), 0.5)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert "`x` is not aligned to 4 bytes" in caught.value.message


def test_out_overlapping_an_input_is_refused_by_helios() -> None:
    buffer = np.ones((6, 4))
    x = buffer[:, :3]  # a view of out's own memory
    with pytest.raises(helios.HeliosError) as caught:
        helios.rkhs_embed(x, np.ones((4, 3)), 0.5, out=buffer)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert "`out` overlaps `x`" in caught.value.message


def test_arguments_the_binding_refuses() -> None:
    x = np.arange(24, dtype=np.float64).reshape(6, 4) / 24
    landmarks = x[:2].copy()

    def refused(error: type, fragment: str, *args: Any, **kwargs: Any) -> None:
        call: Dict[str, Any] = {"gamma": 0.5, **kwargs}
        with pytest.raises(error, match=fragment):
            helios.rkhs_embed(*args, **call)

    # types
    refused(TypeError, "X must be a numpy.ndarray, got list", x.tolist(), landmarks)
    refused(TypeError, "landmarks must be a numpy.ndarray, got tuple", x, (1.0, 2.0))
    refused(TypeError, "X has dtype int64", x.astype(np.int64), landmarks)
    refused(TypeError, "X has dtype float16", x.astype(np.float16), landmarks)
    refused(TypeError, r"X has dtype >f8", x.astype(">f8"), landmarks)
    refused(
        TypeError,
        "X has dtype float32 but landmarks has float64; they must match",
        x.astype(np.float32),
        landmarks,
    )
    refused(TypeError, "gamma must be a real number, got str", x, landmarks, gamma="0.5")
    refused(TypeError, "gamma must be a real number, got bool", x, landmarks, gamma=True)
    refused(TypeError, "ridge must be a real number, got NoneType", x, landmarks, ridge=None)
    refused(TypeError, "threads must be an int, got float", x, landmarks, threads=2.0)
    refused(
        TypeError,
        "out has dtype float32 but X has float64",
        x,
        landmarks,
        out=np.empty((6, 2), np.float32),
    )
    # shapes and layouts
    refused(ValueError, r"X must be 2-D .* got 1-D \(shape \(24,\)\)", x.ravel(), landmarks)
    refused(ValueError, r"landmarks must be 2-D .* got 3-D", x, landmarks[None])
    refused(ValueError, "X has 4 columns but landmarks has 3", x, landmarks[:, :3])
    for layout in (x.T.copy().T, np.asfortranarray(x), x[:, ::2], x[:, ::-1]):
        refused(
            ValueError,
            r"X is not row-major.*np\.ascontiguousarray\(X\)",
            layout,
            landmarks[:, : layout.shape[1]],
        )
    refused(
        ValueError,
        r"landmarks is not row-major.*np\.ascontiguousarray\(landmarks\)",
        x[:, :2],
        x[:2, :2].T,
    )
    refused(ValueError, r"X has rows that are not .*np\.ascontiguousarray\(X\)", x[::-1], landmarks)
    refused(ValueError, "X has rows that are not", np.broadcast_to(x[0], (5, 4)), landmarks)
    sliding = np.lib.stride_tricks.sliding_window_view(np.arange(10.0), 4)  # rows 1 apart
    refused(ValueError, "X has rows that are not", sliding, landmarks)
    refused(ValueError, "threads must not be negative", x, landmarks, threads=-1)
    refused(
        ValueError,
        r"out has shape \(6, 3\) but the result is \(6, 2\)",
        x,
        landmarks,
        out=np.empty((6, 3)),
    )
    refused(ValueError, "out is not C-contiguous", x, landmarks, out=np.empty((2, 6)).T)
    read_only = np.empty((6, 2))
    read_only.flags.writeable = False
    refused(ValueError, "out is read-only", x, landmarks, out=read_only)


def test_the_raw_c_entry_points_report_what_the_binding_never_sends() -> None:
    # The binding always passes a large enough buffer, real pointers and
    # ld >= d; the C functions, declared in _lib, refuse the rest themselves.
    lib = helios._lib.LIB
    pointer = ctypes.POINTER(ctypes.c_double)
    x = np.ones((4, 3))
    out = np.zeros(16)
    needed = ctypes.c_size_t(0)

    def call(x_ptr: Any, ldx: int, out_ptr: Any, capacity: int) -> Tuple[int, str]:
        status = lib.helios_rkhs_embed_f64(
            x_ptr,
            4,
            3,
            ldx,
            x.ctypes.data_as(pointer),
            4,
            3,
            0.5,
            0.0,
            helios.AUTO,
            out_ptr,
            capacity,
            ctypes.byref(needed),
        )
        return status, helios.last_error()

    status, message = call(x.ctypes.data_as(pointer), 3, out.ctypes.data_as(pointer), 15)
    assert status == helios.Status.BUFFER_TOO_SMALL and needed.value == 16, message
    status, message = call(None, 3, out.ctypes.data_as(pointer), 16)
    assert status == helios.Status.NULL_ARGUMENT, message
    status, message = call(x.ctypes.data_as(pointer), 3, None, 16)
    assert status == helios.Status.NULL_ARGUMENT and "out" in message, message
    status, message = call(x.ctypes.data_as(pointer), 2, out.ctypes.data_as(pointer), 16)
    assert status == helios.Status.INVALID_ARGUMENT and "leading dimension 2" in message, message
    status, message = call(x.ctypes.data_as(pointer), 3, out.ctypes.data_as(pointer), 16)
    assert status == helios.Status.OK and message == "", message
    expected = helios.rkhs_embed(x, x, 0.5, ridge=0.0)
    assert_bitwise_equal(out.reshape(4, 4), expected)
