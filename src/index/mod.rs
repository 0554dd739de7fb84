//! The vector index: exact (flat) and product-quantized nearest-neighbour
//! search over f32 vectors, with u64 ids.
//!
//! A [`VectorIndex`] is shareable (one object may be used from any number of
//! threads at once): any number of searches run concurrently under a read
//! lock, while `train`, `add` and `remove` take the write lock, so a search
//! sees the index before or after a write, never half of one. Search-time
//! settings travel with each call ([`SearchOptions`]), never as fields of the
//! shared index, and searches write no shared state (no statistics counters).
//!
//! Search is exhaustive and deterministic: each query's hits are the k best
//! by (key, id), a total order, and every distance is computed by the same
//! arithmetic whatever the thread count, the batch or the block it falls in,
//! so a search returns the same bits on 1, 2 or 16 threads, and a query
//! searched alone gets the bits it gets in a batch. Flat L2 distances come
//! from `||q||² + ||x||² - 2 q·x` in f32, exact up to rounding relative to the
//! norms (a near-duplicate far from the origin may read 0, and then ties
//! with an exact duplicate by id); a vector's distance to itself is exactly 0.

pub(crate) mod flat;
mod kmeans;
mod pq;
mod topk;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use self::flat::{squared_norms, FlatScan, FlatStore, PACK};
use self::pq::{Codebook, PqScan, TABLE_WIDTH};
use self::topk::TopK;
use crate::embed::Matrix;
use crate::error::{Error, Result};
use crate::exec::{run_blocks, Threads};
use crate::persist::{read_file, seal, unseal, write_atomically, Reader};
use crate::rng::uniform_sample;

/// The largest vector dimension an index accepts (2^24).
pub const MAX_DIM: usize = 1 << 24;

/// The largest squared norm a stored or query vector may have: a quarter of
/// `f32::MAX`, so that `||q||² + ||x||² - 2 q·x` never overflows.
const MAX_SQUARED_NORM: f32 = f32::MAX / 4.0;

/// A checked batch of vectors: the rows, copied row-major, and their
/// squared norms (by the distance kernel's own arithmetic).
struct Batch {
    rows: Vec<f32>,
    norms: Vec<f32>,
}

impl Batch {
    /// Check `rows` (each `dim` long): every value finite and every squared
    /// norm at most [`MAX_SQUARED_NORM`]. The error names the first bad row
    /// and what is wrong with it.
    fn new(rows: Vec<f32>, dim: usize) -> std::result::Result<Batch, (usize, String)> {
        let norms = squared_norms(&rows, dim);
        for (i, (row, &norm)) in rows.chunks_exact(dim).zip(&norms).enumerate() {
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err((i, format!("holds a NaN or infinite value (column {j})")));
            }
            if norm > MAX_SQUARED_NORM {
                return Err((
                    i,
                    "is too large: its squared norm exceeds f32::MAX / 4, so distances would \
                     overflow"
                        .into(),
                ));
            }
        }
        Ok(Batch { rows, norms })
    }
}

/// The id that pads a result row when the index holds fewer than k vectors
/// (`UINT64_MAX`; -1 when read as a signed 64-bit integer, as faiss does).
pub const NO_ID: u64 = u64::MAX;

/// How distances are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance; smaller is nearer.
    L2,
    /// Inner product; larger is nearer (results are sorted by decreasing score).
    InnerProduct,
}

/// What the index stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// The vectors themselves: exact search, no training.
    Flat,
    /// Product-quantized codes: `pq_m` bytes per vector, approximate search,
    /// trained on sample vectors first.
    ProductQuantized,
}

/// The settings of a [`VectorIndex`], fixed at creation (except the thread
/// count, see [`VectorIndex::set_threads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOptions {
    /// Flat or product-quantized.
    pub kind: IndexKind,
    /// L2 or inner product.
    pub metric: Metric,
    /// The vector dimension d (at least 1).
    pub dim: usize,
    /// PQ only: the number of sub-spaces M (d must be a multiple of it; at
    /// most 65 536).
    pub pq_m: usize,
    /// PQ only: bits per code, 1 to 8 (2^nbits centroids per sub-space).
    pub pq_nbits: u32,
    /// PQ only: k-means iterations per sub-space (1 to 1 000).
    pub train_iterations: usize,
    /// PQ only: the seed of the k-means initialisation and the training sample.
    pub seed: u64,
    /// Workers for train, add and (by default) search.
    pub threads: Threads,
}

