//! The GPT-2 language model: token and learned position embeddings,
//! pre-LayerNorm blocks of causal multi-head attention and a GELU (tanh)
//! MLP, a final LayerNorm, and the LM head tied to the token embedding.
//! f32 throughout.
//!
//! Thread safety: shareable (safe to use from any number of threads at
//! once). The weights are immutable behind an `Arc`; everything a forward
//! pass writes (the KV cache, activations) lives in a [`KvCache`] that
//! belongs to one caller.
//!
//! Batch invariance: every output element of every layer is computed by the
//! same sequence of operations whether one token or many are processed (see
//! `linear.rs`), and a token's attention runs over its prefix in position
//! order. So the logits of token t from a KV-cache decode are bit-identical
//! to row t of [`Model::forward`] over the same prefix, and
//! `forward(ids[..=t])` ends with row t of `forward(ids)`, for every thread
//! count.

use std::path::Path;
use std::sync::Arc;

use super::linear::{pack_rows_simd, Activation, Linear, PACK};
use super::team::{step_layer, DecodeTeam};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::exec::{run_blocks, run_team, Threads};

/// The shape of a GPT-2 model (the fields of Hugging Face's `GPT2Config`
/// that matter for inference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptConfig {
    /// Token ids are below this.
    pub vocab_size: usize,
    /// The context length: positions are below this.
    pub n_positions: usize,
    /// The model width d.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads; divides `n_embd`.
    pub n_head: usize,
    /// The MLP's hidden width (GPT-2: 4 d).
    pub n_inner: usize,
    /// The LayerNorm epsilon (GPT-2: 1e-5).
    pub layer_norm_epsilon: f32,
}

impl GptConfig {
    /// A config with GPT-2's conventions: `n_inner = 4 n_embd`, epsilon 1e-5.
    pub fn new(
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
    ) -> GptConfig {
        GptConfig {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: 4 * n_embd,
            layer_norm_epsilon: 1e-5,
        }
    }

    /// Check the sizes: all positive, heads dividing the width, token ids
    /// fitting in u32, and every weight matrix addressable.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.n_inner),
        ];
        for (name, value) in fields {
            if value == 0 {
                return Err(Error::invalid(format!("config.{name} is 0")));
            }
            if value > 1 << 24 {
                return Err(Error::invalid(format!(
                    "config.{name} is {value}, above 2^24"
                )));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::invalid(format!(
                "config.n_head ({}) does not divide config.n_embd ({})",
                self.n_head, self.n_embd
            )));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(Error::invalid(format!(
                "config.layer_norm_epsilon is {}: it must be finite and positive",
                self.layer_norm_epsilon
            )));
        }
        let largest = [
            self.vocab_size * self.n_embd,
            self.n_embd * self.n_inner,
            self.n_positions * self.n_embd,
        ];
        if largest.iter().any(|&n| n > 1 << 34) {
            return Err(Error::invalid(
                "config: a weight matrix would exceed 2^34 values",
            ));
        }
        // The whole model below 2^36 parameters (256 GB of f32): sizes are
        // checked before anything is allocated from them.
        let (d, f) = (self.n_embd as u128, self.n_inner as u128);
        let block = 4 * d * d + 2 * d * f + 9 * d + f;
        let total =
            (self.vocab_size as u128 + self.n_positions as u128) * d + self.n_layer as u128 * block;
        if total > 1 << 36 {
            return Err(Error::invalid(format!(
                "config: the model would have {total} parameters, above 2^36"
            )));
        }
        Ok(())
    }

    /// The number of weights (parameters) of the model.
    pub fn parameter_count(&self) -> usize {
        let (d, f) = (self.n_embd, self.n_inner);
        let block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
        self.vocab_size * d + self.n_positions * d + self.n_layer * block + 2 * d
    }
}

/// One transformer block.
#[derive(Clone)]
pub(crate) struct Block {
    pub ln1: (Vec<f32>, Vec<f32>),
    pub qkv: Linear,
    pub attn_proj: Linear,
    pub ln2: (Vec<f32>, Vec<f32>),
    pub fc: Linear,
    pub mlp_proj: Linear,
}

/// The weights, packed for the kernels.
pub(crate) struct Weights {
    pub config: GptConfig,
    /// `n_positions x d`.
    pub wpe: Vec<f32>,
    pub blocks: Vec<Block>,
    pub ln_f: (Vec<f32>, Vec<f32>),
    /// The LM head: `d -> vocab`, the token embedding itself (tied).
    pub head: Linear,
}

/// A GPT-2 model (shareable; see the module documentation). Cloning shares
/// the weights.
#[derive(Clone)]
pub struct Model {
    weights: Arc<Weights>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.weights.config)
            .finish_non_exhaustive()
    }
}

/// Which rows of logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// One row per token given.
    All,
    /// The last token's row only (what generation needs).
    Last,
}

/// The per-request state of a forward pass: the keys and values of every
/// layer for the positions seen so far, and scratch buffers, so that
/// decoding a token allocates no buffer (on more than one thread, the pool's
/// queue takes one small task per helper per token). Single-owner: one
/// caller uses it at a time (it is `&mut` in every call).
///
/// Each (layer, head) owns `padded` positions (the capacity rounded up to
/// 16). Its keys are packed like a dense layer's weights, 16 positions per
/// pack, head dimension major inside (`[pos / 16][i][pos % 16]`), so the
/// scores of a query against 16 positions are one SIMD FMA chain over the
/// head dimension; its values are rows (`[pos][i]`).
pub struct KvCache {
    capacity: usize,
    padded: usize,
    len: usize,
    d: usize,
    n_layer: usize,
    n_head: usize,
    keys: Vec<f32>,
    values: Vec<f32>,
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    attn: Vec<f32>,
    out: Vec<f32>,
    mlp: Vec<f32>,
    packs: Vec<f32>,
    heads: Vec<HeadScratch>,
    /// Made at the first decode on more than one thread.
    team: Option<DecodeTeam>,
}

/// One head's attention buffers.
#[derive(Default)]
struct HeadScratch {
    /// The head's query rows, `t x head_dim`.
    q: Vec<f32>,
    /// `t` rows of scores, each `padded total` long.
    scores: Vec<f32>,
    /// One pack's scores for the query rows, `t x 16`.
    tile: Vec<f32>,
    /// The head's output rows, `t x head_dim`.
    out: Vec<f32>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl KvCache {
    /// The positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is filled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget every position (the memory is kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Model {
    pub(crate) fn from_weights(weights: Weights) -> Model {
        Model {
            weights: Arc::new(weights),
        }
    }

    pub(crate) fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The model's shape.
    pub fn config(&self) -> &GptConfig {
        &self.weights.config
    }

    /// A model of shape `config` with seeded random weights, initialised as
    /// Hugging Face initialises GPT-2: normal(0, 0.02) weights (the output
    /// projections of each block scaled by 1/sqrt(2 n_layer)), zero biases,
    /// LayerNorms at weight 1 and bias 0. The same seed gives the same model
    /// on every machine.
    pub fn random(config: GptConfig, seed: u64) -> Result<Model> {
        super::checkpoint::random(config, seed)
    }

    /// Load a Hugging Face GPT-2 checkpoint directory: `config.json` and
    /// `model.safetensors` (memory-mapped; keys with or without the
    /// `transformer.` prefix; f32, f16 or bf16, converted to f32).
    ///
    /// Errors: [`Error::Io`], [`Error::Format`] naming the field or tensor
    /// (an unknown `model_type`, a missing tensor, a wrong shape or dtype, a
    /// config that disagrees with the tensors), [`Error::Unsupported`] (an
    /// activation other than GELU-tanh).
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        super::checkpoint::load(dir.as_ref())
    }

    /// Save to `dir` (created when missing) as `config.json` and
    /// `model.safetensors` in Hugging Face's layout, so that `transformers`
    /// loads it; each file is written atomically.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        super::checkpoint::save(self, dir.as_ref())
    }

    /// An empty KV cache for up to `capacity` positions (at most
    /// `n_positions`).
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let config = &self.weights.config;
        if capacity == 0 || capacity > config.n_positions {
            return Err(Error::invalid(format!(
                "the context length {capacity} must be in 1..={} (the model's n_positions)",
                config.n_positions
            )));
        }
        let padded = capacity.next_multiple_of(PACK);
        let size = config
            .n_layer
            .checked_mul(padded)
            .and_then(|n| n.checked_mul(config.n_embd))
            .ok_or_else(|| Error::OutOfMemory("the KV cache size overflows".into()))?;
        let zeros = || -> Result<Vec<f32>> {
            let mut v = Vec::new();
            v.try_reserve_exact(size).map_err(|_| {
                Error::OutOfMemory(format!(
                    "cannot allocate a KV cache of {} MB (n_layer x context x n_embd x 8 bytes)",
                    size / (1 << 20) * 8
                ))
            })?;
            v.resize(size, 0.0);
            Ok(v)
        };
        Ok(KvCache {
            capacity,
            padded,
            len: 0,
            d: config.n_embd,
            n_layer: config.n_layer,
            n_head: config.n_head,
            keys: zeros()?,
            values: zeros()?,
            scratch: Scratch {
                heads: (0..config.n_head).map(|_| HeadScratch::default()).collect(),
                ..Scratch::default()
            },
        })
    }

    /// The logits (`ids.len() x vocab_size`, row-major) of a whole sequence.
    ///
    /// Errors: [`Error::InvalidArgument`] for no ids, an id not below
    /// `vocab_size` or more ids than `n_positions`.
    pub fn forward(&self, ids: &[u32], threads: Threads) -> Result<Vec<f32>> {
        let n_positions = self.weights.config.n_positions;
        if ids.len() > n_positions {
            return Err(Error::invalid(format!(
                "{} ids are more than the model's context of {n_positions} positions (n_positions)",
                ids.len()
            )));
        }
        let length = ids.len().max(1);
        let mut cache = self.new_cache(length)?;
        let mut logits = Vec::new();
        self.forward_cached(&mut cache, ids, LogitRows::All, threads, &mut logits)?;
        Ok(logits)
    }

    /// Append `ids` to the sequence in `cache` and write the logits of
    /// `rows` to `logits` (resized). Nothing is changed on error.
    ///
    /// Errors: [`Error::InvalidArgument`] for no ids, an id not below
    /// `vocab_size`, a cache of another model shape, or more positions than
    /// the cache holds.
    pub fn forward_cached(
        &self,
        cache: &mut KvCache,
        ids: &[u32],
        rows: LogitRows,
        threads: Threads,
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        self.forward_cached_cancellable(cache, ids, rows, threads, None, logits)
    }

    /// [`forward_cached`](Self::forward_cached) that checks `cancel` before
    /// each transformer block and the LM head, so a long prompt stops within
    /// a layer's time: [`Error::Cancelled`], and the cache is as before the
    /// call (feed the same ids again to continue).
    pub fn forward_cached_cancellable(
        &self,
        cache: &mut KvCache,
        ids: &[u32],
        rows: LogitRows,
        threads: Threads,
        cancel: Option<&CancelToken>,
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        let threads = threads.resolve()?;
        let w = &*self.weights;
        let c = &w.config;
        if ids.is_empty() {
            return Err(Error::invalid("no token ids were given"));
        }
        if let Some((i, &id)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= c.vocab_size)
        {
            return Err(Error::invalid(format!(
                "ids[{i}] = {id} is not below the vocabulary size {}",
                c.vocab_size
            )));
        }
        if cache.d != c.n_embd
            || cache.n_layer != c.n_layer
            || cache.n_head != c.n_head
            || cache.capacity > c.n_positions
        {
            return Err(Error::invalid(
                "the KV cache belongs to a model of another shape",
            ));
        }
        if cache.len + ids.len() > cache.capacity {
            return Err(Error::invalid(format!(
                "{} positions are filled and {} more do not fit in the context of {}",
                cache.len,
                ids.len(),
                cache.capacity
            )));
        }
        let (t, d) = (ids.len(), c.n_embd);
        let start = cache.len;
        let head_dim = d / c.n_head;
        let shape = AttentionShape {
            t,
            start,
            heads: c.n_head,
            head_dim,
            padded: cache.padded,
            scale: 1.0 / (head_dim as f32).sqrt(),
        };
        let KvCache {
            keys,
            values,
            scratch,
            ..
        } = cache;
        let Scratch {
            x,
            h,
            qkv,
            attn,
            out,
            mlp,
            packs,
            heads,
            team,
        } = scratch;
        x.resize(t * d, 0.0);
        for (i, &id) in ids.iter().enumerate() {
            let row = &mut x[i * d..(i + 1) * d];
            w.head.output_row(id as usize, row);
            for (value, p) in row
                .iter_mut()
                .zip(&w.wpe[(start + i) * d..(start + i + 1) * d])
            {
                *value += p;
            }
        }
        h.resize(t * d, 0.0);
        qkv.resize(t * 3 * d, 0.0);
        attn.resize(t * d, 0.0);
        out.resize(t * d, 0.0);
        mlp.resize(t * c.n_inner, 0.0);
        let pass = Pass {
            w,
            shape,
            keys,
            values,
            x,
            h,
            qkv,
            attn,
            out,
            mlp,
            heads,
            rows,
            cancel,
            logits,
        };
        if t == 1 && threads > 1 {
            // One token: one team wake-up for the whole pass (see team.rs).
            if !team.as_ref().is_some_and(|team| team.fits(w)) {
                *team = Some(DecodeTeam::new(w));
            }
            let team = team.as_ref().expect("made just above");
            team.start();
            let lead = || {
                let _finish = team.finish_on_drop();
                // Attention stays on the lead: the helpers hold the pool.
                pass.run(
                    &mut |step, layer, activation, x, rows, y| {
                        debug_assert_eq!(rows, 1);
                        team.run_step(step, layer, activation, x, y)
                    },
                    1,
                )
            };
            run_team(threads, lead, |_| team.help(w))??;
        } else {
            pass.run(
                &mut |_, layer, activation, x, rows, y| {
                    layer.forward(x, rows, y, activation, threads, packs)
                },
                threads,
            )?;
        }
        cache.len += t;
        Ok(())
    }
}

/// `y = act(x W + b)` for dense layer `step` of the pass (see
/// [`step_layer`]) on `rows` rows.
type Matmul<'a> =
    dyn FnMut(usize, &Linear, Activation, &[f32], usize, &mut [f32]) -> Result<()> + 'a;

/// The buffers of one forward pass over `shape.t` new rows, embedded in `x`.
struct Pass<'a> {
    w: &'a Weights,
    shape: AttentionShape,
    keys: &'a mut [f32],
    values: &'a mut [f32],
    x: &'a mut [f32],
    h: &'a mut [f32],
    qkv: &'a mut [f32],
    attn: &'a mut [f32],
    out: &'a mut [f32],
    mlp: &'a mut [f32],
    heads: &'a mut [HeadScratch],
    rows: LogitRows,
    cancel: Option<&'a CancelToken>,
    logits: &'a mut Vec<f32>,
}

impl Pass<'_> {
    /// The blocks, the final LayerNorm and the LM head, each dense layer
    /// through `matmul` in step order.
    fn run(self, matmul: &mut Matmul<'_>, attention_threads: usize) -> Result<()> {
        let (w, shape, x, h, out) = (self.w, self.shape, self.x, self.h, self.out);
        let (qkv, attn, mlp) = (self.qkv, self.attn, self.mlp);
        let c = &w.config;
        let (t, d, eps) = (shape.t, c.n_embd, c.layer_norm_epsilon);
        let layer_len = shape.padded * d;
        let check_cancel = || match self.cancel {
            Some(token) if token.is_cancelled() => Err(Error::Cancelled(
                "cancelled by the CancelToken during a forward pass (the KV cache is as before it)"
                    .into(),
            )),
            _ => Ok(()),
        };
        for (l, block) in w.blocks.iter().enumerate() {
            check_cancel()?;
            let step = |i: usize| {
                let (layer, activation) = step_layer(w, 4 * l + i);
                (4 * l + i, layer, activation)
            };
            layer_norm(x, h, d, &block.ln1, eps);
            let (n, layer, activation) = step(0);
            matmul(n, layer, activation, h, t, qkv)?;
            let keys = &mut self.keys[l * layer_len..(l + 1) * layer_len];
            let values = &mut self.values[l * layer_len..(l + 1) * layer_len];
            shape.store(qkv, keys, values);
            attention(
                qkv,
                keys,
                values,
                shape,
                self.heads,
                attn,
                attention_threads,
            )?;
            let (n, layer, activation) = step(1);
            matmul(n, layer, activation, attn, t, out)?;
            for (x, o) in x.iter_mut().zip(out.iter()) {
                *x += o;
            }
            layer_norm(x, h, d, &block.ln2, eps);
            let (n, layer, activation) = step(2);
            matmul(n, layer, activation, h, t, mlp)?;
            let (n, layer, activation) = step(3);
            matmul(n, layer, activation, mlp, t, out)?;
            for (x, o) in x.iter_mut().zip(out.iter()) {
                *x += o;
            }
        }
        check_cancel()?;
        let first = match self.rows {
            LogitRows::All => 0,
            LogitRows::Last => t - 1,
        };
        let n_rows = t - first;
        layer_norm(&x[first * d..], &mut h[..n_rows * d], d, &w.ln_f, eps);
        let logits = self.logits;
        logits.resize(n_rows * c.vocab_size, 0.0);
        let step = 4 * w.blocks.len();
        let (layer, activation) = step_layer(w, step);
        matmul(step, layer, activation, &h[..n_rows * d], n_rows, logits)
    }
}

#[derive(Clone, Copy)]
struct AttentionShape {
    /// New rows, at positions `start..start + t`.
    t: usize,
    start: usize,
    heads: usize,
    head_dim: usize,
    /// Positions per (layer, head) in the cache.
    padded: usize,
    scale: f32,
}

/// Below this many multiply-adds (t x positions x width) attention runs on
/// the calling thread: waking workers would cost more than it saves. The
/// results are the same bits either way.
const PARALLEL_ATTENTION_WORK: usize = 1 << 20;

impl AttentionShape {
    /// Write the keys and values of the new rows of `qkv` into one layer of
    /// the cache.
    fn store(&self, qkv: &[f32], keys: &mut [f32], values: &mut [f32]) {
        let hd = self.head_dim;
        let d = self.heads * hd;
        let head_len = self.padded * hd;
        for i in 0..self.t {
            let pos = self.start + i;
            let row = &qkv[i * 3 * d..(i + 1) * 3 * d];
            for h in 0..self.heads {
                let pack = h * head_len + (pos / PACK) * PACK * hd + pos % PACK;
                for (j, &k) in row[d + h * hd..d + (h + 1) * hd].iter().enumerate() {
                    keys[pack + j * PACK] = k;
                }
                values[h * head_len + pos * hd..][..hd]
                    .copy_from_slice(&row[2 * d + h * hd..2 * d + (h + 1) * hd]);
            }
        }
    }
}

/// Causal attention of the `t` new rows over one layer's cached keys and
/// values (the new rows' included), into `out` (`t x d`). Heads run in
/// parallel when the work is large enough; each head's results do not
/// depend on where it runs.
fn attention(
    qkv: &[f32],
    keys: &[f32],
    values: &[f32],
    shape: AttentionShape,
    heads: &mut [HeadScratch],
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    let AttentionShape { t, start, .. } = shape;
    let (hd, d) = (shape.head_dim, shape.heads * shape.head_dim);
    let work = t * (start + t) * d;
    let threads = if work < PARALLEL_ATTENTION_WORK {
        1
    } else {
        threads
    };
    let head_len = shape.padded * hd;
    run_blocks(
        threads,
        heads,
        1,
        None,
        || (),
        |(), h, slot| {
            let range = h * head_len..(h + 1) * head_len;
            head_attention(
                qkv,
                &keys[range.clone()],
                &values[range],
                shape,
                h,
                &mut slot[0],
            );
            Ok(())
        },
    )?;
    for (h, scratch) in heads.iter().enumerate() {
        for i in 0..t {
            out[i * d + h * hd..][..hd].copy_from_slice(&scratch.out[i * hd..(i + 1) * hd]);
        }
    }
    Ok(())
}

/// Head `h`: row i's score against position p is the FMA chain over the
/// head dimension (one lane of a key pack), times the scale; softmax over
/// positions `0..=start + i` in order; the output a FMA chain over those
/// positions in order. Run inside a SIMD dispatch so that `mul_add` is the
/// hardware FMA (the same bits as the software one, many times faster).
fn head_attention(
    qkv: &[f32],
    keys: &[f32],
    values: &[f32],
    shape: AttentionShape,
    h: usize,
    scratch: &mut HeadScratch,
) {
    struct Run<'a> {
        qkv: &'a [f32],
        keys: &'a [f32],
        values: &'a [f32],
        shape: AttentionShape,
        h: usize,
        scratch: &'a mut HeadScratch,
    }
    impl pulp::WithSimd for Run<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) {
            let Run {
                qkv,
                keys,
                values,
                shape,
                h,
                scratch,
            } = self;
            let AttentionShape {
                t,
                start,
                head_dim: hd,
                scale,
                ..
            } = shape;
            let d = shape.heads * hd;
            let total = start + t;
            let stride = total.next_multiple_of(PACK);
            scratch.q.clear();
            for i in 0..t {
                scratch
                    .q
                    .extend_from_slice(&qkv[i * 3 * d + h * hd..][..hd]);
            }
            scratch.scores.resize(t * stride, 0.0);
            scratch.tile.resize(t * PACK, 0.0);
            for pack in 0..total.div_ceil(PACK) {
                // Rows before `first` see none of this pack's positions.
                let first = (pack * PACK).saturating_sub(start);
                let rows = t - first;
                pack_rows_simd(
                    simd,
                    &keys[pack * PACK * hd..(pack + 1) * PACK * hd],
                    &scratch.q[first * hd..],
                    rows,
                    &mut scratch.tile[..rows * PACK],
                );
                for r in 0..rows {
                    scratch.scores[(first + r) * stride + pack * PACK..][..PACK]
                        .copy_from_slice(&scratch.tile[r * PACK..(r + 1) * PACK]);
                }
            }
            scratch.out.resize(t * hd, 0.0);
            for i in 0..t {
                let scores = &mut scratch.scores[i * stride..i * stride + start + i + 1];
                let mut max = f32::NEG_INFINITY;
                for score in scores.iter_mut() {
                    *score *= scale;
                    max = max.max(*score);
                }
                let mut sum = 0.0f32;
                for score in scores.iter_mut() {
                    *score = (*score - max).exp();
                    sum += *score;
                }
                let o = &mut scratch.out[i * hd..(i + 1) * hd];
                o.fill(0.0);
                for (p, &e) in scores.iter().enumerate() {
                    let weight = e / sum;
                    for (oo, &vv) in o.iter_mut().zip(&values[p * hd..(p + 1) * hd]) {
                        *oo = weight.mul_add(vv, *oo);
                    }
                }
            }
        }
    }
    pulp::Arch::new().dispatch(Run {
        qkv,
        keys,
        values,
        shape,
        h,
        scratch,
    });
}

