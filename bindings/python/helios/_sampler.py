""":class:`Sampler`, :class:`StopReason` and :func:`generate` (private module; use ``helios``)."""

from __future__ import annotations

import ctypes
import enum
import numbers
import operator
import queue
import threading
from contextlib import nullcontext
from typing import (
    Any,
    Callable,
    ContextManager,
    Dict,
    Iterable,
    Iterator,
    List,
    NoReturn,
    Optional,
    Tuple,
    Union,
)

import numpy as np

from ._cancel import CancelToken
from ._errors import HeliosError, Status, check, last_error
from ._handle import NativeHandle, NativeOwner
from ._lib import LIB, LIBRARY_PATH, Handle, declare, size_or_auto, size_t
from ._model import Model
from ._nystrom import _seed_value
from ._tokenizer import Ids, Text, Tokenizer, _ids_array, _utf8

_U32_MAX = (1 << 32) - 1
_SIZE = ctypes.c_size_t
_SIZE_OUT = ctypes.POINTER(ctypes.c_size_t)
_I32_OUT = ctypes.POINTER(ctypes.c_int32)

#: A per-token callback of :meth:`Sampler.generate`: ``on_token(token_id)``;
#: a true return value stops generation (:attr:`StopReason.CALLBACK`).
OnToken = Callable[[int], Any]

#: A per-piece callback of :meth:`Sampler.generate_text`: ``on_text(piece)``;
#: a true return value stops generation (:attr:`StopReason.CALLBACK`).
OnText = Callable[[str], Any]


class StopReason(enum.IntEnum):
    """Why a generate call ended (the ``HELIOS_STOP_*`` codes).

    Thread safety: shareable (one object may be used from any number of
    threads at once); the members are immutable.
    """

    #: ``max_tokens`` tokens were produced (``HELIOS_STOP_MAX_TOKENS``).
    MAX_TOKENS = 0
    #: A stop token was drawn; it is not in the output (``HELIOS_STOP_TOKEN``).
    TOKEN = 1
    #: A stop string appeared; it is not in the text (``HELIOS_STOP_STRING``).
    STRING = 2
    #: The context (KV cache) is full (``HELIOS_STOP_CONTEXT_FULL``).
    CONTEXT_FULL = 3
    #: The callback asked to stop, or raised (``HELIOS_STOP_CALLBACK``).
    CALLBACK = 4


