"""Generate text with a GPT-2 model: helios.Model, helios.Sampler and streaming.

Run it with `.venv/bin/python examples/python/generate.py` after `make python`,
or point it at a Hugging Face GPT-2 checkpoint folder (config.json,
model.safetensors and tokenizer.json, or vocab.json + merges.txt), such as a
download of https://huggingface.co/openai-community/gpt2:

    .venv/bin/python examples/python/generate.py path/to/gpt2 "Once upon a time"

Without a folder it builds everything itself in a second or two, with no
network: a byte-level BPE tokenizer trained on a few inline sentences and a
small GPT-2 with RANDOM weights. A random model writes random text (bytes that
are often not even whole characters, shown here as U+FFFD), so read that part
for the plumbing, not the prose: the same code prints real text with a real
checkpoint.

The pieces:

* a Model holds the weights. It is shareable: one model serves any number of
  requests, from any number of threads at once.
* a Sampler is one request: its KV cache, its random generator (seeded: the
  same seed gives the same text) and its settings (temperature, top_k,
  top_p, ...). It is single-owner: one thread uses it at a time.
* stream_text yields the text piece by piece while the model generates it;
  every piece is whole characters.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import helios

CORPUS = [
    "Once upon a time there was a little cat who lived by the sea.",
    "The cat liked to watch the boats and the birds in the morning.",
    "One day a big storm came, and the cat hid under the old boat.",
    "When the sun came back, the cat found a small fish on the sand.",
    "Le chat aimait le café au lait; 日本の猫も海が好きです 🐱🌊.",
] * 20  # repeated, so that the frequent pairs become merges


def printable(text: str) -> str:
    """Control characters (which random models produce) as a dot, for the terminal."""
    return "".join(c if c.isprintable() or c == "\n" else "·" for c in text)


def load_or_build(argv: List[str]) -> Tuple[helios.Model, helios.Tokenizer, str]:
    if len(argv) > 1:
        folder = argv[1]
        prompt = argv[2] if len(argv) > 2 else "Once upon a time"
        model = helios.Model.load(folder)
        tokenizer = helios.Tokenizer.from_pretrained_dir(folder)
        return model, tokenizer, prompt
    tokenizer = helios.Tokenizer.train_bpe(
        CORPUS, vocab_size=512, special_tokens=["<|endoftext|>"]
    )
    # A small GPT-2: the model's vocabulary is the tokenizer's.
    config = helios.GptConfig(
        vocab_size=tokenizer.vocab_size, n_positions=256, n_embd=128, n_layer=4, n_head=4
    )
    model = helios.Model.random(config, seed=42)
    return model, tokenizer, "Once upon a time"


def main(argv: List[str]) -> int:
    model, tokenizer, prompt = load_or_build(argv)
    print(f"model: {model}")
    print(f"tokenizer: {tokenizer}")

    # 1. Stream: the pieces come while the model generates.
    print(f"\n--- streaming, temperature 0.8, top_k 40, seed 1 ---\n{prompt}", end="")
    with helios.Sampler(model, temperature=0.8, top_k=40, top_p=0.95, seed=1,
                        max_tokens=48) as sampler:
        for piece in sampler.stream_text(tokenizer, prompt):
            print(printable(piece), end="", flush=True)
        print(f"\n[stopped: {sampler.stop_reason.name}, {sampler.context_len} tokens in context]")

    # 2. Greedy decoding (temperature 0) as token ids, with a callback per
    #    token that stops after 10 tokens (a true return value stops).
    ids = tokenizer.encode(prompt)
    with helios.Sampler(model, temperature=0, max_tokens=32) as sampler:
        seen: List[int] = []
        tokens = sampler.generate(ids, on_token=lambda t: seen.append(t) or len(seen) >= 10)
        print(f"\n--- greedy, stopped by the callback after {len(tokens)} tokens ---")
        print(f"ids:  {tokens.tolist()}")
        print(f"text: {printable(tokenizer.decode(tokens))!r}")
        print(f"stop reason: {sampler.stop_reason.name}")

    # 3. Several requests at once: one shared model, one sampler per request,
    #    each on its own thread (the GIL is released while helios computes).
    requests = [("Once upon a time", 1), ("The cat", 2), ("One day", 3), ("Le chat", 4)]

    def serve(request: Tuple[str, int]) -> str:
        text_prompt, seed = request
        with helios.Sampler(model, temperature=0.9, top_k=50, seed=seed, max_tokens=32,
                            threads=1) as request_sampler:
            return request_sampler.generate_text(tokenizer, text_prompt)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = list(pool.map(serve, requests))
    elapsed = time.perf_counter() - started
    print(f"\n--- {len(requests)} requests on {len(requests)} threads, one shared model "
          f"({elapsed * 1000:.0f} ms) ---")
    for (text_prompt, seed), answer in zip(requests, answers):
        print(f"[seed {seed}] {text_prompt}{printable(answer)}")

    # The same seed gives the same text whatever the thread: run them again
    # one after the other and compare.
    same = [serve(request) for request in requests] == answers
    print(f"\nthe same requests run one after the other give the same text: {same}")

    # helios.generate: the one-call convenience (a sampler made and closed for you).
    text = helios.generate(model, tokenizer, prompt, temperature=0.8, seed=7, max_tokens=16,
                           stop_strings=["."])
    print(f"\nhelios.generate(..., stop_strings=['.']): {printable(prompt + text)!r}")
    model.close()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
