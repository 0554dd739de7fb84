//! The GPT-2 model against a slow, obviously correct reference forward
//! written here in f64 from the saved checkpoint's tensors, and its
//! promises: batch invariance bit for bit, the same bits for every thread
//! count, round trips through Hugging Face's layout, and clear errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use helios::lm::{GptConfig, LogitRows, Model};
use helios::{CancelToken, ErrorKind, Threads};
use safetensors::{Dtype, SafeTensors};

fn tiny() -> GptConfig {
    // Width 64 and vocab 300: several 128-feature blocks per layer, so the
    // thread counts really split the work.
    GptConfig::new(300, 24, 64, 2, 4)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("helios-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every tensor of a saved checkpoint, as f64, by name without the prefix.
fn read_tensors(dir: &Path) -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        assert_eq!(view.dtype(), Dtype::F32);
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let name = name
            .strip_prefix("transformer.")
            .unwrap_or(&name)
            .to_string();
        out.insert(name, (view.shape().to_vec(), values));
    }
    out
}

/// GPT-2's forward pass, in f64, written from the architecture: the
/// reference for the logits.
fn reference_forward(
    t: &HashMap<String, (Vec<usize>, Vec<f64>)>,
    c: &GptConfig,
    ids: &[u32],
) -> Vec<f64> {
    let get = |name: &str| &t[name].1;
    let d = c.n_embd;
    let n = ids.len();
    let layer_norm = |x: &[f64], w: &[f64], b: &[f64]| -> Vec<f64> {
        let mean = x.iter().sum::<f64>() / d as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        (0..d)
            .map(|i| (x[i] - mean) / (var + 1e-5).sqrt() * w[i] + b[i])
            .collect()
    };
    // x (rows, inputs) times W (inputs, outputs) plus b.
    let matmul = |x: &[Vec<f64>], w: &[f64], b: &[f64], outputs: usize| -> Vec<Vec<f64>> {
        x.iter()
            .map(|row| {
                (0..outputs)
                    .map(|j| {
                        b[j] + row
                            .iter()
                            .enumerate()
                            .map(|(k, v)| v * w[k * outputs + j])
                            .sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    };
    let wte = get("wte.weight");
    let wpe = get("wpe.weight");
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            (0..d)
                .map(|i| wte[id as usize * d + i] + wpe[p * d + i])
                .collect()
        })
        .collect();
    let heads = c.n_head;
    let hd = d / heads;
    for l in 0..c.n_layer {
        let p = |name: &str| format!("h.{l}.{name}");
        let h: Vec<Vec<f64>> = x
            .iter()
            .map(|r| layer_norm(r, get(&p("ln_1.weight")), get(&p("ln_1.bias"))))
            .collect();
        let qkv = matmul(
            &h,
            get(&p("attn.c_attn.weight")),
            get(&p("attn.c_attn.bias")),
            3 * d,
        );
        let mut attn = vec![vec![0.0; d]; n];
        for i in 0..n {
            for head in 0..heads {
                let q = &qkv[i][head * hd..(head + 1) * hd];
                let scores: Vec<f64> = (0..=i)
                    .map(|s| {
                        let k = &qkv[s][d + head * hd..d + (head + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                for (s, e) in exps.iter().enumerate() {
                    for k in 0..hd {
                        attn[i][head * hd + k] += e / sum * qkv[s][2 * d + head * hd + k];
                    }
                }
            }
        }
        let a = matmul(
            &attn,
            get(&p("attn.c_proj.weight")),
            get(&p("attn.c_proj.bias")),
            d,
        );
        for i in 0..n {
            for k in 0..d {
                x[i][k] += a[i][k];
            }
        }
        let h: Vec<Vec<f64>> = x
            .iter()
            .map(|r| layer_norm(r, get(&p("ln_2.weight")), get(&p("ln_2.bias"))))
            .collect();
        let mut f = matmul(
            &h,
            get(&p("mlp.c_fc.weight")),
            get(&p("mlp.c_fc.bias")),
            c.n_inner,
        );
        for row in f.iter_mut() {
            for v in row.iter_mut() {
                *v = 0.5
                    * *v
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (*v + 0.044715 * v.powi(3)))
                            .tanh());
            }
        }
        let m = matmul(
            &f,
            get(&p("mlp.c_proj.weight")),
            get(&p("mlp.c_proj.bias")),
            d,
        );
        for i in 0..n {
            for k in 0..d {
                x[i][k] += m[i][k];
            }
        }
    }
    let mut logits = Vec::with_capacity(n * c.vocab_size);
    for row in &x {
        let h = layer_norm(row, get("ln_f.weight"), get("ln_f.bias"));
        for v in 0..c.vocab_size {
            logits.push((0..d).map(|k| h[k] * wte[v * d + k]).sum::<f64>());
        }
    }
    logits
}

fn ids(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 37 + 11) % vocab) as u32).collect()
}

#[test]
fn logits_match_a_reference_forward_written_from_the_architecture() {
    let config = tiny();
    let model = Model::random(config, 7).unwrap();
    let dir = temp_dir("reference");
    model.save(&dir).unwrap();
    let tensors = read_tensors(&dir);
    let ids = ids(20, config.vocab_size);
    let expected = reference_forward(&tensors, &config, &ids);
    let logits = model.forward(&ids, Threads::Exactly(1)).unwrap();
    assert_eq!(logits.len(), expected.len());
    let worst = logits
        .iter()
        .zip(&expected)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "max |helios - reference| = {worst}");
    // The random weights are not degenerate: logits vary.
    let spread = expected.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - expected.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(spread > 0.05, "{spread}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decoding_with_the_cache_gives_the_bits_of_a_full_forward_for_every_thread_count() {
    check_batch_invariance(tiny());
    // Wide enough that the thread counts split the work even of one token
    // (a layer needs 2^18 multiply-adds per worker): the LM head's 2^20 in
    // decode, every layer in the prompt passes.
    check_batch_invariance(GptConfig::new(4096, 20, 256, 1, 4));
}

#[test]
fn a_cache_moved_to_a_model_with_a_larger_vocabulary_decodes_it_right() {
    // The same attention shape, so the cache fits both; the second model's
    // LM head has 4x the blocks of the first's.
    let small = Model::random(GptConfig::new(300, 20, 64, 2, 4), 5).unwrap();
    let large = Model::random(GptConfig::new(1200, 20, 64, 2, 4), 6).unwrap();
    let mut cache = small.new_cache(20).unwrap();
    let mut logits = Vec::new();
    let two = Threads::Exactly(2);
    small
        .forward_cached(&mut cache, &[1], LogitRows::Last, two, &mut logits)
        .unwrap();
    cache.clear();
    large
        .forward_cached(&mut cache, &[7], LogitRows::Last, two, &mut logits)
        .unwrap();
    assert_eq!(logits, large.forward(&[7], Threads::Exactly(1)).unwrap());
}

#[test]
fn a_raised_cancel_token_stops_a_forward_pass_and_leaves_the_cache_as_it_was() {
    let config = tiny();
    let model = Model::random(config, 8).unwrap();
    let ids = ids(12, config.vocab_size);
    let mut cache = model.new_cache(config.n_positions).unwrap();
    let mut logits = Vec::new();
    let one = Threads::Exactly(1);
    model
        .forward_cached(&mut cache, &ids[..4], LogitRows::Last, one, &mut logits)
        .unwrap();
    let token = CancelToken::new();
    token.cancel();
    for threads in [1, 2] {
        for chunk in [&ids[4..], &ids[4..5]] {
            let error = model
                .forward_cached_cancellable(
                    &mut cache,
                    chunk,
                    LogitRows::All,
                    Threads::Exactly(threads),
                    Some(&token),
                    &mut logits,
                )
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Cancelled, "{error}");
            assert_eq!(cache.len(), 4, "the cache is as before the call");
        }
    }
    // The same ids again, not cancelled: the bits of a full forward.
    token.reset();
    model
        .forward_cached_cancellable(
            &mut cache,
            &ids[4..],
            LogitRows::All,
            one,
            Some(&token),
            &mut logits,
        )
        .unwrap();
    let full = model.forward(&ids, one).unwrap();
    assert_eq!(logits, full[4 * config.vocab_size..]);
}

