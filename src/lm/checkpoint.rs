//! GPT-2 checkpoints in Hugging Face's layout (`config.json` +
//! `model.safetensors`): load, save and seeded random initialisation.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use super::linear::Linear;
use super::model::{Block, GptConfig, Model, Weights};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Activations accepted as GPT-2's GELU (the tanh approximation).
const GELU_TANH: [&str; 3] = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

fn format(source: &str, message: String) -> Error {
    Error::Format(format!("{source}: {message}"))
}

/// Parse `config.json`.
fn parse_config(bytes: &[u8], source: &str) -> Result<GptConfig> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| format(source, format!("not valid JSON: {e}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| format(source, "must be a JSON object".into()))?;
    match root.get("model_type").and_then(Value::as_str) {
        Some("gpt2") => {}
        Some(other) => {
            return Err(format(
                source,
                format!("field `model_type` is {other:?}; helios reads \"gpt2\" models"),
            ))
        }
        None => {
            return Err(format(
                source,
                "field `model_type` is missing or not a string".into(),
            ))
        }
    }
    let number = |names: &[&str], default: Option<usize>| -> Result<usize> {
        for name in names {
            match root.get(*name) {
                None | Some(Value::Null) => continue,
                Some(value) => {
                    return value.as_u64().map(|v| v as usize).ok_or_else(|| {
                        format(
                            source,
                            format!("field `{name}` must be a positive integer, not {value}"),
                        )
                    })
                }
            }
        }
        default.ok_or_else(|| format(source, format!("field `{}` is missing", names[0])))
    };
    let n_embd = number(&["n_embd"], None)?;
    let activation = root
        .get("activation_function")
        .and_then(Value::as_str)
        .unwrap_or("gelu_new");
    if !GELU_TANH.contains(&activation) {
        return Err(Error::Unsupported(format!(
            "{source}: field `activation_function` is {activation:?}; helios runs GPT-2's GELU (tanh approximation, \"gelu_new\")"
        )));
    }
    if root.get("tie_word_embeddings").and_then(Value::as_bool) == Some(false) {
        return Err(Error::Unsupported(format!(
            "{source}: field `tie_word_embeddings` is false; helios runs GPT-2 with the LM head tied to the token embedding"
        )));
    }
    // Variants of GPT-2's attention that helios does not run.
    for (name, standard) in [
        ("scale_attn_weights", true),
        ("scale_attn_by_inverse_layer_idx", false),
    ] {
        if let Some(value) = root.get(name).and_then(Value::as_bool) {
            if value != standard {
                return Err(Error::Unsupported(format!(
                    "{source}: field `{name}` is {value}; helios runs GPT-2's attention ({name} = {standard})"
                )));
            }
        }
    }
    let epsilon = match root.get("layer_norm_epsilon") {
        None | Some(Value::Null) => 1e-5,
        Some(value) => value.as_f64().ok_or_else(|| {
            format(
                source,
                format!("field `layer_norm_epsilon` must be a number, not {value}"),
            )
        })? as f32,
    };
    let config = GptConfig {
        vocab_size: number(&["vocab_size"], None)?,
        n_positions: number(&["n_positions", "n_ctx"], None)?,
        n_embd,
        n_layer: number(&["n_layer"], None)?,
        n_head: number(&["n_head"], None)?,
        n_inner: number(&["n_inner"], Some(4 * n_embd))?,
        layer_norm_epsilon: epsilon,
    };
    config
        .validate()
        .map_err(|e| format(source, e.to_string()))?;
    Ok(config)
}

/// The tensors of a checkpoint, looked up with or without `transformer.`.
struct Tensors<'a> {
    file: SafeTensors<'a>,
    source: String,
}

