""":class:`NystromEngine` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import operator
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._device import Device
from ._embed import FloatMatrix, _check_matrix, _real
from ._errors import HeliosError, Status, check
from ._gpu import DeviceArray, _device_matrix, _open, _stream_handle
from ._handle import NativePersistent
from ._lib import (
    AUTO,
    DTYPE_F32,
    DTYPE_F64,
    LANDMARKS_KMEANS_PLUS_PLUS,
    LANDMARKS_UNIFORM,
    LIB,
    Handle,
    NystromOptions,
    declare,
    size_or_auto,
    size_t,
    LIBRARY_PATH,
)

_SIZE = ctypes.c_size_t
_VOID = ctypes.c_void_p
_DEVICE_ROWS = (Handle, _VOID, _SIZE, _SIZE, _SIZE)  # engine, x, n, d, ldx
declare(
    LIB,
    LIBRARY_PATH,
    {
        "helios_nystrom_set_device": (ctypes.c_int, (Handle, Handle)),
        "helios_nystrom_on_device": (ctypes.c_int, (Handle, ctypes.POINTER(ctypes.c_int32))),
        "helios_nystrom_build_device_f32": (ctypes.c_int, _DEVICE_ROWS + (_VOID, _SIZE, _VOID)),
        "helios_nystrom_transform_device_f32": (
            ctypes.c_int,
            _DEVICE_ROWS + (_VOID, _SIZE, _VOID),
        ),
        "helios_nystrom_update_device_f32": (
            ctypes.c_int,
            _DEVICE_ROWS + (_VOID, _SIZE, _SIZE, ctypes.POINTER(_SIZE), _VOID),
        ),
    },
)


def _on_device(array: Any) -> bool:
    return hasattr(array, "__cuda_array_interface__")

_SELECTIONS: Dict[str, int] = {
    "uniform": LANDMARKS_UNIFORM,
    "kmeans++": LANDMARKS_KMEANS_PLUS_PLUS,
}
_SELECTION_NAMES: Dict[int, str] = {code: name for name, code in _SELECTIONS.items()}

_U64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class _Flavor:
    """The C dtype code, pointer type and entry points for one element type."""

    code: int
    pointer: Any
    build: Any
    transform: Any
    update: Any
    update_inplace: Any
    landmarks: Any
    normaliser: Any


def _flavor(code: int, element: Any, suffix: str) -> _Flavor:
    def entry(name: str) -> Any:
        return getattr(LIB, f"helios_nystrom_{name}_{suffix}")

    return _Flavor(
        code=code,
        pointer=ctypes.POINTER(element),
        build=entry("build"),
        transform=entry("transform"),
        update=entry("update"),
        update_inplace=entry("update_inplace"),
        landmarks=entry("landmarks"),
        normaliser=entry("normaliser"),
    )


_FLAVORS: Dict[np.dtype, _Flavor] = {
    np.dtype(np.float32): _flavor(DTYPE_F32, ctypes.c_float, "f32"),
    np.dtype(np.float64): _flavor(DTYPE_F64, ctypes.c_double, "f64"),
}
_DTYPES: Dict[int, np.dtype] = {flavor.code: dtype for dtype, flavor in _FLAVORS.items()}


def _engine_dtype(dtype: npt.DTypeLike) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}") from None
    if resolved not in _FLAVORS:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {resolved}")
    return resolved


def _selection_code(selection: str) -> int:
    if not isinstance(selection, str):
        raise TypeError(f"selection must be a str, got {type(selection).__name__}")
    try:
        return _SELECTIONS[selection]
    except KeyError:
        choices = " or ".join(repr(name) for name in _SELECTIONS)
        raise ValueError(f"selection must be {choices}, got {selection!r}") from None


def _seed_value(seed: int) -> int:
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int, got {type(seed).__name__}") from None
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"seed must be in 0..2**64 - 1, got {value}")
    return value


def _output(out: Optional[FloatMatrix], shape: Tuple[int, int], dtype: np.dtype) -> FloatMatrix:
    """``out`` checked as the destination of a result of ``shape``, or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        kind = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
        raise TypeError(f"out has dtype {kind} but the engine holds {dtype}; they must match")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape} but the result is {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out is not C-contiguous; pass a new np.empty((n, m))")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def _new_engine(
    gamma: float,
    ridge: float,
    landmark_count: int,
    selection: str,
    seed: int,
    threads: Optional[int],
    dtype: npt.DTypeLike,
) -> Optional[int]:
    """A new, unbuilt C engine (its handle), after checking the arguments' types."""
    code = _FLAVORS[_engine_dtype(dtype)].code
    options: NystromOptions = LIB.helios_nystrom_default_options()
    options.gamma = _real("gamma", gamma)
    options.ridge = _real("ridge", ridge)
    options.landmark_count = size_t("landmark_count", landmark_count)
    options.selection = _selection_code(selection)
    options.seed = _seed_value(seed)
    options.threads = size_or_auto("threads", threads)
    handle = Handle()
    check(LIB.helios_nystrom_new(ctypes.byref(options), code, ctypes.byref(handle)))
    return handle.value


