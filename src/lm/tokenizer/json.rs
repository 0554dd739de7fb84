//! Hugging Face's `tokenizer.json` (read and written) and GPT-2's
//! `vocab.json` + `merges.txt` (read), and the assembly of a [`Tokenizer`]
//! from its parts, shared with the trainers.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::bpe::{Alphabet, Bpe, CharModel, NONE};
use super::bytelevel;
use super::stages::{
    AddedToken, AddedTokens, ByteLevel, ByteLevelDecoder, ByteLevelOptions, Decoder, Fuse,
    Lowercase, Normalizer, PreTokenizer,
};
use super::{ModelKind, Tokenizer};
use crate::error::{Error, Result};

/// Which decoder a tokenizer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecoderChoice {
    ByteLevel(ByteLevelOptions),
    Fuse,
}

/// Everything a tokenizer is made of, before the lookups are built.
pub(crate) struct Parts {
    /// The model's vocabulary: `(token, id)`.
    pub vocab: Vec<(String, u32)>,
    pub added: Vec<AddedToken>,
    /// BPE merges in rank order; `None` for a char-level model.
    pub merges: Option<Vec<(String, String)>>,
    pub unk_token: Option<String>,
    pub fuse_unk: bool,
    pub ignore_merges: bool,
    pub lowercase: bool,
    pub pre_tokenizer: Option<ByteLevelOptions>,
    pub post_processor: Option<ByteLevelOptions>,
    pub decoder: Option<DecoderChoice>,
}

