"""Finding, loading and declaring the helios C library (private module).

The library is searched for in this order:

1. the path in the environment variable ``HELIOS_LIBRARY`` (and only there
   when it is set);
2. the package folder, where ``make python`` copies ``libhelios.so``;
3. ``<repository>/target/release``, for a source checkout used without
   installing.

It is loaded with :class:`ctypes.CDLL`, which releases the GIL for the
duration of every call into it. A library whose ``helios_abi_version()``
differs from :data:`ABI_VERSION` is refused with an :class:`ImportError`.
"""

from __future__ import annotations

import ctypes
import operator
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: The ABI version this binding is written for (``HELIOS_ABI_VERSION``).
ABI_VERSION = 1

#: ``HELIOS_AUTO`` (``SIZE_MAX``): "let helios choose" for threads and blocks.
AUTO = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1

#: ``HELIOS_MAX_THREADS``: the largest thread count helios accepts.
MAX_THREADS = 1024

#: The environment variable that names the library to load.
LIBRARY_ENV = "HELIOS_LIBRARY"

#: ``HELIOS_LANDMARKS_UNIFORM``: m distinct rows drawn uniformly (seeded).
LANDMARKS_UNIFORM = 0

#: ``HELIOS_LANDMARKS_KMEANS_PLUS_PLUS``: k-means++ seeding (seeded).
LANDMARKS_KMEANS_PLUS_PLUS = 1

#: ``HELIOS_DTYPE_F32``: an engine of ``float`` data (the ``_f32`` entry points).
DTYPE_F32 = 0

#: ``HELIOS_DTYPE_F64``: an engine of ``double`` data (the ``_f64`` entry points).
DTYPE_F64 = 1

#: ``HELIOS_INDEX_FLAT``: a vector index that searches the stored vectors exactly.
INDEX_FLAT = 0

#: ``HELIOS_INDEX_PQ``: a vector index of product-quantized codes (trained first).
INDEX_PQ = 1

#: ``HELIOS_METRIC_L2``: squared Euclidean distance (smaller is nearer).
METRIC_L2 = 0

#: ``HELIOS_METRIC_INNER_PRODUCT``: inner product (larger is nearer).
METRIC_INNER_PRODUCT = 1

#: ``HELIOS_NO_ID`` (``UINT64_MAX``): the id that pads a search result row
#: when the index holds fewer than k vectors (-1 read as int64, as in faiss).
NO_ID = (1 << 64) - 1


def size_t(name: str, value: int) -> int:
    """``value`` as a ``size_t``, or TypeError/ValueError naming ``name``."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {number}")
    if number > AUTO:
        raise ValueError(f"{name} {number} does not fit in a size_t")
    return number


def size_or_auto(name: str, value: Optional[int]) -> int:
    """``value`` as a ``size_t``, with ``None`` meaning :data:`AUTO`."""
    return AUTO if value is None else size_t(name, value)


if sys.platform == "win32":
    LIBRARY_NAME = "helios.dll"
elif sys.platform == "darwin":
    LIBRARY_NAME = "libhelios.dylib"
else:
    LIBRARY_NAME = "libhelios.so"

_PACKAGE_DIR = Path(__file__).resolve().parent
# bindings/python/helios -> <repository>/target/release, for a source checkout.
_REPO_BUILD_DIR = _PACKAGE_DIR.parent.parent.parent / "target" / "release"

# A handle to an opaque helios object (HeliosCancelToken*, HeliosNystromEngine*,
# HeliosVectorIndex*).
Handle = ctypes.c_void_p

_KERNEL_ARGS_F32 = (
    ctypes.POINTER(ctypes.c_float),  # block
    ctypes.c_size_t,  # block_len
    ctypes.c_size_t,  # core_offset
    ctypes.c_size_t,  # core_len
    ctypes.POINTER(ctypes.c_float),  # core_out
    ctypes.c_void_p,  # user_data
)
_KERNEL_ARGS_F64 = (
    ctypes.POINTER(ctypes.c_double),
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_double),
    ctypes.c_void_p,
)

KernelF32: Any = ctypes.CFUNCTYPE(ctypes.c_int, *_KERNEL_ARGS_F32)
KernelF32.__doc__ = """The C type ``HeliosKernelF32`` as a ctypes function pointer type.

