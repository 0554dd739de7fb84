"""helios.Sampler: generation checked against independent numpy computations
on the logits of ``Model.forward`` (greedy argmax over the growing context,
the repetition-penalised argmax, the top-k / top-p candidate sets, and the
distribution of one-step draws against softmax(logits / T)), seeds and
thread counts, several Python threads (one sampler each on one shared model;
two on one sampler -> HELIOS_ERR_BUSY), the model closed first,
cancellation, callback stops and exceptions, stop tokens, a full context,
text generation with a tokenizer trained here (accented, CJK and emoji
text: the text equals ``tokenizer.decode`` of the generated ids, stop strings
cut it, ``stream_text`` yields the same pieces), and bad input."""

from __future__ import annotations

import doctest
import gc
import inspect
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pytest

import helios
from helpers import hf_weights, write_checkpoint
from helios import _sampler

REENTRANT = "reentrant (safe to call from any number of threads at once)"
SHAREABLE = "shareable (one object may be used from any number of threads at once)"
SINGLE_OWNER = "single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY)"

# A shape with varied greedy output once its weights are large (see varied_model).
VARIED = helios.GptConfig(vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=4)
# Helios's own initialisation (std 0.02, tied embeddings): greedy decoding
# repeats the last token, which makes the repetition penalty matter.
REPETITIVE = helios.GptConfig(vocab_size=200, n_positions=48, n_embd=32, n_layer=2, n_head=2)

CORPUS = [
    "The cat sat on the mat. The dog sat on the log.",
    "Le café est très chaud; la crème brûlée aussi. Ça va, garçon?",
    "日本語のテキストも大丈夫です。東京は大きい都市です。",
    "Emoji work too: 😀 🎉 🚀 👍 and the cat 🐱 sleeps.",
    "def greet(name):\n    return f'Hello, {name}!'\n",
    "Über straße, naïve coöperation, smörgåsbord, jalapeño.",
] * 20


# ---- models and references ------------------------------------------------------------


def write_varied_checkpoint(folder: Path, config: helios.GptConfig, seed: int) -> Path:
    """A Hugging Face checkpoint of seeded random weights far larger than
    GPT-2's initialisation, so that the logits spread and greedy decoding
    wanders over the vocabulary."""
    return write_checkpoint(folder, config, hf_weights(config, seed))


def varied_model(folder: Path, config: helios.GptConfig = VARIED, seed: int = 5) -> helios.Model:
    return helios.Model.load(write_varied_checkpoint(folder, config, seed))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> helios.Model:
    return varied_model(tmp_path_factory.mktemp("varied"))


@pytest.fixture(scope="module")
def tokenizer() -> helios.Tokenizer:
    return helios.Tokenizer.train_bpe(CORPUS, vocab_size=400, special_tokens=["<|endoftext|>"])


@pytest.fixture(scope="module")
def text_model(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: helios.Tokenizer
) -> helios.Model:
    """A model whose vocabulary is the tokenizer's."""
    config = helios.GptConfig(
        vocab_size=tokenizer.vocab_size, n_positions=96, n_embd=32, n_layer=2, n_head=4
    )
    return varied_model(tmp_path_factory.mktemp("text"), config, seed=9)


def prompt_of(config: helios.GptConfig, n: int, seed: int) -> List[int]:
    return np.random.default_rng(seed).integers(0, config.vocab_size, n).tolist()


def penalised(logits: np.ndarray, context: Sequence[int], penalty: float) -> np.ndarray:
    """CTRL's repetition penalty in float32: a positive logit of a token in the
    context divided by the penalty, a negative one multiplied."""
    out = logits.astype(np.float32).copy()
    p = np.float32(penalty)
    for i in set(context):
        out[i] = out[i] / p if out[i] > 0 else out[i] * p
    return out


def greedy_reference(
    model: helios.Model, prompt: Sequence[int], n: int, penalty: float = 1.0
) -> List[int]:
    """Greedy decoding by hand: the argmax (first, so ties go to the lower id)
    of the last row of a full forward pass over the growing context."""
    context = list(prompt)
    out: List[int] = []
    for _ in range(n):
        logits = model.forward(context)[-1]
        if penalty != 1.0:
            logits = penalised(logits, context, penalty)
        token = int(np.argmax(logits))
        out.append(token)
        context.append(token)
    return out


def rank(logits: np.ndarray, token: int) -> int:
    """The position of ``token`` in the order helios ranks candidates: logit
    descending, ties to the lower id."""
    value = logits[token]
    return int(np.sum(logits > value) + np.sum((logits == value)[:token]))


def status_of(call: Callable[[], object]) -> helios.HeliosError:
    with pytest.raises(helios.HeliosError) as caught:
        call()
    return caught.value


# ---- greedy decoding and the repetition penalty ---------------------------------------