/// Build a tokenizer, checking that ids are dense and unique and that every
/// merge names tokens of the vocabulary. `source` names the input in errors.
pub(crate) fn assemble(parts: Parts, source: &str) -> Result<Tokenizer> {
    let format = |message: String| Error::Format(format!("{source}: {message}"));
    let n_model = parts.vocab.len();
    if n_model == 0 {
        return Err(format("field `model.vocab` is empty".into()));
    }
    // The model's ids run from 0 to n - 1: checked before anything is sized
    // by an id, so a huge id in a small file is an error, not an allocation.
    let mut tokens: Vec<Option<String>> = vec![None; n_model];
    for (token, id) in &parts.vocab {
        let Some(slot) = tokens.get_mut(*id as usize) else {
            return Err(format(format!(
                "field `model.vocab`: ids must run from 0 to {} without gaps, but {token:?} has id {id}",
                n_model - 1
            )));
        };
        if let Some(other) = slot {
            return Err(format(format!(
                "field `model.vocab`: id {id} is given to both {other:?} and {token:?}"
            )));
        }
        *slot = Some(token.clone());
    }
    let mut tokens: Vec<String> = tokens.into_iter().map(Option::unwrap_or_default).collect();
    let mut ids: FxHashMap<String, u32> = FxHashMap::default();
    ids.reserve(n_model + parts.added.len());
    for (id, token) in tokens.iter().enumerate() {
        ids.insert(token.clone(), id as u32);
    }
    let mut in_model = vec![true; n_model];
    let mut special = vec![false; n_model];
    // Added tokens get the ids Hugging Face gives them: a token of the model
    // keeps its id, the others follow the model's vocabulary in order. A file
    // whose `id` disagrees is refused rather than read two ways.
    for (i, added) in parts.added.iter().enumerate() {
        if added.content.is_empty() {
            return Err(format(format!(
                "field `added_tokens[{i}].content` is empty"
            )));
        }
        let expected = match ids.get(&added.content) {
            Some(&id) if (id as usize) < n_model => id,
            Some(_) => {
                return Err(format(format!(
                    "field `added_tokens[{i}]`: {:?} is added twice",
                    added.content
                )))
            }
            None => tokens.len() as u32,
        };
        if added.id != expected {
            return Err(format(format!(
                "field `added_tokens[{i}].id` is {} but {:?} has id {expected} (its id in \
                 `model.vocab`, or the next id after the vocabulary and the added tokens before it)",
                added.id, added.content
            )));
        }
        if expected as usize == tokens.len() {
            tokens.push(added.content.clone());
            ids.insert(added.content.clone(), expected);
            in_model.push(false);
            special.push(false);
        }
        special[expected as usize] |= added.special;
    }
    let model_ids: FxHashMap<&str, u32> = parts
        .vocab
        .iter()
        .map(|(t, id)| (t.as_str(), *id))
        .collect();
    let unk = match &parts.unk_token {
        Some(unk) => Some(*model_ids.get(unk.as_str()).ok_or_else(|| {
            format(format!(
                "field `model.unk_token`: {unk:?} is not in `model.vocab`"
            ))
        })?),
        None => None,
    };
    let byte_level = parts.pre_tokenizer.is_some();
    let (model, kind): (Box<dyn super::bpe::Model>, ModelKind) = match &parts.merges {
        // Without merges, byte level, fused unknowns or whole-token lookups,
        // a BPE is one token per character.
        Some(merges)
            if byte_level || !merges.is_empty() || parts.fuse_unk || parts.ignore_merges =>
        {
            let mut merge_ids = Vec::with_capacity(merges.len());
            for (rank, (left, right)) in merges.iter().enumerate() {
                let lookup = |token: &str| {
                    model_ids.get(token).copied().ok_or_else(|| {
                        format(format!(
                            "field `model.merges[{rank}]`: token {token:?} is not in `model.vocab`"
                        ))
                    })
                };
                let (l, r) = (lookup(left)?, lookup(right)?);
                let merged = lookup(&format!("{left}{right}"))?;
                merge_ids.push((l, r, merged));
            }
            let alphabet = if byte_level {
                let mut table = Box::new([NONE; 256]);
                for (b, c) in bytelevel::byte_chars().iter().enumerate() {
                    let mut buf = [0u8; 4];
                    table[b] = model_ids
                        .get(&*c.encode_utf8(&mut buf))
                        .copied()
                        .unwrap_or(NONE);
                }
                Alphabet::Bytes(table)
            } else {
                Alphabet::Chars(single_chars(&model_ids))
            };
            let whole = parts.ignore_merges.then(|| {
                model_ids
                    .iter()
                    .filter_map(|(token, &id)| {
                        let text = if byte_level {
                            String::from_utf8(bytelevel::token_bytes(token)?).ok()?
                        } else {
                            token.to_string()
                        };
                        Some((text.into_boxed_str(), id))
                    })
                    .collect()
            });
            let pairs = merge_ids.iter().map(|&(l, r, _)| (l, r)).collect();
            (
                Box::new(Bpe::new(alphabet, &merge_ids, unk, parts.fuse_unk, whole)),
                ModelKind::Bpe {
                    merges: pairs,
                    ignore_merges: parts.ignore_merges,
                    fuse_unk: parts.fuse_unk,
                },
            )
        }
        _ => (
            Box::new(CharModel::new(&single_chars(&model_ids), unk)),
            ModelKind::Char,
        ),
    };
    Ok(Tokenizer {
        tokens,
        ids,
        added: AddedTokens::new(parts.added),
        special,
        in_model,
        normalizer: parts
            .lowercase
            .then(|| Box::new(Lowercase) as Box<dyn Normalizer>),
        pre_tokenizer: parts
            .pre_tokenizer
            .map(|o| Box::new(ByteLevel(o)) as Box<dyn PreTokenizer>),
        model,
        kind,
        unk_token: parts.unk_token,
        post_processor: parts.post_processor,
        decoder: parts.decoder.map(|d| match d {
            DecoderChoice::ByteLevel(o) => Box::new(ByteLevelDecoder(o)) as Box<dyn Decoder>,
            DecoderChoice::Fuse => Box::new(Fuse) as Box<dyn Decoder>,
        }),
    })
}

