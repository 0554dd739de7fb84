""":class:`Model` and :class:`GptConfig` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import numpy.typing as npt

from ._errors import check
from ._handle import NativeHandle, NativeOwner, PathLike
from ._lib import LIB, LIBRARY_PATH, Handle, declare, size_or_auto, size_t
from ._nystrom import _seed_value
from ._tokenizer import _ids_array, _path

#: The logits of :meth:`Model.forward`: a (T, vocab_size) float32 array.
Logits = npt.NDArray[np.float32]

_SIZE = ctypes.c_size_t
_SIZE_OUT = ctypes.POINTER(ctypes.c_size_t)


class _CConfig(ctypes.Structure):
    """``HeliosGptConfig``; filled from ``helios_model_default_config()``.

    Every call fills a new one; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("vocab_size", ctypes.c_size_t),
        ("n_positions", ctypes.c_size_t),
        ("n_embd", ctypes.c_size_t),
        ("n_layer", ctypes.c_size_t),
        ("n_head", ctypes.c_size_t),
        ("n_inner", ctypes.c_size_t),
        ("layer_norm_epsilon", ctypes.c_float),
    ]


# name: (restype, argtypes). Pointers to caller buffers are untyped
# (c_void_p): the binding passes numpy addresses.
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_model_default_config": (_CConfig, ()),
    "helios_model_random": (
        ctypes.c_int,
        (ctypes.POINTER(_CConfig), ctypes.c_uint64, ctypes.POINTER(Handle)),
    ),
    "helios_model_load": (ctypes.c_int, (ctypes.c_char_p, _SIZE, ctypes.POINTER(Handle))),
    "helios_model_save": (ctypes.c_int, (Handle, ctypes.c_char_p, _SIZE)),
    "helios_model_free": (None, (Handle,)),
    "helios_model_get_config": (ctypes.c_int, (Handle, ctypes.POINTER(_CConfig))),
    "helios_model_forward": (
        ctypes.c_int,
        # model, ids, count, threads, logits, capacity, out_needed
        (Handle, ctypes.c_void_p, _SIZE, _SIZE, ctypes.c_void_p, _SIZE, _SIZE_OUT),
    ),
}


declare(LIB, LIBRARY_PATH, _SIGNATURES)

_DEFAULT: _CConfig = LIB.helios_model_default_config()
if _DEFAULT.struct_size != ctypes.sizeof(_CConfig):  # pragma: no cover - a stale library
    raise ImportError(
        f"helios: {LIBRARY_PATH} has a HeliosGptConfig of {_DEFAULT.struct_size} bytes, but "
        f"this binding's is {ctypes.sizeof(_CConfig)}; rebuild the library (`make python`)"
    )

#: The files of a checkpoint directory, in the order a pickle holds them.
_FILES = ("config.json", "model.safetensors")


