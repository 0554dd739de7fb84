//! Exact search: the stored vectors, packed for the distance kernel, and the
//! blocked scan that feeds each query's [`TopK`].
//!
//! Vectors are stored in packs of [`PACK`] = 16, dimension-major inside a
//! pack (`pack[t * 16 + lane]` is coordinate t of vector `lane`), the layout
//! a GEMM micro-kernel reads: one vector register of 16 coordinates (or two
//! of 8) times one broadcast query coordinate. Every dot product is one
//! fused multiply-add chain over t = 0, 1, ..., d - 1, whatever the tile,
//! the vector width or the machine, so a distance does not depend on which
//! queries or vectors share its tile: a query searched alone gets the bits it
//! gets in a batch, and exact duplicates get exactly equal distances (ties
//! then go to the smaller id). The squared norms use the same chain, so a
//! stored vector's distance to itself is exactly 0.

use pulp::Simd;

use super::topk::{Hit, TopK};
use super::Metric;

/// Vectors per pack.
pub(crate) const PACK: usize = 16;

/// The vectors of a flat index, packed.
#[derive(Clone)]
pub(crate) struct FlatStore {
    dim: usize,
    len: usize,
    /// `ceil(len / 16)` packs of `dim * 16` values; unused lanes hold 0.
    packed: Vec<f32>,
    /// Squared norms, one per lane (unused lanes hold 0).
    norms: Vec<f32>,
}

/// `Σ a_t b_t` as one fused multiply-add chain in t order: the arithmetic of
/// every dot product of the flat index (and of the PQ tables).
#[inline(always)]
pub(crate) fn dot_chain(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0f32, |acc, (&x, &y)| x.mul_add(y, acc))
}

impl FlatStore {
    pub(crate) fn new(dim: usize) -> FlatStore {
        FlatStore {
            dim,
            len: 0,
            packed: Vec::new(),
            norms: Vec::new(),
        }
    }

    /// Append rows (each `dim` long) with their squared norms.
    pub(crate) fn extend<'a>(&mut self, rows: impl Iterator<Item = &'a [f32]>, norms: &[f32]) {
        let dim = self.dim;
        for (row, &norm) in rows.zip(norms) {
            let lane = self.len % PACK;
            if lane == 0 {
                self.packed.resize(self.packed.len() + dim * PACK, 0.0);
                self.norms.resize(self.norms.len() + PACK, 0.0);
            }
            let pack_start = (self.len / PACK) * dim * PACK;
            for (t, &value) in row.iter().enumerate() {
                self.packed[pack_start + t * PACK + lane] = value;
            }
            self.norms[self.len] = norm;
            self.len += 1;
        }
    }

    /// Vector `i` into `out` (`dim` values).
    pub(crate) fn get(&self, i: usize, out: &mut [f32]) {
        let pack_start = (i / PACK) * self.dim * PACK;
        let lane = i % PACK;
        for (t, value) in out.iter_mut().enumerate() {
            *value = self.packed[pack_start + t * PACK + lane];
        }
    }

    /// Keep the vectors whose `keep` flag is set, in order.
    pub(crate) fn retain(&mut self, keep: &[bool]) {
        let mut kept = FlatStore::new(self.dim);
        let mut row = vec![0.0; self.dim];
        for i in (0..self.len).filter(|&i| keep[i]) {
            self.get(i, &mut row);
            kept.extend(std::iter::once(row.as_slice()), &self.norms[i..=i]);
        }
        *self = kept;
    }
}

/// The squared norms of `rows` (each `dim` long), by [`dot_chain`].
pub(crate) fn squared_norms(rows: &[f32], dim: usize) -> Vec<f32> {
    struct Norms<'a>(&'a [f32], usize);
    impl pulp::WithSimd for Norms<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> Vec<f32> {
            self.0
                .chunks_exact(self.1)
                .map(|r| dot_chain(r, r))
                .collect()
        }
    }
    pulp::Arch::new().dispatch(Norms(rows, dim))
}

/// One scan: a block of queries against a range of packs.
pub(crate) struct FlatScan<'a> {
    pub(crate) store: &'a FlatStore,
    pub(crate) ids: &'a [u64],
    pub(crate) metric: Metric,
    /// The block's queries (`dim` values each) and their squared norms.
    pub(crate) queries: &'a [f32],
    pub(crate) query_norms: &'a [f32],
    /// Packs `packs.0 .. packs.1`.
    pub(crate) packs: (usize, usize),
}

/// Packs scanned per query tile before moving on, so that they stay in the
/// L2 cache while every query of the block passes over them.
const CHUNK_PACKS: usize = 32;
/// Queries per tile: 6 queries x 16 lanes fill 12 of the 16 AVX2 registers
/// (6 of the 32 AVX-512 ones, which take two packs at a time).
const TILE_QUERIES: usize = 6;