fn single_chars(model_ids: &FxHashMap<&str, u32>) -> FxHashMap<char, u32> {
    model_ids
        .iter()
        .filter_map(|(token, &id)| {
            let mut chars = token.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some((c, id)),
                _ => None,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- reading

/// A JSON reader that names the field in every error.
struct Fields<'a> {
    source: &'a str,
}

impl Fields<'_> {
    fn error(&self, path: &str, what: &str) -> Error {
        Error::Format(format!("{}: field `{path}` {what}", self.source))
    }

    fn get<'v>(
        &self,
        object: &'v Map<String, Value>,
        parent: &str,
        name: &str,
    ) -> Result<&'v Value> {
        object
            .get(name)
            .ok_or_else(|| self.error(&join(parent, name), "is missing"))
    }

    fn object<'v>(&self, value: &'v Value, path: &str) -> Result<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.error(path, &format!("must be an object, not {}", kind(value))))
    }

    fn string<'v>(&self, value: &'v Value, path: &str) -> Result<&'v str> {
        value
            .as_str()
            .ok_or_else(|| self.error(path, &format!("must be a string, not {}", kind(value))))
    }

    fn optional_string(
        &self,
        object: &Map<String, Value>,
        parent: &str,
        name: &str,
    ) -> Result<Option<String>> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => Ok(Some(self.string(value, &join(parent, name))?.to_string())),
        }
    }

    fn boolean(
        &self,
        object: &Map<String, Value>,
        parent: &str,
        name: &str,
        default: bool,
    ) -> Result<bool> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.error(
                &join(parent, name),
                &format!("must be true or false, not {}", kind(other)),
            )),
        }
    }

    fn id(&self, value: &Value, path: &str) -> Result<u32> {
        value
            .as_u64()
            .filter(|&id| id < NONE as u64)
            .map(|id| id as u32)
            .ok_or_else(|| {
                self.error(
                    path,
                    &format!("must be a token id (an integer from 0 to 2^32 - 2), not {value}"),
                )
            })
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse a `tokenizer.json`; `source` names it in errors.
pub(crate) fn parse(bytes: &[u8], source: &str) -> Result<Tokenizer> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Format(format!("{source}: not a valid tokenizer.json: {e}")))?;
    let f = Fields { source };
    let root = f.object(&root, "(root)")?;
    for name in ["truncation", "padding"] {
        if !matches!(root.get(name), None | Some(Value::Null)) {
            return Err(Error::Unsupported(format!(
                "{source}: field `{name}` is set; helios tokenizers neither truncate nor pad \
                 (set it to null)"
            )));
        }
    }
    let unsupported = |path: &str, what: &str| {
        Error::Unsupported(format!(
            "{source}: field `{path}`: {what} is not supported by helios"
        ))
    };
    let component = |name: &str| -> Result<Option<(&str, &Map<String, Value>)>> {
        match root.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                let object = f.object(value, name)?;
                let kind = f.string(f.get(object, name, "type")?, &join(name, "type"))?;
                Ok(Some((kind, object)))
            }
        }
    };
    let byte_level = |object: &Map<String, Value>, path: &str| -> Result<ByteLevelOptions> {
        Ok(ByteLevelOptions {
            add_prefix_space: f.boolean(object, path, "add_prefix_space", true)?,
            trim_offsets: f.boolean(object, path, "trim_offsets", true)?,
            use_regex: f.boolean(object, path, "use_regex", true)?,
        })
    };
    let lowercase = match component("normalizer")? {
        None => false,
        Some(("Lowercase", _)) => true,
        Some((other, _)) => {
            return Err(unsupported(
                "normalizer.type",
                &format!("normalizer {other:?}"),
            ))
        }
    };
    let pre_tokenizer = match component("pre_tokenizer")? {
        None => None,
        Some(("ByteLevel", object)) => Some(byte_level(object, "pre_tokenizer")?),
        Some((other, _)) => {
            return Err(unsupported(
                "pre_tokenizer.type",
                &format!("pre-tokenizer {other:?}"),
            ))
        }
    };
    let post_processor = match component("post_processor")? {
        None => None,
        Some(("ByteLevel", object)) => Some(byte_level(object, "post_processor")?),
        Some((other, _)) => {
            return Err(unsupported(
                "post_processor.type",
                &format!("post-processor {other:?}"),
            ))
        }
    };
    let decoder = match component("decoder")? {
        None => None,
        Some(("ByteLevel", object)) => {
            Some(DecoderChoice::ByteLevel(byte_level(object, "decoder")?))
        }
        Some(("Fuse", _)) => Some(DecoderChoice::Fuse),
        Some((other, _)) => return Err(unsupported("decoder.type", &format!("decoder {other:?}"))),
    };

    let mut added = Vec::new();
    match root.get("added_tokens") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, entry) in list.iter().enumerate() {
                let path = format!("added_tokens[{i}]");
                let object = f.object(entry, &path)?;
                for flag in ["single_word", "lstrip", "rstrip"] {
                    if f.boolean(object, &path, flag, false)? {
                        return Err(unsupported(
                            &join(&path, flag),
                            "an added token with `single_word`, `lstrip` or `rstrip`",
                        ));
                    }
                }
                added.push(AddedToken {
                    id: f.id(f.get(object, &path, "id")?, &join(&path, "id"))?,
                    content: f
                        .string(f.get(object, &path, "content")?, &join(&path, "content"))?
                        .to_string(),
                    special: f.boolean(object, &path, "special", false)?,
                    normalized: f.boolean(object, &path, "normalized", false)?,
                });
            }
        }
        Some(other) => {
            return Err(f.error(
                "added_tokens",
                &format!("must be an array, not {}", kind(other)),
            ))
        }
    }

    let model = f.object(f.get(root, "", "model")?, "model")?;
    let model_type = match model.get("type") {
        Some(value) => f.string(value, "model.type")?,
        None if model.contains_key("merges") => "BPE",
        None => return Err(f.error("model.type", "is missing")),
    };
    if model_type != "BPE" {
        return Err(unsupported(
            "model.type",
            &format!("model {model_type:?} (helios reads BPE models)"),
        ));
    }
    if !matches!(model.get("dropout"), None | Some(Value::Null)) {
        return Err(unsupported("model.dropout", "BPE dropout"));
    }
    for name in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if f.optional_string(model, "model", name)?
            .is_some_and(|s| !s.is_empty())
        {
            return Err(unsupported(
                &join("model", name),
                "a subword prefix or suffix",
            ));
        }
    }
    if f.boolean(model, "model", "byte_fallback", false)? {
        return Err(unsupported("model.byte_fallback", "byte fallback"));
    }
    let vocab_object = f.object(f.get(model, "model", "vocab")?, "model.vocab")?;
    let mut vocab = Vec::with_capacity(vocab_object.len());
    for (token, id) in vocab_object {
        vocab.push((token.clone(), f.id(id, &format!("model.vocab[{token:?}]"))?));
    }
    let merges_value = f.get(model, "model", "merges")?;
    let merges_list = merges_value.as_array().ok_or_else(|| {
        f.error(
            "model.merges",
            &format!("must be an array, not {}", kind(merges_value)),
        )
    })?;
    let mut merges = Vec::with_capacity(merges_list.len());
    for (rank, merge) in merges_list.iter().enumerate() {
        let path = format!("model.merges[{rank}]");
        let pair = match merge {
            Value::String(line) => {
                let mut parts = line.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(a), Some(b), None) => (a.to_string(), b.to_string()),
                    _ => {
                        return Err(f.error(
                            &path,
                            &format!("must be two tokens separated by one space, not {line:?}"),
                        ))
                    }
                }
            }
            Value::Array(pair) if pair.len() == 2 => (
                f.string(&pair[0], &format!("{path}[0]"))?.to_string(),
                f.string(&pair[1], &format!("{path}[1]"))?.to_string(),
            ),
            other => {
                return Err(f.error(
                    &path,
                    &format!("must be \"a b\" or [\"a\", \"b\"], not {}", kind(other)),
                ))
            }
        };
        merges.push(pair);
    }
    let parts = Parts {
        vocab,
        added,
        merges: Some(merges),
        unk_token: f.optional_string(model, "model", "unk_token")?,
        fuse_unk: f.boolean(model, "model", "fuse_unk", false)?,
        ignore_merges: f.boolean(model, "model", "ignore_merges", false)?,
        lowercase,
        pre_tokenizer,
        post_processor,
        decoder,
    };
    assemble(parts, source)
}

