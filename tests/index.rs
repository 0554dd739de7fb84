//! The vector index against independent references: brute force in f64 for
//! flat search, the exact distance to the reconstructed vector for PQ, bit
//! equality across thread counts, batches, work splits and file round trips,
//! a writer racing readers, and every bad input.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::noise_f32;
use helios::embed::Matrix;
use helios::index::{IndexOptions, Metric, SearchOptions, SearchResults, VectorIndex, NO_ID};
use helios::{ErrorKind, Threads};

fn matrix(data: &[f32], dim: usize) -> Matrix<'_, f32> {
    Matrix::new(data, data.len() / dim, dim).unwrap()
}

fn search(index: &VectorIndex, queries: &[f32], k: usize, threads: usize) -> SearchResults {
    let options = SearchOptions {
        threads: Threads::Exactly(threads),
    };
    index
        .search(matrix(queries, index.options().dim), k, &options)
        .unwrap()
}

/// Brute force in f64: the k best (key, id) of each query, key = squared
/// distance (L2) or minus the inner product, ties by id.
fn brute_force(
    base: &[f32],
    ids: &[u64],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
) -> Vec<Vec<(f64, u64)>> {
    queries
        .chunks_exact(dim)
        .map(|q| {
            let mut all: Vec<(f64, u64)> = base
                .chunks_exact(dim)
                .zip(ids)
                .map(|(x, &id)| {
                    let key = match metric {
                        Metric::L2 => q
                            .iter()
                            .zip(x)
                            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                            .sum::<f64>(),
                        Metric::InnerProduct => -q
                            .iter()
                            .zip(x)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum::<f64>(),
                    };
                    (key, id)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            all
        })
        .collect()
}

fn squared_norm(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum()
}

/// Compare a search with brute force: ids equal, distances within 1e-5 of
/// the scale of the identity ||q||² + ||x||² (L2) or ||q|| ||x|| (IP).
fn assert_matches_brute_force(
    got: &SearchResults,
    base: &[f32],
    ids: &[u64],
    queries: &[f32],
    dim: usize,
    metric: Metric,
) {
    let k = got.k;
    let reference = brute_force(base, ids, queries, dim, k, metric);
    for (q, (expected, query)) in reference.iter().zip(queries.chunks_exact(dim)).enumerate() {
        for j in 0..k {
            let (distance, id) = (got.distances[q * k + j], got.ids[q * k + j]);
            match expected.get(j) {
                Some(&(key, expected_id)) => {
                    assert_eq!(id, expected_id, "query {q}, rank {j}");
                    let position = ids.iter().position(|&i| i == id).unwrap();
                    let x = &base[position * dim..(position + 1) * dim];
                    let scale = squared_norm(query) + squared_norm(x);
                    let exact = match metric {
                        Metric::L2 => key,
                        Metric::InnerProduct => -key,
                    };
                    assert!(
                        (f64::from(distance) - exact).abs() <= 1e-5 * scale.max(1e-30),
                        "query {q}, rank {j}: {distance} vs {exact}"
                    );
                }
                None => {
                    assert_eq!(id, NO_ID);
                    let pad = match metric {
                        Metric::L2 => f32::INFINITY,
                        Metric::InnerProduct => f32::NEG_INFINITY,
                    };
                    assert_eq!(distance, pad);
                }
            }
        }
    }
}

fn flat(dim: usize, metric: Metric) -> VectorIndex {
    VectorIndex::new(IndexOptions::flat(dim, metric)).unwrap()
}

/// `n` points around `clusters` centres (spread 0.05 around centres in
/// [-1, 1)^dim).
fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let centres = noise_f32(clusters * dim, seed);
    let jitter = noise_f32(n * dim, seed + 1);
    (0..n * dim)
        .map(|i| {
            let (row, t) = (i / dim, i % dim);
            let c = (row * 7919) % clusters;
            centres[c * dim + t] + 0.05 * jitter[i]
        })
        .collect()
}

#[test]
fn flat_search_equals_brute_force_for_both_metrics() {
    // Sizes that leave partial packs, partial query tiles and k > count.
    for (n, dim, n_queries, k) in [
        (1, 3, 2, 4),
        (37, 5, 7, 10),
        (500, 24, 70, 7),
        (20_000, 16, 3, 5),
    ] {
        let base = noise_f32(n * dim, 1 + n as u64);
        let queries = noise_f32(n_queries * dim, 2 + n as u64);
        let ids: Vec<u64> = (0..n as u64).collect();
        for metric in [Metric::L2, Metric::InnerProduct] {
            let index = flat(dim, metric);
            index.add(matrix(&base, dim), None).unwrap();
            let got = search(&index, &queries, k, 2);
            assert_matches_brute_force(&got, &base, &ids, &queries, dim, metric);
        }
    }
}

#[test]
fn a_large_k_ranks_everything_and_an_impossible_one_is_an_error() {
    // Small integers: every distance is exact in f32 and f64, so the whole
    // ranking (thousands of ties, broken by id) must match.
    let (n, dim) = (3000, 6);
    let integers = |count: usize, seed: u64| -> Vec<f32> {
        noise_f32(count, seed)
            .iter()
            .map(|v| (v * 8.0).round())
            .collect()
    };
    let base = integers(n * dim, 3);
    let queries = integers(70 * dim, 4);
    let ids: Vec<u64> = (0..n as u64).collect();
    let index = flat(dim, Metric::L2);
    index.add(matrix(&base, dim), None).unwrap();
    // k above the large-k limit (fewer queries per block, one range).
    let got = search(&index, &queries, n + 5, 2);
    assert_matches_brute_force(&got, &base, &ids, &queries, dim, Metric::L2);
    let error = index
        .search(
            matrix(&queries[..dim], dim),
            usize::MAX / 4,
            &SearchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutOfMemory, "{error}");
}

#[test]
fn a_flat_index_ignores_the_pq_settings() {
    // Equal flat indexes report and save equal options, whatever PQ
    // settings they were created with.
    let mut odd = IndexOptions::flat(3, Metric::InnerProduct);
    (odd.pq_m, odd.pq_nbits, odd.train_iterations, odd.seed) = (3, 2, 7, 99);
    let (a, b) = (
        VectorIndex::new(odd).unwrap(),
        flat(3, Metric::InnerProduct),
    );
    assert_eq!(a.options(), b.options());
    assert_eq!(a.options().pq_m, IndexOptions::default().pq_m);
    for index in [&a, &b] {
        index.add(matrix(&[1.0, 2.0, 3.0], 3), Some(&[5])).unwrap();
    }
    assert_eq!(a.to_bytes(), b.to_bytes());
}

#[test]
fn duplicates_tie_exactly_and_go_to_the_smaller_id() {
    let dim = 7;
    let row = noise_f32(dim, 5);
    let other = noise_f32(dim, 6);
    let mut base = Vec::new();
    for _ in 0..3 {
        base.extend_from_slice(&row);
    }
    base.extend_from_slice(&other);
    let index = flat(dim, Metric::L2);
    index
        .add(matrix(&base, dim), Some(&[30, 10, 20, 5]))
        .unwrap();
    let got = search(&index, &row, 4, 1);
    assert_eq!(got.ids, vec![10, 20, 30, 5]);
    // A stored vector's distance to itself is exactly 0 (same chain for the
    // norms and the dot product), and the copies tie to the bit.
    assert_eq!(&got.distances[..3], &[0.0, 0.0, 0.0]);
}

#[test]
fn a_query_alone_gets_the_bits_it_gets_in_a_batch() {
    let (n, dim) = (3000, 33);
    let base = noise_f32(n * dim, 11);
    let queries = noise_f32(13 * dim, 12);
    for metric in [Metric::L2, Metric::InnerProduct] {
        let index = flat(dim, metric);
        index.add(matrix(&base, dim), None).unwrap();
        let batch = search(&index, &queries, 9, 2);
        for (q, query) in queries.chunks_exact(dim).enumerate() {
            let alone = search(&index, query, 9, 1);
            assert_eq!(alone.ids, batch.ids[q * 9..(q + 1) * 9]);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&alone.distances),
                bits(&batch.distances[q * 9..(q + 1) * 9])
            );
        }
    }
}