impl FlatScan<'_> {
    /// Offer every (query, vector) pair of the scan to the query's heap.
    pub(crate) fn run(&self, heaps: &mut [TopK]) {
        struct Run<'a, 'b>(&'a FlatScan<'b>, &'a mut [TopK]);
        impl pulp::WithSimd for Run<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                self.0.run_simd(simd, self.1)
            }
        }
        pulp::Arch::new().dispatch(Run(self, heaps));
    }

    #[inline(always)]
    fn run_simd<S: Simd>(&self, simd: S, heaps: &mut [TopK]) {
        let dim = self.store.dim;
        let n_queries = self.query_norms.len();
        let wide = std::mem::size_of::<S::f32s>() >= 64;
        let mut chunk = self.packs.0;
        while chunk < self.packs.1 {
            let chunk_end = (chunk + CHUNK_PACKS).min(self.packs.1);
            let mut q = 0;
            while q < n_queries {
                let tile = (n_queries - q).min(TILE_QUERIES);
                let mut pack = chunk;
                while pack < chunk_end {
                    if wide && pack + 1 < chunk_end {
                        self.tile_dispatch::<S, 2>(simd, q, tile, pack, heaps);
                        pack += 2;
                    } else {
                        self.tile_dispatch::<S, 1>(simd, q, tile, pack, heaps);
                        pack += 1;
                    }
                }
                q += tile;
            }
            chunk = chunk_end;
        }
        let _ = dim;
    }

    #[inline(always)]
    fn tile_dispatch<S: Simd, const NP: usize>(
        &self,
        simd: S,
        q: usize,
        tile: usize,
        pack: usize,
        heaps: &mut [TopK],
    ) {
        // Registers per pack: 1 (AVX-512), 2 (AVX2) or 16 (scalar).
        match std::mem::size_of::<S::f32s>() / 4 {
            16 => self.tile_rows::<S, NP, 1>(simd, q, tile, pack, heaps),
            8 => self.tile_rows::<S, NP, 2>(simd, q, tile, pack, heaps),
            4 => self.tile_rows::<S, NP, 4>(simd, q, tile, pack, heaps),
            _ => self.tile_rows::<S, NP, 16>(simd, q, tile, pack, heaps),
        }
    }

    #[inline(always)]
    fn tile_rows<S: Simd, const NP: usize, const R: usize>(
        &self,
        simd: S,
        q: usize,
        tile: usize,
        pack: usize,
        heaps: &mut [TopK],
    ) {
        match tile {
            6 => self.tile::<S, 6, NP, R>(simd, q, pack, heaps),
            5 => self.tile::<S, 5, NP, R>(simd, q, pack, heaps),
            4 => self.tile::<S, 4, NP, R>(simd, q, pack, heaps),
            3 => self.tile::<S, 3, NP, R>(simd, q, pack, heaps),
            2 => self.tile::<S, 2, NP, R>(simd, q, pack, heaps),
            _ => self.tile::<S, 1, NP, R>(simd, q, pack, heaps),
        }
    }

    /// Queries `q .. q + NQ` against packs `pack .. pack + NP`, with `R`
    /// vector registers per pack.
    #[inline(always)]
    fn tile<S: Simd, const NQ: usize, const NP: usize, const R: usize>(
        &self,
        simd: S,
        q: usize,
        pack: usize,
        heaps: &mut [TopK],
    ) {
        let dim = self.store.dim;
        let lanes = PACK / R;
        let zero = simd.splat_f32s(0.0);
        let mut acc = [[[zero; R]; NP]; NQ];
        let packed = &self.store.packed[pack * dim * PACK..(pack + NP) * dim * PACK];
        let queries: [&[f32]; NQ] =
            std::array::from_fn(|i| &self.queries[(q + i) * dim..(q + i + 1) * dim]);
        for t in 0..dim {
            for p in 0..NP {
                let coords = &packed[(p * dim + t) * PACK..(p * dim + t + 1) * PACK];
                let (x, _) = S::as_simd_f32s(coords);
                for (i, query) in queries.iter().enumerate() {
                    let qt = simd.splat_f32s(query[t]);
                    for r in 0..R {
                        acc[i][p][r] = simd.mul_add_f32s(qt, x[r], acc[i][p][r]);
                    }
                }
            }
        }
        // The epilogue: keys for the 16 * NP lanes, then the heaps.
        for (i, acc_i) in acc.iter().enumerate() {
            let heap = &mut heaps[q + i];
            let query_norm = simd.splat_f32s(self.query_norms[q + i]);
            let two = simd.splat_f32s(2.0);
            for (p, acc_ip) in acc_i.iter().enumerate() {
                let base = (pack + p) * PACK;
                let (norms, _) = S::as_simd_f32s(&self.store.norms[base..base + PACK]);
                let keys: [S::f32s; R] = std::array::from_fn(|r| match self.metric {
                    Metric::L2 => {
                        let sum = simd.add_f32s(query_norm, norms[r]);
                        simd.max_f32s(simd.sub_f32s(sum, simd.mul_f32s(two, acc_ip[r])), zero)
                    }
                    Metric::InnerProduct => simd.neg_f32s(acc_ip[r]),
                });
                let smallest = keys
                    .iter()
                    .map(|&key| simd.reduce_min_f32s(key))
                    .fold(f32::INFINITY, f32::min);
                if smallest > heap.threshold() {
                    continue;
                }
                let valid = self.store.len.saturating_sub(base).min(PACK);
                let keys = lanes_of::<S, R>(&keys);
                debug_assert_eq!(keys.len(), R * lanes);
                for (lane, &key) in keys[..valid].iter().enumerate() {
                    if key <= heap.threshold() {
                        heap.push(Hit {
                            key,
                            id: self.ids[base + lane],
                        });
                    }
                }
            }
        }
    }
}

/// The lanes of a SIMD vector as a slice.
#[inline(always)]
fn lanes_of<S: Simd, const R: usize>(v: &[S::f32s; R]) -> &[f32] {
    pulp::bytemuck::cast_slice(v.as_slice())
}
