"""helios.Model: GPT-2 logits against an independent numpy forward pass on
checkpoints this file writes with the ``safetensors`` package in Hugging
Face's layout (with and without the ``transformer.`` prefix, f32, f16 and a
hand-written bf16 file), batch invariance bit for bit across prefixes and
thread counts, save/load/pickle round trips (the saved file read back with
``safetensors``), bad input (ids, configs, corrupt and disagreeing
checkpoints), and 4 Python threads sharing one model. Against
``transformers.GPT2LMHeadModel`` too when ``transformers`` and ``torch`` are
installed (they are not in .venv: that test skips there)."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import gc
import inspect
import json
import math
import pickle
import struct
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import helios
from helios import _model
from helpers import Weights, hf_config_json, hf_weights, write_checkpoint

# The fixed phrases of docs/THREADING.md (as in test_basics).
REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"

# The max abs difference of helios's f32 logits from the float64 numpy
# reference (the bound).
TOLERANCE = 1e-4

# A small shape that still has every feature: several heads and layers, an
# MLP width other than 4 d (n_inner given), more positions than the tests use.
SMALL = helios.GptConfig(
    vocab_size=97, n_positions=24, n_embd=32, n_layer=3, n_head=4, n_inner=48
)
# A tiny shape for the error tests.
TINY = helios.GptConfig(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2)


def status_of(call: Callable[[], object]) -> helios.HeliosError:
    with pytest.raises(helios.HeliosError) as caught:
        call()
    return caught.value


# ---- checkpoints in Hugging Face's layout, written here -----------------------------



RawTensors = Dict[str, Tuple[str, Tuple[int, ...], bytes]]  # name: (dtype, shape, data)


def write_raw_safetensors(path: Path, tensors: RawTensors) -> None:
    """A safetensors file written by hand (for dtypes numpy lacks, such as
    BF16): an 8-byte little-endian header length, the JSON header (padded
    with spaces to a multiple of 8), then the tensors' bytes."""
    header: Dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape, data) in tensors.items():
        end = offset + len(data)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = b"".join(d for _, _, d in tensors.values())
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (round to nearest even)."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


# ---- the independent reference: GPT-2's forward pass in numpy (float64) ------------


def reference_forward(config: helios.GptConfig, w: Weights, ids: List[int]) -> np.ndarray:
    """The logits (T x vocab) of GPT-2 written from its definition, in float64."""
    w = {name: value.astype(np.float64) for name, value in w.items()}
    eps = config.layer_norm_epsilon
    T, d, H = len(ids), config.n_embd, config.n_head
    hd = d // H

    def layer_norm(x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]

    def conv1d(x: np.ndarray, name: str) -> np.ndarray:  # weights are (in, out)
        return x @ w[f"{name}.weight"] + w[f"{name}.bias"]

    def gelu(x: np.ndarray) -> np.ndarray:  # the tanh approximation ("gelu_new")
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))

    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    causal = np.triu(np.ones((T, T), bool), k=1)  # True above the diagonal: the future
    for layer in range(config.n_layer):
        p = f"h.{layer}"
        q, k, v = np.split(conv1d(layer_norm(x, f"{p}.ln_1"), f"{p}.attn.c_attn"), 3, axis=-1)
        q, k, v = (a.reshape(T, H, hd).transpose(1, 0, 2) for a in (q, k, v))  # (H, T, hd)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        scores[:, causal] = -np.inf
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        heads = (attention @ v).transpose(1, 0, 2).reshape(T, d)
        x = x + conv1d(heads, f"{p}.attn.c_proj")
        hidden = gelu(conv1d(layer_norm(x, f"{p}.ln_2"), f"{p}.mlp.c_fc"))
        x = x + conv1d(hidden, f"{p}.mlp.c_proj")
    return layer_norm(x, "ln_f") @ w["wte.weight"].T  # the head tied to the token embedding


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def sequence(config: helios.GptConfig, length: int, seed: int) -> List[int]:
    return [int(i) for i in np.random.default_rng(seed).integers(0, config.vocab_size, length)]


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype == np.float32
    assert actual.shape == expected.shape
    assert np.array_equal(actual.view(np.uint32), expected.view(np.uint32))


