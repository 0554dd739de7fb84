""":class:`CancelToken` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator, NoReturn, Optional, Type

from ._errors import check
from ._lib import LIB, Handle


class CancelToken:
    """A cancellation flag for long helios calls.

    Pass it as ``cancel=`` to :func:`helios.parallel_map`; any thread may then
    call :meth:`cancel`, and the run stops before its next block with a
    :class:`helios.HeliosError` whose status is ``HELIOS_ERR_CANCELLED``.
    :meth:`reset` lowers the flag so the token can serve new work.

    The token owns a C object: release it with :meth:`close` or by using the
    token as a context manager (``with helios.CancelToken() as token:``); the
    garbage collector frees it otherwise. Any use after :meth:`close` raises
    :class:`ValueError`. Closing a token while a call is using it is safe: the
    C object is freed when the last such call returns.

    Thread safety: shareable (one object may be used from any number of
    threads at once).
    """

    def __init__(self) -> None:
        handle = Handle()
        check(LIB.helios_cancel_token_new(ctypes.byref(handle)))
        self._handle: Optional[int] = handle.value
        self._closed = False
        self._users = 0
        self._lock = threading.Lock()

    @contextmanager
    def _borrow(self) -> Iterator[int]:
        """The live C handle, kept alive (not freed by :meth:`close`) while borrowed."""
        with self._lock:
            if self._closed:
                raise ValueError("this helios.CancelToken is closed")
            assert self._handle is not None
            self._users += 1
            handle = self._handle
        try:
            yield handle
        finally:
            with self._lock:
                self._users -= 1
                self._free_if_unused()

    def _free_if_unused(self) -> None:
        # Called with the lock held.
        if self._closed and self._users == 0 and self._handle is not None:
            handle, self._handle = self._handle, None
            LIB.helios_cancel_token_free(handle)

    def cancel(self) -> None:
        """Raise the flag: calls using the token stop at their next check.

        Cancelling twice is harmless.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        with self._borrow() as handle:
            check(LIB.helios_cancel_token_cancel(handle))

    def is_cancelled(self) -> bool:
        """Whether the flag is raised.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        cancelled = ctypes.c_bool()
        with self._borrow() as handle:
            check(LIB.helios_cancel_token_is_cancelled(handle, ctypes.byref(cancelled)))
        return cancelled.value

    @property
    def cancelled(self) -> bool:
        """Whether the flag is raised (the same as :meth:`is_cancelled`).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self.is_cancelled()

    def reset(self) -> None:
        """Lower the flag so the token can serve new work.

        Calls that already stopped stay stopped.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        with self._borrow() as handle:
            check(LIB.helios_cancel_token_reset(handle))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self._closed

    def close(self) -> None:
        """Release the C token; closing twice is harmless.

        Thread safety: shareable (one object may be used from any number of
        threads at once); calls still running with the token finish first.
        """
        with self._lock:
            self._closed = True
            self._free_if_unused()

    def __enter__(self) -> CancelToken:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # No lock: nothing else can reach an object being collected, and a
        # borrow holds a reference to the token.
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            LIB.helios_cancel_token_free(handle)

    def __reduce__(self) -> NoReturn:
        # A copy would share the C handle and free it twice.
        raise TypeError("a helios.CancelToken cannot be copied or pickled; share the object")

    def __repr__(self) -> str:
        try:
            state = f"cancelled={self.is_cancelled()}"
        except ValueError:
            state = "closed"
        return f"<helios.CancelToken {state}>"