fn check_batch_invariance(config: GptConfig) {
    let model = Model::random(config, 3).unwrap();
    let ids = ids(config.n_positions, config.vocab_size);
    let v = config.vocab_size;
    let full = model.forward(&ids, Threads::Exactly(1)).unwrap();
    for threads in [1, 2, 3] {
        assert_eq!(
            model.forward(&ids, Threads::Exactly(threads)).unwrap(),
            full,
            "threads {threads}"
        );
        // One token at a time through the KV cache.
        let mut cache = model.new_cache(config.n_positions).unwrap();
        let mut logits = Vec::new();
        for (t, &id) in ids.iter().enumerate() {
            model
                .forward_cached(
                    &mut cache,
                    &[id],
                    LogitRows::Last,
                    Threads::Exactly(threads),
                    &mut logits,
                )
                .unwrap();
            assert_eq!(
                logits,
                full[t * v..(t + 1) * v],
                "token {t}, threads {threads}"
            );
        }
        // A prompt of 5 then the rest in chunks of 7.
        let mut cache = model.new_cache(config.n_positions).unwrap();
        model
            .forward_cached(
                &mut cache,
                &ids[..5],
                LogitRows::All,
                Threads::Exactly(threads),
                &mut logits,
            )
            .unwrap();
        assert_eq!(logits, full[..5 * v]);
        for chunk in ids[5..].chunks(7) {
            let at = cache.len();
            model
                .forward_cached(
                    &mut cache,
                    chunk,
                    LogitRows::All,
                    Threads::Exactly(threads),
                    &mut logits,
                )
                .unwrap();
            assert_eq!(logits, full[at * v..(at + chunk.len()) * v]);
        }
    }
    // forward(ids[..=t]) ends with row t of forward(ids).
    for t in [0, 1, 9] {
        let prefix = model.forward(&ids[..=t], Threads::Exactly(2)).unwrap();
        assert_eq!(prefix[t * v..], full[t * v..(t + 1) * v]);
    }
}

