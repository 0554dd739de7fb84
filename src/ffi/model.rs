//! `HeliosModel`: the C face of [`crate::lm::Model`], a shareable,
//! reference-counted handle. Every call takes a reference of its own for its
//! duration, so the memory outlives a `helios_model_free` from another
//! thread until the calls inside have returned.

use std::ffi::c_char;
use std::sync::Arc;

use super::handle::{
    named_path_arg, output_slice, read_options, release, report_needed, retain, share, slice_in,
    to_threads,
};
use super::status::{ffi_call, HeliosStatus};
use crate::error::{Error, Result};
use crate::lm::{GptConfig, Model};

/// The shape of a GPT-2 model (Hugging Face's `GPT2Config` fields). Fill it
/// with `helios_model_default_config()` (GPT-2 small) and change the fields
/// you need, so that `struct_size` is right.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosGptConfig {
    /// `sizeof(HeliosGptConfig)`; read first, refused when it differs.
    pub struct_size: usize,
    /// Token ids are below this (GPT-2: 50257).
    pub vocab_size: usize,
    /// The context length (GPT-2: 1024).
    pub n_positions: usize,
    /// The width d (GPT-2 small: 768).
    pub n_embd: usize,
    /// Transformer blocks (12).
    pub n_layer: usize,
    /// Attention heads, dividing n_embd (12).
    pub n_head: usize,
    /// The MLP's hidden width (4 n_embd).
    pub n_inner: usize,
    /// The LayerNorm epsilon (1e-5).
    pub layer_norm_epsilon: f32,
}

/// A GPT-2 language model. Opaque; shareable: the weights are immutable, so
/// any number of threads may run forward passes at once (each call keeps
/// its activations to itself).
pub struct HeliosModel {
    pub(crate) model: Model,
}

fn to_c(config: &GptConfig) -> HeliosGptConfig {
    HeliosGptConfig {
        struct_size: std::mem::size_of::<HeliosGptConfig>(),
        vocab_size: config.vocab_size,
        n_positions: config.n_positions,
        n_embd: config.n_embd,
        n_layer: config.n_layer,
        n_head: config.n_head,
        n_inner: config.n_inner,
        layer_norm_epsilon: config.layer_norm_epsilon,
    }
}

/// GPT-2 small's shape: vocab 50257, 1024 positions, width 768, 12 layers,
/// 12 heads, MLP 3072, epsilon 1e-5, with the right `struct_size`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_model_default_config() -> HeliosGptConfig {
    to_c(&GptConfig::new(50257, 1024, 768, 12, 12))
}

/// The model behind a handle, with a reference of the call's own.
///
/// # Safety
/// `model` is NULL or a live model handle.
unsafe fn entered(model: *const HeliosModel) -> Result<Arc<HeliosModel>> {
    // SAFETY: per the contract.
    unsafe { retain(model) }.ok_or(Error::NullArgument("model"))
}

/// Hand a new model to `*out` (checked non-NULL first).
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn hand_out(out: *mut *mut HeliosModel, make: impl FnOnce() -> Result<Model>) -> Result<()> {
    if out.is_null() {
        return Err(Error::NullArgument("out"));
    }
    let model = make()?;
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { out.write(share(HeliosModel { model })) };
    Ok(())
}

/// A model of shape `*config` with seeded random weights (Hugging Face's
/// GPT-2 initialisation: normal(0, 0.02), output projections scaled by
/// 1/sqrt(2 n_layer), zero biases, unit LayerNorms), into `*out`; the same
/// seed gives the same weights on every machine. Free it with
/// `helios_model_free`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (bad
/// struct_size, a size of 0 or above 2^24, n_head not dividing n_embd, an
/// epsilon that is not finite and positive), `HELIOS_ERR_OUT_OF_MEMORY`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `config` is NULL or a valid struct; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_model_random(
    config: *const HeliosGptConfig,
    seed: u64,
    out: *mut *mut HeliosModel,
) -> HeliosStatus {
    ffi_call(|| {
        if config.is_null() {
            return Err(Error::NullArgument("config"));
        }
        // SAFETY: a valid struct per the contract.
        let c = unsafe {
            read_options(
                config,
                helios_model_default_config(),
                "helios_model_default_config",
            )
        }?;
        let config = GptConfig {
            vocab_size: c.vocab_size,
            n_positions: c.n_positions,
            n_embd: c.n_embd,
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_inner: c.n_inner,
            layer_norm_epsilon: c.layer_norm_epsilon,
        };
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Model::random(config, seed)) }
    })
}

