//! Training: byte-level BPE (Hugging Face's `BpeTrainer` rule, as used by its
//! `ByteLevelBPETokenizer`) and char-level vocabularies.
//!
//! BPE: the corpus is split with GPT-2's pattern and the pieces counted (in
//! parallel; counts are sums, so the thread count cannot change them). The
//! vocabulary starts with the special tokens, then the 256 byte tokens in
//! code-point order of their stand-in characters. Each step merges the pair
//! of adjacent tokens seen most often in the corpus; **ties go to the pair
//! whose (left id, right id) is smallest**. Training stops at `vocab_size`
//! tokens or when the best pair is seen fewer than `min_frequency` times.
//! The same corpus and options give the same merges on every machine and
//! thread count.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::bytelevel;
use super::json::{assemble, DecoderChoice, Parts};
use super::stages::{AddedToken, ByteLevelOptions};
use super::{deal, Tokenizer};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::exec::Threads;

/// The settings of [`Tokenizer::train_bpe`] and [`Tokenizer::train_char`].
#[derive(Clone)]
pub struct TrainOptions<'a> {
    /// BPE: the final vocabulary size, special tokens and the 256 byte tokens
    /// included (default 30 000). Char-level: 0 (default) keeps every
    /// character; otherwise the vocabulary holds at most this many tokens and
    /// keeps the most frequent characters (ties to the lower code point).
    pub vocab_size: usize,
    /// BPE: a pair seen fewer times is never merged. Char-level: a character
    /// seen fewer times is left out. 0 (default) and 1 set no threshold, as
    /// in Hugging Face's `BpeTrainer`; its `ByteLevelBPETokenizer` and the
    /// helios Python and C# bindings use 2 for BPE.
    pub min_frequency: u64,
    /// Tokens matched whole before splitting, with ids 0, 1, ... in order.
    pub special_tokens: Vec<String>,
    /// Char-level only: the token for characters outside the vocabulary
    /// (added as a special token after `special_tokens` unless among them).
    /// Without it, encoding such a character is an error.
    pub unk_token: Option<String>,
    /// Workers for counting the corpus. The result does not depend on it.
    pub threads: Threads,
    /// Checked between merges; a raised token stops training with
    /// [`Error::Cancelled`].
    pub cancel: Option<&'a CancelToken>,
    /// Called as `progress(done, total)` after each merge (BPE) or once at
    /// the end (char-level); returning `false` stops training with
    /// [`Error::Cancelled`].
    pub progress: Option<&'a (dyn Fn(usize, usize) -> bool + Sync)>,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        TrainOptions {
            vocab_size: 30_000,
            min_frequency: 0,
            special_tokens: Vec::new(),
            unk_token: None,
            threads: Threads::Auto,
            cancel: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for TrainOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainOptions")
            .field("vocab_size", &self.vocab_size)
            .field("min_frequency", &self.min_frequency)
            .field("special_tokens", &self.special_tokens)
            .field("unk_token", &self.unk_token)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl TrainOptions<'_> {
    fn check_stop(&self, done: usize, total: usize) -> Result<()> {
        if self.cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(Error::Cancelled(
                "training cancelled by the CancelToken".into(),
            ));
        }
        if let Some(progress) = self.progress {
            if !progress(done, total) {
                return Err(Error::Cancelled(
                    "training stopped by the progress callback".into(),
                ));
            }
        }
        Ok(())
    }

    fn checked_specials(&self) -> Result<Vec<String>> {
        let mut seen = FxHashSet::default();
        for (i, token) in self.special_tokens.iter().enumerate() {
            if token.is_empty() {
                return Err(Error::invalid(format!("special_tokens[{i}] is empty")));
            }
            if !seen.insert(token.as_str()) {
                return Err(Error::invalid(format!(
                    "special_tokens[{i}] = {token:?} is given twice"
                )));
            }
        }
        Ok(self.special_tokens.clone())
    }
}

fn empty_corpus() -> Error {
    Error::invalid("the training corpus is empty: give at least one non-empty text")
}

fn specials_as_added(specials: &[String]) -> Vec<AddedToken> {
    specials
        .iter()
        .enumerate()
        .map(|(id, content)| AddedToken {
            id: id as u32,
            content: content.clone(),
            special: true,
            normalized: false,
        })
        .collect()
}