impl Default for IndexOptions {
    /// A flat L2 index of dimension 0 (set `dim`), PQ settings M = 16,
    /// nbits = 8, 25 iterations, seed 0, default threads.
    fn default() -> IndexOptions {
        IndexOptions {
            kind: IndexKind::Flat,
            metric: Metric::L2,
            dim: 0,
            pq_m: 16,
            pq_nbits: 8,
            train_iterations: 25,
            seed: 0,
            threads: Threads::Auto,
        }
    }
}

impl IndexOptions {
    /// A flat index of dimension `dim`.
    pub fn flat(dim: usize, metric: Metric) -> IndexOptions {
        IndexOptions {
            dim,
            metric,
            ..IndexOptions::default()
        }
    }

    /// A PQ index of dimension `dim` with `m` sub-spaces of `nbits`-bit codes.
    pub fn pq(dim: usize, m: usize, nbits: u32, metric: Metric) -> IndexOptions {
        IndexOptions {
            kind: IndexKind::ProductQuantized,
            dim,
            metric,
            pq_m: m,
            pq_nbits: nbits,
            ..IndexOptions::default()
        }
    }

    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::invalid("dim is 0: vectors need at least one value"));
        }
        if self.dim > MAX_DIM {
            return Err(Error::invalid(format!(
                "dim {} is too large: at most {MAX_DIM} values per vector",
                self.dim
            )));
        }
        self.threads.resolve()?;
        if self.kind == IndexKind::ProductQuantized {
            if self.pq_m == 0 || self.pq_m > 65_536 {
                return Err(Error::invalid(format!(
                    "pq_m {} is out of range: use 1 to 65536 sub-spaces",
                    self.pq_m
                )));
            }
            if !self.dim.is_multiple_of(self.pq_m) {
                return Err(Error::invalid(format!(
                    "dim {} is not divisible by pq_m {}: every sub-space needs the same width",
                    self.dim, self.pq_m
                )));
            }
            if !(1..=8).contains(&self.pq_nbits) {
                return Err(Error::invalid(format!(
                    "pq_nbits {} is out of range: use 1 to 8 bits per code",
                    self.pq_nbits
                )));
            }
            if !(1..=1000).contains(&self.train_iterations) {
                return Err(Error::invalid(format!(
                    "train_iterations {} is out of range: use 1 to 1000",
                    self.train_iterations
                )));
            }
        }
        Ok(())
    }

    /// Centroids per sub-space (PQ).
    fn centroids(&self) -> usize {
        1 << self.pq_nbits
    }
}

/// Settings of one search call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchOptions {
    /// Workers for this call; `Auto` uses the index's thread setting.
    pub threads: Threads,
}

/// The answer to a search: `n_queries x k` distances and ids, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// The k of the search (the row length).
    pub k: usize,
    /// Squared L2 distances (increasing along a row) or inner products
    /// (decreasing); padding is `+inf` (L2) or `-inf` (inner product).
    pub distances: Vec<f32>,
    /// The ids of the hits; padding is [`NO_ID`].
    pub ids: Vec<u64>,
}

enum Data {
    Flat(FlatStore),
    Pq {
        /// Shared with the adds in flight, which encode outside the lock
        /// and check, under it, that the codebook is still this one.
        codebook: Option<Arc<Codebook>>,
        codes: Vec<u8>,
    },
}

struct State {
    ids: Vec<u64>,
    positions: HashMap<u64, usize>,
    /// The id the next sequential add starts at: one past the largest id
    /// ever added.
    next_id: u64,
    data: Data,
}

/// A vector index (shareable: one object may be used from any number of
/// threads at once). See the [module documentation](self).
///
/// ```
/// use helios::embed::Matrix;
/// use helios::index::{IndexOptions, Metric, SearchOptions, VectorIndex};
/// let index = VectorIndex::new(IndexOptions::flat(2, Metric::L2))?;
/// let points = [0.0f32, 0.0, 1.0, 0.0, 5.0, 5.0];
/// index.add(Matrix::new(&points, 3, 2)?, None)?;
/// let hits = index.search(Matrix::new(&[0.9f32, 0.1], 1, 2)?, 2, &SearchOptions::default())?;
/// assert_eq!(hits.ids, vec![1, 0]);
/// assert!((hits.distances[0] - 0.02).abs() < 1e-6);
/// # Ok::<(), helios::Error>(())
/// ```
pub struct VectorIndex {
    options: IndexOptions,
    /// 0 for `Threads::Auto`, else the count.
    threads: AtomicUsize,
    state: RwLock<State>,
}