fn pq_index(dim: usize, m: usize, nbits: u32, metric: Metric, threads: usize) -> VectorIndex {
    let mut options = IndexOptions::pq(dim, m, nbits, metric);
    options.seed = 7;
    options.threads = Threads::Exactly(threads);
    VectorIndex::new(options).unwrap()
}

#[test]
fn search_train_and_files_are_the_same_bits_for_any_thread_count() {
    let (n, dim) = (12_000, 32);
    let base = clustered(n, dim, 40, 21);
    let queries = noise_f32(150 * dim, 22);
    let bits = |r: &SearchResults| {
        (
            r.ids.clone(),
            r.distances.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        )
    };
    let mut flat_runs = Vec::new();
    let mut pq_runs = Vec::new();
    for threads in [1, 2, 3] {
        let index = flat(dim, Metric::L2);
        index.add(matrix(&base, dim), None).unwrap();
        flat_runs.push(bits(&search(&index, &queries, 10, threads)));

        let pq = pq_index(dim, 8, 6, Metric::L2, threads);
        pq.train(matrix(&base[..6000 * dim], dim)).unwrap();
        pq.add(matrix(&base, dim), None).unwrap();
        pq_runs.push((bits(&search(&pq, &queries, 10, threads)), pq.to_bytes()));
    }
    assert!(flat_runs.windows(2).all(|w| w[0] == w[1]));
    assert!(pq_runs.windows(2).all(|w| w[0] == w[1]));
    // More threads than the machine has still split the same way in effect.
    let index = flat(dim, Metric::L2);
    index.add(matrix(&base, dim), None).unwrap();
    assert_eq!(bits(&search(&index, &queries, 10, 8)), flat_runs[0]);
}