#[test]
fn a_saved_model_loads_with_the_same_bits_and_half_precision_converts() {
    let config = tiny();
    let model = Model::random(config, 11).unwrap();
    let dir = temp_dir("roundtrip");
    model.save(&dir).unwrap();
    let loaded = Model::load(&dir).unwrap();
    assert_eq!(loaded.config(), model.config());
    let ids = ids(9, config.vocab_size);
    let logits = model.forward(&ids, Threads::Auto).unwrap();
    assert_eq!(loaded.forward(&ids, Threads::Auto).unwrap(), logits);

    // The same checkpoint in f16 without the prefix: loads, logits close.
    let tensors = read_tensors(&dir);
    let halves: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let bytes = values
                .iter()
                .flat_map(|&v| half::f16::from_f64(v).to_le_bytes())
                .collect();
            (name.clone(), shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = halves
        .iter()
        .map(|(n, s, b)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(Dtype::F16, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let half_dir = temp_dir("half");
    std::fs::write(
        half_dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    std::fs::copy(dir.join("config.json"), half_dir.join("config.json")).unwrap();
    let from_half = Model::load(&half_dir).unwrap();
    let half_logits = from_half.forward(&ids, Threads::Auto).unwrap();
    let worst = half_logits
        .iter()
        .zip(&logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "{worst}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&half_dir).unwrap();
}

#[test]
fn bad_input_and_bad_checkpoints_get_specific_errors() {
    let config = tiny();
    let model = Model::random(config, 1).unwrap();
    let e = model.forward(&[], Threads::Auto).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = model.forward(&[1, 300], Threads::Auto).unwrap_err();
    assert!(e.to_string().contains("ids[1] = 300"), "{e}");
    let e = model.forward(&ids(25, 300), Threads::Auto).unwrap_err();
    assert!(
        e.to_string()
            .contains("25 ids are more than the model's context of 24"),
        "{e}"
    );
    assert_eq!(
        model.new_cache(25).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut cache = model.new_cache(4).unwrap();
    let mut logits = Vec::new();
    model
        .forward_cached(
            &mut cache,
            &[1, 2, 3],
            LogitRows::Last,
            Threads::Auto,
            &mut logits,
        )
        .unwrap();
    let e = model
        .forward_cached(
            &mut cache,
            &[1, 2],
            LogitRows::Last,
            Threads::Auto,
            &mut logits,
        )
        .unwrap_err();
    assert!(e.to_string().contains("3 positions are filled"), "{e}");
    assert_eq!(cache.len(), 3, "a failed call changes nothing");
    assert_eq!(
        Model::random(GptConfig::new(97, 24, 30, 2, 4), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );

    // A cache of a model with a longer context is refused, not overrun.
    let short = Model::random(GptConfig::new(300, 12, 64, 2, 4), 1).unwrap();
    let mut long_cache = model.new_cache(24).unwrap();
    let e = short
        .forward_cached(
            &mut long_cache,
            &[1],
            LogitRows::Last,
            Threads::Auto,
            &mut logits,
        )
        .unwrap_err();
    assert!(e.to_string().contains("another shape"), "{e}");
    // A config above 2^36 parameters is refused before anything is allocated.
    let e = GptConfig::new(50_000, 1024, 1 << 15, 100, 1)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("above 2^36"), "{e}");

    let dir = temp_dir("bad");
    model.save(&dir).unwrap();
    let config_text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let expect = |kind: ErrorKind, words: &str| {
        let e = Model::load(&dir).unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(
            e.to_string().contains(words),
            "{e} should contain {words:?}"
        );
    };
    std::fs::write(
        dir.join("config.json"),
        config_text.replace("\"gpt2\"", "\"llama\""),
    )
    .unwrap();
    expect(ErrorKind::Format, "model_type");
    std::fs::write(
        dir.join("config.json"),
        config_text.replace("\"n_layer\": 2", "\"n_layer\": 3"),
    )
    .unwrap();
    expect(ErrorKind::Format, "tensor `h.2.ln_1.weight` is missing");
    std::fs::write(
        dir.join("config.json"),
        config_text.replace("\"n_layer\": 2", "\"n_layer\": 1"),
    )
    .unwrap();
    expect(ErrorKind::Format, "n_layer = 1");
    std::fs::write(
        dir.join("config.json"),
        config_text.replace("\"n_embd\": 64", "\"n_embd\": 128"),
    )
    .unwrap();
    expect(
        ErrorKind::Format,
        "has shape [300, 64] but config.json implies [300, 128]",
    );
    std::fs::write(
        dir.join("config.json"),
        config_text.replace("gelu_new", "relu"),
    )
    .unwrap();
    expect(ErrorKind::Unsupported, "activation_function");
    let variant = config_text.replace(
        "\"model_type\": \"gpt2\"",
        "\"model_type\": \"gpt2\", \"scale_attn_weights\": false",
    );
    std::fs::write(dir.join("config.json"), variant).unwrap();
    expect(ErrorKind::Unsupported, "scale_attn_weights");
    std::fs::write(
        dir.join("config.json"),
        &config_text[..config_text.len() / 2],
    )
    .unwrap();
    expect(ErrorKind::Format, "not valid JSON");
    std::fs::write(dir.join("config.json"), &config_text).unwrap();
    std::fs::write(dir.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    expect(ErrorKind::Format, "not a valid safetensors file");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    expect(ErrorKind::Io, "model.safetensors");
    std::fs::remove_dir_all(&dir).unwrap();
}
