"""Train, use, save and reload a byte-level BPE tokenizer with helios.Tokenizer.

Run it with `.venv/bin/python examples/python/tokenizer.py` after `make python`.

A tokenizer turns text into a list of integer ids (what a language model
reads) and back. Byte-level BPE, the scheme of GPT-2, starts from the 256
possible bytes and learns "merges": the most frequent pairs of neighbouring
tokens become new tokens, until the vocabulary has the size you asked for.
Any text can be encoded (at worst one token per byte), and decoding gives the
text back exactly. The files helios writes are Hugging Face `tokenizer.json`
files: `tokenizers.Tokenizer.from_file` reads them, and helios reads theirs.
Nothing here uses the network.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import helios

CORPUS = [
    "The cat sat on the mat. The dog sat on the log.",
    "A tokenizer splits text into tokens; a model reads the token ids.",
    "Byte-level BPE never meets an unknown character: 日本語, café and 😀 work too.",
    "def greet(name):\n    return f'Hello, {name}!'\n",
    "The cat and the dog are friends. The cat sleeps on the mat.",
] * 20  # repeated, so that the frequent pairs become merges


def main() -> int:
    # Train: the vocabulary holds the special tokens (ids 0, 1, ...), the 256
    # byte tokens and the merges learnt from the corpus.
    tokenizer = helios.Tokenizer.train_bpe(
        CORPUS, vocab_size=400, min_frequency=2, special_tokens=["<|endoftext|>"]
    )
    print(f"trained: {tokenizer}")

    # Encode: a numpy array of uint32 ids. A special token inside the text is
    # one id; everything else goes through the learnt merges.
    text = "The cat sat on the log.<|endoftext|>Hello, 世界!"
    ids = tokenizer.encode(text)
    tokens = [tokenizer.id_to_token(int(i)) for i in ids]
    print(f"{len(text.encode('utf-8'))} bytes -> {len(ids)} tokens")
    print(f"ids:    {ids.tolist()}")
    print(f"tokens: {tokens}  ('Ġ' stands for a space)")

    # Decode: the ids give back the text exactly.
    decoded = tokenizer.decode(ids)
    print(f"decoded: {decoded!r}")
    print(f"without special tokens: {tokenizer.decode(ids, skip_special_tokens=True)!r}")

    # Offsets: the bytes of the text each token covers.
    ids, offsets = tokenizer.encode_with_offsets("The cat")
    data = "The cat".encode("utf-8")
    print("offsets: " + ", ".join(f"{data[s:e].decode()!r}" for s, e in offsets.tolist()))

    # Many texts at once, in parallel, in order.
    batch = tokenizer.encode_batch(["the cat", "the dog", "the mat"])
    print(f"batch: {[ids.tolist() for ids in batch]}")

    # Save as tokenizer.json and load it again: the same ids.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tokenizer.json"
        tokenizer.save(path)
        reloaded = helios.Tokenizer.from_file(path)
        same = reloaded.encode(text).tolist() == tokenizer.encode(text).tolist()
        print(f"saved {path.stat().st_size} bytes; reloaded gives the same ids: {same}")

    return 0 if decoded == text and same else 1


if __name__ == "__main__":
    sys.exit(main())