#[test]
fn pq_distances_are_exact_distances_to_the_reconstructed_vectors() {
    let (n, dim) = (4000, 24);
    let base = clustered(n, dim, 20, 31);
    let queries = noise_f32(20 * dim, 32);
    for metric in [Metric::L2, Metric::InnerProduct] {
        for nbits in [8, 4, 1] {
            let index = pq_index(dim, 6, nbits, metric, 2);
            index.train(matrix(&base, dim)).unwrap();
            index.add(matrix(&base, dim), None).unwrap();
            let got = search(&index, &queries, 5, 2);
            let mut decoded = vec![0.0f32; dim];
            for (q, query) in queries.chunks_exact(dim).enumerate() {
                for j in 0..5 {
                    let id = got.ids[q * 5 + j];
                    index.reconstruct(id, &mut decoded).unwrap();
                    let exact = match metric {
                        Metric::L2 => query
                            .iter()
                            .zip(&decoded)
                            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                            .sum::<f64>(),
                        Metric::InnerProduct => query
                            .iter()
                            .zip(&decoded)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum::<f64>(),
                    };
                    let scale = squared_norm(query) + squared_norm(&decoded);
                    let distance = f64::from(got.distances[q * 5 + j]);
                    assert!(
                        (distance - exact).abs() <= 1e-5 * scale,
                        "{metric:?} nbits {nbits}: {distance} vs {exact}"
                    );
                }
            }
        }
    }
}

#[test]
fn pq_recall_on_clustered_data_is_high() {
    let (n, dim) = (10_000, 32);
    let base = clustered(n, dim, 50, 41);
    let queries = clustered(100, dim, 50, 42);
    let exact = flat(dim, Metric::L2);
    exact.add(matrix(&base, dim), None).unwrap();
    let truth = search(&exact, &queries, 10, 2);
    let pq = pq_index(dim, 16, 8, Metric::L2, 2);
    pq.train(matrix(&base, dim)).unwrap();
    pq.add(matrix(&base, dim), None).unwrap();
    let got = search(&pq, &queries, 10, 2);
    let mut found = 0;
    for q in 0..100 {
        let expected = &truth.ids[q * 10..(q + 1) * 10];
        found += got.ids[q * 10..(q + 1) * 10]
            .iter()
            .filter(|id| expected.contains(id))
            .count();
    }
    let recall = found as f64 / 1000.0;
    // faiss' IndexPQ reaches about the same on such data (the Python tests
    // compare the two directly); a broken codebook or scan falls far below.
    assert!(recall > 0.5, "recall@10 {recall}");
}

