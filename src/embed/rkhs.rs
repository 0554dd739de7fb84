//! The RBF (Nyström) feature map, stateless and reentrant:
//! `Phi(X) = K(X, L) · (K(L, L) + ridge·I)^(-1/2)`, so that
//! `Phi(X) Phi(Y)ᵀ ≈ K(X, Y)` with `k(x, y) = exp(-gamma ||x - y||²)`.
//!
//! The m x m normaliser is computed once per call in f64 ([`super::linalg`]).
//! The rows of X are then processed in fixed blocks of [`RKHS_BLOCK_ROWS`]:
//! one GEMM gives `X_b · Lᵀ`, the distances come from the identity
//! `||x - l||² = ||x||² + ||l||² - 2 x·l` (negatives clamped to 0) with the
//! `exp` fused in the same pass, and a second GEMM multiplies the block by the
//! normaliser while it is still in cache. Blocks never depend on the thread
//! count, so the output is bit-identical for any number of threads, and each
//! worker allocates its scratch once.

use faer::{Accum, MatMut, MatRef, Par};

use super::exp::{exp_f32, exp_f64};
use super::linalg::{inverse_sqrt_psd, rbf_gram};
use crate::error::{Error, Result};
use crate::exec::{run_blocks, Element, Threads};

/// Rows of X per block: the block's `K(X_b, L)` (256 x m) stays in L2 for the
/// second GEMM at the landmark counts this map is used with (m ≤ 2048 f32).
pub const RKHS_BLOCK_ROWS: usize = 256;

/// The element types of the embedding: `f32` and `f64`. The normaliser is
/// always computed in f64 and rounded once to the element type.
pub trait EmbedFloat:
    Element
    + faer::traits::ComplexField
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
{
    /// The value nearest to `value`.
    fn from_f64(value: f64) -> Self;
    /// The value as f64 (exact).
    fn to_f64(self) -> f64;
    /// `e^arg` for `arg ≤ 0` (a kernel value), rounded to this type (see
    /// [`super::exp`]), or 0 below [`KERNEL_FLOOR`](Self::KERNEL_FLOOR).
    fn kernel_exp(arg: f64) -> Self;
    /// Kernel values below this count as 0, and normaliser entries below
    /// [`NORMALISER_FLOOR`](Self::NORMALISER_FLOOR) in magnitude too, so that
    /// every product the second GEMM forms is 0 or a normal number (above
    /// 1e-35 in f32, 1e-300 in f64). Subnormal products cost the processor
    /// a microcode assist each: on clustered data, where most kernel values
    /// are tiny, they made the map 3-5x slower (numpy's GEMM has the same
    /// cliff). What is dropped is below 1e-12 (f32) or 1e-147 (f64) in
    /// absolute terms per output, far below the type's precision.
    const KERNEL_FLOOR: f64;
    /// See [`KERNEL_FLOOR`](Self::KERNEL_FLOOR).
    const NORMALISER_FLOOR: f64;
    /// `values` as f32 when `Self` is f32 (the GPU path's type), else None.
    fn as_f32(values: &[Self]) -> Option<&[f32]>;
    /// [`as_f32`](Self::as_f32), mutable.
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]>;
    /// `map` as an f32 map when `Self` is f32, else None.
    fn f32_map(map: &FeatureMap<Self>) -> Option<&FeatureMap<f32>>;
}

