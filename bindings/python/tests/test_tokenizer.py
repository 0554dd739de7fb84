"""helios.Tokenizer: byte-level BPE against Hugging Face tokenizers (loading
its tokenizer.json and its vocab.json + merges.txt, encoding, decoding,
training, saving), round trips on random UTF-8, offsets checked with an
independent GPT-2 byte table, sharing across threads, determinism, the
char-level tokenizer, and bad input."""

from __future__ import annotations

import copy
import ctypes
import doctest
import gc
import inspect
import json
import pickle
import random
import re
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import pytest

import helios
from helios import _tokenizer

# The fixed phrases of docs/THREADING.md (as in test_basics).
REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"

EOT = "<|endoftext|>"
VOCAB = 1000


def status_of(call: Callable[[], object]) -> helios.HeliosError:
    with pytest.raises(helios.HeliosError) as caught:
        call()
    return caught.value


# ---- the corpora ------------------------------------------------------------------

PROSE_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this "
    "have from or one had by word but not what all were we when your can said there "
    "use an each which she do how their if will up other about out many then them "
    "these so some her would make like him into time has look two more write go see "
    "number no way could people my than first water been call who its now find long "
    "down day did get come made may part tokenizer merge vocabulary model language"
).split()
CAPITALISED = "The It We They She He London Paris Alice Bob GPT Unicode Rust Python".split()
CONTRACTIONS = (
    "don't it's we're they've I'm you'll he'd can't IT'S WE'RE I'M She'S that'll "
    "o'clock rock'n'roll 'quoted' ''double''"
).split()
ACCENTED = (
    "café naïve über Ångström façade déjà crème brûlée señor niño jalapeño Zürich "
    "São garçon résumé coöperate Dvořák Łódź İstanbul straße ÉCOLE"
).split()
# Decomposed accents: a base letter and a combining mark (U+0301, U+0308, U+0327).
COMBINING = ["cafe\u0301", "nai\u0308ve", "fac\u0327ade", "e\u0301e\u0301", "Z\u0336\u0335"]
CJK = ["日本語のテキストです。", "中文分词测试，你好世界！", "한국어 문장입니다", "東京都", "漢字かなカナ"]
INDIC_ARABIC = ["नमस्ते दुनिया", "हिन्दी भाषा", "مرحبا بالعالم", "العربيَّة", "தமிழ்", "ไทย"]
EMOJI = ["😀", "👍🏽", "👩\u200d👩\u200d👧", "🇫🇷🇩🇪", "❤️", "🏳️\u200d🌈", "🤖🤖🤖"]
NUMBERS = ["2024", "3.14159", "1,000,000", "0x1F600", "²³", "½", "Ⅻ", "٣٤٥", "१२३", "１２３"]
CODE_LINES = [
    "def f(x):\n    return x + 1\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    'if __name__ == "__main__":\n    main()\n',
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }\n",
    "    x = {'a': [1, 2, 3], \"b\": None}  # comment\n",
    "SELECT * FROM users WHERE id >= 42;\n",
    "<div class=\"row\">&nbsp;</div>\n",
]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", " \t ", "\r\n", "\u3000", "\u00a0", "\u2009"]


def generated_text(seed: int, lines: int) -> List[str]:
    """``lines`` lines of mixed prose, code and multilingual text (seeded)."""
    rng = random.Random(seed)
    out: List[str] = []
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.12:
            out.append(rng.choice(CODE_LINES))
            continue
        words: List[str] = []
        for position in range(rng.randint(3, 18)):
            pick = rng.random()
            if position == 0 and pick < 0.5:
                words.append(rng.choice(CAPITALISED))
            elif pick < 0.70:
                words.append(rng.choice(PROSE_WORDS))
            elif pick < 0.77:
                words.append(rng.choice(CONTRACTIONS))
            elif pick < 0.83:
                words.append(rng.choice(ACCENTED))
            elif pick < 0.86:
                words.append(rng.choice(COMBINING))
            elif pick < 0.90:
                words.append(rng.choice(CJK))
            elif pick < 0.93:
                words.append(rng.choice(INDIC_ARABIC))
            elif pick < 0.96:
                words.append(rng.choice(NUMBERS + [str(rng.randint(0, 99999))]))
            else:
                words.append(rng.choice(EMOJI))
        line = ""
        for word in words:
            gap = rng.choice(SPACES) if rng.random() < 0.08 else " "
            line += (gap if line else "") + word
            if rng.random() < 0.08:
                line += rng.choice([",", ".", "!", "?", ";", ":", "...", " -", "\""])
        if rng.random() < 0.03:
            line += " " + EOT
        out.append(line + rng.choice(["\n", "\n", "\n\n", " \n", "  \n"]))
    return out


TRAIN_CORPUS = generated_text(1, 3000)
HELD_OUT = "".join(generated_text(2, 600))

# The hand-written cases the issue lists, each encoded on its own.
TEST_TEXTS: List[str] = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "A sentence with trailing whitespace   ",
    "trailing newline\n",
    "\n\n\n",
    " \t ",
    "  leading spaces",
    "tabs\tand\t\ttabs\t",
    "lines\n\nwith\n\n\nblank ones\n \n",
    "mixed \n \t\r\n  whitespace runs    \n\n  end",
    "    indented code",
    "def f(x):\n    return x + 1\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "don't it's we're they've I'm you'll he'd",
    "IT'S WE'RE THEY'VE I'M YOU'LL HE'D DON'T",  # uppercase: GPT-2 does not split them off
    "the cat's hat 's 't 're 've 'm 'll 'd 'x ''s",
    "123 4567 89012345 3.14159 1,000,000 -42 +7",
    "²³ ½ Ⅻ ٣٤٥ १२३ １２３",
    "café naïve über Ångström façade déjà vu",
    "cafe\u0301 nai\u0308ve e\u0301e\u0301e\u0301 Z\u0336\u0335",  # combining marks
    "\u0301 starts with a combining mark",
    "日本語のテキストです。中文分词测试，你好世界！",
    "한국어 문장입니다",
    "😀 👍🏽 👩\u200d👩\u200d👧 🇫🇷🇩🇪 ❤️ 🏳️\u200d🌈",
    "👩\u200d👩\u200d👧\u200d👦👩\u200d👩\u200d👧",
    "नमस्ते दुनिया हिन्दी",  # Devanagari vowel signs: marks, not letters
    "مرحبا بالعالم العربيَّة",
    "தமிழ் ไทย",
    "ideographic\u3000space\u3000\u3000twice",
    "nbsp\u00a0thin\u2009hair\u200aem\u2003narrow\u202fmath\u205fogham\u1680end",
    "line\u2028separator\u2029paragraph\u0085next",
    "zero\u200bwidth\ufeffbom\u200djoiner\u200cnon",
    "vertical\x0btab\x0cform feed",
    f"{EOT}",
    f"Hello{EOT}world",
    f"before {EOT} after",
    f"{EOT}{EOT}{EOT}",
    f"text{EOT}\n{EOT} text",
    "<|endoftext|",  # not the special token
    "<|endoftext|>>",
    "<|end",
    "\x00nul\x00 and \x01 control \x7f chars",
    "mañana ÑANDÚ İı ß ẞ ǅ",
    "😀" * 20,
    "a" * 300,
    " " * 40 + "x",
    "aaaaaaaaaaaaaaaa bbbbbbbbbbbbb " * 10,
]


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's table from bytes to printable characters (written out here
    independently of helios and of tokenizers)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes)}


BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}


def token_bytes(token: str, specials: Sequence[str]) -> bytes:
    """The text bytes a vocabulary string stands for."""
    if token in specials:
        return token.encode("utf-8")
    return bytes(BYTE_OF_CHAR[char] for char in token)


# ---- Hugging Face references (trained once per session) -----------------------------


@pytest.fixture(scope="session")
def hf() -> Any:
    """The tokenizers package, or skip."""
    return pytest.importorskip("tokenizers")


@pytest.fixture(scope="session")
def hf_trained(hf: Any, tmp_path_factory: pytest.TempPathFactory) -> Tuple[Any, Path]:
    """HF's ByteLevelBPETokenizer trained on TRAIN_CORPUS, and a folder holding
    its tokenizer.json and (in a sub-folder) its vocab.json + merges.txt."""
    folder = tmp_path_factory.mktemp("hf")
    trained = hf.ByteLevelBPETokenizer()
    trained.train_from_iterator(
        TRAIN_CORPUS, vocab_size=VOCAB, min_frequency=2, special_tokens=[EOT], show_progress=False
    )
    trained.save(str(folder / "tokenizer.json"))
    (folder / "gpt2").mkdir()
    trained.save_model(str(folder / "gpt2"))
    return trained, folder


@pytest.fixture(scope="session")
def hf_json(hf_trained: Tuple[Any, Path]) -> Path:
    return hf_trained[1] / "tokenizer.json"


@pytest.fixture(scope="session")
def loaded(hf_json: Path) -> helios.Tokenizer:
    """helios' tokenizer loaded from HF's tokenizer.json."""
    return helios.Tokenizer.from_file(hf_json)


@pytest.fixture(scope="session")
def hf_reference(hf: Any, hf_json: Path) -> Any:
    return hf.Tokenizer.from_file(str(hf_json))


def hf_ids(reference: Any, text: str) -> List[int]:
    return list(reference.encode(text).ids)


def assert_same_as_hf(tokenizer: helios.Tokenizer, reference: Any, texts: Sequence[str]) -> None:
    """Ids equal HF's; decode equals HF's decode and the text."""
    for text in texts:
        ids = tokenizer.encode(text)
        assert ids.dtype == np.uint32 and ids.ndim == 1
        expected = hf_ids(reference, text)
        assert ids.tolist() == expected, f"ids differ for {text!r}"
        decoded = tokenizer.decode(ids)
        assert decoded == reference.decode(expected, skip_special_tokens=False), repr(text)
        assert decoded == text


# ---- (a) HF's tokenizer.json -------------------------------------------------------


def test_hf_tokenizer_json_encodes_and_decodes_as_hf(
    loaded: helios.Tokenizer, hf_reference: Any
) -> None:
    assert loaded.vocab_size == hf_reference.get_vocab_size() == VOCAB
    assert_same_as_hf(loaded, hf_reference, TEST_TEXTS)
    assert_same_as_hf(loaded, hf_reference, ["".join(TEST_TEXTS), HELD_OUT])
    assert_same_as_hf(loaded, hf_reference, generated_text(3, 200))


def test_the_vocabulary_is_hfs(loaded: helios.Tokenizer, hf_reference: Any) -> None:
    vocab = hf_reference.get_vocab()
    assert len(vocab) == VOCAB
    for token, token_id in vocab.items():
        assert loaded.token_to_id(token) == token_id, token
        assert loaded.id_to_token(token_id) == token
    assert loaded.id_to_token(0) == EOT and loaded.token_to_id(EOT) == 0
    assert loaded.token_to_id("Ġthe") == vocab["Ġthe"]
    assert loaded.token_to_id("not a token at all") is None
    assert loaded.token_to_id("") is None
    assert len(loaded) == VOCAB


def test_decode_equals_hf_on_any_id_sequence(loaded: helios.Tokenizer, hf_reference: Any) -> None:
    """Random ids: partial UTF-8 sequences become U+FFFD exactly as in HF
    (String::from_utf8_lossy), with and without the special tokens."""
    rng = random.Random(7)
    for _ in range(300):
        ids = [rng.randrange(VOCAB) for _ in range(rng.randint(0, 12))]
        if rng.random() < 0.3:
            ids.insert(rng.randint(0, len(ids)), 0)
        for skip in (False, True):
            expected = hf_reference.decode(ids, skip_special_tokens=skip)
            assert loaded.decode(ids, skip_special_tokens=skip) == expected, (ids, skip)
    # A multi-byte character cut between tokens.
    ids = loaded.encode("日本")
    for end in range(len(ids) + 1):
        prefix = ids[:end].tolist()
        assert loaded.decode(prefix) == hf_reference.decode(prefix, skip_special_tokens=False)
    assert loaded.decode([]) == ""
    assert loaded.decode(np.array([0], np.int64)) == EOT
    assert loaded.decode([0], skip_special_tokens=True) == ""


