"""Versions, status names, errors, thread counts and the documented thread safety."""

from __future__ import annotations

import inspect
import pickle
import re
import threading
import typing
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import helios

# The fixed phrases of docs/THREADING.md (and include/helios.h).
REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"
SINGLE_OWNER = "single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY)"


def test_versions() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", helios.version())
    assert helios.abi_version() == helios.ABI_VERSION == 1
    assert helios.AUTO == 2**64 - 1 or helios.AUTO == 2**32 - 1
    assert helios.MAX_THREADS == 1024
    assert helios.LIBRARY_PATH.is_file()


def test_status_names_match_the_header() -> None:
    assert helios.status_name(0) == "HELIOS_OK"
    assert helios.status_name(2) == "HELIOS_ERR_INVALID_ARGUMENT"
    assert helios.status_name(5) == "HELIOS_ERR_CANCELLED"
    assert helios.status_name(13) == "HELIOS_ERR_INTERNAL"
    for status in helios.Status:
        expected = "HELIOS_OK" if status is helios.Status.OK else f"HELIOS_ERR_{status.name}"
        assert helios.status_name(status) == expected
    assert [int(s) for s in helios.Status] == list(range(14))
    for unknown in (14, -1, 1000, 2**31, -(2**40)):
        assert helios.status_name(unknown) == "HELIOS_UNKNOWN_STATUS"


def test_helios_error_carries_code_status_and_message() -> None:
    error = helios.HeliosError(4, "the engine is in use")
    assert error.code == 4 and error.code is helios.Status.BUSY
    assert error.status == "HELIOS_ERR_BUSY"
    assert error.message == "the engine is in use"
    assert str(error) == "HELIOS_ERR_BUSY: the engine is in use"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.status, copy.message) == (4, "HELIOS_ERR_BUSY", "the engine is in use")
    assert helios.HeliosError(77, "?").status == "HELIOS_UNKNOWN_STATUS"


def test_a_refused_call_raises_helios_error_with_the_library_message() -> None:
    x = np.ones(8, dtype=np.float32)
    with pytest.raises(helios.HeliosError) as caught:
        helios.parallel_map(x, lambda block, start, n: block[start : start + n], threads=0)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert caught.value.code == helios.Status.INVALID_ARGUMENT
    assert "thread count" in caught.value.message
    # The message belongs to the failed call; a later success clears it.
    helios.parallel_map(x, lambda block, start, n: block[start : start + n])
    assert helios.last_error() == ""


def test_error_messages_stay_on_their_own_thread() -> None:
    x = np.ones(16, dtype=np.float64)
    copy = lambda block, start, n: block[start : start + n]  # noqa: E731
    cases = [
        ({"threads": 0}, "thread count is 0"),
        ({"block_elems": 0}, "block_elems is 0"),
        ({"halo": 17}, "halo 17 is larger than the array"),
        ({"threads": 5000}, "larger than the maximum 1024"),
    ]
    barrier = threading.Barrier(len(cases))
    mismatches: List[Tuple[str, str]] = []

    def hammer(options: Dict[str, Any], fragment: str) -> None:
        barrier.wait()
        for _ in range(200):
            try:
                helios.parallel_map(x, copy, **options)
            except helios.HeliosError as error:
                if fragment not in error.message:
                    mismatches.append((fragment, error.message))
            else:
                mismatches.append((fragment, "no error"))

    workers = [threading.Thread(target=hammer, args=case) for case in cases]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert mismatches == []


def test_default_thread_count() -> None:
    assert helios.get_num_threads() >= 1
    helios.set_num_threads(3)
    assert helios.get_num_threads() == 3
    with pytest.raises(helios.HeliosError, match="thread count is 0") as caught:
        helios.set_num_threads(0)
    assert caught.value.status == "HELIOS_ERR_INVALID_ARGUMENT"
    with pytest.raises(helios.HeliosError, match="1024"):
        helios.set_num_threads(1025)
    with pytest.raises(ValueError, match="must not be negative"):
        helios.set_num_threads(-1)
    with pytest.raises(TypeError, match="must be an int"):
        helios.set_num_threads(2.0)  # type: ignore[arg-type]
    assert helios.get_num_threads() == 3


def _public_objects() -> List[Tuple[str, object]]:
    objects: List[Tuple[str, object]] = []
    for name in helios.__all__:
        value = getattr(helios, name)
        is_alias = typing.get_origin(value) is not None  # FloatArray, UserData, ...
        if (inspect.isclass(value) or inspect.isfunction(value)) and not is_alias:
            objects.append((name, value))
    for name, member in vars(helios.CancelToken).items():
        if not name.startswith("_"):
            objects.append((f"CancelToken.{name}", member))
    return objects


@pytest.mark.parametrize(
    "name,value", _public_objects(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_public_object_states_its_thread_safety(name: str, value: object) -> None:
    doc = inspect.getdoc(value) or ""
    flat = " ".join(doc.split())
    assert any(phrase in flat for phrase in (REENTRANT, SHAREABLE, SINGLE_OWNER)), (
        f"{name}: {doc!r}"
    )


def test_the_classes_of_the_foundation() -> None:
    def flat(value: object) -> str:
        return " ".join((inspect.getdoc(value) or "").split())

    assert SHAREABLE in flat(helios.CancelToken)
    for function in (helios.parallel_map, helios.version, helios.set_num_threads):
        assert REENTRANT in flat(function)
