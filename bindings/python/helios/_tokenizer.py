""":class:`Tokenizer` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import operator
import os
import threading
from contextlib import nullcontext
from typing import (
    Any,
    Callable,
    ContextManager,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import numpy.typing as npt

from ._cancel import CancelToken
from ._errors import HeliosError, Status, check
from ._handle import NativeHandle, NativeOwner, PathLike
from ._lib import LIB, LIBRARY_PATH, Handle, declare, size_or_auto, size_t

#: ``HELIOS_NO_TOKEN`` (``UINT32_MAX``): what ``helios_tokenizer_token_to_id``
#: answers for a token that is not in the vocabulary (``None`` in Python).
NO_TOKEN = (1 << 32) - 1

#: The text of :meth:`Tokenizer.encode`: a ``str``, or UTF-8 bytes (checked
#: by helios).
Text = Union[str, bytes, bytearray, memoryview]

#: The ids of :meth:`Tokenizer.encode`: a 1-D uint32 array.
Ids = npt.NDArray[np.uint32]

#: The offsets of :meth:`Tokenizer.encode_with_offsets`: an (n, 2) array of
#: ``[start, end)`` byte offsets (``size_t``: uint64 on 64-bit platforms).
Offsets = npt.NDArray[np.uintp]

#: A progress callback of training: ``progress(done, total)``; a true return
#: value stops the training (``HELIOS_ERR_CANCELLED``).
Progress = Callable[[int, int], Any]

_U32_MAX = (1 << 32) - 1
_SIZE = ctypes.c_size_t
_SIZE_OUT = ctypes.POINTER(ctypes.c_size_t)
_OUT = ctypes.POINTER(Handle)

#: ``HeliosTrainProgressFn``: ``int32_t progress(size_t done, size_t total, void *user_data)``.
ProgressFn: Any = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p
)


class TrainOptions(ctypes.Structure):
    """``HeliosTokenizerTrainOptions``; fill it from ``helios_tokenizer_default_train_options()``.

    Every training call fills a new one; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("vocab_size", ctypes.c_size_t),
        ("min_frequency", ctypes.c_size_t),
        ("special_tokens", ctypes.POINTER(ctypes.c_char_p)),
        ("special_tokens_count", ctypes.c_size_t),
        ("unk_token", ctypes.c_char_p),
        ("threads", ctypes.c_size_t),
        ("cancel", Handle),
        ("progress", ProgressFn),
        ("progress_user_data", ctypes.c_void_p),
    ]


# name: (restype, argtypes). Pointers to caller buffers are untyped
# (c_void_p): the binding passes numpy addresses.
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_tokenizer_from_file": (
        ctypes.c_int,
        (ctypes.c_char_p, _SIZE, ctypes.POINTER(Handle)),
    ),
    "helios_tokenizer_from_json": (
        ctypes.c_int,
        (ctypes.c_char_p, _SIZE, ctypes.POINTER(Handle)),
    ),
    "helios_tokenizer_from_vocab_merges": (
        ctypes.c_int,
        (ctypes.c_char_p, _SIZE, ctypes.c_char_p, _SIZE, ctypes.POINTER(Handle)),
    ),
    "helios_tokenizer_from_pretrained_dir": (
        ctypes.c_int,
        (ctypes.c_char_p, _SIZE, ctypes.POINTER(Handle)),
    ),
    "helios_tokenizer_free": (None, (Handle,)),
    "helios_tokenizer_save": (ctypes.c_int, (Handle, ctypes.c_char_p, _SIZE)),
    "helios_tokenizer_to_json": (ctypes.c_int, (Handle, ctypes.c_void_p, _SIZE, _SIZE_OUT)),
    "helios_tokenizer_default_train_options": (TrainOptions, ()),
    "helios_tokenizer_train_bpe": (
        ctypes.c_int,
        # texts, lengths, count, options, out
        (ctypes.c_void_p, ctypes.c_void_p, _SIZE, ctypes.POINTER(TrainOptions), _OUT),
    ),
    "helios_tokenizer_train_bpe_files": (
        ctypes.c_int,
        # paths, path_lengths, count, options, out
        (
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(_SIZE),
            _SIZE,
            ctypes.POINTER(TrainOptions),
            ctypes.POINTER(Handle),
        ),
    ),
    "helios_tokenizer_train_char": (
        ctypes.c_int,
        # texts, lengths, count, options, out
        (ctypes.c_void_p, ctypes.c_void_p, _SIZE, ctypes.POINTER(TrainOptions), _OUT),
    ),
    "helios_tokenizer_encode": (
        ctypes.c_int,
        # tokenizer, text, len, ids, capacity, offsets, out_count
        (Handle, ctypes.c_char_p, _SIZE, ctypes.c_void_p, _SIZE, ctypes.c_void_p, _SIZE_OUT),
    ),
    "helios_tokenizer_encode_batch": (
        ctypes.c_int,
        # tokenizer, texts, lengths, count, threads, ids, capacity, counts, out_total
        (
            Handle,
            ctypes.c_void_p,
            ctypes.c_void_p,
            _SIZE,
            _SIZE,
            ctypes.c_void_p,
            _SIZE,
            ctypes.c_void_p,
            _SIZE_OUT,
        ),
    ),
    "helios_tokenizer_decode": (
        ctypes.c_int,
        # tokenizer, ids, count, skip_special, out, capacity, out_len
        (Handle, ctypes.c_void_p, _SIZE, ctypes.c_int32, ctypes.c_void_p, _SIZE, _SIZE_OUT),
    ),
    "helios_tokenizer_vocab_size": (ctypes.c_int, (Handle, _SIZE_OUT)),
    "helios_tokenizer_token_to_id": (
        ctypes.c_int,
        (Handle, ctypes.c_char_p, _SIZE, ctypes.POINTER(ctypes.c_uint32)),
    ),
    "helios_tokenizer_id_to_token": (
        ctypes.c_int,
        (Handle, ctypes.c_uint32, ctypes.c_void_p, _SIZE, _SIZE_OUT),
    ),
}


declare(LIB, LIBRARY_PATH, _SIGNATURES)


# ---- argument conversion --------------------------------------------------------


def _path(name: str, path: PathLike) -> bytes:
    """``path`` as the bytes the C API takes (with their length; no NUL inside)."""
    try:
        raw = os.fsencode(path)
    except TypeError:
        raise TypeError(
            f"{name} must be a str, bytes or os.PathLike, got {type(path).__name__}"
        ) from None
    if b"\0" in raw:
        raise ValueError(f"{name} holds a NUL character: {path!r}")
    return raw