def test_helios_json_of_a_loaded_tokenizer_loads_in_hf(
    hf: Any, loaded: helios.Tokenizer, tmp_path: Path
) -> None:
    text = loaded.to_json()
    again = hf.Tokenizer.from_str(text)
    assert_same_as_hf(loaded, again, TEST_TEXTS + [HELD_OUT])
    loaded.save(tmp_path / "saved.json")
    assert (tmp_path / "saved.json").read_text("utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["saved.json"]  # no temporary left
    reloaded = helios.Tokenizer.from_file(tmp_path / "saved.json")
    assert reloaded.to_json() == text
    assert helios.Tokenizer.from_json(text.encode("utf-8")).to_json() == text


def test_merges_as_strings_load_as_the_pairs_do(
    hf: Any, hf_json: Path, hf_reference: Any
) -> None:
    """tokenizer.json of older tokenizers versions writes merges as "a b" strings."""
    document = json.loads(hf_json.read_text("utf-8"))
    merges = document["model"]["merges"]
    assert isinstance(merges[0], list)  # tokenizers 0.23 writes pairs
    document["model"]["merges"] = [" ".join(pair) for pair in merges]
    tokenizer = helios.Tokenizer.from_json(json.dumps(document))
    reference = hf.Tokenizer.from_str(json.dumps(document))
    assert_same_as_hf(tokenizer, reference, TEST_TEXTS)
    assert_same_as_hf(tokenizer, hf_reference, TEST_TEXTS)


def hf_variant(hf: Any, name: str) -> Any:
    """An HF tokenizer of another configuration, trained on part of TRAIN_CORPUS."""
    models, trainers, decoders = hf.models, hf.trainers, hf.decoders
    corpus = TRAIN_CORPUS[:1000]
    options: Dict[str, Any] = {"vocab_size": 600, "min_frequency": 2, "show_progress": False}
    if name in ("prefix_space", "lowercase", "char_bpe", "sentencepiece"):
        make = {
            "prefix_space": lambda: hf.ByteLevelBPETokenizer(add_prefix_space=True),
            "lowercase": lambda: hf.ByteLevelBPETokenizer(lowercase=True),
            "char_bpe": hf.CharBPETokenizer,
            "sentencepiece": hf.SentencePieceBPETokenizer,
        }
        tokenizer = make[name]()
        tokenizer.train_from_iterator(corpus, special_tokens=[EOT], **options)
        return tokenizer
    if name == "wordpiece":
        tokenizer = hf.BertWordPieceTokenizer()
        tokenizer.train_from_iterator(corpus, vocab_size=600, show_progress=False)
        return tokenizer
    specials = ["[UNK]", EOT]
    if name == "byte_level_no_regex":
        tokenizer = hf.Tokenizer(models.BPE())
        byte_level = hf.pre_tokenizers.ByteLevel
        tokenizer.pre_tokenizer = byte_level(add_prefix_space=False, use_regex=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = byte_level.alphabet()
        trainer = trainers.BpeTrainer(special_tokens=[EOT], initial_alphabet=alphabet, **options)
    elif name == "plain_unk":  # no pre-tokenizer, no decoder: tokens joined by spaces
        tokenizer = hf.Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer = trainers.BpeTrainer(special_tokens=specials, limit_alphabet=120, **options)
    elif name == "plain_fuse_unk":
        tokenizer = hf.Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=True))
        tokenizer.decoder = decoders.Fuse()
        trainer = trainers.BpeTrainer(special_tokens=specials, limit_alphabet=120, **options)
    elif name == "whitespace":
        tokenizer = hf.Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = hf.pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(special_tokens=specials, **options)
    else:  # pragma: no cover
        raise ValueError(name)
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


@pytest.mark.parametrize(
    "name", ["prefix_space", "lowercase", "byte_level_no_regex", "plain_unk", "plain_fuse_unk"]
)
def test_other_supported_configurations_encode_and_decode_as_hf(hf: Any, name: str) -> None:
    reference = hf_variant(hf, name)
    tokenizer = helios.Tokenizer.from_json(reference.to_str())
    assert tokenizer.vocab_size == reference.get_vocab_size()
    for text in TEST_TEXTS + [HELD_OUT]:
        expected = list(reference.encode(text).ids)
        ids = tokenizer.encode(text)
        assert ids.tolist() == expected, f"{name}: ids differ for {text!r}"
        assert tokenizer.decode(ids) == reference.decode(expected, skip_special_tokens=False)
    # helios' own tokenizer.json of it loads in HF and encodes the same.
    again = hf.Tokenizer.from_str(tokenizer.to_json())
    for text in TEST_TEXTS:
        assert list(again.encode(text).ids) == tokenizer.encode(text).tolist(), (name, text)


@pytest.mark.parametrize(
    "name,component",
    [
        ("char_bpe", "BertNormalizer"),
        ("sentencepiece", "NFKC"),
        ("whitespace", "Whitespace"),
        ("wordpiece", "BertNormalizer"),
    ],
)
def test_unsupported_configurations_are_refused_naming_the_component(
    hf: Any, name: str, component: str
) -> None:
    """Never a tokenizer that silently encodes differently from HF."""
    error = status_of(lambda: helios.Tokenizer.from_json(hf_variant(hf, name).to_str()))
    assert error.status == "HELIOS_ERR_UNSUPPORTED"
    assert component in error.message, error.message


# ---- (b) vocab.json + merges.txt ---------------------------------------------------


def test_vocab_and_merges_files_encode_as_hf(
    hf: Any, hf_trained: Tuple[Any, Path], tmp_path: Path
) -> None:
    gpt2 = hf_trained[1] / "gpt2"
    vocab, merges = gpt2 / "vocab.json", gpt2 / "merges.txt"
    reference = hf.ByteLevelBPETokenizer(str(vocab), str(merges))
    reference.add_special_tokens([EOT])
    texts = TEST_TEXTS + [HELD_OUT]
    from_files = helios.Tokenizer.from_vocab_merges(vocab, merges)
    assert_same_as_hf(from_files, reference, texts)
    from_dir = helios.Tokenizer.from_pretrained_dir(gpt2)
    assert_same_as_hf(from_dir, reference, texts)
    assert from_files.vocab_size == from_dir.vocab_size == reference.get_vocab_size()
    # The special token is matched inside text (ids equal HF's above), and
    # skipped by decode on request.
    assert from_files.decode(from_files.encode(f"a{EOT}b"), skip_special_tokens=True) == "ab"
    # str paths work too
    as_str = helios.Tokenizer.from_vocab_merges(str(vocab), str(merges))
    assert from_files.to_json() == as_str.to_json()