impl EmbedFloat for f32 {
    fn from_f64(value: f64) -> f32 {
        value as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn kernel_exp(arg: f64) -> f32 {
        exp_f32(arg, -34.5) // e^-34.5 = 1.0e-15
    }
    const KERNEL_FLOOR: f64 = 1.0e-15;
    const NORMALISER_FLOOR: f64 = 1e-20;
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
    fn as_f32_mut(values: &mut [f32]) -> Option<&mut [f32]> {
        Some(values)
    }
    fn f32_map(map: &FeatureMap<f32>) -> Option<&FeatureMap<f32>> {
        Some(map)
    }
}

impl EmbedFloat for f64 {
    fn from_f64(value: f64) -> f64 {
        value
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn kernel_exp(arg: f64) -> f64 {
        exp_f64(arg, -345.4) // e^-345.4 = 1.0e-150
    }
    const KERNEL_FLOOR: f64 = 1.0e-150;
    const NORMALISER_FLOOR: f64 = 1e-150;
    fn as_f32(_: &[f64]) -> Option<&[f32]> {
        None
    }
    fn as_f32_mut(_: &mut [f64]) -> Option<&mut [f32]> {
        None
    }
    fn f32_map(_: &FeatureMap<f64>) -> Option<&FeatureMap<f32>> {
        None
    }
}

/// A borrowed row-major matrix: `rows` rows of `cols` elements, row `i`
/// starting at `data[i * row_stride]` (the leading dimension).
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// A dense matrix (`row_stride = cols`).
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Matrix<'a, T>> {
        Matrix::with_stride(data, rows, cols, cols)
    }

    /// A matrix whose rows are `row_stride ≥ cols` elements apart.
    pub fn with_stride(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Result<Matrix<'a, T>> {
        if row_stride < cols {
            return Err(Error::invalid(format!(
                "leading dimension {row_stride} is smaller than the {cols} columns"
            )));
        }
        let needed = rows
            .checked_sub(1)
            .map_or(Some(0), |last| {
                last.checked_mul(row_stride)?.checked_add(cols)
            })
            .ok_or_else(|| {
                Error::invalid(format!("{rows} rows of stride {row_stride} overflow"))
            })?;
        if data.len() < needed {
            return Err(Error::invalid(format!(
                "a {rows} x {cols} matrix with leading dimension {row_stride} needs {needed} \
                 elements but the buffer has {}",
                data.len()
            )));
        }
        Ok(Matrix {
            data,
            rows,
            cols,
            row_stride,
        })
    }

    /// The elements the matrix spans (from row 0 to the end of the last row).
    pub fn data(&self) -> &'a [T] {
        self.data
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.row_stride..i * self.row_stride + self.cols]
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Elements from one row to the next (the leading dimension).
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }
}

/// The RBF feature map of `x` (n x d) on `landmarks` (m x d), returned as a
/// new n x m row-major matrix (reentrant).
///
/// ```
/// use helios::embed::{rkhs_embed, Matrix};
/// use helios::Threads;
/// let x = [0.0f64, 0.0, 1.0, 1.0];
/// let phi = rkhs_embed(Matrix::new(&x, 2, 2)?, Matrix::new(&x, 2, 2)?, 0.5, 0.0, Threads::Auto)?;
/// // With the points themselves as landmarks, Phi Phiᵀ reproduces K exactly.
/// let k01 = phi[0] * phi[2] + phi[1] * phi[3];
/// assert!((k01 - (-0.5f64 * 2.0).exp()).abs() < 1e-12);
/// # Ok::<(), helios::Error>(())
/// ```
pub fn rkhs_embed<T: EmbedFloat>(
    x: Matrix<'_, T>,
    landmarks: Matrix<'_, T>,
    gamma: f64,
    ridge: f64,
    threads: Threads,
) -> Result<Vec<T>> {
    let mut out = vec![T::from_f64(0.0); output_len(x.rows(), landmarks.rows())?];
    rkhs_embed_into(x, landmarks, gamma, ridge, threads, &mut out)?;
    Ok(out)
}

/// [`rkhs_embed`] into `out` (at least n·m elements, row-major n x m).
pub fn rkhs_embed_into<T: EmbedFloat>(
    x: Matrix<'_, T>,
    landmarks: Matrix<'_, T>,
    gamma: f64,
    ridge: f64,
    threads: Threads,
    out: &mut [T],
) -> Result<()> {
    if x.cols() == 0 || landmarks.rows() == 0 {
        return Err(Error::invalid(format!(
            "empty input: n = {}, d = {}, m = {} (all must be at least 1)",
            x.rows(),
            x.cols(),
            landmarks.rows()
        )));
    }
    // Shapes and the buffer first: a caller asking for the size (a too-small
    // buffer) must not pay for the eigendecomposition.
    check_shapes(x, landmarks.cols(), landmarks.rows(), out.len())?;
    let map = FeatureMap::new(landmarks, gamma, ridge)?;
    map.apply_into(x, threads, out)
}

