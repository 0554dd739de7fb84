//! The Nyström engine: build, transform and update agree bit for bit, the
//! landmarks are rows of X chosen reproducibly, and save/load round-trips.

use helios::embed::{rkhs_embed, LandmarkSelection, Matrix, NystromEngine, NystromOptions};
use helios::{ErrorKind, Threads};

mod common;

fn data(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    common::noise_f32(rows * cols, seed)
}

fn options(m: usize, selection: LandmarkSelection, threads: usize) -> NystromOptions {
    NystromOptions {
        gamma: 0.5,
        ridge: 1e-6,
        landmark_count: m,
        selection,
        seed: 7,
        threads: Threads::Exactly(threads),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn build_equals_rkhs_embed_with_the_chosen_landmarks() {
    let (n, d, m) = (500, 6, 32);
    let x = data(n, d, 1);
    let mut engine = NystromEngine::<f32>::new(options(m, LandmarkSelection::Uniform, 2)).unwrap();
    let phi = engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let landmarks = engine.feature_map().unwrap().landmarks().to_vec();
    // Every landmark is a row of X, and no row is chosen twice.
    let mut rows: Vec<usize> = landmarks
        .chunks_exact(d)
        .map(|l| {
            (0..n)
                .find(|&i| &x[i * d..(i + 1) * d] == l)
                .expect("a row of X")
        })
        .collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), m);
    let direct = rkhs_embed(
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&landmarks, m, d).unwrap(),
        0.5,
        1e-6,
        Threads::Auto,
    )
    .unwrap();
    assert_eq!(bits(&phi), bits(&direct));
}

#[test]
fn update_equals_transform_of_the_stacked_rows_bit_for_bit() {
    let (d, m) = (5, 24);
    let (n1, n2) = (700, 333); // blocks of 256 fall at different rows in each call
    let x1 = data(n1, d, 2);
    let x2 = data(n2, d, 3);
    let mut engine =
        NystromEngine::<f32>::new(options(m, LandmarkSelection::KMeansPlusPlus, 2)).unwrap();
    let mut phi = engine.build(Matrix::new(&x1, n1, d).unwrap()).unwrap();
    engine
        .update(Matrix::new(&x2, n2, d).unwrap(), &mut phi)
        .unwrap();
    let stacked: Vec<f32> = x1.iter().chain(&x2).copied().collect();
    let all = engine
        .transform(Matrix::new(&stacked, n1 + n2, d).unwrap())
        .unwrap();
    assert_eq!(bits(&phi), bits(&all));
}

#[test]
fn update_into_writes_only_the_new_rows() {
    let (n, d, m) = (300, 4, 16);
    let x = data(n, d, 4);
    let mut engine = NystromEngine::<f32>::new(options(m, LandmarkSelection::Uniform, 1)).unwrap();
    engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let mut buffer = vec![-7.0f32; 20 * m];
    let rows = engine
        .update_into(Matrix::new(&x[..5 * d], 5, d).unwrap(), &mut buffer, 10)
        .unwrap();
    assert_eq!(rows, 15);
    assert!(buffer[..10 * m]
        .iter()
        .chain(&buffer[15 * m..])
        .all(|&v| v == -7.0));
    let expected = engine
        .transform(Matrix::new(&x[..5 * d], 5, d).unwrap())
        .unwrap();
    assert_eq!(bits(&buffer[10 * m..15 * m]), bits(&expected));
    let error = engine
        .update_into(Matrix::new(&x[..11 * d], 11, d).unwrap(), &mut buffer, 10)
        .unwrap_err();
    assert!(matches!(error, helios::Error::BufferTooSmall { needed, .. } if needed == 21 * m));
}

#[test]
fn build_is_bit_identical_across_thread_counts_for_both_selections() {
    let (n, d, m) = (9000, 3, 20);
    let x = data(n, d, 5);
    for selection in [
        LandmarkSelection::Uniform,
        LandmarkSelection::KMeansPlusPlus,
    ] {
        let run = |threads| {
            let mut engine = NystromEngine::<f32>::new(options(m, selection, threads)).unwrap();
            let phi = engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
            (bits(engine.feature_map().unwrap().landmarks()), bits(&phi))
        };
        let one = run(1);
        assert_eq!(run(2), one, "{selection:?}");
        assert_eq!(run(3), one, "{selection:?}");
    }
}

