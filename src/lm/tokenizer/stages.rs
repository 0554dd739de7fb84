//! The stages around the model: normalizer, pre-tokenizer, decoder, and the
//! added (special) tokens that are matched before any of them. Each stage is
//! one small trait, as in Hugging Face `tokenizers`, with the
//! implementations GPT-2-style tokenizers use; each knows its own
//! `tokenizer.json` form.

use std::borrow::Cow;

use super::bytelevel;
use super::json::JsonOut;

/// Text in, text out, with the original byte offset of every output byte.
pub(crate) trait Normalizer: Send + Sync {
    /// The normalized text, and for each of its bytes (plus one past the end)
    /// the byte offset in `text` it came from.
    fn normalize(&self, text: &str) -> (String, Vec<usize>);
    /// The stage's `tokenizer.json` object.
    fn write_json(&self, out: &mut JsonOut);
}

/// Hugging Face's `Lowercase`: Unicode lower case, character by character.
pub(crate) struct Lowercase;

impl Normalizer for Lowercase {
    fn normalize(&self, text: &str) -> (String, Vec<usize>) {
        let mut out = String::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len() + 1);
        for (at, c) in text.char_indices() {
            let before = out.len();
            out.extend(c.to_lowercase());
            let written = out.len() - before;
            if written == c.len_utf8() {
                // Byte for byte: a byte-level token keeps exact offsets.
                origin.extend(at..at + written);
            } else {
                origin.extend(std::iter::repeat_n(at, written));
            }
        }
        origin.push(text.len());
        (out, origin)
    }

    fn write_json(&self, out: &mut JsonOut) {
        out.raw(r#"{"type":"Lowercase"}"#);
    }
}

/// Text in, pieces (byte ranges) out.
pub(crate) trait PreTokenizer: Send + Sync {
    /// The text the pieces index: `text` itself, or with a leading space
    /// added (then the pieces' offsets are one byte past the text's).
    fn prepare<'t>(&self, text: &'t str) -> Cow<'t, str>;
    /// Push the pieces of `text` (as prepared) to `out`.
    fn split(&self, text: &str, out: &mut Vec<(usize, usize)>);
    /// The stage's `tokenizer.json` object.
    fn write_json(&self, out: &mut JsonOut);
}

/// The options of Hugging Face's `ByteLevel` components (pre-tokenizer,
/// post-processor and decoder share them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteLevelOptions {
    pub add_prefix_space: bool,
    pub trim_offsets: bool,
    pub use_regex: bool,
}

impl ByteLevelOptions {
    /// GPT-2's settings.
    pub(crate) const GPT2: ByteLevelOptions = ByteLevelOptions {
        add_prefix_space: false,
        trim_offsets: true,
        use_regex: true,
    };

    pub(crate) fn write_json(&self, out: &mut JsonOut) {
        out.raw(&format!(
            r#"{{"type":"ByteLevel","add_prefix_space":{},"trim_offsets":{},"use_regex":{}}}"#,
            self.add_prefix_space, self.trim_offsets, self.use_regex
        ));
    }
}

/// GPT-2's byte-level pre-tokenizer: the split pattern (when `use_regex`),
/// and the pieces read as bytes.
pub(crate) struct ByteLevel(pub ByteLevelOptions);

impl PreTokenizer for ByteLevel {
    fn prepare<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.0.add_prefix_space && !text.starts_with(' ') {
            Cow::Owned(format!(" {text}"))
        } else {
            Cow::Borrowed(text)
        }
    }

    fn split(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        if self.0.use_regex {
            bytelevel::split(text, 0, out);
        } else if !text.is_empty() {
            out.push((0, text.len()));
        }
    }

    fn write_json(&self, out: &mut JsonOut) {
        self.0.write_json(out);
    }
}