impl Tensors<'_> {
    /// Tensor `name` as f32, checked to have `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self
            .file
            .tensor(&format!("transformer.{name}"))
            .or_else(|_| self.file.tensor(name))
            .map_err(|_| format(&self.source, format!("tensor `{name}` is missing")))?;
        if view.shape() != shape {
            return Err(format(
                &self.source,
                format!(
                    "tensor `{name}` has shape {:?} but config.json implies {shape:?}",
                    view.shape()
                ),
            ));
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(format(
                    &self.source,
                    format!("tensor `{name}` has dtype {other:?}; helios reads F32, F16 and BF16"),
                ))
            }
        };
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Numeric(format!(
                "{}: tensor `{name}` holds {} at element {at}",
                self.source, values[at]
            )));
        }
        Ok(values)
    }
}

pub(crate) fn load(dir: &Path) -> Result<Model> {
    let config_path = dir.join("config.json");
    let config = parse_config(
        &crate::persist::read_file(&config_path)?,
        &config_path.display().to_string(),
    )?;
    let weights_path = dir.join("model.safetensors");
    let map = crate::ffi::mmap::map_file(&weights_path)?;
    let source = weights_path.display().to_string();
    let file = SafeTensors::deserialize(&map)
        .map_err(|e| format(&source, format!("not a valid safetensors file: {e}")))?;
    let tensors = Tensors { file, source };
    let (d, f, v) = (config.n_embd, config.n_inner, config.vocab_size);
    let ln = |name: &str| -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((
            tensors.get(&format!("{name}.weight"), &[d])?,
            tensors.get(&format!("{name}.bias"), &[d])?,
        ))
    };
    let conv = |name: &str, inputs: usize, outputs: usize| -> Result<Linear> {
        let w = tensors.get(&format!("{name}.weight"), &[inputs, outputs])?;
        let b = tensors.get(&format!("{name}.bias"), &[outputs])?;
        Ok(Linear::from_in_out(&w, inputs, outputs, b))
    };
    let wte = tensors.get("wte.weight", &[v, d])?;
    let wpe = tensors.get("wpe.weight", &[config.n_positions, d])?;
    let mut blocks = Vec::new();
    for l in 0..config.n_layer {
        let p = format!("h.{l}");
        blocks.push(Block {
            ln1: ln(&format!("{p}.ln_1"))?,
            qkv: conv(&format!("{p}.attn.c_attn"), d, 3 * d)?,
            attn_proj: conv(&format!("{p}.attn.c_proj"), d, d)?,
            ln2: ln(&format!("{p}.ln_2"))?,
            fc: conv(&format!("{p}.mlp.c_fc"), d, f)?,
            mlp_proj: conv(&format!("{p}.mlp.c_proj"), f, d)?,
        });
    }
    // A layer the config does not know is a disagreement, not extra data.
    let extra = format!("h.{}.ln_1.weight", config.n_layer);
    if tensors.file.tensor(&extra).is_ok()
        || tensors.file.tensor(&format!("transformer.{extra}")).is_ok()
    {
        return Err(format(
            &tensors.source,
            format!(
                "tensor `{extra}` exists but config.json has n_layer = {}",
                config.n_layer
            ),
        ));
    }
    // An LM head of its own is untied: refused rather than ignored.
    if tensors.file.tensor("lm_head.weight").is_ok() {
        let head = tensors.get("lm_head.weight", &[v, d])?;
        if head != wte {
            return Err(Error::Unsupported(format!(
                "{}: tensor `lm_head.weight` differs from `wte.weight`; helios runs GPT-2 with the LM head tied to the token embedding",
                tensors.source
            )));
        }
    }
    let ln_f = ln("ln_f")?;
    let weights = Weights {
        config,
        wpe,
        blocks,
        ln_f,
        head: Linear::from_out_in(&wte, d, v),
    };
    Ok(Model::from_weights(weights))
}