@pytest.fixture(scope="module")
def small_weights() -> Weights:
    return hf_weights(SMALL, seed=7)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory, small_weights: Weights) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("small"), SMALL, small_weights)


@pytest.fixture(scope="module")
def small_model(small_checkpoint: Path) -> helios.Model:
    return helios.Model.load(small_checkpoint)


@pytest.fixture(scope="module")
def tiny_model() -> helios.Model:
    return helios.Model.random(TINY, seed=11)


# ---- (a) logits against the numpy reference ------------------------------------------


def test_the_reference_sees_only_the_past(small_weights: Weights) -> None:
    """A sanity check of the reference itself: row t ignores ids after t."""
    ids = sequence(SMALL, 10, seed=1)
    full = reference_forward(SMALL, small_weights, ids)
    changed = reference_forward(SMALL, small_weights, ids[:6] + [(i + 1) % 97 for i in ids[6:]])
    assert np.allclose(full[:6], changed[:6], rtol=0, atol=1e-12)
    assert not np.allclose(full[6:], changed[6:])


@pytest.mark.parametrize("prefix", [True, False], ids=["transformer-prefix", "no-prefix"])
def test_logits_match_the_numpy_reference(
    tmp_path: Path, small_weights: Weights, prefix: bool
) -> None:
    extra: Weights = {}
    if not prefix:
        # Older GPT-2 files (such as openai-community/gpt2's) hold the causal
        # mask buffers too; they are not weights and are ignored.
        for layer in range(SMALL.n_layer):
            mask = np.tril(np.ones((SMALL.n_positions, SMALL.n_positions), np.float32))
            extra[f"h.{layer}.attn.bias"] = mask.reshape(1, 1, SMALL.n_positions, SMALL.n_positions)
            extra[f"h.{layer}.attn.masked_bias"] = np.array(-1e4, np.float32)
    folder = write_checkpoint(tmp_path / "ckpt", SMALL, small_weights, prefix=prefix, extra=extra)
    with helios.Model.load(folder) as model:
        assert model.config == SMALL
        for length, seed in ((1, 0), (5, 1), (17, 2), (SMALL.n_positions, 3)):
            ids = sequence(SMALL, length, seed)
            logits = model.forward(ids)
            assert logits.shape == (length, SMALL.vocab_size) and logits.dtype == np.float32
            expected = reference_forward(SMALL, small_weights, ids)
            assert np.abs(expected).max() > 1.0  # logits of a size that tests something
            assert max_diff(logits, expected) < TOLERANCE, (length, max_diff(logits, expected))


def test_an_hf_config_with_default_inner_width_and_another_epsilon(tmp_path: Path) -> None:
    config = helios.GptConfig(
        vocab_size=61, n_positions=12, n_embd=24, n_layer=2, n_head=3, layer_norm_epsilon=1e-3
    )
    assert config.n_inner == 96  # None means 4 * n_embd, as in GPT2Config
    weights = hf_weights(config, seed=3)
    # n_inner null, only n_ctx (old configs), the activation under another name
    folder = write_checkpoint(
        tmp_path / "ckpt",
        config,
        weights,
        n_positions=...,
        activation_function="gelu_pytorch_tanh",
    )
    with helios.Model.load(folder) as model:
        assert model.config == config
        ids = sequence(config, 12, seed=4)
        assert max_diff(model.forward(ids), reference_forward(config, weights, ids)) < TOLERANCE


