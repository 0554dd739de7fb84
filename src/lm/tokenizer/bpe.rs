//! The models: byte-pair encoding with ranked merges, and one token per
//! character. A model turns one pre-tokenized piece into token ids, each with
//! the number of the piece's bytes it covers (for offsets).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use rustc_hash::{FxBuildHasher, FxHashMap};

/// A marker for "no id".
pub(crate) const NONE: u32 = u32::MAX;

/// Why a piece could not be tokenized: the character at this byte offset of
/// the piece is not in the vocabulary and the model has no unknown token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownAt(pub usize);

/// The model stage of the pipeline: one piece in, ids and byte lengths out.
pub(crate) trait Model: Send + Sync {
    /// Append the ids of `piece` to `ids` and the bytes each covers to `lens`.
    fn tokenize(
        &self,
        piece: &str,
        ids: &mut Vec<u32>,
        lens: &mut Vec<u32>,
    ) -> Result<(), UnknownAt>;

    /// Stop caching pieces (for measuring what the cache brings).
    fn disable_cache(&mut self) {}
}

/// How a BPE model forms a piece's first symbols.
pub(crate) enum Alphabet {
    /// One symbol per byte (GPT-2's byte-level models): `ids[b]` is the id of
    /// the byte's stand-in character, or [`NONE`].
    Bytes(Box<[u32; 256]>),
    /// One symbol per character: the id of each single-character token.
    Chars(FxHashMap<char, u32>),
}

/// Byte-pair encoding: start from the alphabet's symbols and apply the
/// lowest-ranked merge present, leftmost first, until none applies (the rule
/// of GPT-2 and Hugging Face `tokenizers`).
pub(crate) struct Bpe {
    alphabet: Alphabet,
    /// `(left, right) -> (rank, merged id)`.
    merges: FxHashMap<(u32, u32), (u32, u32)>,
    unk: Option<u32>,
    fuse_unk: bool,
    /// With `ignore_merges`, a piece that is itself a token is taken whole;
    /// keyed by the piece's text.
    whole: Option<FxHashMap<Box<str>, u32>>,
    cache: Cache,
    use_cache: bool,
}

impl Bpe {
    /// `merges` in rank order as `(left, right, merged)`; `whole` is the
    /// vocabulary by text when merges are ignored for pieces that are tokens.
    pub(crate) fn new(
        alphabet: Alphabet,
        merges: &[(u32, u32, u32)],
        unk: Option<u32>,
        fuse_unk: bool,
        whole: Option<FxHashMap<Box<str>, u32>>,
    ) -> Bpe {
        let mut map = FxHashMap::with_capacity_and_hasher(merges.len(), FxBuildHasher);
        for (rank, &(left, right, merged)) in merges.iter().enumerate() {
            // A repeated pair keeps its last rank, as Hugging Face's loader does.
            map.insert((left, right), (rank as u32, merged));
        }
        Bpe {
            alphabet,
            merges: map,
            unk,
            fuse_unk,
            whole,
            cache: Cache::new(),
            use_cache: true,
        }
    }

