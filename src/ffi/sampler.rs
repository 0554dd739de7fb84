//! `HeliosSampler`: the C face of [`crate::lm::Sampler`], a single-owner
//! handle (a second thread inside it at once gets `HELIOS_ERR_BUSY`). It
//! holds its own reference to the model, so the model handle may be freed
//! first.

use std::ffi::{c_char, c_void, CStr};

use super::cancel::HeliosCancelToken;
use super::handle::{output_slice, read_options, retain, slice_in, to_threads, SingleOwner};
use super::model::HeliosModel;
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use super::tokenizer::HeliosTokenizer;
use crate::error::{Error, Result};
use crate::lm::tokenizer::check_utf8;
use crate::lm::{Sampler, SamplerOptions, StopReason};

/// `*out_stop_reason`: `max_tokens` tokens were produced.
pub const HELIOS_STOP_MAX_TOKENS: i32 = 0;
/// `*out_stop_reason`: a stop token was drawn (it is not in the output).
pub const HELIOS_STOP_TOKEN: i32 = 1;
/// `*out_stop_reason`: a stop string appeared (it is not in the output).
pub const HELIOS_STOP_STRING: i32 = 2;
/// `*out_stop_reason`: the context (KV cache) is full.
pub const HELIOS_STOP_CONTEXT_FULL: i32 = 3;
/// `*out_stop_reason`: the callback returned non-zero.
pub const HELIOS_STOP_CALLBACK: i32 = 4;

/// Called with each generated token and the caller's `user_data`, on the
/// thread that called generate. Return 0 to go on, non-zero to stop
/// (`HELIOS_STOP_CALLBACK`). It must return normally: no C++ exception,
/// `longjmp` or other unwinding out of it.
pub type HeliosTokenFn = Option<unsafe extern "C" fn(token: u32, user_data: *mut c_void) -> i32>;

/// Called with each piece of generated text (`len` bytes of whole UTF-8
/// characters, not NUL-terminated, valid only during the call) and the
/// caller's `user_data`. Return 0 to go on, non-zero to stop. It must
/// return normally (no exception, `longjmp` or unwinding out of it).
pub type HeliosTextFn =
    Option<unsafe extern "C" fn(piece: *const c_char, len: usize, user_data: *mut c_void) -> i32>;

/// The settings of a sampler. Fill it with
/// `helios_sampler_default_options()` and change the fields you need, so
/// that `struct_size` is right.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosSamplerOptions {
    /// `sizeof(HeliosSamplerOptions)`; read first, refused when it differs.
    pub struct_size: usize,
    /// 0 for greedy decoding (argmax, ties to the lower id); otherwise the
    /// logits are divided by it. Finite, >= 0. Default 1.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 (default) keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability
    /// reaches top_p, in (0, 1]. Default 1 (all).
    pub top_p: f32,
    /// Penalty for tokens already in the context (> 0; 1 = none, default).
    pub repetition_penalty: f32,
    /// Seed of the sampler's random generator (also after reset). Default 0.
    pub seed: u64,
    /// The most tokens one generate call produces (>= 1). Default 256.
    pub max_tokens: usize,
    /// `stop_tokens_count` token ids that end generation; NULL when 0.
    pub stop_tokens: *const u32,
    /// The number of stop tokens.
    pub stop_tokens_count: usize,
    /// `stop_strings_count` NUL-terminated UTF-8 texts that end
    /// `helios_sampler_generate_text`; NULL when 0.
    pub stop_strings: *const *const c_char,
    /// The number of stop strings.
    pub stop_strings_count: usize,
    /// The KV cache's length: prompt and generated tokens together fill at
    /// most this many positions (then `HELIOS_STOP_CONTEXT_FULL`); at most
    /// the model's n_positions; 0 (default) for n_positions.
    pub context: usize,
    /// Workers for the forward passes, or `HELIOS_AUTO` (default). The
    /// tokens do not depend on it.
    pub threads: usize,
}

/// A generation request's state over a shared model: its KV cache, random
/// generator and context. Opaque; single-owner.
pub struct HeliosSampler {
    inner: SingleOwner<Sampler>,
}