def test_a_pretrained_dir_prefers_tokenizer_json(
    hf_trained: Tuple[Any, Path], loaded: helios.Tokenizer, tmp_path: Path
) -> None:
    folder = hf_trained[1]
    assert (folder / "tokenizer.json").is_file() and (folder / "gpt2").is_dir()
    from_dir = helios.Tokenizer.from_pretrained_dir(folder)
    assert from_dir.to_json() == loaded.to_json()
    # Only vocab.json without merges.txt: an IO error naming merges.txt.
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "vocab.json").write_bytes((folder / "gpt2" / "vocab.json").read_bytes())
    error = status_of(lambda: helios.Tokenizer.from_pretrained_dir(lonely))
    assert error.status == "HELIOS_ERR_IO" and "merges.txt" in error.message
    empty = tmp_path / "empty"
    empty.mkdir()
    error = status_of(lambda: helios.Tokenizer.from_pretrained_dir(empty))
    assert error.status == "HELIOS_ERR_IO" and "tokenizer.json" in error.message


# ---- (c) round trips and HF on random UTF-8 ------------------------------------------

# Code point ranges the random strings draw from (surrogates excluded below).
RANGES = [
    (0x20, 0x7E),  # ASCII
    (0x00, 0x1F),  # controls, \t \n \r among them
    (0x80, 0x24F),  # Latin-1, Latin Extended
    (0x300, 0x36F),  # combining marks
    (0x370, 0x52F),  # Greek, Cyrillic
    (0x591, 0x6FF),  # Hebrew, Arabic (with marks)
    (0x900, 0x97F),  # Devanagari
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2000, 0x206F),  # general punctuation: spaces, ZWJ, separators
    (0x3000, 0x30FF),  # CJK symbols, kana
    (0x4E00, 0x9FFF),  # CJK
    (0xAC00, 0xD7A3),  # Hangul
    (0xE000, 0xF8FF),  # private use
    (0xFE00, 0xFFFF),  # variation selectors, specials, noncharacters
    (0x1F300, 0x1FAFF),  # emoji
    (0x10000, 0x10FFFF),  # anything astral
]
PIECES = [EOT, "'s", "'S", " ", "  ", "\n", "\r\n", "\t", "\u3000", "\u200d", "e\u0301", "👩\u200d👧"]


def random_text(rng: random.Random, length: int) -> str:
    chars: List[str] = []
    while len(chars) < length:
        if rng.random() < 0.15:
            chars.append(rng.choice(PIECES))
            continue
        low, high = rng.choice(RANGES)
        code = rng.randint(low, high)
        if 0xD800 <= code <= 0xDFFF:
            continue
        run = rng.randint(1, 4)  # runs, so that merges get a chance
        chars.append(chr(code) * run if rng.random() < 0.2 else chr(code))
    return "".join(chars)


def test_decode_of_encode_is_the_text_for_random_utf8(loaded: helios.Tokenizer) -> None:
    rng = random.Random(20240601)
    for _ in range(2000):
        text = random_text(rng, rng.randint(0, 40))
        ids = loaded.encode(text)
        assert loaded.decode(ids) == text, repr(text)
        assert loaded.decode(loaded.encode(text.encode("utf-8"))) == text


def test_random_utf8_encodes_as_hf(loaded: helios.Tokenizer, hf_reference: Any) -> None:
    rng = random.Random(99)
    mismatches = []
    for _ in range(2000):
        text = random_text(rng, rng.randint(1, 30))
        if loaded.encode(text).tolist() != hf_ids(hf_reference, text):
            mismatches.append(text)
    assert not mismatches, f"{len(mismatches)} texts differ from HF, e.g. {mismatches[:3]!r}"


def test_every_single_character_encodes_as_hf(loaded: helios.Tokenizer, hf_reference: Any) -> None:
    """Each code point below U+30000 (surrogates aside) between two letters and
    after a space: the split classes (letter, number, space, other) agree with HF."""
    codes = [c for c in range(0x30000) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"a{chr(c)}b {chr(c)}{chr(c)}" for c in codes]
    got = loaded.encode_batch(texts, threads=2)
    expected = hf_reference.encode_batch(texts)
    bad = [hex(c) for c, g, e in zip(codes, got, expected) if g.tolist() != list(e.ids)]
    assert not bad, f"{len(bad)} code points differ from HF: {bad[:20]}"


# ---- (d) a tokenizer trained by helios ------------------------------------------------


@pytest.fixture(scope="session")
def helios_trained() -> helios.Tokenizer:
    return helios.Tokenizer.train_bpe(
        TRAIN_CORPUS, vocab_size=VOCAB, min_frequency=2, special_tokens=[EOT]
    )


def test_a_helios_trained_tokenizer_loads_in_hf_and_encodes_identically(
    hf: Any, helios_trained: helios.Tokenizer, tmp_path: Path
) -> None:
    assert helios_trained.vocab_size == VOCAB
    assert helios_trained.id_to_token(0) == EOT
    path = tmp_path / "tokenizer.json"
    helios_trained.save(path)
    reference = hf.Tokenizer.from_file(str(path))
    assert reference.get_vocab_size() == VOCAB
    assert_same_as_hf(helios_trained, reference, TEST_TEXTS + [HELD_OUT])
    for i in range(VOCAB):
        assert helios_trained.token_to_id(helios_trained.id_to_token(i)) == i


def test_helios_training_compresses_within_2_percent_of_hf(
    hf_reference: Any, helios_trained: helios.Tokenizer
) -> None:
    size = len(HELD_OUT.encode("utf-8"))
    helios_rate = len(helios_trained.encode(HELD_OUT)) / size
    hf_rate = len(hf_reference.encode(HELD_OUT).ids) / size
    assert abs(helios_rate / hf_rate - 1) <= 0.02, (helios_rate, hf_rate)