def test_f16_checkpoint_matches_the_reference_on_rounded_weights(
    tmp_path: Path, small_weights: Weights
) -> None:
    folder = write_checkpoint(tmp_path / "f16", SMALL, small_weights, dtype=np.float16)
    rounded = {k: v.astype(np.float16).astype(np.float32) for k, v in small_weights.items()}
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
        assert f.get_tensor("transformer.wte.weight").dtype == np.float16
    with helios.Model.load(folder) as model:
        ids = sequence(SMALL, 20, seed=5)
        logits = model.forward(ids)
        assert max_diff(logits, reference_forward(SMALL, rounded, ids)) < TOLERANCE
        # the rounding shows: the unrounded weights give other logits
        assert max_diff(logits, reference_forward(SMALL, small_weights, ids)) > 10 * TOLERANCE


def test_bf16_checkpoint_written_by_hand(tmp_path: Path, small_weights: Weights) -> None:
    folder = tmp_path / "bf16"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config_json(SMALL)))
    bits = {name: to_bf16_bits(value) for name, value in small_weights.items()}
    write_raw_safetensors(
        folder / "model.safetensors",
        {name: ("BF16", b.shape, b.tobytes()) for name, b in bits.items()},
    )
    rounded = {name: from_bf16_bits(b) for name, b in bits.items()}
    with helios.Model.load(folder) as model:
        ids = sequence(SMALL, 20, seed=6)
        assert max_diff(model.forward(ids), reference_forward(SMALL, rounded, ids)) < TOLERANCE


