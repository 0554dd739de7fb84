"""The tokenizer benchmark: helios.Tokenizer against Hugging Face tokenizers.

On about 20 MB of text generated at bench time with fixed seeds (no
downloads): documents of 1 to 16 KB mixing prose (words of a generated
30 000-word lexicon drawn with Zipf frequencies, some accented, with
punctuation, numbers and contractions), code-like lines, CJK sentences and a
few emoji. In one process it measures:

* BPE training at vocab 8 192 (min_frequency 2, special token
  ``<|endoftext|>``): HF's ``ByteLevelBPETokenizer.train`` (files) and
  ``train_from_iterator`` (in-memory strings) against helios'
  ``Tokenizer.train_bpe_files`` and ``Tokenizer.train_bpe``, each on
  --threads threads (HF: ``RAYON_NUM_THREADS``); one run each. The
  compression of both (tokens per byte) on held-out text is printed too.
* Encoding throughput (MB of UTF-8 per second) with ONE tokenizer.json (the
  one HF trained) loaded in both, after checking in the same run that every
  document gets the same ids from both:

  - single-threaded, one call per document: HF ``Tokenizer.encode`` against
    ``helios.Tokenizer.encode`` (each returns its ids for the document; HF's
    ``Encoding`` also carries offsets, which it always computes);
  - single-threaded, one batch call: HF ``encode_batch_fast`` (no offsets)
    with ``TOKENIZERS_PARALLELISM=false`` (a plain loop in Rust) against
    ``helios.Tokenizer.encode_batch(threads=1)``;
  - batched over --threads threads: HF ``encode_batch_fast`` with
    ``TOKENIZERS_PARALLELISM=true`` and ``RAYON_NUM_THREADS`` (set before
    HF is imported) against ``encode_batch(threads=N)``.

  HF's batch times stop when ``encode_batch_fast`` returns its ``Encoding``
  objects (reading their ``.ids`` into Python lists is not timed); helios'
  include building the numpy arrays. Times are the best of --repeats runs
  after a warm-up.

The goals of the issue: encode >= 1.5x HF single-threaded and >= 1.2x
batched; training time <= HF's.

Usage (after `make python`):

    .venv/bin/python benches/bench_tokenizer.py [--mb 20] [--vocab 8192] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import helios

EOT = "<|endoftext|>"
LEXICON_SIZE = 30_000
FUNCTION_WORDS = (
    "the of and to a in is that it was for on are with as his they be at one have this "
    "from or had by not but what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would "
    "make like him into time has look two more write go see number no way could people"
).split()
ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gr pl pr sh sl st str th tr".split()
VOWELS = "a e i o u y ai ea ee ie oo ou".split()
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "rt", "st", "ck", "x"]
ACCENTS = {"a": "àáâä", "e": "èéêë", "i": "ìíîï", "o": "òóôö", "u": "ùúûü", "c": "ç", "n": "ñ"}
EMOJI = ["😀", "👍", "🎉", "🚀", "❤️", "👩\u200d💻", "🇯🇵"]


# ---- the corpus ------------------------------------------------------------------


def make_lexicon(rng: np.random.Generator) -> List[str]:
    """FUNCTION_WORDS first, then generated words (about 6 % of them accented)."""
    words: List[str] = list(FUNCTION_WORDS)
    seen = set(words)
    while len(words) < LEXICON_SIZE:
        syllables = 1 + int(rng.choice(4, p=[0.35, 0.4, 0.2, 0.05]))
        word = "".join(
            ONSETS[rng.integers(len(ONSETS))]
            + VOWELS[rng.integers(len(VOWELS))]
            + CODAS[rng.integers(len(CODAS))]
            for _ in range(syllables)
        )
        if rng.random() < 0.06:
            letters = [i for i, ch in enumerate(word) if ch in ACCENTS]
            if letters:
                i = letters[int(rng.integers(len(letters)))]
                options = ACCENTS[word[i]]
                word = word[:i] + options[int(rng.integers(len(options)))] + word[i + 1 :]
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class CorpusGenerator:
    """Documents of prose, code, CJK and numbers from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.lexicon = np.array(make_lexicon(np.random.default_rng(12345)), dtype=object)
        ranks = np.arange(1, LEXICON_SIZE + 1, dtype=np.float64)
        weights = 1.0 / (ranks + 2.7) ** 1.05  # Zipf-Mandelbrot
        self.cdf = np.cumsum(weights / weights.sum())
        cjk = np.random.default_rng(54321).choice(np.arange(0x4E00, 0x9FA6), 3000, replace=False)
        self.cjk = [chr(int(c)) for c in cjk]
        cjk_weights = 1.0 / np.arange(1, 3001, dtype=np.float64)
        self.cjk_cdf = np.cumsum(cjk_weights / cjk_weights.sum())

    def words(self, n: int) -> List[str]:
        index = np.searchsorted(self.cdf, self.rng.random(n))
        return list(self.lexicon[np.minimum(index, LEXICON_SIZE - 1)])

    def number(self) -> str:
        kind = self.rng.random()
        if kind < 0.4:
            return str(int(self.rng.integers(1, 1000)))
        if kind < 0.6:
            return str(int(self.rng.integers(1900, 2030)))
        if kind < 0.8:
            return f"{self.rng.random() * 100:.2f}"
        return f"{int(self.rng.integers(1, 10**7)):,}"

    def sentence(self) -> str:
        rng = self.rng
        words = self.words(int(rng.integers(4, 26)))
        for i in range(len(words)):
            roll = rng.random()
            if roll < 0.025:
                words[i] = self.number()
            elif roll < 0.035:
                words[i] += "'s"
            elif roll < 0.040:
                words[i] = rng.choice(["don't", "it's", "we're", "they've", "I'm", "you'll"])
            elif roll < 0.100:
                words[i] += ","
            elif roll < 0.104:
                words[i] = f'"{words[i]}"'
            elif roll < 0.106:
                words[i] = f"({words[i]})"
            elif roll < 0.108:
                words[i] += " " + EMOJI[int(rng.integers(len(EMOJI)))]
        words[0] = words[0][:1].upper() + words[0][1:]
        return " ".join(words) + str(rng.choice([".", ".", ".", "?", "!", ":", ";"]))

    def prose(self) -> str:
        sentences = [self.sentence() for _ in range(int(self.rng.integers(2, 9)))]
        return " ".join(sentences) + "\n\n"

    def code(self) -> str:
        rng = self.rng
        lines: List[str] = []
        indent = 0
        for _ in range(int(rng.integers(4, 20))):
            a, b, c, d = self.words(4)
            roll = rng.random()
            pad = "    " * indent
            if roll < 0.15:
                lines.append(f"{pad}def {a}_{b}({c}, {d}=None):")
                indent = min(indent + 1, 3)
            elif roll < 0.25:
                lines.append(f"{pad}if {a}.{b} >= {self.number()} and not {c}:")
                indent = min(indent + 1, 3)
            elif roll < 0.35 and indent:
                lines.append(f"{pad}return {a}[{b}] + {c} * {self.number()}")
                indent -= 1
            elif roll < 0.45:
                lines.append(f"{pad}# {' '.join(self.words(6))}")
            elif roll < 0.55:
                lines.append(f'{pad}{a} = {{"{b}": [{c}, {d}], "n": {self.number()}}}')
            elif roll < 0.62:
                lines.append(f"{pad}for (int {a} = 0; {a} < {b}_len; ++{a}) {{ {c} += {d}[{a}]; }}")
            else:
                lines.append(f"{pad}{a}_{b} = {c}({d}, {self.number()})")
        return "\n".join(lines) + "\n\n"

    def cjk_text(self) -> str:
        rng = self.rng
        parts = []
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.integers(8, 40))
            index = np.searchsorted(self.cjk_cdf, rng.random(n))
            chars = [self.cjk[min(int(i), 2999)] for i in index]
            if n > 12:
                chars.insert(n // 2, "，")
            parts.append("".join(chars) + "。")
        return "".join(parts) + "\n\n"

    def document(self) -> str:
        target = int(self.rng.integers(1000, 16_000))
        blocks: List[str] = []
        size = 0
        while size < target:
            roll = self.rng.random()
            if roll < 0.75:
                block = self.prose()
            elif roll < 0.90:
                block = self.code()
            elif roll < 0.97:
                block = self.cjk_text()
            else:
                block = " | ".join(self.number() for _ in range(12)) + "\n"
            blocks.append(block)
            size += len(block)
        return "".join(blocks)

    def documents(self, megabytes: float) -> List[str]:
        target = int(megabytes * 1_000_000)
        docs: List[str] = []
        size = 0
        while size < target:
            doc = self.document()
            docs.append(doc)
            size += len(doc.encode("utf-8"))
        return docs


# ---- timing ---------------------------------------------------------------------------


def best_time(function: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` wall times of ``function()`` (after one warm-up)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def once(function: Callable[[], Any]) -> Tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def set_hf_parallelism(on: bool) -> None:
    """HF reads TOKENIZERS_PARALLELISM at each batch call."""
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if on else "false"


def compare_ids(hf_tok: Any, tokenizer: helios.Tokenizer, docs: Sequence[str], threads: int) -> int:
    """The number of documents whose ids differ (HF encode_batch vs helios)."""
    set_hf_parallelism(True)
    expected = hf_tok.encode_batch_fast(docs)
    got = tokenizer.encode_batch(docs, threads=threads)
    bad = 0
    for doc, hf_encoding, ids in zip(docs, expected, got):
        if list(hf_encoding.ids) != ids.tolist():
            if bad == 0:
                hf_list = list(hf_encoding.ids)
                first = next(
                    (i for i, (a, b) in enumerate(zip(hf_list, ids.tolist())) if a != b),
                    min(len(hf_list), len(ids)),
                )
                print(f"  first difference at token {first} of a document starting {doc[:60]!r}")
            bad += 1
    return bad


# ---- main -------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="MB of generated text (default 20)")
    parser.add_argument("--vocab", type=int, default=8192, help="vocabulary size (default 8192)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the batched runs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    threads = args.threads

    # HF's rayon pool reads RAYON_NUM_THREADS when it starts: set it first.
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    set_hf_parallelism(True)
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - tokenizers is in requirements-dev.txt
        raise SystemExit("tokenizers is not installed: `pip install -r requirements-dev.txt`")

    print(
        f"bench_tokenizer: {args.mb:g} MB of generated text, vocab {args.vocab}, "
        f"{threads} threads; helios {helios.version()}, tokenizers {tokenizers.__version__}; "
        f"load {load()}"
    )
    started = time.perf_counter()
    docs = CorpusGenerator(1).documents(args.mb)
    held_out = CorpusGenerator(2).documents(max(args.mb / 20, 0.2))
    total_bytes = sum(len(doc.encode("utf-8")) for doc in docs)
    mb = total_bytes / 1e6
    print(
        f"generated {len(docs)} documents, {mb:.1f} MB ({total_bytes} bytes) in "
        f"{time.perf_counter() - started:.1f} s"
    )

    with tempfile.TemporaryDirectory() as folder:
        corpus_path = Path(folder) / "corpus.txt"
        corpus_path.write_text("".join(docs), "utf-8")

        # ---- training -----------------------------------------------------------
        print(
            f"\n## BPE training, vocab {args.vocab}, min_frequency 2, {threads} threads "
            f"(one run each)"
        )
        trainings: Dict[str, float] = {}

        def hf_train_files() -> Any:
            trained = tokenizers.ByteLevelBPETokenizer()
            trained.train(
                [str(corpus_path)],
                vocab_size=args.vocab,
                min_frequency=2,
                special_tokens=[EOT],
                show_progress=False,
            )
            return trained

        def hf_train_memory() -> Any:
            trained = tokenizers.ByteLevelBPETokenizer()
            trained.train_from_iterator(
                docs, vocab_size=args.vocab, min_frequency=2, special_tokens=[EOT],
                show_progress=False, length=len(docs),
            )
            return trained

        set_hf_parallelism(True)
        trainings["hf files"], hf_trained = once(hf_train_files)
        trainings["hf memory"], hf_memory = once(hf_train_memory)
        trainings["helios files"], helios_trained = once(
            lambda: helios.Tokenizer.train_bpe_files(
                [corpus_path], args.vocab, 2, [EOT], threads=threads
            )
        )
        trainings["helios memory"], helios_memory = once(
            lambda: helios.Tokenizer.train_bpe(docs, args.vocab, 2, [EOT], threads=threads)
        )
        print(f"{'contender':<54} {'seconds':>8} {'HF time / helios time':>22}")
        for source in ("files", "memory"):
            hf_s, helios_s = trainings[f"hf {source}"], trainings[f"helios {source}"]
            api = "train" if source == "files" else "train_from_iterator"
            print(f"{'HF ByteLevelBPETokenizer.' + api + ' (' + source + ')':<54} {hf_s:>8.2f}")
            name = "train_bpe_files" if source == "files" else "train_bpe"
            print(f"{'helios Tokenizer.' + name + ' (' + source + ')':<54} {helios_s:>8.2f} "
                  f"{hf_s / helios_s:>21.2f}x")

        hf_json = Path(folder) / "tokenizer.json"
        hf_trained.save(str(hf_json))
        hf_tok = tokenizers.Tokenizer.from_file(str(hf_json))
        helios_json = Path(folder) / "helios.json"
        helios_trained.save(helios_json)
        helios_in_hf = tokenizers.Tokenizer.from_file(str(helios_json))
        held_bytes = sum(len(doc.encode("utf-8")) for doc in held_out)
        hf_tokens = sum(len(e.ids) for e in hf_tok.encode_batch_fast(held_out))
        helios_tokens = sum(len(ids) for ids in helios_trained.encode_batch(held_out))
        in_hf = helios_in_hf.encode_batch_fast(held_out)
        in_helios = helios_trained.encode_batch(held_out)
        same_in_hf = sum(list(e.ids) == ids.tolist() for e, ids in zip(in_hf, in_helios))
        print(
            f"held-out compression ({held_bytes / 1e6:.2f} MB, trained from files): HF "
            f"{hf_tokens / held_bytes:.4f} tokens/byte, helios "
            f"{helios_tokens / held_bytes:.4f} ({100 * (helios_tokens / hf_tokens - 1):+.2f} %)"
        )
        print(
            f"helios' tokenizer.json in HF: {same_in_hf}/{len(held_out)} held-out documents "
            f"with equal ids"
        )
        same_memory = _merges(helios_memory.to_json()) == _merges(hf_memory._tokenizer.to_str())
        same_files = _merges(helios_trained.to_json()) == _merges(hf_tok.to_str())
        print(
            f"merges equal to HF's: in memory {same_memory}, from files {same_files} (HF's "
            f"train(files) trains on each line, helios' train_bpe_files on each whole file)"
        )

        # ---- encoding -----------------------------------------------------------
        tokenizer = helios.Tokenizer.from_file(hf_json)
        bad = compare_ids(hf_tok, tokenizer, docs, threads)
        token_count = sum(len(ids) for ids in tokenizer.encode_batch(docs, threads=threads))
        print(
            f"\n## Encoding {mb:.1f} MB ({token_count} tokens, {token_count / total_bytes:.4f} "
            f"per byte) with HF's tokenizer.json in both"
        )
        print(f"ids equal to HF's for {len(docs) - bad}/{len(docs)} documents")

        rows: List[Tuple[str, str, float, float]] = []

        def hf_each() -> None:
            for doc in docs:
                hf_tok.encode(doc)

        def helios_each() -> None:
            for doc in docs:
                tokenizer.encode(doc)

        set_hf_parallelism(False)
        rows.append(("1 thread, per document", "HF encode", best_time(hf_each, args.repeats), 0))
        rows.append(
            ("1 thread, per document", "helios encode", best_time(helios_each, args.repeats), 0)
        )
        rows.append(
            (
                "1 thread, one batch",
                "HF encode_batch_fast (parallelism off)",
                best_time(lambda: hf_tok.encode_batch_fast(docs), args.repeats),
                0,
            )
        )
        rows.append(
            (
                "1 thread, one batch",
                "helios encode_batch(threads=1)",
                best_time(lambda: tokenizer.encode_batch(docs, threads=1), args.repeats),
                0,
            )
        )
        set_hf_parallelism(True)
        rows.append(
            (
                f"{threads} threads, one batch",
                f"HF encode_batch_fast (RAYON_NUM_THREADS={threads})",
                best_time(lambda: hf_tok.encode_batch_fast(docs), args.repeats),
                0,
            )
        )
        rows.append(
            (
                f"{threads} threads, one batch",
                f"helios encode_batch(threads={threads})",
                best_time(lambda: tokenizer.encode_batch(docs, threads=threads), args.repeats),
                0,
            )
        )

        print(f"{'mode':<24} {'contender':<42} {'seconds':>8} {'MB/s':>8} {'helios/HF':>10}")
        hf_seconds: Dict[str, float] = {}
        for mode, name, seconds, _ in rows:
            if name.startswith("HF"):
                hf_seconds[mode] = seconds
                ratio = ""
            else:
                ratio = f"{hf_seconds[mode] / seconds:9.2f}x"
            print(f"{mode:<24} {name:<42} {seconds:>8.3f} {mb / seconds:>8.2f} {ratio:>10}")

    print(
        "\ngoals: encode >= 1.5x HF single-threaded, >= 1.2x batched; training time <= HF's"
    )
    print(f"load at the end: {load()}")


def _merges(text: str) -> List[Tuple[str, ...]]:
    import json

    merges = json.loads(text)["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


if __name__ == "__main__":
    main()