/// Queries per search block.
const QUERY_BLOCK: usize = 64;
/// Beyond this many hits per query, a search holds fewer queries per block
/// and one range of stored vectors, so that its heaps and partial results
/// stay near the size of the output itself.
const LARGE_K: usize = 1024;
/// The fewest stored vectors a search range holds.
const MIN_RANGE: usize = 8192;

impl VectorIndex {
    /// An empty index.
    pub fn new(options: IndexOptions) -> Result<VectorIndex> {
        options.validate()?;
        // A flat index ignores the PQ settings: keep the defaults, so that
        // equal flat indexes report and save equal options.
        let options = match options.kind {
            IndexKind::Flat => IndexOptions {
                pq_m: IndexOptions::default().pq_m,
                pq_nbits: IndexOptions::default().pq_nbits,
                train_iterations: IndexOptions::default().train_iterations,
                seed: IndexOptions::default().seed,
                ..options
            },
            IndexKind::ProductQuantized => options,
        };
        let data = match options.kind {
            IndexKind::Flat => Data::Flat(FlatStore::new(options.dim)),
            IndexKind::ProductQuantized => Data::Pq {
                codebook: None,
                codes: Vec::new(),
            },
        };
        Ok(VectorIndex {
            options,
            threads: AtomicUsize::new(match options.threads {
                Threads::Auto => 0,
                Threads::Exactly(n) => n,
            }),
            state: RwLock::new(State {
                ids: Vec::new(),
                positions: HashMap::new(),
                next_id: 0,
                data,
            }),
        })
    }

    /// The options (with the current thread setting).
    pub fn options(&self) -> IndexOptions {
        IndexOptions {
            threads: self.threads(),
            ..self.options
        }
    }

    fn threads(&self) -> Threads {
        match self.threads.load(Ordering::Relaxed) {
            0 => Threads::Auto,
            n => Threads::Exactly(n),
        }
    }

    /// Change the workers used by train, add and searches that name none.
    pub fn set_threads(&self, threads: Threads) -> Result<()> {
        threads.resolve()?;
        let value = match threads {
            Threads::Auto => 0,
            Threads::Exactly(n) => n,
        };
        self.threads.store(value, Ordering::Relaxed);
        Ok(())
    }

    /// The number of vectors stored.
    pub fn len(&self) -> usize {
        self.state.read().ids.len()
    }

    /// Whether the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the index can take vectors (always for flat; after `train` for PQ).
    pub fn is_trained(&self) -> bool {
        match &self.state.read().data {
            Data::Flat(_) => true,
            Data::Pq { codebook, .. } => codebook.is_some(),
        }
    }

    /// Check a batch of vectors (the dimension, at least one row, then
    /// [`Batch::new`]'s checks, which are [`Error::Numeric`], as for the
    /// feature map) and copy it row-major with its squared norms.
    fn batch(&self, x: &Matrix<'_, f32>, name: &str) -> Result<Batch> {
        if x.cols() != self.options.dim {
            return Err(Error::invalid(format!(
                "{name}: {} values per vector, but the index has dim {}",
                x.cols(),
                self.options.dim
            )));
        }
        if x.rows() == 0 {
            return Err(Error::invalid(format!("{name}: no vectors (n = 0)")));
        }
        let mut rows = Vec::with_capacity(x.rows() * x.cols());
        for i in 0..x.rows() {
            rows.extend_from_slice(x.row(i));
        }
        Batch::new(rows, x.cols())
            .map_err(|(i, why)| Error::Numeric(format!("row {i} of {name} {why}")))
    }

