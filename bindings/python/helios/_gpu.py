""":func:`rkhs_embed_gpu` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ._device import Device
from ._embed import FloatMatrix, _check_matrix, _real
from ._errors import check
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
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_rkhs_embed_device_f32": (ctypes.c_int, _ARGS),
    "helios_rkhs_embed_host_staged_f32": (ctypes.c_int, _ARGS),
}

declare(LIB, LIBRARY_PATH, _SIGNATURES)

#: A device array: any object with ``__cuda_array_interface__`` (a PyTorch
#: CUDA tensor, a CuPy array, a Numba device array).
DeviceArray = Any


def _device_matrix(name: str, array: DeviceArray) -> Tuple[int, int, int, int]:
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


def _stream_handle(stream: Any, *arrays: DeviceArray) -> int:
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
    X: Union[FloatMatrix, DeviceArray],
    landmarks: Union[FloatMatrix, DeviceArray],
    gamma: float,
    ridge: float = 1e-6,
    *,
    device: Union[int, Device] = 0,
    stream: Any = None,
    out: Optional[Union[FloatMatrix, DeviceArray]] = None,
) -> Union[FloatMatrix, DeviceArray]:
    """:func:`helios.rkhs_embed` on a CUDA device, float32.

    Two ways to call it:

    * device arrays (objects with ``__cuda_array_interface__``: PyTorch CUDA
      tensors, CuPy arrays) for ``X``, ``landmarks`` and ``out`` (required:
      helios does not allocate device arrays for you), on ``stream`` (an int
      ``CUstream``, or an object with ``.cuda_stream`` or ``.ptr``; by
      default the stream ``X``'s interface names, else the default stream);
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
        opened = device if isinstance(device, Device) else Device.open(int(device))
        try:
            with opened._native.borrow() as live:
                check(function(live, *args))
        finally:
            if opened is not device:
                opened.close()

    if all(on_device):
        if out is None or not hasattr(out, "__cuda_array_interface__"):
            raise ValueError(
                "out: pass a float32 device array of shape (n, m) for device inputs "
                "(for example torch.empty((n, m), device='cuda'))"
            )
        x_ptr, n, d, ldx = _device_matrix("X", X)
        l_ptr, m, landmark_dim, ldl = _device_matrix("landmarks", landmarks)
        o_ptr, out_rows, out_cols, out_ld = _device_matrix("out", out)
        if landmark_dim != d:
            raise ValueError(f"X has {d} columns but landmarks has {landmark_dim}")
        if (out_rows, out_cols) != (n, m) or out_ld != m:
            raise ValueError(f"out must be a dense ({n}, {m}) array")
        handle = _stream_handle(stream, X, landmarks)
        call(
            LIB.helios_rkhs_embed_device_f32,
            x_ptr, n, d, ldx, l_ptr, m, ldl, gamma_value, ridge_value, o_ptr, n * m, handle,
        )
        return out
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
