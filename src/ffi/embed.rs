//! `helios_rkhs_embed_f32` / `_f64`: the stateless RBF (Nyström) feature map.

use super::handle::{output_slice, report_needed, slice_in};
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use crate::embed::{rkhs_embed_into, EmbedFloat, Matrix};
use crate::error::{Error, Result};
use crate::exec::Threads;

/// A caller's row-major matrix as raw parts.
pub(crate) struct RawMatrix<T> {
    data: *const T,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    stride: usize,
}

impl<T> RawMatrix<T> {
    pub(crate) fn new(data: *const T, rows: usize, cols: usize, stride: usize) -> RawMatrix<T> {
        RawMatrix {
            data,
            rows,
            cols,
            stride,
        }
    }

    /// The matrix as a checked borrow.
    ///
    /// # Safety
    /// `data` is NULL or points to `(rows - 1) * stride + cols` readable
    /// elements (none when `rows` is 0) that stay unchanged for the borrow.
    pub(crate) unsafe fn borrow<'a>(&self, name: &'static str) -> Result<Matrix<'a, T>> {
        let len = match self.rows {
            0 => 0,
            rows => (rows - 1)
                .checked_mul(self.stride)
                .and_then(|v| v.checked_add(self.cols))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "`{name}`: {rows} rows of stride {} overflow",
                        self.stride
                    ))
                })?,
        };
        // SAFETY: per the contract; `slice_in` checks NULL, alignment, overflow.
        let data = unsafe { slice_in(self.data, len, name) }?;
        Matrix::with_stride(data, self.rows, self.cols, self.stride)
    }
}

/// The shared body of the f32 and f64 entry points.
///
/// # Safety
/// The pointer contract of `helios_rkhs_embed_f32`.
unsafe fn rkhs_embed_c<T: EmbedFloat>(
    x: RawMatrix<T>,
    landmarks: RawMatrix<T>,
    gamma: f64,
    ridge: f64,
    threads: usize,
    out: (*mut T, usize, *mut usize),
) -> HeliosStatus {
    let (out, out_capacity, out_needed) = out;
    ffi_call(|| {
        // SAFETY: per the contract.
        let needed = unsafe { report_needed(x.rows.checked_mul(landmarks.rows), out_needed) }?;
        let x = unsafe { x.borrow("x") }?;
        let landmarks = unsafe { landmarks.borrow("landmarks") }?;
        let inputs = [(x.data(), "x"), (landmarks.data(), "landmarks")];
        // SAFETY: per the contract; checked against the inputs.
        let out = unsafe { output_slice(out, out_capacity, needed, ("out", &inputs)) }?;
        let threads = match threads {
            HELIOS_AUTO => Threads::Auto,
            n => Threads::Exactly(n),
        };
        rkhs_embed_into(x, landmarks, gamma, ridge, threads, out)
    })
}

/// The RBF (Nyström) feature map `Phi = K(X, L) · (K(L, L) + ridge·I)^(-1/2)`
/// with `k(x, l) = exp(-gamma ||x - l||²)`, written to `out` as an n x m
/// row-major matrix, so that `Phi(X) Phi(Y)ᵀ ≈ K(X, Y)`.
///
/// `x` is n x d with leading dimension `ldx` (≥ d: row i starts at
/// `x[i * ldx]`), `landmarks` m x d with leading dimension `ldl`. The m x m
/// normaliser comes from an eigendecomposition in double precision whatever
/// the input type; eigenvalues at or below `m · DBL_EPSILON · λ_max` count as
/// 0 (a pseudo-inverse), so duplicate landmarks give finite output. With
/// `ridge = 0` and the same landmarks, in the same order, the result equals
/// scikit-learn's `Nystroem(kernel="rbf", gamma=gamma).transform`. Distances
/// are computed in double precision, relative to the landmarks' mean. `threads` is a worker
/// count or `HELIOS_AUTO`; the output is bit-identical for every count.
/// `out_needed`, when not NULL, receives n·m.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (x, landmarks or out NULL),
/// `HELIOS_ERR_INVALID_ARGUMENT` (n, m or d zero, ldx < d, ldl < d, sizes
/// overflowing, gamma not finite or <= 0, ridge not finite or < 0, threads 0
/// or > 1024, out overlapping an input), `HELIOS_ERR_BUFFER_TOO_SMALL` (out_capacity < n·m),
/// `HELIOS_ERR_NUMERIC` (a NaN or Inf in x or the landmarks, or a squared
/// distance beyond the double range; the message names the row).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `x` points to `(n - 1) * ldx + d` floats and `landmarks` to
/// `(m - 1) * ldl + d` (or either is NULL); `out` to `out_capacity` writable
/// floats that do not overlap the inputs; `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_rkhs_embed_f32(
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    landmarks: *const f32,
    m: usize,
    ldl: usize,
    gamma: f64,
    ridge: f64,
    threads: usize,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    let landmarks = RawMatrix::new(landmarks, m, d, ldl);
    // SAFETY: forwarded caller contract.
    unsafe {
        rkhs_embed_c(
            x,
            landmarks,
            gamma,
            ridge,
            threads,
            (out, out_capacity, out_needed),
        )
    }
}

/// `helios_rkhs_embed_f32` for `double` matrices: the same contract, errors
/// and guarantees.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// As for `helios_rkhs_embed_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_rkhs_embed_f64(
    x: *const f64,
    n: usize,
    d: usize,
    ldx: usize,
    landmarks: *const f64,
    m: usize,
    ldl: usize,
    gamma: f64,
    ridge: f64,
    threads: usize,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    let landmarks = RawMatrix::new(landmarks, m, d, ldl);
    // SAFETY: forwarded caller contract.
    unsafe {
        rkhs_embed_c(
            x,
            landmarks,
            gamma,
            ridge,
            threads,
            (out, out_capacity, out_needed),
        )
    }
}