    /// Train the PQ codebooks on `x` (at least 2^nbits vectors; a seeded
    /// sample of 256 per centroid when there are more). A flat index needs
    /// no training: the call only checks `x`. Retraining is allowed while
    /// the index is empty.
    pub fn train(&self, x: Matrix<'_, f32>) -> Result<()> {
        let batch = self.batch(&x, "X")?;
        if self.options.kind == IndexKind::Flat {
            return Ok(());
        }
        let (m, k) = (self.options.pq_m, self.options.centroids());
        let dsub = self.options.dim / m;
        let n = x.rows();
        if n < k {
            return Err(Error::invalid(format!(
                "train needs at least {k} vectors (2^{} centroids per sub-space) but got {n}",
                self.options.pq_nbits
            )));
        }
        if !self.is_empty() {
            return Err(Error::InvalidState(format!(
                "the index holds {} vectors encoded with its codebooks: remove them before \
                 training again",
                self.len()
            )));
        }
        // The training rows: all, or a seeded sample of 256 per centroid.
        let limit = k * kmeans::MAX_POINTS_PER_CENTROID;
        let rows: Vec<usize> = if n > limit {
            let mut sample = uniform_sample(n, limit, self.options.seed);
            sample.sort_unstable();
            sample
        } else {
            (0..n).collect()
        };
        let threads = self.threads().resolve()?;
        let iterations = self.options.train_iterations;
        let seed = self.options.seed;
        let mut centroids = vec![0.0f32; m * k * dsub];
        run_blocks(
            threads,
            &mut centroids,
            k * dsub,
            None,
            Vec::new,
            |points: &mut Vec<f32>, j, block| {
                points.clear();
                let dim = m * dsub;
                for &r in &rows {
                    points.extend_from_slice(
                        &batch.rows[r * dim + j * dsub..r * dim + (j + 1) * dsub],
                    );
                }
                let sub_seed = seed ^ (j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                block.copy_from_slice(&kmeans::train(points, dsub, k, iterations, sub_seed));
                Ok(())
            },
        )?;
        let mut state = self.state.write();
        if !state.ids.is_empty() {
            return Err(Error::InvalidState(
                "vectors were added while the index was training: remove them and train again"
                    .into(),
            ));
        }
        if let Data::Pq { codebook, .. } = &mut state.data {
            *codebook = Some(Arc::new(Codebook::new(m, k, dsub, centroids)));
        }
        Ok(())
    }

    /// Add the rows of `x` with the given ids (one per row, all new and
    /// distinct, never [`NO_ID`]) or, for `None`, with sequential ids from
    /// one past the largest id ever added (0, 1, 2, ... on a fresh index).
    /// Nothing is added when the call fails.
    pub fn add(&self, x: Matrix<'_, f32>, ids: Option<&[u64]>) -> Result<()> {
        let Batch { rows, norms } = self.batch(&x, "X")?;
        let n = x.rows();
        if let Some(ids) = ids {
            if ids.len() != n {
                return Err(Error::invalid(format!(
                    "{} ids were given for {n} vectors",
                    ids.len()
                )));
            }
        }
        let dim = self.options.dim;
        let threads = self.threads().resolve()?;
        // The expensive part (the codes) runs before the write lock.
        let codebook = match &self.state.read().data {
            Data::Pq { codebook: None, .. } => {
                return Err(Error::InvalidState(
                    "the PQ index is not trained: call train before add".into(),
                ))
            }
            Data::Pq {
                codebook: Some(book),
                ..
            } => Some(Arc::clone(book)),
            Data::Flat(_) => None,
        };
        let encoded = match &codebook {
            Some(book) => {
                let m = book.m;
                let mut codes = vec![0u8; n * m];
                const ENCODE_ROWS: usize = 256;
                run_blocks(
                    threads,
                    &mut codes,
                    ENCODE_ROWS * m,
                    None,
                    || (),
                    |(), b, out| {
                        let first = b * ENCODE_ROWS;
                        let count = out.len() / m;
                        book.encode(&rows[first * dim..(first + count) * dim], out);
                        Ok(())
                    },
                )?;
                codes
            }
            None => Vec::new(),
        };

        let mut state = self.state.write();
        let new_ids: Vec<u64> = match ids {
            Some(ids) => {
                let mut seen = HashSet::with_capacity(n);
                for (i, &id) in ids.iter().enumerate() {
                    if id == NO_ID {
                        return Err(Error::invalid(format!(
                            "ids[{i}] is UINT64_MAX, which marks padding in search results"
                        )));
                    }
                    if state.positions.contains_key(&id) {
                        return Err(Error::invalid(format!(
                            "ids[{i}] = {id} is already in the index"
                        )));
                    }
                    if !seen.insert(id) {
                        return Err(Error::invalid(format!(
                            "ids[{i}] = {id} appears twice in this call"
                        )));
                    }
                }
                ids.to_vec()
            }
            None => {
                let start = state.next_id;
                // The last id, start + n - 1, must stay below NO_ID.
                if start.checked_add(n as u64).is_none() {
                    return Err(Error::invalid(
                        "sequential ids would pass UINT64_MAX - 1: give explicit ids",
                    ));
                }
                (start..start + n as u64).collect()
            }
        };
        // Codes encoded with the codebook read before the lock are still
        // right: training again needs an empty index, and this one is not
        // empty from here on.
        if let (Some(book), Data::Pq { codebook, .. }) = (&codebook, &state.data) {
            let same = codebook
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, book));
            if !same {
                return Err(Error::InvalidState(
                    "the index was trained again during add: add the vectors again".into(),
                ));
            }
        }
        let state = &mut *state;
        let first = state.ids.len();
        state.positions.reserve(n);
        for (offset, &id) in new_ids.iter().enumerate() {
            state.positions.insert(id, first + offset);
        }
        if let Some(&largest) = new_ids.iter().max() {
            state.next_id = state.next_id.max(largest + 1);
        }
        state.ids.extend_from_slice(&new_ids);
        match &mut state.data {
            Data::Flat(store) => store.extend(rows.chunks_exact(dim), &norms),
            Data::Pq { codes, .. } => codes.extend_from_slice(&encoded),
        }
        Ok(())
    }

    /// Remove the vectors with these ids. Every id must be in the index
    /// (listed once); otherwise nothing is removed. The remaining vectors
    /// keep their ids and their order.
    pub fn remove(&self, ids: &[u64]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::invalid("no ids to remove (n = 0)"));
        }
        let mut state = self.state.write();
        let mut keep = vec![true; state.ids.len()];
        for (i, id) in ids.iter().enumerate() {
            let position = *state
                .positions
                .get(id)
                .ok_or_else(|| Error::invalid(format!("ids[{i}] = {id} is not in the index")))?;
            if !keep[position] {
                return Err(Error::invalid(format!(
                    "ids[{i}] = {id} appears twice in this call"
                )));
            }
            keep[position] = false;
        }
        let state = &mut *state;
        let mut kept = keep.iter();
        state.ids.retain(|_| *kept.next().expect("one flag per id"));
        state.positions = state
            .ids
            .iter()
            .enumerate()
            .map(|(position, &id)| (id, position))
            .collect();
        match &mut state.data {
            Data::Flat(store) => store.retain(&keep),
            Data::Pq { codebook, codes } => {
                let m = codebook.as_ref().map_or(0, |b| b.m);
                let mut kept = keep.iter();
                let mut out = Vec::with_capacity(state.ids.len() * m);
                for code in codes.chunks_exact(m) {
                    if *kept.next().expect("one flag per code") {
                        out.extend_from_slice(code);
                    }
                }
                *codes = out;
            }
        }
        Ok(())
    }

    /// The stored vector with this id (flat: exactly; PQ: the centroids its
    /// code stands for) into `out` (`dim` values).
    pub fn reconstruct(&self, id: u64, out: &mut [f32]) -> Result<()> {
        let dim = self.options.dim;
        if out.len() < dim {
            return Err(Error::BufferTooSmall {
                name: "out",
                needed: dim,
                capacity: out.len(),
            });
        }
        let state = self.state.read();
        let position = *state
            .positions
            .get(&id)
            .ok_or_else(|| Error::invalid(format!("id {id} is not in the index")))?;
        match &state.data {
            Data::Flat(store) => store.get(position, &mut out[..dim]),
            Data::Pq { codebook, codes } => {
                let book = codebook.as_ref().expect("vectors imply a codebook");
                book.decode(&codes[position * book.m..(position + 1) * book.m], out);
            }
        }
        Ok(())
    }

    /// The k nearest stored vectors of each query (see [`SearchResults`]).
    pub fn search(
        &self,
        queries: Matrix<'_, f32>,
        k: usize,
        options: &SearchOptions,
    ) -> Result<SearchResults> {
        let total = queries
            .rows()
            .checked_mul(k)
            .ok_or_else(|| Error::invalid("n_queries x k overflows"))?;
        let mut distances = zeroed(total)?;
        let mut ids = zeroed(total)?;
        self.search_into(queries, k, options, &mut distances, &mut ids)?;
        Ok(SearchResults { k, distances, ids })
    }

    /// [`search`](Self::search) into caller buffers of at least
    /// `n_queries * k` elements each.
    pub fn search_into(
        &self,
        queries: Matrix<'_, f32>,
        k: usize,
        options: &SearchOptions,
        distances: &mut [f32],
        ids: &mut [u64],
    ) -> Result<()> {
        if k == 0 {
            return Err(Error::invalid("k is 0: ask for at least one neighbour"));
        }
        let Batch {
            rows,
            norms: query_norms,
        } = self.batch(&queries, "queries")?;
        let n_queries = queries.rows();
        let needed = n_queries
            .checked_mul(k)
            .ok_or_else(|| Error::invalid(format!("n_queries {n_queries} x k {k} overflows")))?;
        for (name, capacity) in [("distances", distances.len()), ("ids", ids.len())] {
            if capacity < needed {
                return Err(Error::BufferTooSmall {
                    name,
                    needed,
                    capacity,
                });
            }
        }
        let mut threads = match options.threads {
            Threads::Auto => self.threads(),
            given => given,
        }
        .resolve()?;
        // On a pool thread (a search inside a parallel_map kernel, say), a
        // worker waiting for this search's blocks could take up another
        // kernel's call that needs the write lock this search's read lock
        // holds back: run on the calling thread alone.
        if rayon::current_thread_index().is_some() {
            threads = 1;
        }
        let dim = self.options.dim;
        let metric = self.options.metric;

        let state = self.state.read();
        let count = state.ids.len();
        let pq = match &state.data {
            Data::Pq { codebook: None, .. } => {
                return Err(Error::InvalidState(
                    "the PQ index is not trained: call train, then add, before search".into(),
                ))
            }
            Data::Pq {
                codebook: Some(book),
                codes,
            } => Some((book, codes)),
            Data::Flat(_) => None,
        };
        let kept = k.min(count);

        // Tasks: query blocks x ranges of stored vectors. The hits do not
        // depend on this split (see `topk`), so it may follow the thread count.
        let mut query_block = if kept <= LARGE_K {
            QUERY_BLOCK
        } else {
            (QUERY_BLOCK * LARGE_K / kept).max(1)
        };
        if let Some((book, _)) = pq {
            // A block's lookup tables (1 KiB per sub-space and query) stay
            // within 4 MiB per worker.
            query_block = query_block.min(((4 << 20) / (book.m * TABLE_WIDTH * 4)).max(1));
        }
        let query_blocks = n_queries.div_ceil(query_block);
        let ranges = if count == 0 {
            0
        } else if kept > LARGE_K {
            1
        } else {
            (2 * threads)
                .div_ceil(query_blocks)
                .clamp(1, count.div_ceil(MIN_RANGE))
        };
        // A range boundary at a multiple of the pack size.
        let range_edge = |r: usize| -> usize {
            let packs = count.div_ceil(PACK);
            (r * packs / ranges.max(1)) * PACK
        };
        let mut task_hits: Vec<Vec<Vec<topk::Hit>>> = vec![Vec::new(); query_blocks * ranges];
        if ranges > 0 {
            run_blocks(
                threads,
                &mut task_hits,
                1,
                None,
                || (Vec::new(), Vec::new()),
                |(heaps, tables): &mut (Vec<TopK>, Vec<f32>), task, out| {
                    let (block, range) = (task / ranges, task % ranges);
                    let q0 = block * query_block;
                    let q1 = (q0 + query_block).min(n_queries);
                    heaps.resize_with(q1 - q0, || TopK::new(kept));
                    heaps.iter_mut().for_each(TopK::clear);
                    let (start, end) = (range_edge(range), range_edge(range + 1).min(count));
                    match (&state.data, pq) {
                        (Data::Flat(store), _) => FlatScan {
                            store,
                            ids: &state.ids,
                            metric,
                            queries: &rows[q0 * dim..q1 * dim],
                            query_norms: &query_norms[q0..q1],
                            packs: (start / PACK, end.div_ceil(PACK)),
                        }
                        .run(&mut heaps[..q1 - q0]),
                        (_, Some((book, codes))) => {
                            // The block's lookup tables, made per task (a
                            // query's table costs 2^nbits x d multiply-adds,
                            // small beside the scan of its range).
                            let size = book.m * TABLE_WIDTH;
                            let needed = (q1 - q0) * size;
                            if tables.len() < needed {
                                tables
                                    .try_reserve_exact(needed - tables.len())
                                    .map_err(|_| {
                                        Error::OutOfMemory(format!(
                                            "cannot allocate the lookup tables ({needed} floats)"
                                        ))
                                    })?;
                                tables.resize(needed, 0.0);
                            }
                            for (q, table) in (q0..q1).zip(tables.chunks_exact_mut(size)) {
                                book.table(&rows[q * dim..(q + 1) * dim], metric, table);
                            }
                            PqScan {
                                m: book.m,
                                codes,
                                ids: &state.ids,
                                tables: &tables[..needed],
                                range: (start, end),
                            }
                            .run(&mut heaps[..q1 - q0])
                        }
                        _ => unreachable!("a PQ index has a codebook here"),
                    }
                    out[0] = heaps[..q1 - q0]
                        .iter_mut()
                        .map(TopK::drain_sorted)
                        .collect();
                    Ok(())
                },
            )?;
        }
        drop(state);

        // Merge each query's ranges, best first, and pad.
        let (pad_distance, sign) = match metric {
            Metric::L2 => (f32::INFINITY, 1.0f32),
            Metric::InnerProduct => (f32::NEG_INFINITY, -1.0f32),
        };
        let mut merged = TopK::new(kept);
        for q in 0..n_queries {
            let (block, local) = (q / query_block, q % query_block);
            merged.clear();
            for range in 0..ranges {
                for &hit in &task_hits[block * ranges + range][local] {
                    merged.push(hit);
                }
            }
            let hits = merged.drain_sorted();
            let row_d = &mut distances[q * k..(q + 1) * k];
            let row_i = &mut ids[q * k..(q + 1) * k];
            for j in 0..k {
                match hits.get(j) {
                    Some(hit) => {
                        row_d[j] = sign * hit.key;
                        row_i[j] = hit.id;
                    }
                    None => {
                        row_d[j] = pad_distance;
                        row_i[j] = NO_ID;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `len` zeros, or [`Error::OutOfMemory`] when they cannot be allocated.
fn zeroed<T: Copy + Default>(len: usize) -> Result<Vec<T>> {
    let mut values = Vec::new();
    values.try_reserve_exact(len).map_err(|_| {
        Error::OutOfMemory(format!(
            "cannot allocate {len} result values: ask for fewer queries or a smaller k"
        ))
    })?;
    values.resize(len, T::default());
    Ok(values)
}

const MAGIC: &[u8; 8] = b"HELIOSVX";
const FORMAT_VERSION: u32 = 1;
/// magic, version, kind, metric, nbits, dim, pq_m, iterations, seed,
/// trained, count, next_id.
const HEADER_LEN: usize = 8 + 4 * 4 + 8 * 4 + 1 + 8 + 8;

impl VectorIndex {
    /// The length of [`to_bytes`](Self::to_bytes) now (without serialising).
    pub fn byte_len(&self) -> usize {
        let state = self.state.read();
        let o = &self.options;
        let count = state.ids.len();
        let payload = match &state.data {
            Data::Flat(_) => count * o.dim * 4,
            Data::Pq { codebook, codes } => {
                codebook.as_ref().map_or(0, |b| b.centroids.len() * 4) + codes.len()
            }
        };
        HEADER_LEN + count * 8 + payload + 8
    }

    /// The index in the versioned, checksummed format of [`save`](Self::save):
    /// the options, the ids, then the vectors (flat) or the codebooks and
    /// codes (PQ), little-endian, then an FNV-1a checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let state = self.state.read();
        let o = &self.options;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        let kind = match o.kind {
            IndexKind::Flat => 0u32,
            IndexKind::ProductQuantized => 1,
        };
        let metric = match o.metric {
            Metric::L2 => 0u32,
            Metric::InnerProduct => 1,
        };
        for value in [FORMAT_VERSION, kind, metric, o.pq_nbits] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        for value in [
            o.dim as u64,
            o.pq_m as u64,
            o.train_iterations as u64,
            o.seed,
        ] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        let codebook = match &state.data {
            Data::Pq { codebook, .. } => codebook.as_ref(),
            Data::Flat(_) => None,
        };
        bytes.push(u8::from(codebook.is_some()));
        bytes.extend_from_slice(&(state.ids.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&state.next_id.to_le_bytes());
        for id in &state.ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        match &state.data {
            Data::Flat(store) => {
                let mut row = vec![0.0f32; o.dim];
                for i in 0..state.ids.len() {
                    store.get(i, &mut row);
                    row.iter()
                        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
                }
            }
            Data::Pq { codes, .. } => {
                if let Some(book) = codebook {
                    book.centroids
                        .iter()
                        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
                }
                bytes.extend_from_slice(codes);
            }
        }
        seal(&mut bytes);
        bytes
    }

    /// Save to `path` atomically (a temporary file in the same folder, then
    /// a rename): a reader never sees half a file, and a save that dies
    /// midway leaves the old file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes())
    }

    /// Load an index saved by [`save`](Self::save) (threads: the process
    /// default). A truncated, corrupt or foreign file gives [`Error::Format`].
    pub fn load(path: &Path) -> Result<VectorIndex> {
        let bytes = read_file(path)?;
        VectorIndex::from_bytes(&bytes, &path.display().to_string())
    }

    /// An index from the bytes of [`to_bytes`](Self::to_bytes); `source`
    /// names them in error messages (a path, "the buffer").
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<VectorIndex> {
        let format = |what: String| Error::Format(format!("{source}: {what}"));
        let body = unseal(bytes, MAGIC, HEADER_LEN, "vector index", source)?;
        let mut reader = Reader { bytes: body, at: 8 };
        let version = reader.u32();
        if version != FORMAT_VERSION {
            return Err(format(format!(
                "format version {version}, this library reads {FORMAT_VERSION}"
            )));
        }
        let kind = match reader.u32() {
            0 => IndexKind::Flat,
            1 => IndexKind::ProductQuantized,
            other => return Err(format(format!("unknown index kind {other}"))),
        };
        let metric = match reader.u32() {
            0 => Metric::L2,
            1 => Metric::InnerProduct,
            other => return Err(format(format!("unknown metric {other}"))),
        };
        let pq_nbits = reader.u32();
        let size = |value: u64, what: &str| {
            usize::try_from(value).map_err(|_| format(format!("impossible {what} {value}")))
        };
        let dim = size(reader.u64(), "dim")?;
        let pq_m = size(reader.u64(), "pq_m")?;
        let train_iterations = size(reader.u64(), "train_iterations")?;
        let seed = reader.u64();
        let mut options = IndexOptions {
            kind,
            metric,
            dim,
            pq_m,
            pq_nbits,
            train_iterations,
            seed,
            threads: Threads::Auto,
        };
        options
            .validate()
            .map_err(|e| format(format!("invalid options: {e}")))?;
        if kind == IndexKind::Flat {
            // As `new` does: a flat index keeps the default PQ settings.
            options = IndexOptions {
                kind,
                metric,
                dim,
                threads: Threads::Auto,
                ..IndexOptions::default()
            };
        }
        let trained = match reader.u8() {
            0 => false,
            1 if kind == IndexKind::ProductQuantized => true,
            other => return Err(format(format!("invalid trained flag {other}"))),
        };
        let count = size(reader.u64(), "count")?;
        let next_id = reader.u64();
        if count > 0 && kind == IndexKind::ProductQuantized && !trained {
            return Err(format("holds codes but no codebooks".into()));
        }
        // validate() bounds dim (so k x dim x 4 fits) and, for PQ, nbits.
        let (pq_m, k) = match kind {
            IndexKind::Flat => (0, 0),
            IndexKind::ProductQuantized => (pq_m, options.centroids()),
        };
        let dsub = dim / pq_m.max(1);
        let per_vector = match kind {
            IndexKind::Flat => dim.checked_mul(4),
            IndexKind::ProductQuantized => Some(pq_m),
        };
        let codebook_bytes = if trained { k * dim * 4 } else { 0 };
        let expected = per_vector
            .and_then(|v| v.checked_add(8))
            .and_then(|v| v.checked_mul(count))
            .and_then(|v| v.checked_add(codebook_bytes));
        if expected != Some(reader.remaining()) {
            return Err(format(
                "the sizes in the header do not match the data (truncated or corrupt)".into(),
            ));
        }
        let ids: Vec<u64> = (0..count).map(|_| reader.u64()).collect();
        let mut positions = HashMap::with_capacity(count);
        for (position, &id) in ids.iter().enumerate() {
            if id == NO_ID || id >= next_id {
                return Err(format(format!("invalid id {id} (next id {next_id})")));
            }
            if positions.insert(id, position).is_some() {
                return Err(format(format!("id {id} appears twice")));
            }
        }
        let data = match kind {
            IndexKind::Flat => {
                let values: Vec<f32> = (0..count * dim).map(|_| reader.f32()).collect();
                let Batch { rows, norms } = Batch::new(values, dim)
                    .map_err(|(i, why)| format(format!("stored vector {i} {why}")))?;
                let mut store = FlatStore::new(dim);
                store.extend(rows.chunks_exact(dim), &norms);
                Data::Flat(store)
            }
            IndexKind::ProductQuantized => {
                let codebook = if trained {
                    let centroids: Vec<f32> = (0..pq_m * k * dsub).map(|_| reader.f32()).collect();
                    if centroids.iter().any(|v| !v.is_finite()) {
                        return Err(format("a codebook holds a NaN or infinite value".into()));
                    }
                    Some(Arc::new(Codebook::new(pq_m, k, dsub, centroids)))
                } else {
                    None
                };
                let codes = reader.slice(count * pq_m).to_vec();
                if let Some(bad) = codes.iter().find(|&&c| usize::from(c) >= k) {
                    return Err(format(format!(
                        "code {bad} is out of range for {pq_nbits}-bit codes"
                    )));
                }
                Data::Pq { codebook, codes }
            }
        };
        Ok(VectorIndex {
            options,
            threads: AtomicUsize::new(0),
            state: RwLock::new(State {
                ids,
                positions,
                next_id,
                data,
            }),
        })
    }
}