``int kernel(const float *block, size_t block_len, size_t core_offset,
size_t core_len, float *core_out, void *user_data)``: read the block (the
core plus up to ``halo`` neighbours on each side), write ``core_len`` results
for ``block[core_offset:core_offset + core_len]`` to ``core_out`` and return
0, or return non-zero to stop the run (``HELIOS_ERR_CANCELLED``).

Wrap a C function exported by a shared library with
``KernelF32(("name", ctypes.CDLL(path)))``; pass the result as the ``kernel``
of :func:`helios.parallel_map` for a float32 array. Such a kernel runs on the
helios worker threads without taking the GIL. A Python function can be
wrapped too (``KernelF32(function)``), but then ctypes takes the GIL for every
block and an exception it raises is only printed; prefer passing the plain
Python function to :func:`helios.parallel_map`.

Thread safety: the kernel must be reentrant (safe to call from any number of
threads at once); helios calls it from several threads at once.
"""

KernelF64: Any = ctypes.CFUNCTYPE(ctypes.c_int, *_KERNEL_ARGS_F64)
KernelF64.__doc__ = """The C type ``HeliosKernelF64``: the ``double`` twin of :data:`KernelF32`.

Thread safety: the kernel must be reentrant (safe to call from any number of
threads at once); helios calls it from several threads at once.
"""

# The kernel type the binding's own adapter is built with: the same C
# signature with untyped pointers, so that Python receives plain addresses.
RawKernel: Any = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_void_p,
    ctypes.c_void_p,
)


class ParallelMapOptions(ctypes.Structure):
    """``HeliosParallelMapOptions``; fill it from ``helios_parallel_map_default_options()``.

    parallel_map fills a new one for every call; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("halo", ctypes.c_size_t),
        ("block_elems", ctypes.c_size_t),
        ("threads", ctypes.c_size_t),
        ("cancel", Handle),
    ]


class NystromOptions(ctypes.Structure):
    """``HeliosNystromOptions``; fill it from ``helios_nystrom_default_options()``.

    :class:`helios.NystromEngine` fills a new one for every engine; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("gamma", ctypes.c_double),
        ("ridge", ctypes.c_double),
        ("landmark_count", ctypes.c_size_t),
        ("selection", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
        ("threads", ctypes.c_size_t),
    ]


class IndexOptions(ctypes.Structure):
    """``HeliosIndexOptions``; fill it from ``helios_index_default_options()``.

    :class:`helios.VectorIndex` fills a new one for every index; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("kind", ctypes.c_int32),
        ("metric", ctypes.c_int32),
        ("dim", ctypes.c_size_t),
        ("pq_m", ctypes.c_size_t),
        ("pq_nbits", ctypes.c_uint32),
        ("train_iterations", ctypes.c_size_t),
        ("seed", ctypes.c_uint64),
        ("threads", ctypes.c_size_t),
    ]


