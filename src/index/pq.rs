//! Product quantization: M codebooks of 2^nbits centroids, one per
//! sub-space of d / M coordinates, codes of one byte per sub-space, and the
//! asymmetric distance: a query is compared with the centroids once (a
//! lookup table of M x 2^nbits values), and a stored vector's distance is the
//! sum of M table entries, added in sub-space order.

use pulp::Simd;

use super::flat::dot_chain;
use super::kmeans;
use super::topk::{Hit, TopK};
use super::Metric;

/// The trained codebooks.
#[derive(Clone)]
pub(crate) struct Codebook {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) dsub: usize,
    /// `m` blocks of `k x dsub` centroids, row-major (faiss' layout).
    pub(crate) centroids: Vec<f32>,
    /// The same, each block packed for [`kmeans::nearest`].
    packed: Vec<f32>,
}

impl Codebook {
    pub(crate) fn new(m: usize, k: usize, dsub: usize, centroids: Vec<f32>) -> Codebook {
        let packed = centroids
            .chunks_exact(k * dsub)
            .flat_map(|block| kmeans::pack(block, k, dsub))
            .collect();
        Codebook {
            m,
            k,
            dsub,
            centroids,
            packed,
        }
    }

    /// The codes of `rows` (each `m * dsub` values), `m` bytes per row.
    pub(crate) fn encode(&self, rows: &[f32], codes: &mut [u8]) {
        struct Encode<'a>(&'a Codebook, &'a [f32], &'a mut [u8]);
        impl pulp::WithSimd for Encode<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                let Encode(book, rows, codes) = self;
                let (k, dsub) = (book.k, book.dsub);
                let block_len = k.div_ceil(kmeans::GROUP) * (dsub + 1) * kmeans::GROUP;
                for (row, code) in rows
                    .chunks_exact(book.m * dsub)
                    .zip(codes.chunks_exact_mut(book.m))
                {
                    for (j, c) in code.iter_mut().enumerate() {
                        let block = &book.packed[j * block_len..(j + 1) * block_len];
                        let x = &row[j * dsub..(j + 1) * dsub];
                        *c = kmeans::nearest(x, block) as u8;
                    }
                }
            }
        }
        pulp::Arch::new().dispatch(Encode(self, rows, codes));
    }

    /// The vector a code stands for (the concatenated centroids).
    pub(crate) fn decode(&self, code: &[u8], out: &mut [f32]) {
        let (k, dsub) = (self.k, self.dsub);
        for (j, &c) in code.iter().enumerate() {
            let start = (j * k + usize::from(c)) * dsub;
            out[j * dsub..(j + 1) * dsub].copy_from_slice(&self.centroids[start..start + dsub]);
        }
    }

    /// The lookup table of `query` (`m x 256` keys, smaller is better): the
    /// squared distance of each sub-vector to each centroid for L2, minus
    /// the dot product for the inner product. Rows are 256 wide whatever
    /// nbits (entries past 2^nbits hold +inf and are never read), so a byte
    /// code indexes a row without a bounds check.
    pub(crate) fn table(&self, query: &[f32], metric: Metric, table: &mut [f32]) {
        struct Table<'a>(&'a Codebook, &'a [f32], Metric, &'a mut [f32]);
        impl pulp::WithSimd for Table<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                let Table(book, query, metric, table) = self;
                let (k, dsub) = (book.k, book.dsub);
                for (j, entries) in table.chunks_exact_mut(TABLE_WIDTH).enumerate() {
                    entries[k..].fill(f32::INFINITY);
                    let q = &query[j * dsub..(j + 1) * dsub];
                    let block = &book.centroids[j * k * dsub..(j + 1) * k * dsub];
                    for (entry, c) in entries.iter_mut().zip(block.chunks_exact(dsub)) {
                        *entry = match metric {
                            Metric::L2 => q.iter().zip(c).fold(0.0f32, |acc, (&a, &b)| {
                                let diff = a - b;
                                diff.mul_add(diff, acc)
                            }),
                            Metric::InnerProduct => -dot_chain(q, c),
                        };
                    }
                }
            }
        }
        pulp::Arch::new().dispatch(Table(self, query, metric, table));
    }
}

/// The width of a lookup-table row.
pub(crate) const TABLE_WIDTH: usize = 256;

/// One scan: a block of queries (their tables) against a range of codes.
pub(crate) struct PqScan<'a> {
    pub(crate) m: usize,
    pub(crate) codes: &'a [u8],
    pub(crate) ids: &'a [u64],
    /// One `m x 256` table per query of the block.
    pub(crate) tables: &'a [f32],
    /// Vectors `range.0 .. range.1`.
    pub(crate) range: (usize, usize),
}

/// Codes scanned per query before moving on: 1024 codes of 16 bytes stay in
/// the L1 cache while each query's table (16 KiB at M = 16, nbits = 8) passes.
const CHUNK_CODES: usize = 1024;

impl PqScan<'_> {
    pub(crate) fn run(&self, heaps: &mut [TopK]) {
        let m = self.m;
        let mut start = self.range.0;
        while start < self.range.1 {
            let end = (start + CHUNK_CODES).min(self.range.1);
            for (table, heap) in self
                .tables
                .chunks_exact(m * TABLE_WIDTH)
                .zip(heaps.iter_mut())
            {
                let (rows, _) = table.as_chunks::<TABLE_WIDTH>();
                let mut threshold = heap.threshold();
                let codes = &self.codes[start * m..end * m];
                let mut i = start;
                // Four codes at a time: independent sums keep the loads busy.
                let mut quads = codes.chunks_exact(4 * m);
                for quad in &mut quads {
                    let (c0, rest) = quad.split_at(m);
                    let (c1, rest) = rest.split_at(m);
                    let (c2, c3) = rest.split_at(m);
                    let (mut s0, mut s1, mut s2, mut s3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                    for ((((row, &a), &b), &c), &d) in rows.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
                        s0 += row[usize::from(a)];
                        s1 += row[usize::from(b)];
                        s2 += row[usize::from(c)];
                        s3 += row[usize::from(d)];
                    }
                    for (offset, key) in [s0, s1, s2, s3].into_iter().enumerate() {
                        if key <= threshold {
                            heap.push(Hit {
                                key,
                                id: self.ids[i + offset],
                            });
                            threshold = heap.threshold();
                        }
                    }
                    i += 4;
                }
                for code in quads.remainder().chunks_exact(m) {
                    let key = adc(rows, code);
                    if key <= threshold {
                        heap.push(Hit {
                            key,
                            id: self.ids[i],
                        });
                        threshold = heap.threshold();
                    }
                    i += 1;
                }
            }
            start = end;
        }
    }
}

/// The asymmetric distance of one code: its table entries summed in order.
#[inline(always)]
pub(crate) fn adc(rows: &[[f32; TABLE_WIDTH]], code: &[u8]) -> f32 {
    rows.iter()
        .zip(code)
        .fold(0.0f32, |acc, (row, &c)| acc + row[usize::from(c)])
}
