""":class:`VectorIndex` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import operator
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import HeliosError, check
from ._handle import NativePersistent
from ._lib import (
    AUTO,
    INDEX_FLAT,
    INDEX_PQ,
    LIB,
    METRIC_INNER_PRODUCT,
    METRIC_L2,
    Handle,
    IndexOptions,
    SearchOptions,
    size_or_auto,
    size_t,
)
from ._nystrom import _seed_value

#: Vectors: anything ``np.ascontiguousarray(X, dtype=np.float32)`` accepts
#: (an n x d array or nested list of real numbers, or one d-vector).
Vectors = npt.ArrayLike

#: Ids: one non-negative int, or a sequence or 1-D array of them (int64 or
#: uint64 arrays; every id below 2**64 - 1).
Ids = Union[int, Iterable[int], npt.NDArray[np.integer]]

#: The distances of :meth:`VectorIndex.search`: an (n_queries, k) float32 array.
Distances = npt.NDArray[np.float32]

#: The ids of :meth:`VectorIndex.search`: an (n_queries, k) int64 array.
Labels = npt.NDArray[np.int64]

_KINDS: Dict[str, int] = {"flat": INDEX_FLAT, "pq": INDEX_PQ}
_KIND_NAMES: Dict[int, str] = {code: name for name, code in _KINDS.items()}
_METRICS: Dict[str, int] = {"l2": METRIC_L2, "ip": METRIC_INNER_PRODUCT}
_METRIC_NAMES: Dict[int, str] = {code: name for name, code in _METRICS.items()}

_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_FLOATS = ctypes.POINTER(ctypes.c_float)
_IDS = ctypes.POINTER(ctypes.c_uint64)


def _code(name: str, value: str, codes: Dict[str, int]) -> int:
    """The C constant of the option ``name`` spelt ``value``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    try:
        return codes[value]
    except KeyError:
        choices = " or ".join(repr(choice) for choice in codes)
        raise ValueError(f"{name} must be {choices}, got {value!r}") from None


def _u32(name: str, value: int) -> int:
    """``value`` as a ``uint32_t``, or TypeError/ValueError naming ``name``."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if not 0 <= number <= _U32_MAX:
        raise ValueError(f"{name} must be in 0..2**32 - 1, got {number}")
    return number


def _vectors(name: str, X: Vectors, dim: int) -> npt.NDArray[np.float32]:
    """``X`` as a C-contiguous float32 matrix (no copy when it already is one).

    A 1-D array is one vector. Real numbers of any precision are converted to
    float32 (a float64 value beyond the float32 range becomes an infinity,
    which helios then refuses, naming the row).
    """
    array = X if isinstance(X, np.ndarray) else np.asarray(X)
    if array.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (float or int), got dtype {array.dtype}; the "
            f"index stores float32 vectors"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = np.ascontiguousarray(array, dtype=np.float32)
    if vectors.ndim == 1:
        # One vector; an empty 1-D array is no vectors (helios reports n = 0).
        return vectors.reshape(1, -1) if vectors.size else vectors.reshape(0, dim)
    if vectors.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (one row per vector) or 1-D (one vector), got "
            f"{vectors.ndim}-D (shape {vectors.shape})"
        )
    return vectors


def _id_value(name: str, value: Any) -> int:
    """One id: an int in 0..2**64 - 1 (``bool`` refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 0:
        raise ValueError(
            f"{name} is {number}: ids must be non-negative (-1 only pads search results; "
            f"an id of 2**63 or more that search returned as negative int64 is passed "
            f"back as I.view(np.uint64))"
        )
    if number > _U64_MAX:
        raise ValueError(f"{name} is {number}, larger than 2**64 - 1")
    return number


def _ids(name: str, ids: Ids) -> npt.NDArray[np.uint64]:
    """``ids`` as a C-contiguous 1-D uint64 array; a negative id is a ValueError."""
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, (bool, np.bool_)):
        return np.array([_id_value(name, ids)], np.uint64)
    array = ids if isinstance(ids, np.ndarray) else np.asarray(ids)
    if array.ndim == 0:
        return np.array([_id_value(name, array.item())], np.uint64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one id per vector), got shape {array.shape}")
    if array.dtype.kind == "u":
        return np.ascontiguousarray(array, dtype=np.uint64)
    if array.dtype.kind == "i":
        negative = np.flatnonzero(array < 0)
        if negative.size:
            first = int(negative[0])
            _id_value(f"{name}[{first}]", int(array[first]))  # raises the ValueError
        return np.ascontiguousarray(array, dtype=np.uint64)
    # Anything else (a list of ints that numpy read as float64 or object, such
    # as [-1, 2**63], an empty list, floats): element by element from the
    # original, so that no id is ever rounded.
    source: Iterable[Any] = array if isinstance(ids, np.ndarray) else ids
    values: List[int] = [_id_value(f"{name}[{i}]", value) for i, value in enumerate(source)]
    return np.array(values, np.uint64)


