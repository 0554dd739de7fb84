"""The lifetime of a C object owned by a Python object (private module)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Type, TypeVar


class NativeHandle:
    """A C object freed once: by :meth:`close` when no call is using it, or
    by the last call that was using it when :meth:`close` came."""

    def __init__(self, handle: int, free: Callable[[int], Any], name: str) -> None:
        self._handle: Optional[int] = handle
        self._free = free
        self._name = name
        self._closed = False
        self._users = 0
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def borrow(self) -> Iterator[int]:
        """The live C handle, kept alive (not freed by :meth:`close`) while borrowed."""
        with self._lock:
            if self._closed:
                raise ValueError(f"this {self._name} is closed")
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
        # Called with the lock held. No call is inside the C object, so the
        # C free cannot answer BUSY.
        if self._closed and self._users == 0 and self._handle is not None:
            handle, self._handle = self._handle, None
            self._free(handle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._free_if_unused()

    def release(self) -> None:
        """Free at once, without the lock: only for an owner being collected."""
        handle, self._handle = self._handle, None
        self._closed = True
        if handle is not None:
            self._free(handle)


_Owner = TypeVar("_Owner", bound="NativeOwner")


class NativeOwner:
    """The context-manager and collection protocol of a Python object that
    owns a :class:`NativeHandle` in ``self._native`` and frees it in ``close``."""

    _native: NativeHandle

    def close(self) -> None:  # pragma: no cover - every owner defines its own
        self._native.close()

    def __enter__(self: _Owner) -> _Owner:
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
        # call in progress holds a reference to its owner.
        native: Optional[NativeHandle] = self.__dict__.get("_native")
        if native is not None:
            native.release()
