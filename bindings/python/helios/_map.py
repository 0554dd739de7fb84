""":func:`parallel_map` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt
from _ctypes import CFuncPtr

from ._cancel import CancelToken
from ._errors import check
from ._lib import LIB, KernelF32, KernelF64, RawKernel, size_or_auto, size_t

#: A 1-D float32 or float64 array.
FloatArray = npt.NDArray[Union[np.float32, np.float64]]

#: ``kernel(block, core_start, core_len) -> core_len values``.
PythonKernel = Callable[[FloatArray, int, int], npt.ArrayLike]

#: What may be passed as ``user_data`` to a native kernel.
if TYPE_CHECKING:
    UserData = Union[None, int, ctypes.c_void_p, ctypes._Pointer[Any], ctypes.Array[Any]]
else:  # the ctypes classes are not subscriptable at run time
    UserData = Union[None, int, ctypes.c_void_p, ctypes._Pointer, ctypes.Array]


@dataclass(frozen=True)
class _Flavor:
    """The C entry point and kernel type for one element type."""

    kernel_type: Any
    kernel_name: str
    function: Any


_FLAVORS: Dict[np.dtype, _Flavor] = {
    np.dtype(np.float32): _Flavor(KernelF32, "KernelF32", LIB.helios_parallel_map_f32),
    np.dtype(np.float64): _Flavor(KernelF64, "KernelF64", LIB.helios_parallel_map_f64),
}


class _Memory:
    """``length`` elements at ``address``, exposed to numpy without a copy."""

    __slots__ = ("__array_interface__",)

    def __init__(self, address: int, length: int, dtype: np.dtype, writable: bool) -> None:
        self.__array_interface__ = {
            "version": 3,
            "shape": (length,),
            "typestr": dtype.str,
            "data": (address, not writable),
        }


def _view(address: int, length: int, dtype: np.dtype, writable: bool) -> FloatArray:
    return np.asarray(_Memory(address, length, dtype, writable))


class _PythonKernel:
    """Runs a Python kernel as the C kernel of one :func:`parallel_map` call.

    No exception ever crosses into C: a failing block returns non-zero, which
    stops the run, and :meth:`raise_failure` re-raises the exception of the
    lowest failing block (the one helios itself reports, whatever the thread
    count). Keep the object alive until the C call has returned.
    """

    def __init__(self, kernel: PythonKernel, array: FloatArray, kernel_type: Any) -> None:
        self._kernel = kernel
        self._dtype = array.dtype
        self._input_address = array.ctypes.data
        self._lock = threading.Lock()
        self._failure: Optional[Tuple[int, BaseException]] = None
        self._raw = RawKernel(self._run_block)
        self.c_kernel = ctypes.cast(self._raw, kernel_type)

    def _run_block(
        self,
        block: int,
        block_len: int,
        core_offset: int,
        core_len: int,
        core_out: int,
        _user_data: Optional[int],
    ) -> int:
        try:
            values = np.asarray(
                self._kernel(_view(block, block_len, self._dtype, False), core_offset, core_len)
            )
            if values.shape != (core_len,):
                raise ValueError(
                    f"the kernel must return {core_len} values (one per core element), "
                    f"but it returned an array of shape {values.shape}"
                )
            np.copyto(_view(core_out, core_len, self._dtype, True), values, casting="same_kind")
            return 0
        except BaseException as error:  # noqa: B036 - nothing may propagate into C
            position = (block - self._input_address) // self._dtype.itemsize + core_offset
            with self._lock:
                if self._failure is None or position < self._failure[0]:
                    self._failure = (position, error)
            return 1

    def raise_failure(self) -> None:
        """Re-raise the kernel's exception, if it raised one."""
        failure, self._failure = self._failure, None  # no cycle through the traceback
        if failure is not None:
            raise failure[1]


def _flavor_of(array: FloatArray) -> _Flavor:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy.ndarray, got {type(array).__name__}")
    flavor = _FLAVORS.get(array.dtype)
    if flavor is None:
        raise TypeError(
            f"array has dtype {array.dtype}, but helios maps float32 and float64 "
            f"arrays only; convert it explicitly (array.astype(np.float32))"
        )
    if array.ndim != 1:
        raise ValueError(
            f"array must be 1-D, got {array.ndim}-D (shape {array.shape}); "
            f"pass array.ravel() to map every element"
        )
    if not array.flags.c_contiguous:
        raise ValueError(
            "array is not contiguous (a strided view such as x[::2]); "
            "pass np.ascontiguousarray(array)"
        )
    return flavor


def _checked_out(out: FloatArray, array: FloatArray) -> FloatArray:
    _flavor_of(out)
    if out.dtype != array.dtype:
        raise TypeError(f"out has dtype {out.dtype} but array has {array.dtype}; they must match")
    if out.shape != array.shape:
        raise ValueError(f"out has shape {out.shape} but array has {array.shape}; they must match")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def _native_user_data(user_data: UserData) -> Any:
    try:
        return ctypes.c_void_p.from_param(user_data)
    except TypeError:
        raise TypeError(
            f"user_data must be None, an int address or a ctypes pointer or array, "
            f"got {type(user_data).__name__}"
        ) from None