/// The feature map of one landmark set, with its normaliser computed once:
/// what [`rkhs_embed`] builds per call and the Nyström engine keeps.
///
/// Distances are taken after moving the origin to the landmarks' mean (they
/// do not change), so the GEMM identity `||x||² + ||l||² - 2 x·l` does not
/// cancel catastrophically in f32 for data far from the origin: with points
/// near 1000, k(x, x) came out as 0.37 instead of 1 before.
#[derive(Debug, Clone)]
pub struct FeatureMap<T> {
    gamma: f64,
    ridge: f64,
    landmark_count: usize,
    dim: usize,
    landmarks: Vec<T>,
    centre: Vec<f64>,
    centred_landmarks: Vec<f64>,
    landmark_norms: Vec<f64>,
    normaliser: Vec<T>,
}

impl<T: EmbedFloat> FeatureMap<T> {
    /// Check the parameters and landmarks and compute the normaliser
    /// `(K(L, L) + ridge·I)^(-1/2)` in f64, rounded once to `T`.
    pub fn new(landmarks: Matrix<'_, T>, gamma: f64, ridge: f64) -> Result<FeatureMap<T>> {
        check_parameters(gamma, ridge)?;
        let (m, d) = (landmarks.rows(), landmarks.cols());
        if m == 0 || d == 0 {
            return Err(Error::invalid(format!(
                "empty landmarks: m = {m}, d = {d} (both must be at least 1)"
            )));
        }
        check_finite(landmarks, "landmarks")?;
        let dense: Vec<T> = (0..m)
            .flat_map(|i| landmarks.row(i).iter().copied())
            .collect();
        let dense_f64: Vec<f64> = dense.iter().map(|v| v.to_f64()).collect();
        let normaliser = inverse_sqrt_psd(&rbf_gram(&dense_f64, m, d, gamma), m, ridge)?;
        Ok(FeatureMap::from_parts(
            gamma,
            ridge,
            dense,
            d,
            normaliser
                .iter()
                .map(|&v| {
                    // Exactly 0 below the floor (see `EmbedFloat::KERNEL_FLOOR`);
                    // symmetric, as `v` is.
                    if v.abs() < T::NORMALISER_FLOOR {
                        T::from_f64(0.0)
                    } else {
                        T::from_f64(v)
                    }
                })
                .collect(),
        ))
    }

    /// A map from stored parts (a loaded engine): the normaliser exactly as
    /// saved, so a reloaded map gives the same bits.
    pub(crate) fn from_parts(
        gamma: f64,
        ridge: f64,
        landmarks: Vec<T>,
        dim: usize,
        normaliser: Vec<T>,
    ) -> FeatureMap<T> {
        let landmark_count = landmarks.len() / dim;
        let mut centre = vec![0.0f64; dim];
        for row in landmarks.chunks_exact(dim) {
            for (c, v) in centre.iter_mut().zip(row) {
                *c += v.to_f64();
            }
        }
        centre.iter_mut().for_each(|c| *c /= landmark_count as f64);
        let mut centred_landmarks = Vec::with_capacity(landmarks.len());
        for row in landmarks.chunks_exact(dim) {
            centre_row(row, &centre, &mut centred_landmarks);
        }
        let landmark_norms = centred_landmarks
            .chunks_exact(dim)
            .map(|row: &[f64]| row.iter().map(|v| v * v).sum())
            .collect();
        FeatureMap {
            gamma,
            ridge,
            landmark_count,
            dim,
            landmarks,
            centre,
            centred_landmarks,
            landmark_norms,
            normaliser,
        }
    }

    /// The landmarks, m x d row-major.
    pub fn landmarks(&self) -> &[T] {
        &self.landmarks
    }

    /// The cached normaliser `(K(L, L) + ridge·I)^(-1/2)`, m x m row-major.
    pub fn normaliser(&self) -> &[T] {
        &self.normaliser
    }

