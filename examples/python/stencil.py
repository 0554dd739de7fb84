"""A first tour of helios from Python: a 3-point stencil, errors, cancellation.

Run it with `make demo-python` (which installs the package first), or with
`python examples/python/stencil.py` once `make python` has run.

helios.parallel_map cuts an array into blocks, gives each block to a kernel
on several threads at once, and stitches the results together. Each block
comes with `halo` extra neighbours on each side, so a kernel that looks at
its neighbours (a stencil) gives exactly the same answer as if it had run
over the whole array in one go, whatever the number of threads.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

import helios


def smooth(block: np.ndarray, core_start: int, core_len: int) -> np.ndarray:
    """The kernel: y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1].

    `block` holds this block's core (the elements to compute) plus up to
    `halo` neighbours on each side; the core is
    block[core_start : core_start + core_len]. At the two ends of the whole
    array there is no neighbour, so the index is clamped to the block's edge
    (the array's edge: elsewhere the halo provides the neighbour).
    """
    i = np.arange(core_start, core_start + core_len)
    left = block[np.maximum(i - 1, 0)]
    right = block[np.minimum(i + 1, len(block) - 1)]
    result: np.ndarray = 0.25 * left + 0.5 * block[i] + 0.25 * right
    return result


def stencil_demo() -> None:
    print(
        f"helios {helios.version()} (ABI {helios.abi_version()}), "
        f"{helios.get_num_threads()} threads by default"
    )

    # 1. Map a float32 signal with the kernel. The stencil reaches one
    #    neighbour on each side, so it needs halo=1.
    x = np.sin(np.linspace(0.0, 20.0, 100_000, dtype=np.float32))
    y = helios.parallel_map(x, smooth, halo=1, block_elems=4096, threads=2)

    # 2. Check against plain numpy: pad the edges and combine shifted slices.
    padded = np.pad(x, 1, mode="edge")
    expected = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    assert y.dtype == np.float32  # helios never changes the precision
    assert np.array_equal(y, expected), "helios and numpy disagree"
    print(
        f"1. smoothed {len(x)} float32 values in blocks of 4096 on 2 threads: "
        f"identical to numpy (y[:3] = {y[:3]})"
    )

    # 3. The block size and thread count never change the result, bit for bit.
    single = helios.parallel_map(x, smooth, halo=1, block_elems=len(x), threads=1)
    assert np.array_equal(y.view(np.uint32), single.view(np.uint32))
    print("2. one thread and a single block give the same bits")


def error_demo() -> None:
    # helios reports bad arguments as HeliosError, with the C status name and
    # the library's own explanation.
    try:
        helios.parallel_map(np.ones(10, dtype=np.float32), smooth, halo=1, threads=0)
    except helios.HeliosError as error:
        print(
            f"3. threads=0 is refused: status {error.status} (code {int(error.code)}), "
            f"message {error.message!r}"
        )
    else:
        raise AssertionError("threads=0 should have failed")

    # An exception raised by your kernel comes back to you unchanged.
    def picky(block: np.ndarray, core_start: int, core_len: int) -> np.ndarray:
        if np.any(block < 0):
            raise ValueError("picky only takes non-negative values")
        return block[core_start : core_start + core_len]

    try:
        helios.parallel_map(np.array([1.0, 2.0, -3.0]), picky)
    except ValueError as error:
        print(f"4. the kernel's own exception reaches the caller: {error}")


def cancel_demo() -> None:
    # A CancelToken lets any thread stop a long call. Here the kernel waits
    # on its first block until another thread has cancelled, so the call is
    # certainly still running when the token is raised.
    started, cancelled = threading.Event(), threading.Event()

    def slow(block: np.ndarray, core_start: int, core_len: int) -> np.ndarray:
        started.set()
        cancelled.wait(timeout=10)
        return block[core_start : core_start + core_len]

    with helios.CancelToken() as token:  # the token is freed at the end of the block

        def stop_it() -> None:
            started.wait(timeout=10)
            token.cancel()
            cancelled.set()

        stopper = threading.Thread(target=stop_it)
        stopper.start()
        try:
            helios.parallel_map(np.zeros(1000), slow, block_elems=10, cancel=token)
        except helios.HeliosError as error:
            print(f"5. cancelled from another thread: {error.status}: {error.message}")
        stopper.join()

        # reset() lowers the flag so the token can be used again.
        token.reset()
        y = helios.parallel_map(np.arange(5.0), smooth, halo=1, cancel=token)
        print(f"6. after reset() the token lets a call finish: {y}")


def main() -> int:
    stencil_demo()
    error_demo()
    cancel_demo()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