def test_greedy_is_the_argmax_over_the_growing_context(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=1)
    expected = greedy_reference(model, prompt, 30)
    assert len(set(expected)) > 5  # the varied model wanders: a meaningful check
    with helios.Sampler(model, temperature=0, max_tokens=30) as sampler:
        tokens = sampler.generate(prompt)
        assert tokens.dtype == np.uint32 and tokens.ndim == 1
        assert tokens.tolist() == expected
        assert sampler.stop_reason == helios.StopReason.MAX_TOKENS
        assert sampler.context_len == len(prompt) + 30
        assert sampler.last_tokens.tolist() == expected
        # the seed and the sampling settings do not matter when greedy
    with helios.Sampler(model, temperature=0, top_k=3, top_p=0.5, seed=99, max_tokens=30) as s:
        assert s.generate(prompt).tolist() == expected


def test_greedy_continues_the_context_across_calls(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 4, seed=2)
    with helios.Sampler(model, temperature=0, max_tokens=10) as sampler:
        first = sampler.generate(prompt, max_tokens=3)  # a per-call limit
        assert sampler.stop_reason == helios.StopReason.MAX_TOKENS
        second = sampler.generate([])  # an empty prompt continues the context
        context = prompt + first.tolist() + second.tolist()
        assert context[len(prompt) :] == greedy_reference(model, prompt, 13)
        third = sampler.generate([7, 8])  # so does a new prompt
        assert third.tolist() == greedy_reference(model, context + [7, 8], 10)
        assert sampler.context_len == len(context) + 2 + 10
        sampler.reset()  # forgets it
        assert sampler.context_len == 0 and sampler.stop_reason is None
        assert sampler.generate(prompt).tolist() == greedy_reference(model, prompt, 10)
    # a per-call limit gives what a sampler made with that max_tokens gives
    with helios.Sampler(model, temperature=0.9, seed=4, max_tokens=20) as a, helios.Sampler(
        model, temperature=0.9, seed=4, max_tokens=6
    ) as b:
        assert a.generate(prompt, max_tokens=6).tolist() == b.generate(prompt).tolist()
        assert a.stop_reason == b.stop_reason == helios.StopReason.MAX_TOKENS
        assert a.generate([], max_tokens=6).tolist() == b.generate([]).tolist()
        assert a.context_len == b.context_len
        with pytest.raises(ValueError, match="max_tokens must be in 1..20"):
            a.generate([1], max_tokens=21)
        with pytest.raises(ValueError, match="max_tokens must be in 1..20"):
            a.generate([1], max_tokens=0)
        with pytest.raises(TypeError, match="max_tokens must be an int"):
            a.generate([1], max_tokens=2.0)  # type: ignore[arg-type]


def test_repetition_penalty_against_numpy(tmp_path: Path) -> None:
    with helios.Model.random(REPETITIVE, seed=3) as model:
        prompt = prompt_of(REPETITIVE, 6, seed=3)
        plain = greedy_reference(model, prompt, 24)
        assert len(set(plain)) < 6  # a repetitive model: the penalty must matter
        for penalty in (1.3, 2.0, 0.7):
            expected = greedy_reference(model, prompt, 24, penalty)
            with helios.Sampler(
                model, temperature=0, repetition_penalty=penalty, max_tokens=24
            ) as sampler:
                assert sampler.generate(prompt).tolist() == expected, penalty
            if penalty > 1:
                assert expected != plain
                assert len(set(expected)) > len(set(plain))
    with varied_model(tmp_path) as varied:
        prompt = prompt_of(VARIED, 5, seed=4)
        expected = greedy_reference(varied, prompt, 20, 1.8)
        with helios.Sampler(varied, temperature=0, repetition_penalty=1.8, max_tokens=20) as s:
            assert s.generate(prompt).tolist() == expected


# ---- sampling -----------------------------------------------------------------------------


def test_a_seed_gives_the_same_tokens_on_every_run_and_thread_count(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 6, seed=5)
    options = dict(temperature=1.0, top_k=40, top_p=0.9, seed=12345, max_tokens=40)
    results = []
    for threads in (1, 2, 3, None, 1):
        with helios.Sampler(model, threads=threads, **options) as sampler:
            results.append(sampler.generate(prompt).tolist())
    assert all(r == results[0] for r in results)
    # reset restarts the generator from the seed
    with helios.Sampler(model, **options) as sampler:
        sampler.generate(prompt)
        sampler.reset()
        assert sampler.generate(prompt).tolist() == results[0]
    # another seed, another sequence
    with helios.Sampler(model, **{**options, "seed": 54321}) as sampler:
        assert sampler.generate(prompt).tolist() != results[0]


@pytest.mark.parametrize("temperature", [0.3, 1.0, 5.0])
@pytest.mark.parametrize("seed", [0, 7, 2**64 - 1])
def test_top_k_1_and_a_tiny_top_p_are_greedy(
    model: helios.Model, temperature: float, seed: int
) -> None:
    prompt = prompt_of(VARIED, 5, seed=6)
    expected = greedy_reference(model, prompt, 12)
    for options in (dict(top_k=1), dict(top_p=1e-6), dict(top_k=5, top_p=1e-6)):
        with helios.Sampler(
            model, temperature=temperature, seed=seed, max_tokens=12, **options
        ) as sampler:
            assert sampler.generate(prompt).tolist() == expected, options


