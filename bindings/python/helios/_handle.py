"""The lifetime and persistence of a C object owned by a Python object (private module)."""

from __future__ import annotations

import ctypes
import os
import threading
import types
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, Optional, Type, TypeVar, Union

import numpy as np

from ._errors import Status, check
from ._lib import AUTO, Handle, size_or_auto

#: A file path: ``str``, ``bytes`` or an :class:`os.PathLike` of either.
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: What ``from_bytes`` reads: ``bytes``, ``bytearray``, ``memoryview`` or any
#: other object with the buffer protocol.
BytesLike = Union[bytes, bytearray, memoryview]

_BYTES = ctypes.POINTER(ctypes.c_uint8)


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

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self._native.closed

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


_Persistent = TypeVar("_Persistent", bound="NativePersistent")


class NativePersistent(NativeOwner):
    """A :class:`NativeOwner` whose C object saves, loads and pickles.

    The members that every such owner has in common live here once:
    :meth:`load`, :meth:`from_bytes`, :meth:`save`, :meth:`to_bytes`,
    pickling, :meth:`close` and the adoption of a new C handle. A subclass gives

    * ``_entry(name)``: the C function ``helios_<object>_<name>`` (``load``,
      ``from_bytes``, ``save``, ``to_bytes``, ``free``, ``set_threads``),
      looked up in the subclass's module at each call;
    * ``_native_name``: the object in messages (``"helios.VectorIndex"``);
    * ``_noun``: the C object in docstrings and messages, and the key of its
      bytes in a pickle (``"index"``);
    * ``_doc_fields``: the rest of the docstrings' fields (see the ``{...}``
      in the docstrings below);
    * ``_cache_options()``: reads the fixed options of the adopted C object.

    Each subclass gets its own copy of the shared public members, with the
    docstrings filled in for it (so ``help`` and ``vars`` show them on the
    subclass).
    """

    _native_name: str
    _noun: str
    _doc_fields: Dict[str, str]

    #: The members copied into each subclass (unless it defines its own),
    #: with their docstrings filled in.
    _SHARED = (
        "load",
        "from_bytes",
        "save",
        "to_bytes",
        "__getstate__",
        "__setstate__",
        "close",
    )

    @staticmethod
    def _entry(name: str) -> Any:  # pragma: no cover - every subclass defines its own
        raise NotImplementedError

    def _cache_options(self) -> None:  # pragma: no cover - every subclass defines its own
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = {"noun": cls._noun, **cls._doc_fields}
        fields["A_noun"] = fields["a_noun"][:1].upper() + fields["a_noun"][1:]
        for name in cls._SHARED:
            owner = next(klass for klass in cls.__mro__ if name in klass.__dict__)
            if owner is NativePersistent:  # not overridden (nor copied already)
                setattr(cls, name, _specialised(NativePersistent.__dict__[name], cls, fields))

    # ---- construction from a handle ----------------------------------------

    def _adopt(self, handle: Optional[int], threads: int) -> None:
        """Own the new C object ``handle``, cache its fixed options and, unless
        ``threads`` is :data:`AUTO`, set its thread count; free it on failure."""
        a_noun = self._doc_fields["a_noun"]
        assert handle is not None, f"helios returned HELIOS_OK without {a_noun}"
        self._native = NativeHandle(handle, self._entry("free"), self._native_name)
        try:
            self._cache_options()
            if threads != AUTO:
                self._set_threads(threads)
        except BaseException:
            self._native.close()
            raise

    @classmethod
    def _from_handle(
        cls: Type[_Persistent], handle: Optional[int], threads: int
    ) -> _Persistent:
        owner = cls.__new__(cls)
        owner._adopt(handle, threads)
        return owner

    @classmethod
    def _handle_from_bytes(cls, data: BytesLike) -> Optional[int]:
        """A C object (its handle) from the bytes of ``to_bytes``."""
        try:
            view = np.frombuffer(data, np.uint8)  # no copy; read only
        except TypeError:
            raise TypeError(
                f"data must be bytes-like (bytes, bytearray, memoryview), got {type(data).__name__}"
            ) from None
        handle = Handle()
        data_pointer = view.ctypes.data_as(_BYTES)
        check(cls._entry("from_bytes")(data_pointer, view.size, ctypes.byref(handle)))
        return handle.value

    def _set_threads(self, count: int) -> None:
        with self._native.borrow() as handle:
            check(self._entry("set_threads")(handle, count))

    @classmethod
    def load(
        cls: Type[_Persistent], path: PathLike, threads: Optional[int] = None
    ) -> _Persistent:
        """Load {a_noun} written by :meth:`save`.

        {loaded};
        its thread count is ``threads``, which is not saved.

        Args:
            path: the file, a ``str``, ``bytes`` or :class:`os.PathLike`.
            threads: worker threads, or ``None`` for
                :func:`helios.get_num_threads`.

        Raises:
            TypeError: ``path`` is not a path or ``threads`` not an int.
            HeliosError: ``HELIOS_ERR_IO`` when the file cannot be read
                (missing, a folder, no permission); ``HELIOS_ERR_FORMAT``
                when it is not {a_noun} file, or is truncated, corrupt or of
                a newer format version; ``HELIOS_ERR_INVALID_ARGUMENT`` for an
                empty path, one that is not UTF-8 or holds a NUL, or a thread
                count of 0 or above 1024.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        raw = os.fsencode(path)
        thread_count = size_or_auto("threads", threads)
        handle = Handle()
        check(cls._entry("load")(raw, len(raw), ctypes.byref(handle)))
        return cls._from_handle(handle.value, thread_count)

    @classmethod
    def from_bytes(
        cls: Type[_Persistent], data: BytesLike, threads: Optional[int] = None
    ) -> _Persistent:
        """{A_noun} from the bytes of :meth:`to_bytes` (or of a saved file).

        Args:
            data: ``bytes``, ``bytearray``, ``memoryview`` or any buffer; it
                is read, not kept.
            threads: worker threads, or ``None`` for
                :func:`helios.get_num_threads`.

        Raises:
            TypeError: ``data`` is not bytes-like or ``threads`` not an int.
            HeliosError: ``HELIOS_ERR_FORMAT`` when the bytes are not
                {a_noun}, or are truncated or corrupt.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        thread_count = size_or_auto("threads", threads)
        return cls._from_handle(cls._handle_from_bytes(data), thread_count)

    # ---- persistence --------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Save the {saved} to ``path`` (replaced if it exists).

        The file is versioned and checksummed, and written to a temporary
        file in the same folder that is then renamed over ``path``, so a
        reader never sees half a file{save_failure}.
        The thread count is not saved.

        Raises:
            TypeError: ``path`` is not a ``str``, ``bytes`` or
                :class:`os.PathLike`.
            HeliosError: {unbuilt_error}``HELIOS_ERR_IO`` when the file cannot be written;
                ``HELIOS_ERR_INVALID_ARGUMENT`` for an empty path, one that
                is not UTF-8 or holds a NUL{busy_error}.

        Thread safety: {thread_safety}{file_snapshot}.
        """
        raw = os.fsencode(path)
        with self._native.borrow() as handle:
            check(self._entry("save")(handle, raw, len(raw)))

    def to_bytes(self) -> bytes:
        """The {saved} as bytes (those :meth:`save` writes), for :meth:`from_bytes`.
        {unbuilt_note}
        Thread safety: {thread_safety}{bytes_snapshot}.
        """
        to_bytes = self._entry("to_bytes")
        needed = ctypes.c_size_t()
        buffer = np.empty(0, np.uint8)
        with self._native.borrow() as handle:
            # The first call (NULL, capacity 0) asks for the size; a write on
            # another thread may grow it before the next call, so ask again.
            while True:
                pointer = buffer.ctypes.data_as(_BYTES) if buffer.size else None
                status = to_bytes(handle, pointer, buffer.size, ctypes.byref(needed))
                if status == Status.BUFFER_TOO_SMALL and needed.value > buffer.size:
                    buffer = np.empty(needed.value, np.uint8)
                    continue
                check(status)
                break
        return buffer[: needed.value].tobytes()

    def __getstate__(self) -> Dict[str, Any]:
        """The {noun}'s bytes with its thread count."""
        return {self._noun: self.to_bytes(), "threads": self.threads}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        threads = size_or_auto("threads", state["threads"])
        self._adopt(self._handle_from_bytes(state[self._noun]), threads)

    # ---- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the C {noun}; closing twice is harmless.

        Calls still running on {callers} finish first (the C {noun} is
        freed when the last one returns); later calls raise
        :class:`ValueError`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()


def _specialised(member: Any, cls: type, fields: Dict[str, str]) -> Any:
    """A copy of the function or classmethod ``member`` of
    :class:`NativePersistent` for ``cls``, its docstring filled in with ``fields``."""
    wrapper = type(member) if isinstance(member, classmethod) else None
    function = member.__func__ if wrapper else member
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__module__ = cls.__module__
    copy.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
    copy.__doc__ = function.__doc__.format(**fields) if function.__doc__ else None
    copy.__annotations__ = {
        key: cls.__name__ if value == "_Persistent" else value
        for key, value in function.__annotations__.items()
    }
    return wrapper(copy) if wrapper else copy
