""":func:`rkhs_embed` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import numbers
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import numpy as np
import numpy.typing as npt

from ._errors import check
from ._lib import LIB, size_or_auto

#: A 2-D float32 or float64 array (a matrix, one row per point).
FloatMatrix = npt.NDArray[Union[np.float32, np.float64]]


@dataclass(frozen=True)
class _Flavor:
    """The C entry point and pointer type for one element type."""

    pointer: Any
    function: Any


_FLAVORS: Dict[np.dtype, _Flavor] = {
    np.dtype(np.float32): _Flavor(ctypes.POINTER(ctypes.c_float), LIB.helios_rkhs_embed_f32),
    np.dtype(np.float64): _Flavor(ctypes.POINTER(ctypes.c_double), LIB.helios_rkhs_embed_f64),
}


def _check_matrix(name: str, array: FloatMatrix) -> int:
    """Check ``array`` as a row-major matrix; return its leading dimension.

    The leading dimension is the distance between rows in elements
    (``strides[0] // itemsize``), so a view of some rows or columns of a
    larger C-ordered matrix is passed as it is, without a copy.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in _FLAVORS:
        raise TypeError(
            f"{name} has dtype {array.dtype}, but helios embeds float32 and float64 "
            f"matrices only; convert it explicitly ({name}.astype(np.float32))"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (one row per point), got {array.ndim}-D "
            f"(shape {array.shape}); pass {name}.reshape(-1, d) or {name}[None, :]"
        )
    rows, cols = array.shape
    itemsize = array.itemsize
    row_stride, col_stride = array.strides
    if array.size == 0:
        return cols  # nothing is read; helios reports the empty dimension
    if cols > 1 and col_stride != itemsize:
        raise ValueError(
            f"{name} is not row-major with contiguous rows (strides {array.strides}: "
            f"a transpose, a Fortran-ordered array or a column step such as "
            f"{name}[:, ::2]); pass np.ascontiguousarray({name})"
        )
    if rows == 1:
        return cols  # a single row's stride is never used
    if row_stride % itemsize != 0 or row_stride < cols * itemsize:
        raise ValueError(
            f"{name} has rows that are not at least a whole row apart (row stride "
            f"{row_stride} bytes for {cols} columns of {itemsize} bytes: reversed, "
            f"broadcast, overlapping or misaligned rows); pass np.ascontiguousarray({name})"
        )
    return row_stride // itemsize


def _real(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def rkhs_embed(
    X: FloatMatrix,
    landmarks: FloatMatrix,
    gamma: float,
    ridge: float = 1e-6,
    threads: Optional[int] = None,
    *,
    out: Optional[FloatMatrix] = None,
) -> FloatMatrix:
    """The RBF (Nyström) feature map of ``X`` on ``landmarks``.

    ``Phi = K(X, L) · (K(L, L) + ridge·I)^(-1/2)`` with
    ``k(x, l) = exp(-gamma ||x - l||²)``, so that ``Phi(X) @ Phi(Y).T``
    approximates the kernel matrix ``K(X, Y)`` (exactly, up to rounding, when
    the points of ``X`` and ``Y`` are among the landmarks and ``ridge=0``).
    The m x m normaliser is computed in float64 whatever the dtype, from an
    eigendecomposition whose eigenvalues at or below ``m · eps · λ_max`` count
    as 0 (a pseudo-inverse: duplicate landmarks give finite output). With
    ``ridge=0`` the result is scikit-learn's ``Nystroem(kernel="rbf",
    gamma=gamma)`` with ``components_`` set to ``landmarks``, up to rounding
    (scikit-learn clips eigenvalues at 1e-12 instead of dropping them, which
    matters only for a nearly singular ``K(L, L)``). The output is
    bit-identical for every thread count.

    >>> import numpy as np, helios
    >>> L = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> phi = helios.rkhs_embed(L, L, gamma=0.5, ridge=0.0)
    >>> bool(np.allclose(phi @ phi.T, [[1, np.exp(-1)], [np.exp(-1), 1]]))
    True

    Args:
        X: the n x d points, a 2-D ``float32`` or ``float64`` array whose
            rows are contiguous (the last axis has unit stride). Rows may be
            any whole number of elements apart (at least d): a view such as
            ``big[:, :d]`` or ``X[::2]`` is passed with its leading dimension,
            without a copy. A transposed or Fortran-ordered array is refused
            (pass ``np.ascontiguousarray(X)``).
        landmarks: the m x d landmarks, with the same dtype as ``X`` (never
            converted) and the same rules for its layout.
        gamma: the kernel width, finite and > 0.
        ridge: added to the diagonal of ``K(L, L)`` before the inverse square
            root, finite and >= 0 (0 for scikit-learn's map).
        threads: worker threads (1 runs everything on the calling thread);
            ``None`` for :func:`helios.get_num_threads`. The GIL is released
            for the whole call, so several Python threads can embed at once.
        out: an array to write the result into instead of a new one: n x m,
            C-contiguous, writable, of ``X``'s dtype and overlapping neither
            input. Reusing it saves an allocation (and its page faults).

    Returns:
        ``out``, or a new C-contiguous n x m array of ``X``'s dtype.

    Raises:
        TypeError: ``X``, ``landmarks`` or ``out`` is not a float32/float64
            ndarray, their dtypes differ, or ``gamma``/``ridge`` is not a real
            number or ``threads`` not an int.
        ValueError: an array is not 2-D or not row-major with contiguous
            rows, ``X`` and ``landmarks`` have different column counts (the
            C function takes one d, so the binding checks this itself),
            ``out`` has the wrong shape or is read-only or not contiguous, or
            ``threads`` is negative.
        HeliosError: helios refused the call: ``HELIOS_ERR_INVALID_ARGUMENT``
            for an empty ``X`` or ``landmarks`` (n, m or d of 0), ``gamma``
            not finite and > 0, ``ridge`` negative or not finite, ``threads=0``
            or above 1024, an array not aligned to its element size, or
            ``out`` overlapping an input; ``HELIOS_ERR_NUMERIC`` for a NaN or
            infinity in ``X`` or ``landmarks`` (the message names the row and
            column).

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    ldx = _check_matrix("X", X)
    ldl = _check_matrix("landmarks", landmarks)
    if landmarks.dtype != X.dtype:
        raise TypeError(
            f"X has dtype {X.dtype} but landmarks has {landmarks.dtype}; they must match "
            f"(helios never converts precision: convert one explicitly)"
        )
    (n, d), (m, landmark_dim) = X.shape, landmarks.shape
    if landmark_dim != d:
        raise ValueError(
            f"X has {d} columns but landmarks has {landmark_dim}; both must have one "
            f"column per input dimension"
        )
    gamma_value = _real("gamma", gamma)
    ridge_value = _real("ridge", ridge)
    thread_count = size_or_auto("threads", threads)
    flavor = _FLAVORS[X.dtype]

    if out is None:
        output = np.empty((n, m), X.dtype)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != X.dtype:
            kind = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
            raise TypeError(f"out has dtype {kind} but X has {X.dtype}; they must match")
        if out.shape != (n, m):
            raise ValueError(f"out has shape {out.shape} but the result is ({n}, {m})")
        if not out.flags.c_contiguous:
            raise ValueError("out is not C-contiguous; pass a new np.empty((n, m))")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        output = out

    status = flavor.function(
        X.ctypes.data_as(flavor.pointer),
        n,
        d,
        ldx,
        landmarks.ctypes.data_as(flavor.pointer),
        m,
        ldl,
        gamma_value,
        ridge_value,
        thread_count,
        output.ctypes.data_as(flavor.pointer),
        output.size,
        None,
    )
    check(status)
    return output