/// GPT-2's `vocab.json` + `merges.txt`.
pub(crate) fn from_vocab_merges(vocab_path: &Path, merges_path: &Path) -> Result<Tokenizer> {
    let source = vocab_path.display().to_string();
    let bytes = crate::persist::read_file(vocab_path)?;
    let root: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Format(format!("{source}: not a valid vocab.json: {e}")))?;
    let f = Fields { source: &source };
    let object = f.object(&root, "(root)")?;
    let mut vocab = Vec::with_capacity(object.len());
    for (token, id) in object {
        vocab.push((token.clone(), f.id(id, &format!("[{token:?}]"))?));
    }
    let merges_source = merges_path.display().to_string();
    let text = crate::persist::read_file(merges_path)?;
    let text = std::str::from_utf8(&text).map_err(|e| {
        Error::Format(format!(
            "{merges_source}: not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut merges = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() || (number == 0 && line.starts_with("#version")) {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((a.to_string(), b.to_string()))
            }
            _ => {
                return Err(Error::Format(format!(
                "{merges_source}: line {} must be two tokens separated by one space, not {line:?}",
                number + 1
            )))
            }
        }
    }
    let added = vocab
        .iter()
        .filter(|(token, _)| token == "<|endoftext|>")
        .map(|(token, id)| AddedToken {
            id: *id,
            content: token.clone(),
            special: true,
            normalized: false,
        })
        .collect();
    let parts = Parts {
        vocab,
        added,
        merges: Some(merges),
        unk_token: None,
        fuse_unk: false,
        ignore_merges: false,
        lowercase: false,
        pre_tokenizer: Some(ByteLevelOptions::GPT2),
        post_processor: Some(ByteLevelOptions {
            trim_offsets: false,
            ..ByteLevelOptions::GPT2
        }),
        decoder: Some(DecoderChoice::ByteLevel(ByteLevelOptions::GPT2)),
    };
    // Merges name tokens of merges.txt; the errors name the vocabulary file.
    assemble(parts, &format!("{source} + {merges_source}"))
}