    /// The number of landmarks m (the output width).
    pub fn landmark_count(&self) -> usize {
        self.landmark_count
    }

    /// The input dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The kernel width and the ridge.
    pub fn parameters(&self) -> (f64, f64) {
        (self.gamma, self.ridge)
    }

    /// The landmarks' mean (d values), the origin distances are taken from.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // the GPU path's
    pub(crate) fn centre(&self) -> &[f64] {
        &self.centre
    }

    /// The landmarks minus [`centre`](Self::centre), m x d row-major.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // the GPU path's
    pub(crate) fn centred_landmarks(&self) -> &[f64] {
        &self.centred_landmarks
    }

    /// The squared norms of the centred landmarks (m values).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // the GPU path's
    pub(crate) fn landmark_norms(&self) -> &[f64] {
        &self.landmark_norms
    }

    /// `Phi(x)` into `out` (at least n·m elements).
    pub fn apply_into(&self, x: Matrix<'_, T>, threads: Threads, out: &mut [T]) -> Result<()> {
        let (d, m) = (self.dim, self.landmark_count);
        let needed = check_shapes(x, d, m, out.len())?;
        check_finite(x, "X")?;
        let threads = threads.resolve()?;

        let landmarks_view = MatRef::from_row_major_slice(&self.centred_landmarks, m, d);
        // Symmetric (exactly: see `inverse_sqrt_psd`), so its row-major
        // storage is also its column-major one, the layout faer's GEMM is
        // fastest with.
        let normaliser_view = MatRef::from_column_major_slice(&self.normaliser, m, m);
        let zero = T::from_f64(0.0);
        let min_rows = min_block_rows(m, d);
        run_blocks(
            threads,
            &mut out[..needed],
            RKHS_BLOCK_ROWS * m,
            None,
            || BlockScratch {
                distances: vec![0.0; RKHS_BLOCK_ROWS * m],
                kernel: vec![zero; RKHS_BLOCK_ROWS * m],
                centred: Vec::with_capacity(RKHS_BLOCK_ROWS * d),
                norms: Vec::with_capacity(RKHS_BLOCK_ROWS),
                phi_columns: vec![zero; RKHS_BLOCK_ROWS * m],
            },
            |scratch, index, out_block| {
                let first = index * RKHS_BLOCK_ROWS;
                let rows = out_block.len() / m;
                scratch.centred.clear();
                for r in first..first + rows {
                    centre_row(x.row(r), &self.centre, &mut scratch.centred);
                }
                // Short blocks are padded with copies of their first row, so
                // that every block takes the same GEMM paths (see
                // `min_block_rows`) and a row's features are the bits it gets
                // in any block: an update equals a transform of the stacked
                // rows, whatever the split.
                let padded = rows.max(min_rows);
                for _ in rows..padded {
                    scratch.centred.extend_from_within(..d);
                }
                scratch.norms.clear();
                scratch.norms.extend(
                    scratch
                        .centred
                        .chunks_exact(d)
                        .map(|row| row.iter().map(|v| v * v).sum::<f64>()),
                );
                if let Some(r) = scratch.norms[..rows].iter().position(|v| !v.is_finite()) {
                    return Err(Error::Numeric(format!(
                        "row {} of X is too far from the landmarks: its squared distance overflows",
                        first + r
                    )));
                }
                // X_b · Lᵀ in f64 whatever T: the identity ||x||² + ||l||² - 2 x·l
                // cancels, and f32 lost whole digits for clustered data away
                // from the origin. This GEMM is 2·d/(2·d + 2·m) of the flops.
                let distances = &mut scratch.distances[..padded * m];
                faer::linalg::matmul::matmul(
                    MatMut::from_column_major_slice_mut(distances, padded, m),
                    Accum::Replace,
                    MatRef::from_row_major_slice(&scratch.centred, padded, d),
                    landmarks_view.transpose(),
                    1.0,
                    Par::Seq,
                );
                clear_upper_vector_state();
                let kernel = &mut scratch.kernel[..padded * m];
                fill_kernel(
                    kernel,
                    distances,
                    &scratch.norms,
                    &self.landmark_norms,
                    self.gamma,
                );
                // Phi_b = K_b · (K_LL + ridge·I)^(-1/2), in T, column-major
                // (faer's GEMM runs about 1.5x faster writing a column-major
                // block than a row-major one at m = 1024), then copied into
                // the caller's row-major rows.
                let phi_columns = &mut scratch.phi_columns[..padded * m];
                faer::linalg::matmul::matmul(
                    MatMut::from_column_major_slice_mut(phi_columns, padded, m),
                    Accum::Replace,
                    MatRef::from_column_major_slice(kernel, padded, m),
                    normaliser_view,
                    T::from_f64(1.0),
                    Par::Seq,
                );
                MatMut::from_row_major_slice_mut(out_block, rows, m).copy_from(
                    MatRef::from_column_major_slice(phi_columns, padded, m).subrows(0, rows),
                );
                clear_upper_vector_state();
                check_finite_block(out_block)
            },
        )
    }
}