    fn first_symbols(&self, piece: &str, syms: &mut Vec<Symbol>) -> Result<(), UnknownAt> {
        let mut after_unknown = false;
        let mut push = |id: u32, len: u32, at: usize| -> Result<(), UnknownAt> {
            if id != NONE {
                after_unknown = false;
                syms.push(Symbol { id, len });
                return Ok(());
            }
            let unk = self.unk.ok_or(UnknownAt(at))?;
            match syms.last_mut() {
                // Consecutive unknown characters make one unknown token.
                Some(last) if self.fuse_unk && after_unknown => last.len += len,
                _ => syms.push(Symbol { id: unk, len }),
            }
            after_unknown = true;
            Ok(())
        };
        match &self.alphabet {
            Alphabet::Bytes(ids) => {
                for (at, &b) in piece.as_bytes().iter().enumerate() {
                    push(ids[b as usize], 1, at)?;
                }
            }
            Alphabet::Chars(ids) => {
                for (at, c) in piece.char_indices() {
                    push(
                        ids.get(&c).copied().unwrap_or(NONE),
                        c.len_utf8() as u32,
                        at,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Apply the merges to `syms` in place.
    fn merge(&self, syms: &mut Vec<Symbol>) {
        let n = syms.len();
        if n < 2 {
            return;
        }
        // Two symbols: one lookup, no heap.
        if n == 2 {
            if let Some(&(_, merged)) = self.merges.get(&(syms[0].id, syms[1].id)) {
                syms[0] = Symbol {
                    id: merged,
                    len: syms[0].len + syms[1].len,
                };
                syms.truncate(1);
            }
            return;
        }
        if n <= SMALL_PIECE {
            self.merge_small(syms);
            return;
        }
        let mut next: Vec<u32> = (1..=n as u32).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        next[n - 1] = NONE;
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            if let Some(&(rank, _)) = self.merges.get(&(syms[i].id, syms[i + 1].id)) {
                heap.push(Reverse((rank, i as u32)));
            }
        }
        while let Some(Reverse((rank, at))) = heap.pop() {
            let at = at as usize;
            let right = next[at];
            if syms[at].len == 0 || right == NONE {
                continue;
            }
            let right = right as usize;
            let Some(&(current, merged)) = self.merges.get(&(syms[at].id, syms[right].id)) else {
                continue;
            };
            if current != rank {
                continue;
            }
            syms[at].id = merged;
            syms[at].len += syms[right].len;
            syms[right].len = 0;
            let after = next[right];
            next[at] = after;
            if after != NONE {
                prev[after as usize] = at as u32;
                if let Some(&(rank, _)) = self.merges.get(&(merged, syms[after as usize].id)) {
                    heap.push(Reverse((rank, at as u32)));
                }
            }
            let before = prev[at];
            if before != NONE {
                if let Some(&(rank, _)) = self.merges.get(&(syms[before as usize].id, merged)) {
                    heap.push(Reverse((rank, before)));
                }
            }
        }
        syms.retain(|s| s.len > 0);
    }
}

impl Bpe {
    /// [`merge`](Self::merge) for short pieces (most words): the rank of
    /// each adjacent pair kept in an array and the lowest (leftmost among
    /// equals) found by a scan, with no heap and no allocation. Same order,
    /// so the same result.
    fn merge_small(&self, syms: &mut Vec<Symbol>) {
        let rank_of = |left: &Symbol, right: &Symbol| {
            self.merges
                .get(&(left.id, right.id))
                .map_or((NONE, NONE), |&(rank, merged)| (rank, merged))
        };
        let mut ranks = [(NONE, NONE); SMALL_PIECE];
        for i in 0..syms.len() - 1 {
            ranks[i] = rank_of(&syms[i], &syms[i + 1]);
        }
        loop {
            let pairs = syms.len() - 1;
            let mut best = NONE;
            let mut at = 0;
            for (i, &(rank, _)) in ranks[..pairs].iter().enumerate() {
                if rank < best {
                    best = rank;
                    at = i;
                }
            }
            if best == NONE {
                return;
            }
            let merged = ranks[at].1;
            syms[at] = Symbol {
                id: merged,
                len: syms[at].len + syms[at + 1].len,
            };
            syms.remove(at + 1);
            ranks.copy_within(at + 1..pairs, at);
            if at + 1 < syms.len() {
                ranks[at] = rank_of(&syms[at], &syms[at + 1]);
            }
            if at > 0 {
                ranks[at - 1] = rank_of(&syms[at - 1], &syms[at]);
            }
            if syms.len() < 2 {
                return;
            }
        }
    }
}

/// Pieces of at most this many first symbols are merged by
/// [`Bpe::merge_small`].
const SMALL_PIECE: usize = 32;

impl Model for Bpe {
    fn disable_cache(&mut self) {
        self.use_cache = false;
    }

    fn tokenize(
        &self,
        piece: &str,
        ids: &mut Vec<u32>,
        lens: &mut Vec<u32>,
    ) -> Result<(), UnknownAt> {
        if let Some(&id) = self.whole.as_ref().and_then(|w| w.get(piece)) {
            ids.push(id);
            lens.push(piece.len() as u32);
            return Ok(());
        }
        let cacheable = self.use_cache && piece.len() <= MAX_CACHED_BYTES;
        if cacheable && self.cache.get(piece.as_bytes(), ids, lens) {
            return Ok(());
        }
        let mut syms = Vec::with_capacity(piece.len());
        self.first_symbols(piece, &mut syms)?;
        self.merge(&mut syms);
        ids.extend(syms.iter().map(|s| s.id));
        lens.extend(syms.iter().map(|s| s.len));
        if cacheable {
            self.cache.insert(piece.as_bytes(), &syms);
        }
        Ok(())
    }
}

/// One token per Unicode scalar value (the char-level model).
pub(crate) struct CharModel {
    ascii: [u32; 128],
    others: FxHashMap<char, u32>,
    unk: Option<u32>,
}

impl CharModel {
    /// The model of the single-character tokens in `chars`.
    pub(crate) fn new(chars: &FxHashMap<char, u32>, unk: Option<u32>) -> CharModel {
        let mut ascii = [NONE; 128];
        let mut others = FxHashMap::default();
        for (&c, &id) in chars {
            if c.is_ascii() {
                ascii[c as usize] = id;
            } else {
                others.insert(c, id);
            }
        }
        CharModel { ascii, others, unk }
    }
}

impl Model for CharModel {
    fn tokenize(
        &self,
        piece: &str,
        ids: &mut Vec<u32>,
        lens: &mut Vec<u32>,
    ) -> Result<(), UnknownAt> {
        for (at, c) in piece.char_indices() {
            let id = if c.is_ascii() {
                self.ascii[c as usize]
            } else {
                self.others.get(&c).copied().unwrap_or(NONE)
            };
            let id = match (id, self.unk) {
                (NONE, Some(unk)) => unk,
                (NONE, None) => return Err(UnknownAt(at)),
                (id, _) => id,
            };
            ids.push(id);
            lens.push(c.len_utf8() as u32);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    id: u32,
    /// Bytes of the piece this symbol covers; 0 once merged into its left
    /// neighbour.
    len: u32,
}

/// Pieces longer than this are not cached (they are rare and would crowd out
/// the common words).
const MAX_CACHED_BYTES: usize = 256;
/// Slots of the cache table, and how far a piece may land from its home slot.
const CACHE_SLOTS: usize = 1 << 16;
const PROBES: usize = 8;

type Entry = (Box<[u8]>, Box<[(u32, u32)]>);

/// The piece -> tokens cache of a shared tokenizer: a fixed open-addressing
/// table whose slots are each filled once. A lookup is a few atomic loads
/// and a key comparison: readers take no lock and write no shared memory,
/// so threads encoding the same frequent words never contend. A piece whose
/// probe window is full is not cached. The cache only saves work; it never
/// changes a result.
struct Cache {
    slots: Box<[OnceLock<Entry>]>,
    /// Slots filled so far, and whether the table counts as full.
    filled: AtomicUsize,
    full: AtomicBool,
}

impl Cache {
    fn new() -> Cache {
        Cache {
            slots: (0..CACHE_SLOTS).map(|_| OnceLock::new()).collect(),
            filled: AtomicUsize::new(0),
            full: AtomicBool::new(false),
        }
    }

    fn home(&self, key: &[u8]) -> usize {
        // The high bits: FxHash's low bits are weak for short keys.
        (FxBuildHasher.hash_one(key) >> 40) as usize & (CACHE_SLOTS - 1)
    }

    fn get(&self, key: &[u8], ids: &mut Vec<u32>, lens: &mut Vec<u32>) -> bool {
        let home = self.home(key);
        for probe in 0..PROBES {
            match self.slots[(home + probe) & (CACHE_SLOTS - 1)].get() {
                Some((k, tokens)) if **k == *key => {
                    ids.extend(tokens.iter().map(|t| t.0));
                    lens.extend(tokens.iter().map(|t| t.1));
                    return true;
                }
                Some(_) => continue,
                None => return false,
            }
        }
        false
    }

    fn insert(&self, key: &[u8], syms: &[Symbol]) {
        if self.full.load(Ordering::Relaxed) {
            return;
        }
        let home = self.home(key);
        for probe in 0..PROBES {
            let slot = &self.slots[(home + probe) & (CACHE_SLOTS - 1)];
            match slot.get() {
                Some((k, _)) if **k == *key => return,
                Some(_) => continue,
                None => {
                    let entry = (Box::from(key), syms.iter().map(|s| (s.id, s.len)).collect());
                    if slot.set(entry).is_ok() {
                        self.filled.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Another thread filled the slot first: try the next.
                }
            }
        }
        // The window is full: once most slots are, stop trying (each attempt
        // costs the probes).
        if self.filled.load(Ordering::Relaxed) >= CACHE_SLOTS * 7 / 8 {
            self.full.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model over bytes a=0, b=1, c=2 with merges (a b) -> 3 rank 0,
    /// (3 c) -> 4 rank 1, (b c) -> 5 rank 2.
    fn model() -> Bpe {
        let mut ids = Box::new([NONE; 256]);
        ids[b'a' as usize] = 0;
        ids[b'b' as usize] = 1;
        ids[b'c' as usize] = 2;
        Bpe::new(
            Alphabet::Bytes(ids),
            &[(0, 1, 3), (3, 2, 4), (1, 2, 5)],
            None,
            false,
            None,
        )
    }

    fn run(model: &Bpe, piece: &str) -> Result<(Vec<u32>, Vec<u32>), UnknownAt> {
        let (mut ids, mut lens) = (Vec::new(), Vec::new());
        model.tokenize(piece, &mut ids, &mut lens)?;
        Ok((ids, lens))
    }

    #[test]
    fn applies_lowest_rank_first_then_leftmost() {
        let m = model();
        // "abc": (a b) rank 0 beats (b c) rank 2, then (ab c) rank 1.
        assert_eq!(run(&m, "abc").unwrap(), (vec![4], vec![3]));
        // "bc": only (b c).
        assert_eq!(run(&m, "bc").unwrap(), (vec![5], vec![2]));
        // "abab c": pieces are given whole here; "ababc" -> ab, ab, c -> ab, abc.
        assert_eq!(run(&m, "ababc").unwrap(), (vec![3, 4], vec![2, 3]));
        // Cached second time, same answer.
        assert_eq!(run(&m, "ababc").unwrap(), (vec![3, 4], vec![2, 3]));
        assert_eq!(run(&m, "abx"), Err(UnknownAt(2)));
        // Longer than SMALL_PIECE: the heap path, same rule.
        assert!("abc".repeat(11).len() > SMALL_PIECE);
        assert_eq!(
            run(&m, &"abc".repeat(11)).unwrap(),
            (vec![4; 11], vec![3; 11])
        );
        assert_eq!(
            run(&m, &"ab".repeat(20)).unwrap(),
            (vec![3; 20], vec![2; 20])
        );
        let mut bc = "b".to_string();
        bc.push_str(&"abc".repeat(12));
        // "b" then "abc"s: (a b) rank 0 first everywhere, so no (b c).
        let (ids, _) = run(&m, &bc).unwrap();
        assert_eq!(ids[0], 1);
        assert_eq!(&ids[1..], &[4; 12]);
    }
}
