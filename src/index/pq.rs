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

/// Codes scanned per query pair before moving on: 1024 codes of 16 bytes
/// stay in the L1 cache while each query's table (16 KiB at M = 16,
/// nbits = 8) passes.
const CHUNK_CODES: usize = 1024;

impl PqScan<'_> {
    pub(crate) fn run(&self, heaps: &mut [TopK]) {
        let m = self.m;
        let tables: Vec<&[[f32; TABLE_WIDTH]]> = self
            .tables
            .chunks_exact(m * TABLE_WIDTH)
            .map(|table| table.as_chunks::<TABLE_WIDTH>().0)
            .collect();
        let mut start = self.range.0;
        while start < self.range.1 {
            let end = (start + CHUNK_CODES).min(self.range.1);
            let codes = &self.codes[start * m..end * m];
            let ids = &self.ids[start..end];
            // Two queries at a time: each code byte loaded once serves both.
            let mut pairs = heaps.chunks_exact_mut(2);
            for (pair, rows) in (&mut pairs).zip(tables.chunks_exact(2)) {
                let [first, second] = pair else {
                    unreachable!("chunks of two")
                };
                scan_pair([rows[0], rows[1]], m, codes, ids, [first, second]);
            }
            if let ([heap], Some(rows)) = (
                pairs.into_remainder(),
                tables.chunks_exact(2).remainder().first(),
            ) {
                scan_one(rows, m, codes, ids, heap);
            }
            start = end;
        }
    }
}

/// The four codes of a quad (`4 * m` bytes).
#[inline(always)]
fn split_quad(quad: &[u8], m: usize) -> [&[u8]; 4] {
    let (c0, rest) = quad.split_at(m);
    let (c1, rest) = rest.split_at(m);
    let (c2, c3) = rest.split_at(m);
    [c0, c1, c2, c3]
}

/// Offer `key` for vector `id` to `heap` when it can enter.
#[inline(always)]
fn offer(heap: &mut TopK, threshold: &mut f32, key: f32, id: u64) {
    if key <= *threshold {
        heap.push(Hit { key, id });
        *threshold = heap.threshold();
    }
}

/// One query's table against a chunk of codes, four codes at a time
/// (independent sums keep the loads busy).
#[inline(always)]
fn scan_one(rows: &[[f32; TABLE_WIDTH]], m: usize, codes: &[u8], ids: &[u64], heap: &mut TopK) {
    let mut threshold = heap.threshold();
    let mut quads = codes.chunks_exact(4 * m);
    let mut i = 0;
    for quad in &mut quads {
        let [c0, c1, c2, c3] = split_quad(quad, m);
        let mut s = [0.0f32; 4];
        for ((((row, &a), &b), &c), &d) in rows.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
            s[0] += row[usize::from(a)];
            s[1] += row[usize::from(b)];
            s[2] += row[usize::from(c)];
            s[3] += row[usize::from(d)];
        }
        for (offset, key) in s.into_iter().enumerate() {
            offer(heap, &mut threshold, key, ids[i + offset]);
        }
        i += 4;
    }
    for code in quads.remainder().chunks_exact(m) {
        offer(heap, &mut threshold, adc(rows, code), ids[i]);
        i += 1;
    }
}

/// Two queries' tables against a chunk of codes, four codes at a time. The
/// sums are the same additions in the same order as [`scan_one`]'s.
#[inline(always)]
fn scan_pair(
    rows: [&[[f32; TABLE_WIDTH]]; 2],
    m: usize,
    codes: &[u8],
    ids: &[u64],
    heaps: [&mut TopK; 2],
) {
    let [heap0, heap1] = heaps;
    let mut thresholds = [heap0.threshold(), heap1.threshold()];
    let mut quads = codes.chunks_exact(4 * m);
    let mut i = 0;
    for quad in &mut quads {
        let [c0, c1, c2, c3] = split_quad(quad, m);
        let mut s = [[0.0f32; 4]; 2];
        for (((((row0, row1), &a), &b), &c), &d) in
            rows[0].iter().zip(rows[1]).zip(c0).zip(c1).zip(c2).zip(c3)
        {
            let (a, b, c, d) = (
                usize::from(a),
                usize::from(b),
                usize::from(c),
                usize::from(d),
            );
            s[0][0] += row0[a];
            s[0][1] += row0[b];
            s[0][2] += row0[c];
            s[0][3] += row0[d];
            s[1][0] += row1[a];
            s[1][1] += row1[b];
            s[1][2] += row1[c];
            s[1][3] += row1[d];
        }
        for offset in 0..4 {
            offer(heap0, &mut thresholds[0], s[0][offset], ids[i + offset]);
            offer(heap1, &mut thresholds[1], s[1][offset], ids[i + offset]);
        }
        i += 4;
    }
    for code in quads.remainder().chunks_exact(m) {
        offer(heap0, &mut thresholds[0], adc(rows[0], code), ids[i]);
        offer(heap1, &mut thresholds[1], adc(rows[1], code), ids[i]);
        i += 1;
    }
}

/// The asymmetric distance of one code: its table entries summed in order.
#[inline(always)]
pub(crate) fn adc(rows: &[[f32; TABLE_WIDTH]], code: &[u8]) -> f32 {
    rows.iter()
        .zip(code)
        .fold(0.0f32, |acc, (row, &c)| acc + row[usize::from(c)])
}