// ---------------------------------------------------------------- writing

/// A JSON text under construction.
#[derive(Default)]
pub(crate) struct JsonOut {
    text: String,
}

impl JsonOut {
    pub(crate) fn raw(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn string(&mut self, value: &str) {
        self.text
            .push_str(&serde_json::to_string(value).expect("a string always serializes"));
    }
}

/// The `tokenizer.json` of `tokenizer`. Char-level tokenizers are written as
/// a BPE without merges or pre-tokenizer and with the `Fuse` decoder, which
/// Hugging Face reads as the same tokenizer.
pub(crate) fn write(tokenizer: &Tokenizer) -> String {
    let mut out = JsonOut::default();
    out.raw(r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":["#);
    for (i, token) in tokenizer.added.all().iter().enumerate() {
        if i > 0 {
            out.raw(",");
        }
        out.raw(&format!("{{\"id\":{},\"content\":", token.id));
        out.string(&token.content);
        out.raw(&format!(
            ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":{},\"special\":{}}}",
            token.normalized, token.special
        ));
    }
    out.raw("]");
    out.raw(",\"normalizer\":");
    match &tokenizer.normalizer {
        Some(normalizer) => normalizer.write_json(&mut out),
        None => out.raw("null"),
    }
    out.raw(",\"pre_tokenizer\":");
    match &tokenizer.pre_tokenizer {
        Some(pre) => pre.write_json(&mut out),
        None => out.raw("null"),
    }
    out.raw(",\"post_processor\":");
    match &tokenizer.post_processor {
        Some(post) => post.write_json(&mut out),
        None => out.raw("null"),
    }
    out.raw(",\"decoder\":");
    match &tokenizer.decoder {
        Some(decoder) => decoder.write_json(&mut out),
        None => out.raw("null"),
    }
    let (ignore_merges, fuse_unk) = match &tokenizer.kind {
        ModelKind::Bpe {
            ignore_merges,
            fuse_unk,
            ..
        } => (*ignore_merges, *fuse_unk),
        ModelKind::Char => (false, false),
    };
    out.raw(r#","model":{"type":"BPE","dropout":null,"unk_token":"#);
    match &tokenizer.unk_token {
        Some(unk) => out.string(unk),
        None => out.raw("null"),
    }
    out.raw(&format!(
        ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":{fuse_unk},\
         \"byte_fallback\":false,\"ignore_merges\":{ignore_merges},\"vocab\":{{"
    ));
    let mut first = true;
    for (id, token) in tokenizer.tokens.iter().enumerate() {
        if !tokenizer.in_model[id] {
            continue;
        }
        if !first {
            out.raw(",");
        }
        first = false;
        out.string(token);
        out.raw(&format!(":{id}"));
    }
    out.raw("},\"merges\":[");
    if let ModelKind::Bpe { merges, .. } = &tokenizer.kind {
        for (i, &(left, right)) in merges.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            out.raw("[");
            out.string(&tokenizer.tokens[left as usize]);
            out.raw(",");
            out.string(&tokenizer.tokens[right as usize]);
            out.raw("]");
        }
    }
    out.raw("]}}");
    out.text
}