#[test]
fn ids_add_remove_and_reconstruct() {
    let dim = 4;
    let base = noise_f32(10 * dim, 51);
    let index = flat(dim, Metric::L2);
    index
        .add(matrix(&base[..3 * dim], dim), Some(&[100, 7, 1 << 63]))
        .unwrap();
    // Sequential ids continue past the largest id ever added.
    let error = index
        .add(matrix(&base[3 * dim..4 * dim], dim), Some(&[7]))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(
        error.to_string().contains("already in the index"),
        "{error}"
    );
    index
        .add(matrix(&base[3 * dim..5 * dim], dim), None)
        .unwrap();
    let mut row = vec![0.0; dim];
    index.reconstruct((1 << 63) + 1, &mut row).unwrap();
    assert_eq!(row, &base[3 * dim..4 * dim]);
    assert_eq!(index.len(), 5);

    // Remove is all or nothing.
    let error = index.remove(&[100, 12345]).unwrap_err();
    assert!(error.to_string().contains("12345"), "{error}");
    assert_eq!(index.len(), 5);
    assert_eq!(
        index.remove(&[7, 7]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    index.remove(&[100, (1 << 63) + 1]).unwrap();
    assert_eq!(index.len(), 3);
    // Left: 7 (row 1), 1 << 63 (row 2) and (1 << 63) + 2 (row 4).
    let remaining: Vec<f32> = [
        &base[dim..2 * dim],
        &base[2 * dim..3 * dim],
        &base[4 * dim..5 * dim],
    ]
    .concat();
    let queries = noise_f32(6 * dim, 52);
    let got = search(&index, &queries, 4, 1);
    let left = [7, 1 << 63, (1 << 63) + 2];
    assert_matches_brute_force(&got, &remaining, &left, &queries, dim, Metric::L2);
    assert_eq!(
        index.reconstruct(100, &mut row).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Duplicates inside one call, and the padding id, are refused.
    let two = &base[..2 * dim];
    for ids in [[1u64, 1], [2, NO_ID]] {
        assert_eq!(
            index.add(matrix(two, dim), Some(&ids)).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(index.len(), 3);
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("helios-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn save_and_load_give_the_same_bits_and_bad_files_are_format_errors() {
    let dim = 16;
    let base = clustered(3000, dim, 10, 61);
    let queries = noise_f32(30 * dim, 62);
    let pq = pq_index(dim, 4, 8, Metric::InnerProduct, 2);
    pq.train(matrix(&base, dim)).unwrap();
    pq.add(matrix(&base, dim), None).unwrap();
    pq.remove(&[5, 17]).unwrap();
    let exact = flat(dim, Metric::L2);
    exact.add(matrix(&base, dim), None).unwrap();
    for (index, name) in [(&pq, "pq.hvx"), (&exact, "flat.hvx")] {
        let path = temp_path(name);
        index.save(&path).unwrap();
        let loaded = VectorIndex::load(&path).unwrap();
        assert_eq!(loaded.to_bytes(), index.to_bytes());
        assert_eq!(
            search(&loaded, &queries, 6, 2),
            search(index, &queries, 6, 2)
        );
        assert_eq!(loaded.options().threads, Threads::Auto);

        let bytes = std::fs::read(&path).unwrap();
        for bad in [
            bytes[..bytes.len() - 1].to_vec(),
            bytes[..40].to_vec(),
            Vec::new(),
            {
                let mut flipped = bytes.clone();
                flipped[100] ^= 1;
                flipped
            },
            {
                let mut magic = bytes.clone();
                magic[0] = b'X';
                magic
            },
        ] {
            let error = VectorIndex::from_bytes(&bad, "test").err().unwrap();
            assert_eq!(error.kind(), ErrorKind::Format, "{error}");
        }
    }
    let missing = VectorIndex::load(&temp_path("missing.hvx")).err().unwrap();
    assert_eq!(missing.kind(), ErrorKind::Io);
}

/// FNV-1a 64, written here from its definition, to re-seal edited files.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

/// `bytes` with `edit` applied to the body and the checksum recomputed, so
/// that only the header checks can catch the damage.
fn resealed(bytes: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = bytes[..bytes.len() - 8].to_vec();
    edit(&mut body);
    let checksum = fnv1a(&body);
    body.extend_from_slice(&checksum.to_le_bytes());
    body
}

#[test]
fn resealed_files_with_impossible_headers_are_format_errors() {
    // The header: magic 0..8, version 8, kind 12, metric 16, nbits 20, dim 24,
    // pq_m 32, iterations 40, seed 48, trained 56, count 57, next id 65, ids 73.
    let put = |at: usize, value: u64, width: usize| {
        move |body: &mut Vec<u8>| {
            body[at..at + width].copy_from_slice(&value.to_le_bytes()[..width])
        }
    };
    let dim = 4;
    let base = clustered(300, dim, 5, 96);
    let pq = pq_index(dim, 2, 8, Metric::L2, 1);
    pq.train(matrix(&base, dim)).unwrap();
    pq.add(matrix(&base[..3 * dim], dim), Some(&[10, 20, 30]))
        .unwrap();
    let exact = flat(dim, Metric::L2);
    exact
        .add(matrix(&base[..3 * dim], dim), Some(&[10, 20, 30]))
        .unwrap();
    let (pq_bytes, flat_bytes) = (pq.to_bytes(), exact.to_bytes());
    // The untouched, re-sealed bytes load: the edits below are what fails.
    assert!(VectorIndex::from_bytes(&resealed(&pq_bytes, |_| ()), "t").is_ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("version", resealed(&pq_bytes, put(8, 2, 4))),
        ("kind", resealed(&pq_bytes, put(12, 7, 4))),
        ("metric", resealed(&pq_bytes, put(16, 9, 4))),
        ("nbits", resealed(&pq_bytes, put(20, 64, 4))),
        ("dim", resealed(&pq_bytes, put(24, 1 << 62, 8))),
        ("dim", resealed(&flat_bytes, put(24, 1 << 62, 8))),
        ("pq_m", resealed(&pq_bytes, put(32, 3, 8))),
        ("trained", resealed(&flat_bytes, put(56, 1, 1))),
        ("count", resealed(&pq_bytes, put(57, 4, 8))),
        ("count", resealed(&flat_bytes, put(57, u64::MAX / 2, 8))),
        ("next id", resealed(&pq_bytes, put(65, 30, 8))),
        ("duplicate id", resealed(&pq_bytes, put(81, 10, 8))),
        ("padding id", resealed(&flat_bytes, put(73, u64::MAX, 8))),
        // The last byte is a code of the PQ index: 2^8 centroids, so any
        // byte is valid there; a re-sealed nbits of 7 makes 255 invalid
        // (and the codebook too large for the data first).
        (
            "code",
            resealed(&pq_bytes, |body| {
                let last = body.len() - 1;
                body[last] = 255;
                body[20] = 7;
            }),
        ),
        // A flat vector value of +inf, then one whose norm is too large.
        (
            "infinite value",
            resealed(&flat_bytes, put(97, f32::INFINITY.to_bits().into(), 4)),
        ),
        (
            "huge norm",
            resealed(&flat_bytes, put(97, 3e38f32.to_bits().into(), 4)),
        ),
    ];
    for (what, bytes) in cases {
        let error = VectorIndex::from_bytes(&bytes, "t").err().unwrap();
        assert_eq!(error.kind(), ErrorKind::Format, "{what}: {error}");
    }
}

#[test]
fn vectors_whose_distances_could_overflow_are_refused() {
    // Each squared norm fits in f32, but ||q||² + ||x||² would not: refused
    // rather than answered with an infinity minus an infinity.
    let index = flat(1, Metric::L2);
    index.add(matrix(&[1e18], 1), None).unwrap();
    let error = index.add(matrix(&[1.8e19], 1), None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Numeric);
    assert!(error.to_string().contains("f32::MAX / 4"), "{error}");
    let got = search(&index, &[9.0e18], 1, 1);
    assert_eq!(got.ids, vec![0]);
    assert!(
        (f64::from(got.distances[0]) - 6.4e37).abs() < 1e33,
        "{}",
        got.distances[0]
    );
}

/// The child of `a_killed_save_leaves_the_old_file`: saves a large index
/// over the file named by the environment, forever, until killed.
#[test]
fn save_forever_when_asked() {
    let Ok(path) = std::env::var("HELIOS_TEST_SAVE_FOREVER") else {
        return;
    };
    let dim = 64;
    let index = flat(dim, Metric::L2);
    index
        .add(matrix(&noise_f32(200_000 * dim, 71), dim), None)
        .unwrap();
    let path = std::path::Path::new(&path);
    index.save(path).unwrap();
    std::fs::write(format!("{}.ready", path.display()), b"").unwrap();
    loop {
        index.save(path).unwrap();
    }
}

#[test]
fn a_killed_save_leaves_the_old_file() {
    let path = temp_path("killed.hvx");
    let old = flat(3, Metric::L2);
    old.add(matrix(&[1.0, 2.0, 3.0], 3), Some(&[42])).unwrap();
    old.save(&path).unwrap();
    let ready = PathBuf::from(format!("{}.ready", path.display()));
    let _ = std::fs::remove_file(&ready);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "save_forever_when_asked", "--nocapture"])
        .env("HELIOS_TEST_SAVE_FOREVER", &path)
        .spawn()
        .unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The child has replaced the file once and is writing 51 MB saves back
    // to back: kill it, most likely mid-save.
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    // The file is a whole index, never half of one.
    let loaded = VectorIndex::load(&path).unwrap();
    assert!(
        loaded.len() == 1 || loaded.len() == 200_000,
        "{}",
        loaded.len()
    );
    let _ = std::fs::remove_file(&ready);
}

#[test]
fn searches_racing_a_writer_see_whole_states() {
    let dim = 8;
    let batches: Vec<Vec<f32>> = (0..6).map(|b| noise_f32(400 * dim, 80 + b)).collect();
    let batch_ids = |b: usize| -> Vec<u64> { (0..400).map(|i| (b * 1000 + i) as u64).collect() };
    let queries = noise_f32(5 * dim, 90);
    // The writer's states, round after round: batches 0..s (s = 1..=6),
    // then batches s..6 (s = 1..6) as the first ones are removed, then
    // batches 5 and 0 on the way back to batch 0 alone.
    let mut states: Vec<Vec<usize>> = (1..=6).map(|s| (0..s).collect()).collect();
    states.extend((1..6).map(|s| (s..6).collect::<Vec<_>>()));
    states.push(vec![5, 0]);
    let expected: Vec<SearchResults> = states
        .iter()
        .map(|state| {
            let index = flat(dim, Metric::L2);
            for &b in state {
                index
                    .add(matrix(&batches[b], dim), Some(&batch_ids(b)))
                    .unwrap();
            }
            search(&index, &queries, 7, 1)
        })
        .collect();

    let index = Arc::new(flat(dim, Metric::L2));
    index
        .add(matrix(&batches[0], dim), Some(&batch_ids(0)))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (index, done, queries, expected) = (
                index.clone(),
                done.clone(),
                queries.clone(),
                expected.clone(),
            );
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(Ordering::Acquire) || seen == 0 {
                    let got = search(&index, &queries, 7, 1 + r % 2);
                    assert!(
                        expected.contains(&got),
                        "a search saw a state no write produced"
                    );
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for _round in 0..3 {
        for (b, batch) in batches.iter().enumerate().skip(1) {
            index.add(matrix(batch, dim), Some(&batch_ids(b))).unwrap();
        }
        for b in 0..5 {
            index.remove(&batch_ids(b)).unwrap();
        }
        // Back to the first state for the next round.
        index
            .add(matrix(&batches[0], dim), Some(&batch_ids(0)))
            .unwrap();
        index.remove(&batch_ids(5)).unwrap();
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
}

#[test]
fn bad_input_gets_a_specific_error() {
    let invalid = |options: IndexOptions| VectorIndex::new(options).err().unwrap().kind();
    assert_eq!(
        invalid(IndexOptions::flat(0, Metric::L2)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        invalid(IndexOptions::pq(10, 4, 8, Metric::L2)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        invalid(IndexOptions::pq(8, 0, 8, Metric::L2)),
        ErrorKind::InvalidArgument
    );
    for nbits in [0, 9] {
        let error = VectorIndex::new(IndexOptions::pq(8, 4, nbits, Metric::L2))
            .err()
            .unwrap();
        assert!(error.to_string().contains("pq_nbits"), "{error}");
    }
    let mut options = IndexOptions::pq(8, 4, 8, Metric::L2);
    options.train_iterations = 0;
    assert_eq!(invalid(options), ErrorKind::InvalidArgument);

    let dim = 8;
    let base = noise_f32(300 * dim, 95);
    let pq = pq_index(dim, 4, 8, Metric::L2, 1);
    let untrained = pq.search(matrix(&base[..dim], dim), 1, &SearchOptions::default());
    assert_eq!(untrained.unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(
        pq.add(matrix(&base, dim), None).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    let too_few = pq.train(matrix(&base[..255 * dim], dim)).unwrap_err();
    assert!(too_few.to_string().contains("at least 256"), "{too_few}");
    pq.train(matrix(&base[..256 * dim], dim)).unwrap();
    pq.add(matrix(&base, dim), None).unwrap();
    assert_eq!(
        pq.train(matrix(&base, dim)).unwrap_err().kind(),
        ErrorKind::InvalidState
    );

    let index = flat(dim, Metric::L2);
    index.add(matrix(&base, dim), None).unwrap();
    let mut poisoned = base[..2 * dim].to_vec();
    for bad in [f32::NAN, f32::INFINITY, 1e30] {
        poisoned[dim + 3] = bad;
        for error in [
            index.add(matrix(&poisoned, dim), None).unwrap_err(),
            index
                .search(matrix(&poisoned, dim), 3, &SearchOptions::default())
                .unwrap_err(),
            pq_index(dim, 4, 1, Metric::L2, 1)
                .train(matrix(&poisoned, dim))
                .unwrap_err(),
        ] {
            assert_eq!(error.kind(), ErrorKind::Numeric);
            assert!(error.to_string().contains("row 1"), "{error}");
        }
    }
    let q = &base[..dim];
    assert_eq!(
        index
            .search(matrix(q, dim), 0, &SearchOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let wrong_dim = index.search(
        Matrix::new(q, 1, dim - 1).unwrap(),
        1,
        &SearchOptions::default(),
    );
    assert!(wrong_dim.unwrap_err().to_string().contains("dim 8"));
    assert_eq!(
        index
            .add(Matrix::new(q, 0, dim).unwrap(), None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        index.remove(&[]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let (mut d, mut i) = (vec![0.0; 2], vec![0; 2]);
    let small = index.search_into(matrix(q, dim), 3, &SearchOptions::default(), &mut d, &mut i);
    assert_eq!(small.unwrap_err().kind(), ErrorKind::BufferTooSmall);
    assert_eq!(index.len(), 300);
}

#[test]
fn kernels_of_a_parallel_map_may_search_and_add() {
    // Searches and adds from inside the pool's own kernels: a search there
    // runs on its kernel's thread alone, so no worker waits on the pool
    // while holding the read lock an add is queued behind.
    let dim = 8;
    let base = noise_f32(2000 * dim, 97);
    let queries = noise_f32(20 * dim, 98);
    let index = flat(dim, Metric::L2);
    index.add(matrix(&base[..1000 * dim], dim), None).unwrap();
    let expected = search(&index, &queries, 5, 1);
    let input: Vec<f32> = (0..64).map(|i| i as f32).collect();
    helios::parallel_map(&input, 0, Some(1), Threads::Exactly(2), |block, _, out| {
        let i = block[0] as usize;
        if i.is_multiple_of(2) {
            // Batches that are far away: they never change these hits.
            let far: Vec<f32> = base[i * dim..(i + 1) * dim]
                .iter()
                .map(|v| v + 1e3)
                .collect();
            index
                .add(matrix(&far, dim), Some(&[10_000 + i as u64]))
                .unwrap();
        } else {
            let got = search(&index, &queries, 5, 2);
            assert_eq!(got, expected);
        }
        out[0] = 0.0;
        Ok(())
    })
    .unwrap();
    assert_eq!(index.len(), 1032);
}
