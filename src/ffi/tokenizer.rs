//! `HeliosTokenizer`: the C face of [`crate::lm::Tokenizer`], a shareable,
//! reference-counted handle. Every call takes a reference of its own for its
//! duration, so the memory outlives a `helios_tokenizer_free` from another
//! thread until the calls inside have returned.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use super::cancel::HeliosCancelToken;
use super::handle::{
    named_path_arg, output_slice, path_arg, read_options, release, report_needed, retain, share,
    slice_in, slice_out, to_threads,
};
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use crate::error::{Error, Result};
use crate::lm::tokenizer::{check_utf8, Encoding, Tokenizer, TrainOptions, NO_TOKEN};

/// `helios_tokenizer_token_to_id` writes this id for a token that is not in
/// the vocabulary (`UINT32_MAX`).
pub const HELIOS_NO_TOKEN: u32 = 0xFFFF_FFFF;

/// A tokenizer: text to token ids and back (byte-level BPE as in GPT-2, or
/// one token per character), Hugging Face `tokenizer.json` compatible.
/// Opaque; shareable: immutable after construction, so any number of threads
/// may encode and decode with one tokenizer at once.
pub struct HeliosTokenizer {
    pub(crate) tokenizer: Tokenizer,
}

/// Training progress: called with the merges done and the merges planned
/// (BPE; char-level training calls it once with 1, 1) and the caller's
/// `user_data`. Return 0 to go on, non-zero to stop the training with
/// `HELIOS_ERR_CANCELLED`. It runs on the thread that called the trainer.
pub type HeliosTrainProgressFn =
    Option<unsafe extern "C" fn(done: usize, total: usize, user_data: *mut c_void) -> i32>;

/// The settings of tokenizer training. Fill it with
/// `helios_tokenizer_default_train_options()` and change the fields you
/// need, so that `struct_size` is right.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosTokenizerTrainOptions {
    /// `sizeof(HeliosTokenizerTrainOptions)`; read first, refused when it
    /// differs.
    pub struct_size: usize,
    /// BPE: the final vocabulary size, special tokens and the 256 byte tokens
    /// included (default 30000). Char-level: 0 keeps every character;
    /// otherwise at most this many tokens, the most frequent characters kept
    /// (set 0 for char-level training: the default 30000 is a BPE size).
    pub vocab_size: usize,
    /// BPE: a pair seen fewer times is never merged; char-level: a character
    /// seen fewer times is left out. 0 (default) and 1 set no threshold, as
    /// in Hugging Face's `BpeTrainer`; GPT-2-style training usually takes 2
    /// (the default of Hugging Face's `ByteLevelBPETokenizer` and of the
    /// Python and C# bindings).
    pub min_frequency: usize,
    /// `special_tokens_count` NUL-terminated UTF-8 strings, matched whole in
    /// the text and given ids 0, 1, ... in order; NULL when the count is 0.
    pub special_tokens: *const *const c_char,
    /// The number of special tokens.
    pub special_tokens_count: usize,
    /// Char-level only: a NUL-terminated token for characters outside the
    /// vocabulary (added as a special token), or NULL (default): encoding such
    /// a character is then `HELIOS_ERR_INVALID_ARGUMENT`.
    pub unk_token: *const c_char,
    /// Workers for counting the corpus, or `HELIOS_AUTO` (default). The
    /// result does not depend on it.
    pub threads: usize,
    /// A token checked between merges, or NULL (default).
    pub cancel: *const HeliosCancelToken,
    /// A progress callback, or NULL (default).
    pub progress: HeliosTrainProgressFn,
    /// Passed to `progress` as is.
    pub progress_user_data: *mut c_void,
}

/// The default training options: vocab_size 30000 (set 0 for char-level to
/// keep every character), min_frequency 0 (no threshold), no special
/// or unknown token, `HELIOS_AUTO` threads, no cancel token or callback.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_tokenizer_default_train_options() -> HeliosTokenizerTrainOptions {
    HeliosTokenizerTrainOptions {
        struct_size: std::mem::size_of::<HeliosTokenizerTrainOptions>(),
        vocab_size: TrainOptions::default().vocab_size,
        min_frequency: 0,
        special_tokens: std::ptr::null(),
        special_tokens_count: 0,
        unk_token: std::ptr::null(),
        threads: HELIOS_AUTO,
        cancel: std::ptr::null(),
        progress: None,
        progress_user_data: std::ptr::null_mut(),
    }
}