def test_sampled_tokens_stay_in_the_top_k_and_top_p_sets(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 4, seed=8)
    temperature = 0.7
    for top_k, top_p in ((5, 1.0), (0, 0.6), (12, 0.8)):
        ranks: List[int] = []
        for seed in range(6):
            with helios.Sampler(
                model, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_tokens=20
            ) as sampler:
                tokens = sampler.generate(prompt).tolist()
            context = prompt + tokens
            logits = model.forward(context[:-1])[len(prompt) - 1 :]
            for step, token in enumerate(tokens):
                row = logits[step].astype(np.float64)
                r = rank(logits[step], token)
                ranks.append(r)
                if top_k:
                    assert r < top_k, (top_k, top_p, seed, step)
                if top_p < 1.0:
                    # the nucleus (with a margin for float32 rounding at its edge)
                    order = np.argsort(-row, kind="stable")[: top_k or None]
                    p = np.exp((row[order] - row[order[0]]) / temperature)
                    mass = np.cumsum(p) / p.sum()
                    size = int(np.searchsorted(mass, top_p - 1e-5)) + 1
                    size_hi = int(np.searchsorted(mass, top_p + 1e-5)) + 1
                    assert r < size_hi, (top_k, top_p, seed, step, r, size)
        assert max(ranks) > 0  # it does sample, not only take the argmax


