//! The tokenizer: text to token ids and back, in Hugging Face's pipeline of
//! small stages — normalizer, pre-tokenizer, model, decoder — with added
//! (special) tokens matched on the raw text before them.
//!
//! Models: byte-pair encoding (GPT-2's byte-level BPE when the pre-tokenizer
//! is `ByteLevel`) and one token per character. Tokenizers load from and
//! save to Hugging Face's `tokenizer.json` (and load GPT-2's `vocab.json` +
//! `merges.txt`), so files trained by either library work in the other and
//! encode to the same ids; they also train from text ([`Tokenizer::train_bpe`],
//! [`Tokenizer::train_char`]).
//!
//! Thread safety: shareable (safe to use from any number of threads at
//! once). A tokenizer is immutable after construction; its only interior
//! state is a cache of encoded pieces whose slots are filled once, so
//! lookups take no lock; it never changes a result.

mod bpe;
mod bytelevel;
mod json;
mod stages;
mod train;

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::exec::run_blocks;
use crate::exec::Threads;
use bpe::Model;
use stages::{AddedTokens, ByteLevelOptions, Decoder, Normalizer, PreTokenizer};

pub use train::TrainOptions;

/// The id [`Tokenizer::token_to_id`] stands for "not in the vocabulary" in
/// the C ABI (`HELIOS_NO_TOKEN`).
pub const NO_TOKEN: u32 = u32::MAX;

/// The result of [`Tokenizer::encode_with_offsets`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    /// The token ids.
    pub ids: Vec<u32>,
    /// For each token, the `[start, end)` byte range of the input it stands
    /// for. A byte-level token that holds part of a multi-byte character
    /// covers just the bytes it holds; a token that only a normalizer or an
    /// added prefix space produced is empty.
    pub offsets: Vec<(usize, usize)>,
}

/// How the model was built; decides the `tokenizer.json` form.
enum ModelKind {
    Bpe {
        merges: Vec<(u32, u32)>,
        ignore_merges: bool,
        fuse_unk: bool,
    },
    Char,
}