/// The tokenizer behind a handle, with a reference of the call's own.
///
/// # Safety
/// `tokenizer` is NULL or a live tokenizer handle.
unsafe fn entered(tokenizer: *const HeliosTokenizer) -> Result<Arc<HeliosTokenizer>> {
    // SAFETY: per the contract.
    unsafe { retain(tokenizer) }.ok_or(Error::NullArgument("tokenizer"))
}

/// Hand a new tokenizer to the caller's `*out` (checked non-NULL first).
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn hand_out(
    out: *mut *mut HeliosTokenizer,
    make: impl FnOnce() -> Result<Tokenizer>,
) -> Result<()> {
    if out.is_null() {
        return Err(Error::NullArgument("out"));
    }
    let tokenizer = make()?;
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { out.write(share(HeliosTokenizer { tokenizer })) };
    Ok(())
}

/// `count` UTF-8 texts given as pointers and byte lengths.
///
/// # Safety
/// `texts` and `lengths` are NULL or point to `count` elements; each
/// `texts[i]` is NULL or points to `lengths[i]` readable bytes.
unsafe fn texts_arg<'a>(
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
) -> Result<Vec<&'a str>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: per the contract.
    let pointers = unsafe { slice_in(texts, count, "texts") }?;
    // SAFETY: per the contract.
    let lengths = unsafe { slice_in(lengths, count, "lengths") }?;
    let mut out = Vec::with_capacity(count);
    for (i, (&text, &len)) in pointers.iter().zip(lengths).enumerate() {
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if text.is_null() {
            return Err(Error::NullArgument("texts[i]"));
        } else {
            // SAFETY: per the contract.
            unsafe { slice_in(text.cast::<u8>(), len, "texts[i]") }.map_err(|e| match e {
                Error::InvalidArgument(m) => Error::invalid(format!("texts[{i}]: {m}")),
                other => other,
            })?
        };
        out.push(check_utf8(bytes, &format!("texts[{i}]"))?);
    }
    Ok(out)
}

/// A NUL-terminated UTF-8 string field of the options.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
unsafe fn c_string(text: *const c_char, name: &str) -> Result<Option<String>> {
    if text.is_null() {
        return Ok(None);
    }
    // SAFETY: NUL-terminated per the contract.
    let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
    Ok(Some(check_utf8(bytes, name)?.to_string()))
}

/// Run a trainer with the C options (NULL for the defaults).
///
/// # Safety
/// `options` is NULL or a valid struct whose pointers follow its field
/// contracts.
unsafe fn with_train_options(
    options: *const HeliosTokenizerTrainOptions,
    train: impl FnOnce(&TrainOptions<'_>) -> Result<Tokenizer>,
) -> Result<Tokenizer> {
    // SAFETY: per the contract.
    let options = unsafe {
        read_options(
            options,
            helios_tokenizer_default_train_options(),
            "helios_tokenizer_default_train_options",
        )
    }?;
    let mut special_tokens = Vec::with_capacity(options.special_tokens_count);
    if options.special_tokens_count > 0 {
        // SAFETY: per the field's contract.
        let list = unsafe {
            slice_in(
                options.special_tokens,
                options.special_tokens_count,
                "options.special_tokens",
            )
        }?;
        for (i, &token) in list.iter().enumerate() {
            let name = format!("options.special_tokens[{i}]");
            if token.is_null() {
                return Err(Error::NullArgument("options.special_tokens[i]"));
            }
            // SAFETY: a non-NULL, NUL-terminated string per the contract.
            special_tokens.push(unsafe { c_string(token, &name) }?.unwrap_or_default());
        }
    }
    // SAFETY: per the field's contract.
    let unk_token = unsafe { c_string(options.unk_token, "options.unk_token") }?;
    // SAFETY: NULL or a live token per the contract.
    let cancel = unsafe { retain(options.cancel) };
    let callback = options.progress;
    let user_data = options.progress_user_data as usize;
    let progress = move |done: usize, total: usize| -> bool {
        let Some(f) = callback else {
            return true;
        };
        // SAFETY: the caller's callback, called with its own user data on
        // the calling thread, as documented.
        let code = unsafe { f(done, total, user_data as *mut c_void) };
        code == 0
    };
    let core = TrainOptions {
        vocab_size: options.vocab_size,
        min_frequency: options.min_frequency as u64,
        special_tokens,
        unk_token,
        threads: to_threads(options.threads),
        cancel: cancel.as_deref().map(|handle| &handle.token),
        progress: callback.is_some().then_some(&progress as _),
    };
    train(&core)
}

/// A trainer on `count` texts of the C API, handed to `*out`.
///
/// # Safety
/// As `helios_tokenizer_train_bpe`.
unsafe fn train_on_texts(
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    options: *const HeliosTokenizerTrainOptions,
    out: *mut *mut HeliosTokenizer,
    train: fn(&[&str], &TrainOptions<'_>) -> Result<Tokenizer>,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let texts = unsafe { texts_arg(texts, lengths, count) }?;
        // SAFETY: per the contract.
        let tokenizer = unsafe { with_train_options(options, |o| train(&texts, o)) }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Ok(tokenizer)) }
    })
}