def test_the_merges_are_hfs_merges(
    hf_json: Path, helios_trained: helios.Tokenizer
) -> None:
    """The same counts and the same tie rule give HF's merge list (an
    informative check of the documented tie rule against HF's)."""
    ours = json.loads(helios_trained.to_json())["model"]
    theirs = json.loads(hf_json.read_text("utf-8"))["model"]

    def as_pairs(merges: List[Any]) -> List[Tuple[str, ...]]:
        return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]

    assert as_pairs(ours["merges"]) == as_pairs(theirs["merges"])
    assert ours["vocab"] == theirs["vocab"]


def test_train_bpe_files_equals_train_bpe(tmp_path: Path) -> None:
    # Lines of words separated by single spaces: GPT-2's pattern then splits a
    # file the same way whether it is read whole or line by line.
    lines = [" ".join(line.split()) + "\n" for line in TRAIN_CORPUS if line.strip()]
    half = len(lines) // 2
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("".join(lines[:half]), "utf-8")
    second.write_text("".join(lines[half:]), "utf-8")
    options: Dict[str, Any] = {"vocab_size": 800, "min_frequency": 3, "special_tokens": [EOT]}
    from_files = helios.Tokenizer.train_bpe_files([first, str(second)], **options)
    from_texts = helios.Tokenizer.train_bpe(lines, **options)
    whole = helios.Tokenizer.train_bpe(["".join(lines)], **options)
    assert from_files.to_json() == from_texts.to_json() == whole.to_json()
    assert from_files.vocab_size == 800
    one = helios.Tokenizer.train_bpe_files(first, **options)  # a single path
    assert one.to_json() == helios.Tokenizer.train_bpe(lines[:half], **options).to_json()


def test_train_bpe_files_reads_each_file_as_one_text(tmp_path: Path) -> None:
    """As the C header documents: the contents of each file are one text (a
    run of whitespace such as "\n" + indentation stays one pre-token). HF's
    ``ByteLevelBPETokenizer.train(files)`` differs: it splits files into lines."""
    contents = ["".join(TRAIN_CORPUS[:1500]), "".join(TRAIN_CORPUS[1500:])]
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for path, text in zip(paths, contents):
        path.write_bytes(text.encode("utf-8"))
    options: Dict[str, Any] = {"vocab_size": 800, "special_tokens": [EOT]}
    from_files = helios.Tokenizer.train_bpe_files(paths, **options)
    assert from_files.to_json() == helios.Tokenizer.train_bpe(contents, **options).to_json()


# ---- (e) sharing ---------------------------------------------------------------------


