//! The sampler: candidate filtering on hand-made logits, greedy decoding
//! against the model's own argmax, determinism across runs and thread
//! counts, sharing one model between threads, stopping, streaming text.

use helios::lm::sampler::candidates;
use helios::lm::{GptConfig, Model, Sampler, SamplerOptions, StopReason, Tokenizer, TrainOptions};
use helios::{CancelToken, ErrorKind, Threads};

fn ids_of(c: &[(u32, f32)]) -> Vec<u32> {
    c.iter().map(|&(id, _)| id).collect()
}

#[test]
fn candidates_are_filtered_exactly_on_hand_made_logits() {
    let logits = [1.0f32, 3.0, 2.0, 3.0, 0.5];
    let mut out = Vec::new();
    let o = |f: fn(&mut SamplerOptions)| {
        let mut o = SamplerOptions::default();
        f(&mut o);
        o
    };
    // Greedy: the argmax, ties to the lower id.
    candidates(&logits, &[], &o(|o| o.temperature = 0.0), &mut out);
    assert_eq!(out, [(1, 1.0)]);
    // top_k keeps the k best, ties to the lower id.
    candidates(&logits, &[], &o(|o| o.top_k = 2), &mut out);
    assert_eq!(ids_of(&out), [1, 3]);
    candidates(&logits, &[], &o(|o| o.top_k = 3), &mut out);
    assert_eq!(ids_of(&out), [1, 3, 2]);
    // top_p: probabilities e^3, e^3, e^2, e^1, e^0.5 over 51.94: the first
    // holds 0.387, two 0.774, three 0.916.
    candidates(&logits, &[], &o(|o| o.top_p = 0.5), &mut out);
    assert_eq!(ids_of(&out), [1, 3]);
    candidates(&logits, &[], &o(|o| o.top_p = 0.8), &mut out);
    assert_eq!(ids_of(&out), [1, 3, 2]);
    candidates(&logits, &[], &o(|o| o.top_p = 0.3), &mut out);
    assert_eq!(ids_of(&out), [1]);
    // Everything kept: id order, probabilities proportional to exp(logit / T).
    candidates(&logits, &[], &o(|o| o.temperature = 2.0), &mut out);
    assert_eq!(ids_of(&out), [0, 1, 2, 3, 4]);
    let expected = (((1.0f32 - 3.0) / 2.0).exp(), 1.0);
    assert!((out[0].1 - expected.0).abs() < 1e-6 && out[1].1 == expected.1);
    // Repetition penalty 2: a positive logit is halved, a negative doubled.
    candidates(
        &logits,
        &[1, 1],
        &o(|o| {
            o.temperature = 0.0;
            o.repetition_penalty = 2.0;
        }),
        &mut out,
    );
    assert_eq!(out, [(3, 1.0)]);
    let negative = [-1.0f32, -1.5];
    candidates(
        &negative,
        &[0],
        &o(|o| {
            o.temperature = 0.0;
            o.repetition_penalty = 2.0;
        }),
        &mut out,
    );
    assert_eq!(out, [(1, 1.0)], "-1 became -2, below -1.5");
}

fn model() -> Model {
    Model::random(GptConfig::new(64, 48, 32, 2, 4), 5).unwrap()
}

fn run(model: &Model, options: SamplerOptions, prompt: &[u32]) -> (Vec<u32>, StopReason) {
    let mut sampler = Sampler::new(model, options).unwrap();
    let mut out = Vec::new();
    let reason = sampler
        .generate(prompt, &mut out, &mut |_| true, None)
        .unwrap();
    (out, reason)
}

#[test]
fn greedy_decoding_follows_the_argmax_of_the_model() {
    let model = model();
    let options = SamplerOptions {
        temperature: 0.0,
        max_tokens: 12,
        ..SamplerOptions::default()
    };
    let prompt = [3u32, 14, 15];
    let (tokens, reason) = run(&model, options, &prompt);
    assert_eq!(reason, StopReason::MaxTokens);
    assert_eq!(tokens.len(), 12);
    let mut context = prompt.to_vec();
    for &token in &tokens {
        let logits = model.forward(&context, Threads::Exactly(1)).unwrap();
        let last = &logits[logits.len() - 64..];
        let argmax = (0..64)
            .max_by(|&a, &b| last[a].total_cmp(&last[b]).then(b.cmp(&a)))
            .unwrap();
        assert_eq!(token, argmax as u32);
        context.push(token);
    }
}