/// Load a Hugging Face `tokenizer.json` (BPE models, byte-level or not, and
/// their ByteLevel / Lowercase / Fuse stages) from `path` (`path_len` bytes
/// of UTF-8) into `*out`; free it with `helios_tokenizer_free`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (path
/// not UTF-8 or empty), `HELIOS_ERR_IO` (cannot read the file),
/// `HELIOS_ERR_FORMAT` (not JSON, truncated, a field missing or of the wrong
/// type, ids with gaps, merges naming unknown tokens; the message names the
/// field), `HELIOS_ERR_UNSUPPORTED` (a component helios does not implement,
/// for example a WordPiece model; the message names it).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `path` is NULL or points to `path_len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_from_file(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let path = unsafe { path_arg(path, path_len) }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Tokenizer::from_file(path)) }
    })
}

/// A tokenizer from the `len` bytes of a `tokenizer.json` text (for example
/// from `helios_tokenizer_to_json`). Errors as `helios_tokenizer_from_file`,
/// without `HELIOS_ERR_IO`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `json` is NULL or points to `len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_from_json(
    json: *const u8,
    len: usize,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let json = unsafe { slice_in(json, len, "json") }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Tokenizer::from_json(json)) }
    })
}

/// Load GPT-2's `vocab.json` and `merges.txt` (each a path of the given byte
/// length): a byte-level BPE with GPT-2's settings; `<|endoftext|>`, when in
/// the vocabulary, is a special token. Errors as `helios_tokenizer_from_file`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `vocab` and `merges` are NULL or point to their lengths in readable bytes;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_from_vocab_merges(
    vocab: *const c_char,
    vocab_len: usize,
    merges: *const c_char,
    merges_len: usize,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let vocab = unsafe { named_path_arg(vocab, vocab_len, "vocab") }?;
        // SAFETY: per the contract.
        let merges = unsafe { named_path_arg(merges, merges_len, "merges") }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Tokenizer::from_vocab_merges(vocab, merges)) }
    })
}

/// Load the tokenizer of a model directory: `dir/tokenizer.json` when
/// present, else `dir/vocab.json` + `dir/merges.txt` (`HELIOS_ERR_IO` when
/// neither is there). Errors as `helios_tokenizer_from_file`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `dir` is NULL or points to `dir_len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_from_pretrained_dir(
    dir: *const c_char,
    dir_len: usize,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let dir = unsafe { named_path_arg(dir, dir_len, "dir") }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Tokenizer::from_pretrained_dir(dir)) }
    })
}

/// Train a byte-level BPE tokenizer (GPT-2's split pattern and byte
/// alphabet, as Hugging Face's `ByteLevelBPETokenizer`) on `count` texts of
/// `lengths[i]` UTF-8 bytes each, and store it in `*out`. Each step merges the
/// most frequent adjacent pair; ties go to the pair with the smallest (left
/// id, right id), so the same corpus and options give the same tokenizer on
/// every machine and thread count. `options` NULL means the defaults.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (a text
/// not UTF-8 (the message names the text and byte offset), an empty corpus,
/// vocab_size below the special tokens + 256, an empty or repeated special
/// token, unk_token set, bad struct_size, threads 0 or > 1024),
/// `HELIOS_ERR_CANCELLED` (the token was raised or the callback returned
/// non-zero).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `texts` and `lengths` are NULL or hold `count` elements, each text
/// pointing to its length in readable bytes; `options` is NULL or valid;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_train_bpe(
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    options: *const HeliosTokenizerTrainOptions,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    // SAFETY: forwarded contract.
    unsafe {
        train_on_texts(texts, lengths, count, options, out, |t, o| {
            Tokenizer::train_bpe(t, o)
        })
    }
}

