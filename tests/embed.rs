//! The RBF feature map against independent references: the kernel computed
//! point by point, `Phi Phiᵀ = K` when the landmarks are the points, and the
//! same bits for every thread count.

use helios::embed::{rkhs_embed, rkhs_embed_into, EmbedFloat, FeatureMap, Matrix, RKHS_BLOCK_ROWS};
use helios::{ErrorKind, Threads};

mod common;
use common::{max_abs_diff, noise};

fn data(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    common::noise(rows * cols, seed)
}

fn rbf(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    (-gamma * a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()).exp()
}

#[test]
fn phi_phi_t_reproduces_the_kernel_when_the_landmarks_are_the_points() {
    let (n, d, gamma) = (40, 5, 0.3);
    let x = data(n, d, 1);
    let phi = rkhs_embed(
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&x, n, d).unwrap(),
        gamma,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = (0..n).map(|k| phi[i * n + k] * phi[j * n + k]).sum();
            worst = worst.max((dot - rbf(&x[i * d..][..d], &x[j * d..][..d], gamma)).abs());
        }
    }
    assert!(worst < 1e-8, "max |Phi Phiᵀ - K| = {worst}");
}

#[test]
fn the_approximation_of_k_improves_with_more_landmarks() {
    let (n, d, gamma) = (300, 3, 0.5);
    let x = data(n, d, 2);
    let error_with = |m: usize| {
        let landmarks = &x[..m * d]; // the first m points
        let phi = rkhs_embed(
            Matrix::new(&x, n, d).unwrap(),
            Matrix::new(landmarks, m, d).unwrap(),
            gamma,
            0.0,
            Threads::Auto,
        )
        .unwrap();
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..n {
                let dot: f64 = (0..m).map(|k| phi[i * m + k] * phi[j * m + k]).sum();
                total += (dot - rbf(&x[i * d..][..d], &x[j * d..][..d], gamma)).powi(2);
            }
        }
        total.sqrt()
    };
    let (e5, e20, e80) = (error_with(5), error_with(20), error_with(80));
    assert!(e5 > e20 && e20 > e80, "errors {e5} {e20} {e80}");
    assert!(e80 < 1e-3 * e5, "errors {e5} {e80}");
}

#[test]
fn f32_agrees_with_f64() {
    let (n, d, m, gamma) = (600, 8, 32, 0.2);
    let x = data(n, d, 3);
    let l = data(m, d, 4);
    let phi64 = rkhs_embed(
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
        gamma,
        1e-6,
        Threads::Auto,
    )
    .unwrap();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let l32: Vec<f32> = l.iter().map(|&v| v as f32).collect();
    let phi32 = rkhs_embed(
        Matrix::new(&x32, n, d).unwrap(),
        Matrix::new(&l32, m, d).unwrap(),
        gamma,
        1e-6,
        Threads::Auto,
    )
    .unwrap();
    let worst = max_abs_diff(&phi64, &phi32);
    let scale = phi64.iter().map(|v| v.abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3 * scale, "max diff {worst} (scale {scale})");
}

#[test]
fn embed_is_bit_identical_across_thread_counts() {
    let (n, d, m) = (3 * RKHS_BLOCK_ROWS + 17, 6, 40);
    let x: Vec<f32> = data(n, d, 5).iter().map(|&v| v as f32).collect();
    let l: Vec<f32> = data(m, d, 6).iter().map(|&v| v as f32).collect();
    let run = |threads| {
        rkhs_embed(
            Matrix::new(&x, n, d).unwrap(),
            Matrix::new(&l, m, d).unwrap(),
            0.7,
            1e-6,
            Threads::Exactly(threads),
        )
        .unwrap()
    };
    let one = run(1);
    for threads in [2, 3] {
        let other = run(threads);
        assert!(
            one.iter()
                .zip(&other)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "threads {threads}"
        );
    }
}

