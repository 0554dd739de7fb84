""":class:`Device` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
from typing import Any, Dict, Optional, Tuple

from ._errors import check
from ._handle import NativeHandle, NativeOwner
from ._lib import LIB, LIBRARY_PATH, Handle, declare

_SIZE = ctypes.c_size_t
_SIZE_OUT = ctypes.POINTER(ctypes.c_size_t)
_U32_OUT = ctypes.POINTER(ctypes.c_uint32)

_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_device_count": (ctypes.c_int, (_SIZE_OUT,)),
    "helios_device_open": (ctypes.c_int, (_SIZE, ctypes.POINTER(Handle))),
    "helios_device_name": (ctypes.c_int, (Handle, ctypes.c_void_p, _SIZE, _SIZE_OUT)),
    "helios_device_memory": (ctypes.c_int, (Handle, _SIZE_OUT, _SIZE_OUT)),
    "helios_device_compute_capability": (ctypes.c_int, (Handle, _U32_OUT, _U32_OUT)),
    "helios_device_free": (None, (Handle,)),
}

declare(LIB, LIBRARY_PATH, _SIGNATURES)


class Device(NativeOwner):
    """A CUDA device: its name, memory and compute capability, and the CUDA
    context (the driver's primary context, one per device for the process)
    that helios's GPU functions run in.

    >>> import helios
    >>> try:
    ...     device = helios.Device.open(0)
    ... except helios.HeliosError as error:
    ...     error.code in (helios.Status.UNSUPPORTED, helios.Status.DEVICE)
    ... else:
    ...     device.total_memory > 0
    True

    :meth:`open` raises :class:`HeliosError` with ``HELIOS_ERR_UNSUPPORTED``
    when the library was built without the ``cuda`` feature and
    ``HELIOS_ERR_DEVICE`` on a machine without a CUDA driver or device; the
    message says which.

    Thread safety: shareable (one object may be used from any number of
    threads at once).
    """

    _native: NativeHandle
    ordinal: int
    name: str
    total_memory: int
    compute_capability: Tuple[int, int]

    def __init__(self) -> None:
        raise TypeError("open a helios.Device with Device.open(ordinal)")

    @staticmethod
    def count() -> int:
        """The number of CUDA devices.

        Raises:
            HeliosError: ``HELIOS_ERR_UNSUPPORTED`` (built without ``cuda``),
                ``HELIOS_ERR_DEVICE`` (no CUDA driver).

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        count = ctypes.c_size_t()
        check(LIB.helios_device_count(ctypes.byref(count)))
        return count.value

    @classmethod
    def open(cls, ordinal: int = 0) -> Device:
        """Open CUDA device ``ordinal`` (0 for the first).

        Raises:
            HeliosError: ``HELIOS_ERR_UNSUPPORTED`` (built without ``cuda``),
                ``HELIOS_ERR_DEVICE`` (no CUDA driver or device),
                ``HELIOS_ERR_INVALID_ARGUMENT`` (no device ``ordinal``).
            ValueError: ``ordinal`` is negative.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        if int(ordinal) < 0:
            raise ValueError(f"ordinal must be 0 or more, not {ordinal}")
        handle = Handle()
        check(LIB.helios_device_open(int(ordinal), ctypes.byref(handle)))
        return cls._from_handle(handle.value, int(ordinal))

    @classmethod
    def _from_handle(cls, handle: Optional[int], ordinal: int) -> Device:
        assert handle is not None, "helios returned HELIOS_OK without a device"
        device = cls.__new__(cls)
        device._native = NativeHandle(handle, LIB.helios_device_free, "helios.Device")
        device.ordinal = ordinal
        with device._native.borrow() as live:
            length = ctypes.c_size_t()
            status = LIB.helios_device_name(live, None, 0, ctypes.byref(length))
            buffer = ctypes.create_string_buffer(length.value)
            if length.value:
                check(LIB.helios_device_name(live, buffer, length.value, ctypes.byref(length)))
            elif status:
                check(status)
            device.name = buffer.raw[: length.value].decode("utf-8", "replace")
            total = ctypes.c_size_t()
            check(LIB.helios_device_memory(live, None, ctypes.byref(total)))
            device.total_memory = total.value
            major, minor = ctypes.c_uint32(), ctypes.c_uint32()
            check(
                LIB.helios_device_compute_capability(
                    live, ctypes.byref(major), ctypes.byref(minor)
                )
            )
            device.compute_capability = (major.value, minor.value)
        return device

    @property
    def free_memory(self) -> int:
        """Bytes of device memory not in use now (by any process).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        free = ctypes.c_size_t()
        with self._native.borrow() as live:
            check(LIB.helios_device_memory(live, ctypes.byref(free), None))
        return free.value

    def close(self) -> None:
        """Release the handle (the CUDA context stays for the process);
        closing twice is harmless.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()

    def __repr__(self) -> str:
        return (
            f"helios.Device({self.ordinal}: {self.name!r}, compute "
            f"{self.compute_capability[0]}.{self.compute_capability[1]}, "
            f"{self.total_memory >> 20} MB)"
        )