/// The default sampler options: temperature 1, top_k 0, top_p 1, repetition
/// penalty 1, seed 0, 256 tokens, no stop tokens or strings, the model's
/// context, `HELIOS_AUTO` threads.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_sampler_default_options() -> HeliosSamplerOptions {
    let d = SamplerOptions::default();
    HeliosSamplerOptions {
        struct_size: std::mem::size_of::<HeliosSamplerOptions>(),
        temperature: d.temperature,
        top_k: d.top_k,
        top_p: d.top_p,
        repetition_penalty: d.repetition_penalty,
        seed: d.seed,
        max_tokens: d.max_tokens,
        stop_tokens: std::ptr::null(),
        stop_tokens_count: 0,
        stop_strings: std::ptr::null(),
        stop_strings_count: 0,
        context: 0,
        threads: HELIOS_AUTO,
    }
}

/// The core options of a C struct.
///
/// # Safety
/// The struct's arrays hold their counts of elements (NUL-terminated
/// strings for `stop_strings`).
unsafe fn core_options(o: &HeliosSamplerOptions) -> Result<SamplerOptions> {
    let stop_tokens = if o.stop_tokens_count == 0 {
        Vec::new()
    } else {
        // SAFETY: per the contract.
        unsafe { slice_in(o.stop_tokens, o.stop_tokens_count, "options.stop_tokens") }?.to_vec()
    };
    let mut stop_strings = Vec::new();
    if o.stop_strings_count > 0 {
        // SAFETY: per the contract.
        let list =
            unsafe { slice_in(o.stop_strings, o.stop_strings_count, "options.stop_strings") }?;
        for (i, &text) in list.iter().enumerate() {
            if text.is_null() {
                return Err(Error::NullArgument("options.stop_strings[i]"));
            }
            // SAFETY: a NUL-terminated string per the contract.
            let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
            stop_strings
                .push(check_utf8(bytes, &format!("options.stop_strings[{i}]"))?.to_string());
        }
    }
    Ok(SamplerOptions {
        temperature: o.temperature,
        top_k: o.top_k,
        top_p: o.top_p,
        repetition_penalty: o.repetition_penalty,
        seed: o.seed,
        max_tokens: o.max_tokens,
        stop_tokens,
        stop_strings,
        context: o.context,
        threads: to_threads(o.threads),
    })
}

/// Create a sampler over `model` with `options` (NULL for the defaults) and
/// store it in `*out`; free it with `helios_sampler_free`. The sampler keeps
/// the model alive: `helios_model_free` may come first.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (bad
/// struct_size; temperature NaN, infinite or negative; top_p outside (0, 1];
/// repetition_penalty not finite and positive; max_tokens 0; an empty stop
/// string; a stop token not below the vocabulary size; context above
/// n_positions; threads 0 or > 1024), `HELIOS_ERR_OUT_OF_MEMORY`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `model` is NULL or live; `options` is NULL or a valid struct; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_sampler_new(
    model: *const HeliosModel,
    options: *const HeliosSamplerOptions,
    out: *mut *mut HeliosSampler,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let model = unsafe { retain(model) }.ok_or(Error::NullArgument("model"))?;
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let options = unsafe {
            read_options(
                options,
                helios_sampler_default_options(),
                "helios_sampler_default_options",
            )
        }?;
        // SAFETY: per the contract.
        let options = unsafe { core_options(&options) }?;
        let sampler = Sampler::new(&model.model, options)?;
        let handle = Box::into_raw(Box::new(HeliosSampler {
            inner: SingleOwner::new("the sampler", sampler),
        }));
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Free a sampler. NULL does nothing and returns `HELIOS_OK`. A sampler that
/// another thread is inside is not freed: `HELIOS_ERR_BUSY`. As with
/// `free()`, no call may use the handle once it is freed.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `sampler` is NULL or a live sampler that no call will use afterwards.
#[no_mangle]
pub unsafe extern "C" fn helios_sampler_free(sampler: *mut HeliosSampler) -> HeliosStatus {
    ffi_call(|| {
        if sampler.is_null() {
            return Ok(());
        }
        // SAFETY: a live sampler per the contract.
        let guard = unsafe { &*sampler }.inner.enter()?;
        // Keep the in-use flag raised until the memory is gone.
        std::mem::forget(guard);
        // SAFETY: made by `Box::into_raw` in `helios_sampler_new`; held by
        // this thread and not used again per the contract.
        drop(unsafe { Box::from_raw(sampler) });
        Ok(())
    })
}

/// The sampler behind a handle, entered for the calling thread.
///
/// # Safety
/// `sampler` is NULL or a live sampler for the whole call.
unsafe fn with_sampler<R>(
    sampler: *const HeliosSampler,
    body: impl FnOnce(&mut Sampler) -> Result<R>,
) -> Result<R> {
    // SAFETY: per the contract.
    let sampler = unsafe { sampler.as_ref() }.ok_or(Error::NullArgument("sampler"))?;
    let mut guard = sampler.inner.enter()?;
    body(&mut guard)
}

