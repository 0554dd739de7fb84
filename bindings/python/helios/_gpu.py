""":func:`rkhs_embed_gpu` and :class:`DeviceArray` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import math
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ._device import Device
from ._embed import FloatMatrix, _check_matrix, _real
from ._errors import check
from ._handle import NativeHandle, NativeOwner
from ._lib import LIB, LIBRARY_PATH, Handle, declare

_SIZE = ctypes.c_size_t
_ARGS = (
    Handle,
    ctypes.c_void_p, _SIZE, _SIZE, _SIZE,  # x, n, d, ldx
    ctypes.c_void_p, _SIZE, _SIZE,  # landmarks, m, ldl
    ctypes.c_double, ctypes.c_double,  # gamma, ridge
    ctypes.c_void_p, _SIZE,  # out, out_capacity
    ctypes.c_void_p,  # stream
)
_VOID = ctypes.c_void_p
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_rkhs_embed_device_f32": (ctypes.c_int, _ARGS),
    "helios_rkhs_embed_host_staged_f32": (ctypes.c_int, _ARGS),
    "helios_device_alloc": (ctypes.c_int, (Handle, _SIZE, ctypes.POINTER(_VOID))),
    "helios_device_dealloc": (ctypes.c_int, (Handle, _VOID)),
    "helios_device_copy_to_device": (ctypes.c_int, (Handle, _VOID, _SIZE, _VOID, _VOID)),
    "helios_device_copy_to_host": (ctypes.c_int, (Handle, _VOID, _SIZE, _VOID, _VOID)),
}

declare(LIB, LIBRARY_PATH, _SIGNATURES)

#: A device array: any object with ``__cuda_array_interface__`` (a PyTorch
#: CUDA tensor, a CuPy array, a Numba device array, a :class:`DeviceArray`).
_CudaArray = Any


def _open(device: Any) -> Tuple[Device, bool]:
    """``device`` (a :class:`Device` or an ordinal) as a Device, and whether
    it was opened here (and is the caller's to close)."""
    if isinstance(device, Device):
        return device, False
    if isinstance(device, bool) or not isinstance(device, int):
        raise TypeError(f"device must be a helios.Device or an int ordinal, got {device!r}")
    return Device.open(device), True


class DeviceArray(NativeOwner):
    """A C-contiguous float32 array in CUDA device memory that helios
    allocated: what the GPU functions return when given device inputs and no
    ``out``. It has ``__cuda_array_interface__`` (version 3), so
    ``torch.as_tensor(array, device="cuda")`` and ``cupy.asarray(array)``
    view it without a copy (keeping it alive); :meth:`to_numpy` copies it to
    the host, :meth:`from_numpy` makes one from a host array.

    The memory is freed by :meth:`close` (or the context manager, or the
    garbage collector) once no helios call is using it; a view made by
    another library must not outlive it unless that library keeps the array
    alive (PyTorch and CuPy do).

    Thread safety: shareable (one object may be used from any number of
    threads at once); the memory itself is ordered by the streams that use
    it, as any device memory.
    """

    _native: NativeHandle
    shape: Tuple[int, ...]
    dtype: np.dtype
    device: int

    def __init__(self) -> None:
        raise TypeError("make a helios.DeviceArray with DeviceArray.empty or DeviceArray.from_numpy")

    @classmethod
    def empty(cls, shape: Sequence[int], device: Union[int, Device] = 0) -> DeviceArray:
        """An uninitialised float32 array of ``shape`` on ``device``.

        Raises:
            ValueError: a negative or empty shape.
            HeliosError: ``HELIOS_ERR_UNSUPPORTED`` (built without ``cuda``),
                ``HELIOS_ERR_DEVICE`` (no driver or device),
                ``HELIOS_ERR_OUT_OF_MEMORY``.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        dims = tuple(int(v) for v in shape)
        if not dims or any(v < 0 for v in dims):
            raise ValueError(f"shape must be non-negative dimensions, got {tuple(shape)}")
        count = math.prod(dims)
        if count == 0:
            raise ValueError(f"shape {dims} holds no element; a device array needs one or more")
        owner, mine = _open(device)
        try:
            # The array keeps a handle of its own, so that closing the
            # caller's Device does not strand the memory.
            own = Device.open(owner.ordinal)
        finally:
            if mine:
                owner.close()
        pointer = ctypes.c_void_p()
        try:
            with own._native.borrow() as live:
                check(LIB.helios_device_alloc(live, count * 4, ctypes.byref(pointer)))
        except BaseException:
            own.close()
            raise
        array = cls.__new__(cls)
        array.shape = dims
        array.dtype = np.dtype(np.float32)
        array.device = own.ordinal
        array._owner = own

        def free(address: int) -> None:
            with own._native.borrow() as live:
                LIB.helios_device_dealloc(live, address)
            own.close()

        assert pointer.value is not None, "helios returned HELIOS_OK without memory"
        array._native = NativeHandle(pointer.value, free, "helios.DeviceArray")
        return array

    @classmethod
    def from_numpy(
        cls, array: np.ndarray, device: Union[int, Device] = 0, *, stream: Any = None
    ) -> DeviceArray:
        """A device copy of the float32 numpy ``array``, written on
        ``stream`` (as in :func:`rkhs_embed_gpu`; the default stream when
        None) and finished when this returns.

        Raises:
            TypeError: not a float32 ndarray.
            HeliosError: as :meth:`empty`.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            raise TypeError("from_numpy takes a float32 numpy array (use .astype(np.float32))")
        host = np.ascontiguousarray(array)
        result = cls.empty(host.shape, device)
        try:
            with result._native.borrow() as pointer, result._owner._native.borrow() as live:
                check(
                    LIB.helios_device_copy_to_device(
                        live, host.ctypes.data, host.nbytes, pointer, _stream_handle(stream)
                    )
                )
        except BaseException:
            result.close()
            raise
        return result

    def to_numpy(self, *, stream: Any = None) -> np.ndarray:
        """A host copy (a new numpy array), read on ``stream`` after the work
        queued there (the default stream when None).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        host = np.empty(self.shape, np.float32)
        with self._native.borrow() as pointer, self._owner._native.borrow() as live:
            check(
                LIB.helios_device_copy_to_host(
                    live, pointer, host.nbytes, host.ctypes.data, _stream_handle(stream)
                )
            )
        return host

    @property
    def nbytes(self) -> int:
        """The bytes the array spans.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return math.prod(self.shape) * 4

    @property
    def __cuda_array_interface__(self) -> Dict[str, Any]:
        with self._native.borrow() as pointer:
            return {
                "shape": self.shape,
                "typestr": "<f4",
                "data": (pointer, False),
                "version": 3,
                "strides": None,
                # helios's calls finish their stream's work before they
                # return: nothing is pending on the memory.
                "stream": None,
            }

    def close(self) -> None:
        """Free the memory once no helios call is using it; closing twice is
        harmless.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"device {self.device}"
        return f"helios.DeviceArray(shape={self.shape}, float32, {state})"


def _device_matrix(name: str, array: _CudaArray) -> Tuple[int, int, int, int]:
    """(pointer, rows, cols, leading dimension) of a 2-D float32 device
    array with contiguous rows, from its ``__cuda_array_interface__``."""
    interface = array.__cuda_array_interface__
    if interface.get("typestr") != "<f4":
        raise TypeError(
            f"{name} has typestr {interface.get('typestr')!r}; the GPU feature map takes "
            f"float32 ('<f4') device arrays"
        )
    shape = tuple(interface["shape"])
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (one row per point), got shape {shape}")
    rows, cols = shape
    strides = interface.get("strides")
    ld = cols
    if strides is not None:
        row_stride, col_stride = strides
        if cols > 1 and col_stride != 4:
            raise ValueError(f"{name} does not have contiguous rows (strides {strides})")
        if rows > 1:
            if row_stride % 4 or row_stride < cols * 4:
                raise ValueError(f"{name}'s rows are not a whole row apart (strides {strides})")
            ld = row_stride // 4
    pointer, read_only = interface["data"]
    if name == "out" and read_only:
        raise ValueError("out is read-only")
    return int(pointer), rows, cols, ld


def _stream_handle(stream: Any, *arrays: _CudaArray) -> int:
    """A ``CUstream`` as an int: the argument (an int, or an object with
    ``.cuda_stream`` (PyTorch) or ``.ptr`` (CuPy)), else the stream the first
    array names in its interface (version 3), else 0 (the default stream)."""
    if stream is None:
        for array in arrays:
            named = array.__cuda_array_interface__.get("stream")
            if isinstance(named, int):
                return named
        return 0
    if isinstance(stream, int) and not isinstance(stream, bool):
        return stream
    for attribute in ("cuda_stream", "ptr"):
        value = getattr(stream, attribute, None)
        if isinstance(value, int):
            return value
    raise TypeError(
        f"stream must be an int CUstream or an object with .cuda_stream or .ptr, "
        f"got {type(stream).__name__}"
    )


def rkhs_embed_gpu(
    X: Union[FloatMatrix, _CudaArray],
    landmarks: Union[FloatMatrix, _CudaArray],
    gamma: float,
    ridge: float = 1e-6,
    *,
    device: Union[int, Device] = 0,
    stream: Any = None,
    out: Optional[Union[FloatMatrix, _CudaArray]] = None,
) -> Union[FloatMatrix, _CudaArray]:
    """:func:`helios.rkhs_embed` on a CUDA device, float32.

    Two ways to call it:

    * device arrays (objects with ``__cuda_array_interface__``: PyTorch CUDA
      tensors, CuPy arrays, :class:`DeviceArray`) for ``X`` and
      ``landmarks``, and for ``out`` or, without ``out``, a new
      :class:`DeviceArray` returned; on ``stream`` (an int ``CUstream``, or
      an object with ``.cuda_stream`` or ``.ptr``; by default the stream
      ``X``'s interface names, else the default stream);
    * numpy float32 arrays, copied to the device and back on the stream
      (host-staged); ``out`` optional.

    The work runs on that stream, which helios never replaces, and the call
    returns once the stream has finished it. Results match the CPU path
    within 1e-5 of the output's largest magnitude.

    Raises:
        TypeError: a dtype other than float32, mixed host and device arrays,
            a ``stream`` of another kind.
        ValueError: shapes, layouts, a missing ``out`` for device arrays.
        HeliosError: ``HELIOS_ERR_UNSUPPORTED`` (the library was built
            without the ``cuda`` feature), ``HELIOS_ERR_DEVICE`` (no CUDA
            driver or device), ``HELIOS_ERR_INVALID_ARGUMENT`` (a host
            pointer in a device array, parameters out of range),
            ``HELIOS_ERR_OUT_OF_MEMORY``, ``HELIOS_ERR_NUMERIC``.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    gamma_value = _real("gamma", gamma)
    ridge_value = _real("ridge", ridge)
    on_device = [hasattr(a, "__cuda_array_interface__") for a in (X, landmarks)]
    if any(on_device) and not all(on_device):
        raise TypeError("X and landmarks must both be device arrays or both numpy arrays")

    def call(function: Any, *args: Any) -> None:
        # The arguments are checked first: a mistake is reported as such
        # even on a machine without a GPU.
        opened, mine = _open(device)
        try:
            with opened._native.borrow() as live:
                check(function(live, *args))
        finally:
            if mine:
                opened.close()

    if all(on_device):
        if out is not None and not hasattr(out, "__cuda_array_interface__"):
            raise ValueError(
                "out: pass a float32 device array of shape (n, m) for device inputs "
                "(for example torch.empty((n, m), device='cuda')), or none for a new "
                "helios.DeviceArray"
            )
        x_ptr, n, d, ldx = _device_matrix("X", X)
        l_ptr, m, landmark_dim, ldl = _device_matrix("landmarks", landmarks)
        if landmark_dim != d:
            raise ValueError(f"X has {d} columns but landmarks has {landmark_dim}")
        handle = _stream_handle(stream, X, landmarks)
        result = DeviceArray.empty((n, m), device) if out is None else out
        try:
            o_ptr, out_rows, out_cols, out_ld = _device_matrix("out", result)
            if (out_rows, out_cols) != (n, m) or out_ld != m:
                raise ValueError(f"out must be a dense ({n}, {m}) array")
            call(
                LIB.helios_rkhs_embed_device_f32,
                x_ptr, n, d, ldx, l_ptr, m, ldl, gamma_value, ridge_value, o_ptr, n * m, handle,
            )
        except BaseException:
            if out is None:
                result.close()
            raise
        return result
    for name, array in (("X", X), ("landmarks", landmarks)):
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            raise TypeError(f"{name} must be a float32 numpy array or a device array")
    ldx = _check_matrix("X", X)
    ldl = _check_matrix("landmarks", landmarks)
    (n, d), (m, landmark_dim) = X.shape, landmarks.shape
    if landmark_dim != d:
        raise ValueError(f"X has {d} columns but landmarks has {landmark_dim}")
    if out is None:
        output = np.empty((n, m), np.float32)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise TypeError("out must be a float32 numpy array for numpy inputs")
        if out.shape != (n, m) or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"out must be a writable C-contiguous ({n}, {m}) array")
        output = out
    handle = _stream_handle(stream)
    call(
        LIB.helios_rkhs_embed_host_staged_f32,
        X.ctypes.data, n, d, ldx, landmarks.ctypes.data, m, ldl,
        gamma_value, ridge_value, output.ctypes.data, output.size, handle,
    )
    return output