def test_the_hand_written_safetensors_file_reads_back(tmp_path: Path) -> None:
    """The writer of the bf16 test, checked against the safetensors package."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.5, -2.0], np.float32)
    path = tmp_path / "raw.safetensors"
    write_raw_safetensors(
        path, {"a": ("F32", a.shape, a.tobytes()), "b": ("F32", b.shape, b.tobytes())}
    )
    back = load_file(str(path))
    np.testing.assert_array_equal(back["a"], a)
    np.testing.assert_array_equal(back["b"], b)
    x = np.array([1.0, -3.140625, 1e-3, 65504.0], np.float32)
    assert np.abs(from_bf16_bits(to_bf16_bits(x)) - x).max() <= 2.0**-8 * np.abs(x).max()


# ---- random models and the config -----------------------------------------------------


def test_default_config_is_gpt2_small() -> None:
    small = helios.GptConfig.gpt2_small()
    assert small == helios.GptConfig()
    assert (small.vocab_size, small.n_positions, small.n_embd) == (50257, 1024, 768)
    assert (small.n_layer, small.n_head, small.n_inner) == (12, 12, 3072)
    assert small.layer_norm_epsilon == 1e-5
    assert repr(small).endswith("layer_norm_epsilon=1e-05)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.n_layer = 2  # type: ignore[misc]


def test_random_models_are_seeded() -> None:
    ids = sequence(TINY, 16, seed=8)
    with helios.Model.random(TINY, seed=5) as a, helios.Model.random(TINY, seed=5) as b:
        assert_bitwise_equal(a.forward(ids), b.forward(ids))
        with helios.Model.random(TINY, seed=6) as c:
            assert not np.array_equal(a.forward(ids), c.forward(ids))
    with helios.Model.random(TINY) as default_seed, helios.Model.random(TINY, 0) as zero:
        assert_bitwise_equal(default_seed.forward(ids), zero.forward(ids))
    with helios.Model.random(TINY, seed=2**64 - 1) as largest:
        assert largest.config == TINY


def test_random_weights_follow_gpt2_initialisation(tmp_path: Path) -> None:
    config = helios.GptConfig(vocab_size=300, n_positions=64, n_embd=64, n_layer=4, n_head=4)
    with helios.Model.random(config, seed=3) as model:
        model.save(tmp_path)
    w = load_file(str(tmp_path / "model.safetensors"))
    assert abs(w["transformer.wte.weight"].std() - 0.02) < 0.001
    assert abs(w["transformer.h.0.attn.c_attn.weight"].std() - 0.02) < 0.001
    projection = 0.02 / math.sqrt(2 * config.n_layer)
    assert abs(w["transformer.h.1.mlp.c_proj.weight"].std() - projection) < 0.0005
    assert abs(w["transformer.h.2.attn.c_proj.weight"].std() - projection) < 0.0005
    assert (w["transformer.h.3.mlp.c_fc.bias"] == 0).all()
    assert (w["transformer.ln_f.weight"] == 1).all() and (w["transformer.ln_f.bias"] == 0).all()


# ---- (b) batch invariance ---------------------------------------------------------------


def test_rows_depend_only_on_their_prefix_bit_for_bit() -> None:
    config = helios.GptConfig(vocab_size=300, n_positions=40, n_embd=64, n_layer=2, n_head=4)
    ids = sequence(config, 37, seed=9)
    with helios.Model.random(config, seed=4) as model:
        full = model.forward(ids, threads=1)
        for threads in (1, 2, 3):
            assert_bitwise_equal(model.forward(ids, threads=threads), full)
            for t in (0, 1, 2, 7, 15, 16, 31, 36):
                prefix = model.forward(ids[: t + 1], threads=threads)
                assert_bitwise_equal(prefix, full[: t + 1])
                assert_bitwise_equal(prefix[-1], full[t])
        helios.set_num_threads(2)  # threads=None: the process-wide default
        assert_bitwise_equal(model.forward(ids), full)


def test_ids_in_any_integer_form(tiny_model: helios.Model) -> None:
    ids = [3, 1, 4, 1, 5, 9, 2, 6]
    expected = tiny_model.forward(np.array(ids, np.uint32))
    for form in (
        ids,
        tuple(ids),
        np.array(ids, np.int64),
        np.array(ids, np.uint8),
        np.array([i for i in ids for _ in (0, 1)], np.uint32)[::2],  # not contiguous
    ):
        assert_bitwise_equal(tiny_model.forward(form), expected)
    assert_bitwise_equal(tiny_model.forward(7), tiny_model.forward([7]))  # one id
    assert_bitwise_equal(tiny_model.forward(np.uint32(7)), tiny_model.forward([7]))


# ---- (c) save, load, pickle -------------------------------------------------------------


def test_save_load_round_trip(
    tmp_path: Path, small_model: helios.Model, small_weights: Weights
) -> None:
    ids = sequence(SMALL, 24, seed=10)
    expected = small_model.forward(ids)
    folder = tmp_path / "a" / "b"  # created
    small_model.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    small_model.save(folder)  # over the files: no temporary file is left
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    with helios.Model.load(folder) as loaded:
        assert loaded.config == SMALL
        assert_bitwise_equal(loaded.forward(ids), expected)
    # the saved file, read back with the safetensors package
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}
        keys = set(f.keys())
    assert keys == {f"transformer.{name}" for name in small_weights}
    saved = load_file(str(folder / "model.safetensors"))
    for name, value in small_weights.items():
        tensor = saved[f"transformer.{name}"]
        assert tensor.dtype == np.float32 and tensor.shape == value.shape, name
        assert np.array_equal(tensor, value), name  # what was loaded, unchanged
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gpt2"
    assert config["architectures"] == ["GPT2LMHeadModel"]
    assert config["activation_function"] == "gelu_new"
    for field in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"):
        assert config[field] == getattr(SMALL, field), field
    assert np.float32(config["layer_norm_epsilon"]) == np.float32(SMALL.layer_norm_epsilon)


def test_save_of_a_random_model_loads_with_the_same_logits(
    tmp_path: Path, tiny_model: helios.Model
) -> None:
    ids = sequence(TINY, 16, seed=12)
    tiny_model.save(str(tmp_path))
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert saved["transformer.h.1.attn.c_attn.weight"].shape == (16, 48)  # Conv1D: (in, out)
    assert saved["transformer.h.1.mlp.c_proj.weight"].shape == (64, 16)
    assert saved["transformer.wte.weight"].shape == (50, 16)
    assert saved["transformer.wpe.weight"].shape == (16, 16)
    assert "lm_head.weight" not in saved  # tied
    with helios.Model.load(tmp_path) as loaded:
        assert_bitwise_equal(loaded.forward(ids), tiny_model.forward(ids))
        assert loaded.config == TINY
    # and the numpy reference on the saved weights agrees with the model
    weights = {name[len("transformer."):]: value for name, value in saved.items()}
    assert max_diff(tiny_model.forward(ids), reference_forward(TINY, weights, ids)) < TOLERANCE


def test_pickle(tiny_model: helios.Model) -> None:
    ids = sequence(TINY, 9, seed=13)
    clone = pickle.loads(pickle.dumps(tiny_model))
    assert isinstance(clone, helios.Model) and clone is not tiny_model
    assert clone.config == tiny_model.config
    assert_bitwise_equal(clone.forward(ids), tiny_model.forward(ids))
    deep = copy.deepcopy(tiny_model)
    assert_bitwise_equal(deep.forward(ids), tiny_model.forward(ids))


# ---- (d) bad input ------------------------------------------------------------------------


def test_bad_ids(tiny_model: helios.Model) -> None:
    error = status_of(lambda: tiny_model.forward([1, 2, 3, 50, 4]))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert "ids[3]" in error.message and "50" in error.message
    error = status_of(lambda: tiny_model.forward([2**32 - 1]))
    assert error.code == helios.Status.INVALID_ARGUMENT and "ids[0]" in error.message
    error = status_of(lambda: tiny_model.forward([]))
    assert error.code == helios.Status.INVALID_ARGUMENT
    error = status_of(lambda: tiny_model.forward(np.zeros(0, np.uint32)))
    assert error.code == helios.Status.INVALID_ARGUMENT
    error = status_of(lambda: tiny_model.forward([1] * (TINY.n_positions + 1)))
    assert error.code == helios.Status.INVALID_ARGUMENT and str(TINY.n_positions) in error.message
    tiny_model.forward([1] * TINY.n_positions)  # exactly the context is fine
    with pytest.raises(ValueError, match="-1"):
        tiny_model.forward([1, -1, 2])
    with pytest.raises(ValueError, match="2\\*\\*32"):
        tiny_model.forward([2**32])
    with pytest.raises(TypeError):
        tiny_model.forward([1.0, 2.0])
    with pytest.raises(TypeError):
        tiny_model.forward(["a"])
    with pytest.raises(ValueError, match="1-D"):
        tiny_model.forward([[1, 2], [3, 4]])
    error = status_of(lambda: tiny_model.forward([1], threads=0))
    assert error.code == helios.Status.INVALID_ARGUMENT
    error = status_of(lambda: tiny_model.forward([1], threads=helios.MAX_THREADS + 1))
    assert error.code == helios.Status.INVALID_ARGUMENT
    with pytest.raises(ValueError):
        tiny_model.forward([1], threads=-1)
    with pytest.raises(TypeError):
        tiny_model.forward([1], threads=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"layer_norm_epsilon": float("nan")}, "layer_norm_epsilon"),
        ({"layer_norm_epsilon": float("inf")}, "layer_norm_epsilon"),
        ({"layer_norm_epsilon": 1e300}, "layer_norm_epsilon"),  # inf as a C float
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon"),
        ({"layer_norm_epsilon": -1e-5}, "layer_norm_epsilon"),
        ({"n_head": 3}, "n_head"),
        ({"n_head": 0}, "n_head"),
        ({"n_layer": 0}, "n_layer"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"n_inner": 0}, "n_inner"),
        ({"n_positions": 2**24 + 1}, "n_positions"),
    ],
)
def test_random_refuses_bad_configs(changes: Dict[str, Any], fragment: str) -> None:
    config = dataclasses.replace(TINY, **changes)
    error = status_of(lambda: helios.Model.random(config))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert fragment in error.message


def test_config_and_seed_types() -> None:
    with pytest.raises(ValueError, match="n_embd"):
        helios.GptConfig(n_embd=-1)
    with pytest.raises(TypeError, match="n_layer"):
        helios.GptConfig(n_layer=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="layer_norm_epsilon"):
        helios.GptConfig(layer_norm_epsilon="1e-5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="GptConfig"):
        helios.Model.random({"vocab_size": 50})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        helios.Model.random(TINY, seed=-1)
    with pytest.raises(ValueError, match="seed"):
        helios.Model.random(TINY, seed=2**64)
    with pytest.raises(TypeError, match="seed"):
        helios.Model.random(TINY, seed=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Model.load"):
        helios.Model()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Tuple[Path, Weights]:
    weights = hf_weights(TINY, seed=21)
    return write_checkpoint(tmp_path / "good", TINY, weights), weights


def load_error(folder: Path) -> helios.HeliosError:
    return status_of(lambda: helios.Model.load(folder))


def test_corrupt_and_truncated_safetensors(tiny_checkpoint: Tuple[Path, Weights]) -> None:
    folder, _ = tiny_checkpoint
    path = folder / "model.safetensors"
    data = path.read_bytes()
    header_len = struct.unpack("<Q", data[:8])[0]
    for bad in (
        data[: len(data) // 2],  # the tensors cut short
        data[: 8 + header_len // 2],  # the header cut short
        data[:5],  # not even the header length
        b"",
        b"\x10\x00\x00\x00\x00\x00\x00\x00not json, nope!!" + data[24:],
        struct.pack("<Q", 2**40) + data[8:],  # a header longer than the file
        b"this is not a safetensors file at all" * 10,
    ):
        path.write_bytes(bad)
        error = load_error(folder)
        assert error.code == helios.Status.FORMAT, (bad[:20], error)
        assert "model.safetensors" in error.message
    path.write_bytes(data)
    helios.Model.load(folder).close()  # the original is fine


def test_config_that_disagrees_with_the_tensors(tmp_path: Path) -> None:
    weights = hf_weights(TINY, seed=22)
    cases = [
        ({"n_layer": 3}, "h.2.ln_1.weight"),  # a layer the file lacks
        ({"n_layer": 1}, "h.1.ln_1.weight"),  # a layer the config lacks
        ({"n_embd": 32}, "wte.weight"),
        ({"vocab_size": 51}, "wte.weight"),
        ({"n_positions": 20, "n_ctx": 20}, "wpe.weight"),
        ({"n_inner": 32}, "h.0.mlp.c_fc.weight"),
    ]
    for i, (changes, tensor) in enumerate(cases):
        folder = write_checkpoint(tmp_path / str(i), TINY, weights, **changes)
        error = load_error(folder)
        assert error.code == helios.Status.FORMAT, changes
        assert f"`{tensor}`" in error.message, (changes, error.message)


def test_bad_tensors(tmp_path: Path) -> None:
    weights = hf_weights(TINY, seed=23)
    missing = {k: v for k, v in weights.items() if k != "h.1.attn.c_proj.bias"}
    error = load_error(write_checkpoint(tmp_path / "missing", TINY, missing))
    assert error.code == helios.Status.FORMAT and "`h.1.attn.c_proj.bias`" in error.message
    # Conv1D weights stored (out, in), as an nn.Linear would be
    transposed = dict(weights)
    transposed["h.0.attn.c_attn.weight"] = np.ascontiguousarray(weights["h.0.attn.c_attn.weight"].T)
    error = load_error(write_checkpoint(tmp_path / "transposed", TINY, transposed))
    assert error.code == helios.Status.FORMAT and "`h.0.attn.c_attn.weight`" in error.message
    folder = write_checkpoint(tmp_path / "int", TINY, weights)
    ints = {f"transformer.{k}": v for k, v in weights.items()}
    ints["transformer.ln_f.bias"] = np.zeros(TINY.n_embd, np.int32)
    save_file(ints, str(folder / "model.safetensors"))
    error = load_error(folder)
    assert error.code == helios.Status.FORMAT and "`ln_f.bias`" in error.message
    nan = dict(weights)
    nan["h.1.mlp.c_fc.weight"] = weights["h.1.mlp.c_fc.weight"].copy()
    nan["h.1.mlp.c_fc.weight"][3, 5] = np.nan
    error = load_error(write_checkpoint(tmp_path / "nan", TINY, nan))
    assert error.code == helios.Status.NUMERIC
    assert "h.1.mlp.c_fc.weight" in str(error)  # the tensor is named


@pytest.mark.parametrize(
    "changes,status,fragment",
    [
        ({"model_type": "llama"}, helios.Status.FORMAT, "model_type"),
        ({"model_type": ...}, helios.Status.FORMAT, "model_type"),
        ({"activation_function": "relu"}, helios.Status.UNSUPPORTED, "activation_function"),
        ({"activation_function": "gelu"}, helios.Status.UNSUPPORTED, "activation_function"),
        ({"tie_word_embeddings": False}, helios.Status.UNSUPPORTED, "tie_word_embeddings"),
        ({"n_head": 3}, helios.Status.FORMAT, "n_head"),
        ({"n_embd": ...}, helios.Status.FORMAT, "n_embd"),
        ({"n_layer": "2"}, helios.Status.FORMAT, "n_layer"),
        ({"n_layer": -2}, helios.Status.FORMAT, "n_layer"),
        ({"layer_norm_epsilon": "small"}, helios.Status.FORMAT, "layer_norm_epsilon"),
    ],
)
def test_bad_config_json(
    tiny_checkpoint: Tuple[Path, Weights],
    changes: Dict[str, Any],
    status: helios.Status,
    fragment: str,
) -> None:
    folder, _ = tiny_checkpoint
    (folder / "config.json").write_text(json.dumps(hf_config_json(TINY, **changes)))
    error = load_error(folder)
    assert error.code == status, error
    assert fragment in error.message and "config.json" in error.message


def test_config_json_that_is_not_json(tiny_checkpoint: Tuple[Path, Weights]) -> None:
    folder, _ = tiny_checkpoint
    for text in ("{not json", "[1, 2]", ""):
        (folder / "config.json").write_text(text)
        assert load_error(folder).code == helios.Status.FORMAT, text


def test_missing_files(tmp_path: Path, tiny_checkpoint: Tuple[Path, Weights]) -> None:
    assert load_error(tmp_path / "no such folder").code == helios.Status.IO
    folder, _ = tiny_checkpoint
    (folder / "model.safetensors").unlink()
    error = load_error(folder)
    assert error.code == helios.Status.IO and "model.safetensors" in error.message
    (folder / "config.json").unlink()
    error = load_error(folder)
    assert error.code == helios.Status.IO and "config.json" in error.message
    with pytest.raises(TypeError, match="directory"):
        helios.Model.load(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        helios.Model.load("a\0b")


def test_save_to_an_unwritable_place(tmp_path: Path, tiny_model: helios.Model) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert status_of(lambda: tiny_model.save(blocker)).code == helios.Status.IO
    assert status_of(lambda: tiny_model.save(blocker / "below")).code == helios.Status.IO


# ---- (e) threads ------------------------------------------------------------------------------


def test_four_threads_share_one_model() -> None:
    config = helios.GptConfig(vocab_size=500, n_positions=64, n_embd=64, n_layer=2, n_head=4)
    requests = [sequence(config, 20 + 6 * k, seed=30 + k) for k in range(8)]
    with helios.Model.random(config, seed=12) as model:
        expected = [model.forward(ids, threads=1) for ids in requests]
        results: Dict[Tuple[int, int], np.ndarray] = {}
        failures: List[BaseException] = []
        start = threading.Barrier(4)

        def worker(k: int) -> None:
            try:
                start.wait()
                for round_ in range(3):
                    for j in range(len(requests)):
                        i = (j + 3 * k + round_) % len(requests)  # each thread in its own order
                        results[(k, i)] = model.forward(requests[i], threads=1 + (k + j) % 2)
                        if not np.array_equal(results[(k, i)], expected[i]):
                            raise AssertionError(f"thread {k}, request {i}")
            except BaseException as error:  # noqa: B036 - reported below
                failures.append(error)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures
        assert len(results) == 4 * len(requests)
        for (_, i), logits in results.items():
            assert_bitwise_equal(logits, expected[i])


def test_close_while_another_thread_runs_forward() -> None:
    config = helios.GptConfig(vocab_size=2000, n_positions=128, n_embd=128, n_layer=4, n_head=4)
    model = helios.Model.random(config, seed=1)
    ids = sequence(config, 128, seed=2)
    expected = model.forward(ids)
    started = threading.Event()
    outcome: List[Any] = []

    def run() -> None:
        started.set()
        try:
            outcome.append(model.forward(ids))
        except ValueError as error:  # closed before it borrowed the handle
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    model.close()
    thread.join()
    assert isinstance(outcome[0], ValueError) or np.array_equal(outcome[0], expected)
    with pytest.raises(ValueError, match="closed"):
        model.forward(ids)


# ---- the object ----------------------------------------------------------------------------------


def test_close_context_manager_and_repr() -> None:
    model = helios.Model.random(TINY, seed=1)
    assert repr(model) == "<helios.Model vocab_size=50 n_positions=16 n_embd=16 n_layer=2 n_head=2>"
    assert not model.closed
    with model as entered:
        assert entered is model
    assert model.closed
    model.close()  # twice is harmless
    assert repr(model) == "<helios.Model closed>"
    assert model.config == TINY  # the shape stays known
    for call in (
        lambda: model.forward([1]),
        lambda: model.save("/tmp/never"),
        lambda: pickle.dumps(model),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()


def test_garbage_collection_frees_the_model() -> None:
    freed: List[int] = []
    model = helios.Model.random(TINY, seed=1)
    native = model._native
    real_free = native._free
    native._free = lambda handle: freed.append(handle) or real_free(handle)
    handle = native._handle
    del model
    gc.collect()
    assert freed == [handle]


def test_every_public_member_states_its_thread_safety() -> None:
    flat = lambda value: " ".join((inspect.getdoc(value) or "").split())  # noqa: E731
    for cls in (helios.Model, helios.GptConfig):
        assert SHAREABLE in flat(cls), cls
        for name, member in vars(cls).items():
            public = not name.startswith("_")
            if not (public and (callable(member) or isinstance(member, (property, classmethod)))):
                continue
            assert SHAREABLE in flat(member) or REENTRANT in flat(member), name
    for constructor in (helios.Model.load, helios.Model.random, helios.GptConfig.gpt2_small):
        assert REENTRANT in flat(constructor)
    assert {"Model", "GptConfig"} <= set(helios.__all__)


def test_the_examples_in_the_docstrings_run() -> None:
    failures, tried = doctest.testmod(_model, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


# ---- against transformers (only where it and torch are installed) --------------------------------


def test_against_transformers_gpt2(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(
        vocab_size=97, n_positions=48, n_embd=32, n_layer=3, n_head=4, n_inner=None,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    reference = transformers.GPT2LMHeadModel(hf_config).eval()
    reference.save_pretrained(tmp_path / "hf", safe_serialization=True)

    def hf_logits(model: Any, ids: List[int]) -> np.ndarray:
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].double().numpy()

    ids = sequence(SMALL, 16, seed=40)
    with helios.Model.load(tmp_path / "hf") as model:
        assert max_diff(model.forward(ids), hf_logits(reference, ids)) < TOLERANCE
        # greedy decoding: the same 32 tokens
        ours, theirs = list(ids[:4]), list(ids[:4])
        for _ in range(32):
            ours.append(int(model.forward(ours)[-1].argmax()))
            theirs.append(int(hf_logits(reference, theirs)[-1].argmax()))
        assert ours == theirs
        # and transformers loads what helios saves
        model.save(tmp_path / "helios")
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "helios").eval()
    assert max_diff(hf_logits(again, ids), hf_logits(reference, ids)) < 1e-6