# ---- the config -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GptConfig:
    """The shape of a GPT-2 model: the fields of Hugging Face's ``GPT2Config``
    that matter for inference (``HeliosGptConfig`` in C).

    Every field defaults to GPT-2 small (:meth:`gpt2_small`: vocabulary
    50257, 1024 positions, width 768, 12 layers, 12 heads, epsilon 1e-5);
    ``n_inner=None`` means ``4 * n_embd``, as in ``GPT2Config``.

    >>> import helios
    >>> helios.GptConfig(vocab_size=100, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    GptConfig(vocab_size=100, n_positions=32, n_embd=16, n_layer=2, n_head=2,
              n_inner=64, layer_norm_epsilon=1e-05)

    The fields are checked by helios when a model is made
    (:meth:`Model.random`): every size positive and at most 2**24,
    ``n_head`` dividing ``n_embd``, the epsilon finite and positive.

    Thread safety: shareable (one object may be used from any number of
    threads at once); it is immutable.
    """

    vocab_size: int = int(_DEFAULT.vocab_size)
    n_positions: int = int(_DEFAULT.n_positions)
    n_embd: int = int(_DEFAULT.n_embd)
    n_layer: int = int(_DEFAULT.n_layer)
    n_head: int = int(_DEFAULT.n_head)
    n_inner: Optional[int] = None
    layer_norm_epsilon: float = float(_DEFAULT.layer_norm_epsilon)

    def __post_init__(self) -> None:
        for field in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            object.__setattr__(self, field, size_t(field, getattr(self, field)))
        if self.n_inner is None:
            object.__setattr__(self, "n_inner", 4 * self.n_embd)
        else:
            object.__setattr__(self, "n_inner", size_t("n_inner", self.n_inner))
        epsilon = self.layer_norm_epsilon
        if isinstance(epsilon, (bool, np.bool_)) or not isinstance(
            epsilon, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"layer_norm_epsilon must be a real number, got {type(epsilon).__name__}"
            )
        # The value helios computes with (a C float), written as the shortest
        # decimal that gives that float (1e-05, not 9.999999747378752e-06),
        # so that a config read back from a model equals the one it was made from.
        with np.errstate(over="ignore"):
            single = np.float32(epsilon)
        object.__setattr__(self, "layer_norm_epsilon", float(str(single)))

    @classmethod
    def gpt2_small(cls) -> GptConfig:
        """GPT-2 small's shape, from ``helios_model_default_config()``.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        return cls._from_c(LIB.helios_model_default_config())

    @classmethod
    def _from_c(cls, c: _CConfig) -> GptConfig:
        return cls(
            vocab_size=int(c.vocab_size),
            n_positions=int(c.n_positions),
            n_embd=int(c.n_embd),
            n_layer=int(c.n_layer),
            n_head=int(c.n_head),
            n_inner=int(c.n_inner),
            layer_norm_epsilon=float(c.layer_norm_epsilon),
        )

    def _to_c(self) -> _CConfig:
        c: _CConfig = LIB.helios_model_default_config()  # the right struct_size
        c.vocab_size = self.vocab_size
        c.n_positions = self.n_positions
        c.n_embd = self.n_embd
        c.n_layer = self.n_layer
        c.n_head = self.n_head
        c.n_inner = self.n_inner
        c.layer_norm_epsilon = self.layer_norm_epsilon
        return c


# ---- the model ------------------------------------------------------------------


def _unpickle(files: Tuple[bytes, ...]) -> Model:
    with tempfile.TemporaryDirectory(prefix="helios_model_") as folder:
        for name, data in zip(_FILES, files):
            (Path(folder) / name).write_bytes(data)
        return Model.load(folder)


class Model(NativeOwner):
    """A GPT-2 language model: token and learned position embeddings,
    pre-LayerNorm blocks of causal multi-head attention and a GELU (tanh
    approximation) MLP, a final LayerNorm and the LM head tied to the token
    embedding; f32 compute.

    Create one with :meth:`load` (a Hugging Face GPT-2 checkpoint directory:
    ``config.json`` + ``model.safetensors``) or :meth:`random` (seeded random
    weights of a :class:`GptConfig`); :meth:`save` writes the same layout,
    which ``transformers`` loads. The weights never change after creation.

    >>> import helios
    >>> config = helios.GptConfig(vocab_size=100, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    >>> with helios.Model.random(config, seed=1) as model:
    ...     logits = model.forward([5, 17, 42])
    ...     logits.shape, logits.dtype
    ...     bool((model.forward([5, 17])[-1] == logits[1]).all())
    ((3, 100), dtype('float32'))
    True

    :meth:`forward` is batch invariant: row t of the logits depends only on
    ``ids[:t + 1]``, bit for bit, and is the same for every thread count.

    The model owns a C object: release it with :meth:`close` or by using it
    as a context manager; the garbage collector frees it otherwise. After
    :meth:`close` every call raises :class:`ValueError`. A model pickles
    (through the files :meth:`save` writes).

    Thread safety: shareable (one object may be used from any number of
    threads at once): forward passes run concurrently (the GIL is released
    during every call into helios, and each call keeps its activations to
    itself).
    """

    _native: NativeHandle
    _config: GptConfig

    def __init__(self) -> None:
        raise TypeError("create a helios.Model with Model.load or Model.random")

    @classmethod
    def _from_handle(cls, handle: Optional[int]) -> Model:
        assert handle is not None, "helios returned HELIOS_OK without a model"
        model = cls.__new__(cls)
        model._native = NativeHandle(handle, LIB.helios_model_free, "helios.Model")
        c = _CConfig()
        c.struct_size = ctypes.sizeof(_CConfig)
        with model._native.borrow() as live:
            check(LIB.helios_model_get_config(live, ctypes.byref(c)))
        model._config = GptConfig._from_c(c)
        return model

    # ---- creation -----------------------------------------------------------

    @classmethod
    def load(cls, directory: PathLike) -> Model:
        """Load a Hugging Face GPT-2 checkpoint directory: ``config.json`` and
        ``model.safetensors`` (keys with or without the ``transformer.``
        prefix; f32, f16 or bf16 weights, converted to f32).

        Raises:
            TypeError: ``directory`` is not a path.
            ValueError: ``directory`` holds a NUL character.
            HeliosError: ``HELIOS_ERR_IO`` when a file is missing or
                unreadable; ``HELIOS_ERR_FORMAT`` for a ``model_type`` other
                than ``"gpt2"``, a missing tensor, a wrong shape or dtype, a
                truncated or corrupt file, or a ``config.json`` that disagrees
                with the tensors (the message names the field or tensor);
                ``HELIOS_ERR_UNSUPPORTED`` for an activation other than
                GELU-tanh or untied embeddings; ``HELIOS_ERR_NUMERIC`` for
                NaN or infinite weights.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        raw = _path("directory", directory)
        handle = Handle()
        check(LIB.helios_model_load(raw, len(raw), ctypes.byref(handle)))
        return cls._from_handle(handle.value)

    @classmethod
    def random(cls, config: GptConfig, seed: int = 0) -> Model:
        """A model of shape ``config`` with seeded random weights, initialised
        as Hugging Face initialises GPT-2: normal(0, 0.02) weights (each
        block's output projections scaled by 1/sqrt(2 n_layer)), zero
        biases, LayerNorms at weight 1 and bias 0. The same seed gives the
        same weights on every machine.

        Raises:
            TypeError: ``config`` is not a :class:`GptConfig` or ``seed`` not an int.
            ValueError: ``seed`` outside 0..2**64 - 1.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for a size of 0 or
                above 2**24, ``n_head`` not dividing ``n_embd``, or an epsilon
                that is not finite and positive (the message names the
                field); ``HELIOS_ERR_OUT_OF_MEMORY``.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        if not isinstance(config, GptConfig):
            raise TypeError(f"config must be a helios.GptConfig, got {type(config).__name__}")
        c = config._to_c()
        handle = Handle()
        check(LIB.helios_model_random(ctypes.byref(c), _seed_value(seed), ctypes.byref(handle)))
        return cls._from_handle(handle.value)

    # ---- inference ----------------------------------------------------------

    @property
    def config(self) -> GptConfig:
        """The model's shape.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self._config

    def forward(self, ids: Any, threads: Optional[int] = None) -> Logits:
        """The logits of a whole sequence: a ``(len(ids), vocab_size)``
        float32 array, row t the next-token logits after ``ids[:t + 1]``.

        Row t depends only on ``ids[:t + 1]``, bit for bit
        (``forward(ids[:t + 1])[-1] == forward(ids)[t]``), and the result is
        the same for every ``threads``.

        Args:
            ids: token ids, a 1-D sequence or array of ints (a uint32 array
                is used without a copy), 1 to ``config.n_positions`` of them.
            threads: worker threads (1..1024), or ``None`` for
                :func:`helios.get_num_threads`.

        Raises:
            TypeError, ValueError: ``ids`` does not hold ints in
                0..2**32 - 1 (a negative id is a ValueError), or ``threads``
                is not a non-negative int.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for no ids, more
                ids than ``config.n_positions``, an id not below
                ``config.vocab_size`` (the message names its position), or
                ``threads`` 0 or above 1024.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        array = _ids_array(ids)
        thread_count = size_or_auto("threads", threads)
        # The untouched pages of an over-long request's buffer cost nothing:
        # helios refuses it before writing.
        logits = np.empty((array.size, self._config.vocab_size), np.float32)
        needed = ctypes.c_size_t()
        with self._native.borrow() as handle:
            check(
                LIB.helios_model_forward(
                    handle,
                    array.ctypes.data,
                    array.size,
                    thread_count,
                    logits.ctypes.data,
                    logits.size,
                    ctypes.byref(needed),
                )
            )
        return logits

    # ---- persistence --------------------------------------------------------

    def save(self, directory: PathLike) -> None:
        """Save to ``directory`` (created when missing) as ``config.json`` and
        ``model.safetensors`` (f32, keys with the ``transformer.`` prefix,
        metadata ``{"format": "pt"}``) in Hugging Face's layout, which
        ``transformers`` and :meth:`load` read. Each file is written to a
        temporary file in the folder and then renamed, so a reader never sees
        half a file.

        Raises:
            TypeError: ``directory`` is not a path.
            ValueError: ``directory`` holds a NUL character.
            HeliosError: ``HELIOS_ERR_IO`` when the folder or a file cannot
                be written.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        raw = _path("directory", directory)
        with self._native.borrow() as handle:
            check(LIB.helios_model_save(handle, raw, len(raw)))

    def __reduce__(self) -> Tuple[Callable[[Tuple[bytes, ...]], Model], Tuple[Tuple[bytes, ...]]]:
        with tempfile.TemporaryDirectory(prefix="helios_model_") as folder:
            self.save(folder)
            files = tuple((Path(folder) / name).read_bytes() for name in _FILES)
        return (_unpickle, (files,))

    # ---- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the C model; closing twice is harmless.

        Forward passes still running on other threads finish first (the C
        model is freed when the last one returns); later calls raise
        :class:`ValueError`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()

    def __repr__(self) -> str:
        c = self._config
        state = (
            "closed"
            if self.closed
            else f"vocab_size={c.vocab_size} n_positions={c.n_positions} n_embd={c.n_embd} "
            f"n_layer={c.n_layer} n_head={c.n_head}"
        )
        return f"<helios.Model {state}>"