class SearchOptions(ctypes.Structure):
    """``HeliosSearchOptions``; fill it from ``helios_index_default_search_options()``.

    :meth:`helios.VectorIndex.search` fills a new one for every call (the
    settings of a search travel with the call, never as state of the index).
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("threads", ctypes.c_size_t),
    ]


def _map_args(kernel_type: Any) -> Tuple[Any, ...]:
    return (
        ctypes.c_void_p,  # input
        ctypes.c_size_t,  # len
        ctypes.c_void_p,  # output
        ctypes.c_size_t,  # output_capacity
        ctypes.POINTER(ctypes.c_size_t),  # output_needed
        ctypes.POINTER(ParallelMapOptions),  # options
        kernel_type,  # kernel
        ctypes.c_void_p,  # user_data
    )


def _embed_args(element: Any) -> Tuple[Any, ...]:
    return (
        ctypes.POINTER(element),  # x
        ctypes.c_size_t,  # n
        ctypes.c_size_t,  # d
        ctypes.c_size_t,  # ldx
        ctypes.POINTER(element),  # landmarks
        ctypes.c_size_t,  # m
        ctypes.c_size_t,  # ldl
        ctypes.c_double,  # gamma
        ctypes.c_double,  # ridge
        ctypes.c_size_t,  # threads
        ctypes.POINTER(element),  # out
        ctypes.c_size_t,  # out_capacity
        ctypes.POINTER(ctypes.c_size_t),  # out_needed
    )


def _nystrom_args(element: Any) -> Dict[str, Tuple[Any, ...]]:
    """The argument types of the ``helios_nystrom_*`` entry points of one element type."""
    pointer = ctypes.POINTER(element)
    size = ctypes.c_size_t
    needed = ctypes.POINTER(size)
    x = (pointer, size, size, size)  # x, n, d, ldx
    return {
        "build": (Handle, *x, pointer, size, needed),  # out, out_capacity, out_needed
        "transform": (Handle, *x, pointer, size, needed),
        # phi_old, rows_old, out, out_capacity, out_needed
        "update": (Handle, *x, pointer, size, pointer, size, needed),
        # buffer, buffer_capacity, rows_used, buffer_needed
        "update_inplace": (Handle, *x, pointer, size, size, needed),
        "landmarks": (Handle, pointer, size, needed),  # out, out_capacity, out_needed
        "normaliser": (Handle, pointer, size, needed),
    }


Status = ctypes.c_int  # enum HeliosStatus


def _index_signatures() -> Dict[str, Tuple[Any, Tuple[Any, ...]]]:
    """The ``helios_index_*`` entry points (``HeliosVectorIndex*`` is a :data:`Handle`)."""
    floats = ctypes.POINTER(ctypes.c_float)
    ids = ctypes.POINTER(ctypes.c_uint64)
    size = ctypes.c_size_t
    size_out = ctypes.POINTER(size)  # out_count, out_needed
    return {
        "helios_index_default_options": (IndexOptions, ()),
        "helios_index_default_search_options": (SearchOptions, ()),
        "helios_index_new": (Status, (ctypes.POINTER(IndexOptions), ctypes.POINTER(Handle))),
        "helios_index_free": (None, (Handle,)),
        "helios_index_train": (Status, (Handle, floats, size, size)),  # x, n, dim
        "helios_index_add": (Status, (Handle, floats, size, size, ids)),  # x, n, dim, ids
        "helios_index_remove": (Status, (Handle, ids, size)),  # ids, n
        "helios_index_count": (Status, (Handle, size_out)),
        "helios_index_is_trained": (Status, (Handle, ctypes.POINTER(ctypes.c_bool))),
        "helios_index_get_options": (Status, (Handle, ctypes.POINTER(IndexOptions))),
        "helios_index_set_threads": (Status, (Handle, size)),
        "helios_index_search": (
            Status,
            (
                Handle,
                floats,  # queries
                size,  # n_queries
                size,  # dim
                size,  # k
                ctypes.POINTER(SearchOptions),  # options
                floats,  # distances
                size,  # distances_capacity
                ids,  # ids
                size,  # ids_capacity
                size_out,  # out_needed
            ),
        ),
        "helios_index_reconstruct": (Status, (Handle, ctypes.c_uint64, floats, size)),
        "helios_index_save": (Status, (Handle, ctypes.c_char_p, size)),
        "helios_index_load": (Status, (ctypes.c_char_p, size, ctypes.POINTER(Handle))),
        "helios_index_to_bytes": (
            Status,
            (Handle, ctypes.POINTER(ctypes.c_uint8), size, size_out),
        ),
        "helios_index_from_bytes": (
            Status,
            (ctypes.POINTER(ctypes.c_uint8), size, ctypes.POINTER(Handle)),
        ),
    }


# name: (restype, argtypes); helios_abi_version is declared before the others.
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_status_name": (ctypes.c_char_p, (ctypes.c_int32,)),
    "helios_last_error": (ctypes.c_char_p, ()),
    "helios_version": (ctypes.c_char_p, ()),
    "helios_set_num_threads": (Status, (ctypes.c_size_t,)),
    "helios_get_num_threads": (ctypes.c_size_t, ()),
    "helios_cancel_token_new": (Status, (ctypes.POINTER(Handle),)),
    "helios_cancel_token_cancel": (Status, (Handle,)),
    "helios_cancel_token_is_cancelled": (Status, (Handle, ctypes.POINTER(ctypes.c_bool))),
    "helios_cancel_token_reset": (Status, (Handle,)),
    "helios_cancel_token_free": (None, (Handle,)),
    "helios_parallel_map_default_options": (ParallelMapOptions, ()),
    "helios_parallel_map_f32": (Status, _map_args(KernelF32)),
    "helios_parallel_map_f64": (Status, _map_args(KernelF64)),
    "helios_rkhs_embed_f32": (Status, _embed_args(ctypes.c_float)),
    "helios_rkhs_embed_f64": (Status, _embed_args(ctypes.c_double)),
    "helios_nystrom_default_options": (NystromOptions, ()),
    "helios_nystrom_new": (
        Status,
        (ctypes.POINTER(NystromOptions), ctypes.c_int32, ctypes.POINTER(Handle)),
    ),
    "helios_nystrom_free": (Status, (Handle,)),
    "helios_nystrom_get_options": (Status, (Handle, ctypes.POINTER(NystromOptions))),
    "helios_nystrom_set_threads": (Status, (Handle, ctypes.c_size_t)),
    "helios_nystrom_info": (
        Status,
        (
            Handle,
            ctypes.POINTER(ctypes.c_int32),  # dtype
            ctypes.POINTER(ctypes.c_size_t),  # landmark_count
            ctypes.POINTER(ctypes.c_size_t),  # dim
            ctypes.POINTER(ctypes.c_int32),  # built
        ),
    ),
    **{
        f"helios_nystrom_{name}_{suffix}": (Status, argtypes)
        for suffix, element in (("f32", ctypes.c_float), ("f64", ctypes.c_double))
        for name, argtypes in _nystrom_args(element).items()
    },
    "helios_nystrom_save": (Status, (Handle, ctypes.c_char_p, ctypes.c_size_t)),
    "helios_nystrom_load": (Status, (ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Handle))),
    "helios_nystrom_to_bytes": (
        Status,
        (Handle, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)),
    ),
    "helios_nystrom_from_bytes": (
        Status,
        (ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(Handle)),
    ),
    **_index_signatures(),
}


def candidate_paths() -> List[Path]:
    """The paths the library is looked for at, in order."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return [Path(override)]
    return [_PACKAGE_DIR / LIBRARY_NAME, _REPO_BUILD_DIR / LIBRARY_NAME]