/// Load a Hugging Face GPT-2 checkpoint directory (`dir`, `dir_len` bytes of
/// UTF-8): `config.json` and `model.safetensors` (memory-mapped; keys with
/// or without `transformer.`; f32, f16 or bf16 weights, converted to f32).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (dir),
/// `HELIOS_ERR_IO` (a file missing or unreadable), `HELIOS_ERR_FORMAT` (a
/// model_type other than "gpt2", a missing tensor, a wrong shape or dtype, a
/// truncated or corrupt file, a config.json that disagrees with the tensors;
/// the message names the field or tensor), `HELIOS_ERR_UNSUPPORTED` (an
/// activation other than GELU-tanh, untied embeddings), `HELIOS_ERR_NUMERIC`
/// (NaN or infinite weights).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `dir` is NULL or holds `dir_len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_model_load(
    dir: *const c_char,
    dir_len: usize,
    out: *mut *mut HeliosModel,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let dir = unsafe { named_path_arg(dir, dir_len, "dir") }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Model::load(dir)) }
    })
}

/// Save the model to `dir` (created when missing) as `config.json` and
/// `model.safetensors` in Hugging Face's layout (`transformers` loads it),
/// each file written atomically.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (dir),
/// `HELIOS_ERR_IO`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `model` is NULL or live; `dir` is NULL or holds `dir_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn helios_model_save(
    model: *const HeliosModel,
    dir: *const c_char,
    dir_len: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let model = unsafe { entered(model) }?;
        // SAFETY: per the contract.
        let dir = unsafe { named_path_arg(dir, dir_len, "dir") }?;
        model.model.save(dir)
    })
}

/// Release the caller's handle; NULL is a no-op. The memory goes when the
/// last call that is still inside the model (from another thread) returns.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the handle must not be used after this call.
///
/// # Safety
/// `model` is NULL or a live handle, released once.
#[no_mangle]
pub unsafe extern "C" fn helios_model_free(model: *mut HeliosModel) {
    let _ = ffi_call(|| {
        // SAFETY: per the contract, a live handle released once.
        unsafe { release(model) };
        Ok(())
    });
}

/// The model's shape into `*out` (its `struct_size` is set).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `model` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_model_get_config(
    model: *const HeliosModel,
    out: *mut HeliosGptConfig,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let model = unsafe { entered(model) }?;
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(to_c(model.model.config())) };
        Ok(())
    })
}

/// The logits of a whole sequence of `count` token ids: `count x vocab_size`
/// floats, row-major, into `logits` (room for `capacity`). `*out_needed`
/// (when not NULL) receives `count x vocab_size`, also when the buffer is
/// too small. Row t depends only on ids[0..=t], bit for bit: it equals the
/// last row of a forward over ids[0..=t] and the logits a KV-cache decode
/// gives for token t, for every `threads` (`HELIOS_AUTO` or 1..1024).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (count
/// 0 or above n_positions, an id not below vocab_size (named), a bad thread
/// count), `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `model` is NULL or live; `ids` is NULL or holds `count` ids; `logits` is
/// NULL or holds `capacity` writable floats; `out_needed` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_model_forward(
    model: *const HeliosModel,
    ids: *const u32,
    count: usize,
    threads: usize,
    logits: *mut f32,
    capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let model = unsafe { entered(model) }?;
        if count == 0 {
            return Err(Error::invalid("count is 0: give at least one token id"));
        }
        // SAFETY: per the contract.
        let ids = unsafe { slice_in(ids, count, "ids") }?;
        // The ids are checked before the size is answered, and the buffer
        // before the pass runs.
        let config = model.model.config();
        if count > config.n_positions {
            return Err(Error::invalid(format!(
                "count {count} is more than the model's context of {} positions",
                config.n_positions
            )));
        }
        if let Some((i, &id)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= config.vocab_size)
        {
            return Err(Error::invalid(format!(
                "ids[{i}] = {id} is not below the vocabulary size {}",
                config.vocab_size
            )));
        }
        let needed = count.checked_mul(config.vocab_size);
        // SAFETY: per the contract.
        let needed = unsafe { report_needed(needed, out_needed) }?;
        // SAFETY: per the contract.
        let out = unsafe { output_slice(logits, capacity, needed, ("logits", &[])) }?;
        out.copy_from_slice(&model.model.forward(ids, to_threads(threads))?);
        Ok(())
    })
}
