"""helios: the Python binding of the helios native ML runtime.

helios is a Rust library with a C ABI; this package loads it with ctypes
(see :mod:`helios._lib` for where it looks: ``HELIOS_LIBRARY``, then this
package's folder, then ``target/release`` of a source checkout).

>>> import numpy as np, helios
>>> x = np.arange(8, dtype=np.float32)
>>> helios.parallel_map(x, lambda block, start, n: -block[start:start + n])
array([-0., -1., -2., -3., -4., -5., -6., -7.], dtype=float32)

:func:`rkhs_embed` is the RBF (Nyström) feature map ``Phi(X)`` with
``Phi(X) @ Phi(Y).T`` approximating ``exp(-gamma ||x - y||²)``;
:class:`NystromEngine` chooses the landmarks itself, keeps them, embeds new
rows incrementally and saves, loads and pickles. :class:`VectorIndex` is a
faiss-like nearest-neighbour index (exact or product-quantized) of float32
vectors with 64-bit ids, searched from any number of threads at once.
:class:`Tokenizer` is a GPT-2 byte-level BPE or char-level tokenizer that
loads, trains and saves Hugging Face ``tokenizer.json`` files. :class:`Model`
is a GPT-2 language model (Hugging Face checkpoints or seeded random weights
of a :class:`GptConfig`) whose batch-invariant forward pass one shared model
runs from any number of threads at once.

Every public function and class states its thread-safety class in its
docstring with the fixed phrases of the C header and docs/THREADING.md:
"reentrant (safe to call from any number of threads at once)" or "shareable
(one object may be used from any number of threads at once)".
"""

from __future__ import annotations

from ._cancel import CancelToken
from ._device import Device
from ._gpu import DeviceArray, rkhs_embed_gpu
from ._embed import FloatMatrix, rkhs_embed
from ._errors import HeliosError, Status, last_error, status_name
from ._errors import check as _check
from ._index import VectorIndex
from ._lib import ABI_VERSION, AUTO, LIBRARY_PATH, MAX_THREADS, KernelF32, KernelF64
from ._lib import LIB as _LIB
from ._lib import size_t as _size_t
from ._map import FloatArray, PythonKernel, UserData, parallel_map
from ._model import GptConfig, Logits, Model
from ._nystrom import NystromEngine
from ._sampler import Sampler, StopReason, generate
from ._tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION",
    "AUTO",
    "LIBRARY_PATH",
    "MAX_THREADS",
    "CancelToken",
    "Device",
    "DeviceArray",
    "FloatArray",
    "FloatMatrix",
    "GptConfig",
    "HeliosError",
    "KernelF32",
    "KernelF64",
    "Logits",
    "Model",
    "NystromEngine",
    "PythonKernel",
    "Sampler",
    "Status",
    "StopReason",
    "Tokenizer",
    "UserData",
    "VectorIndex",
    "abi_version",
    "generate",
    "get_num_threads",
    "last_error",
    "parallel_map",
    "rkhs_embed",
    "rkhs_embed_gpu",
    "set_num_threads",
    "status_name",
    "version",
]


def version() -> str:
    """The loaded library's version, for example ``"0.1.0"``.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    text: bytes = _LIB.helios_version()
    return text.decode("ascii")


def abi_version() -> int:
    """The loaded library's ABI version (always :data:`ABI_VERSION` once imported).

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    return int(_LIB.helios_abi_version())


def get_num_threads() -> int:
    """The default thread count of calls that pass ``threads=None``.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    return int(_LIB.helios_get_num_threads())


def set_num_threads(n: int) -> None:
    """Set the default thread count of calls that pass ``threads=None``.

    ``n`` must be in ``1..=MAX_THREADS`` (else :class:`HeliosError` with
    ``HELIOS_ERR_INVALID_ARGUMENT``). The setting is process-wide; calls
    already running keep the count they started with.

    Thread safety: reentrant (safe to call from any number of threads at once).
    """
    _check(_LIB.helios_set_num_threads(_size_t("n", n)))