/// Forget the context and restart the random generator from the seed.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `sampler` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn helios_sampler_reset(sampler: *mut HeliosSampler) -> HeliosStatus {
    // SAFETY: per the contract.
    ffi_call(|| unsafe {
        with_sampler(sampler, |s| {
            s.reset();
            Ok(())
        })
    })
}

/// The number of tokens in the sampler's context (prompts and generated
/// tokens) into `*out`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `sampler` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_sampler_context_len(
    sampler: *const HeliosSampler,
    out: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let n = unsafe { with_sampler(sampler, |s| Ok(s.context().len())) }?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(n) };
        Ok(())
    })
}

fn reason_code(reason: StopReason) -> i32 {
    match reason {
        StopReason::MaxTokens => HELIOS_STOP_MAX_TOKENS,
        StopReason::StopToken(_) => HELIOS_STOP_TOKEN,
        StopReason::StopString => HELIOS_STOP_STRING,
        StopReason::ContextFull => HELIOS_STOP_CONTEXT_FULL,
        StopReason::Callback => HELIOS_STOP_CALLBACK,
    }
}

/// Append `prompt_len` token ids to the context and generate up to
/// `max_tokens` tokens. Each token goes to `out_tokens` (when not NULL; it
/// must then hold the most this call can produce, max_tokens or the room
/// left in the context if smaller, else
/// `HELIOS_ERR_BUFFER_TOO_SMALL` before anything runs; it may not overlap
/// the prompt) and to `on_token` (when not NULL) as it comes. A later call
/// continues the same context (`prompt_len` may then be 0).
/// `*out_count` receives the number produced, also on error (a cancelled
/// call keeps the tokens produced so far); `*out_stop_reason` (when not
/// NULL) one of `HELIOS_STOP_*`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_ARGUMENT` (an empty prompt on an empty context, an id
/// not below the vocabulary size (named), a prompt that does not fit in the
/// context), `HELIOS_ERR_BUFFER_TOO_SMALL`, `HELIOS_ERR_CANCELLED` (the
/// token was raised; checked before each token and between the layers of a
/// forward pass, so a long prompt stops early too).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY). The callback runs on the calling thread.
///
/// # Safety
/// `sampler` is NULL or live; `prompt` is NULL or holds `prompt_len` ids;
/// `out_tokens` is NULL or holds `capacity` writable ids; `out_count` is
/// NULL or writable; `cancel` is NULL or live; `out_stop_reason` is NULL or
/// writable; `on_token` is NULL or safe to call with `user_data`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn helios_sampler_generate(
    sampler: *mut HeliosSampler,
    prompt: *const u32,
    prompt_len: usize,
    out_tokens: *mut u32,
    capacity: usize,
    on_token: HeliosTokenFn,
    user_data: *mut c_void,
    cancel: *const HeliosCancelToken,
    out_count: *mut usize,
    out_stop_reason: *mut i32,
) -> HeliosStatus {
    let mut produced = 0usize;
    let status = ffi_call(|| {
        let prompt: &[u32] = if prompt_len == 0 {
            &[]
        } else {
            // SAFETY: per the contract.
            unsafe { slice_in(prompt, prompt_len, "prompt") }?
        };
        // SAFETY: NULL or a live token per the contract.
        let cancel = unsafe { retain(cancel) };
        let run = |s: &mut Sampler| -> Result<()> {
            // The most tokens this call can produce: max_tokens, or fewer
            // when the context fills first. The buffer must hold that many.
            let room = s
                .context_capacity()
                .saturating_sub(s.context().len() + prompt.len());
            let most = s.options().max_tokens.min(room);
            let out: &mut [u32] = if out_tokens.is_null() {
                &mut []
            } else {
                // SAFETY: per the contract (checked for size, alignment and
                // overlap with the prompt).
                unsafe {
                    output_slice(
                        out_tokens,
                        capacity,
                        most,
                        ("out_tokens", &[(prompt, "prompt")]),
                    )
                }?
            };
            let store = !out_tokens.is_null();
            let mut tokens = Vec::new();
            let mut callback = |token: u32| -> bool {
                if store {
                    out[produced] = token;
                }
                produced += 1;
                match on_token {
                    // SAFETY: the caller's callback with its own data.
                    Some(f) => (unsafe { f(token, user_data) }) == 0,
                    None => true,
                }
            };
            let reason = s.generate(
                prompt,
                &mut tokens,
                &mut callback,
                cancel.as_deref().map(|c| &c.token),
            )?;
            if !out_stop_reason.is_null() {
                // SAFETY: non-NULL, writable per the contract.
                unsafe { out_stop_reason.write(reason_code(reason)) };
            }
            Ok(())
        };
        // SAFETY: per the contract.
        unsafe { with_sampler(sampler, run) }
    });
    if !out_count.is_null() {
        // SAFETY: non-NULL, writable per the contract.
        unsafe { out_count.write(produced) };
    }
    status
}