def test_eight_threads_on_one_tokenizer_equal_sequential(loaded: helios.Tokenizer) -> None:
    texts = ["".join(generated_text(100 + i, 150)) for i in range(8)]
    expected = [loaded.encode(text) for text in texts]
    results: List[List[np.ndarray]] = [[] for _ in texts]
    barrier = threading.Barrier(len(texts))
    errors: List[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                results[i].append(loaded.encode(texts[i]))
                assert loaded.decode(results[i][-1]) == texts[i]
        except BaseException as error:  # noqa: B036 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for i, runs in enumerate(results):
        assert len(runs) == 5
        for ids in runs:
            np.testing.assert_array_equal(ids, expected[i])


def test_close_while_other_threads_encode(hf_json: Path) -> None:
    tokenizer = helios.Tokenizer.from_file(hf_json)
    text = HELD_OUT[:5000]
    expected = tokenizer.encode(text)
    start = threading.Barrier(4)
    outcomes: List[str] = []

    def encode() -> None:
        start.wait()
        while True:
            try:
                ids = tokenizer.encode_batch([text, text], threads=1)
            except ValueError as error:
                closed = "this helios.Tokenizer is closed" in str(error)
                outcomes.append("closed" if closed else repr(error))
                return
            if not all(np.array_equal(one, expected) for one in ids):
                outcomes.append("wrong result")
                return

    workers = [threading.Thread(target=encode) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.wait()
    tokenizer.close()
    for worker in workers:
        worker.join()
    assert outcomes == ["closed"] * 3


@pytest.mark.parametrize("threads", [1, 2, 3, None])
def test_encode_batch_equals_encode(loaded: helios.Tokenizer, threads: Any) -> None:
    texts = TEST_TEXTS + generated_text(5, 100) + [""]
    batch = loaded.encode_batch(texts, threads=threads)
    assert len(batch) == len(texts)
    for text, ids in zip(texts, batch):
        assert ids.dtype == np.uint32
        np.testing.assert_array_equal(ids, loaded.encode(text))
    assert loaded.encode_batch([], threads=threads) == []
    single = loaded.encode_batch(iter(["only one"]), threads=threads)
    np.testing.assert_array_equal(single[0], loaded.encode("only one"))


def test_encode_batch_equals_hf_encode_batch(loaded: helios.Tokenizer, hf_reference: Any) -> None:
    texts = generated_text(6, 300)
    got = loaded.encode_batch(texts, threads=2)
    expected = hf_reference.encode_batch(texts)
    assert [ids.tolist() for ids in got] == [list(e.ids) for e in expected]


# ---- (f) determinism ------------------------------------------------------------------


def test_training_is_identical_for_every_thread_count() -> None:
    corpus = TRAIN_CORPUS[:1500]
    jsons = {
        threads: helios.Tokenizer.train_bpe(
            corpus, vocab_size=700, min_frequency=2, special_tokens=[EOT, "<pad>"], threads=threads
        ).to_json()
        for threads in (1, 2, 3)
    }
    assert jsons[1] == jsons[2] == jsons[3]
    again = helios.Tokenizer.train_bpe(
        corpus, vocab_size=700, min_frequency=2, special_tokens=[EOT, "<pad>"], threads=2
    )
    assert again.to_json() == jsons[1]


# ---- (g) offsets ---------------------------------------------------------------------------


def test_offsets_tile_the_text_and_match_the_token_bytes(loaded: helios.Tokenizer) -> None:
    rng = random.Random(3)
    texts = TEST_TEXTS + [HELD_OUT[:3000]] + [random_text(rng, 30) for _ in range(200)]
    for text in texts:
        data = text.encode("utf-8")
        ids, offsets = loaded.encode_with_offsets(text)
        np.testing.assert_array_equal(ids, loaded.encode(text))
        assert offsets.shape == (len(ids), 2)
        position = 0
        for token_id, (start, end) in zip(ids.tolist(), offsets.tolist()):
            assert start == position and end > start, (text, start, end)
            token = loaded.id_to_token(token_id)
            assert token_bytes(token, [EOT]) == data[start:end], (text, token)
            position = end
        assert position == len(data)


def test_offsets_of_a_special_token_and_a_split_character(loaded: helios.Tokenizer) -> None:
    ids, offsets = loaded.encode_with_offsets(f"ab{EOT}")
    assert ids[-1] == 0
    assert offsets[-1].tolist() == [2, 2 + len(EOT)]
    ids, offsets = loaded.encode_with_offsets("")
    assert ids.shape == (0,) and offsets.shape == (0, 2)


# ---- (h) char-level -------------------------------------------------------------------------


def test_train_char_vocabulary_and_round_trip() -> None:
    texts = ["hello wörld", "日本 ✓", "hello\tagain\n"]
    specials = ["<pad>", "<s>"]
    tokenizer = helios.Tokenizer.train_char(texts, special_tokens=specials)
    chars = sorted(set("".join(texts)))
    expected = specials + chars
    assert tokenizer.vocab_size == len(expected)
    assert [tokenizer.id_to_token(i) for i in range(len(expected))] == expected
    for token_id, token in enumerate(expected):
        assert tokenizer.token_to_id(token) == token_id
    text = "hello<s>日本\t"
    ids = tokenizer.encode(text)
    assert ids.tolist() == [expected.index(c) for c in "hello"] + [1] + [
        expected.index(c) for c in "日本\t"
    ]
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == "hello日本\t"
    ids, offsets = tokenizer.encode_with_offsets("wö日")
    assert offsets.tolist() == [[0, 1], [1, 3], [3, 6]]
    # A character outside the vocabulary without an unknown token is an error.
    error = status_of(lambda: tokenizer.encode("hellz"))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    # Saved and loaded, it is the same tokenizer.
    again = helios.Tokenizer.from_json(tokenizer.to_json())
    assert again.encode(text).tolist() == tokenizer.encode(text).tolist()


def test_train_char_unknown_token() -> None:
    tokenizer = helios.Tokenizer.train_char(["abcab"], special_tokens=["<pad>"], unk_token="<unk>")
    assert [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)] == [
        "<pad>",
        "<unk>",
        "a",
        "b",
        "c",
    ]
    unk = tokenizer.token_to_id("<unk>")
    assert tokenizer.encode("abzc€").tolist() == [2, 3, unk, 4, unk]
    assert tokenizer.decode([2, unk, 3]) == "a<unk>b"
    assert tokenizer.decode([2, unk, 3], skip_special_tokens=True) == "ab"


def test_train_char_min_frequency_and_vocab_size() -> None:
    texts = ["aaaa", "bbb", "cc", "d"]  # counts 4, 3, 2, 1
    kept = lambda t: [t.id_to_token(i) for i in range(t.vocab_size)]  # noqa: E731
    assert kept(helios.Tokenizer.train_char(texts)) == ["a", "b", "c", "d"]
    assert kept(helios.Tokenizer.train_char(texts, min_frequency=1)) == ["a", "b", "c", "d"]
    assert kept(helios.Tokenizer.train_char(texts, min_frequency=2)) == ["a", "b", "c"]
    assert kept(helios.Tokenizer.train_char(texts, min_frequency=4)) == ["a"]
    assert kept(helios.Tokenizer.train_char(texts, vocab_size=2)) == ["a", "b"]
    with_specials = helios.Tokenizer.train_char(texts, special_tokens=["<pad>"], vocab_size=3)
    assert kept(with_specials) == ["<pad>", "a", "b"]


# ---- (i) bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,offset",
    [
        (b"ab\xffcd", 2),
        (b"hello \xe2\x82", 6),  # truncated at the end
        (b"x\xc0\xaf", 1),  # overlong
        (b"abc\xed\xa0\x80", 3),  # an encoded surrogate
        (b"\x80", 0),
        (b"ok \xf4\x90\x80\x80", 3),  # above U+10FFFF
    ],
)
def test_invalid_utf8_names_the_byte_offset(
    loaded: helios.Tokenizer, data: bytes, offset: int
) -> None:
    error = status_of(lambda: loaded.encode(data))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert re.search(rf"\b{offset}\b", error.message), error.message
    error = status_of(lambda: loaded.encode_batch(["fine", data]))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT" and "texts[1]" in error.message
    error = status_of(lambda: helios.Tokenizer.train_bpe([data], vocab_size=300))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert re.search(rf"\b{offset}\b", error.message), error.message


def test_invalid_utf8_through_the_c_api(loaded: helios.Tokenizer) -> None:
    """The C function itself, called with ctypes (no Python conversion in between)."""
    encode = helios._LIB.helios_tokenizer_encode
    ids = (ctypes.c_uint32 * 16)()
    count = ctypes.c_size_t()
    with loaded._native.borrow() as handle:
        status = encode(handle, b"abc\xfe", 4, ctypes.addressof(ids), 16, None, ctypes.byref(count))
        message = helios.last_error()
    assert status == helios.Status.INVALID_ARGUMENT
    assert re.search(r"\b3\b", message), message
    with loaded._native.borrow() as handle:
        status = encode(handle, b"abc", 3, None, 0, None, ctypes.byref(count))
    assert status == helios.Status.BUFFER_TOO_SMALL
    assert count.value == len(loaded.encode("abc"))
    status = encode(None, b"abc", 3, ctypes.addressof(ids), 16, None, ctypes.byref(count))
    assert status == helios.Status.NULL_ARGUMENT


def test_lone_surrogates_cannot_be_encoded(loaded: helios.Tokenizer) -> None:
    with pytest.raises(UnicodeEncodeError):
        loaded.encode("abc\ud800")


def test_ids_out_of_range(loaded: helios.Tokenizer) -> None:
    error = status_of(lambda: loaded.decode([1, VOCAB]))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT" and str(VOCAB) in error.message
    error = status_of(lambda: loaded.id_to_token(VOCAB))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    with pytest.raises(ValueError, match="2\\*\\*32"):
        loaded.decode([-1])
    with pytest.raises(ValueError, match="2\\*\\*32"):
        loaded.decode([2**32])
    with pytest.raises(TypeError):
        loaded.decode([1.5])
    with pytest.raises(ValueError, match="1-D"):
        loaded.decode([[1, 2]])