#[test]
fn a_seed_gives_the_same_tokens_for_every_run_and_thread_count() {
    let model = model();
    let options = |threads, seed| SamplerOptions {
        temperature: 0.9,
        top_k: 20,
        top_p: 0.95,
        seed,
        max_tokens: 30,
        threads: Threads::Exactly(threads),
        ..SamplerOptions::default()
    };
    let (reference, _) = run(&model, options(1, 42), &[1, 2, 3]);
    for threads in [1, 2, 3] {
        assert_eq!(run(&model, options(threads, 42), &[1, 2, 3]).0, reference);
    }
    assert_ne!(run(&model, options(1, 43), &[1, 2, 3]).0, reference);
    // reset restarts from the seed.
    let mut sampler = Sampler::new(&model, options(2, 42)).unwrap();
    let mut first = Vec::new();
    sampler
        .generate(&[1, 2, 3], &mut first, &mut |_| true, None)
        .unwrap();
    sampler.reset();
    let mut second = Vec::new();
    sampler
        .generate(&[1, 2, 3], &mut second, &mut |_| true, None)
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first, reference);
}

#[test]
fn samplers_on_one_shared_model_match_a_sequential_run() {
    let model = model();
    // Two threads each: every decode step is a team (lead + pool helper),
    // four teams at once on the shared pool.
    let options = |seed| SamplerOptions {
        seed,
        max_tokens: 20,
        threads: Threads::Exactly(2),
        ..SamplerOptions::default()
    };
    let prompts: Vec<Vec<u32>> = (0..4).map(|i| vec![i, i + 7, i + 9]).collect();
    let sequential: Vec<Vec<u32>> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| run(&model, options(i as u64), p).0)
        .collect();
    std::thread::scope(|scope| {
        for (i, prompt) in prompts.iter().enumerate() {
            let (model, expected) = (&model, &sequential[i]);
            scope.spawn(move || {
                for _ in 0..3 {
                    assert_eq!(&run(model, options(i as u64), prompt).0, expected);
                }
            });
        }
    });
}

