"""Kernels, independent numpy references and tools shared by the tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
from safetensors.numpy import save_file

import helios


def stencil3(block: helios.FloatArray, start: int, n: int) -> helios.FloatArray:
    """y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1], clamped at the block's ends.

    With a halo of 1 the block's ends are the array's ends wherever it matters.
    """
    i = np.arange(start, start + n)
    left = block[np.maximum(i - 1, 0)]
    right = block[np.minimum(i + 1, len(block) - 1)]
    result: helios.FloatArray = 0.25 * left + 0.5 * block[i] + 0.25 * right
    return result


def stencil3_reference(x: helios.FloatArray) -> helios.FloatArray:
    """The same stencil computed with edge padding and slicing, not through blocks."""
    padded = np.pad(x, 1, mode="edge")
    result: helios.FloatArray = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return result


def bits(a: helios.FloatArray) -> np.ndarray:
    """The array's bit patterns, for exact (bit for bit) comparisons."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bitwise_equal(actual: helios.FloatArray, expected: helios.FloatArray) -> None:
    """Same dtype, same shape, same bits."""
    assert actual.dtype == expected.dtype
    assert np.array_equal(bits(actual), bits(expected))


def compile_shared(compiler: str, source: str, target: Path) -> Path:
    """Compile C ``source`` into the shared library ``target``."""
    c_file = target.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(target), str(c_file)],
        check=True,
        capture_output=True,
    )
    return target


# ---- the feature map written with numpy alone ----------------------------------

# Tolerances (max abs difference) on the well-conditioned data of these tests
# (cond K(L, L) below about 1e3, entries of Phi below 1). Measured: about
# 5e-15 for float64 and 1.5e-6 for float32 against a float64 reference.
TOL_F64 = 1e-12
TOL_F32 = 2e-5


def rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma ||a_i - b_j||²) by broadcasting, in float64 (no GEMM identity)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def reference_embed(x: np.ndarray, landmarks: np.ndarray, gamma: float, ridge: float) -> np.ndarray:
    """The feature map in float64 with numpy alone: K(X, L) · (K(L, L) + ridge·I)^(-1/2),
    the inverse square root from np.linalg.eigh with eigenvalues at or below
    m · eps · λ_max counted as 0 (the pseudo-inverse threshold helios documents)."""
    m = len(landmarks)
    values, vectors = np.linalg.eigh(rbf(landmarks, landmarks, gamma) + ridge * np.eye(m))
    cutoff = m * np.finfo(np.float64).eps * max(values.max(), 0.0)
    scale = np.zeros_like(values)
    kept = values > cutoff
    scale[kept] = 1.0 / np.sqrt(values[kept])
    return rbf(x, landmarks, gamma) @ ((vectors * scale) @ vectors.T)


def tolerance(dtype: np.dtype) -> float:
    """The max abs difference allowed against the float64 reference."""
    return TOL_F32 if dtype == np.float32 else TOL_F64


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, in float64."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


# ---- GPT-2 checkpoints in Hugging Face's layout -------------------------------------

Weights = Dict[str, np.ndarray]  # Hugging Face names without "transformer."


def hf_weights(config: helios.GptConfig, seed: int) -> Weights:
    """Seeded random float32 weights of ``config`` under GPT-2's Hugging Face
    names (without ``transformer.``); Conv1D weights are (in, out). Biases and
    LayerNorm parameters are random too, so that every term of the forward
    pass matters."""
    rng = np.random.default_rng(seed)
    d, f = config.n_embd, config.n_inner
    assert f is not None

    def normal(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, shape).astype(np.float32)

    w: Weights = {
        "wte.weight": normal(config.vocab_size, d, std=0.5),
        "wpe.weight": normal(config.n_positions, d, std=0.3),
        "ln_f.weight": 1.0 + normal(d, std=0.2),
        "ln_f.bias": normal(d, std=0.2),
    }
    for layer in range(config.n_layer):
        p = f"h.{layer}"
        w[f"{p}.ln_1.weight"] = 1.0 + normal(d, std=0.2)
        w[f"{p}.ln_1.bias"] = normal(d, std=0.2)
        w[f"{p}.attn.c_attn.weight"] = normal(d, 3 * d, std=0.3)
        w[f"{p}.attn.c_attn.bias"] = normal(3 * d, std=0.2)
        w[f"{p}.attn.c_proj.weight"] = normal(d, d, std=0.2)
        w[f"{p}.attn.c_proj.bias"] = normal(d, std=0.1)
        w[f"{p}.ln_2.weight"] = 1.0 + normal(d, std=0.2)
        w[f"{p}.ln_2.bias"] = normal(d, std=0.2)
        w[f"{p}.mlp.c_fc.weight"] = normal(d, f, std=0.3)
        w[f"{p}.mlp.c_fc.bias"] = normal(f, std=0.2)
        w[f"{p}.mlp.c_proj.weight"] = normal(f, d, std=0.2)
        w[f"{p}.mlp.c_proj.bias"] = normal(d, std=0.1)
    return w


def hf_config_json(config: helios.GptConfig, **changes: Any) -> Dict[str, Any]:
    """config.json as ``GPT2Config.save_pretrained`` writes it (the fields
    that matter), with ``changes`` applied (a value of ``...`` deletes the field)."""
    fields: Dict[str, Any] = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": config.vocab_size - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": config.vocab_size - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": config.layer_norm_epsilon,
        "model_type": "gpt2",
        "n_ctx": config.n_positions,
        "n_embd": config.n_embd,
        "n_head": config.n_head,
        "n_inner": None if config.n_inner == 4 * config.n_embd else config.n_inner,
        "n_layer": config.n_layer,
        "n_positions": config.n_positions,
        "resid_pdrop": 0.1,
        "scale_attn_weights": True,
        "summary_type": "cls_index",
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": config.vocab_size,
    }
    for key, value in changes.items():
        if value is ...:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def write_checkpoint(
    folder: Path,
    config: helios.GptConfig,
    weights: Weights,
    *,
    prefix: bool = True,
    dtype: Any = np.float32,
    extra: Optional[Weights] = None,
    **config_changes: Any,
) -> Path:
    """A checkpoint directory: config.json + model.safetensors (by the
    ``safetensors`` package, metadata {"format": "pt"} as transformers writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(hf_config_json(config, **config_changes), indent=2)
    )
    lead = "transformer." if prefix else ""
    tensors = {lead + name: np.ascontiguousarray(v.astype(dtype)) for name, v in weights.items()}
    tensors.update(extra or {})
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder
