//! Generation: a [`Sampler`] is one request's state — its KV cache, random
//! generator, position and the tokens in its context — over a shared
//! [`Model`]. Single-owner: one thread uses it at a time (the C layer turns
//! a second thread into `HELIOS_ERR_BUSY`); any number of samplers run on
//! one model at once.
//!
//! Each step turns the last logits into a token: the repetition penalty
//! (as in CTRL and Hugging Face: a positive logit of a token already in the
//! context is divided by the penalty, a negative one multiplied), then
//! greedy argmax at temperature 0, or else the logits divided by the
//! temperature, the `top_k` most likely kept, the smallest set of those
//! whose probability reaches `top_p` kept, and one drawn from what is left
//! with the sampler's seeded generator. Candidates are ordered by logit,
//! ties to the lower id, so a seed gives the same tokens on every run and,
//! since the logits are the same bits for every thread count, whatever the
//! thread count.

use super::model::{KvCache, LogitRows, Model};
use super::tokenizer::Tokenizer;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::exec::Threads;
use crate::rng::SplitMix64;

/// The settings of a [`Sampler`].
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerOptions {
    /// 0 for greedy decoding (argmax, ties to the lower id); otherwise the
    /// logits are divided by it. Default 1.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 (default) keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability
    /// reaches top_p, in (0, 1]; 1 (default) keeps all.
    pub top_p: f32,
    /// Penalty for tokens already in the context, > 0; 1 (default) is none.
    pub repetition_penalty: f32,
    /// Seed of the sampler's random generator (also after `reset`).
    pub seed: u64,
    /// The most tokens one `generate` call produces. Default 256.
    pub max_tokens: usize,
    /// Tokens that end generation (not included in the output).
    pub stop_tokens: Vec<u32>,
    /// Texts that end [`Sampler::generate_text`] (not included).
    pub stop_strings: Vec<String>,
    /// The KV cache's length: the most positions (prompt + generated) the
    /// sampler holds; 0 (default) for the model's `n_positions`.
    pub context: usize,
    /// Workers for the forward passes. Results do not depend on it.
    pub threads: Threads,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
            max_tokens: 256,
            stop_tokens: Vec::new(),
            stop_strings: Vec::new(),
            context: 0,
            threads: Threads::Auto,
        }
    }
}

impl SamplerOptions {
    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::invalid(format!(
                "temperature is {}: it must be finite and at least 0",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::invalid(format!(
                "top_p is {}: it must be in (0, 1]",
                self.top_p
            )));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(Error::invalid(format!(
                "repetition_penalty is {}: it must be finite and positive",
                self.repetition_penalty
            )));
        }
        if self.max_tokens == 0 {
            return Err(Error::invalid("max_tokens is 0"));
        }
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(Error::invalid("a stop string is empty"));
        }
        self.threads.resolve().map(|_| ())
    }
}

/// Why a `generate` call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_tokens` were produced.
    MaxTokens,
    /// A stop token was drawn (it is not in the output).
    StopToken(u32),
    /// A stop string appeared (it is not in the output).
    StopString,
    /// The context is full.
    ContextFull,
    /// The callback asked to stop.
    Callback,
}

/// One request's generation state (single-owner; see the module
/// documentation). It keeps its model alive.
pub struct Sampler {
    model: Model,
    options: SamplerOptions,
    cache: KvCache,
    rng: SplitMix64,
    /// Every token in the context, prompt and generated; those past
    /// `cache.len()` have not been through the model yet (the last token
    /// drawn).
    context: Vec<u32>,
    /// The logits after the last token that went through the model.
    logits: Vec<f32>,
    candidates: Vec<(u32, f32)>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("options", &self.options)
            .field("position", &self.context.len())
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// A sampler over `model` (sharing its weights) with an empty context.
    ///
    /// Errors: [`Error::InvalidArgument`] for options out of range (named),
    /// a stop token outside the vocabulary, or a context above the model's
    /// `n_positions`.
    pub fn new(model: &Model, options: SamplerOptions) -> Result<Sampler> {
        options.validate()?;
        let vocab = model.config().vocab_size;
        if let Some(&id) = options.stop_tokens.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::invalid(format!(
                "stop token {id} is not below the vocabulary size {vocab}"
            )));
        }
        let context = match options.context {
            0 => model.config().n_positions,
            n => n,
        };
        let cache = model.new_cache(context)?;
        Ok(Sampler {
            model: model.clone(),
            rng: SplitMix64(options.seed),
            options,
            cache,
            context: Vec::new(),
            logits: Vec::new(),
            candidates: Vec::new(),
        })
    }

    /// The model it generates with.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The settings.
    pub fn options(&self) -> &SamplerOptions {
        &self.options
    }

    /// The most tokens (prompt and generated) the context holds.
    pub fn context_capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// The tokens in the context: the prompts and the generated tokens.
    pub fn context(&self) -> &[u32] {
        &self.context
    }

    /// Forget the context and restart the random generator from the seed:
    /// the next `generate` behaves as on a new sampler.
    pub fn reset(&mut self) {
        self.cache.clear();
        self.context.clear();
        self.logits.clear();
        self.rng = SplitMix64(self.options.seed);
    }

    /// Append `prompt` to the context and generate up to `max_tokens`
    /// tokens, pushing each to `out` and passing it to `on_token` (return
    /// `false` to stop) as it comes. A later call continues the same
    /// context (its prompt may be empty). On error, `out` holds the tokens
    /// produced before it and the context stays consistent.
    ///
    /// Errors: [`Error::InvalidArgument`] for an empty prompt on an empty
    /// context, an id not below the vocabulary size (named), or a prompt
    /// that does not fit in the context; [`Error::Cancelled`] when `cancel`
    /// is raised (checked before each token and between the layers of a
    /// forward pass, so a long prompt stops early too; the context keeps
    /// the prompt, and a later call feeds the rest of it).
    pub fn generate(
        &mut self,
        prompt: &[u32],
        out: &mut Vec<u32>,
        on_token: &mut dyn FnMut(u32) -> bool,
        cancel: Option<&CancelToken>,
    ) -> Result<StopReason> {
        let vocab = self.model.config().vocab_size;
        self.generate_below(prompt, out, on_token, cancel, vocab)
    }

    /// [`generate`](Self::generate) drawing only ids below `limit` (the
    /// tokenizer's vocabulary, when the model's is padded beyond it).
    fn generate_below(
        &mut self,
        prompt: &[u32],
        out: &mut Vec<u32>,
        on_token: &mut dyn FnMut(u32) -> bool,
        cancel: Option<&CancelToken>,
        limit: usize,
    ) -> Result<StopReason> {
        let vocab = self.model.config().vocab_size;
        if let Some((i, &id)) = prompt
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= vocab)
        {
            return Err(Error::invalid(format!(
                "prompt[{i}] = {id} is not below the vocabulary size {vocab}"
            )));
        }
        if prompt.is_empty() && self.context.is_empty() {
            return Err(Error::invalid(
                "the prompt is empty: give at least one token id",
            ));
        }
        if self.context.len() + prompt.len() > self.cache.capacity() {
            return Err(Error::invalid(format!(
                "the prompt of {} tokens does not fit: {} of the context's {} positions are used",
                prompt.len(),
                self.context.len(),
                self.cache.capacity()
            )));
        }
        self.context.extend_from_slice(prompt);
        let threads = self.options.threads;
        for produced in 0..self.options.max_tokens {
            if cancel.is_some_and(|c| c.is_cancelled()) {
                return Err(Error::Cancelled(format!(
                    "generation cancelled by the CancelToken after {produced} tokens"
                )));
            }
            // Prompt and generated tokens together fill at most the context.
            if self.context.len() >= self.cache.capacity() {
                return Ok(StopReason::ContextFull);
            }
            let fed = self.cache.len();
            if fed < self.context.len() {
                self.model
                    .forward_cached_cancellable(
                        &mut self.cache,
                        &self.context[fed..],
                        LogitRows::Last,
                        threads,
                        cancel,
                        &mut self.logits,
                    )
                    .map_err(|error| match error {
                        Error::Cancelled(_) => Error::Cancelled(format!(
                            "generation cancelled by the CancelToken after {produced} tokens (inside a forward pass)"
                        )),
                        other => other,
                    })?;
            }
            let token = self.pick(limit);
            if self.options.stop_tokens.contains(&token) {
                return Ok(StopReason::StopToken(token));
            }
            out.push(token);
            self.context.push(token);
            if !on_token(token) {
                return Ok(StopReason::Callback);
            }
        }
        Ok(StopReason::MaxTokens)
    }

    /// Draw the next token from the current logits.
    fn pick(&mut self, limit: usize) -> u32 {
        candidates(
            &self.logits[..limit.min(self.logits.len())],
            &self.context,
            &self.options,
            &mut self.candidates,
        );
        if self.candidates.len() == 1 {
            return self.candidates[0].0;
        }
        // In f64, against the running sum: a draw never falls through to a
        // token of probability 0 by rounding.
        let total: f64 = self.candidates.iter().map(|c| f64::from(c.1)).sum();
        let target = self.rng.unit() * total;
        let mut cumulative = 0.0f64;
        let mut last = self.candidates[0].0;
        for &(id, p) in &self.candidates {
            if p > 0.0 {
                cumulative += f64::from(p);
                last = id;
                if target < cumulative {
                    return id;
                }
            }
        }
        last
    }

    /// Generate text: encode `prompt` with `tokenizer`, generate, and stream
    /// the decoded text to `on_text` in valid UTF-8 pieces (never half a
    /// character; never a part of a stop string), appending it to `out`.
    /// `on_text` returns `false` to stop. Stops at a stop string too (not
    /// included).
    ///
    /// Errors: as [`generate`](Self::generate), and the tokenizer's.
    pub fn generate_text(
        &mut self,
        tokenizer: &Tokenizer,
        prompt: &str,
        out: &mut String,
        on_text: &mut dyn FnMut(&str) -> bool,
        cancel: Option<&CancelToken>,
    ) -> Result<StopReason> {
        let ids = tokenizer.encode(prompt)?;
        let stops = self.options.stop_strings.clone();
        let mut stream = TextStream::new(&stops);
        let mut tokens = Vec::new();
        let mut bytes = Vec::new();
        let mut failure = None;
        let mut stopped_by_string = false;
        let mut stopped_by_callback = false;
        let limit = tokenizer.vocab_size().min(self.model.config().vocab_size);
        let reason = self.generate_below(
            &ids,
            &mut tokens,
            &mut |token| {
                bytes.clear();
                if let Err(e) = tokenizer.decode_piece(token, stream.is_empty(), &mut bytes) {
                    failure = Some(e);
                    return false;
                }
                let (piece, stop) = stream.push(&bytes);
                if !piece.is_empty() {
                    out.push_str(&piece);
                    if !on_text(&piece) {
                        stopped_by_callback = true;
                        return false;
                    }
                }
                if stop {
                    stopped_by_string = true;
                }
                !stop
            },
            cancel,
            limit,
        );
        if let Some(e) = failure {
            return Err(e);
        }
        let reason = reason?;
        if stopped_by_string {
            return Ok(StopReason::StopString);
        }
        if !stopped_by_callback {
            // The text held back (an incomplete character or a possible start
            // of a stop string) is final now.
            let (rest, stop) = stream.finish();
            if !rest.is_empty() {
                out.push_str(&rest);
                on_text(&rest);
            }
            if stop {
                return Ok(StopReason::StopString);
            }
        }
        Ok(reason)
    }
}