def hf_document(hf_json: Path) -> Dict[str, Any]:
    return json.loads(hf_json.read_text("utf-8"))


def format_error_of(document: Any) -> helios.HeliosError:
    text = document if isinstance(document, str) else json.dumps(document)
    return status_of(lambda: helios.Tokenizer.from_json(text))


@pytest.mark.parametrize("text", ["", "{", "not json", "null", "[]", '{"model": 3}', "\ufeff{"])
def test_corrupt_json_is_a_format_error(text: str) -> None:
    assert format_error_of(text).status == "HELIOS_ERR_FORMAT"


def test_truncated_json_is_a_format_error(hf_json: Path, tmp_path: Path) -> None:
    text = hf_json.read_text("utf-8")
    for cut in (1, len(text) // 3, len(text) // 2, len(text) - 2):
        assert format_error_of(text[:cut]).status == "HELIOS_ERR_FORMAT", cut
        (tmp_path / "cut.json").write_text(text[:cut], "utf-8")
        error = status_of(lambda: helios.Tokenizer.from_file(tmp_path / "cut.json"))
        assert error.status == "HELIOS_ERR_FORMAT"


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda d: d["model"].__setitem__("vocab", list(d["model"]["vocab"])), "`model.vocab`"),
        (lambda d: d["model"].__setitem__("merges", 7), "`model.merges`"),
        (lambda d: d["model"]["vocab"].__setitem__("Ġthe", "12"), 'model.vocab["Ġthe"]'),
        (lambda d: d.__setitem__("added_tokens", {"a": 1}), "`added_tokens`"),
        (lambda d: d["added_tokens"][0].__setitem__("content", 5), "added_tokens[0].content"),
        (lambda d: d["model"].pop("vocab"), "`model.vocab`"),
        (lambda d: d.pop("model"), "`model`"),
    ],
)
def test_wrong_types_are_format_errors_naming_the_field(
    hf_json: Path, edit: Callable[[Dict[str, Any]], Any], field: str
) -> None:
    document = hf_document(hf_json)
    edit(document)
    error = format_error_of(document)
    assert error.status == "HELIOS_ERR_FORMAT"
    assert field in error.message, error.message


def test_unsupported_components(hf_json: Path) -> None:
    document = hf_document(hf_json)
    document["model"]["type"] = "WordPiece"
    error = format_error_of(document)
    assert error.status == "HELIOS_ERR_UNSUPPORTED" and "WordPiece" in error.message, error


def test_merges_naming_unknown_tokens(hf_json: Path, tmp_path: Path) -> None:
    for merge in (["Ġ", "zzzq"], ["zzzq", "e"]):
        document = hf_document(hf_json)
        document["model"]["merges"].append(merge)
        error = format_error_of(document)
        assert error.status == "HELIOS_ERR_FORMAT", merge
        assert "zzzq" in error.message and "model.merges[" in error.message, error.message
    # Both halves known, their concatenation not in the vocabulary (HF refuses it too).
    document = hf_document(hf_json)
    vocab = document["model"]["vocab"]
    assert "Q" in vocab and "ĠQQ" not in vocab and "QQ" not in vocab
    document["model"]["merges"].append(["Q", "Q"])
    error = format_error_of(document)
    assert error.status == "HELIOS_ERR_FORMAT" and '"QQ"' in error.message, error.message
    # The same in GPT-2 files.
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}), "utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nab c\n", "utf-8")
    error = status_of(
        lambda: helios.Tokenizer.from_vocab_merges(tmp_path / "vocab.json", tmp_path / "merges.txt")
    )
    assert error.status == "HELIOS_ERR_FORMAT"


def test_vocab_size_below_the_alphabet_is_refused() -> None:
    for vocab_size, specials in ((0, []), (255, []), (256, [EOT]), (257, [EOT, "<pad>"])):
        error = status_of(
            lambda: helios.Tokenizer.train_bpe(
                ["hello world"], vocab_size=vocab_size, special_tokens=specials
            )
        )
        assert error.status == "HELIOS_ERR_INVALID_ARGUMENT", (vocab_size, specials)
    smallest = helios.Tokenizer.train_bpe(["hello hello"], vocab_size=257, special_tokens=[EOT])
    assert smallest.vocab_size == 257
    assert len(smallest.encode("hello")) == 5  # no merges: one token per byte


def test_training_stops_when_the_pairs_run_out() -> None:
    tokenizer = helios.Tokenizer.train_bpe(["ab ab ab"], vocab_size=5000, min_frequency=1)
    # Pre-tokens "ab", "Ġab", "Ġab": merges (a, b) (3 times), then (Ġ, ab) (twice).
    assert tokenizer.vocab_size == 258
    assert [tokenizer.id_to_token(i) for i in tokenizer.encode("ab ab")] == ["ab", "Ġab"]


def test_an_empty_corpus_is_refused() -> None:
    for texts in ([], [""], ["", ""]):
        for train in (
            lambda: helios.Tokenizer.train_bpe(texts, vocab_size=300),
            lambda: helios.Tokenizer.train_char(texts),
        ):
            error = status_of(train)
            assert error.status == "HELIOS_ERR_INVALID_ARGUMENT", texts


def test_missing_files_are_io_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    for call in (
        lambda: helios.Tokenizer.from_file(missing),
        lambda: helios.Tokenizer.from_vocab_merges(missing, tmp_path / "merges.txt"),
        lambda: helios.Tokenizer.train_bpe_files([missing], vocab_size=300),
        lambda: helios.Tokenizer.from_file(tmp_path),  # a folder
    ):
        assert status_of(call).status == "HELIOS_ERR_IO"
    tokenizer = helios.Tokenizer.train_char(["abc"])
    error = status_of(lambda: tokenizer.save(tmp_path / "no" / "such" / "folder.json"))
    assert error.status == "HELIOS_ERR_IO"