/// The fewest rows a block is computed with. faer multiplies a single row by
/// a matrix-vector path, and products of at most 16³ multiply-adds with
/// nano-gemm; larger ones go to a kernel that sums the inner dimension in
/// chunks of 512. The paths round differently (for a single row always, for
/// the other two when the inner dimension exceeds 512), so a block is padded
/// to at least 2 rows, and to enough rows that each GEMM leaves nano-gemm
/// whenever a full block would. The test `a_rows_features_do_not_depend_on_
/// the_rows_beside_it` holds this to account when faer changes.
fn min_block_rows(m: usize, d: usize) -> usize {
    const NANO_GEMM_LIMIT: usize = 16 * 16 * 16;
    let mut rows = 2;
    // GEMM 1 is (rows x d) · (d x m), GEMM 2 (rows x m) · (m x m).
    for inner in [d, m] {
        let first_past_the_limit = NANO_GEMM_LIMIT / m.saturating_mul(inner).max(1) + 1;
        if first_past_the_limit <= RKHS_BLOCK_ROWS {
            rows = rows.max(first_past_the_limit);
        }
    }
    rows
}

/// A block's kernel values `exp(-gamma · max(||x||² + ||l||² - 2 x·l, 0))`
/// from the dot products `x·l` and the squared norms, both blocks stored
/// column-major (landmark k's values for the block's rows are contiguous),
/// compiled for the machine's widest vector unit (pulp picks it at run
/// time). The result does not depend on that choice: see [`super::exp`].
fn fill_kernel<T: EmbedFloat>(
    kernel: &mut [T],
    dots: &[f64],
    x_norms: &[f64],
    landmark_norms: &[f64],
    gamma: f64,
) {
    struct Fill<'a, T> {
        kernel: &'a mut [T],
        dots: &'a [f64],
        x_norms: &'a [f64],
        landmark_norms: &'a [f64],
        gamma: f64,
    }
    impl<T: EmbedFloat> pulp::WithSimd for Fill<'_, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            let rows = self.x_norms.len();
            for ((kernel_column, dot_column), &l_norm) in self
                .kernel
                .chunks_exact_mut(rows)
                .zip(self.dots.chunks_exact(rows))
                .zip(self.landmark_norms)
            {
                for ((k, &dot), &x_norm) in
                    kernel_column.iter_mut().zip(dot_column).zip(self.x_norms)
                {
                    let dist2 = (x_norm + l_norm - 2.0 * dot).max(0.0);
                    *k = T::kernel_exp(-self.gamma * dist2);
                }
            }
        }
    }
    pulp::Arch::new().dispatch(Fill {
        kernel,
        dots,
        x_norms,
        landmark_norms,
        gamma,
    });
}

/// One worker's buffers for a block of rows.
struct BlockScratch<T> {
    /// `X_b · Lᵀ` (rows x m, column-major), f64.
    distances: Vec<f64>,
    /// `K(X_b, L)` (rows x m, column-major) in the element type.
    kernel: Vec<T>,
    /// The block's rows minus the landmark mean (rows x d), f64.
    centred: Vec<f64>,
    /// Their squared norms.
    norms: Vec<f64>,
    /// `Phi_b` (rows x m, column-major), before it is copied to the output.
    phi_columns: Vec<T>,
}