#[test]
fn a_leading_dimension_skips_padding() {
    let (n, d, m) = (10, 3, 4);
    let x = data(n, d, 7);
    let l = data(m, d, 8);
    let mut padded = vec![f64::NAN; n * 5];
    for i in 0..n {
        padded[i * 5..i * 5 + d].copy_from_slice(&x[i * d..(i + 1) * d]);
    }
    let dense = rkhs_embed(
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
        0.4,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let strided = rkhs_embed(
        Matrix::with_stride(&padded, n, d, 5).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
        0.4,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    assert_eq!(dense, strided);
}

#[test]
fn duplicate_landmarks_give_finite_output() {
    let (n, d) = (20, 2);
    let x = data(n, d, 9);
    let mut l = x[..4 * d].to_vec();
    l.extend_from_slice(&x[..2 * d]); // landmarks 4 and 5 repeat 0 and 1
    let phi = rkhs_embed(
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, 6, d).unwrap(),
        0.5,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    assert!(phi.iter().all(|v| v.is_finite()));
    // The pseudo-inverse still reproduces K on the landmarks' span: for a
    // landmark point x_0, Phi(x_0)·Phi(x_1) = k(x_0, x_1).
    let dot: f64 = (0..6).map(|k| phi[k] * phi[6 + k]).sum();
    assert!((dot - rbf(&x[..2], &x[2..4], 0.5)).abs() < 1e-8, "{dot}");
}

#[test]
fn bad_input_gets_its_kind_and_message() {
    let x = data(4, 2, 10);
    let m = |rows, cols| Matrix::new(&x[..rows * cols], rows, cols).unwrap();
    let check = |result: helios::Result<Vec<f64>>, kind: ErrorKind, fragment: &str| {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert!(error.to_string().contains(fragment), "{error}");
    };
    check(
        rkhs_embed(m(0, 2), m(2, 2), 1.0, 0.0, Threads::Auto),
        ErrorKind::InvalidArgument,
        "n = 0",
    );
    check(
        rkhs_embed(m(2, 2), m(0, 2), 1.0, 0.0, Threads::Auto),
        ErrorKind::InvalidArgument,
        "m = 0",
    );
    check(
        rkhs_embed(
            m(2, 2),
            Matrix::new(&x[..3], 1, 3).unwrap(),
            1.0,
            0.0,
            Threads::Auto,
        ),
        ErrorKind::InvalidArgument,
        "the landmarks have 3",
    );
    for gamma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        check(
            rkhs_embed(m(2, 2), m(2, 2), gamma, 0.0, Threads::Auto),
            ErrorKind::InvalidArgument,
            "gamma",
        );
    }
    for ridge in [-1e-9, f64::NAN] {
        check(
            rkhs_embed(m(2, 2), m(2, 2), 1.0, ridge, Threads::Auto),
            ErrorKind::InvalidArgument,
            "ridge",
        );
    }
    let mut bad = x.clone();
    bad[5] = f64::NAN; // row 2, column 1
    check(
        rkhs_embed(
            Matrix::new(&bad, 4, 2).unwrap(),
            m(2, 2),
            1.0,
            0.0,
            Threads::Auto,
        ),
        ErrorKind::Numeric,
        "row 2 of X",
    );
    bad[5] = f64::INFINITY;
    check(
        rkhs_embed(
            m(2, 2),
            Matrix::new(&bad, 4, 2).unwrap(),
            1.0,
            0.0,
            Threads::Auto,
        ),
        ErrorKind::Numeric,
        "row 2 of landmarks",
    );
    let mut small = vec![0.0; 7];
    let error = rkhs_embed_into(m(4, 2), m(2, 2), 1.0, 0.0, Threads::Auto, &mut small).unwrap_err();
    assert!(matches!(
        error,
        helios::Error::BufferTooSmall {
            needed: 8,
            capacity: 7,
            ..
        }
    ));
    assert!(Matrix::with_stride(&x, 4, 2, 1).is_err());
    assert!(Matrix::new(&x, 5, 2).is_err());
}

#[test]
fn concurrent_calls_give_the_sequential_bits() {
    let (n, d, m) = (700, 4, 24);
    let inputs: Vec<Vec<f32>> = (0..8)
        .map(|s| data(n, d, 20 + s).iter().map(|&v| v as f32).collect())
        .collect();
    let l: Vec<f32> = data(m, d, 30).iter().map(|&v| v as f32).collect();
    let embed = |x: &Vec<f32>| {
        rkhs_embed(
            Matrix::new(x, n, d).unwrap(),
            Matrix::new(&l, m, d).unwrap(),
            0.9,
            1e-6,
            Threads::Exactly(2),
        )
        .unwrap()
    };
    let sequential: Vec<Vec<f32>> = inputs.iter().map(embed).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|x| scope.spawn(move || embed(x)))
            .collect();
        for (handle, expected) in handles.into_iter().zip(&sequential) {
            let got = handle.join().unwrap();
            assert!(got
                .iter()
                .zip(expected)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    });
}