/// The candidates of one step, in draw order, with their (unnormalised)
/// probabilities: the rule of the module documentation applied to `logits`
/// with the tokens of `context` penalised. Greedy (temperature 0) gives the
/// argmax alone (ties to the lower id).
pub fn candidates(
    logits: &[f32],
    context: &[u32],
    options: &SamplerOptions,
    out: &mut Vec<(u32, f32)>,
) {
    out.clear();
    out.extend(logits.iter().enumerate().map(|(id, &l)| (id as u32, l)));
    if options.repetition_penalty != 1.0 {
        // Each distinct token once, with no allocation: a penalised entry's
        // id is set to the vocabulary size until all are done.
        let vocab = logits.len() as u32;
        for &id in context {
            if let Some(entry) = out.get_mut(id as usize) {
                if entry.0 != vocab {
                    entry.0 = vocab;
                    entry.1 = if entry.1 > 0.0 {
                        entry.1 / options.repetition_penalty
                    } else {
                        entry.1 * options.repetition_penalty
                    };
                }
            }
        }
        for (id, entry) in out.iter_mut().enumerate() {
            entry.0 = id as u32;
        }
    }
    // Logit descending, ties to the lower id; NaN sorts last.
    let order = |a: &(u32, f32), b: &(u32, f32)| {
        b.1.partial_cmp(&a.1)
            .unwrap_or_else(|| a.1.is_nan().cmp(&b.1.is_nan()))
            .then(a.0.cmp(&b.0))
    };
    if options.temperature == 0.0 {
        let best = out
            .iter()
            .copied()
            .min_by(order)
            .expect("a non-empty vocabulary");
        out.clear();
        out.push((best.0, 1.0));
        return;
    }
    if options.top_k > 0 && options.top_k < out.len() {
        out.select_nth_unstable_by(options.top_k - 1, order);
        out.truncate(options.top_k);
    }
    let sorted = options.top_p < 1.0 || options.top_k > 0;
    if sorted {
        out.sort_unstable_by(order);
    }
    let max = out.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    for c in out.iter_mut() {
        c.1 = ((c.1 - max) / options.temperature).exp();
        if c.1.is_nan() {
            c.1 = 0.0;
        }
    }
    if options.top_p < 1.0 {
        let total: f32 = out.iter().map(|c| c.1).sum();
        let mut mass = 0.0;
        let mut keep = out.len();
        for (i, c) in out.iter().enumerate() {
            mass += c.1;
            if mass >= options.top_p * total {
                keep = i + 1;
                break;
            }
        }
        out.truncate(keep);
    }
}