/// `helios_tokenizer_train_bpe` on the contents of `count` UTF-8 files, each
/// path given as bytes and a length. Adds `HELIOS_ERR_IO` to its errors.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `paths` and `path_lengths` are NULL or hold `count` elements, each path
/// pointing to its length in readable bytes; `options` is NULL or valid;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_train_bpe_files(
    paths: *const *const c_char,
    path_lengths: *const usize,
    count: usize,
    options: *const HeliosTokenizerTrainOptions,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let pointers = unsafe { slice_in(paths, count, "paths") }?;
        // SAFETY: per the contract.
        let lengths = unsafe { slice_in(path_lengths, count, "path_lengths") }?;
        let mut list = Vec::with_capacity(count);
        for (&path, &len) in pointers.iter().zip(lengths) {
            // SAFETY: per the contract.
            list.push(unsafe { named_path_arg(path, len, "paths[i]") }?);
        }
        // SAFETY: per the contract.
        let tokenizer =
            unsafe { with_train_options(options, |o| Tokenizer::train_bpe_files(&list, o)) }?;
        // SAFETY: per the contract.
        unsafe { hand_out(out, || Ok(tokenizer)) }
    })
}

/// Train a char-level tokenizer (one token per Unicode scalar value): the
/// special tokens, the unknown token, then the characters of the texts by
/// code point (the `vocab_size` most frequent when it is not 0). Errors as
/// `helios_tokenizer_train_bpe` (unk_token allowed; vocab_size leaving no room
/// for characters is `HELIOS_ERR_INVALID_ARGUMENT`).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// As `helios_tokenizer_train_bpe`.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_train_char(
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    options: *const HeliosTokenizerTrainOptions,
    out: *mut *mut HeliosTokenizer,
) -> HeliosStatus {
    // SAFETY: forwarded contract.
    unsafe {
        train_on_texts(texts, lengths, count, options, out, |t, o| {
            Tokenizer::train_char(t, o)
        })
    }
}

/// Release the caller's handle; NULL is a no-op. The memory goes when the
/// last call that is still inside the tokenizer (from another thread)
/// returns.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the handle must not be used after this call.
///
/// # Safety
/// `tokenizer` is NULL or a live handle, released once.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_free(tokenizer: *mut HeliosTokenizer) {
    let _ = ffi_call(|| {
        // SAFETY: per the contract, a live handle released once.
        unsafe { release(tokenizer) };
        Ok(())
    });
}

/// Write the tokenizer as a Hugging Face `tokenizer.json` to `path`
/// atomically (a temporary file renamed over the target). Hugging Face
/// `tokenizers` loads it and encodes identically.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (path),
/// `HELIOS_ERR_IO`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `path` is NULL or points to `path_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_save(
    tokenizer: *const HeliosTokenizer,
    path: *const c_char,
    path_len: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        // SAFETY: per the contract.
        let path = unsafe { path_arg(path, path_len) }?;
        tokenizer.tokenizer.save(path)
    })
}

/// Copy `bytes` to the caller's buffer, ask-then-allocate style.
///
/// # Safety
/// `out` is NULL or holds `capacity` writable bytes; `out_needed` is NULL or
/// writable.
unsafe fn bytes_out(
    bytes: &[u8],
    out: *mut u8,
    capacity: usize,
    out_needed: *mut usize,
) -> Result<()> {
    // SAFETY: per the contract.
    let needed = unsafe { report_needed(Some(bytes.len()), out_needed) }?;
    if needed == 0 {
        return Ok(());
    }
    // SAFETY: per the contract.
    unsafe { output_slice(out, capacity, needed, ("out", &[])) }?.copy_from_slice(bytes);
    Ok(())
}

/// The `tokenizer.json` text (UTF-8, not NUL-terminated) into `out`
/// (`capacity` bytes). `*out_needed` (when not NULL) receives its length; call
/// with `out` NULL and capacity 0 to ask for it
/// (`HELIOS_ERR_BUFFER_TOO_SMALL`), then again with a buffer that large.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `out` is NULL or holds `capacity` writable
/// bytes; `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_to_json(
    tokenizer: *const HeliosTokenizer,
    out: *mut u8,
    capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        let json = tokenizer.tokenizer.to_json();
        // SAFETY: per the contract.
        unsafe { bytes_out(json.as_bytes(), out, capacity, out_needed) }
    })
}

