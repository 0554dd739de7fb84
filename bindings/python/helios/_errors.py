"""Status codes and :class:`HeliosError` (private module; use ``helios``)."""

from __future__ import annotations

import enum

from ._lib import LIB

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


class Status(enum.IntEnum):
    """The ``HeliosStatus`` codes; ``Status.CANCELLED`` is ``HELIOS_ERR_CANCELLED``.

    Thread safety: shareable (one object may be used from any number of
    threads at once); the members are immutable.
    """

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_ARGUMENT = 2
    BUFFER_TOO_SMALL = 3
    BUSY = 4
    CANCELLED = 5
    IO = 6
    FORMAT = 7
    UNSUPPORTED = 8
    DEVICE = 9
    NUMERIC = 10
    OUT_OF_MEMORY = 11
    INVALID_STATE = 12
    INTERNAL = 13


def status_name(code: int) -> str:
    """The C name of a status code, for example ``"HELIOS_ERR_BUSY"``.

    ``"HELIOS_UNKNOWN_STATUS"`` for a value that is not a status.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    code = int(code)
    if not _INT32_MIN <= code <= _INT32_MAX:
        return "HELIOS_UNKNOWN_STATUS"
    name: bytes = LIB.helios_status_name(code)
    return name.decode("ascii")


def last_error() -> str:
    """The calling thread's last helios error message ("" after a success).

    Thread safety: reentrant (safe to call from any number of threads at once);
    each thread has its own message.
    """
    message: bytes = LIB.helios_last_error()
    return message.decode("utf-8", errors="replace")


class HeliosError(Exception):
    """An error reported by the helios C library.

    Attributes:
        code: the status code (a :class:`Status` when helios knows it).
        status: the status name, for example ``"HELIOS_ERR_INVALID_ARGUMENT"``.
        message: helios's message for the failed call, read on the thread
            that made it, right after it returned.

    Thread safety: shareable (one object may be used from any number of
    threads at once); its attributes are never changed after creation.
    """

    code: int
    status: str
    message: str

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        try:
            self.code = Status(code)
        except ValueError:
            self.code = int(code)
        self.status = status_name(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status


def check(code: int) -> None:
    """Raise :class:`HeliosError` for a non-zero status of the call just made.

    Call it right after the C call, on the same thread, so that the message
    is that call's.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    if code != Status.OK:
        raise HeliosError(code, last_error())