/// Token strings in, text out.
pub(crate) trait Decoder: Send + Sync {
    /// The bytes of `tokens` in order (UTF-8 once whole characters are in).
    fn decode_bytes(&self, tokens: &[&str]) -> Vec<u8>;
    /// The text of `tokens` in order; invalid UTF-8 becomes U+FFFD.
    fn decode(&self, tokens: &[&str]) -> String {
        match String::from_utf8(self.decode_bytes(tokens)) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
    /// The stage's `tokenizer.json` object.
    fn write_json(&self, out: &mut JsonOut);
}

/// GPT-2's byte-level decoder: each token's stand-in characters back to
/// bytes (a token with any other character contributes its own UTF-8, as in
/// Hugging Face), then the bytes as UTF-8 with U+FFFD for invalid sequences.
pub(crate) struct ByteLevelDecoder(pub ByteLevelOptions);

impl Decoder for ByteLevelDecoder {
    fn decode_bytes(&self, tokens: &[&str]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for token in tokens {
            let start = bytes.len();
            for c in token.chars() {
                match bytelevel::char_byte(c) {
                    Some(b) => bytes.push(b),
                    None => {
                        bytes.truncate(start);
                        bytes.extend_from_slice(token.as_bytes());
                        break;
                    }
                }
            }
        }
        bytes
    }

    fn write_json(&self, out: &mut JsonOut) {
        self.0.write_json(out);
    }
}

/// Hugging Face's `Fuse`: the tokens concatenated (char-level models).
pub(crate) struct Fuse;

impl Decoder for Fuse {
    fn decode_bytes(&self, tokens: &[&str]) -> Vec<u8> {
        tokens.concat().into_bytes()
    }

    fn write_json(&self, out: &mut JsonOut) {
        out.raw(r#"{"type":"Fuse"}"#);
    }
}

/// A token matched in the raw text before normalization and
/// pre-tokenization (`<|endoftext|>`, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddedToken {
    pub id: u32,
    pub content: String,
    /// Skipped by decode when asked to skip special tokens.
    pub special: bool,
    /// Kept for saving; helios matches every added token on the raw text.
    pub normalized: bool,
}

/// The added tokens, in two sets as Hugging Face matches them: those that
/// are not `normalized`, found in the raw text, and the `normalized` ones,
/// found in the normalized text between them.
#[derive(Default)]
pub(crate) struct AddedTokens {
    tokens: Vec<AddedToken>,
    pub raw: Matcher,
    pub normalized: Matcher,
}

impl AddedTokens {
    pub(crate) fn new(tokens: Vec<AddedToken>) -> AddedTokens {
        let pick = |normalized: bool| {
            Matcher::new(
                tokens
                    .iter()
                    .filter(|t| t.normalized == normalized)
                    .cloned()
                    .collect(),
            )
        };
        AddedTokens {
            raw: pick(false),
            normalized: pick(true),
            tokens,
        }
    }

    pub(crate) fn all(&self) -> &[AddedToken] {
        &self.tokens
    }
}

/// A set of added tokens, matched leftmost first, the longest at a position.
#[derive(Default)]
pub(crate) struct Matcher {
    /// Longest content first.
    tokens: Vec<AddedToken>,
    first_byte: Vec<bool>,
}

impl Matcher {
    fn new(mut tokens: Vec<AddedToken>) -> Matcher {
        tokens.sort_by_key(|t| std::cmp::Reverse(t.content.len()));
        let mut first_byte = vec![false; 256];
        for token in &tokens {
            first_byte[token.content.as_bytes()[0] as usize] = true;
        }
        Matcher { tokens, first_byte }
    }

    /// The first token in `text[from..]`: `(start, end, id)`.
    pub(crate) fn find(&self, text: &str, from: usize) -> Option<(usize, usize, u32)> {
        if self.tokens.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        for at in from..bytes.len() {
            if !self.first_byte[bytes[at] as usize] {
                continue;
            }
            for token in &self.tokens {
                if bytes[at..].starts_with(token.content.as_bytes()) {
                    return Some((at, at + token.content.len(), token.id));
                }
            }
        }
        None
    }
}
