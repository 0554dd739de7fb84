"""helios.parallel_map: values, determinism, kernel errors, bad input, native kernels."""

from __future__ import annotations

import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
from helpers import assert_bitwise_equal, stencil3, stencil3_reference

import helios


def copy_core(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
    return block[start : start + n]


# ---- values -----------------------------------------------------------------


def test_stencil_by_hand(dtype: np.dtype) -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype=dtype)
    y = helios.parallel_map(x, stencil3, halo=1, block_elems=2, threads=2)
    assert y.dtype == dtype
    # 0.25*1 + 0.5*1 + 0.25*2, 0.25*1 + 0.5*2 + 0.25*3, ...
    assert y.tolist() == [1.25, 2.0, 3.0, 3.75]


def test_stencil_matches_numpy_and_the_whole_array_kernel(
    dtype: np.dtype, rng: np.random.Generator
) -> None:
    x = rng.standard_normal(10_007).astype(dtype)
    y = helios.parallel_map(x, stencil3, halo=1)
    assert y.dtype == dtype and y.shape == x.shape
    assert_bitwise_equal(y, stencil3_reference(x))
    assert_bitwise_equal(y, stencil3(x, 0, len(x)))
    np.testing.assert_allclose(y[1:-1], (x[:-2] + 2 * x[1:-1] + x[2:]) / 4, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block_elems", [1, 7, 1000, None], ids=["1", "7", "len", "auto"])
def test_bit_identical_for_every_thread_count_and_block_size(
    dtype: np.dtype, rng: np.random.Generator, threads: int, block_elems: "int | None"
) -> None:
    x = rng.standard_normal(1000).astype(dtype)
    y = helios.parallel_map(x, stencil3, halo=1, block_elems=block_elems, threads=threads)
    assert_bitwise_equal(y, stencil3(x, 0, len(x)))


def test_blocks_hold_the_core_and_a_clamped_halo() -> None:
    seen: List[Tuple[List[float], int, int]] = []

    def record(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        seen.append((block.tolist(), start, n))
        return block[start : start + n]

    x = np.arange(10, dtype=np.float64)
    y = helios.parallel_map(x, record, halo=2, block_elems=4, threads=1)
    assert_bitwise_equal(y, x)
    assert seen == [
        ([0, 1, 2, 3, 4, 5], 0, 4),
        ([2, 3, 4, 5, 6, 7, 8, 9], 2, 4),
        ([6, 7, 8, 9], 2, 2),
    ]


def test_without_a_halo_the_block_edges_show() -> None:
    # The halo is what makes blocks agree with the whole array: with none, a
    # radius-1 stencil sees the block's end as the array's end.
    x = np.arange(8, dtype=np.float64) ** 2
    y = helios.parallel_map(x, stencil3, halo=0, block_elems=4, threads=1)
    assert y[3] == 0.25 * 4 + 0.5 * 9 + 0.25 * 9
    assert y[3] != stencil3_reference(x)[3]


def test_results_are_converted_to_the_array_dtype() -> None:
    x = np.arange(5, dtype=np.float32)
    y = helios.parallel_map(x, lambda block, start, n: [2.0 * v for v in block[start : start + n]])
    assert y.dtype == np.float32
    assert y.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    z = helios.parallel_map(x, lambda block, start, n: np.full(n, 1 / 3, dtype=np.float64))
    assert z.dtype == np.float32
    assert_bitwise_equal(z, np.full(5, 1 / 3, dtype=np.float32))


def test_input_is_left_alone_and_may_be_read_only(dtype: np.dtype) -> None:
    x = np.linspace(-1, 1, 33, dtype=dtype)
    before = x.copy()
    x.flags.writeable = False
    y = helios.parallel_map(x, lambda block, start, n: -block[start : start + n], threads=2)
    assert_bitwise_equal(x, before)
    assert_bitwise_equal(y, -before)


def test_out_receives_the_result_and_is_returned(dtype: np.dtype, rng: np.random.Generator) -> None:
    x = rng.standard_normal(5000).astype(dtype)
    out = np.full_like(x, np.nan)
    y = helios.parallel_map(x, stencil3, halo=1, threads=2, out=out)
    assert y is out
    assert_bitwise_equal(out, stencil3_reference(x))


def test_a_bad_out_is_refused() -> None:
    x = np.ones(8, dtype=np.float32)
    with pytest.raises(TypeError, match="out has dtype float64"):
        helios.parallel_map(x, copy_core, out=np.empty(8, np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        helios.parallel_map(x, copy_core, out=np.empty(9, np.float32))
    with pytest.raises(ValueError, match="not contiguous"):
        helios.parallel_map(x, copy_core, out=np.empty(16, np.float32)[::2])
    read_only = np.empty(8, np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        helios.parallel_map(x, copy_core, out=read_only)
    with pytest.raises(helios.HeliosError, match="overlap") as caught:
        helios.parallel_map(x, copy_core, out=x)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"


# ---- Python kernel errors ---------------------------------------------------


def test_a_kernel_exception_reaches_the_caller_unchanged() -> None:
    class Boom(Exception):
        pass

    def kernel(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        if block[start] >= 50:
            raise Boom("no values past 50")
        return block[start : start + n]

    x = np.arange(100, dtype=np.float32)
    with pytest.raises(Boom, match="^no values past 50$"):
        helios.parallel_map(x, kernel, block_elems=10, threads=2)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_exception_of_the_lowest_failing_block_wins(threads: int) -> None:
    def kernel(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        first = int(block[start])
        if first >= 30:
            raise KeyError(f"core at {first}")
        return block[start : start + n]

    x = np.arange(100, dtype=np.float64)
    with pytest.raises(KeyError, match="core at 30"):
        helios.parallel_map(x, kernel, halo=3, block_elems=10, threads=threads)


def test_the_block_is_read_only() -> None:
    def scribble(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        block[start] = 0.0
        return block[start : start + n]

    with pytest.raises(ValueError, match="read-only"):
        helios.parallel_map(np.ones(4), scribble)


@pytest.mark.parametrize(
    "kernel,fragment",
    [
        (
            lambda block, start, n: block[start : start + n - 1],
            r"must return 4 values .* shape \(3,\)",
        ),
        (lambda block, start, n: np.zeros((n, 2)), r"must return 4 values .* shape \(4, 2\)"),
        (lambda block, start, n: 1.0, r"must return 4 values .* shape \(\)"),
        (lambda block, start, n: None, r"must return 4 values"),
    ],
    ids=["short", "2-D", "scalar", "None"],
)
def test_a_wrong_number_of_values_is_a_value_error(
    kernel: helios.PythonKernel, fragment: str
) -> None:
    x = np.ones(16, dtype=np.float32)
    with pytest.raises(ValueError, match=fragment):
        helios.parallel_map(x, kernel, block_elems=4, threads=2)


# ---- bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    "array,options,status,fragment",
    [
        (np.zeros(0, np.float32), {}, "HELIOS_ERR_INVALID_ARGUMENT", "input is empty"),
        (
            np.zeros(5, np.float64),
            {"halo": 6},
            "HELIOS_ERR_INVALID_ARGUMENT",
            "halo 6 is larger than the array (5 elements)",
        ),
        (
            np.zeros(5, np.float32),
            {"block_elems": 0},
            "HELIOS_ERR_INVALID_ARGUMENT",
            "block_elems is 0",
        ),
        (
            np.zeros(5, np.float32),
            {"threads": 0},
            "HELIOS_ERR_INVALID_ARGUMENT",
            "thread count is 0",
        ),
        (
            np.zeros(5, np.float64),
            {"threads": 10**6},
            "HELIOS_ERR_INVALID_ARGUMENT",
            "thread count 1000000 is larger than the maximum 1024",
        ),
    ],
    ids=["empty", "halo>len", "block_elems=0", "threads=0", "threads=1e6"],
)
def test_arguments_helios_refuses(
    array: np.ndarray, options: Dict[str, Any], status: str, fragment: str
) -> None:
    with pytest.raises(helios.HeliosError) as caught:
        helios.parallel_map(array, copy_core, **options)
    assert caught.value.status == status
    assert fragment in caught.value.message


def test_an_unaligned_array_is_refused_by_helios() -> None:
    raw = np.zeros(4 * 9 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32)  # contiguous, but at an odd address
    assert not unaligned.flags.aligned
    with pytest.raises(helios.HeliosError) as caught:
        helios.parallel_map(unaligned, copy_core)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert "`input` is not aligned to 4 bytes" in caught.value.message


def test_arguments_the_binding_refuses() -> None:
    x = np.arange(10, dtype=np.float32)
    with pytest.raises(ValueError, match=r"not contiguous.*np\.ascontiguousarray"):
        helios.parallel_map(x[::2], copy_core)
    with pytest.raises(TypeError, match="dtype int64"):
        helios.parallel_map(np.arange(10, dtype=np.int64), copy_core)
    with pytest.raises(TypeError, match="dtype float16"):
        helios.parallel_map(x.astype(np.float16), copy_core)
    with pytest.raises(TypeError, match=r"dtype >f4"):
        helios.parallel_map(x.astype(">f4"), copy_core)
    with pytest.raises(ValueError, match=r"must be 1-D, got 2-D \(shape \(2, 5\)\)"):
        helios.parallel_map(x.reshape(2, 5), copy_core)
    with pytest.raises(TypeError, match="must be a numpy.ndarray, got list"):
        helios.parallel_map([1.0, 2.0], copy_core)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="halo must not be negative"):
        helios.parallel_map(x, copy_core, halo=-1)
    with pytest.raises(ValueError, match="threads must not be negative"):
        helios.parallel_map(x, copy_core, threads=-1)
    with pytest.raises(TypeError, match="block_elems must be an int, got float"):
        helios.parallel_map(x, copy_core, block_elems=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="kernel must be a callable"):
        helios.parallel_map(x, "negate")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cancel must be a helios.CancelToken"):
        helios.parallel_map(x, copy_core, cancel=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="user_data is for native kernels"):
        helios.parallel_map(x, copy_core, user_data=1)


# ---- native kernels ---------------------------------------------------------


@helios.KernelF32
def negate_f32(block, block_len, core_offset, core_len, core_out, user_data):  # type: ignore[no-untyped-def]
    for k in range(core_len):
        core_out[k] = -block[core_offset + k]
    return 0


@helios.KernelF64
def scale_f64(block, block_len, core_offset, core_len, core_out, user_data):  # type: ignore[no-untyped-def]
    factor = ctypes.cast(user_data, ctypes.POINTER(ctypes.c_double)).contents.value
    for k in range(core_len):
        core_out[k] = factor * block[core_offset + k]
    return 0


@helios.KernelF32
def refuse_f32(block, block_len, core_offset, core_len, core_out, user_data):  # type: ignore[no-untyped-def]
    return 7


def test_a_native_f32_kernel() -> None:
    x = np.arange(-50, 50, dtype=np.float32) / 8
    y = helios.parallel_map(x, negate_f32, block_elems=9, threads=2)
    assert_bitwise_equal(y, -x)


def test_a_native_f64_kernel_with_user_data() -> None:
    x = np.arange(20, dtype=np.float64)
    factor = ctypes.c_double(2.5)
    y = helios.parallel_map(x, scale_f64, block_elems=3, user_data=ctypes.pointer(factor))
    assert_bitwise_equal(y, 2.5 * x)
    y = helios.parallel_map(x, scale_f64, user_data=ctypes.addressof(factor))
    assert_bitwise_equal(y, 2.5 * x)


def test_a_native_kernel_that_returns_non_zero_cancels_the_run() -> None:
    with pytest.raises(helios.HeliosError, match="the kernel returned 7") as caught:
        helios.parallel_map(np.ones(10, dtype=np.float32), refuse_f32)
    assert caught.value.status == "HELIOS_ERR_CANCELLED"


def test_a_native_kernel_must_match_the_dtype() -> None:
    with pytest.raises(TypeError, match="must be a helios.KernelF64"):
        helios.parallel_map(np.ones(4), negate_f32)
    with pytest.raises(TypeError, match="must be a helios.KernelF32"):
        helios.parallel_map(np.ones(4, dtype=np.float32), scale_f64, user_data=0)
    with pytest.raises(TypeError, match="user_data must be None, an int address"):
        helios.parallel_map(np.ones(4, dtype=np.float32), negate_f32, user_data=1.5)  # type: ignore[arg-type]


def test_a_compiled_kernel_runs_without_the_gil(native_kernels: ctypes.CDLL) -> None:
    # `rendezvous` waits (up to 10 s) until two calls are inside it at once.
    # Two Python threads each run one single-block parallel_map; both kernels
    # can only meet if neither call holds the GIL while it is in C.
    kernel = helios.KernelF64(("rendezvous", native_kernels))
    arrived = ctypes.c_int(0)
    x = np.arange(64, dtype=np.float64)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(
                helios.parallel_map, x, kernel, threads=1, user_data=ctypes.pointer(arrived)
            )
            for _ in range(2)
        ]
        results = [future.result() for future in futures]
    assert arrived.value == 2
    for y in results:
        assert_bitwise_equal(y, 2.0 * x)


# ---- concurrency ------------------------------------------------------------


def test_concurrent_calls_match_sequential_ones(rng: np.random.Generator) -> None:
    arrays = [
        rng.standard_normal(5000 + 11 * i).astype(np.float32 if i % 2 else np.float64)
        for i in range(4)
    ]
    expected = [helios.parallel_map(x, stencil3, halo=1, threads=1) for x in arrays]
    start = threading.Barrier(len(arrays))

    def run(x: helios.FloatArray) -> helios.FloatArray:
        start.wait()
        return helios.parallel_map(x, stencil3, halo=1, block_elems=64, threads=2)

    with ThreadPoolExecutor(max_workers=len(arrays)) as pool:
        results = list(pool.map(run, arrays))
    for actual, wanted, x in zip(results, expected, arrays):
        assert_bitwise_equal(actual, wanted)
        assert_bitwise_equal(actual, stencil3_reference(x))