pub(crate) fn save(model: &Model, dir: &Path) -> Result<()> {
    let w = model.weights();
    let c = &w.config;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("cannot create {}", dir.display()),
        source,
    })?;
    let config = serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.n_positions,
        "n_ctx": c.n_positions,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": c.n_inner,
        "layer_norm_epsilon": c.layer_norm_epsilon,
        "activation_function": "gelu_new",
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "tie_word_embeddings": true,
        "bos_token_id": c.vocab_size - 1,
        "eos_token_id": c.vocab_size - 1,
    });
    let text = serde_json::to_string_pretty(&config).expect("a JSON value always serializes");
    let (d, v) = (c.n_embd, c.vocab_size);
    let mut wte = vec![0.0; v * d];
    for j in 0..v {
        w.head.output_row(j, &mut wte[j * d..(j + 1) * d]);
    }
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        ("transformer.wte.weight".into(), vec![v, d], wte),
        (
            "transformer.wpe.weight".into(),
            vec![c.n_positions, d],
            w.wpe.clone(),
        ),
        ("transformer.ln_f.weight".into(), vec![d], w.ln_f.0.clone()),
        ("transformer.ln_f.bias".into(), vec![d], w.ln_f.1.clone()),
    ];
    for (l, b) in w.blocks.iter().enumerate() {
        let p = format!("transformer.h.{l}");
        tensors.push((format!("{p}.ln_1.weight"), vec![d], b.ln1.0.clone()));
        tensors.push((format!("{p}.ln_1.bias"), vec![d], b.ln1.1.clone()));
        tensors.push((format!("{p}.ln_2.weight"), vec![d], b.ln2.0.clone()));
        tensors.push((format!("{p}.ln_2.bias"), vec![d], b.ln2.1.clone()));
        for (name, linear) in [
            ("attn.c_attn", &b.qkv),
            ("attn.c_proj", &b.attn_proj),
            ("mlp.c_fc", &b.fc),
            ("mlp.c_proj", &b.mlp_proj),
        ] {
            tensors.push((
                format!("{p}.{name}.weight"),
                vec![linear.inputs, linear.outputs],
                linear.to_in_out(),
            ));
            tensors.push((
                format!("{p}.{name}.bias"),
                vec![linear.outputs],
                linear.bias().to_vec(),
            ));
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            (
                name,
                shape,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|view| (name.as_str(), view))
                .map_err(|e| Error::Internal(format!("safetensors view of {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // transformers reads only safetensors files marked as PyTorch's.
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("safetensors serialization: {e}")))?;
    crate::persist::write_atomically(&dir.join("model.safetensors"), &file)?;
    crate::persist::write_atomically(&dir.join("config.json"), text.as_bytes())
}

pub(crate) fn random(config: GptConfig, seed: u64) -> Result<Model> {
    config.validate()?;
    let mut rng = SplitMix64(seed);
    let mut normal = |n: usize, std: f32| -> Vec<f32> {
        // Box-Muller, both values used.
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let u1 = 1.0 - rng.unit();
            let u2 = rng.unit();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = std::f64::consts::TAU * u2;
            out.push((r * t.cos()) as f32 * std);
            out.push((r * t.sin()) as f32 * std);
        }
        out.truncate(n);
        out
    };
    let (d, f, v) = (config.n_embd, config.n_inner, config.vocab_size);
    let std = 0.02;
    let projection_std = std / (2.0 * config.n_layer as f32).sqrt();
    let wte = normal(v * d, std);
    let wpe = normal(config.n_positions * d, std);
    let ones = || vec![1.0f32; d];
    let zeros = |n: usize| vec![0.0f32; n];
    let mut blocks = Vec::new();
    for _ in 0..config.n_layer {
        blocks.push(Block {
            ln1: (ones(), zeros(d)),
            qkv: Linear::from_in_out(&normal(d * 3 * d, std), d, 3 * d, zeros(3 * d)),
            attn_proj: Linear::from_in_out(&normal(d * d, projection_std), d, d, zeros(d)),
            ln2: (ones(), zeros(d)),
            fc: Linear::from_in_out(&normal(d * f, std), d, f, zeros(f)),
            mlp_proj: Linear::from_in_out(&normal(f * d, projection_std), f, d, zeros(d)),
        });
    }
    Ok(Model::from_weights(Weights {
        config,
        wpe,
        blocks,
        ln_f: (ones(), zeros(d)),
        head: Linear::from_out_in(&wte, d, v),
    }))
}