class NystromEngine(NativePersistent):
    """The incremental Nyström engine: RBF features that grow with the data.

    :meth:`build` chooses ``landmark_count`` landmarks among the rows of X
    (seeded: ``"uniform"`` draws distinct rows, ``"kmeans++"`` spreads them
    over the data), caches the m x m normaliser ``(K(L, L) + ridge·I)^(-1/2)``
    and returns ``Phi(X) = K(X, L) · normaliser``, with
    ``k(x, l) = exp(-gamma ||x - l||²)``, so that ``Phi(X) @ Phi(Y).T``
    approximates the kernel matrix (see :func:`helios.rkhs_embed`, the same
    map on landmarks of your choice). :meth:`transform` embeds more rows
    with the same landmarks; :meth:`update` and :meth:`update_into` append
    the features of new rows to those of old ones at a cost that depends on
    the new rows only (:meth:`update_into`) or on all rows (:meth:`update`,
    which returns a new array). ``build(X1)`` followed by ``update(X2, ...)``
    equals ``transform(np.vstack([X1, X2]))`` bit for bit, and every result
    is bit-identical for every thread count.

    The engine holds ``float32`` or ``float64`` data, fixed by ``dtype``;
    every array passed in must have that dtype (helios never converts
    precision, in either direction: convert explicitly with ``.astype``).
    Inputs are read in place when their rows are contiguous (a view such as
    ``X[::2]`` or ``big[:, :d]`` is passed with its row stride, no copy); a
    transposed or Fortran-ordered array is refused (pass
    ``np.ascontiguousarray(X)``).

    >>> import numpy as np, helios
    >>> X = np.random.default_rng(0).standard_normal((200, 3))
    >>> with helios.NystromEngine(gamma=0.5, landmark_count=20, seed=1) as engine:
    ...     phi = engine.build(X[:150])
    ...     phi = engine.update(X[150:], phi)
    ...     bool(np.array_equal(phi, engine.transform(X)))
    True

    The engine owns a C object: release it with :meth:`close` or by using the
    engine as a context manager; the garbage collector frees it otherwise.
    After :meth:`close`, every call that needs the C object raises
    :class:`ValueError` (the fixed options stay readable); closing twice is
    harmless. Engines pickle and copy (a built engine through
    :meth:`to_bytes`, an unbuilt one as its options); :meth:`save` and
    :meth:`load` use the same versioned, checksummed format.

    Args:
        gamma: the kernel width, finite and > 0.
        ridge: added to the diagonal of ``K(L, L)``, finite and >= 0 (0 for
            scikit-learn's ``Nystroem`` map). Eigenvalues at or below
            ``m · eps · λ_max`` count as 0 (a pseudo-inverse), so duplicate
            landmarks give finite features.
        landmark_count: m, the output width: at least 1 and at most the rows
            given to :meth:`build`.
        selection: ``"uniform"`` or ``"kmeans++"``.
        seed: the seed of the landmark choice (0 to 2**64 - 1): the same data
            and seed give the same landmarks on every machine and thread count.
        threads: worker threads (1 runs on the calling thread); ``None`` for
            :func:`helios.get_num_threads` at each call. The GIL is released
            during every call into the engine.
        dtype: ``numpy.float32`` or ``numpy.float64``.
        device: a CUDA device (a :class:`helios.Device` or an ordinal) to
            run on, float32 engines only; see :meth:`set_device`. None (the
            default) runs on the CPU.

    Raises:
        TypeError: an argument of the wrong type, or a dtype other than
            float32/float64.
        ValueError: an unknown ``selection``, a negative ``landmark_count``,
            ``seed`` or ``threads``.
        HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for gamma not finite and
            > 0, ridge negative or not finite, ``landmark_count=0``,
            ``threads=0`` or above 1024.

    Thread safety: single-owner (one thread at a time; a second thread gets
    HELIOS_ERR_BUSY): a call that enters the engine while another thread's
    call is inside raises :class:`helios.HeliosError` with
    ``Status.BUSY`` at once and changes nothing. :meth:`close` is safe from
    any thread: the C object is freed when the last call using it returns.
    """

    # The shared members of NativePersistent (load, from_bytes, save,
    # to_bytes, pickling, close), with their docstrings' fields.
    _native_name = "helios.NystromEngine"
    _noun = "engine"
    _doc_fields = {
        "a_noun": "an engine",
        "loaded": """Its dtype, landmarks, normaliser and options are the saved ones (it
        gives the same bits as the saved engine)""",
        "saved": "built engine",
        "save_failure": "",
        "unbuilt_error": """``HELIOS_ERR_INVALID_STATE`` before :meth:`build`;
                """,
        "busy_error": "; ``HELIOS_ERR_BUSY``",
        "unbuilt_note": """
        Raises :class:`helios.HeliosError` with ``HELIOS_ERR_INVALID_STATE``
        before :meth:`build`.
""",
        "thread_safety": """single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY)""",
        "file_snapshot": "",
        "bytes_snapshot": "",
        "callers": "another thread",
    }

    @staticmethod
    def _entry(name: str) -> Any:
        """The C function ``helios_nystrom_<name>`` (looked up at each call)."""
        return getattr(LIB, f"helios_nystrom_{name}")

    def __init__(
        self,
        gamma: float,
        ridge: float = 1e-6,
        landmark_count: int = 256,
        selection: str = "uniform",
        seed: int = 0,
        threads: Optional[int] = None,
        dtype: npt.DTypeLike = np.float64,
        device: Union[None, int, Device] = None,
    ) -> None:
        handle = _new_engine(gamma, ridge, landmark_count, selection, seed, threads, dtype)
        self._adopt(handle, AUTO)  # the options already hold the thread count
        if device is not None:
            try:
                self.set_device(device)
            except BaseException:
                self.close()
                raise

    # ---- device -------------------------------------------------------------

    def set_device(self, device: Union[None, int, Device]) -> None:
        """Run later calls on a CUDA ``device`` (a :class:`helios.Device` or
        an ordinal), or on the CPU again with None.

        On a device the feature map (landmarks, norms, the m x m normaliser)
        lives in device memory, f32: a built engine uploads it now, a later
        :meth:`build` replaces it. Numpy arrays are staged through the
        default stream; device arrays (``__cuda_array_interface__``) are
        used in place, on the ``stream=`` of each call. Landmarks are still
        chosen, and the normaliser computed, on the CPU in float64. Results
        match the CPU engine's within 1e-5 of the largest magnitude (another
        GEMM, not the same bits) and repeat bit for bit on one device. A
        saved engine loads on the CPU.

        Raises:
            TypeError: ``device`` of another type.
            HeliosError: ``HELIOS_ERR_UNSUPPORTED`` (a float64 engine, or a
                library built without ``cuda``), ``HELIOS_ERR_DEVICE`` (no
                driver or device), ``HELIOS_ERR_OUT_OF_MEMORY``; the engine
                is unchanged.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        if device is None:
            with self._native.borrow() as handle:
                check(LIB.helios_nystrom_set_device(handle, None))
            self._device = None
            return
        opened, mine = _open(device)
        try:
            with self._native.borrow() as handle, opened._native.borrow() as live:
                check(LIB.helios_nystrom_set_device(handle, live))
            self._device = opened.ordinal
        finally:
            if mine:
                opened.close()

    @property
    def device(self) -> Optional[int]:
        """The ordinal of the CUDA device the engine runs on, or None (the CPU).

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return getattr(self, "_device", None)

    def _device_call(
        self, entry: str, X: Any, out: Any, stream: Any, rows_used: Optional[int] = None
    ) -> Any:
        """A ``helios_nystrom_<entry>_device_f32`` call on device arrays; a
        new :class:`DeviceArray` for the result when ``out`` is None."""
        if self._dtype != np.float32:
            raise TypeError(
                "device arrays take a float32 engine (the GPU path computes in float32); "
                f"this one holds {self._dtype}"
            )
        x_ptr, n, d, ldx = _device_matrix("X", X)
        m = self._landmark_count
        if out is not None and not _on_device(out):
            raise TypeError("out must be a device array for device inputs (or None)")
        handle_stream = _stream_handle(stream, X)
        result = out
        if result is None:
            if self.device is None:
                raise HeliosError(
                    Status.INVALID_STATE,
                    "the engine has no device: pass device= or call set_device first",
                )
            result = DeviceArray.empty((n, m), self.device)
        try:
            o_ptr, rows, cols, ld = _device_matrix("out", result)
            if cols != m or ld != m:
                raise ValueError(f"out must be a dense (rows, {m}) device array")
            with self._native.borrow() as handle:
                if rows_used is None:
                    if rows != n:
                        raise ValueError(f"out must have shape ({n}, {m}), got ({rows}, {cols})")
                    function = getattr(LIB, f"helios_nystrom_{entry}_device_f32")
                    check(function(handle, x_ptr, n, d, ldx, o_ptr, rows * m, handle_stream))
                else:
                    total = ctypes.c_size_t()
                    check(
                        LIB.helios_nystrom_update_device_f32(
                            handle, x_ptr, n, d, ldx, o_ptr, rows * m, rows_used,
                            ctypes.byref(total), handle_stream,
                        )
                    )
                    return int(total.value)
        except BaseException:
            if out is None:
                result.close()
            raise
        return result

    def _cache_options(self) -> None:
        """Cache the dtype and fixed options of the adopted C engine."""
        options = NystromOptions()
        code = ctypes.c_int32()
        with self._native.borrow() as live:
            check(LIB.helios_nystrom_get_options(live, ctypes.byref(options)))
            check(LIB.helios_nystrom_info(live, ctypes.byref(code), None, None, None))
        self._dtype: np.dtype = _DTYPES[code.value]
        self._gamma = float(options.gamma)
        self._ridge = float(options.ridge)
        self._landmark_count = int(options.landmark_count)
        self._selection = _SELECTION_NAMES[options.selection]
        self._seed = int(options.seed)

    # ---- embedding ----------------------------------------------------------

    def _check_input(self, name: str, array: FloatMatrix) -> int:
        """Check ``array`` as a matrix of the engine's dtype; return its leading dimension."""
        ldx = _check_matrix(name, array)
        if array.dtype != self._dtype:
            raise TypeError(
                f"{name} has dtype {array.dtype} but the engine holds {self._dtype}; they must "
                f"match (helios never converts precision: pass {name}.astype(np.{self._dtype}) "
                f"or create the engine with dtype=np.{array.dtype})"
            )
        return ldx

    def _check_features(self, name: str, array: FloatMatrix, writable: bool) -> None:
        """Check ``array`` as C-contiguous rows of ``landmark_count`` features."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype != self._dtype:
            raise TypeError(
                f"{name} has dtype {array.dtype} but the engine holds {self._dtype}; "
                f"they must match"
            )
        m = self._landmark_count
        if array.ndim != 2 or array.shape[1] != m:
            raise ValueError(
                f"{name} must have shape (rows, {m}) (one row of landmark_count features "
                f"per point), got {array.shape}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(f"{name} is not C-contiguous; pass np.ascontiguousarray({name})")
        if writable and not array.flags.writeable:
            raise ValueError(f"{name} is read-only")

    def _embed(self, entry: str, X: FloatMatrix, out: Optional[FloatMatrix]) -> FloatMatrix:
        """Run the build or transform entry point on ``X`` into ``out`` or a new array."""
        ldx = self._check_input("X", X)
        n, d = X.shape
        output = _output(out, (n, self._landmark_count), self._dtype)
        flavor = _FLAVORS[self._dtype]
        with self._native.borrow() as handle:
            status = getattr(flavor, entry)(
                handle,
                X.ctypes.data_as(flavor.pointer),
                n,
                d,
                ldx,
                output.ctypes.data_as(flavor.pointer),
                output.size,
                None,
            )
            check(status)
        return output

    def build(
        self, X: FloatMatrix, *, out: Optional[FloatMatrix] = None, stream: Any = None
    ) -> FloatMatrix:
        """Choose the landmarks among the rows of ``X`` and return ``Phi(X)``.

        Building again replaces the landmarks. On error the engine is left as
        it was. On an engine with a device (:meth:`set_device`), ``X`` and
        ``out`` may be float32 device arrays (``__cuda_array_interface__``:
        PyTorch, CuPy, :class:`helios.DeviceArray`), used in place on
        ``stream`` (an int ``CUstream`` or an object with ``.cuda_stream``;
        by default the stream ``X`` names, else the default stream); without
        ``out`` a new :class:`helios.DeviceArray` is returned. The chosen
        landmark rows are copied to the host (all of ``X`` for
        ``"kmeans++"``).

        Args:
            X: the n x d training points (n >= ``landmark_count``), of the
                engine's dtype, with contiguous rows.
            out: an array to write ``Phi(X)`` into instead of a new one:
                n x m, C-contiguous, writable, of the engine's dtype and not
                overlapping ``X``.

        Returns:
            ``out``, or a new C-contiguous n x m array of the engine's dtype.

        Raises:
            TypeError: ``X`` or ``out`` is not an ndarray of the engine's dtype.
            ValueError: ``X`` is not 2-D or its rows are not contiguous;
                ``out`` has the wrong shape or is read-only or not contiguous.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for an empty ``X``
                (n or d of 0), more landmarks than rows, or ``out``
                overlapping ``X``; ``HELIOS_ERR_NUMERIC`` for a NaN or
                infinity in ``X`` (the message names the row and column);
                ``HELIOS_ERR_BUSY``.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        if _on_device(X):
            return self._device_call("build", X, out, stream)
        return self._embed("build", X, out)

    def transform(
        self, X: FloatMatrix, *, out: Optional[FloatMatrix] = None, stream: Any = None
    ) -> FloatMatrix:
        """``Phi(X)`` with the engine's landmarks; the engine is not changed.

        On an engine with a device, ``X``, ``out`` and ``stream`` may be
        device arrays and a stream, as for :meth:`build`.

        Args:
            X: n x d points (n may be 0), d as at :meth:`build`, of the
                engine's dtype, with contiguous rows.
            out: as for :meth:`build`.

        Returns:
            ``out``, or a new C-contiguous n x m array of the engine's dtype.

        Raises:
            TypeError, ValueError: as for :meth:`build`.
            HeliosError: ``HELIOS_ERR_INVALID_STATE`` before :meth:`build`;
                ``HELIOS_ERR_INVALID_ARGUMENT`` when d differs from the
                landmarks'; ``HELIOS_ERR_NUMERIC`` for a NaN or infinity in
                ``X`` (the message names the row); ``HELIOS_ERR_BUSY``.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        if _on_device(X):
            return self._device_call("transform", X, out, stream)
        return self._embed("transform", X, out)

    def update(self, X_new: FloatMatrix, phi_old: FloatMatrix) -> FloatMatrix:
        """A new array ``[phi_old; Phi(X_new)]``: the old features with the new rows' below.

        The new rows equal ``transform(X_new)`` bit for bit. ``phi_old`` is
        copied into the result, so the cost grows with the old rows too
        (O(n_old + n_new)); to pay for the new rows only, keep the features
        in a buffer with spare rows and use :meth:`update_into`.

        Args:
            X_new: the new points, as for :meth:`transform`.
            phi_old: the ``rows_old`` x m features so far (from :meth:`build`
                or an earlier update), C-contiguous, of the engine's dtype;
                it is read, not changed.

        Returns:
            A new C-contiguous ``(rows_old + n_new) x m`` array.

        Raises:
            TypeError: an array is not an ndarray of the engine's dtype.
            ValueError: ``phi_old`` does not have m columns or is not
                C-contiguous, or ``X_new`` is not 2-D with contiguous rows.
            HeliosError: as for :meth:`transform`.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        ldx = self._check_input("X_new", X_new)
        self._check_features("phi_old", phi_old, writable=False)
        n_new, d = X_new.shape
        rows_old = phi_old.shape[0]
        output = np.empty((rows_old + n_new, self._landmark_count), self._dtype)
        flavor = _FLAVORS[self._dtype]
        with self._native.borrow() as handle:
            status = flavor.update(
                handle,
                X_new.ctypes.data_as(flavor.pointer),
                n_new,
                d,
                ldx,
                phi_old.ctypes.data_as(flavor.pointer),
                rows_old,
                output.ctypes.data_as(flavor.pointer),
                output.size,
                None,
            )
            check(status)
        return output

    def update_into(
        self, X_new: FloatMatrix, buffer: FloatMatrix, rows_used: int, *, stream: Any = None
    ) -> int:
        """Write ``Phi(X_new)`` into ``buffer`` after its first ``rows_used`` rows.

        On an engine with a device, ``X_new`` and ``buffer`` may be float32
        device arrays, written on ``stream`` as for :meth:`build`.

        Only the ``n_new`` new rows ``buffer[rows_used:rows_used + n_new]``
        are written; the used rows and the rest of the spare rows are not
        touched, so the cost depends on the new rows only (O(n_new)). The new
        rows equal ``transform(X_new)`` bit for bit.

        >>> import numpy as np, helios
        >>> X = np.random.default_rng(0).standard_normal((300, 4))
        >>> engine = helios.NystromEngine(gamma=0.5, landmark_count=16)
        >>> features = np.empty((1000, 16))  # room for 1000 rows
        >>> features[:100] = engine.build(X[:100])
        >>> used = engine.update_into(X[100:300], features, rows_used=100)
        >>> used, bool(np.array_equal(features[:used], engine.transform(X)))
        (300, True)

        Args:
            X_new: the new points, as for :meth:`transform`.
            buffer: a C-contiguous, writable ``capacity x m`` array of the
                engine's dtype whose first ``rows_used`` rows hold features.
                It must not overlap ``X_new``.
            rows_used: how many rows of ``buffer`` are in use.

        Returns:
            The new row count, ``rows_used + n_new``.

        Raises:
            TypeError, ValueError: as for :meth:`update` (for ``buffer``),
                or ``buffer`` is read-only, or ``rows_used`` is not a
                non-negative int.
            HeliosError: ``HELIOS_ERR_BUFFER_TOO_SMALL`` when
                ``rows_used + n_new`` exceeds the buffer's rows (nothing is
                written); otherwise as for :meth:`transform`.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        if _on_device(X_new):
            if not _on_device(buffer):
                raise TypeError("buffer must be a device array for device inputs")
            used = size_t("rows_used", rows_used)
            return int(self._device_call("update", X_new, buffer, stream, rows_used=used))
        ldx = self._check_input("X_new", X_new)
        self._check_features("buffer", buffer, writable=True)
        used = size_t("rows_used", rows_used)
        n_new, d = X_new.shape
        flavor = _FLAVORS[self._dtype]
        with self._native.borrow() as handle:
            status = flavor.update_inplace(
                handle,
                X_new.ctypes.data_as(flavor.pointer),
                n_new,
                d,
                ldx,
                buffer.ctypes.data_as(flavor.pointer),
                buffer.size,
                used,
                None,
            )
            check(status)
        return used + n_new

    # ---- state --------------------------------------------------------------

    def _info(self) -> Tuple[int, bool]:
        """(d, built) from the C engine."""
        dim = ctypes.c_size_t()
        built = ctypes.c_int32()
        with self._native.borrow() as handle:
            status = LIB.helios_nystrom_info(
                handle, None, None, ctypes.byref(dim), ctypes.byref(built)
            )
            check(status)
        return int(dim.value), bool(built.value)

    def _copy_out(self, entry: str, shape: Tuple[int, int]) -> FloatMatrix:
        flavor = _FLAVORS[self._dtype]
        output = np.empty(shape, self._dtype)
        with self._native.borrow() as handle:
            status = getattr(flavor, entry)(
                handle, output.ctypes.data_as(flavor.pointer), output.size, None
            )
            check(status)
        return output

    @property
    def landmarks(self) -> FloatMatrix:
        """A copy of the m x d landmarks (rows of the X given to :meth:`build`).

        Raises :class:`helios.HeliosError` with ``HELIOS_ERR_INVALID_STATE``
        before :meth:`build`.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._copy_out("landmarks", (self._landmark_count, self.dim))

    @property
    def normaliser(self) -> FloatMatrix:
        """A copy of the m x m normaliser ``(K(L, L) + ridge·I)^(-1/2)`` (symmetric).

        ``Phi(X) = K(X, landmarks) @ normaliser``. Raises
        :class:`helios.HeliosError` with ``HELIOS_ERR_INVALID_STATE`` before
        :meth:`build`.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        m = self._landmark_count
        return self._copy_out("normaliser", (m, m))

    @property
    def dim(self) -> int:
        """d, the input width (the landmarks' column count), or 0 before :meth:`build`.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._info()[0]

    @property
    def built(self) -> bool:
        """Whether the engine has landmarks (built or loaded).

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._info()[1]

    @property
    def threads(self) -> Optional[int]:
        """The worker count of later calls, ``None`` for :func:`helios.get_num_threads`.

        Settable (an int in 1..1024, or ``None``); the output bits do not
        depend on it.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        options = NystromOptions()
        with self._native.borrow() as handle:
            check(LIB.helios_nystrom_get_options(handle, ctypes.byref(options)))
        return None if options.threads == AUTO else int(options.threads)

    @threads.setter
    def threads(self, threads: Optional[int]) -> None:
        self._set_threads(size_or_auto("threads", threads))

    @property
    def dtype(self) -> np.dtype:
        """The element type, ``numpy.float32`` or ``numpy.float64`` (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._dtype

    @property
    def gamma(self) -> float:
        """The kernel width in ``exp(-gamma ||x - l||²)`` (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._gamma

    @property
    def ridge(self) -> float:
        """The ridge added to the diagonal of ``K(L, L)`` (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._ridge

    @property
    def landmark_count(self) -> int:
        """m, the number of landmarks and the output width (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._landmark_count

    @property
    def selection(self) -> str:
        """How landmarks are chosen: ``"uniform"`` or ``"kmeans++"`` (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._selection

    @property
    def seed(self) -> int:
        """The seed of the landmark choice (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._seed

    # ---- persistence (the rest is shared: see NativePersistent) ----------

    def __getstate__(self) -> Dict[str, Any]:
        """A built engine's bytes, or an unbuilt one's options, with the thread count."""
        if self.built:
            return super().__getstate__()
        options = {
            "gamma": self._gamma,
            "ridge": self._ridge,
            "landmark_count": self._landmark_count,
            "selection": self._selection,
            "seed": self._seed,
            "dtype": self._dtype.name,
        }
        return {"threads": self.threads, "options": options}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        if "engine" in state:
            super().__setstate__(state)
        else:
            self._adopt(_new_engine(**state["options"], threads=state["threads"]), AUTO)

    def __repr__(self) -> str:
        fixed = (
            f"{self._dtype} gamma={self._gamma!r} ridge={self._ridge!r} "
            f"landmark_count={self._landmark_count} selection={self._selection!r} "
            f"seed={self._seed}"
        )
        try:
            dim, built = self._info()
            state = f"built, d={dim}" if built else "not built"
            state += f", threads={self.threads}"
        except ValueError:
            state = "closed"
        except HeliosError as error:
            state = "in use by another thread" if error.code == Status.BUSY else error.status
        return f"<helios.NystromEngine {fixed}: {state}>"
