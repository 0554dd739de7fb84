"""helios.CancelToken: its flag, cancelling runs (before and during), closing."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
from helpers import assert_bitwise_equal, stencil3, stencil3_reference

import helios

WAIT_S = 10.0  # a bound for waits that succeed at once unless something is broken


def test_the_flag_and_the_context_manager() -> None:
    with helios.CancelToken() as token:
        assert not token.closed
        assert token.cancelled is False and token.is_cancelled() is False
        token.cancel()
        token.cancel()  # harmless twice
        assert token.cancelled is True
        token.reset()
        assert token.cancelled is False
        assert repr(token) == "<helios.CancelToken cancelled=False>"
    assert token.closed
    assert repr(token) == "<helios.CancelToken closed>"


def test_a_cancelled_token_stops_the_run_before_any_block() -> None:
    calls = []

    def kernel(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        calls.append(start)
        return block[start : start + n]

    with helios.CancelToken() as token:
        token.cancel()
        for threads in (1, 2):
            with pytest.raises(helios.HeliosError, match="cancelled") as caught:
                helios.parallel_map(
                    np.ones(100), kernel, block_elems=10, threads=threads, cancel=token
                )
            assert caught.value.status == "HELIOS_ERR_CANCELLED"
            assert caught.value.code == helios.Status.CANCELLED
    assert calls == []


@pytest.mark.parametrize("threads", [1, 2])
def test_cancelling_from_another_thread_stops_a_running_call(threads: int) -> None:
    # The first block to run waits until the other thread has cancelled, so the
    # token is raised while the call is certainly still going.
    started, cancelled = threading.Event(), threading.Event()
    calls = []

    def kernel(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        calls.append(start)
        started.set()
        assert cancelled.wait(WAIT_S)
        return block[start : start + n]

    def canceller(token: helios.CancelToken) -> None:
        assert started.wait(WAIT_S)
        token.cancel()
        cancelled.set()

    x = np.arange(64, dtype=np.float32)
    with helios.CancelToken() as token:
        other = threading.Thread(target=canceller, args=(token,))
        other.start()
        with pytest.raises(helios.HeliosError) as caught:
            helios.parallel_map(x, kernel, block_elems=1, threads=threads, cancel=token)
        other.join()
        assert caught.value.status == "HELIOS_ERR_CANCELLED"
        assert "CancelToken" in caught.value.message
        assert 1 <= len(calls) <= threads < len(x)

        # Lowered again, the same token lets a new run finish.
        token.reset()
        y = helios.parallel_map(x, stencil3, halo=1, block_elems=5, threads=threads, cancel=token)
        assert_bitwise_equal(y, stencil3_reference(x))


def test_an_unraised_token_changes_nothing(rng: np.random.Generator) -> None:
    x = rng.standard_normal(1234)
    with helios.CancelToken() as token:
        y = helios.parallel_map(x, stencil3, halo=1, block_elems=100, threads=2, cancel=token)
    assert_bitwise_equal(y, stencil3_reference(x))


def test_a_closed_token_refuses_every_use() -> None:
    token = helios.CancelToken()
    token.close()
    token.close()  # harmless twice
    for use in (token.cancel, token.reset, token.is_cancelled, lambda: token.cancelled):
        with pytest.raises(ValueError, match="closed"):
            use()
    with pytest.raises(ValueError, match="closed"):
        helios.parallel_map(np.ones(4), stencil3, cancel=token)


def test_closing_during_a_run_waits_for_the_run() -> None:
    # close() from another thread while a call uses the token: the call goes
    # on with a live token and the C object is freed when it returns.
    started, closed = threading.Event(), threading.Event()

    def kernel(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
        started.set()
        assert closed.wait(WAIT_S)
        return block[start : start + n]

    def closer(token: helios.CancelToken) -> None:
        assert started.wait(WAIT_S)
        token.close()
        closed.set()

    token = helios.CancelToken()
    other = threading.Thread(target=closer, args=(token,))
    other.start()
    x = np.arange(32, dtype=np.float64)
    y = helios.parallel_map(x, kernel, block_elems=4, threads=2, cancel=token)
    other.join()
    assert_bitwise_equal(y, x)
    assert token.closed
    with pytest.raises(ValueError, match="closed"):
        token.cancel()


def test_a_token_cannot_be_copied() -> None:
    with helios.CancelToken() as token:
        with pytest.raises(TypeError, match="cannot be copied"):
            copy.copy(token)