#[test]
fn generation_stops_on_tokens_callbacks_cancellation_and_a_full_context() {
    let model = model();
    // Sampled at temperature 1 with a seed: deterministic, and varied.
    let sampled = SamplerOptions {
        seed: 1,
        max_tokens: 8,
        ..SamplerOptions::default()
    };
    let (tokens, _) = run(&model, sampled.clone(), &[5, 6]);
    // The first sampled token not seen before it, as a stop token: the
    // tokens before it come out.
    let k = (1..tokens.len())
        .find(|&k| !tokens[..k].contains(&tokens[k]))
        .expect("sampled tokens vary");
    let stop = SamplerOptions {
        stop_tokens: vec![tokens[k]],
        ..sampled.clone()
    };
    let (out, reason) = run(&model, stop, &[5, 6]);
    assert_eq!(out, &tokens[..k]);
    assert_eq!(reason, StopReason::StopToken(tokens[k]));
    // The callback stops after 3.
    let mut sampler = Sampler::new(&model, sampled.clone()).unwrap();
    let mut out = Vec::new();
    let mut seen = 0;
    let reason = sampler
        .generate(
            &[5, 6],
            &mut out,
            &mut |_| {
                seen += 1;
                seen < 3
            },
            None,
        )
        .unwrap();
    assert_eq!(
        (reason, out.as_slice()),
        (StopReason::Callback, &tokens[..3])
    );
    // Continuing the same context (and random stream) gives the rest.
    let mut more = Vec::new();
    sampler
        .generate(&[], &mut more, &mut |_| true, None)
        .unwrap();
    assert_eq!(&more[..5], &tokens[3..]);
    // Cancellation keeps the tokens produced so far.
    let token = CancelToken::new();
    let mut sampler = Sampler::new(&model, sampled.clone()).unwrap();
    let mut out = Vec::new();
    let error = sampler
        .generate(
            &[5, 6],
            &mut out,
            &mut |_| {
                // Raised at the first token: the check before the second stops.
                token.cancel();
                true
            },
            Some(&token),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert_eq!(out, &tokens[..1]);
    // A context of 5: a prompt of 2 leaves room for 3 generated tokens.
    let small = SamplerOptions {
        context: 5,
        max_tokens: 100,
        ..sampled
    };
    let (out, reason) = run(&model, small, &[5, 6]);
    assert_eq!(reason, StopReason::ContextFull);
    assert_eq!(out, &tokens[..3]);
    // A full context continued with no prompt: nothing more, no error.
    let mut sampler = Sampler::new(
        &model,
        SamplerOptions {
            context: 5,
            ..SamplerOptions::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    sampler
        .generate(&[5, 6, 7, 8, 9], &mut out, &mut |_| true, None)
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(
        sampler
            .generate(&[], &mut out, &mut |_| true, None)
            .unwrap(),
        StopReason::ContextFull
    );
    assert_eq!(sampler.context().len(), 5);
}

#[test]
fn bad_options_and_prompts_get_specific_errors() {
    let model = model();
    let bad = |f: fn(&mut SamplerOptions), words: &str| {
        let mut o = SamplerOptions::default();
        f(&mut o);
        let e = Sampler::new(&model, o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(
            e.to_string().contains(words),
            "{e} should contain {words:?}"
        );
    };
    bad(|o| o.temperature = f32::NAN, "temperature");
    bad(|o| o.temperature = -1.0, "temperature");
    bad(|o| o.top_p = 0.0, "top_p");
    bad(|o| o.top_p = 1.5, "top_p");
    bad(|o| o.repetition_penalty = 0.0, "repetition_penalty");
    bad(|o| o.max_tokens = 0, "max_tokens");
    bad(|o| o.context = 49, "context length 49");
    bad(|o| o.stop_tokens = vec![64], "stop token 64");
    let mut sampler = Sampler::new(
        &model,
        SamplerOptions {
            context: 8,
            ..SamplerOptions::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    let e = sampler
        .generate(&[], &mut out, &mut |_| true, None)
        .unwrap_err();
    assert!(e.to_string().contains("prompt is empty"), "{e}");
    let e = sampler
        .generate(&[1, 64], &mut out, &mut |_| true, None)
        .unwrap_err();
    assert!(e.to_string().contains("prompt[1] = 64"), "{e}");
    let e = sampler
        .generate(&[1; 9], &mut out, &mut |_| true, None)
        .unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    assert!(
        sampler.context().is_empty(),
        "a refused prompt changes nothing"
    );
}

#[test]
fn text_streams_in_whole_characters_and_stops_before_a_stop_string() {
    let corpus = [
        "héllo wörld, the cat sat on the mat 日本 ",
        "the dog ate the log ünd mehr 😀 ",
    ];
    let tokenizer = Tokenizer::train_bpe(
        &corpus,
        &TrainOptions {
            vocab_size: 300,
            min_frequency: 1,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    let vocab = tokenizer.vocab_size();
    let model = Model::random(GptConfig::new(vocab, 64, 32, 2, 4), 9).unwrap();
    let options = SamplerOptions {
        temperature: 1.0,
        seed: 3,
        max_tokens: 40,
        ..SamplerOptions::default()
    };
    let mut sampler = Sampler::new(&model, options.clone()).unwrap();
    let mut text = String::new();
    let mut pieces = Vec::new();
    sampler
        .generate_text(
            &tokenizer,
            "the cat",
            &mut text,
            &mut |piece| {
                pieces.push(piece.to_string());
                true
            },
            None,
        )
        .unwrap();
    // The pieces are the text, and the text is the decode of the tokens.
    assert_eq!(pieces.concat(), text);
    let prompt_len = tokenizer.encode("the cat").unwrap().len();
    let generated = &sampler.context()[prompt_len..];
    assert_eq!(text, tokenizer.decode(generated, false).unwrap());
    // Random weights over a byte-level vocabulary produce cut characters
    // now and then; pieces never end inside one (they are &str), and the
    // U+FFFD replacement matches decode's.
    // A stop string from the middle of that text ends it just before.
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 6, "{text:?}");
    {
        let stop: String = chars[3..5].iter().collect();
        let at = text.find(&stop).unwrap();
        let mut sampler = Sampler::new(
            &model,
            SamplerOptions {
                stop_strings: vec![stop.clone()],
                ..options
            },
        )
        .unwrap();
        let mut cut = String::new();
        let mut streamed = String::new();
        let reason = sampler
            .generate_text(
                &tokenizer,
                "the cat",
                &mut cut,
                &mut |piece| {
                    streamed.push_str(piece);
                    true
                },
                None,
            )
            .unwrap();
        assert_eq!(reason, StopReason::StopString);
        assert_eq!(cut, &text[..at]);
        assert_eq!(streamed, cut);
    }
}

#[test]
fn a_model_vocabulary_padded_beyond_the_tokenizer_never_yields_its_extra_ids() {
    let tokenizer = Tokenizer::train_char(
        &["abcdef"],
        &TrainOptions {
            vocab_size: 0,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(tokenizer.vocab_size(), 6);
    let model = Model::random(GptConfig::new(60, 32, 16, 2, 2), 16).unwrap();
    let mut sampler = Sampler::new(
        &model,
        SamplerOptions {
            max_tokens: 20,
            ..SamplerOptions::default()
        },
    )
    .unwrap();
    let mut text = String::new();
    sampler
        .generate_text(&tokenizer, "ab", &mut text, &mut |_| true, None)
        .unwrap();
    assert_eq!(text.chars().count(), 20);
    assert!(
        sampler.context().iter().all(|&id| id < 6),
        "{:?}",
        sampler.context()
    );
}