def _find(paths: Sequence[Path]) -> Path:
    for path in paths:
        if path.is_file():
            return path
    if os.environ.get(LIBRARY_ENV):
        raise ImportError(
            f"helios: {LIBRARY_ENV} is set to {str(paths[0])!r}, but there is no file "
            f"there; point it at {LIBRARY_NAME} or unset it"
        )
    tried = ", ".join(str(path) for path in paths)
    raise ImportError(
        f"helios: could not find {LIBRARY_NAME} (looked at {tried}); run `make python` "
        f"in the helios repository, or set {LIBRARY_ENV} to the library's path"
    )


def load() -> Tuple[ctypes.CDLL, Path]:
    """Find, load, check and declare the library; return it and its path.

    Raises:
        ImportError: the library is missing, cannot be loaded, is not a
            helios library, or has an ABI version other than
            :data:`ABI_VERSION`.
    """
    path = _find(candidate_paths())
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise ImportError(f"helios: could not load {path}: {error}") from error
    try:
        abi_function = lib.helios_abi_version
    except AttributeError:
        raise ImportError(
            f"helios: {path} is not a helios library (no helios_abi_version)"
        ) from None
    abi_function.restype = ctypes.c_uint32
    abi_function.argtypes = ()
    found = abi_function()
    if found != ABI_VERSION:
        raise ImportError(
            f"helios: {path} has ABI version {found}, but this binding needs ABI "
            f"version {ABI_VERSION}; install the binding that matches the library "
            f"(or rebuild the library and run `make python`)"
        )
    declare(lib, path, _SIGNATURES)
    return lib, path


def declare(
    lib: ctypes.CDLL, path: Path, signatures: Dict[str, Tuple[Any, Tuple[Any, ...]]]
) -> None:
    """Set the ``restype`` and ``argtypes`` of each function of ``signatures``
    (``name: (restype, argtypes)``) on ``lib``, loaded from ``path``.

    Raises:
        ImportError: ``lib`` lacks one of the functions.
    """
    for name, (restype, argtypes) in signatures.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise ImportError(
                f"helios: {path} lacks the function {name}; rebuild the library "
                f"(`make python` in the helios repository)"
            ) from None
        function.restype = restype
        function.argtypes = argtypes


LIB, LIBRARY_PATH = load()