def _new_index(
    dim: int,
    kind: str,
    metric: str,
    m: int,
    nbits: int,
    train_iterations: int,
    seed: int,
    threads: Optional[int],
) -> Optional[int]:
    """A new, empty C index (its handle), after checking the arguments' types."""
    options: IndexOptions = LIB.helios_index_default_options()
    options.kind = _code("kind", kind, _KINDS)
    options.metric = _code("metric", metric, _METRICS)
    options.dim = size_t("dim", dim)
    options.pq_m = size_t("m", m)
    options.pq_nbits = _u32("nbits", nbits)
    options.train_iterations = size_t("train_iterations", train_iterations)
    options.seed = _seed_value(seed)
    options.threads = size_or_auto("threads", threads)
    handle = Handle()
    check(LIB.helios_index_new(ctypes.byref(options), ctypes.byref(handle)))
    return handle.value


class VectorIndex(NativePersistent):
    """A nearest-neighbour index of float32 vectors with 64-bit ids (faiss-like).

    Two kinds, fixed at creation:

    * ``"flat"`` (:meth:`flat`): the vectors themselves, exact search.
    * ``"pq"`` (:meth:`pq`): product quantization. :meth:`train` learns
      ``m`` codebooks of ``2**nbits`` centroids (one per sub-space of
      ``dim / m`` coordinates, seeded k-means); each vector is then stored as
      ``m`` codes of one byte, and a search compares the exact query with the
      coded vectors (asymmetric distances, equal up to float32 rounding to
      the distance from the query to :meth:`reconstruct` of the id).

    and two metrics: ``"l2"`` (squared Euclidean distance, smaller is nearer)
    and ``"ip"`` (inner product, larger is nearer).

    :meth:`search` returns ``(D, I)`` like faiss: two ``(n_queries, k)``
    arrays, float32 distances and int64 ids, best first, ties broken by the
    smaller id. A row of an index holding fewer than k vectors ends with id
    -1 and distance ``+inf`` (L2) or ``-inf`` (inner product). The results
    are bit-identical for every thread count, and (flat) a query searched
    alone gets the same bits as in a batch.

    >>> import numpy as np, helios
    >>> X = np.array([[0, 0], [1, 0], [5, 5]], dtype=np.float32)
    >>> with helios.VectorIndex.flat(2) as index:
    ...     index.add(X)
    ...     D, I = index.search([0.9, 0.1], k=2)
    >>> I
    array([[1, 0]])
    >>> np.round(D, 4)
    array([[0.02, 0.82]], dtype=float32)

    Vectors and queries may be any array-like of real numbers: they are
    converted to C-contiguous float32 with ``np.ascontiguousarray`` (no copy
    when they already are), and a 1-D array is one vector. NaN and infinite
    values are refused by helios (``HELIOS_ERR_NUMERIC``, naming the row,
    as for the feature map).

    Ids are non-negative ints below 2**64 - 1: a list of ints, or an int64
    or uint64 array. A negative id raises :class:`ValueError` (before any
    call into helios). Ids of 2**63 and more are valid; :meth:`search`
    returns them as negative int64 values (``I.view(np.uint64)`` reads them
    back, and is what to pass to :meth:`remove`). :meth:`add` without ids
    numbers the vectors from one past the largest id ever added (0, 1, 2, ...
    on a fresh index).

    The index owns a C object: release it with :meth:`close` or by using the
    index as a context manager; the garbage collector frees it otherwise.
    After :meth:`close`, every call that needs the C object raises
    :class:`ValueError` (the fixed options stay readable); closing twice is
    harmless. An index pickles and copies (through :meth:`to_bytes`, with
    its thread count); :meth:`save` and :meth:`load` write and read the same
    versioned, checksummed format.

    Use :meth:`flat` or :meth:`pq` to create one; the constructor takes
    every option.

    Args:
        dim: the vector dimension d, at least 1.
        kind: ``"flat"`` or ``"pq"``.
        metric: ``"l2"`` or ``"ip"``.
        m: PQ: the number of sub-spaces M (1 to 65536), dividing ``dim``.
        nbits: PQ: bits per code, 1 to 8.
        train_iterations: PQ: k-means iterations per sub-space, 1 to 1000.
        seed: PQ: the seed of the k-means initialisation and of the training
            sample (0 to 2**64 - 1): the same data and seed give the same
            codebooks on every machine and thread count.
        threads: worker threads of train, add and the searches that name
            none (1 runs on the calling thread); ``None`` for
            :func:`helios.get_num_threads` at each call.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an unknown ``kind`` or ``metric``, or a negative number.
        HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for ``dim=0``; PQ:
            ``m`` of 0, above 65536 or not dividing ``dim``, ``nbits`` of 0
            or above 8, ``train_iterations`` of 0 or above 1000; ``threads=0``
            or above 1024.

    Thread safety: shareable (one object may be used from any number of
    threads at once): searches run concurrently (the GIL is released during
    every call into helios), while :meth:`train`, :meth:`add` and
    :meth:`remove` wait for each other and for the searches in flight, so a
    search sees the index before or after a write, never half of one. No
    call keeps state on the Python object.
    """

    # The shared members of NativePersistent (load, from_bytes, save,
    # to_bytes, pickling, close), with their docstrings' fields.
    _native_name = "helios.VectorIndex"
    _noun = "index"
    _doc_fields = {
        "a_noun": "an index",
        "loaded": """Its options, ids, vectors or codebooks and codes are the saved ones
        (every search gives the same bits as on the saved index)""",
        "saved": "index",
        "save_failure": " and a failed save leaves the old one",
        "unbuilt_error": "",
        "busy_error": "",
        "unbuilt_note": "",
        "thread_safety": """shareable (one object may be used from any number of
        threads at once)""",
        "file_snapshot": "; the file holds the index before or after any write",
        "bytes_snapshot": "; the bytes hold the index before or after any write",
        "callers": "other threads",
    }

    @staticmethod
    def _entry(name: str) -> Any:
        """The C function ``helios_index_<name>`` (looked up at each call)."""
        return getattr(LIB, f"helios_index_{name}")

    def __init__(
        self,
        dim: int,
        kind: str = "flat",
        metric: str = "l2",
        *,
        m: int = 16,
        nbits: int = 8,
        train_iterations: int = 25,
        seed: int = 0,
        threads: Optional[int] = None,
    ) -> None:
        handle = _new_index(dim, kind, metric, m, nbits, train_iterations, seed, threads)
        self._adopt(handle, AUTO)  # the options already hold the thread count

    @classmethod
    def flat(cls, dim: int, metric: str = "l2", threads: Optional[int] = None) -> VectorIndex:
        """An empty exact index of ``dim``-dimensional vectors (no training needed).

        Args:
            dim: the vector dimension, at least 1.
            metric: ``"l2"`` (squared Euclidean) or ``"ip"`` (inner product).
            threads: worker threads, or ``None`` for :func:`helios.get_num_threads`.

        Raises:
            As the class (``HELIOS_ERR_INVALID_ARGUMENT`` for ``dim=0``).

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        return cls(dim, "flat", metric, threads=threads)

    @classmethod
    def pq(
        cls,
        dim: int,
        m: int = 16,
        nbits: int = 8,
        metric: str = "l2",
        seed: int = 0,
        threads: Optional[int] = None,
        *,
        train_iterations: int = 25,
    ) -> VectorIndex:
        """An empty product-quantized index: call :meth:`train`, then :meth:`add`.

        Each vector is stored as ``m`` codes of ``nbits`` bits (one byte
        each), one per sub-space of ``dim / m`` coordinates.

        Args:
            dim: the vector dimension, a multiple of ``m``.
            m: sub-spaces, 1 to 65536.
            nbits: bits per code, 1 to 8 (``2**nbits`` centroids per sub-space).
            metric: ``"l2"`` or ``"ip"``.
            seed: the seed of training (0 to 2**64 - 1).
            threads: worker threads, or ``None`` for :func:`helios.get_num_threads`.
            train_iterations: k-means iterations per sub-space, 1 to 1000.

        Raises:
            As the class.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        return cls(
            dim,
            "pq",
            metric,
            m=m,
            nbits=nbits,
            train_iterations=train_iterations,
            seed=seed,
            threads=threads,
        )

    # ---- construction from a handle ----------------------------------------

    def _cache_options(self) -> None:
        """Cache the fixed options of the adopted C index."""
        options = IndexOptions()
        with self._native.borrow() as live:
            check(LIB.helios_index_get_options(live, ctypes.byref(options)))
        self._kind = _KIND_NAMES[options.kind]
        self._metric = _METRIC_NAMES[options.metric]
        self._dim = int(options.dim)
        self._m = int(options.pq_m)
        self._nbits = int(options.pq_nbits)
        self._train_iterations = int(options.train_iterations)
        self._seed = int(options.seed)

    # ---- writing ------------------------------------------------------------

    def train(self, X: Vectors) -> None:
        """Learn the PQ codebooks from the vectors ``X`` (a flat index only checks them).

        PQ needs at least ``2**nbits`` vectors; with more than ``256`` per
        centroid, a seeded sample of that many is used. Training again is
        allowed while the index is empty. On error the index is unchanged.

        Args:
            X: n x dim vectors (see the class for what is accepted).

        Raises:
            TypeError, ValueError: ``X`` does not hold real numbers or is
                not 1-D or 2-D.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for no vectors,
                fewer than ``2**nbits`` (PQ) or a dimension other than
                :attr:`dim`; ``HELIOS_ERR_NUMERIC`` for a NaN or infinite
                value (the message names the row);
                ``HELIOS_ERR_INVALID_STATE`` when a PQ index holds vectors.

        Thread safety: shareable (one object may be used from any number of
        threads at once); searches see the index before or after training.
        """
        vectors = _vectors("X", X, self._dim)
        n, d = vectors.shape
        with self._native.borrow() as handle:
            check(LIB.helios_index_train(handle, vectors.ctypes.data_as(_FLOATS), n, d))

    def add(self, X: Vectors, ids: Optional[Ids] = None) -> None:
        """Add the vectors ``X`` with the ids ``ids`` (one per vector) or sequential ones.

        Without ``ids`` the vectors are numbered from one past the largest id
        ever added (0, 1, 2, ... on a fresh index). Nothing is added when the
        call fails.

        Args:
            X: n x dim vectors (see the class for what is accepted).
            ids: n distinct new ids, each in 0..2**64 - 2 (a list of ints,
                an int64 or a uint64 array), or ``None``.

        Raises:
            TypeError: ``X`` does not hold real numbers, or ``ids`` does not
                hold ints.
            ValueError: ``X`` is not 1-D or 2-D, ``ids`` is not 1-D, has a
                negative id, or does not have one id per vector.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for no vectors, a
                dimension other than :attr:`dim`, an id already in the index
                or repeated, or 2**64 - 1 (the padding id);
                ``HELIOS_ERR_NUMERIC`` for a NaN or infinite value; ``HELIOS_ERR_INVALID_STATE`` for a PQ index not
                trained yet.

        Thread safety: shareable (one object may be used from any number of
        threads at once); searches see the index before or after the add.
        """
        vectors = _vectors("X", X, self._dim)
        n, d = vectors.shape
        id_pointer = None
        if ids is not None:
            id_array = _ids("ids", ids)
            if len(id_array) != n:
                raise ValueError(
                    f"ids has {len(id_array)} ids but X has {n} vectors: give one id per vector"
                )
            id_pointer = id_array.ctypes.data_as(_IDS)
        with self._native.borrow() as handle:
            check(LIB.helios_index_add(handle, vectors.ctypes.data_as(_FLOATS), n, d, id_pointer))

    def remove(self, ids: Ids) -> None:
        """Remove the vectors with these ids; every one must be in the index, listed once.

        When one is not, nothing is removed. The other vectors keep their ids.

        Args:
            ids: one id or a sequence or 1-D array of them (as for :meth:`add`).

        Raises:
            TypeError: ``ids`` does not hold ints.
            ValueError: ``ids`` is not 1-D or has a negative id.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for no ids, an id
                not in the index or listed twice (named in the message).

        Thread safety: shareable (one object may be used from any number of
        threads at once); searches see the index before or after the removal.
        """
        id_array = _ids("ids", ids)
        with self._native.borrow() as handle:
            check(LIB.helios_index_remove(handle, id_array.ctypes.data_as(_IDS), id_array.size))

    # ---- reading ------------------------------------------------------------

    def search(
        self, Q: Vectors, k: int, threads: Optional[int] = None
    ) -> Tuple[Distances, Labels]:
        """The ``k`` nearest stored vectors of each query: ``(D, I)``, as faiss.

        Row q of ``D`` and ``I`` holds query q's hits, best first: squared L2
        distances (increasing) or inner products (decreasing), ties broken by
        the smaller id. When the index holds fewer than ``k`` vectors, a row
        ends with id -1 and distance ``+inf`` (L2) or ``-inf`` (inner
        product). The bits do not depend on ``threads``; with a flat index
        they do not depend on the other queries of the batch either.

        Args:
            Q: n_queries x dim queries, or one query as a 1-D array.
            k: hits per query, at least 1.
            threads: worker threads of this call (it sets nothing on the
                index), or ``None`` for the index's :attr:`threads`.

        Returns:
            ``(D, I)``: a C-contiguous ``(n_queries, k)`` float32 array and
            an ``(n_queries, k)`` int64 array (a view of the uint64 ids:
            ``I.view(np.uint64)`` gives ids of 2**63 and more, and
            ``2**64 - 1`` for padding).

        Raises:
            TypeError, ValueError: ``Q`` does not hold real numbers or is
                not 1-D or 2-D; ``k`` or ``threads`` is not a non-negative int.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for ``k=0``, no
                queries, a dimension other than :attr:`dim`, ``threads=0``
                or above 1024; ``HELIOS_ERR_NUMERIC`` for a NaN or infinite
                value;
                ``HELIOS_ERR_INVALID_STATE`` for a PQ index not trained yet.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        queries = _vectors("Q", Q, self._dim)
        count = size_t("k", k)
        options: SearchOptions = LIB.helios_index_default_search_options()
        options.threads = size_or_auto("threads", threads)
        n, d = queries.shape
        distances = np.empty((n, count), np.float32)
        ids = np.empty((n, count), np.uint64)
        with self._native.borrow() as handle:
            status = LIB.helios_index_search(
                handle,
                queries.ctypes.data_as(_FLOATS),
                n,
                d,
                count,
                ctypes.byref(options),
                distances.ctypes.data_as(_FLOATS),
                distances.size,
                ids.ctypes.data_as(_IDS),
                ids.size,
                None,
            )
            check(status)
        return distances, ids.view(np.int64)

    def reconstruct(self, id: int) -> npt.NDArray[np.float32]:
        """The stored vector with this id: exact (flat), or the centroids of its code (PQ).

        Args:
            id: an id in the index (0 to 2**64 - 2).

        Returns:
            A new float32 array of :attr:`dim` values.

        Raises:
            TypeError: ``id`` is not an int.
            ValueError: ``id`` is negative.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` when the id is not
                in the index.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        value = _id_value("id", id)
        out = np.empty(self._dim, np.float32)
        with self._native.borrow() as handle:
            status = LIB.helios_index_reconstruct(
                handle, value, out.ctypes.data_as(_FLOATS), out.size
            )
            check(status)
        return out

    def __len__(self) -> int:
        """The number of stored vectors (raises :class:`ValueError` once closed).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        count = ctypes.c_size_t()
        with self._native.borrow() as handle:
            check(LIB.helios_index_count(handle, ctypes.byref(count)))
        return int(count.value)

    def __bool__(self) -> bool:
        # An index is an object, not a container: an empty one is still true.
        return True

    @property
    def is_trained(self) -> bool:
        """Whether the index can take vectors: always for flat, after :meth:`train` for PQ.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        trained = ctypes.c_bool()
        with self._native.borrow() as handle:
            check(LIB.helios_index_is_trained(handle, ctypes.byref(trained)))
        return bool(trained.value)

    @property
    def threads(self) -> Optional[int]:
        """The workers of train, add and the searches that name none (``None``: the default).

        Settable (an int in 1..1024, or ``None`` for
        :func:`helios.get_num_threads`); results do not depend on it.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        options = IndexOptions()
        with self._native.borrow() as handle:
            check(LIB.helios_index_get_options(handle, ctypes.byref(options)))
        return None if options.threads == AUTO else int(options.threads)

    @threads.setter
    def threads(self, threads: Optional[int]) -> None:
        self._set_threads(size_or_auto("threads", threads))

    @property
    def dim(self) -> int:
        """d, the dimension of every vector (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._dim

    @property
    def kind(self) -> str:
        """``"flat"`` or ``"pq"`` (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._kind

    @property
    def metric(self) -> str:
        """``"l2"`` (squared Euclidean distance) or ``"ip"`` (inner product) (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._metric

    @property
    def m(self) -> Optional[int]:
        """PQ: the number of sub-spaces (bytes per vector); ``None`` for flat (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._m if self._kind == "pq" else None

    @property
    def nbits(self) -> Optional[int]:
        """PQ: bits per code; ``None`` for flat (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._nbits if self._kind == "pq" else None

    @property
    def train_iterations(self) -> Optional[int]:
        """PQ: k-means iterations per sub-space; ``None`` for flat (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._train_iterations if self._kind == "pq" else None

    @property
    def seed(self) -> Optional[int]:
        """PQ: the seed of training; ``None`` for flat (fixed).

        Thread safety: shareable (one object may be used from any number of
        threads at once); a fixed value.
        """
        return self._seed if self._kind == "pq" else None

    def __repr__(self) -> str:
        fixed = f"{self._kind} {self._metric} dim={self._dim}"
        if self._kind == "pq":
            fixed += f" m={self._m} nbits={self._nbits} seed={self._seed}"
        try:
            state = f"{len(self)} vectors"
            if not self.is_trained:
                state = "not trained"
            state += f", threads={self.threads}"
        except ValueError:
            state = "closed"
        except HeliosError as error:  # pragma: no cover - no query above can fail
            state = error.status
        return f"<helios.VectorIndex {fixed}: {state}>"