def parallel_map(
    array: FloatArray,
    kernel: Union[PythonKernel, CFuncPtr],
    halo: int = 0,
    block_elems: Optional[int] = None,
    threads: Optional[int] = None,
    cancel: Optional[CancelToken] = None,
    user_data: UserData = None,
    out: Optional[FloatArray] = None,
) -> FloatArray:
    """Map a 1-D float array block by block with ``kernel``, in parallel.

    The array is cut into blocks of ``block_elems`` elements (whatever the
    thread count); each block's core is extended by ``halo`` neighbours on
    each side (fewer at the ends of the array) and handed to the kernel. With
    ``halo`` at least the kernel's radius, the result is bit for bit
    ``kernel(array, 0, len(array))``, for every thread count and block size.

    Args:
        array: a contiguous 1-D ``float32`` or ``float64`` array; it must not
            be modified while the call runs.
        kernel: either a Python callable ``kernel(block, core_start,
            core_len)`` returning ``core_len`` values (any array-like; they
            are converted to the array's dtype as numpy assignment does), or
            a native kernel, a :data:`helios.KernelF32` /
            :data:`helios.KernelF64` function pointer matching the dtype.
            ``block`` is a read-only view of the core and up to ``halo``
            neighbours on each side, valid only during the call; the core is
            ``block[core_start:core_start + core_len]``. The kernel is called
            from several threads at once. A Python kernel takes the GIL for
            each block; a native kernel is passed straight to C and runs on
            the helios threads without it.
        halo: neighbours added on each side of every core (at most
            ``len(array)``).
        block_elems: core elements per block; ``None`` lets helios choose a
            size that depends only on the length and the halo.
        threads: worker threads (1 runs everything on the calling thread);
            ``None`` for :func:`helios.get_num_threads`.
        cancel: a :class:`helios.CancelToken` checked before every block.
        user_data: the ``void *user_data`` handed to a native kernel (an int
            address or a ctypes pointer/array, kept alive by the caller); not
            allowed with a Python kernel, which can close over its data.
        out: an array to write the result into instead of a new one: 1-D,
            contiguous, writable, of the same length and dtype as ``array``
            and not overlapping it. Reusing it saves an allocation (and its
            page faults) per call.

    Returns:
        ``out``, or a new array of the same length and dtype (never a
        different precision).

    Raises:
        TypeError: ``array`` or ``out`` is not a float32/float64 ndarray (or
            their dtypes differ), or ``kernel``, ``cancel`` or ``user_data``
            has the wrong type.
        ValueError: ``array`` or ``out`` is not 1-D or not contiguous, ``out``
            has another length or is read-only, a size argument is negative,
            or a Python kernel returned the wrong number of values.
        HeliosError: helios refused the call (``HELIOS_ERR_INVALID_ARGUMENT``
            for an empty array, ``halo > len(array)``, ``block_elems=0``,
            ``threads=0`` or above 1024, an array not aligned to its element
            size, or ``out`` overlapping ``array``) or it was stopped
            (``HELIOS_ERR_CANCELLED``: the token was raised or a native
            kernel returned non-zero).
        Exception: the first exception a Python kernel raised (by position
            in the array), re-raised unchanged; the run stops at that block.

    Thread safety: reentrant (safe to call from any number of threads at
    once). The kernel itself runs on several threads at once.
    """
    flavor = _flavor_of(array)
    options = LIB.helios_parallel_map_default_options()
    options.halo = size_t("halo", halo)
    options.block_elems = size_or_auto("block_elems", block_elems)
    options.threads = size_or_auto("threads", threads)
    if cancel is not None and not isinstance(cancel, CancelToken):
        raise TypeError(f"cancel must be a helios.CancelToken, got {type(cancel).__name__}")

    adapter: Optional[_PythonKernel] = None
    if isinstance(kernel, CFuncPtr):
        if not isinstance(kernel, flavor.kernel_type):
            raise TypeError(
                f"a native kernel for a {array.dtype} array must be a "
                f"helios.{flavor.kernel_name}, got {type(kernel).__name__}; wrap a C "
                f'function with helios.{flavor.kernel_name}(("name", ctypes.CDLL(path)))'
            )
        c_kernel, c_user_data = kernel, _native_user_data(user_data)
    elif callable(kernel):
        if user_data is not None:
            raise TypeError(
                "user_data is for native kernels; a Python kernel can close over its data"
            )
        adapter = _PythonKernel(kernel, array, flavor.kernel_type)
        c_kernel, c_user_data = adapter.c_kernel, None
    else:
        raise TypeError(
            "kernel must be a callable or a helios.KernelF32/KernelF64, "
            f"got {type(kernel).__name__}"
        )

    output = np.empty(array.shape, array.dtype) if out is None else _checked_out(out, array)
    token: ContextManager[Optional[int]] = nullcontext() if cancel is None else cancel._borrow()
    with token as handle:
        options.cancel = handle
        status = flavor.function(
            array.ctypes.data,
            array.size,
            output.ctypes.data,
            output.size,
            None,
            ctypes.byref(options),
            c_kernel,
            c_user_data,
        )
        if adapter is not None:
            adapter.raise_failure()
        check(status)
    return output