def test_one_step_draws_follow_the_softmax(tmp_path: Path) -> None:
    """Draw the first token with 1500 seeds and compare the frequencies with
    softmax(logits / T) restricted to the top-k / top-p set (chi-square)."""
    config = helios.GptConfig(vocab_size=8, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    with varied_model(tmp_path, config, seed=11) as tiny:
        prompt = [1, 5, 2]
        logits = tiny.forward(prompt)[-1].astype(np.float64)
        temperature = 1.5
        order = np.argsort(-logits, kind="stable")
        for top_k, top_p in ((0, 1.0), (3, 1.0), (0, 0.7)):
            p = np.zeros(8)
            weights = np.exp((logits[order] - logits[order[0]]) / temperature)
            keep = top_k or 8
            if top_p < 1.0:
                mass = np.cumsum(weights[:keep]) / weights[:keep].sum()
                keep = int(np.searchsorted(mass, top_p)) + 1
            p[order[:keep]] = weights[:keep] / weights[:keep].sum()
            assert keep >= 3 and p.max() < 0.8  # a spread distribution: a meaningful test
            counts = np.zeros(8)
            n = 1500
            for seed in range(n):
                with helios.Sampler(
                    tiny, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                    max_tokens=1,
                ) as sampler:
                    counts[int(sampler.generate(prompt)[0])] += 1
            assert counts[p == 0].sum() == 0, (top_k, top_p, counts)
            kept = p > 0
            expected = n * p[kept]
            chi2 = float((((counts[kept] - expected) ** 2) / expected).sum())
            assert chi2 < 35.0, (top_k, top_p, counts, expected)  # p < 1e-5 for <= 7 dof


# ---- threads ------------------------------------------------------------------------------


def test_four_threads_with_their_own_samplers_match_sequential_runs(model: helios.Model) -> None:
    requests = [
        (prompt_of(VARIED, 3 + k, seed=20 + k), dict(temperature=0.8, top_k=50, seed=100 + k))
        for k in range(8)
    ]

    def run(k: int, threads: Optional[int]) -> List[int]:
        prompt, options = requests[k]
        with helios.Sampler(model, max_tokens=25, threads=threads, **options) as sampler:
            return sampler.generate(prompt).tolist()

    expected = [run(k, 1) for k in range(len(requests))]
    results: Dict[int, List[int]] = {}
    failures: List[BaseException] = []
    start = threading.Barrier(4)

    def worker(t: int) -> None:
        try:
            start.wait()
            for j in range(t, len(requests), 4):
                results[j] = run(j, 1 + (t + j) % 2)
        except BaseException as error:  # noqa: B036 - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert [results[k] for k in range(len(requests))] == expected


def test_two_threads_on_one_sampler_get_busy(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=30)
    options = dict(temperature=0.9, seed=3, max_tokens=12)
    with helios.Sampler(model, **options) as twin:
        expected = twin.generate(prompt).tolist()
    sampler = helios.Sampler(model, **options)
    inside, tried = threading.Event(), threading.Event()
    outcome: List[Any] = []

    def on_token(token: int) -> None:
        if not inside.is_set():
            inside.set()
            assert tried.wait(30), "the other thread never tried"

    def owner() -> None:
        try:
            outcome.append(sampler.generate(prompt, on_token=on_token))
        except BaseException as error:  # noqa: B036 - reported below
            outcome.append(error)

    thread = threading.Thread(target=owner)
    thread.start()
    try:
        assert inside.wait(30)
        errors = [
            status_of(lambda: sampler.generate(prompt)),
            status_of(lambda: sampler.generate_text(helios.Tokenizer.train_char(["ab"]), "a")),
            status_of(lambda: sampler.context_len),
            status_of(sampler.reset),
        ]
    finally:
        tried.set()
        thread.join()
    for error in errors:
        assert error.code == helios.Status.BUSY and error.status == "HELIOS_ERR_BUSY"
    assert errors[0].tokens.size == 0 and errors[1].text == ""  # type: ignore[attr-defined]
    # the owner's call was not disturbed, nor its results
    assert isinstance(outcome[0], np.ndarray), outcome
    assert outcome[0].tolist() == expected
    assert sampler.last_tokens.tolist() == expected
    assert sampler.stop_reason == helios.StopReason.MAX_TOKENS
    # and the sampler works afterwards
    assert sampler.context_len == len(prompt) + 12
    sampler.reset()
    assert sampler.generate(prompt).tolist() == expected
    sampler.close()


def test_close_while_another_thread_generates(model: helios.Model) -> None:
    sampler = helios.Sampler(model, temperature=0, max_tokens=8)
    inside, closed = threading.Event(), threading.Event()
    outcome: List[Any] = []

    def on_token(token: int) -> None:
        inside.set()
        closed.wait(30)

    thread = threading.Thread(
        target=lambda: outcome.append(sampler.generate([1, 2], on_token=on_token))
    )
    thread.start()
    assert inside.wait(30)
    sampler.close()  # the C sampler is freed when the call returns
    closed.set()
    thread.join()
    assert outcome[0].tolist() == greedy_reference(model, [1, 2], 8)
    assert sampler.closed and repr(sampler) == "<helios.Sampler closed>"
    with pytest.raises(ValueError, match="closed"):
        sampler.generate([1])


def test_closing_the_model_first_is_safe(tmp_path: Path) -> None:
    prompt = prompt_of(VARIED, 5, seed=31)
    model = varied_model(tmp_path)
    expected = greedy_reference(model, prompt, 15)
    samplers = [helios.Sampler(model, temperature=0, max_tokens=15) for _ in range(2)]
    model.close()
    assert samplers[0].generate(prompt).tolist() == expected
    del model
    gc.collect()  # the Python model is gone too: the samplers hold the C model
    assert samplers[1].generate(prompt).tolist() == expected
    samplers[0].close()
    assert samplers[1].generate([], max_tokens=1).size == 1
    samplers[1].close()
    with pytest.raises(ValueError, match="closed"):
        closed = helios.Model.random(REPETITIVE)
        closed.close()
        helios.Sampler(closed)


# ---- stopping -----------------------------------------------------------------------------


def test_cancel_from_on_token_keeps_the_tokens_so_far(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=40)
    options = dict(temperature=0.8, seed=9, max_tokens=20)
    with helios.Sampler(model, **options) as twin:
        full = twin.generate(prompt).tolist()
    with helios.CancelToken() as token, helios.Sampler(model, **options) as sampler:
        seen: List[int] = []

        def on_token(t: int) -> None:
            seen.append(t)
            if len(seen) == 5:
                token.cancel()

        error = status_of(lambda: sampler.generate(prompt, on_token=on_token, cancel=token))
        assert error.code == helios.Status.CANCELLED
        assert "cancelled" in error.message
        assert error.tokens.tolist() == full[:5] == seen  # type: ignore[attr-defined]
        assert sampler.last_tokens.tolist() == full[:5]
        assert sampler.stop_reason is None
        assert sampler.context_len == len(prompt) + 5
        # a raised token stops the next call before its first token
        error = status_of(lambda: sampler.generate([], cancel=token))
        assert error.code == helios.Status.CANCELLED
        assert error.tokens.size == 0  # type: ignore[attr-defined]
        # lowered, the same context goes on where it stopped
        token.reset()
        rest = sampler.generate([], max_tokens=15, cancel=token)
        assert full[:5] + rest.tolist() == full


def test_cancel_from_another_thread(model: helios.Model) -> None:
    with helios.CancelToken() as token, helios.Sampler(model, temperature=0, max_tokens=60) as s:
        started, cancelled = threading.Event(), threading.Event()

        def on_token(t: int) -> None:
            started.set()
            cancelled.wait(30)  # the other thread cancels while this token is out

        def canceller() -> None:
            started.wait(30)
            token.cancel()
            cancelled.set()

        thread = threading.Thread(target=canceller)
        thread.start()
        error = status_of(lambda: s.generate([1, 2, 3], on_token=on_token, cancel=token))
        thread.join()
        assert error.code == helios.Status.CANCELLED
        # checked before each token: the one out when it was raised is the last
        tokens = error.tokens.tolist()  # type: ignore[attr-defined]
        assert tokens == greedy_reference(model, [1, 2, 3], 1)
        assert s.context_len == 4


def test_on_token_returning_true_stops(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=41)
    expected = greedy_reference(model, prompt, 10)
    with helios.Sampler(model, temperature=0, max_tokens=10) as sampler:
        seen: List[int] = []
        tokens = sampler.generate(prompt, on_token=lambda t: seen.append(t) or len(seen) == 3)
        assert tokens.tolist() == seen == expected[:3]
        assert sampler.stop_reason == helios.StopReason.CALLBACK
        assert sampler.context_len == len(prompt) + 3
        # the per-call limit and the callback together: the user's stop wins
        sampler.reset()
        tokens = sampler.generate(prompt, max_tokens=2, on_token=lambda t: True)
        assert tokens.tolist() == expected[:1]
        assert sampler.stop_reason == helios.StopReason.CALLBACK


def test_an_exception_in_on_token_stops_and_is_reraised(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=42)
    expected = greedy_reference(model, prompt, 10)
    with helios.Sampler(model, temperature=0, max_tokens=10) as sampler:
        seen: List[int] = []

        def on_token(t: int) -> None:
            seen.append(t)
            if len(seen) == 4:
                raise KeyError("from the callback")

        with pytest.raises(KeyError, match="from the callback"):
            sampler.generate(prompt, on_token=on_token)
        assert sampler.last_tokens.tolist() == expected[:4] == seen
        assert sampler.stop_reason == helios.StopReason.CALLBACK
        assert sampler.context_len == len(prompt) + 4
        assert sampler.generate([]).tolist() == expected[4:] + greedy_reference(
            model, prompt + expected, 4
        )


def test_stop_tokens(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 5, seed=43)
    options = dict(temperature=1.0, seed=21, max_tokens=30)
    with helios.Sampler(model, **options) as twin:
        full = twin.generate(prompt).tolist()
    assert len(set(full)) > 8
    stop = full[10]
    cut = full.index(stop)
    for stops in (stop, [stop], np.array([299, stop], np.int64), (stop, full[cut + 1])):
        with helios.Sampler(model, stop_tokens=stops, **options) as sampler:
            tokens = sampler.generate(prompt)
            assert tokens.tolist() == full[:cut], stops
            assert sampler.stop_reason == helios.StopReason.TOKEN
            # the stop token is not in the context either
            assert sampler.context_len == len(prompt) + cut
            assert stop in sampler.options["stop_tokens"]


def test_a_full_context(model: helios.Model) -> None:
    prompt = prompt_of(VARIED, 6, seed=44)
    with helios.Sampler(model, temperature=0, max_tokens=20, context=10) as sampler:
        assert sampler.context == 10
        tokens = sampler.generate(prompt)
        # prompt and generated tokens together fill at most the context
        assert tokens.tolist() == greedy_reference(model, prompt, 10 - 6)
        assert sampler.stop_reason == helios.StopReason.CONTEXT_FULL
        assert sampler.context_len == 10
        # a full context continued with no prompt: no tokens
        assert sampler.generate([]).size == 0
        assert sampler.stop_reason == helios.StopReason.CONTEXT_FULL
        # a prompt that does not fit is refused, and nothing changes
        error = status_of(lambda: sampler.generate([1]))
        assert error.code == helios.Status.INVALID_ARGUMENT and "does not fit" in error.message
        assert sampler.context_len == 10
        sampler.reset()
        assert sampler.generate(prompt, max_tokens=2).tolist() == tokens[:2].tolist()
    with helios.Sampler(model, temperature=0, max_tokens=100) as sampler:
        assert sampler.context == VARIED.n_positions
        sampler.generate([3])
        assert sampler.stop_reason == helios.StopReason.CONTEXT_FULL
        assert sampler.context_len == VARIED.n_positions


# ---- text ---------------------------------------------------------------------------------


def generated_ids(
    model: helios.Model, tokenizer: helios.Tokenizer, prompt: str, **options: Any
) -> List[int]:
    options = {k: v for k, v in options.items() if k != "stop_strings"}
    with helios.Sampler(model, **options) as sampler:
        return sampler.generate(tokenizer.encode(prompt)).tolist()


TEXT_OPTIONS = [
    dict(temperature=1.0, seed=seed, max_tokens=60) for seed in (1, 2, 3)
] + [dict(temperature=0.7, top_k=30, seed=4, max_tokens=60)]


@pytest.mark.parametrize("options", TEXT_OPTIONS, ids=lambda o: f"seed{o['seed']}")
def test_generate_text_is_the_decoded_tokens(
    text_model: helios.Model, tokenizer: helios.Tokenizer, options: Dict[str, Any]
) -> None:
    prompt = "Le café 😀 日本"
    ids = generated_ids(text_model, tokenizer, prompt, **options)
    pieces: List[str] = []
    with helios.Sampler(text_model, **options) as sampler:
        text = sampler.generate_text(tokenizer, prompt, on_text=pieces.append)
        assert sampler.stop_reason == helios.StopReason.MAX_TOKENS
        assert sampler.last_text == text
        assert sampler.context_len == len(tokenizer.encode(prompt)) + len(ids)
    assert text == tokenizer.decode(ids)
    assert "".join(pieces) == text
    assert all(pieces)
    # the same pieces from stream_text
    with helios.Sampler(text_model, **options) as sampler:
        assert list(sampler.stream_text(tokenizer, prompt)) == pieces
        assert sampler.stop_reason == helios.StopReason.MAX_TOKENS
    # and from helios.generate
    assert helios.generate(text_model, tokenizer, prompt, **options) == text


def test_the_generated_text_holds_multibyte_characters(
    text_model: helios.Model, tokenizer: helios.Tokenizer
) -> None:
    """The pieces are whole characters even where tokens cut them (a byte token
    of a CJK character or an emoji): the streamed text has them."""
    texts = [
        helios.generate(text_model, tokenizer, "日本語 😀", temperature=1.0, seed=s, max_tokens=60)
        for s in range(1, 4)
    ]
    assert any(any(ord(c) > 0x7F and c != "\ufffd" for c in text) for text in texts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stop_strings_cut_the_text(
    text_model: helios.Model, tokenizer: helios.Tokenizer, seed: int
) -> None:
    prompt = "The cat"
    options = dict(temperature=1.0, seed=seed, max_tokens=60)
    with helios.Sampler(text_model, **options) as sampler:
        full = sampler.generate_text(tokenizer, prompt)
    # from the middle on, where four characters hold no U+FFFD (a stop string
    # of whole characters; the replacement character would work too)
    middle = next(i for i in range(len(full) // 2, len(full)) if "\ufffd" not in full[i : i + 4])
    several = [full[middle + 1 : middle + 4], "never § there"]
    for stop in (full[middle : middle + 2], full[middle], several):
        stops = [stop] if isinstance(stop, str) else stop
        first = min(full.find(s) for s in stops if s in full)
        pieces: List[str] = []
        with helios.Sampler(text_model, stop_strings=stop, **options) as sampler:
            text = sampler.generate_text(tokenizer, prompt, on_text=pieces.append)
            assert text == full[:first], stop
            assert "".join(pieces) == text
            assert sampler.stop_reason == helios.StopReason.STRING
            assert not any(s in piece for s in stops for piece in pieces)
        with helios.Sampler(text_model, stop_strings=stop, **options) as sampler:
            assert list(sampler.stream_text(tokenizer, prompt)) == pieces
        # stop strings do not apply to generate (ids)
        with helios.Sampler(text_model, stop_strings=stop, **options) as sampler:
            ids = sampler.generate(tokenizer.encode(prompt))
            assert tokenizer.decode(ids) == full


def test_on_text_stop_exception_and_cancel(
    text_model: helios.Model, tokenizer: helios.Tokenizer
) -> None:
    prompt = "Emoji"
    options = dict(temperature=1.0, seed=8, max_tokens=40)
    with helios.Sampler(text_model, **options) as sampler:
        full_pieces: List[str] = []
        full = sampler.generate_text(tokenizer, prompt, on_text=full_pieces.append)
    assert len(full_pieces) > 5
    # a true return value stops
    with helios.Sampler(text_model, **options) as sampler:
        seen: List[str] = []
        text = sampler.generate_text(
            tokenizer, prompt, on_text=lambda p: seen.append(p) or len(seen) == 3
        )
        assert text == "".join(full_pieces[:3]) and seen == full_pieces[:3]
        assert sampler.stop_reason == helios.StopReason.CALLBACK
    # an exception stops and is re-raised, the text so far kept
    with helios.Sampler(text_model, **options) as sampler:

        def failing(piece: str) -> None:
            if piece == full_pieces[2]:
                raise RuntimeError("on_text failed")

        with pytest.raises(RuntimeError, match="on_text failed"):
            sampler.generate_text(tokenizer, prompt, on_text=failing)
        assert sampler.last_text == "".join(full_pieces[: full_pieces.index(full_pieces[2]) + 1])
        assert sampler.stop_reason == helios.StopReason.CALLBACK
    # cancelled: the error carries the text streamed before it
    with helios.Sampler(text_model, **options) as sampler, helios.CancelToken() as token:
        seen = []

        def cancel_after_two(piece: str) -> None:
            seen.append(piece)
            if len(seen) == 2:
                token.cancel()

        error = status_of(
            lambda: sampler.generate_text(tokenizer, prompt, on_text=cancel_after_two, cancel=token)
        )
        assert error.code == helios.Status.CANCELLED
        assert error.text == sampler.last_text == "".join(seen)  # type: ignore[attr-defined]
        assert full.startswith(error.text)  # type: ignore[attr-defined]
        assert sampler.stop_reason is None


def test_stream_text_stops_early_and_frees_the_sampler(
    text_model: helios.Model, tokenizer: helios.Tokenizer
) -> None:
    prompt = "The dog"
    options = dict(temperature=1.0, seed=6, max_tokens=80)
    with helios.Sampler(text_model, **options) as sampler:
        full = list(sampler.stream_text(tokenizer, prompt))
    assert len(full) > 10
    with helios.Sampler(text_model, **options) as sampler:
        got = []
        for piece in sampler.stream_text(tokenizer, prompt):
            got.append(piece)
            if len(got) == 3:
                break
        # the for loop dropped the iterator: closed, generation stopped, sampler free
        gc.collect()
        assert got == full[:3]
        assert sampler.stop_reason == helios.StopReason.CALLBACK
        produced = sampler.context_len - len(tokenizer.encode(prompt))
        assert produced < options["max_tokens"]
        # explicit close() waits for the worker: the sampler is free at once
        sampler.reset()
        stream = sampler.stream_text(tokenizer, prompt)
        assert next(stream) == full[0]
        stream.close()
        assert sampler.context_len < len(tokenizer.encode(prompt)) + options["max_tokens"]
        assert sampler.last_text.startswith(full[0])
        # a cancelled stream raises after the pieces before it
        sampler.reset()
        with helios.CancelToken() as token:
            stream = sampler.stream_text(tokenizer, prompt, cancel=token)
            first = next(stream)
            token.cancel()
            rest = []
            with pytest.raises(helios.HeliosError) as caught:
                for piece in stream:
                    rest.append(piece)
            assert caught.value.code == helios.Status.CANCELLED
            text = caught.value.text  # type: ignore[attr-defined]
            assert first + "".join(rest) == sampler.last_text == text


def test_stream_text_streams_while_the_loop_runs(
    text_model: helios.Model, tokenizer: helios.Tokenizer
) -> None:
    """The first piece arrives while generation goes on: the sampler is busy
    on the worker thread, which runs at most STREAM_AHEAD pieces ahead."""
    options = dict(temperature=1.0, seed=2, max_tokens=90)
    with helios.Sampler(text_model, **options) as sampler:
        full = list(sampler.stream_text(tokenizer, "The"))
    assert len(full) > _sampler.STREAM_AHEAD + 5
    with helios.Sampler(text_model, **options) as sampler:
        stream = sampler.stream_text(tokenizer, "The")
        assert next(stream) == full[0]
        error = status_of(lambda: sampler.context_len)
        assert error.code == helios.Status.BUSY
        threading.Event().wait(0.05)  # however long the loop takes
        with pytest.raises(helios.HeliosError, match="BUSY"):
            sampler.context_len  # noqa: B018 - still waiting for the loop
        assert list(stream) == full[1:]
        assert sampler.stop_reason == helios.StopReason.MAX_TOKENS


def test_generate_text_errors(text_model: helios.Model, tokenizer: helios.Tokenizer) -> None:
    with helios.Sampler(text_model, temperature=0, max_tokens=4) as sampler:
        error = status_of(lambda: sampler.generate_text(tokenizer, ""))
        assert error.code == helios.Status.INVALID_ARGUMENT
        error = status_of(lambda: sampler.generate_text(tokenizer, b"\xff\xfe"))
        assert error.code == helios.Status.INVALID_ARGUMENT and "UTF-8" in error.message
        with pytest.raises(TypeError, match="tokenizer must be a helios.Tokenizer"):
            sampler.generate_text("tok", "x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="tokenizer must be a helios.Tokenizer"):
            sampler.stream_text(None, "x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="prompt must be a str"):
            sampler.generate_text(tokenizer, 5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="on_text must be callable"):
            sampler.generate_text(tokenizer, "x", on_text=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cancel must be a helios.CancelToken"):
            sampler.stream_text(tokenizer, "x", cancel=True)  # type: ignore[arg-type]
        # an empty prompt continues a non-empty context
        first = sampler.generate_text(tokenizer, "The cat")
        more = sampler.generate_text(tokenizer, "")
        with helios.Sampler(text_model, temperature=0, max_tokens=4) as twin:
            ids = twin.generate(tokenizer.encode("The cat")).tolist()
            ids += twin.generate([]).tolist()
        assert first == tokenizer.decode(ids[:4]) and more == tokenizer.decode(ids[4:])
    # a tokenizer with more ids than the model's vocabulary
    with helios.Sampler(helios.Model.random(REPETITIVE), max_tokens=2) as sampler:
        error = status_of(lambda: sampler.generate_text(tokenizer, "The cat"))
        assert error.code == helios.Status.INVALID_ARGUMENT
        assert "vocabulary" in error.message


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,field",
    [
        (dict(temperature=float("nan")), "temperature"),
        (dict(temperature=float("inf")), "temperature"),
        (dict(temperature=-0.5), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_p=float("nan")), "top_p"),
        (dict(repetition_penalty=0.0), "repetition_penalty"),
        (dict(repetition_penalty=-1.0), "repetition_penalty"),
        (dict(repetition_penalty=float("inf")), "repetition_penalty"),
        (dict(max_tokens=0), "max_tokens"),
        (dict(stop_tokens=[1, 300]), "stop token 300"),
        (dict(stop_strings=["ok", ""]), "stop string is empty"),
        (dict(context=65), "context"),
        (dict(threads=0), "thread"),
        (dict(threads=1025), "1024"),
    ],
)
def test_bad_options_are_invalid_arguments(
    model: helios.Model, options: Dict[str, Any], field: str
) -> None:
    error = status_of(lambda: helios.Sampler(model, **options))
    assert error.code == helios.Status.INVALID_ARGUMENT
    assert error.status == "HELIOS_ERR_INVALID_ARGUMENT"
    assert field in error.message, error.message


def test_bad_prompts_are_invalid_arguments(model: helios.Model) -> None:
    with helios.Sampler(model, temperature=0, max_tokens=4, context=20) as sampler:
        error = status_of(lambda: sampler.generate([1, 300, 2]))
        assert error.code == helios.Status.INVALID_ARGUMENT
        assert "prompt[1] = 300" in error.message and "vocabulary" in error.message
        error = status_of(lambda: sampler.generate([]))
        assert error.code == helios.Status.INVALID_ARGUMENT and "prompt is empty" in error.message
        error = status_of(lambda: sampler.generate(list(range(21))))
        assert error.code == helios.Status.INVALID_ARGUMENT
        assert "prompt of 21 tokens does not fit" in error.message
        # nothing changed: the sampler still works from an empty context
        assert sampler.context_len == 0 and sampler.stop_reason is None
        assert sampler.generate(list(range(20))).size == 0  # it fills the context
        assert sampler.stop_reason == helios.StopReason.CONTEXT_FULL
        with pytest.raises(ValueError, match="0..2\\*\\*32 - 1"):
            sampler.generate([-1])
        with pytest.raises(TypeError, match="ints"):
            sampler.generate([1.5])
        with pytest.raises(ValueError, match="1-D"):
            sampler.generate([[1, 2]])
        with pytest.raises(TypeError, match="on_token must be callable"):
            sampler.generate([1], on_token="no")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cancel must be a helios.CancelToken"):
            sampler.generate([1], cancel=object())  # type: ignore[arg-type]


def test_option_types(model: helios.Model) -> None:
    with pytest.raises(TypeError, match="model must be a helios.Model"):
        helios.Sampler("gpt2")  # type: ignore[arg-type]
    for options, kind, match in (
        (dict(temperature="hot"), TypeError, "temperature must be a real number"),
        (dict(top_p=None), TypeError, "top_p must be a real number"),
        (dict(temperature=True), TypeError, "temperature must be a real number"),
        (dict(top_k=-1), ValueError, "top_k must not be negative"),
        (dict(top_k=2.0), TypeError, "top_k must be an int"),
        (dict(max_tokens=-1), ValueError, "max_tokens must not be negative"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=2**64), ValueError, "seed"),
        (dict(stop_tokens=[1, -2]), ValueError, "stop_tokens\\[1\\]"),
        (dict(stop_tokens=[1, "a"]), TypeError, "stop_tokens\\[1\\]"),
        (dict(stop_tokens="a"), TypeError, "stop_tokens"),
        (dict(stop_strings=[b"x"]), TypeError, "stop_strings\\[0\\] must be a str"),
        (dict(stop_strings=b"x"), TypeError, "stop_strings"),
        (dict(stop_strings=["a\0b"]), ValueError, "NUL"),
        (dict(context=-1), ValueError, "context must not be negative"),
        (dict(threads=-1), ValueError, "threads must not be negative"),
    ):
        with pytest.raises(kind, match=match):
            helios.Sampler(model, **options)


# ---- the object ---------------------------------------------------------------------------


def test_options_repr_close_and_pickling(model: helios.Model) -> None:
    sampler = helios.Sampler(
        model, temperature=0.75, top_k=40, top_p=0.95, seed=7, max_tokens=64,
        stop_tokens=[3], stop_strings="\n\n",
    )
    assert repr(sampler) == (
        "<helios.Sampler temperature=0.75 top_k=40 top_p=0.95 seed=7 max_tokens=64 "
        "context=64 stop_tokens=[3] stop_strings=['\\n\\n']>"
    )
    assert sampler.options == {
        "temperature": 0.75, "top_k": 40, "top_p": 0.95, "repetition_penalty": 1.0,
        "seed": 7, "max_tokens": 64, "stop_tokens": (3,), "stop_strings": ("\n\n",),
        "context": None, "threads": None,
    }
    assert sampler.max_tokens == 64 and sampler.context == 64
    twin = helios.Sampler(model, **sampler.options)
    assert twin.generate([1, 2]).tolist() == sampler.generate([1, 2]).tolist()
    twin.close()
    for call in (lambda: pickle.dumps(sampler), lambda: __import__("copy").copy(sampler)):
        with pytest.raises(TypeError, match="cannot be copied or pickled"):
            call()
    with sampler as entered:
        assert entered is sampler
    assert sampler.closed
    sampler.close()  # twice is harmless
    for call in (
        lambda: sampler.generate([1]),
        lambda: sampler.context_len,
        sampler.reset,
        lambda: sampler.stream_text(helios.Tokenizer.train_char(["a"]), "a"),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert sampler.options["seed"] == 7  # the settings stay readable


def test_garbage_collection_frees_the_sampler(model: helios.Model) -> None:
    freed: List[int] = []
    sampler = helios.Sampler(model, max_tokens=2)
    native = sampler._native
    real_free = native._free
    native._free = lambda handle: freed.append(handle) or real_free(handle)
    handle = native._handle
    del sampler
    gc.collect()
    assert freed == [handle]


def test_every_public_member_states_its_thread_safety() -> None:
    flat = lambda value: " ".join((inspect.getdoc(value) or "").split())  # noqa: E731
    assert SINGLE_OWNER in flat(helios.Sampler)
    for name, member in vars(helios.Sampler).items():
        if name.startswith("_") or not (callable(member) or isinstance(member, property)):
            continue
        assert any(p in flat(member) for p in (SINGLE_OWNER, SHAREABLE, REENTRANT)), name
    for name in ("generate", "generate_text", "stream_text", "reset", "context_len"):
        assert SINGLE_OWNER in flat(getattr(helios.Sampler, name)), name
    assert REENTRANT in flat(helios.generate)
    assert SHAREABLE in flat(helios.StopReason)
    assert {"Sampler", "StopReason", "generate"} <= set(helios.__all__)
    assert [int(r) for r in helios.StopReason] == [0, 1, 2, 3, 4]


def test_the_examples_in_the_docstrings_run() -> None:
    failures, tried = doctest.testmod(_sampler, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