/// Decoded bytes in, whole UTF-8 text out, holding back an incomplete
/// character and anything that may be the start of a stop string.
struct TextStream<'a> {
    stops: &'a [String],
    /// Bytes not yet valid UTF-8 (an incomplete character).
    bytes: Vec<u8>,
    /// Text decoded but not emitted.
    held: String,
    started: bool,
}

impl<'a> TextStream<'a> {
    fn new(stops: &'a [String]) -> TextStream<'a> {
        TextStream {
            stops,
            bytes: Vec::new(),
            held: String::new(),
            started: false,
        }
    }

    fn is_empty(&self) -> bool {
        !self.started
    }

    /// Add bytes; the text that may be emitted now, and whether a stop
    /// string was reached (the text is then cut before it).
    fn push(&mut self, bytes: &[u8]) -> (String, bool) {
        self.started = true;
        self.bytes.extend_from_slice(bytes);
        loop {
            match std::str::from_utf8(&self.bytes) {
                Ok(text) => {
                    self.held.push_str(text);
                    self.bytes.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.held
                        .push_str(std::str::from_utf8(&self.bytes[..valid]).expect("valid prefix"));
                    match e.error_len() {
                        // Invalid bytes (not just unfinished): U+FFFD, as decode does.
                        Some(bad) => {
                            self.held.push('\u{FFFD}');
                            self.bytes.drain(..valid + bad);
                        }
                        None => {
                            self.bytes.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let text = self.held[..at].to_string();
            self.held.clear();
            return (text, true);
        }
        // Keep back the longest tail that begins a stop string.
        let mut keep = 0;
        for stop in self.stops {
            for (cut, _) in self.held.char_indices() {
                let tail = &self.held[cut..];
                if tail.len() < stop.len() && stop.starts_with(tail) {
                    keep = keep.max(tail.len());
                    break;
                }
            }
        }
        let emit = self.held.len() - keep;
        let text = self.held[..emit].to_string();
        self.held.drain(..emit);
        (text, false)
    }

    /// What is still held at the end of generation, and whether it reaches
    /// a stop string (it is then cut before it): an incomplete character
    /// becomes U+FFFD, which a stop string may hold.
    fn finish(&mut self) -> (String, bool) {
        let mut text = std::mem::take(&mut self.held);
        if !self.bytes.is_empty() {
            text.push_str(&String::from_utf8_lossy(&self.bytes));
            self.bytes.clear();
        }
        match self
            .stops
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            Some(at) => {
                text.truncate(at);
                (text, true)
            }
            None => (text, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TextStream;

    #[test]
    fn text_streams_whole_characters_and_holds_back_stop_prefixes() {
        let stops = vec!["STOP".to_string(), "\u{FFFD}".to_string()];
        let mut stream = TextStream::new(&stops);
        // "é" split over two pushes: nothing, then the whole character.
        assert_eq!(stream.push(&[0xC3]), (String::new(), false));
        assert_eq!(stream.push(&[0xA9, b'a', b'S']), ("éa".to_string(), false));
        // "ST" may begin "STOP": held; "x" rules it out.
        assert_eq!(stream.push(b"Tx"), ("STx".to_string(), false));
        assert_eq!(stream.push(b"yST"), ("y".to_string(), false));
        assert_eq!(stream.push(b"OPz"), (String::new(), true));
        // At the end, a cut character is U+FFFD, which may be a stop string.
        let mut stream = TextStream::new(&stops);
        assert_eq!(stream.push("ö".as_bytes()), ("ö".to_string(), false));
        assert_eq!(stream.push(&[0xE6]), (String::new(), false));
        assert_eq!(stream.finish(), (String::new(), true));
    }
}
