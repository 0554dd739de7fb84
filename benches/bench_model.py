"""The GPT-2 inference benchmark from Python: helios.Model / helios.Sampler
against PyTorch (Hugging Face ``transformers.GPT2LMHeadModel``) on the SAME
weights, in one run.

Two shapes with random weights (``helios.Model.random``, GPT-2's
initialisation): GPT-2 small (12 layers, width 768, vocabulary 50 257, 1024
positions) and a tiny one (4 x 256, vocabulary 8 192, 512 positions). For
each, at 1 and 2 threads (``threads=`` in helios, ``torch.set_num_threads``
in PyTorch), with a prompt of 128 seeded random ids:

* prompt tokens/s, two ways:
  - ``forward``: logits of every position, ``model.forward(ids)`` in helios
    and ``model(ids, use_cache=True)`` in PyTorch (the same work: 128 rows of
    logits);
  - ``sampler``: the prompt step of a greedy helios.Sampler (the KV cache
    filled, logits of the last position only), from the call to the first
    token's callback;
* greedy decode tokens/s: a helios.Sampler with temperature 0 and
  max_tokens 128 (the timed part runs from the first token's callback to the
  last's: 127 one-token steps over the KV cache, each with its argmax), and
  in PyTorch the same loop by hand: ``model(next_id, past_key_values=past,
  use_cache=True)`` and ``argmax``, 127 times, under ``torch.inference_mode``.

Each figure is the best of --repeats runs (after a warm-up for the tiny
shape). PyTorch loads what helios saves (``model.save(dir)`` then
``GPT2LMHeadModel.from_pretrained(dir)``), so both run the same weights; the
greedy tokens of both are compared (random weights give nearly flat logits,
so float rounding may flip a near tie: agreement is reported, not required).

PyTorch is used only when ``torch`` and ``transformers`` are importable; this
script never installs them. Without them it prints a loud line and reports
helios alone. The bandwidth side of the issue's goal (decode >= 70 % of the
memory read bandwidth) is measured by ``cargo bench --bench gpt_decode``.

Usage (after `make python`):

    .venv/bin/python benches/bench_model.py [--shapes tiny,gpt2] [--threads 1,2]
        [--prompt 128] [--decode 128] [--repeats 0]

--repeats 0 (default) means 3 for the tiny shape and 1 for GPT-2 small,
which keeps the run near a minute on a 2-core machine without PyTorch
(GPT-2 small decodes at about 23 tokens/s on one core there).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import helios

SHAPES: Dict[str, helios.GptConfig] = {
    "tiny": helios.GptConfig(vocab_size=8192, n_positions=512, n_embd=256, n_layer=4, n_head=4),
    "gpt2": helios.GptConfig.gpt2_small(),
}


@dataclass
class Result:
    """Tokens per second (best of the repeats) of one contender at one thread count."""

    prompt_forward: float = 0.0
    prompt_sampler: float = 0.0
    decode: float = 0.0
    tokens: List[int] = field(default_factory=list)


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - no load average here
        return "n/a"


def parameters(config: helios.GptConfig) -> int:
    d, f = config.n_embd, config.n_inner or 4 * config.n_embd
    v, p = config.vocab_size, config.n_positions
    per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
    return v * d + p * d + config.n_layer * per_layer + 2 * d


def best(function: Callable[[], float], repeats: int) -> float:
    """The largest of ``repeats`` rates ``function()`` returns."""
    return max(function() for _ in range(repeats))


# ---- helios -------------------------------------------------------------------------------


def bench_helios(
    model: helios.Model, prompt: np.ndarray, decode: int, threads: int, repeats: int
) -> Result:
    result = Result()

    def forward_rate() -> float:
        started = time.perf_counter()
        model.forward(prompt, threads=threads)
        return len(prompt) / (time.perf_counter() - started)

    sampler = helios.Sampler(model, temperature=0, max_tokens=decode, threads=threads,
                             context=len(prompt) + decode)
    stamps: List[float] = []

    def on_token(_token: int) -> None:
        stamps.append(time.perf_counter())

    def generate() -> Tuple[float, float]:
        sampler.reset()
        stamps.clear()
        started = time.perf_counter()
        tokens = sampler.generate(prompt, on_token=on_token)
        assert len(tokens) == decode, (len(tokens), sampler.stop_reason)
        result.tokens = tokens.tolist()
        prompt_rate = len(prompt) / (stamps[0] - started)
        decode_rate = (decode - 1) / (stamps[-1] - stamps[0])
        return prompt_rate, decode_rate

    result.prompt_forward = best(forward_rate, repeats)
    rates = [generate() for _ in range(repeats)]
    result.prompt_sampler = max(r[0] for r in rates)
    result.decode = max(r[1] for r in rates)
    sampler.close()
    return result


# ---- PyTorch ------------------------------------------------------------------------------


def import_torch() -> Optional[Tuple[Any, Any]]:
    try:
        import torch
        import transformers
    except ImportError:
        return None
    return torch, transformers


def bench_torch(
    torch: Any, hf_model: Any, prompt: np.ndarray, decode: int, threads: int, repeats: int
) -> Result:
    torch.set_num_threads(threads)
    result = Result()
    ids = torch.tensor(prompt.astype(np.int64)[None, :])

    def forward_rate() -> float:
        with torch.inference_mode():
            started = time.perf_counter()
            hf_model(ids, use_cache=True)
            return len(prompt) / (time.perf_counter() - started)

    def generate() -> float:
        with torch.inference_mode():
            out = hf_model(ids, use_cache=True)
            past = out.past_key_values
            token = out.logits[0, -1].argmax()
            tokens = [int(token)]
            started = time.perf_counter()
            for _ in range(decode - 1):
                out = hf_model(token.view(1, 1), past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = out.logits[0, -1].argmax()
                tokens.append(int(token))
            rate = (decode - 1) / (time.perf_counter() - started)
        result.tokens = tokens
        return rate

    result.prompt_forward = best(forward_rate, repeats)
    result.decode = best(generate, repeats)
    return result


# ---- main ---------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="tiny,gpt2", help="tiny, gpt2 or both (default)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--prompt", type=int, default=128, help="prompt tokens (default 128)")
    parser.add_argument("--decode", type=int, default=128, help="decoded tokens (default 128)")
    parser.add_argument("--repeats", type=int, default=0,
                        help="best of N runs; 0: 3 for tiny, 1 for gpt2 (default)")
    args = parser.parse_args(argv)
    shapes = [name.strip() for name in args.shapes.split(",") if name.strip()]
    thread_counts = [int(t) for t in args.threads.split(",")]
    for name in shapes:
        if name not in SHAPES:
            parser.error(f"unknown shape {name!r}: choose from {', '.join(SHAPES)}")

    torch_modules = import_torch()
    print(
        f"bench_model: GPT-2 inference from Python, random weights, f32; prompt {args.prompt} "
        f"tokens, greedy decode {args.decode} tokens; helios {helios.version()}; "
        f"{os.cpu_count()} CPUs; load {load()}"
    )
    if torch_modules is None:
        line = "PyTorch not installed: pip install torch transformers to compare"
        print("\n" + "!" * (len(line) + 8))
        print(f"!!! {line} !!!")
        print("!" * (len(line) + 8) + "\n")
        print("helios alone:")
    else:
        torch, transformers = torch_modules
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # pragma: no cover - only before any parallel work
            pass
        print(f"against torch {torch.__version__}, transformers {transformers.__version__} "
              f"(GPT2LMHeadModel, use_cache=True, the same weights)")

    header = (
        f"{'shape':<6} {'threads':>7} {'contender':<9} {'prompt fwd tok/s':>17} "
        f"{'prompt smp tok/s':>17} {'decode tok/s':>13} {'fwd x':>7} {'decode x':>9}"
    )
    rows: List[str] = []
    for name in shapes:
        config = SHAPES[name]
        repeats = args.repeats or (3 if name == "tiny" else 1)
        if args.prompt + args.decode > config.n_positions:
            parser.error(f"--prompt + --decode exceed {name}'s {config.n_positions} positions")
        started = time.perf_counter()
        model = helios.Model.random(config, seed=0)
        made = time.perf_counter() - started
        prompt = np.random.default_rng(1).integers(0, config.vocab_size, args.prompt).astype(
            np.uint32
        )
        print(
            f"\n{name}: {config.n_layer} layers x {config.n_embd}, vocab {config.vocab_size}, "
            f"{parameters(config) / 1e6:.1f} M parameters ({parameters(config) * 4 / 1e6:.0f} MB "
            f"f32), made in {made:.1f} s; best of {repeats}"
        )
        hf_model = None
        if torch_modules is not None:
            torch, transformers = torch_modules
            with tempfile.TemporaryDirectory(prefix="helios_bench_") as folder:
                model.save(folder)
                hf_model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
        if name == "tiny":  # warm-up (page faults, thread pools)
            bench_helios(model, prompt, min(args.decode, 8), max(thread_counts), 1)
        for threads in thread_counts:
            ours = bench_helios(model, prompt, args.decode, threads, repeats)
            line = (
                f"{name:<6} {threads:>7} {'helios':<9} {ours.prompt_forward:>17.1f} "
                f"{ours.prompt_sampler:>17.1f} {ours.decode:>13.1f}"
            )
            print(line, flush=True)
            rows.append(line)
            if hf_model is not None:
                torch = torch_modules[0]
                theirs = bench_torch(torch, hf_model, prompt, args.decode, threads, repeats)
                same = sum(a == b for a, b in zip(ours.tokens, theirs.tokens))
                first_diff = next(
                    (i for i, (a, b) in enumerate(zip(ours.tokens, theirs.tokens)) if a != b),
                    None,
                )
                line = (
                    f"{name:<6} {threads:>7} {'pytorch':<9} {theirs.prompt_forward:>17.1f} "
                    f"{'':>17} {theirs.decode:>13.1f} "
                    f"{ours.prompt_forward / theirs.prompt_forward:>6.2f}x "
                    f"{ours.decode / theirs.decode:>8.2f}x"
                )
                print(line, flush=True)
                print(
                    f"{'':<14} greedy tokens equal: {same}/{len(ours.tokens)}"
                    + ("" if first_diff is None else f" (first difference at {first_diff})")
                )
                rows.append(line)
        model.close()
        del hf_model

    print("\n" + header)
    for line in rows:
        print(line)
    print(
        "\nprompt fwd: logits of all positions; prompt smp: a greedy sampler's prompt step "
        "(last logits only); decode: one-token steps over the KV cache with argmax."
    )
    if torch_modules is not None:
        print("fwd x, decode x: helios tokens/s / PyTorch tokens/s (goal: decode >= 2x).")
    else:
        print("(PyTorch not installed: no ratios; pip install torch transformers to compare.)")


if __name__ == "__main__":
    main()