def _utf8(name: str, text: Text) -> bytes:
    """``text`` as bytes: a ``str`` encoded to UTF-8, bytes-like objects as they are
    (helios checks that they are UTF-8)."""
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, bytes):
        return text
    if isinstance(text, (bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"{name} must be a str or UTF-8 bytes, got {type(text).__name__}")


def _special(name: str, token: Union[str, bytes]) -> bytes:
    """A token string for a C ``const char *``: UTF-8 without NUL."""
    raw = _utf8(name, token)
    if b"\0" in raw:
        raise ValueError(f"{name} holds a NUL character: {token!r}")
    return raw


class _Texts:
    """Texts packed for a C call: one buffer, an array of pointers into it and
    an array of lengths. Keep the object alive until the call has returned."""

    def __init__(self, name: str, texts: Iterable[Text]) -> None:
        if isinstance(texts, (str, bytes, bytearray, memoryview)):
            raise TypeError(
                f"{name} must be an iterable of texts, got a single {type(texts).__name__}; "
                f"wrap it in a list"
            )
        try:
            iterator = iter(texts)
        except TypeError:
            raise TypeError(
                f"{name} must be an iterable of str, got {type(texts).__name__}"
            ) from None
        encoded = [_utf8(f"{name}[{i}]", text) for i, text in enumerate(iterator)]
        self.count = len(encoded)
        self.lengths = np.fromiter((len(raw) for raw in encoded), np.uintp, self.count)
        self.total = int(self.lengths.sum())
        # One buffer (never empty, so its address is valid) and a pointer per text.
        encoded.append(b"\0")
        self.buffer = np.frombuffer(b"".join(encoded), np.uint8)
        starts = np.zeros(self.count, np.uintp)
        if self.count > 1:
            np.cumsum(self.lengths[:-1], out=starts[1:])
        self.pointers = starts + np.uintp(self.buffer.ctypes.data)

    @property
    def pointers_address(self) -> int:
        return int(self.pointers.ctypes.data)

    @property
    def lengths_address(self) -> int:
        return int(self.lengths.ctypes.data)


class _ProgressAdapter:
    """Runs a Python progress callback as the C ``HeliosTrainProgressFn`` of one
    training call. No exception crosses into C: one stops the training and
    :meth:`raise_failure` re-raises it. Keep the object alive until the C call
    has returned (it holds the ctypes callback)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._failure: Optional[BaseException] = None
        self.c_function = ProgressFn(self._call)

    def _call(self, done: int, total: int, _user_data: Optional[int]) -> int:
        try:
            return 1 if self._progress(int(done), int(total)) else 0
        except BaseException as error:  # noqa: B036 - nothing may propagate into C
            with self._lock:
                if self._failure is None:
                    self._failure = error
            return 1

    def raise_failure(self) -> None:
        failure, self._failure = self._failure, None  # no cycle through the traceback
        if failure is not None:
            raise failure


def _ids_array(ids: Any) -> npt.NDArray[np.uint32]:
    """``ids`` as a C-contiguous 1-D uint32 array (no copy when it already is one)."""
    if isinstance(ids, np.ndarray) and ids.dtype == np.uint32 and ids.ndim == 1:
        return np.ascontiguousarray(ids)
    array = np.asarray(ids)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, np.uint32)
    if array.dtype.kind == "O":  # ints beyond int64, or mixed objects
        try:
            values = [operator.index(value) for value in array.tolist()]
        except TypeError:
            raise TypeError("ids must be ints") from None
        bad = next((value for value in values if not 0 <= value <= _U32_MAX), None)
        if bad is not None:
            raise ValueError(f"ids must be in 0..2**32 - 1, got {bad}")
        return np.array(values, np.uint32)
    if array.dtype.kind not in "iu":
        raise TypeError(f"ids must be ints, got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > _U32_MAX:
        raise ValueError(f"ids must be in 0..2**32 - 1, got {low if low < 0 else high}")
    return np.ascontiguousarray(array, dtype=np.uint32)


def _unpickle(json: str) -> "Tokenizer":
    return Tokenizer.from_json(json)


# ---- the class ------------------------------------------------------------------


class Tokenizer(NativeOwner):
    """A text tokenizer: GPT-2 byte-level BPE or char-level, compatible with
    Hugging Face ``tokenizers``.

    Create one by loading (:meth:`from_file` for a ``tokenizer.json``,
    :meth:`from_vocab_merges` for GPT-2's ``vocab.json`` + ``merges.txt``,
    :meth:`from_pretrained_dir` for a folder holding either, :meth:`from_json`)
    or by training (:meth:`train_bpe`, :meth:`train_bpe_files`,
    :meth:`train_char`). A tokenizer never changes after creation.

    >>> import helios
    >>> texts = ["the cat sat on the mat", "the dog sat on the log"] * 50
    >>> tok = helios.Tokenizer.train_bpe(texts, vocab_size=300, special_tokens=["<|endoftext|>"])
    >>> ids = tok.encode("the cat sat<|endoftext|>")
    >>> tok.decode(ids)
    'the cat sat<|endoftext|>'
    >>> tok.id_to_token(0), tok.token_to_id("<|endoftext|>")
    ('<|endoftext|>', 0)

    Byte-level BPE works as Hugging Face's ``ByteLevelBPETokenizer`` (GPT-2's
    split pattern, no prefix space, the 256 byte tokens always in the
    vocabulary): every valid UTF-8 text encodes, and ``decode(encode(s)) ==
    s``. Special tokens (such as ``"<|endoftext|>"``) are matched in the text
    before anything else. Ids are ``uint32``; offsets are byte offsets into
    the UTF-8 text.

    The tokenizer owns a C object: release it with :meth:`close` or by using
    it as a context manager; the garbage collector frees it otherwise. After
    :meth:`close` every call raises :class:`ValueError`. A tokenizer pickles
    and copies (through :meth:`to_json`).

    Thread safety: shareable (one object may be used from any number of
    threads at once): encoding and decoding run concurrently (the GIL is
    released during every call into helios).
    """

    _native: NativeHandle

    def __init__(self) -> None:
        raise TypeError(
            "create a helios.Tokenizer with Tokenizer.from_file, from_json, "
            "from_vocab_merges, from_pretrained_dir, train_bpe, train_bpe_files or train_char"
        )

    @classmethod
    def _from_handle(cls, handle: Optional[int]) -> Tokenizer:
        assert handle is not None, "helios returned HELIOS_OK without a tokenizer"
        tokenizer = cls.__new__(cls)
        tokenizer._native = NativeHandle(handle, LIB.helios_tokenizer_free, "helios.Tokenizer")
        return tokenizer

    # ---- loading ------------------------------------------------------------

    @classmethod
    def from_file(cls, path: PathLike) -> Tokenizer:
        """Load a Hugging Face ``tokenizer.json`` (or one :meth:`save` wrote).

        Raises:
            TypeError: ``path`` is not a path.
            HeliosError: ``HELIOS_ERR_IO`` when the file cannot be read;
                ``HELIOS_ERR_FORMAT`` for a corrupt, truncated or wrongly
                typed file (the message names the field, such as
                ``model.vocab``) or merges naming unknown tokens;
                ``HELIOS_ERR_UNSUPPORTED`` for components helios does not
                implement (such as a WordPiece model).

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        raw = _path("path", path)
        handle = Handle()
        check(LIB.helios_tokenizer_from_file(raw, len(raw), ctypes.byref(handle)))
        return cls._from_handle(handle.value)

    @classmethod
    def from_json(cls, json: Union[str, bytes, bytearray, memoryview]) -> Tokenizer:
        """A tokenizer from the text of a ``tokenizer.json`` (``str`` or UTF-8 bytes).

        Raises:
            TypeError: ``json`` is not a str or bytes.
            HeliosError: as :meth:`from_file`, except ``HELIOS_ERR_IO``.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        raw = _utf8("json", json)
        handle = Handle()
        check(LIB.helios_tokenizer_from_json(raw, len(raw), ctypes.byref(handle)))
        return cls._from_handle(handle.value)

    @classmethod
    def from_vocab_merges(cls, vocab: PathLike, merges: PathLike) -> Tokenizer:
        """A GPT-2 byte-level BPE from ``vocab.json`` and ``merges.txt`` (paths).

        ``"<|endoftext|>"``, when in the vocabulary, is a special token (as in
        transformers' ``GPT2Tokenizer``).

        Raises:
            TypeError: a path of the wrong type.
            HeliosError: ``HELIOS_ERR_IO`` for a missing or unreadable file;
                ``HELIOS_ERR_FORMAT`` for a corrupt file or merges naming
                unknown tokens.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        vocab_raw, merges_raw = _path("vocab", vocab), _path("merges", merges)
        handle = Handle()
        status = LIB.helios_tokenizer_from_vocab_merges(
            vocab_raw, len(vocab_raw), merges_raw, len(merges_raw), ctypes.byref(handle)
        )
        check(status)
        return cls._from_handle(handle.value)

    @classmethod
    def from_pretrained_dir(cls, directory: PathLike) -> Tokenizer:
        """Load ``directory/tokenizer.json``, or else ``vocab.json`` + ``merges.txt`` there.

        Raises:
            TypeError: ``directory`` is not a path.
            HeliosError: ``HELIOS_ERR_IO`` naming what is missing; otherwise
                as :meth:`from_file` and :meth:`from_vocab_merges`.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        handle = Handle()
        raw = _path("directory", directory)
        check(LIB.helios_tokenizer_from_pretrained_dir(raw, len(raw), ctypes.byref(handle)))
        return cls._from_handle(handle.value)

    # ---- training -----------------------------------------------------------

    @staticmethod
    def _options(
        vocab_size: int,
        min_frequency: int,
        special_tokens: Iterable[Union[str, bytes]],
        unk_token: Optional[Union[str, bytes]],
        threads: Optional[int],
    ) -> Tuple[TrainOptions, List[Any]]:
        """Filled train options and the objects they point into (keep them alive)."""
        options: TrainOptions = LIB.helios_tokenizer_default_train_options()
        options.vocab_size = size_t("vocab_size", vocab_size)
        options.min_frequency = size_t("min_frequency", min_frequency)
        if isinstance(special_tokens, (str, bytes)):
            raise TypeError("special_tokens must be a list of str, not a single string")
        specials = [_special(f"special_tokens[{i}]", t) for i, t in enumerate(special_tokens)]
        array = (ctypes.c_char_p * max(len(specials), 1))(*specials)
        options.special_tokens = array if specials else None
        options.special_tokens_count = len(specials)
        unk = None if unk_token is None else _special("unk_token", unk_token)
        options.unk_token = unk
        options.threads = size_or_auto("threads", threads)
        return options, [array, specials, unk]

    @classmethod
    def _train(
        cls,
        function: Callable[..., int],
        inputs: Tuple[Any, ...],
        options: TrainOptions,
        progress: Optional[Progress],
        cancel: Optional[CancelToken],
    ) -> Tokenizer:
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError(f"cancel must be a helios.CancelToken, got {type(cancel).__name__}")
        adapter: Optional[_ProgressAdapter] = None
        if progress is not None:
            if not callable(progress):
                raise TypeError(f"progress must be callable, got {type(progress).__name__}")
            adapter = _ProgressAdapter(progress)
            options.progress = adapter.c_function
        handle = Handle()
        token: ContextManager[Optional[int]] = nullcontext() if cancel is None else cancel._borrow()
        with token as cancel_handle:
            options.cancel = cancel_handle
            status = function(*inputs, ctypes.byref(options), ctypes.byref(handle))
        if adapter is not None:
            try:
                adapter.raise_failure()
            except BaseException:
                if status == Status.OK and handle.value:  # the last call failed
                    LIB.helios_tokenizer_free(handle)
                raise
        check(status)
        return cls._from_handle(handle.value)

    @classmethod
    def train_bpe(
        cls,
        texts: Iterable[Text],
        vocab_size: int,
        min_frequency: int = 2,
        special_tokens: Sequence[str] = (),
        threads: Optional[int] = None,
        progress: Optional[Progress] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Tokenizer:
        """Train a GPT-2 byte-level BPE on ``texts``, like Hugging Face's
        ``ByteLevelBPETokenizer.train_from_iterator``.

        The result is the same for every thread count (ties between equally
        frequent pairs are broken by a fixed rule).

        Args:
            texts: an iterable of ``str`` (or UTF-8 bytes), read once.
            vocab_size: the final vocabulary size, special tokens and the 256
                byte tokens included (fewer when the corpus runs out of pairs).
            min_frequency: a pair seen fewer times is not merged.
            special_tokens: ids 0, 1, ... in order, matched before
                pre-tokenization when encoding.
            threads: worker threads, or ``None`` for :func:`helios.get_num_threads`.
            progress: ``progress(done, total)`` called with the merges done
                so far; a true return value stops the training.
            cancel: a :class:`helios.CancelToken` that stops the training.

        Raises:
            TypeError, ValueError: an argument of the wrong type or a negative number.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for no texts (or only
                empty ones), a ``vocab_size`` below ``len(special_tokens) +
                256`` or invalid UTF-8 (naming the byte offset);
                ``HELIOS_ERR_CANCELLED`` when stopped by ``progress`` or ``cancel``.
            Exception: what ``progress`` raised, re-raised (the training stops).

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        packed = _Texts("texts", texts)
        options, keep = cls._options(vocab_size, min_frequency, special_tokens, None, threads)
        inputs = (packed.pointers_address, packed.lengths_address, packed.count)
        result = cls._train(LIB.helios_tokenizer_train_bpe, inputs, options, progress, cancel)
        del keep, packed
        return result

    @classmethod
    def train_bpe_files(
        cls,
        paths: Iterable[PathLike],
        vocab_size: int,
        min_frequency: int = 2,
        special_tokens: Sequence[str] = (),
        threads: Optional[int] = None,
        progress: Optional[Progress] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Tokenizer:
        """Train a byte-level BPE on the UTF-8 text files ``paths`` (as :meth:`train_bpe`).

        Raises:
            As :meth:`train_bpe`, and ``HELIOS_ERR_IO`` for a file that cannot be read.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        raws = [_path(f"paths[{i}]", p) for i, p in enumerate(paths)]
        array = (ctypes.c_char_p * max(len(raws), 1))(*raws)
        lengths = (_SIZE * max(len(raws), 1))(*(len(raw) for raw in raws))
        options, keep = cls._options(vocab_size, min_frequency, special_tokens, None, threads)
        inputs = (array, lengths, len(raws))
        result = cls._train(LIB.helios_tokenizer_train_bpe_files, inputs, options, progress, cancel)
        del keep, array, lengths
        return result

    @classmethod
    def train_char(
        cls,
        texts: Iterable[Text],
        special_tokens: Sequence[str] = (),
        unk_token: Optional[str] = None,
        vocab_size: int = 0,
        min_frequency: int = 0,
        threads: Optional[int] = None,
        progress: Optional[Progress] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Tokenizer:
        """Train a char-level tokenizer: one token per Unicode character.

        The vocabulary is the special tokens (ids 0, 1, ...), then ``unk_token``
        when given and not among them, then the characters by code point.

        Args:
            texts: an iterable of ``str`` (or UTF-8 bytes), read once.
            special_tokens: tokens matched before splitting into characters.
            unk_token: the token of a character outside the vocabulary; with
                ``None``, encoding such a character raises ``HELIOS_ERR_INVALID_ARGUMENT``.
            vocab_size: 0 keeps every character seen; else only the most frequent.
            min_frequency: characters seen fewer times are dropped (0 and 1 keep all).
            threads, progress, cancel: as :meth:`train_bpe`.

        Raises:
            As :meth:`train_bpe`.

        Thread safety: reentrant (safe to call from any number of threads at once).
        """
        packed = _Texts("texts", texts)
        options, keep = cls._options(vocab_size, min_frequency, special_tokens, unk_token, threads)
        inputs = (packed.pointers_address, packed.lengths_address, packed.count)
        result = cls._train(LIB.helios_tokenizer_train_char, inputs, options, progress, cancel)
        del keep, packed
        return result

    # ---- encoding -----------------------------------------------------------

    def _encode(self, text: Text, with_offsets: bool) -> Tuple[Ids, Optional[Offsets]]:
        data = _utf8("text", text)
        # Every token holds at least one byte of the text, so len + 1 ids
        # always suffice; the untouched pages of a large buffer cost nothing.
        capacity = len(data) + 1
        while True:
            ids = np.empty(capacity, np.uint32)
            offsets = np.empty((capacity, 2), np.uintp) if with_offsets else None
            count = ctypes.c_size_t()
            with self._native.borrow() as handle:
                status = LIB.helios_tokenizer_encode(
                    handle,
                    data,
                    len(data),
                    ids.ctypes.data,
                    capacity,
                    offsets.ctypes.data if offsets is not None else None,
                    ctypes.byref(count),
                )
                if status == Status.BUFFER_TOO_SMALL and count.value > capacity:
                    capacity = count.value  # pragma: no cover - len + 1 is enough
                    continue
                check(status)
            n = count.value
            ids.resize(n, refcheck=False)  # shrinks in place (no other reference)
            if offsets is not None:
                offsets = offsets[:n].copy()
            return ids, offsets

    def encode(self, text: Text) -> Ids:
        """The token ids of ``text``: a 1-D ``uint32`` array.

        Args:
            text: a ``str``, or UTF-8 ``bytes``/``bytearray``/``memoryview``
                (checked by helios).

        Raises:
            TypeError: ``text`` is not a str or bytes.
            UnicodeEncodeError: a ``str`` with a lone surrogate (not UTF-8).
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for bytes that are
                not UTF-8 (the message names the byte offset), or a character
                outside the vocabulary of a char-level tokenizer without an
                unknown token.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self._encode(text, False)[0]

    def encode_with_offsets(self, text: Text) -> Tuple[Ids, Offsets]:
        """The ids of ``text`` and each token's ``[start, end)`` byte offsets.

        ``offsets`` is an ``(n, 2)`` array of byte offsets into
        ``text.encode("utf-8")``; a token holding part of a multi-byte
        character gets the bytes it holds, so the slices tile the text.

        Raises:
            As :meth:`encode`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        ids, offsets = self._encode(text, True)
        assert offsets is not None
        return ids, offsets

    def encode_batch(self, texts: Iterable[Text], threads: Optional[int] = None) -> List[Ids]:
        """The ids of each text, in order, encoded in parallel.

        Each array equals :meth:`encode` of its text, whatever ``threads``.

        Args:
            texts: an iterable of ``str`` (or UTF-8 bytes).
            threads: worker threads (1..1024), or ``None`` for :func:`helios.get_num_threads`.

        Raises:
            As :meth:`encode`; ``HELIOS_ERR_INVALID_ARGUMENT`` also for
            ``threads=0`` or above 1024.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        packed = _Texts("texts", texts)
        thread_count = size_or_auto("threads", threads)
        if packed.count == 0:
            return []
        capacity = packed.total + 1
        counts = np.zeros(packed.count, np.uintp)
        while True:
            ids = np.empty(capacity, np.uint32)
            total = ctypes.c_size_t()
            with self._native.borrow() as handle:
                status = LIB.helios_tokenizer_encode_batch(
                    handle,
                    packed.pointers_address,
                    packed.lengths_address,
                    packed.count,
                    thread_count,
                    ids.ctypes.data,
                    capacity,
                    counts.ctypes.data,
                    ctypes.byref(total),
                )
                if status == Status.BUFFER_TOO_SMALL and total.value > capacity:
                    capacity = total.value  # pragma: no cover - total + 1 is enough
                    continue
                check(status)
            break
        ids.resize(total.value, refcheck=False)
        if packed.count == 1:
            return [ids]
        return np.split(ids, np.cumsum(counts[:-1]).astype(np.intp))

    # ---- decoding and the vocabulary ----------------------------------------

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        """The text of ``ids`` (any 1-D sequence or array of ints).

        By default special tokens are kept, so ``decode(encode(s)) == s``.
        Byte sequences that are not UTF-8 (a multi-byte character cut
        between ids) become U+FFFD, as in Hugging Face ``tokenizers``.

        Raises:
            TypeError, ValueError: ``ids`` does not hold ints in 0..2**32 - 1.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for an id not below
                :attr:`vocab_size`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        array = _ids_array(ids)
        capacity = 8 * array.size + 64
        needed = ctypes.c_size_t()
        skip = 1 if skip_special_tokens else 0
        with self._native.borrow() as handle:
            while True:
                out = np.empty(capacity, np.uint8)
                status = LIB.helios_tokenizer_decode(
                    handle,
                    array.ctypes.data,
                    array.size,
                    skip,
                    out.ctypes.data,
                    capacity,
                    ctypes.byref(needed),
                )
                if status == Status.BUFFER_TOO_SMALL and needed.value > capacity:
                    capacity = needed.value
                    continue
                check(status)
                break
        return out[: needed.value].tobytes().decode("utf-8")

    def token_to_id(self, token: Union[str, bytes]) -> Optional[int]:
        """The id of the vocabulary string ``token`` (byte-level form, such as
        ``"Ġthe"``), or ``None`` when it is not in the vocabulary.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        raw = _utf8("token", token)
        out = ctypes.c_uint32()
        with self._native.borrow() as handle:
            check(LIB.helios_tokenizer_token_to_id(handle, raw, len(raw), ctypes.byref(out)))
        return None if out.value == NO_TOKEN else int(out.value)

    def id_to_token(self, id: int) -> str:
        """The vocabulary string of ``id`` (byte-level form, such as ``"Ġthe"``).

        Raises:
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for an id not below
                :attr:`vocab_size`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        value = size_t("id", id)
        if value > _U32_MAX:
            raise ValueError(f"id must be in 0..2**32 - 1, got {value}")
        needed = ctypes.c_size_t()
        capacity = 64
        with self._native.borrow() as handle:
            while True:
                out = np.empty(capacity, np.uint8)
                status = LIB.helios_tokenizer_id_to_token(
                    handle, value, out.ctypes.data, capacity, ctypes.byref(needed)
                )
                if status == Status.BUFFER_TOO_SMALL and needed.value > capacity:
                    capacity = needed.value
                    continue
                check(status)
                break
        return out[: needed.value].tobytes().decode("utf-8")

    @property
    def vocab_size(self) -> int:
        """The number of ids, added and special tokens included.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        size = ctypes.c_size_t()
        with self._native.borrow() as handle:
            check(LIB.helios_tokenizer_vocab_size(handle, ctypes.byref(size)))
        return int(size.value)

    def __len__(self) -> int:
        """:attr:`vocab_size`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self.vocab_size

    def __bool__(self) -> bool:
        return True

    # ---- persistence --------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Write the tokenizer as a ``tokenizer.json`` that Hugging Face
        ``tokenizers`` loads (and encodes with identically).

        The file is written to a temporary file in the same folder and then
        renamed over ``path``, so a reader never sees half a file.

        Raises:
            TypeError: ``path`` is not a path.
            HeliosError: ``HELIOS_ERR_IO`` when the file cannot be written.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        raw = _path("path", path)
        with self._native.borrow() as handle:
            check(LIB.helios_tokenizer_save(handle, raw, len(raw)))

    def to_json(self) -> str:
        """The ``tokenizer.json`` text that :meth:`save` writes.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        needed = ctypes.c_size_t()
        capacity = 0
        with self._native.borrow() as handle:
            while True:
                out = np.empty(max(capacity, 1), np.uint8)
                status = LIB.helios_tokenizer_to_json(
                    handle, out.ctypes.data if capacity else None, capacity, ctypes.byref(needed)
                )
                if status == Status.BUFFER_TOO_SMALL and needed.value > capacity:
                    capacity = needed.value
                    continue
                check(status)
                break
        return out[: needed.value].tobytes().decode("utf-8")

    def __reduce__(self) -> Tuple[Callable[[str], Tokenizer], Tuple[str]]:
        return (_unpickle, (self.to_json(),))

    def close(self) -> None:
        """Release the C tokenizer; closing twice is harmless.

        Calls still running on other threads finish first; later calls raise
        :class:`ValueError`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()

    def __repr__(self) -> str:
        try:
            state = f"vocab_size={self.vocab_size}"
        except ValueError:
            state = "closed"
        except HeliosError as error:  # pragma: no cover - the query cannot fail
            state = error.status
        return f"<helios.Tokenizer {state}>"