class _COptions(ctypes.Structure):
    """``HeliosSamplerOptions``; filled from ``helios_sampler_default_options()``.

    Every sampler fills a new one; it is never shared.
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_size_t),
        ("top_p", ctypes.c_float),
        ("repetition_penalty", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("max_tokens", ctypes.c_size_t),
        ("stop_tokens", ctypes.c_void_p),
        ("stop_tokens_count", ctypes.c_size_t),
        ("stop_strings", ctypes.POINTER(ctypes.c_char_p)),
        ("stop_strings_count", ctypes.c_size_t),
        ("context", ctypes.c_size_t),
        ("threads", ctypes.c_size_t),
    ]


#: ``HeliosTokenFn``: ``int32_t on_token(uint32_t token, void *user_data)``.
TokenFn: Any = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_uint32, ctypes.c_void_p)

#: ``HeliosTextFn``: ``int32_t on_text(const char *piece, size_t len, void *user_data)``
#: (the piece as an address: it is not NUL-terminated).
TextFn: Any = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)

# name: (restype, argtypes). Pointers to caller buffers are untyped
# (c_void_p): the binding passes numpy addresses.
_SIGNATURES: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    "helios_sampler_default_options": (_COptions, ()),
    "helios_sampler_new": (
        ctypes.c_int,
        (Handle, ctypes.POINTER(_COptions), ctypes.POINTER(Handle)),
    ),
    "helios_sampler_free": (ctypes.c_int, (Handle,)),
    "helios_sampler_reset": (ctypes.c_int, (Handle,)),
    "helios_sampler_context_len": (ctypes.c_int, (Handle, _SIZE_OUT)),
    "helios_sampler_generate": (
        ctypes.c_int,
        # sampler, prompt, prompt_len, out_tokens, capacity, on_token,
        # user_data, cancel, out_count, out_stop_reason
        (
            Handle,
            ctypes.c_void_p,
            _SIZE,
            ctypes.c_void_p,
            _SIZE,
            TokenFn,
            ctypes.c_void_p,
            Handle,
            _SIZE_OUT,
            _I32_OUT,
        ),
    ),
    "helios_sampler_generate_text": (
        ctypes.c_int,
        # sampler, tokenizer, prompt, prompt_len, on_text, user_data, cancel,
        # out_len, out_stop_reason
        (
            Handle,
            Handle,
            ctypes.c_char_p,
            _SIZE,
            TextFn,
            ctypes.c_void_p,
            Handle,
            _SIZE_OUT,
            _I32_OUT,
        ),
    ),
}

declare(LIB, LIBRARY_PATH, _SIGNATURES)

#: A NULL ``HeliosTokenFn`` (ctypes refuses None for a function pointer argument).
_NO_TOKEN_FN = TokenFn()

_DEFAULT: _COptions = LIB.helios_sampler_default_options()
if _DEFAULT.struct_size != ctypes.sizeof(_COptions):  # pragma: no cover - a stale library
    raise ImportError(
        f"helios: {LIBRARY_PATH} has a HeliosSamplerOptions of {_DEFAULT.struct_size} bytes, "
        f"but this binding's is {ctypes.sizeof(_COptions)}; rebuild the library (`make python`)"
    )


# ---- argument conversion --------------------------------------------------------


def _real(name: str, value: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _stop_tokens(values: Union[int, Iterable[int]]) -> Tuple[int, ...]:
    """``stop_tokens`` as a tuple of ints in 0..2**32 - 1 (one int is one token)."""
    if isinstance(values, (bool, np.bool_)):
        raise TypeError("stop_tokens must be token ids (ints), got bool")
    try:
        return (_token_id("stop_tokens", operator.index(values)),)  # type: ignore[arg-type]
    except TypeError:
        pass
    if isinstance(values, (str, bytes)):
        raise TypeError(f"stop_tokens must be token ids (ints), got {type(values).__name__}")
    try:
        items = list(values)
    except TypeError:
        raise TypeError(
            f"stop_tokens must be an int or an iterable of ints, got {type(values).__name__}"
        ) from None
    result = []
    for i, value in enumerate(items):
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"stop_tokens[{i}] must be an int, got bool")
        try:
            number = operator.index(value)
        except TypeError:
            raise TypeError(
                f"stop_tokens[{i}] must be an int, got {type(value).__name__}"
            ) from None
        result.append(_token_id(f"stop_tokens[{i}]", number))
    return tuple(result)


def _token_id(name: str, value: int) -> int:
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{name} must be in 0..2**32 - 1, got {value}")
    return value


def _stop_strings(values: Union[str, Iterable[str]]) -> Tuple[str, ...]:
    """``stop_strings`` as a tuple of str (one str is one stop string)."""
    if isinstance(values, str):
        values = (values,)
    elif isinstance(values, (bytes, bytearray, memoryview)):
        raise TypeError("stop_strings must be a str or an iterable of str, got bytes")
    try:
        items = list(values)
    except TypeError:
        raise TypeError(
            f"stop_strings must be a str or an iterable of str, got {type(values).__name__}"
        ) from None
    for i, value in enumerate(items):
        if not isinstance(value, str):
            raise TypeError(f"stop_strings[{i}] must be a str, got {type(value).__name__}")
        if "\0" in value:
            raise ValueError(f"stop_strings[{i}] holds a NUL character: {value!r}")
    return tuple(items)


def _cancel_handle(cancel: Optional[CancelToken]) -> ContextManager[Optional[int]]:
    """The C handle of ``cancel`` (kept alive while borrowed), or None."""
    if cancel is None:
        return nullcontext()
    if not isinstance(cancel, CancelToken):
        raise TypeError(f"cancel must be a helios.CancelToken, got {type(cancel).__name__}")
    return cancel._borrow()


def _callable(name: str, function: Optional[Callable[..., Any]]) -> None:
    if function is not None and not callable(function):
        raise TypeError(f"{name} must be callable, got {type(function).__name__}")


# ---- the callbacks --------------------------------------------------------------


class _TokenAdapter:
    """Runs a Python ``on_token`` (and a per-call token limit) as the C
    ``HeliosTokenFn`` of one generate call. No exception crosses into C: one
    stops generation and is kept in :attr:`failure`. The callback runs on the
    thread that called generate, so nothing here is shared. Keep the object
    alive until the C call has returned (it holds the ctypes callback)."""

    def __init__(self, on_token: Optional[OnToken], limit: int) -> None:
        self._on_token = on_token
        self._limit = limit
        self._count = 0
        self.failure: Optional[BaseException] = None
        self.stopped_by_user = False
        self.limit_reached = False
        self.c_function = TokenFn(self._call)

    def _call(self, token: int, _user_data: Optional[int]) -> int:
        self._count += 1
        try:
            if self._on_token is not None and self._on_token(int(token)):
                self.stopped_by_user = True
                return 1
        except BaseException as error:  # noqa: B036 - nothing may propagate into C
            self.failure = error
            return 1
        if self._count >= self._limit:
            self.limit_reached = True
            return 1
        return 0


class _TextAdapter:
    """Runs a Python ``on_text`` as the C ``HeliosTextFn`` of one
    generate_text call, keeping every piece. As :class:`_TokenAdapter`: an
    exception stops generation and is kept in :attr:`failure`."""

    def __init__(self, on_text: Optional[OnText]) -> None:
        self._on_text = on_text
        self.pieces: List[str] = []
        self.failure: Optional[BaseException] = None
        self.c_function = TextFn(self._call)

    def _call(self, piece: Optional[int], length: int, _user_data: Optional[int]) -> int:
        try:
            text = ctypes.string_at(piece, length).decode("utf-8") if length else ""
            self.pieces.append(text)
            if self._on_text is not None and self._on_text(text):
                return 1
        except BaseException as error:  # noqa: B036 - nothing may propagate into C
            if self.failure is None:
                self.failure = error
            return 1
        return 0


def _raise(failure: BaseException) -> NoReturn:
    raise failure


# ---- the class ------------------------------------------------------------------

_DONE = object()  # the end of a stream_text queue

#: How many pieces :meth:`Sampler.stream_text` generates ahead of the loop
#: that reads them (then generation waits for the loop).
STREAM_AHEAD = 8


class Sampler(NativeOwner):
    """One generation request over a shared :class:`Model`: its KV cache,
    seeded random generator and context (prompts and generated tokens).

    >>> import helios
    >>> config = helios.GptConfig(vocab_size=100, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    >>> model = helios.Model.random(config, seed=1)
    >>> with helios.Sampler(model, temperature=0, max_tokens=4) as sampler:
    ...     tokens = sampler.generate([5, 17, 42])
    ...     tokens.dtype, len(tokens), sampler.stop_reason, sampler.context_len
    (dtype('uint32'), 4, <StopReason.MAX_TOKENS: 0>, 7)

    Each step turns the last logits into a token: the repetition penalty
    (as in CTRL and Hugging Face: a positive logit of a token already in the
    context is divided by ``repetition_penalty``, a negative one multiplied),
    then the argmax at ``temperature=0`` (ties to the lower id), or else the
    logits divided by the temperature, the ``top_k`` most likely kept, the
    smallest set of those whose probability reaches ``top_p`` kept, and one
    token drawn with the sampler's generator, seeded by ``seed``. The same
    seed gives the same tokens on every run and for every ``threads``.

    Any number of samplers run on one model at once (from as many Python
    threads: the GIL is released while helios computes). The sampler keeps
    the C model alive, so closing the model first is safe.

    Args:
        model: the :class:`Model` to generate with.
        temperature: 0 for greedy decoding; else finite and > 0 (logits are
            divided by it). Default 1.
        top_k: keep the k most likely tokens; 0 (default) keeps all.
        top_p: keep the smallest set of most likely tokens whose probability
            reaches top_p, in (0, 1]. Default 1 (all).
        repetition_penalty: finite and > 0; 1 (default) is none.
        seed: the seed of the random generator (0 to 2**64 - 1), also after
            :meth:`reset`.
        max_tokens: the most tokens one generate call produces (>= 1). The C
            sampler fixes it at creation; :meth:`generate` may ask for fewer
            per call, never for more.
        stop_tokens: token ids (or one id) that end generation; a stop token
            is not output.
        stop_strings: texts (or one text) that end :meth:`generate_text` and
            :meth:`stream_text`; a stop string is not output. They do not
            apply to :meth:`generate`, which produces ids.
        context: the KV cache's length in positions: prompts and generated
            tokens together fill at most this many (then
            :attr:`StopReason.CONTEXT_FULL`); at most the model's
            ``n_positions``; ``None`` (or 0) for ``n_positions``.
        threads: worker threads of the forward passes (1..1024), or ``None``
            for helios' default (:func:`helios.get_num_threads`).

    Raises:
        TypeError, ValueError: an argument of the wrong type, a negative
            size, a seed or token id out of range, a stop string holding NUL.
        HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` (the message names the
            field) for a temperature that is NaN, infinite or negative, top_p
            outside (0, 1], a repetition penalty that is not finite and
            positive, ``max_tokens=0``, an empty stop string, a stop token not
            below the vocabulary size, a context above ``n_positions``, or
            ``threads`` 0 or above 1024; ``HELIOS_ERR_OUT_OF_MEMORY``.
        ValueError: ``model`` is closed.

    The results of the last call are kept on the sampler: :attr:`stop_reason`,
    :attr:`last_tokens` (of :meth:`generate`) and :attr:`last_text` (of
    :meth:`generate_text`), also when the call raised (cancelled, or an
    exception from a callback), so the output produced before the stop stays
    available. Every :class:`HeliosError` raised by :meth:`generate` carries
    the tokens produced before it as ``error.tokens`` (a uint32 array, empty
    when none were), and one raised by :meth:`generate_text` or
    :meth:`stream_text` the text streamed before it as ``error.text``.

    The sampler owns a C object: release it with :meth:`close` or by using it
    as a context manager; the garbage collector frees it otherwise. A
    sampler does not pickle or copy (its KV cache is per request): make a
    twin with ``helios.Sampler(model, **sampler.options)``.

    Thread safety: single-owner (one thread at a time; a second thread gets
    HELIOS_ERR_BUSY): a call that enters the sampler while another thread's
    call is inside raises :class:`helios.HeliosError` with ``Status.BUSY`` at
    once and changes nothing (the sampler, its context and its last results
    stay as they were). Callbacks run on the thread that called generate.
    :meth:`close` is safe from any thread: the C object is freed when the
    last call using it returns.
    """

    _native: NativeHandle

    def __init__(
        self,
        model: Model,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        seed: int = 0,
        max_tokens: int = 256,
        stop_tokens: Union[int, Iterable[int]] = (),
        stop_strings: Union[str, Iterable[str]] = (),
        context: Optional[int] = None,
        threads: Optional[int] = None,
    ) -> None:
        if not isinstance(model, Model):
            raise TypeError(f"model must be a helios.Model, got {type(model).__name__}")
        c: _COptions = LIB.helios_sampler_default_options()  # the right struct_size
        c.temperature = _real("temperature", temperature)
        c.top_k = size_t("top_k", top_k)
        c.top_p = _real("top_p", top_p)
        c.repetition_penalty = _real("repetition_penalty", repetition_penalty)
        c.seed = _seed_value(seed)
        c.max_tokens = size_t("max_tokens", max_tokens)
        tokens = _stop_tokens(stop_tokens)
        strings = _stop_strings(stop_strings)
        c.context = 0 if context is None else size_t("context", context)
        c.threads = size_or_auto("threads", threads)
        # The arrays the struct points into; helios copies them during new.
        token_array = np.array(tokens, np.uint32)
        encoded = [text.encode("utf-8") for text in strings]
        string_array = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        c.stop_tokens = token_array.ctypes.data if tokens else None
        c.stop_tokens_count = len(tokens)
        c.stop_strings = string_array if encoded else None
        c.stop_strings_count = len(encoded)
        handle = Handle()
        with model._native.borrow() as model_handle:
            check(LIB.helios_sampler_new(model_handle, ctypes.byref(c), ctypes.byref(handle)))
        assert handle.value is not None, "helios returned HELIOS_OK without a sampler"
        self._native = NativeHandle(handle.value, LIB.helios_sampler_free, "helios.Sampler")
        self._options: Dict[str, Any] = {
            "temperature": float(temperature),
            "top_k": int(c.top_k),
            "top_p": float(top_p),
            "repetition_penalty": float(repetition_penalty),
            "seed": int(c.seed),
            "max_tokens": int(c.max_tokens),
            "stop_tokens": tokens,
            "stop_strings": strings,
            "context": None if context is None else int(c.context),
            "threads": None if threads is None else int(c.threads),
        }
        self._capacity = int(c.context) or model.config.n_positions
        self._vocab_size = model.config.vocab_size
        self._stop_reason: Optional[StopReason] = None
        self._last_tokens: Ids = np.empty(0, np.uint32)
        self._last_text = ""

    # ---- settings -----------------------------------------------------------

    @property
    def options(self) -> Dict[str, Any]:
        """The settings it was made with, as keyword arguments of :class:`Sampler`
        (a new dict: ``helios.Sampler(model, **sampler.options)`` makes a twin).

        Thread safety: shareable (one object may be used from any number of
        threads at once); the settings never change.
        """
        return dict(self._options)

    @property
    def max_tokens(self) -> int:
        """The most tokens one generate call produces (fixed at creation).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return int(self._options["max_tokens"])

    @property
    def context(self) -> int:
        """The KV cache's length in positions (the ``context`` option, or the
        model's ``n_positions``): prompts and generated tokens together fill
        at most this many; then a generate call stops with
        :attr:`StopReason.CONTEXT_FULL` (a call on a full context produces
        no tokens; a prompt that does not fit is refused).

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        return self._capacity

    # ---- state --------------------------------------------------------------

    @property
    def context_len(self) -> int:
        """The number of tokens in the context: the prompts and the tokens
        generated since creation or :meth:`reset`.

        Raises:
            HeliosError: ``HELIOS_ERR_BUSY`` while another thread is generating.
            ValueError: the sampler is closed.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        count = ctypes.c_size_t()
        with self._native.borrow() as handle:
            check(LIB.helios_sampler_context_len(handle, ctypes.byref(count)))
        return int(count.value)

    @property
    def stop_reason(self) -> Optional[StopReason]:
        """Why the last generate call ended (a :class:`StopReason`), or
        ``None`` before the first call, after :meth:`reset`, and after a call
        that raised a :class:`HeliosError` (a cancelled one included). A
        call stopped by an exception from its callback ends with
        :attr:`StopReason.CALLBACK` (and re-raises the exception).

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._stop_reason

    @property
    def last_tokens(self) -> Ids:
        """The tokens the last :meth:`generate` call produced (a uint32
        array), also when it was cancelled or its callback raised: the
        tokens produced before the stop (the token whose ``on_token`` raised
        included).

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._last_tokens

    @property
    def last_text(self) -> str:
        """The text the last :meth:`generate_text` (or :meth:`stream_text`)
        call streamed, also when it was cancelled or its callback raised.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        return self._last_text

    def reset(self) -> None:
        """Forget the context and restart the random generator from the seed:
        the next call behaves as on a new sampler. Clears :attr:`stop_reason`,
        :attr:`last_tokens` and :attr:`last_text`.

        Raises:
            HeliosError: ``HELIOS_ERR_BUSY`` while another thread is generating.
            ValueError: the sampler is closed.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY).
        """
        with self._native.borrow() as handle:
            check(LIB.helios_sampler_reset(handle))
        self._stop_reason = None
        self._last_tokens = np.empty(0, np.uint32)
        self._last_text = ""

    # ---- generation ---------------------------------------------------------

    def generate(
        self,
        prompt_ids: Any,
        max_tokens: Optional[int] = None,
        on_token: Optional[OnToken] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Ids:
        """Append ``prompt_ids`` to the context and generate: the new tokens
        as a 1-D uint32 array (stop tokens are not in it).

        A later call continues the same context (its prompt may then be
        empty); :meth:`reset` starts over. Generation ends at ``max_tokens``,
        a stop token, a full context (:attr:`stop_reason` tells which), a
        true return value of ``on_token``, or ``cancel``.

        Args:
            prompt_ids: token ids, a 1-D sequence or array of ints (a uint32
                array is used without a copy); empty only on a non-empty
                context.
            max_tokens: at most this many tokens in this call, 1 to the
                sampler's :attr:`max_tokens`; ``None`` for :attr:`max_tokens`.
                A smaller limit gives exactly the tokens (and the context) of
                a sampler made with that ``max_tokens``; a larger one is
                refused (make the sampler with the largest you need).
            on_token: ``on_token(token_id)``, called on this thread with each
                token as it comes; a true return value stops generation
                (:attr:`StopReason.CALLBACK`). An exception it raises stops
                generation and is re-raised here (the tokens so far are in
                :attr:`last_tokens`).
            cancel: a :class:`helios.CancelToken`, checked before each token
                and between the layers of a forward pass, so a long prompt
                stops early too (from any thread, or from ``on_token``).

        Raises:
            TypeError, ValueError: ``prompt_ids`` not ints in 0..2**32 - 1, a
                ``max_tokens`` outside 1..:attr:`max_tokens`, ``on_token`` not
                callable, ``cancel`` not a CancelToken; the sampler is closed.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for an empty prompt
                on an empty context, an id not below the vocabulary size (the
                message names ``prompt[i]``) or a prompt that does not fit in
                the free context; ``HELIOS_ERR_CANCELLED`` when ``cancel`` was
                raised, with the tokens produced before it as ``error.tokens``
                (and in :attr:`last_tokens`); ``HELIOS_ERR_BUSY`` while another
                thread is inside the sampler (nothing changes).
            Exception: what ``on_token`` raised.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY). The callback runs on the calling thread.
        """
        prompt = _ids_array(prompt_ids)
        capacity = self.max_tokens
        if max_tokens is None:
            limit = capacity
        else:
            limit = size_t("max_tokens", max_tokens)
            if not 1 <= limit <= capacity:
                raise ValueError(
                    f"max_tokens must be in 1..{capacity} (the sampler's max_tokens), got {limit}"
                )
        _callable("on_token", on_token)
        needs_callback = on_token is not None or limit < capacity
        adapter = _TokenAdapter(on_token, limit) if needs_callback else None
        out = np.empty(capacity, np.uint32)
        count = ctypes.c_size_t()
        reason = ctypes.c_int32(-1)
        with self._native.borrow() as handle, _cancel_handle(cancel) as cancel_handle:
            status = LIB.helios_sampler_generate(
                handle,
                prompt.ctypes.data,
                prompt.size,
                out.ctypes.data,
                out.size,
                adapter.c_function if adapter is not None else _NO_TOKEN_FN,
                None,
                cancel_handle,
                ctypes.byref(count),
                ctypes.byref(reason),
            )
            # The message of this call, read right after it on this thread.
            error = HeliosError(status, last_error()) if status != Status.OK else None
        tokens = out[: count.value].copy()
        if error is not None:
            error.tokens = tokens  # type: ignore[attr-defined]
            if error.code == Status.BUSY:
                raise error  # another thread's call is inside: change nothing
        self._last_tokens = tokens
        if error is None:
            code = StopReason(reason.value)
            if adapter is not None and adapter.limit_reached and code == StopReason.CALLBACK:
                code = StopReason.MAX_TOKENS  # the per-call limit, not the user
            self._stop_reason = code
        else:
            self._stop_reason = None
        failure = adapter.failure if adapter is not None else None
        if adapter is not None:
            adapter.failure = None  # no cycle through the traceback
        if failure is not None:
            _raise(failure)
        if error is not None:
            raise error
        return tokens

    def generate_text(
        self,
        tokenizer: Tokenizer,
        prompt: Text,
        on_text: Optional[OnText] = None,
        cancel: Optional[CancelToken] = None,
    ) -> str:
        """Encode ``prompt`` with ``tokenizer``, generate, and return the new
        text (the decoded tokens; not the prompt).

        The text is streamed to ``on_text`` in pieces of whole characters
        (never half of a multi-byte character; never a part of a stop string:
        text that may begin one is held back until it cannot). Generation
        ends at :attr:`max_tokens`, a stop token, a stop string (not in the
        text), a full context, a true return value of ``on_text``, or
        ``cancel``. The text equals ``tokenizer.decode`` of the generated ids,
        cut before the first stop string. Only ids below the tokenizer's
        vocabulary size are drawn (a model's vocabulary may be padded beyond
        it). Like :meth:`generate`, it continues
        the sampler's context (an empty prompt is allowed on a non-empty
        context).

        Args:
            tokenizer: a :class:`helios.Tokenizer` whose ids fit the model's
                vocabulary.
            prompt: a ``str`` (or UTF-8 bytes).
            on_text: ``on_text(piece)``, called on this thread with each piece
                (a non-empty ``str``) as it comes; a true return value stops
                generation. An exception it raises stops generation and is
                re-raised here (the text so far is in :attr:`last_text`).
            cancel: a :class:`helios.CancelToken`, checked before each token
                and between the layers of a forward pass.

        Raises:
            TypeError: ``tokenizer`` is not a Tokenizer, ``prompt`` not text,
                ``on_text`` not callable, ``cancel`` not a CancelToken.
            ValueError: the sampler or tokenizer is closed.
            HeliosError: ``HELIOS_ERR_INVALID_ARGUMENT`` for a prompt that is
                not UTF-8 or encodes to no tokens on an empty context, a
                tokenizer with more ids than the model's vocabulary, or a
                prompt that does not fit in the free context;
                ``HELIOS_ERR_CANCELLED`` when ``cancel`` was raised, with the
                text streamed before it as ``error.text`` (and in
                :attr:`last_text`); ``HELIOS_ERR_BUSY`` while another thread
                is inside the sampler (nothing changes).
            Exception: what ``on_text`` raised.

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY). The tokenizer is shareable; the callback runs
        on the calling thread.
        """
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a helios.Tokenizer, got {type(tokenizer).__name__}")
        data = _utf8("prompt", prompt)
        _callable("on_text", on_text)
        adapter = _TextAdapter(on_text)
        length = ctypes.c_size_t()
        reason = ctypes.c_int32(-1)
        with self._native.borrow() as handle, tokenizer._native.borrow() as tokenizer_handle:
            with _cancel_handle(cancel) as cancel_handle:
                status = LIB.helios_sampler_generate_text(
                    handle,
                    tokenizer_handle,
                    data,
                    len(data),
                    adapter.c_function,
                    None,
                    cancel_handle,
                    ctypes.byref(length),
                    ctypes.byref(reason),
                )
                error = HeliosError(status, last_error()) if status != Status.OK else None
        text = "".join(adapter.pieces)
        if error is not None:
            error.text = text  # type: ignore[attr-defined]
            if error.code == Status.BUSY:
                raise error  # another thread's call is inside: change nothing
        self._last_text = text
        self._stop_reason = StopReason(reason.value) if error is None else None
        failure, adapter.failure = adapter.failure, None
        if failure is not None:
            _raise(failure)
        if error is not None:
            raise error
        return text

    def stream_text(
        self,
        tokenizer: Tokenizer,
        prompt: Text,
        cancel: Optional[CancelToken] = None,
    ) -> Iterator[str]:
        """:meth:`generate_text` as an iterator of its pieces, yielded as they
        are generated.

        >>> for piece in sampler.stream_text(tokenizer, "Once upon a time"):  # doctest: +SKIP
        ...     print(piece, end="", flush=True)

        Generation runs on a worker thread (the GIL is released while helios
        computes), which puts each piece on a queue that the iterator reads,
        so the model computes while your loop runs. The queue holds at most
        8 pieces: when your loop is slower, generation waits for it. Stopping
        early (``break`` out of a ``for`` loop, or ``close()`` on the
        iterator) stops generation at the next piece
        (:attr:`StopReason.CALLBACK`) and waits for the worker, so the
        sampler is free again when ``close()`` returns; the iterator is also
        closed when it is garbage collected.
        An error (a cancelled call, a bad prompt, ``HELIOS_ERR_BUSY``) is
        raised from the iterator after the pieces that came before it.

        The arguments are checked now; generation starts at the first
        ``next()``. The pieces, :attr:`stop_reason` and :attr:`last_text`
        are those of :meth:`generate_text`.

        Raises:
            As :meth:`generate_text` (from the iterator for HeliosError).

        Thread safety: single-owner (one thread at a time; a second thread
        gets HELIOS_ERR_BUSY): the sampler is in use from the first
        ``next()`` until the iterator ends or is closed.
        """
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a helios.Tokenizer, got {type(tokenizer).__name__}")
        data = _utf8("prompt", prompt)
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError(f"cancel must be a helios.CancelToken, got {type(cancel).__name__}")
        if self.closed:
            raise ValueError("this helios.Sampler is closed")
        return self._stream(tokenizer, data, cancel)

    def _stream(
        self, tokenizer: Tokenizer, data: bytes, cancel: Optional[CancelToken]
    ) -> Iterator[str]:
        pieces: "queue.Queue[Any]" = queue.Queue(maxsize=STREAM_AHEAD)
        stop = threading.Event()
        outcome: List[BaseException] = []

        def on_text(piece: str) -> bool:
            pieces.put(piece)
            return stop.is_set()

        def run() -> None:
            try:
                self.generate_text(tokenizer, data, on_text, cancel)
            except BaseException as error:  # noqa: B036 - re-raised by the iterator
                outcome.append(error)
            finally:
                pieces.put(_DONE)

        worker = threading.Thread(target=run, name="helios-stream-text", daemon=True)
        worker.start()
        done = False
        try:
            while True:
                item = pieces.get()
                if item is _DONE:
                    done = True
                    break
                yield item
        finally:
            stop.set()
            # Stopped early: empty the queue until the worker's last put (a
            # worker waiting to put a piece then sees the stop at once).
            while not done:
                done = pieces.get() is _DONE
            worker.join()
        if outcome:
            failure = outcome.pop()
            raise failure

    # ---- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the C sampler (its KV cache); closing twice is harmless.

        A call still running on another thread finishes first (the C sampler
        is freed when it returns); later calls raise :class:`ValueError`.

        Thread safety: shareable (one object may be used from any number of
        threads at once).
        """
        self._native.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a helios.Sampler cannot be copied or pickled (its KV cache is per request); "
            "make another with helios.Sampler(model, **sampler.options)"
        )

    def __repr__(self) -> str:
        if self.closed:
            return "<helios.Sampler closed>"
        o = self._options
        parts = [
            f"temperature={o['temperature']:g}",
            f"top_k={o['top_k']}",
            f"top_p={o['top_p']:g}",
        ]
        if o["repetition_penalty"] != 1.0:
            parts.append(f"repetition_penalty={o['repetition_penalty']:g}")
        parts += [f"seed={o['seed']}", f"max_tokens={o['max_tokens']}", f"context={self._capacity}"]
        if o["stop_tokens"]:
            parts.append(f"stop_tokens={list(o['stop_tokens'])}")
        if o["stop_strings"]:
            parts.append(f"stop_strings={list(o['stop_strings'])}")
        return f"<helios.Sampler {' '.join(parts)}>"


def generate(
    model: Model,
    tokenizer: Tokenizer,
    prompt: Text,
    on_text: Optional[OnText] = None,
    cancel: Optional[CancelToken] = None,
    **sampler_options: Any,
) -> str:
    """The text generated after ``prompt``: a new :class:`Sampler` with
    ``sampler_options`` (``temperature``, ``top_k``, ``top_p``,
    ``repetition_penalty``, ``seed``, ``max_tokens``, ``stop_tokens``,
    ``stop_strings``, ``context``, ``threads``), its
    :meth:`Sampler.generate_text`, and the sampler closed.

    >>> import helios
    >>> tok = helios.Tokenizer.train_bpe(["the cat sat on the mat"] * 20, vocab_size=280)
    >>> config = helios.GptConfig(vocab_size=tok.vocab_size, n_positions=64, n_embd=16,
    ...                           n_layer=1, n_head=2)
    >>> text = helios.generate(helios.Model.random(config, seed=3), tok, "the cat",
    ...                        temperature=0.8, seed=7, max_tokens=8)
    >>> isinstance(text, str)
    True

    Raises:
        As :class:`Sampler` and :meth:`Sampler.generate_text`.

    Thread safety: reentrant (safe to call from any number of threads at once);
    each call has its own sampler, and the model and tokenizer are shareable.
    """
    with Sampler(model, **sampler_options) as sampler:
        return sampler.generate_text(tokenizer, prompt, on_text=on_text, cancel=cancel)