/// Append `row - centre` to `out`, in f64.
fn centre_row<T: EmbedFloat>(row: &[T], centre: &[f64], out: &mut Vec<f64>) {
    out.extend(row.iter().zip(centre).map(|(v, c)| v.to_f64() - c));
}

/// X has rows and `dim` columns, and `capacity` holds its n x m output;
/// returns n·m.
pub(crate) fn check_shapes<T>(
    x: Matrix<'_, T>,
    dim: usize,
    m: usize,
    capacity: usize,
) -> Result<usize> {
    if x.rows() == 0 {
        return Err(Error::invalid(format!(
            "empty input: n = 0, d = {}, m = {m} (all must be at least 1)",
            x.cols()
        )));
    }
    if x.cols() != dim {
        return Err(Error::invalid(format!(
            "X has {} columns but the landmarks have {dim}",
            x.cols()
        )));
    }
    fitted_output(x.rows(), m, capacity, "out")
}

/// The element count of `rows` rows of `m` features, or an error when it
/// overflows.
pub(crate) fn output_len(rows: usize, m: usize) -> Result<usize> {
    rows.checked_mul(m)
        .ok_or_else(|| Error::invalid("n x m overflows"))
}

/// [`output_len`], checked against the `capacity` of the output `name`.
pub(crate) fn fitted_output(
    rows: usize,
    m: usize,
    capacity: usize,
    name: &'static str,
) -> Result<usize> {
    let needed = output_len(rows, m)?;
    if capacity < needed {
        return Err(Error::BufferTooSmall {
            name,
            needed,
            capacity,
        });
    }
    Ok(needed)
}

/// gamma finite and > 0, ridge finite and >= 0.
pub(crate) fn check_parameters(gamma: f64, ridge: f64) -> Result<()> {
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(Error::invalid(format!(
            "gamma is {gamma}: it must be finite and > 0"
        )));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(Error::invalid(format!(
            "ridge is {ridge}: it must be finite and >= 0"
        )));
    }
    Ok(())
}

/// A NaN or Inf in a finished block (an overflow in the GEMM) is an error.
fn check_finite_block<T: EmbedFloat>(block: &[T]) -> Result<()> {
    if block.iter().any(|v| !v.to_f64().is_finite()) {
        return Err(Error::Numeric(
            "the feature map produced NaN or Inf (an overflow in the kernel GEMM)".into(),
        ));
    }
    Ok(())
}

/// Clear the upper halves of the vector registers after a faer GEMM.
///
/// faer 0.24's x86 GEMM kernels return with the upper halves of the AVX
/// registers dirty (no `vzeroupper`). Until something clears them, every
/// legacy-SSE instruction pays a transition penalty: glibc's `expf` ran 65x
/// slower (72 ms instead of 1.1 ms for 256 x 1024 values), and so would the
/// caller's own code after helios returns. A function compiled for AVX that
/// touches a 256-bit register ends with `vzeroupper` (LLVM inserts it), so one
/// such call through pulp's runtime dispatch leaves the state clean; on
/// machines without AVX there is nothing to clear.
fn clear_upper_vector_state() {
    struct TouchWideRegister;
    impl pulp::WithSimd for TouchWideRegister {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
            let wide = std::hint::black_box(simd.splat_f32s(std::hint::black_box(1.0)));
            simd.reduce_sum_f32s(wide)
        }
    }
    std::hint::black_box(pulp::Arch::new().dispatch(TouchWideRegister));
}

pub(crate) fn check_finite<T: EmbedFloat>(matrix: Matrix<'_, T>, name: &str) -> Result<()> {
    for i in 0..matrix.rows() {
        if let Some(j) = matrix.row(i).iter().position(|v| !v.to_f64().is_finite()) {
            return Err(Error::Numeric(format!(
                "row {i} of {name} holds a NaN or infinite value (column {j})"
            )));
        }
    }
    Ok(())
}