/// Encode `len` bytes of UTF-8 `text` into `ids` (room for `capacity`).
/// `offsets`, when not NULL, holds `2 * capacity` elements and receives each
/// token's `[start, end)` byte range in `text` (a byte-level token that holds
/// part of a multi-byte character covers just its bytes). `*out_count`
/// receives the number of tokens, also when the buffer is too small: call
/// with capacity 0 to ask, then again. Added tokens such as `<|endoftext|>`
/// are matched in the text first.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (tokenizer, text when len > 0,
/// out_count, ids when needed), `HELIOS_ERR_INVALID_ARGUMENT` (text not
/// UTF-8, the message giving the byte offset; a character outside the
/// vocabulary of a tokenizer without an unknown token),
/// `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `text` is NULL or holds `len` readable bytes;
/// `ids` is NULL or holds `capacity` writable ids; `offsets` is NULL or holds
/// `2 * capacity` writable elements; `out_count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_encode(
    tokenizer: *const HeliosTokenizer,
    text: *const c_char,
    len: usize,
    ids: *mut u32,
    capacity: usize,
    offsets: *mut usize,
    out_count: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out_count.is_null() {
            return Err(Error::NullArgument("out_count"));
        }
        // SAFETY: per the contract.
        let text = unsafe { text_arg(text, len, "text") }?;
        let text = check_utf8(text, "text")?;
        let encoding = if offsets.is_null() {
            Encoding {
                ids: tokenizer.tokenizer.encode(text)?,
                offsets: Vec::new(),
            }
        } else {
            tokenizer.tokenizer.encode_with_offsets(text)?
        };
        let n = encoding.ids.len();
        // SAFETY: per the contract.
        unsafe { report_needed(Some(n), out_count) }?;
        if n == 0 {
            return Ok(());
        }
        // SAFETY: per the contract.
        unsafe { output_slice(ids, capacity, n, ("ids", &[])) }?.copy_from_slice(&encoding.ids);
        if !offsets.is_null() {
            // SAFETY: per the contract: 2 * capacity >= 2 * n elements.
            let out = unsafe { slice_out(offsets, 2 * n, "offsets") }?;
            for (pair, &(start, end)) in out.chunks_exact_mut(2).zip(&encoding.offsets) {
                pair[0] = start;
                pair[1] = end;
            }
        }
        Ok(())
    })
}

/// `len` bytes at `text` (NULL allowed when `len` is 0).
///
/// # Safety
/// `text` is NULL or holds `len` readable bytes.
unsafe fn text_arg<'a>(text: *const c_char, len: usize, name: &'static str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: per the contract.
    unsafe { slice_in(text.cast::<u8>(), len, name) }
}

/// Encode `count` texts (each `lengths[i]` bytes of UTF-8) on `threads`
/// workers (`HELIOS_AUTO` or 1..1024): the ids of text 0, then of text 1, ...
/// go to `ids` (room for `capacity`), and `counts[i]` (`count` elements)
/// receives the number of ids of text i. `*out_total` receives their sum, also
/// when `ids` is too small (the counts are then filled too): call with
/// capacity 0 to ask, then again. The result does not depend on `threads`.
///
/// Errors: as `helios_tokenizer_encode` (the message names the failing text),
/// plus `HELIOS_ERR_INVALID_ARGUMENT` for a bad thread count.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `texts` and `lengths` are NULL or hold `count` elements, each text holding
/// its length in readable bytes; `ids` is NULL or holds `capacity` writable
/// ids; `counts` is NULL or holds `count` writable elements; `out_total` is
/// NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn helios_tokenizer_encode_batch(
    tokenizer: *const HeliosTokenizer,
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    threads: usize,
    ids: *mut u32,
    capacity: usize,
    counts: *mut usize,
    out_total: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out_total.is_null() {
            return Err(Error::NullArgument("out_total"));
        }
        if count == 0 {
            // SAFETY: per the contract.
            unsafe { report_needed(Some(0), out_total) }?;
            return Ok(());
        }
        // SAFETY: per the contract.
        let texts = unsafe { texts_arg(texts, lengths, count) }?;
        let encoded = tokenizer
            .tokenizer
            .encode_batch(&texts, to_threads(threads))?;
        // The output is borrowed once the inputs are read, and checked
        // against the lengths it could alias.
        // SAFETY: per the contract.
        let lengths = unsafe { slice_in(lengths, count, "lengths") }?;
        // SAFETY: per the contract.
        let counts =
            unsafe { output_slice(counts, count, count, ("counts", &[(lengths, "lengths")])) }?;
        let total = encoded
            .iter()
            .try_fold(0usize, |sum, e| sum.checked_add(e.len()));
        for (slot, e) in counts.iter_mut().zip(&encoded) {
            *slot = e.len();
        }
        // SAFETY: per the contract.
        let total = unsafe { report_needed(total, out_total) }?;
        if total == 0 {
            return Ok(());
        }
        // SAFETY: per the contract.
        let out = unsafe { output_slice(ids, capacity, total, ("ids", &[])) }?;
        let mut at = 0;
        for e in &encoded {
            out[at..at + e.len()].copy_from_slice(e);
            at += e.len();
        }
        Ok(())
    })
}