def test_argument_types_the_binding_refuses(loaded: helios.Tokenizer) -> None:
    with pytest.raises(TypeError, match="text"):
        loaded.encode(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        loaded.encode_batch("one string")
    with pytest.raises(TypeError, match="texts"):
        helios.Tokenizer.train_bpe("one string", vocab_size=300)
    with pytest.raises(TypeError, match="special_tokens"):
        helios.Tokenizer.train_bpe(
            ["a"], vocab_size=300, special_tokens=EOT  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="NUL"):
        helios.Tokenizer.train_bpe(["a"], vocab_size=300, special_tokens=["a\0b"])
    with pytest.raises(ValueError, match="negative"):
        helios.Tokenizer.train_bpe(["a"], vocab_size=-1)
    with pytest.raises(TypeError, match="cancel"):
        helios.Tokenizer.train_bpe(["a"], vocab_size=300, cancel=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress"):
        helios.Tokenizer.train_bpe(["a"], vocab_size=300, progress=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="create"):
        helios.Tokenizer()
    error = status_of(lambda: loaded.encode_batch(["a"], threads=0))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    error = status_of(lambda: loaded.encode_batch(["a"], threads=1025))
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"


# ---- persistence, lifetime, progress and cancellation -----------------------------------


def test_pickle_and_copy_round_trip(loaded: helios.Tokenizer) -> None:
    for clone in (
        pickle.loads(pickle.dumps(loaded)),
        copy.copy(loaded),
        copy.deepcopy(loaded),
    ):
        assert isinstance(clone, helios.Tokenizer) and clone is not loaded
        assert clone.to_json() == loaded.to_json()
        for text in TEST_TEXTS:
            np.testing.assert_array_equal(clone.encode(text), loaded.encode(text))
    char = helios.Tokenizer.train_char(["xyz"], unk_token="<unk>")
    assert pickle.loads(pickle.dumps(char)).encode("xqz").tolist() == char.encode("xqz").tolist()


def test_progress_is_reported_and_can_stop_training() -> None:
    calls: List[Tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        calls.append((done, total))

    helios.Tokenizer.train_bpe(TRAIN_CORPUS[:500], vocab_size=600, progress=record)
    assert calls, "progress was never called"
    assert all(total == calls[0][1] for _, total in calls)
    dones = [done for done, _ in calls]
    assert dones == sorted(dones) and 0 <= dones[0] and dones[-1] <= calls[0][1]

    seen: List[int] = []

    def stop(done: int, total: int) -> bool:
        seen.append(done)
        return True

    error = status_of(
        lambda: helios.Tokenizer.train_bpe(TRAIN_CORPUS[:500], vocab_size=600, progress=stop)
    )
    assert error.status == "HELIOS_ERR_CANCELLED"
    assert len(seen) == 1

    class Boom(Exception):
        pass

    def explode(done: int, total: int) -> None:
        raise Boom("from the callback")

    with pytest.raises(Boom, match="from the callback"):
        helios.Tokenizer.train_bpe(TRAIN_CORPUS[:500], vocab_size=600, progress=explode)


def test_a_cancel_token_stops_training() -> None:
    with helios.CancelToken() as token:
        token.cancel()
        error = status_of(
            lambda: helios.Tokenizer.train_bpe(TRAIN_CORPUS[:500], vocab_size=600, cancel=token)
        )
        assert error.status == "HELIOS_ERR_CANCELLED"
        error = status_of(lambda: helios.Tokenizer.train_char(["abc"], cancel=token))
        assert error.status == "HELIOS_ERR_CANCELLED"
        token.reset()

        def cancel_midway(done: int, total: int) -> None:
            token.cancel()  # from the callback, on the training's thread

        error = status_of(
            lambda: helios.Tokenizer.train_bpe(
                TRAIN_CORPUS[:500], vocab_size=600, cancel=token, progress=cancel_midway
            )
        )
        assert error.status == "HELIOS_ERR_CANCELLED"
        token.reset()
        trained = helios.Tokenizer.train_bpe(TRAIN_CORPUS[:500], vocab_size=600, cancel=token)
        assert trained.vocab_size == 600


def test_a_closed_tokenizer_refuses_every_call(tmp_path: Path) -> None:
    with helios.Tokenizer.train_char(["abc"]) as tokenizer:
        assert not tokenizer.closed
        assert tokenizer.encode("cab").tolist() == [2, 0, 1]
    assert tokenizer.closed
    for call in (
        lambda: tokenizer.encode("a"),
        lambda: tokenizer.encode_batch(["a"]),
        lambda: tokenizer.decode([0]),
        lambda: tokenizer.vocab_size,
        lambda: tokenizer.token_to_id("a"),
        lambda: tokenizer.id_to_token(0),
        lambda: tokenizer.to_json(),
        lambda: tokenizer.save(tmp_path / "x.json"),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    tokenizer.close()  # twice is harmless
    assert repr(tokenizer) == "<helios.Tokenizer closed>"


def test_the_garbage_collector_frees_the_tokenizer() -> None:
    freed: List[int] = []
    tokenizer = helios.Tokenizer.train_char(["abc"])
    native = tokenizer._native
    real_free = native._free
    native._free = lambda handle: freed.append(handle) or real_free(handle)
    handle = native._handle
    del tokenizer
    gc.collect()
    assert freed == [handle]


def test_repr_and_bytes_input(loaded: helios.Tokenizer) -> None:
    assert repr(loaded) == f"<helios.Tokenizer vocab_size={VOCAB}>"
    text = "bytes in, the same ids out: café"
    expected = loaded.encode(text)
    for data in (text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        np.testing.assert_array_equal(loaded.encode(data), expected)


def test_every_public_member_states_its_thread_safety() -> None:
    flat = lambda value: " ".join((inspect.getdoc(value) or "").split())  # noqa: E731
    assert SHAREABLE in flat(helios.Tokenizer)
    for name, member in vars(helios.Tokenizer).items():
        if name.startswith("_") and name != "__len__":
            continue
        assert SHAREABLE in flat(member) or REENTRANT in flat(member), name
    for constructor in (
        "from_file",
        "from_json",
        "from_vocab_merges",
        "from_pretrained_dir",
        "train_bpe",
        "train_bpe_files",
        "train_char",
    ):
        assert REENTRANT in flat(getattr(helios.Tokenizer, constructor)), constructor
    assert "Tokenizer" in helios.__all__


def test_the_examples_in_the_docstrings_run() -> None:
    failures, tried = doctest.testmod(_tokenizer, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
