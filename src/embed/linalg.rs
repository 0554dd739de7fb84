//! Dense linear algebra of the embedding, in f64: the RBF kernel matrix of
//! the landmarks and the inverse square root of a symmetric positive
//! semi-definite matrix, taken from its eigendecomposition (faer).

use faer::{MatRef, Side};

use crate::error::{Error, Result};

/// Eigenvalues at or below `EIGEN_RELATIVE_THRESHOLD · m · λ_max` (and all
/// negative ones, which are rounding noise of a PSD matrix) are treated as 0:
/// their directions contribute 0 to the inverse square root (a
/// pseudo-inverse), so a rank-deficient landmark set (duplicates) gives finite
/// output instead of NaN or Inf. The factor `m · ε` is the rank tolerance
/// numpy's `pinv` and `matrix_rank` use.
pub const EIGEN_RELATIVE_THRESHOLD: f64 = f64::EPSILON;

/// `K(L, L)` for the landmarks (`m x d`, row-major, f64):
/// `exp(-gamma ||l_i - l_j||²)`, exactly 1 on the diagonal.
pub fn rbf_gram(landmarks: &[f64], m: usize, d: usize, gamma: f64) -> Vec<f64> {
    let mut gram = vec![0.0; m * m];
    for i in 0..m {
        let li = &landmarks[i * d..(i + 1) * d];
        gram[i * m + i] = 1.0;
        for j in 0..i {
            let lj = &landmarks[j * d..(j + 1) * d];
            let dist2: f64 = li.iter().zip(lj).map(|(a, b)| (a - b) * (a - b)).sum();
            let k = (-gamma * dist2).exp();
            gram[i * m + j] = k;
            gram[j * m + i] = k;
        }
    }
    gram
}

/// `(A + ridge·I)^(-1/2)` for a symmetric PSD `m x m` matrix `a` (row-major),
/// as `U · diag(s) · Uᵀ` with `s = 1/sqrt(λ)` above the threshold
/// ([`EIGEN_RELATIVE_THRESHOLD`]) and 0 below it; exactly symmetric.
pub fn inverse_sqrt_psd(a: &[f64], m: usize, ridge: f64) -> Result<Vec<f64>> {
    let mut shifted = a.to_vec();
    for i in 0..m {
        shifted[i * m + i] += ridge;
    }
    let eigen = MatRef::from_row_major_slice(&shifted, m, m)
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| {
            Error::Numeric(format!(
                "the landmark kernel's eigendecomposition failed: {e:?}"
            ))
        })?;
    let values: Vec<f64> = eigen.S().column_vector().iter().copied().collect();
    let vectors = eigen.U();
    let largest = values.iter().copied().fold(0.0f64, f64::max);
    let cutoff = EIGEN_RELATIVE_THRESHOLD * m as f64 * largest;
    let scale: Vec<f64> = values
        .iter()
        .map(|&v| if v > cutoff { 1.0 / v.sqrt() } else { 0.0 })
        .collect();
    // result[i][j] = sum_k U[i][k] · scale[k] · U[j][k]
    let mut scaled = vec![0.0; m * m]; // U · diag(scale), row-major
    for i in 0..m {
        for k in 0..m {
            scaled[i * m + k] = vectors[(i, k)] * scale[k];
        }
    }
    let mut result = vec![0.0; m * m];
    faer::linalg::matmul::matmul(
        faer::MatMut::from_row_major_slice_mut(&mut result, m, m),
        faer::Accum::Replace,
        MatRef::from_row_major_slice(&scaled, m, m),
        vectors.transpose(),
        1.0,
        faer::Par::Seq,
    );
    if result.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numeric(
            "the inverse square root of the landmark kernel is not finite".into(),
        ));
    }
    // Exactly symmetric, as the true inverse square root is (the GEMM's
    // rounding leaves the two triangles a few ulp apart): the feature map
    // may then read it in either layout.
    for i in 0..m {
        for j in i + 1..m {
            let mean = 0.5 * (result[i * m + j] + result[j * m + i]);
            result[i * m + j] = mean;
            result[j * m + i] = mean;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_sqrt_of_a_hand_computed_matrix() {
        // [[4, 0], [0, 9]] -> [[1/2, 0], [0, 1/3]]
        let r = inverse_sqrt_psd(&[4.0, 0.0, 0.0, 9.0], 2, 0.0).unwrap();
        let expected = [0.5, 0.0, 0.0, 1.0 / 3.0];
        for (a, b) in r.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{r:?}");
        }
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3; R·R·A = I.
        let a = [2.0, 1.0, 1.0, 2.0];
        let r = inverse_sqrt_psd(&a, 2, 0.0).unwrap();
        let rr = [
            r[0] * r[0] + r[1] * r[2],
            r[0] * r[1] + r[1] * r[3],
            r[2] * r[0] + r[3] * r[2],
            r[2] * r[1] + r[3] * r[3],
        ];
        let product = [
            rr[0] * a[0] + rr[1] * a[2],
            rr[0] * a[1] + rr[1] * a[3],
            rr[2] * a[0] + rr[3] * a[2],
            rr[2] * a[1] + rr[3] * a[3],
        ];
        for (p, e) in product.iter().zip([1.0, 0.0, 0.0, 1.0]) {
            assert!((p - e).abs() < 1e-12, "{product:?}");
        }
    }

    #[test]
    fn a_singular_matrix_gives_a_finite_pseudo_inverse_root() {
        // Duplicate landmarks: [[1, 1], [1, 1]] has eigenvalues 0 and 2.
        let r = inverse_sqrt_psd(&[1.0, 1.0, 1.0, 1.0], 2, 0.0).unwrap();
        let half_root = 0.5 / 2f64.sqrt(); // (1/sqrt(2)) · v vᵀ with v = (1,1)/sqrt(2)
        for v in r {
            assert!((v - half_root).abs() < 1e-12);
        }
    }

    #[test]
    fn the_gram_matrix_is_the_rbf_kernel() {
        let landmarks = [0.0, 0.0, 1.0, 2.0];
        let gram = rbf_gram(&landmarks, 2, 2, 0.5);
        assert_eq!(gram[0], 1.0);
        assert!((gram[1] - (-0.5f64 * 5.0).exp()).abs() < 1e-16);
        assert_eq!(gram[1], gram[2]);
    }

    #[test]
    fn the_inverse_square_root_is_exactly_symmetric() {
        let (m, d) = (40, 3);
        let points: Vec<f64> = (0..m * d)
            .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
            .collect();
        let r = inverse_sqrt_psd(&rbf_gram(&points, m, d, 0.7), m, 1e-3).unwrap();
        for i in 0..m {
            for j in 0..m {
                assert_eq!(r[i * m + j].to_bits(), r[j * m + i].to_bits(), "({i}, {j})");
            }
        }
    }
}