/// Decode `count` ids to UTF-8 text (not NUL-terminated) in `out` (room for
/// `capacity` bytes); `*out_len` receives the text's length, also when the
/// buffer is too small: call with capacity 0 to ask, then again. With
/// `skip_special` non-zero, special tokens (such as `<|endoftext|>`) are left
/// out. Byte sequences that are not UTF-8 (ids cut inside a character)
/// become U+FFFD, as in Hugging Face `tokenizers`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (an id
/// outside the vocabulary; the message names its position),
/// `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `ids` is NULL or holds `count` ids; `out` is
/// NULL or holds `capacity` writable bytes; `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_decode(
    tokenizer: *const HeliosTokenizer,
    ids: *const u32,
    count: usize,
    skip_special: i32,
    out: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out_len.is_null() {
            return Err(Error::NullArgument("out_len"));
        }
        let ids: &[u32] = if count == 0 {
            &[]
        } else {
            // SAFETY: per the contract.
            unsafe { slice_in(ids, count, "ids") }?
        };
        let text = tokenizer.tokenizer.decode(ids, skip_special != 0)?;
        // SAFETY: per the contract.
        unsafe { bytes_out(text.as_bytes(), out, capacity, out_len) }
    })
}

/// The number of token ids, added tokens included, into `*out`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_vocab_size(
    tokenizer: *const HeliosTokenizer,
    out: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(tokenizer.tokenizer.vocab_size()) };
        Ok(())
    })
}

/// The id of the token whose vocabulary string is the `len` bytes at `token`
/// (byte-level form, for example "Ġthe"), into `*out_id`; `HELIOS_NO_TOKEN`
/// when there is none (not an error).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (not
/// UTF-8).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `token` is NULL or holds `len` readable
/// bytes; `out_id` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_token_to_id(
    tokenizer: *const HeliosTokenizer,
    token: *const c_char,
    len: usize,
    out_id: *mut u32,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out_id.is_null() {
            return Err(Error::NullArgument("out_id"));
        }
        // SAFETY: per the contract.
        let token = check_utf8(unsafe { text_arg(token, len, "token") }?, "token")?;
        let id = tokenizer.tokenizer.token_to_id(token).unwrap_or(NO_TOKEN);
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out_id.write(id) };
        Ok(())
    })
}

/// The vocabulary string of token `id` (UTF-8, not NUL-terminated) into
/// `out` (room for `capacity` bytes); `*out_len` receives its length, also
/// when the buffer is too small (ask with capacity 0).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (id not
/// below the vocabulary size), `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `tokenizer` is NULL or live; `out` is NULL or holds `capacity` writable
/// bytes; `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_tokenizer_id_to_token(
    tokenizer: *const HeliosTokenizer,
    id: u32,
    out: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let tokenizer = unsafe { entered(tokenizer) }?;
        if out_len.is_null() {
            return Err(Error::NullArgument("out_len"));
        }
        let token = tokenizer.tokenizer.id_to_token(id).ok_or_else(|| {
            Error::invalid(format!(
                "id {id} is outside the vocabulary (size {})",
                tokenizer.tokenizer.vocab_size()
            ))
        })?;
        // SAFETY: per the contract.
        unsafe { bytes_out(token.as_bytes(), out, capacity, out_len) }
    })
}