/// A tokenizer (shareable: immutable after construction; see the module
/// documentation).
///
/// ```
/// use helios::lm::tokenizer::{Tokenizer, TrainOptions};
/// let corpus = ["the cat sat on the mat", "the dog sat on the log"];
/// let options = TrainOptions { vocab_size: 300, min_frequency: 2, ..TrainOptions::default() };
/// let tokenizer = Tokenizer::train_bpe(&corpus, &options).unwrap();
/// let ids = tokenizer.encode("the cat sat").unwrap();
/// assert_eq!(tokenizer.decode(&ids, false).unwrap(), "the cat sat");
/// ```
pub struct Tokenizer {
    /// Every token's string, by id (model vocabulary and added tokens).
    tokens: Vec<String>,
    ids: FxHashMap<String, u32>,
    added: AddedTokens,
    /// By id: whether decode skips it when asked to skip special tokens.
    special: Vec<bool>,
    /// By id: whether the token is in the model's vocabulary (an added token
    /// may be outside it).
    in_model: Vec<bool>,
    normalizer: Option<Box<dyn Normalizer>>,
    pre_tokenizer: Option<Box<dyn PreTokenizer>>,
    model: Box<dyn Model>,
    kind: ModelKind,
    unk_token: Option<String>,
    post_processor: Option<ByteLevelOptions>,
    decoder: Option<Box<dyn Decoder>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.tokens.len())
            .field("added_tokens", &self.added.all().len())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Load a Hugging Face `tokenizer.json`.
    ///
    /// Errors: [`Error::Io`], [`Error::Format`] naming the field that is
    /// missing or malformed, [`Error::Unsupported`] for components helios does
    /// not implement (for example a `WordPiece` model).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let bytes = crate::persist::read_file(path)?;
        json::parse(&bytes, &path.display().to_string())
    }

    /// A tokenizer from the text of a `tokenizer.json`.
    pub fn from_json(json: &[u8]) -> Result<Tokenizer> {
        json::parse(json, "tokenizer.json")
    }

    /// Load GPT-2's `vocab.json` and `merges.txt`: a byte-level BPE with
    /// GPT-2's settings; `<|endoftext|>`, when in the vocabulary, is a special
    /// token (as in `transformers`' GPT-2 tokenizer).
    pub fn from_vocab_merges(
        vocab: impl AsRef<Path>,
        merges: impl AsRef<Path>,
    ) -> Result<Tokenizer> {
        json::from_vocab_merges(vocab.as_ref(), merges.as_ref())
    }

    /// Load `dir/tokenizer.json`, else `dir/vocab.json` + `dir/merges.txt`.
    pub fn from_pretrained_dir(dir: impl AsRef<Path>) -> Result<Tokenizer> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Tokenizer::from_file(json);
        }
        let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
        if vocab.is_file() && merges.is_file() {
            return Tokenizer::from_vocab_merges(vocab, merges);
        }
        Err(Error::Io {
            context: format!(
                "no tokenizer in {}: it holds neither tokenizer.json nor vocab.json + merges.txt",
                dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
    }

    /// The `tokenizer.json` text (Hugging Face's format; `tokenizers` loads
    /// it and encodes identically).
    pub fn to_json(&self) -> String {
        json::write(self)
    }

    /// Write [`to_json`](Self::to_json) to `path` atomically (a temporary
    /// file renamed over the target).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::persist::write_atomically(path.as_ref(), self.to_json().as_bytes())
    }

    /// Train a GPT-2-style byte-level BPE tokenizer on `texts`; see
    /// [`TrainOptions`].
    pub fn train_bpe<S: AsRef<str> + Sync>(
        texts: &[S],
        options: &TrainOptions<'_>,
    ) -> Result<Tokenizer> {
        train::bpe(texts, options)
    }

    /// [`train_bpe`](Self::train_bpe) on the contents of files (UTF-8).
    pub fn train_bpe_files<P: AsRef<Path>>(
        paths: &[P],
        options: &TrainOptions<'_>,
    ) -> Result<Tokenizer> {
        let mut texts = Vec::with_capacity(paths.len());
        for path in paths {
            let path = path.as_ref();
            let bytes = crate::persist::read_file(path)?;
            texts.push(String::from_utf8(bytes).map_err(|e| {
                Error::invalid(format!(
                    "{} is not UTF-8: invalid byte at offset {}",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?);
        }
        train::bpe(&texts, options)
    }

    /// Train a char-level tokenizer: the special tokens, the unknown token,
    /// then every character of `texts` (the most frequent `vocab_size`, when
    /// set) by code point.
    pub fn train_char<S: AsRef<str> + Sync>(
        texts: &[S],
        options: &TrainOptions<'_>,
    ) -> Result<Tokenizer> {
        train::char_level(texts, options)
    }

    /// This tokenizer without its piece cache: every piece is merged anew.
    /// The ids are the same; this exists to measure what the cache brings
    /// (`cargo bench --bench tokenizer_cache`).
    pub fn without_cache(mut self) -> Tokenizer {
        self.model.disable_cache();
        self
    }

    /// The number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token string (`"Ġthe"` in byte-level form), if any.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The string of a token id, if in range.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Whether `id` is a special added token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// The ids of `text`.
    ///
    /// Errors: [`Error::InvalidArgument`] for a character outside the
    /// vocabulary of a tokenizer without an unknown token (byte-level
    /// tokenizers have every byte).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_into(text, &mut ids, None)?;
        Ok(ids)
    }

    /// [`encode`](Self::encode) for bytes that must be UTF-8; invalid UTF-8
    /// is an [`Error::InvalidArgument`] naming the first bad byte's offset.
    pub fn encode_bytes(&self, text: &[u8]) -> Result<Vec<u32>> {
        self.encode(check_utf8(text, "text")?)
    }

    /// The ids of `text` with each token's byte range.
    pub fn encode_with_offsets(&self, text: &str) -> Result<Encoding> {
        let mut encoding = Encoding::default();
        self.encode_into(text, &mut encoding.ids, Some(&mut encoding.offsets))?;
        Ok(encoding)
    }

    /// The ids of each text, encoded on `threads` workers; the result is in
    /// the order of `texts` and the same for every thread count. On failure
    /// the error is that of the first failing text.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        threads: Threads,
    ) -> Result<Vec<Vec<u32>>> {
        let threads = threads.resolve()?;
        let groups = deal(
            threads,
            texts.len(),
            None,
            Vec::new,
            |group: &mut Vec<_>, i| {
                group.push(self.encode(texts[i].as_ref()));
            },
        )?;
        // Text i is item i / G of group i % G.
        let mut groups: Vec<_> = groups.into_iter().map(Vec::into_iter).collect();
        let mut out = Vec::with_capacity(texts.len());
        for i in 0..texts.len() {
            let n = groups.len();
            match groups[i % n].next().expect("one result per text") {
                Ok(ids) => out.push(ids),
                Err(Error::InvalidArgument(m)) => {
                    return Err(Error::InvalidArgument(format!("text {i}: {m}")))
                }
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    fn encode_into(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        mut offsets: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        // As Hugging Face: added tokens that are not `normalized` are found
        // in the raw text first; the text between them is normalized and
        // searched for the `normalized` ones.
        let mut at = 0;
        while at < text.len() {
            let found = self.added.raw.find(text, at);
            let end = found.map_or(text.len(), |(start, _, _)| start);
            if end > at {
                self.encode_segment(&text[at..end], at, ids, offsets.as_deref_mut())?;
            }
            let Some((start, stop, id)) = found else {
                break;
            };
            ids.push(id);
            if let Some(offsets) = offsets.as_deref_mut() {
                offsets.push((start, stop));
            }
            at = stop;
        }
        Ok(())
    }

    /// Encode text free of raw added tokens, `base` its offset in the input.
    fn encode_segment(
        &self,
        segment: &str,
        base: usize,
        ids: &mut Vec<u32>,
        mut offsets: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        let normalized = self.normalizer.as_ref().map(|n| n.normalize(segment));
        let (text, origin) = match &normalized {
            Some((text, origin)) => (text.as_str(), Some(origin.as_slice())),
            None => (segment, None),
        };
        // A position of the normalized text -> a position of the input.
        let map = |p: usize| base + origin.map_or(p, |o| o[p]);
        let mut at = 0;
        while at < text.len() {
            let found = self.added.normalized.find(text, at);
            let end = found.map_or(text.len(), |(start, _, _)| start);
            if end > at {
                self.encode_run(&text[at..end], at, &map, ids, offsets.as_deref_mut())?;
            }
            let Some((start, stop, id)) = found else {
                break;
            };
            ids.push(id);
            if let Some(offsets) = offsets.as_deref_mut() {
                offsets.push((map(start), map(stop)));
            }
            at = stop;
        }
        Ok(())
    }

    /// Pre-tokenize and tokenize `run`, which starts at `start` of the
    /// normalized text; `map` takes normalized positions to input offsets.
    fn encode_run(
        &self,
        run: &str,
        start: usize,
        map: &dyn Fn(usize) -> usize,
        ids: &mut Vec<u32>,
        offsets: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        let (prepared, shift) = match &self.pre_tokenizer {
            Some(pre) => {
                let prepared = pre.prepare(run);
                let shift = prepared.len() - run.len();
                (prepared, shift)
            }
            None => (std::borrow::Cow::Borrowed(run), 0),
        };
        // A position of the prepared run -> an input offset (an added
        // prefix space covers no input).
        let original = |p: usize| map(start + p.saturating_sub(shift));
        let mut pieces = Vec::new();
        match &self.pre_tokenizer {
            Some(pre) => pre.split(&prepared, &mut pieces),
            None => pieces.push((0, prepared.len())),
        }
        let mut lens = Vec::new();
        for &(piece_start, piece_end) in &pieces {
            let piece = &prepared[piece_start..piece_end];
            if let Err(bpe::UnknownAt(at)) = self.model.tokenize(piece, ids, &mut lens) {
                // A byte-level model names a byte: report its character.
                let mut at = piece_start + at;
                while !prepared.is_char_boundary(at) {
                    at -= 1;
                }
                let c = prepared[at..].chars().next().unwrap_or('\u{FFFD}');
                return Err(Error::invalid(format!(
                    "character {c:?} (U+{:04X}) at byte offset {} is not in the vocabulary \
                     and the tokenizer has no unknown token",
                    c as u32,
                    original(at)
                )));
            }
        }
        if let Some(offsets) = offsets {
            let mut piece_iter = pieces.iter();
            let mut position = 0;
            let mut piece_end = 0;
            for &len in &lens {
                // Token lengths tile each piece in turn.
                if position == piece_end {
                    if let Some(&(start, end)) = piece_iter.next() {
                        position = start;
                        piece_end = end;
                    }
                }
                let token_start = original(position);
                position += len as usize;
                offsets.push((token_start, original(position)));
            }
        }
        Ok(())
    }

    /// The text of `ids`; with `skip_special`, special added tokens are left
    /// out. Partial UTF-8 sequences (a byte-level token sequence cut inside a
    /// character) become U+FFFD, as in Hugging Face.
    ///
    /// Errors: [`Error::InvalidArgument`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let mut tokens = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let token = self.id_to_token(id).ok_or_else(|| {
                Error::invalid(format!(
                    "ids[{i}] = {id} is outside the vocabulary (size {})",
                    self.tokens.len()
                ))
            })?;
            if !(skip_special && self.is_special(id)) {
                tokens.push(token);
            }
        }
        Ok(match &self.decoder {
            Some(decoder) => decoder.decode(&tokens),
            None => tokens.join(" "),
        })
    }

    /// Append the bytes token `id` adds to a decoded text (`first`: it
    /// starts the text), for streaming: decoding token by token gives the
    /// bytes of [`decode`](Self::decode) (before U+FFFD replacement), so a
    /// caller can hold back an incomplete character.
    pub(crate) fn decode_piece(&self, id: u32, first: bool, out: &mut Vec<u8>) -> Result<()> {
        let token = self.id_to_token(id).ok_or_else(|| {
            Error::invalid(format!(
                "id {id} is outside the vocabulary (size {})",
                self.tokens.len()
            ))
        })?;
        match &self.decoder {
            Some(decoder) => out.extend_from_slice(&decoder.decode_bytes(&[token])),
            None => {
                if !first {
                    out.push(b' ');
                }
                out.extend_from_slice(token.as_bytes());
            }
        }
        Ok(())
    }
}

/// Deal items `0..n` round-robin into at most [`DEAL_GROUPS`] groups and
/// fold each group, in item order, into an accumulator made by `init`, on
/// `threads` workers. Group `g` holds items `g, g + G, g + 2G, ...`, so long
/// items spread over the workers; the groups do not depend on the thread
/// count.
pub(crate) fn deal<A: Send>(
    threads: usize,
    n: usize,
    cancel: Option<&crate::cancel::CancelToken>,
    init: impl Fn() -> A + Sync,
    step: impl Fn(&mut A, usize) + Sync,
) -> Result<Vec<A>> {
    let count = n.min(DEAL_GROUPS);
    let mut groups: Vec<Option<A>> = (0..count).map(|_| None).collect();
    run_blocks(
        threads,
        &mut groups,
        1,
        cancel,
        || (),
        |(), g, slot| {
            let mut acc = init();
            for i in (g..n).step_by(count) {
                step(&mut acc, i);
            }
            slot[0] = Some(acc);
            Ok(())
        },
    )?;
    Ok(groups
        .into_iter()
        .map(|g| g.expect("every group ran"))
        .collect())
}

/// The number of groups [`deal`] makes (at most): fixed, so that nothing
/// depends on the thread count.
const DEAL_GROUPS: usize = 64;

/// `bytes` as UTF-8, or an [`Error::InvalidArgument`] naming the offset of
/// the first invalid byte.
pub(crate) fn check_utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "`{name}` is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })
}