#[test]
fn kmeans_plus_plus_spreads_landmarks_over_clusters() {
    // Four tight clusters far apart: k-means++ with m = 4 takes one in each.
    let d = 2;
    let centres = [
        (-100.0, -100.0),
        (-100.0, 100.0),
        (100.0, -100.0),
        (100.0, 100.0),
    ];
    let noise = data(400, d, 6);
    let x: Vec<f32> = (0..400)
        .flat_map(|i| {
            let (cx, cy) = centres[i % 4];
            [cx + noise[2 * i], cy + noise[2 * i + 1]]
        })
        .collect();
    for seed in 0..5 {
        let mut opts = options(4, LandmarkSelection::KMeansPlusPlus, 2);
        opts.seed = seed;
        opts.gamma = 1e-4;
        let mut engine = NystromEngine::<f32>::new(opts).unwrap();
        engine.build(Matrix::new(&x, 400, d).unwrap()).unwrap();
        let mut quadrants: Vec<(bool, bool)> = engine
            .feature_map()
            .unwrap()
            .landmarks()
            .chunks_exact(2)
            .map(|l| (l[0] > 0.0, l[1] > 0.0))
            .collect();
        quadrants.sort_unstable();
        quadrants.dedup();
        assert_eq!(quadrants.len(), 4, "seed {seed}");
    }
}

#[test]
fn the_seed_decides_the_landmarks() {
    let (n, d, m) = (200, 3, 10);
    let x = data(n, d, 8);
    let landmarks = |seed| {
        let mut opts = options(m, LandmarkSelection::Uniform, 1);
        opts.seed = seed;
        let mut engine = NystromEngine::<f32>::new(opts).unwrap();
        engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
        engine.feature_map().unwrap().landmarks().to_vec()
    };
    assert_eq!(landmarks(1), landmarks(1));
    assert_ne!(landmarks(1), landmarks(2));
}