#[test]
fn f32_stays_accurate_for_data_far_from_the_origin() {
    // Distances are taken relative to the landmarks' mean: with the raw GEMM
    // identity, points near 1000 gave k(x, x) = 0.37 in f32.
    let (n, d) = (20, 3);
    let x64: Vec<f64> = data(n, d, 40).iter().map(|v| 1000.0 + v).collect();
    let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
    let back: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
    let phi64 = rkhs_embed(
        Matrix::new(&back, n, d).unwrap(),
        Matrix::new(&back, n, d).unwrap(),
        2.0,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let phi32 = rkhs_embed(
        Matrix::new(&x32, n, d).unwrap(),
        Matrix::new(&x32, n, d).unwrap(),
        2.0,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let worst = max_abs_diff(&phi64, &phi32);
    assert!(worst < 1e-3, "max |phi32 - phi64| = {worst}");
    // And Phi Phiᵀ is the kernel: 1 on the diagonal.
    for i in 0..n {
        let diag: f32 = (0..n).map(|k| phi32[i * n + k] * phi32[i * n + k]).sum();
        assert!((diag - 1.0).abs() < 1e-3, "k(x{i}, x{i}) = {diag}");
    }
}

#[test]
fn huge_values_give_the_right_kernel_or_a_numeric_error() {
    // f32 data whose squared norm overflows f32 is fine: distances are taken
    // in f64, and a point 1e20 away has kernel 0 (it used to come out as 1).
    let landmarks = [0.0f32, 1.0];
    let x = [0.5f32, 1e20, 0.25];
    let phi = rkhs_embed(
        Matrix::new(&x, 3, 1).unwrap(),
        Matrix::new(&landmarks, 2, 1).unwrap(),
        1.0,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    assert_eq!(&phi[2..4], &[0.0, 0.0]);
    assert!(phi[0] > 0.1 && phi[4] > 0.1);
    // In f64, a squared distance beyond f64's range is refused, naming the row.
    let landmarks = [0.0f64, 1.0];
    let x = [0.5f64, 1e160, 0.25];
    let error = rkhs_embed(
        Matrix::new(&x, 3, 1).unwrap(),
        Matrix::new(&landmarks, 2, 1).unwrap(),
        1.0,
        0.0,
        Threads::Auto,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Numeric);
    assert!(error.to_string().contains("row 1 of X"), "{error}");
}

#[test]
fn f32_stays_accurate_for_clusters_far_from_the_landmark_mean() {
    // Two clusters at -1000 and +1000: the landmark mean is near 0, so
    // centring alone does not help; the f64 distance GEMM does.
    let (n, d, m) = (200, 16, 20);
    let noise = data(n, d, 41);
    let x64: Vec<f64> = noise
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if (i / d) % 2 == 0 {
                -1000.0 + v
            } else {
                1000.0 + v
            }
        })
        .collect();
    let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
    let back: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
    let gamma = 1.0 / 32.0;
    let phi64 = rkhs_embed(
        Matrix::new(&back, n, d).unwrap(),
        Matrix::new(&back[..m * d], m, d).unwrap(),
        gamma,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let phi32 = rkhs_embed(
        Matrix::new(&x32, n, d).unwrap(),
        Matrix::new(&x32[..m * d], m, d).unwrap(),
        gamma,
        0.0,
        Threads::Auto,
    )
    .unwrap();
    let worst = max_abs_diff(&phi64, &phi32);
    assert!(worst < 1e-4, "max |phi32 - phi64| = {worst}");
}

/// A row's features do not depend on the rows embedded with it: any block of
/// rows (1 to 255, anywhere) gives the bits those rows get inside a full
/// block, so an update of any size equals a transform of the stacked rows.
/// (faer multiplies a single row by another path; the map pads it.)
#[test]
fn a_rows_features_do_not_depend_on_the_rows_beside_it() {
    fn check<T: EmbedFloat + PartialEq + std::fmt::Debug>(convert: fn(f64) -> T) {
        for (d, m) in [(5, 16), (8, 100), (16, 300), (768, 2), (600, 3), (1100, 1)] {
            let n = RKHS_BLOCK_ROWS;
            let x: Vec<T> = noise(n * d, 1).into_iter().map(convert).collect();
            let l: Vec<T> = noise(m * d, 2).into_iter().map(convert).collect();
            let map = FeatureMap::new(Matrix::new(&l, m, d).unwrap(), 0.3, 1e-6).unwrap();
            let mut full = vec![convert(0.0); n * m];
            map.apply_into(
                Matrix::new(&x, n, d).unwrap(),
                Threads::Exactly(1),
                &mut full,
            )
            .unwrap();
            for rows in [1, 2, 3, 7, 8, 9, 31, 32, 33, 100, 255] {
                for start in [0, 5.min(n - rows), n - rows] {
                    let part_x = &x[start * d..(start + rows) * d];
                    let mut part = vec![convert(0.0); rows * m];
                    map.apply_into(
                        Matrix::new(part_x, rows, d).unwrap(),
                        Threads::Exactly(1),
                        &mut part,
                    )
                    .unwrap();
                    assert!(
                        part[..] == full[start * m..(start + rows) * m],
                        "{} rows from row {start}, d = {d}, m = {m}, {}",
                        rows,
                        std::any::type_name::<T>()
                    );
                }
            }
        }
    }
    check::<f32>(|v| v as f32);
    check::<f64>(|v| v);
}

/// Kernel values below 1e-15 (f32) / 1e-150 (f64) count as 0 and no output is
/// subnormal: a point far from every landmark embeds to exact zeros, and the
/// others keep their values.
#[test]
fn far_points_embed_to_zero_and_nothing_is_subnormal() {
    fn check<T: EmbedFloat + std::fmt::Debug>(convert: fn(f64) -> T, far: f64) {
        let (d, m) = (3, 6);
        let landmarks: Vec<T> = noise(m * d, 5).into_iter().map(convert).collect();
        // Row 0 near the landmarks, row 1 `far` away along every axis.
        let mut x = vec![convert(0.1); d];
        x.extend(std::iter::repeat_n(convert(far), d));
        let phi = rkhs_embed(
            Matrix::new(&x, 2, d).unwrap(),
            Matrix::new(&landmarks, m, d).unwrap(),
            1.0,
            1e-3,
            Threads::Exactly(1),
        )
        .unwrap();
        assert!(phi[..m].iter().all(|v| v.to_f64().abs() > 1e-3), "{phi:?}");
        assert!(phi[m..].iter().all(|v| v.to_f64() == 0.0), "{phi:?}");
        assert!(phi
            .iter()
            .all(|v| v.to_f64() == 0.0 || v.to_f64().abs() > 1e-300));
    }
    // exp(-gamma·dist²) about e^-40 (f32: below its floor, above its smallest
    // normal) and e^-400 (f64: below its floor).
    check::<f32>(|v| v as f32, (40.0f64 / 3.0).sqrt() + 1.0);
    check::<f64>(|v| v, (400.0f64 / 3.0).sqrt() + 1.0);
}