/// Encode `prompt` (`prompt_len` bytes of UTF-8) with `tokenizer`, generate,
/// and stream the text to `on_text` in pieces of whole UTF-8 characters
/// (never half a character; never a part of a stop string: text that may
/// begin one is held back until it cannot). Generation ends at max_tokens, a
/// stop token, a stop string (not included), a full context or a non-zero
/// return of `on_text`. `*out_len` (when not NULL) receives the bytes of
/// text streamed, also on error; `*out_stop_reason` (when not NULL) one of
/// `HELIOS_STOP_*`. Only ids below the tokenizer's vocabulary size are drawn
/// (a model's vocabulary may be padded beyond it).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (sampler, tokenizer, on_text, prompt
/// when prompt_len > 0), `HELIOS_ERR_BUSY`, `HELIOS_ERR_INVALID_ARGUMENT`
/// (the prompt not UTF-8 or encoding to no tokens on an empty context, a
/// tokenizer whose ids do not fit the model), `HELIOS_ERR_CANCELLED`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY). The tokenizer is shareable; the callback runs on the
/// calling thread.
///
/// # Safety
/// `sampler` and `tokenizer` are NULL or live; `prompt` is NULL or holds
/// `prompt_len` bytes; `cancel` is NULL or live; `out_len` and
/// `out_stop_reason` are NULL or writable; `on_text` is NULL or safe to call
/// with `user_data`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn helios_sampler_generate_text(
    sampler: *mut HeliosSampler,
    tokenizer: *const HeliosTokenizer,
    prompt: *const c_char,
    prompt_len: usize,
    on_text: HeliosTextFn,
    user_data: *mut c_void,
    cancel: *const HeliosCancelToken,
    out_len: *mut usize,
    out_stop_reason: *mut i32,
) -> HeliosStatus {
    let mut streamed = 0usize;
    let status = ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { retain(tokenizer) }.ok_or(Error::NullArgument("tokenizer"))?;
        let Some(on_text) = on_text else {
            return Err(Error::NullArgument("on_text"));
        };
        let prompt: &[u8] = if prompt_len == 0 {
            &[]
        } else {
            // SAFETY: per the contract.
            unsafe { slice_in(prompt.cast::<u8>(), prompt_len, "prompt") }?
        };
        let prompt = check_utf8(prompt, "prompt")?;
        // SAFETY: NULL or a live token per the contract.
        let cancel = unsafe { retain(cancel) };
        let run = |s: &mut Sampler| -> Result<()> {
            if tokenizer.tokenizer.vocab_size() > s.model().config().vocab_size {
                return Err(Error::invalid(format!(
                    "the tokenizer has {} ids but the model's vocabulary has {}",
                    tokenizer.tokenizer.vocab_size(),
                    s.model().config().vocab_size
                )));
            }
            let mut text = String::new();
            let mut callback = |piece: &str| -> bool {
                streamed += piece.len();
                // SAFETY: the caller's callback with its own data; the
                // piece outlives the call.
                let code = unsafe { on_text(piece.as_ptr().cast(), piece.len(), user_data) };
                code == 0
            };
            let reason = s.generate_text(
                &tokenizer.tokenizer,
                prompt,
                &mut text,
                &mut callback,
                cancel.as_deref().map(|c| &c.token),
            )?;
            if !out_stop_reason.is_null() {
                // SAFETY: non-NULL, writable per the contract.
                unsafe { out_stop_reason.write(reason_code(reason)) };
            }
            Ok(())
        };
        // SAFETY: per the contract.
        unsafe { with_sampler(sampler, run) }
    });
    if !out_len.is_null() {
        // SAFETY: non-NULL, writable per the contract.
        unsafe { out_len.write(streamed) };
    }
    status
}