/// Count GPT-2 pieces of `texts`, in parallel over ~1 MiB chunks.
fn count_pieces<'t, S: AsRef<str> + Sync>(
    texts: &'t [S],
    threads: usize,
    cancel: Option<&CancelToken>,
) -> Result<FxHashMap<&'t [u8], u64>> {
    let chunks: Vec<&str> = texts
        .iter()
        .flat_map(|t| bytelevel::safe_chunks(t.as_ref(), 1 << 20))
        .filter(|c| !c.is_empty())
        .collect();
    let mut counts = deal(
        threads,
        chunks.len(),
        cancel,
        FxHashMap::default,
        |map, i| {
            let chunk = chunks[i];
            let mut pieces = Vec::new();
            bytelevel::split(chunk, 0, &mut pieces);
            for (start, end) in pieces {
                *map.entry(&chunk.as_bytes()[start..end]).or_insert(0) += 1;
            }
        },
    )?;
    let mut total = counts.pop().unwrap_or_default();
    for map in counts {
        for (piece, n) in map {
            *total.entry(piece).or_insert(0) += n;
        }
    }
    Ok(total)
}

pub(crate) fn bpe<S: AsRef<str> + Sync>(
    texts: &[S],
    options: &TrainOptions<'_>,
) -> Result<Tokenizer> {
    let threads = options.threads.resolve()?;
    if options.unk_token.is_some() {
        return Err(Error::invalid(
            "unk_token is for char-level training: a byte-level BPE covers every byte",
        ));
    }
    let specials = options.checked_specials()?;
    let base = specials.len() + 256;
    if options.vocab_size < base {
        return Err(Error::invalid(format!(
            "vocab_size {} is smaller than the base alphabet: {} special tokens + 256 byte tokens = {base}",
            options.vocab_size,
            specials.len()
        )));
    }
    if texts.iter().all(|t| t.as_ref().is_empty()) {
        return Err(empty_corpus());
    }
    let min_frequency = options.min_frequency;
    let counted = count_pieces(texts, threads, options.cancel)?;
    let mut pieces: Vec<(&[u8], u64)> = counted.into_iter().collect();
    pieces.sort_unstable_by(|a, b| a.0.cmp(b.0));

    // Special tokens, then the byte tokens in code-point order.
    let mut tokens: Vec<String> = specials.clone();
    let mut by_char: Vec<(char, u8)> = bytelevel::byte_chars()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    by_char.sort_unstable();
    let mut byte_id = [0u32; 256];
    for (c, b) in by_char {
        byte_id[b as usize] = tokens.len() as u32;
        tokens.push(c.to_string());
    }
    let mut token_ids: FxHashMap<String, u32> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), id as u32))
        .collect();

    let counts: Vec<i64> = pieces.iter().map(|&(_, n)| n as i64).collect();
    let mut words: Vec<Vec<u32>> = pieces
        .iter()
        .map(|(piece, _)| piece.iter().map(|&b| byte_id[b as usize]).collect())
        .collect();
    drop(pieces);

    let mut pair_counts: FxHashMap<(u32, u32), i64> = FxHashMap::default();
    let mut where_: FxHashMap<(u32, u32), FxHashSet<u32>> = FxHashMap::default();
    for (w, word) in words.iter().enumerate() {
        for pair in word.windows(2) {
            let pair = (pair[0], pair[1]);
            *pair_counts.entry(pair).or_insert(0) += counts[w];
            where_.entry(pair).or_default().insert(w as u32);
        }
    }
    // Highest count first; among equal counts the smallest pair.
    let mut heap: BinaryHeap<(i64, Reverse<(u32, u32)>)> = pair_counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(&pair, &n)| (n, Reverse(pair)))
        .collect();

    let total = options.vocab_size - base;
    let mut merges: Vec<(u32, u32)> = Vec::new();
    let mut touched: Vec<(u32, u32)> = Vec::new();
    while tokens.len() < options.vocab_size {
        let Some((count, Reverse(pair))) = heap.pop() else {
            break;
        };
        let current = pair_counts.get(&pair).copied().unwrap_or(0);
        if current != count {
            if current > 0 {
                heap.push((current, Reverse(pair)));
            }
            continue;
        }
        if (count as u64) < min_frequency {
            break;
        }
        let (a, b) = pair;
        let merged_text = format!("{}{}", tokens[a as usize], tokens[b as usize]);
        let merged = match token_ids.get(&merged_text) {
            Some(&id) => id,
            None => {
                let id = tokens.len() as u32;
                token_ids.insert(merged_text.clone(), id);
                tokens.push(merged_text);
                id
            }
        };
        merges.push(pair);
        let mut positions: Vec<u32> = where_
            .remove(&pair)
            .unwrap_or_default()
            .into_iter()
            .collect();
        positions.sort_unstable();
        touched.clear();
        for &w in &positions {
            let word = &mut words[w as usize];
            let n = counts[w as usize];
            let mut change = |pair: (u32, u32), delta: i64| {
                *pair_counts.entry(pair).or_insert(0) += delta * n;
                if delta > 0 {
                    where_.entry(pair).or_default().insert(w);
                    touched.push(pair);
                }
            };
            let mut i = 0;
            while i + 1 < word.len() {
                if word[i] == a && word[i + 1] == b {
                    if i > 0 {
                        change((word[i - 1], a), -1);
                        change((word[i - 1], merged), 1);
                    }
                    if i + 2 < word.len() {
                        change((b, word[i + 2]), -1);
                        change((merged, word[i + 2]), 1);
                    }
                    word[i] = merged;
                    word.remove(i + 1);
                }
                i += 1;
            }
        }
        pair_counts.remove(&pair);
        touched.sort_unstable();
        touched.dedup();
        for &pair in &touched {
            let n = pair_counts.get(&pair).copied().unwrap_or(0);
            if n > 0 {
                heap.push((n, Reverse(pair)));
            }
        }
        options.check_stop(tokens.len() - base, total)?;
    }

    let parts = Parts {
        vocab: tokens.iter().cloned().zip(0u32..).collect(),
        added: specials_as_added(&specials),
        merges: Some(
            merges
                .iter()
                .map(|&(a, b)| (tokens[a as usize].clone(), tokens[b as usize].clone()))
                .collect(),
        ),
        unk_token: None,
        fuse_unk: false,
        ignore_merges: false,
        lowercase: false,
        pre_tokenizer: Some(ByteLevelOptions::GPT2),
        // Hugging Face's ByteLevelBPETokenizer writes these settings.
        post_processor: Some(ByteLevelOptions {
            add_prefix_space: true,
            trim_offsets: false,
            use_regex: true,
        }),
        decoder: Some(DecoderChoice::ByteLevel(ByteLevelOptions {
            add_prefix_space: true,
            ..ByteLevelOptions::GPT2
        })),
    };
    assemble(parts, "trained tokenizer")
}