#[test]
fn save_and_load_give_the_same_bits_and_bad_files_are_format_errors() {
    let (n, d, m) = (400, 5, 16);
    let x = data(n, d, 9);
    let mut engine =
        NystromEngine::<f32>::new(options(m, LandmarkSelection::KMeansPlusPlus, 2)).unwrap();
    engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let folder = std::env::temp_dir().join(format!("helios-nystrom-test-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("engine.bin");
    engine.save(&path).unwrap();
    let loaded = NystromEngine::<f32>::load(&path).unwrap();
    let before = engine.transform(Matrix::new(&x, n, d).unwrap()).unwrap();
    let after = loaded.transform(Matrix::new(&x, n, d).unwrap()).unwrap();
    assert_eq!(bits(&before), bits(&after));
    assert_eq!(loaded.options().landmark_count, m);
    assert_eq!(
        loaded.options().selection,
        LandmarkSelection::KMeansPlusPlus
    );

    let good = std::fs::read(&path).unwrap();
    let bad = folder.join("bad.bin");
    let expect_format = |bytes: &[u8], fragment: &str| {
        std::fs::write(&bad, bytes).unwrap();
        let error = NystromEngine::<f32>::load(&bad).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Format, "{error}");
        assert!(error.to_string().contains(fragment), "{error}");
    };
    expect_format(&good[..good.len() / 2], "checksum");
    expect_format(&good[..20], "bad magic or too short");
    let mut flipped = good.clone();
    flipped[100] ^= 0x10;
    expect_format(&flipped, "checksum");
    let mut foreign = good.clone();
    foreign[0] = b'X';
    expect_format(&foreign, "bad magic");
    let error = NystromEngine::<f64>::load(&path).unwrap_err();
    assert!(error.to_string().contains("4-byte elements"), "{error}");
    let error = NystromEngine::<f32>::load(&folder.join("missing.bin")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn misuse_gets_its_kind() {
    let x = data(10, 2, 10);
    let engine = NystromEngine::<f32>::new(options(4, LandmarkSelection::Uniform, 1)).unwrap();
    let error = engine
        .transform(Matrix::new(&x, 10, 2).unwrap())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidState);
    let mut phi = Vec::new();
    assert_eq!(
        engine
            .update(Matrix::new(&x, 10, 2).unwrap(), &mut phi)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidState
    );
    let mut engine = NystromEngine::<f32>::new(options(11, LandmarkSelection::Uniform, 1)).unwrap();
    let error = engine.build(Matrix::new(&x, 10, 2).unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("landmark_count 11 is larger than the 10 rows"),
        "{error}"
    );
    let mut nan = x.clone();
    nan[7] = f32::NAN;
    let mut engine = NystromEngine::<f32>::new(options(4, LandmarkSelection::Uniform, 1)).unwrap();
    assert!(engine
        .build(Matrix::new(&nan, 10, 2).unwrap())
        .unwrap_err()
        .to_string()
        .contains("row 3 of X"));
    for bad in [
        NystromOptions {
            gamma: 0.0,
            ..NystromOptions::default()
        },
        NystromOptions {
            ridge: -1.0,
            ..NystromOptions::default()
        },
        NystromOptions {
            landmark_count: 0,
            ..NystromOptions::default()
        },
        NystromOptions {
            threads: Threads::Exactly(0),
            ..NystromOptions::default()
        },
    ] {
        assert_eq!(
            NystromEngine::<f32>::new(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    // A failed update leaves the caller's rows as they were.
    engine.build(Matrix::new(&x, 10, 2).unwrap()).unwrap();
    let mut phi = vec![1.0f32; 8];
    assert!(engine
        .update(Matrix::new(&nan, 10, 2).unwrap(), &mut phi)
        .is_err());
    assert_eq!(phi, vec![1.0f32; 8]);
}

#[test]
fn bytes_round_trip_and_report_their_element_size() {
    let (n, d, m) = (120, 3, 10);
    let x = data(n, d, 12);
    let mut engine = NystromEngine::<f32>::new(options(m, LandmarkSelection::Uniform, 1)).unwrap();
    assert_eq!(
        engine.to_bytes().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    let phi = engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let bytes = engine.to_bytes().unwrap();
    // magic, version, element size, gamma, ridge, selection, seed, m, d,
    // then m·d landmarks and m·m normaliser values of 4 bytes, and a checksum
    assert_eq!(
        bytes.len(),
        8 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 4 * (m * d + m * m) + 8
    );
    assert_eq!(helios::embed::stored_element_size(&bytes, "b").unwrap(), 4);
    let copy = NystromEngine::<f32>::from_bytes(&bytes, "b").unwrap();
    let again = copy.transform(Matrix::new(&x, n, d).unwrap()).unwrap();
    assert_eq!(bits(&phi), bits(&again));
    // A normaliser that is not symmetric (under a valid checksum, FNV-1a 64
    // written out here) is refused: the map reads it in either layout.
    let mut skewed = bytes[..bytes.len() - 8].to_vec();
    let first_normaliser_byte = 60 + 4 * m * d;
    skewed[first_normaliser_byte + 4..first_normaliser_byte + 8]
        .copy_from_slice(&123.0f32.to_le_bytes()); // M[0][1] only
    let fnv = skewed.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    skewed.extend_from_slice(&fnv.to_le_bytes());
    let error = NystromEngine::<f32>::from_bytes(&skewed, "b").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Format, "{error}");
    assert!(error.to_string().contains("not symmetric"), "{error}");
    let error = NystromEngine::<f64>::from_bytes(&bytes, "the buffer").unwrap_err();
    assert!(
        error.to_string().starts_with("the buffer: holds 4-byte"),
        "{error}"
    );
}

/// The C layer's guard around an engine: two threads updating one engine
/// either get in turn or get BUSY, and the engine is never corrupted.
#[test]
fn two_threads_updating_one_guarded_engine_get_busy_or_take_turns() {
    use helios::ffi::handle::SingleOwner;
    let (n, d, m) = (2000, 8, 32);
    let x = data(n, d, 13);
    let mut engine = NystromEngine::<f32>::new(options(m, LandmarkSelection::Uniform, 1)).unwrap();
    let reference = engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let owner = SingleOwner::new("the Nyström engine", engine);
    let (entered, busy) = (
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
    );
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..50 {
                    match owner.enter() {
                        Ok(guard) => {
                            let mut phi = Vec::new();
                            guard
                                .update(Matrix::new(&x, n, d).unwrap(), &mut phi)
                                .unwrap();
                            assert_eq!(bits(&phi), bits(&reference));
                            entered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(error) => {
                            assert_eq!(error.kind(), ErrorKind::Busy);
                            busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(entered.into_inner() + busy.into_inner(), 100);
    let engine = owner.into_inner();
    let after = engine.transform(Matrix::new(&x, n, d).unwrap()).unwrap();
    assert_eq!(bits(&after), bits(&reference));
}

/// Saves from several threads to one path never share a temporary file: each
/// succeeds, the file is whole afterwards, and no temporary is left. Loading
/// (reentrant) from several threads at once gives the same bits everywhere.
#[test]
fn concurrent_saves_and_loads() {
    let (n, d, m) = (300, 4, 12);
    let x = data(n, d, 14);
    let mut engine = NystromEngine::<f32>::new(options(m, LandmarkSelection::Uniform, 1)).unwrap();
    let phi = engine.build(Matrix::new(&x, n, d).unwrap()).unwrap();
    let folder = std::env::temp_dir().join(format!("helios-nystrom-saves-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("engine.bin");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    engine.save(&path).unwrap();
                }
            });
        }
    });
    let expected = engine.to_bytes().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    let names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("engine.bin")]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (path, expected, x) = (&path, &expected, &x);
                scope.spawn(move || {
                    let loaded = if i % 2 == 0 {
                        NystromEngine::<f32>::load(path).unwrap()
                    } else {
                        NystromEngine::<f32>::from_bytes(expected, "bytes").unwrap()
                    };
                    loaded.transform(Matrix::new(x, n, d).unwrap()).unwrap()
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(bits(&handle.join().unwrap()), bits(&phi));
        }
    });
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn device_calls_without_a_device_say_why() {
    use helios::gpu::{GpuMatrix, GpuOutput};
    // Without the `cuda` feature every device call is Unsupported; with it
    // and no device given to the engine, InvalidState (CI has no GPU either
    // way, so an engine here never has a device).
    let expected = if cfg!(feature = "cuda") {
        ErrorKind::InvalidState
    } else {
        ErrorKind::Unsupported
    };
    let x = data(40, 3, 5);
    let mut engine = NystromEngine::<f32>::new(options(8, LandmarkSelection::Uniform, 1)).unwrap();
    let cpu = engine.build(Matrix::new(&x, 40, 3).unwrap()).unwrap();
    let rows = GpuMatrix::Device {
        ptr: 0x1000,
        rows: 40,
        cols: 3,
        ld: 3,
    };
    let out = || GpuOutput::Device {
        ptr: 0x2000,
        len: 40 * 8,
    };
    let kind = |r: helios::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(engine.transform_on_device(rows, out(), 0)), expected);
    assert_eq!(
        engine
            .update_on_device(rows, out(), 0, 0)
            .unwrap_err()
            .kind(),
        expected
    );
    assert_eq!(kind(engine.build_on_device(rows, out(), 0)), expected);
    // The failed build left the engine as it was; back on the CPU (a no-op
    // here) it gives the same bits.
    assert!(engine.device().is_none());
    engine.set_device(None).unwrap();
    let again = engine.transform(Matrix::new(&x, 40, 3).unwrap()).unwrap();
    assert_eq!(bits(&again), bits(&cpu));
}
