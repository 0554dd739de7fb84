""":class:`CancelToken` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
from typing import ContextManager, NoReturn

from ._errors import check
from ._handle import NativeHandle, NativeOwner
from ._lib import LIB, Handle


class CancelToken(NativeOwner):
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
        self._native = NativeHandle(handle.value, LIB.helios_cancel_token_free, "helios.CancelToken")

    def _borrow(self) -> ContextManager[int]:
        """The live C handle, kept alive (not freed by :meth:`close`) while borrowed."""
        return self._native.borrow()

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
        return self._native.closed

    def close(self) -> None:
        """Release the C token; closing twice is harmless.

        Thread safety: shareable (one object may be used from any number of
        threads at once); calls still running with the token finish first.
        """
        self._native.close()

    def __reduce__(self) -> NoReturn:
        # A copy would share the C handle and free it twice.
        raise TypeError("a helios.CancelToken cannot be copied or pickled; share the object")

    def __repr__(self) -> str:
        try:
            state = f"cancelled={self.is_cancelled()}"
        except ValueError:
            state = "closed"
        return f"<helios.CancelToken {state}>"