/// LayerNorm of each `d`-wide row of `x` into `y` (as many rows as `y` holds).
fn layer_norm(x: &[f32], y: &mut [f32], d: usize, (weight, bias): &(Vec<f32>, Vec<f32>), eps: f32) {
    for (row, out) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (i, o) in out.iter_mut().enumerate() {
            *o = (row[i] - mean) * inv * weight[i] + bias[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention from the rows of `qkv` alone: sequential dot products,
    /// softmax and weighted sums, position by position.
    fn reference_attention(qkv: &[f32], shape: AttentionShape, past: &[f32]) -> Vec<f32> {
        let (hd, heads) = (shape.head_dim, shape.heads);
        let d = heads * hd;
        // Rows of every position: the past ones then the new ones.
        let all: Vec<&[f32]> = past
            .chunks_exact(3 * d)
            .chain(qkv.chunks_exact(3 * d))
            .collect();
        let mut out = vec![0.0f32; shape.t * d];
        for i in 0..shape.t {
            let q_row = all[shape.start + i];
            for h in 0..heads {
                let q = &q_row[h * hd..(h + 1) * hd];
                let scores: Vec<f32> = all[..=shape.start + i]
                    .iter()
                    .map(|row| {
                        let k = &row[d + h * hd..d + (h + 1) * hd];
                        q.iter()
                            .zip(k)
                            .fold(0.0f32, |acc, (&a, &b)| a.mul_add(b, acc))
                            * shape.scale
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum = exps.iter().fold(0.0f32, |acc, e| acc + e);
                let o = &mut out[i * d + h * hd..][..hd];
                for (p, e) in exps.iter().enumerate() {
                    let v = &all[p][2 * d + h * hd..2 * d + (h + 1) * hd];
                    for (oo, &vv) in o.iter_mut().zip(v) {
                        *oo = (e / sum).mul_add(vv, *oo);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn packed_attention_gives_the_bits_of_sequential_dot_products_on_any_thread_count() {
        // Large enough to run in parallel (t x positions x d above the
        // threshold), with the new rows starting inside a pack.
        let (heads, hd, start, t) = (8, 64, 21, 47);
        let d = heads * hd;
        assert!(t * (start + t) * d >= PARALLEL_ATTENTION_WORK);
        let padded = (start + t + 5).next_multiple_of(PACK);
        let value = |i: usize| ((i * 7919) % 211) as f32 / 105.0 - 1.0;
        let past: Vec<f32> = (0..start * 3 * d).map(value).collect();
        let qkv: Vec<f32> = (0..t * 3 * d).map(|i| value(i + past.len())).collect();
        let shape = |start: usize, t: usize| AttentionShape {
            t,
            start,
            heads,
            head_dim: hd,
            padded,
            scale: 1.0 / (hd as f32).sqrt(),
        };
        let expected = reference_attention(&qkv, shape(start, t), &past);
        for threads in [1, 2, 3] {
            let mut keys = vec![0.0; padded * d];
            let mut values = vec![0.0; padded * d];
            let mut scratch: Vec<HeadScratch> =
                (0..heads).map(|_| HeadScratch::default()).collect();
            // The past one row at a time (decode), then the new rows at once.
            let mut out = vec![0.0; d];
            for (p, row) in past.chunks_exact(3 * d).enumerate() {
                shape(p, 1).store(row, &mut keys, &mut values);
                attention(
                    row,
                    &keys,
                    &values,
                    shape(p, 1),
                    &mut scratch,
                    &mut out,
                    threads,
                )
                .unwrap();
            }
            assert_eq!(
                out,
                reference_attention(
                    &past[(start - 1) * 3 * d..],
                    shape(start - 1, 1),
                    &past[..(start - 1) * 3 * d]
                )
            );
            let mut out = vec![0.0; t * d];
            shape(start, t).store(&qkv, &mut keys, &mut values);
            attention(
                &qkv,
                &keys,
                &values,
                shape(start, t),
                &mut scratch,
                &mut out,
                threads,
            )
            .unwrap();
            assert_eq!(out, expected, "threads {threads}");
        }
    }
}