pub(crate) fn char_level<S: AsRef<str> + Sync>(
    texts: &[S],
    options: &TrainOptions<'_>,
) -> Result<Tokenizer> {
    let threads = options.threads.resolve()?;
    let mut specials = options.checked_specials()?;
    if let Some(unk) = &options.unk_token {
        if unk.is_empty() {
            return Err(Error::invalid("unk_token is empty"));
        }
        if !specials.contains(unk) {
            specials.push(unk.clone());
        }
    }
    if texts.iter().all(|t| t.as_ref().is_empty()) {
        return Err(empty_corpus());
    }
    let per_text = deal(
        threads,
        texts.len(),
        options.cancel,
        FxHashMap::default,
        |map, i| {
            for c in texts[i].as_ref().chars() {
                *map.entry(c).or_insert(0) += 1;
            }
        },
    )?;
    let mut counts: FxHashMap<char, u64> = FxHashMap::default();
    for map in per_text {
        for (c, n) in map {
            *counts.entry(c).or_insert(0) += n;
        }
    }
    let min_frequency = options.min_frequency.max(1);
    let mut chars: Vec<(char, u64)> = counts
        .into_iter()
        .filter(|&(c, n)| n >= min_frequency && !specials.iter().any(|s| s.chars().eq([c])))
        .collect();
    if options.vocab_size > 0 {
        let room = options
            .vocab_size
            .checked_sub(specials.len())
            .filter(|&r| r > 0)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "vocab_size {} leaves no room for characters after {} special tokens",
                    options.vocab_size,
                    specials.len()
                ))
            })?;
        chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        chars.truncate(room);
    }
    chars.sort_unstable();
    let mut vocab: Vec<(String, u32)> = specials.iter().cloned().zip(0u32..).collect();
    for (c, _) in chars {
        let id = vocab.len() as u32;
        vocab.push((c.to_string(), id));
    }
    options.check_stop(1, 1)?;
    let parts = Parts {
        vocab,
        added: specials_as_added(&specials),
        merges: Some(Vec::new()),
        unk_token: options.unk_token.clone(),
        fuse_unk: false,
        ignore_merges: false,
        lowercase: false,
        pre_tokenizer: None,
        post_processor: None,
        decoder: Some(DecoderChoice::Fuse),
    };
    assemble(parts, "trained tokenizer")
}
