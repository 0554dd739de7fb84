//! `HeliosNystromEngine`: the C face of [`crate::embed::NystromEngine`], a
//! single-owner handle. The engine holds `float` or `double` data, chosen at
//! creation (or by the file it is loaded from); the `_f32` / `_f64` entry
//! points must match it.

use std::ffi::c_char;

use super::device::{device_rows, entered, HeliosDevice};
use super::embed::RawMatrix;
use super::handle::{
    output_slice, path_arg, read_options, report_needed, slice_in, to_threads, SingleOwner,
};
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use crate::embed::nystrom::check_build_shape;
use crate::embed::{
    stored_element_size, EmbedFloat, LandmarkSelection, NystromEngine, NystromOptions,
};
use crate::error::{Error, Result};
use crate::exec::Threads;
use crate::gpu::{GpuMatrix, GpuOutput};

/// `HeliosNystromOptions.selection`: m distinct rows drawn uniformly (seeded).
pub const HELIOS_LANDMARKS_UNIFORM: i32 = 0;
/// `HeliosNystromOptions.selection`: k-means++ seeding (seeded), which spreads
/// the landmarks over the data.
pub const HELIOS_LANDMARKS_KMEANS_PLUS_PLUS: i32 = 1;
/// An engine holding `float` data (the `_f32` entry points).
pub const HELIOS_DTYPE_F32: i32 = 0;
/// An engine holding `double` data (the `_f64` entry points).
pub const HELIOS_DTYPE_F64: i32 = 1;

/// The settings of a Nyström engine. Fill it with
/// `helios_nystrom_default_options()` and change the fields you need, so that
/// `struct_size` is right.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosNystromOptions {
    /// `sizeof(HeliosNystromOptions)`; read first, refused when it differs.
    pub struct_size: usize,
    /// Kernel width in `exp(-gamma ||x - y||²)`: finite and > 0. Default 1.
    pub gamma: f64,
    /// Added to the diagonal of `K(L, L)`: finite and >= 0. Default 1e-6.
    pub ridge: f64,
    /// Landmarks m, the output width: at least 1, at most the rows given to
    /// build. Default 256.
    pub landmark_count: usize,
    /// `HELIOS_LANDMARKS_UNIFORM` (default) or
    /// `HELIOS_LANDMARKS_KMEANS_PLUS_PLUS`.
    pub selection: i32,
    /// Seed of the landmark choice: the same data and seed give the same
    /// landmarks on every machine and thread count. Default 0.
    pub seed: u64,
    /// Workers, or `HELIOS_AUTO` (the default) for `helios_get_num_threads()`;
    /// 0 and counts above `HELIOS_MAX_THREADS` are invalid. The output bits do
    /// not depend on it.
    pub threads: usize,
}

/// A Nyström engine. Opaque; single-owner: a second thread that calls into an
/// engine while another is inside gets `HELIOS_ERR_BUSY`.
pub struct HeliosNystromEngine {
    inner: SingleOwner<AnyEngine>,
}

enum AnyEngine {
    F32(NystromEngine<f32>),
    F64(NystromEngine<f64>),
}

impl AnyEngine {
    fn options(&self) -> &NystromOptions {
        match self {
            AnyEngine::F32(engine) => engine.options(),
            AnyEngine::F64(engine) => engine.options(),
        }
    }

    /// (m, d, built).
    fn shape(&self) -> (usize, usize, bool) {
        let m = self.options().landmark_count;
        match self {
            AnyEngine::F32(engine) => engine.feature_map().map(|map| (m, map.dim(), true)),
            AnyEngine::F64(engine) => engine.feature_map().map(|map| (m, map.dim(), true)),
        }
        .unwrap_or((m, 0, false))
    }

    fn dtype(&self) -> i32 {
        match self {
            AnyEngine::F32(_) => HELIOS_DTYPE_F32,
            AnyEngine::F64(_) => HELIOS_DTYPE_F64,
        }
    }
}

/// The element types of the `_f32` / `_f64` entry points.
trait Element: EmbedFloat {
    fn engine(any: &mut AnyEngine) -> Result<&mut NystromEngine<Self>>;
}

fn wrong_dtype(any: &AnyEngine, called: &str) -> Error {
    let holds = if any.dtype() == HELIOS_DTYPE_F32 {
        "float (f32)"
    } else {
        "double (f64)"
    };
    Error::invalid(format!(
        "the engine holds {holds} data; a {called} entry point was called"
    ))
}

impl Element for f32 {
    fn engine(any: &mut AnyEngine) -> Result<&mut NystromEngine<f32>> {
        match any {
            AnyEngine::F32(engine) => Ok(engine),
            other => Err(wrong_dtype(other, "_f32")),
        }
    }
}

impl Element for f64 {
    fn engine(any: &mut AnyEngine) -> Result<&mut NystromEngine<f64>> {
        match any {
            AnyEngine::F64(engine) => Ok(engine),
            other => Err(wrong_dtype(other, "_f64")),
        }
    }
}

/// The engine behind a handle, entered for the calling thread.
///
/// # Safety
/// `engine` is NULL or a live engine handle for the whole call.
unsafe fn with_engine<R>(
    engine: *const HeliosNystromEngine,
    body: impl FnOnce(&mut AnyEngine) -> Result<R>,
) -> Result<R> {
    // SAFETY: per the contract, a non-NULL handle points to a live engine.
    let engine = unsafe { engine.as_ref() }.ok_or(Error::NullArgument("engine"))?;
    let mut guard = engine.inner.enter()?;
    body(&mut guard)
}

fn core_options(options: &HeliosNystromOptions) -> Result<NystromOptions> {
    let selection = match options.selection {
        HELIOS_LANDMARKS_UNIFORM => LandmarkSelection::Uniform,
        HELIOS_LANDMARKS_KMEANS_PLUS_PLUS => LandmarkSelection::KMeansPlusPlus,
        other => {
            return Err(Error::invalid(format!(
                "options.selection is {other}: use HELIOS_LANDMARKS_UNIFORM (0) or \
                 HELIOS_LANDMARKS_KMEANS_PLUS_PLUS (1)"
            )))
        }
    };
    Ok(NystromOptions {
        gamma: options.gamma,
        ridge: options.ridge,
        landmark_count: options.landmark_count,
        selection,
        seed: options.seed,
        threads: to_threads(options.threads),
    })
}

/// Hand a new engine to the caller's `*out`.
///
/// # Safety
/// `out` is non-NULL and writable.
unsafe fn hand_out(engine: AnyEngine, out: *mut *mut HeliosNystromEngine) {
    let handle = Box::into_raw(Box::new(HeliosNystromEngine {
        inner: SingleOwner::new("the Nyström engine", engine),
    }));
    // SAFETY: per the contract.
    unsafe { out.write(handle) };
}

/// The default options: gamma 1, ridge 1e-6, 256 uniform landmarks, seed 0,
/// `HELIOS_AUTO` threads, and the right `struct_size`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_nystrom_default_options() -> HeliosNystromOptions {
    let defaults = NystromOptions::default();
    HeliosNystromOptions {
        struct_size: std::mem::size_of::<HeliosNystromOptions>(),
        gamma: defaults.gamma,
        ridge: defaults.ridge,
        landmark_count: defaults.landmark_count,
        selection: HELIOS_LANDMARKS_UNIFORM,
        seed: defaults.seed,
        threads: HELIOS_AUTO,
    }
}

/// Create an engine that is not built yet and store it in `*out`. `options`
/// may be NULL for the defaults; `dtype` is `HELIOS_DTYPE_F32` or
/// `HELIOS_DTYPE_F64` and fixes which entry points the engine accepts. Free it
/// with `helios_nystrom_free`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (out), `HELIOS_ERR_INVALID_ARGUMENT`
/// (bad struct_size, gamma not finite or <= 0, ridge not finite or < 0,
/// landmark_count 0, unknown selection or dtype, threads 0 or > 1024).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `options` is NULL or a valid struct; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_new(
    options: *const HeliosNystromOptions,
    dtype: i32,
    out: *mut *mut HeliosNystromEngine,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: NULL or a valid struct per the contract.
        let options = unsafe {
            read_options(
                options,
                helios_nystrom_default_options(),
                "helios_nystrom_default_options",
            )
        }?;
        let options = core_options(&options)?;
        let engine = match dtype {
            HELIOS_DTYPE_F32 => AnyEngine::F32(NystromEngine::new(options)?),
            HELIOS_DTYPE_F64 => AnyEngine::F64(NystromEngine::new(options)?),
            other => {
                return Err(Error::invalid(format!(
                    "dtype is {other}: use HELIOS_DTYPE_F32 (0) or HELIOS_DTYPE_F64 (1)"
                )))
            }
        };
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(engine, out) };
        Ok(())
    })
}

/// Free an engine. NULL does nothing and returns `HELIOS_OK`. An engine that
/// another thread is inside is not freed: `HELIOS_ERR_BUSY`. As with `free()`,
/// no call may use the handle once it is freed, and none may start while it
/// is being freed.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or a live engine that no call will use afterwards.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_free(engine: *mut HeliosNystromEngine) -> HeliosStatus {
    ffi_call(|| {
        if engine.is_null() {
            return Ok(());
        }
        // SAFETY: a live engine per the contract.
        let guard = unsafe { &*engine }.inner.enter()?;
        // Keep the in-use flag raised until the memory is gone, so that a
        // thread entering now gets BUSY instead of a dangling engine.
        std::mem::forget(guard);
        // SAFETY: made by `Box::into_raw` in `hand_out`; held by this thread
        // (entered above, never released) and not used again per the contract.
        drop(unsafe { Box::from_raw(engine) });
        Ok(())
    })
}

/// Write the engine's options to `*out` (a loaded engine reports the options
/// it was saved with and `HELIOS_AUTO` threads).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_get_options(
    engine: *const HeliosNystromEngine,
    out: *mut HeliosNystromOptions,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let options = unsafe { with_engine(engine, |any| Ok(*any.options())) }?;
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        let value = HeliosNystromOptions {
            struct_size: std::mem::size_of::<HeliosNystromOptions>(),
            gamma: options.gamma,
            ridge: options.ridge,
            landmark_count: options.landmark_count,
            selection: match options.selection {
                LandmarkSelection::Uniform => HELIOS_LANDMARKS_UNIFORM,
                LandmarkSelection::KMeansPlusPlus => HELIOS_LANDMARKS_KMEANS_PLUS_PLUS,
            },
            seed: options.seed,
            threads: match options.threads {
                Threads::Auto => HELIOS_AUTO,
                Threads::Exactly(n) => n,
            },
        };
        // SAFETY: non-NULL, writable per the contract.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Change the worker count of later calls: a count or `HELIOS_AUTO`. The
/// output bits do not depend on it.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_ARGUMENT` (0 or > 1024).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_set_threads(
    engine: *mut HeliosNystromEngine,
    threads: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| match any {
                AnyEngine::F32(e) => e.set_threads(to_threads(threads)),
                AnyEngine::F64(e) => e.set_threads(to_threads(threads)),
            })
        }
    })
}

/// Describe the engine: `*out_dtype` (`HELIOS_DTYPE_F32` or `_F64`),
/// `*out_landmark_count` (m, the output width), `*out_dim` (d, the input
/// width, 0 before build) and `*out_built` (1 once built or loaded, else 0).
/// Each out-pointer may be NULL.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (engine), `HELIOS_ERR_BUSY`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; each out-pointer is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_info(
    engine: *const HeliosNystromEngine,
    out_dtype: *mut i32,
    out_landmark_count: *mut usize,
    out_dim: *mut usize,
    out_built: *mut i32,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let (dtype, (m, d, built)) =
            unsafe { with_engine(engine, |any| Ok((any.dtype(), any.shape()))) }?;
        // SAFETY: each pointer is NULL or writable per the contract.
        unsafe {
            if let Some(p) = out_dtype.as_mut() {
                *p = dtype;
            }
            if let Some(p) = out_landmark_count.as_mut() {
                *p = m;
            }
            if let Some(p) = out_dim.as_mut() {
                *p = d;
            }
            if let Some(p) = out_built.as_mut() {
                *p = i32::from(built);
            }
        }
        Ok(())
    })
}

/// The raw parts of an output buffer.
type RawOut<T> = (*mut T, usize, *mut usize);

/// # Safety
/// The contract of `helios_nystrom_build_f32`.
unsafe fn build_c<T: Element>(
    engine: *mut HeliosNystromEngine,
    x: RawMatrix<T>,
    (out, capacity, out_needed): RawOut<T>,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let engine = T::engine(any)?;
                let m = engine.options().landmark_count;
                // Refuse shapes no buffer could fix before asking for one.
                check_build_shape(x.rows, x.cols, m)?;
                let needed = report_needed(x.rows.checked_mul(m), out_needed)?;
                let x = x.borrow("x")?;
                let out = output_slice(out, capacity, needed, ("out", &[(x.data(), "x")]))?;
                engine.build_into(x, out)
            })
        }
    })
}

/// # Safety
/// The contract of `helios_nystrom_transform_f32`.
unsafe fn transform_c<T: Element>(
    engine: *mut HeliosNystromEngine,
    x: RawMatrix<T>,
    (out, capacity, out_needed): RawOut<T>,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let engine = T::engine(any)?;
                let map = engine.feature_map().ok_or_else(not_built)?;
                let needed = report_needed(x.rows.checked_mul(map.landmark_count()), out_needed)?;
                let x = x.borrow("x")?;
                let out = output_slice(out, capacity, needed, ("out", &[(x.data(), "x")]))?;
                engine.transform_into(x, out)
            })
        }
    })
}

fn not_built() -> Error {
    Error::InvalidState("the Nyström engine is not built yet: call build first".into())
}

/// # Safety
/// The contract of `helios_nystrom_update_f32`.
unsafe fn update_c<T: Element>(
    engine: *mut HeliosNystromEngine,
    x_new: RawMatrix<T>,
    (phi_old, rows_old): (*const T, usize),
    (out, capacity, out_needed): RawOut<T>,
    out_name: &'static str,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let engine = T::engine(any)?;
                let m = engine.feature_map().ok_or_else(not_built)?.landmark_count();
                let needed = rows_old
                    .checked_add(x_new.rows)
                    .and_then(|r| r.checked_mul(m));
                let needed = report_needed(needed, out_needed)?;
                let old_len = rows_old * m; // <= needed, which did not overflow
                let x_new = x_new.borrow("x_new")?;
                if std::ptr::eq(phi_old, out) {
                    // In place: the old rows are already where they belong,
                    // and only the new ones are borrowed, so a reader of the
                    // old rows on another thread is not disturbed.
                    if capacity < needed {
                        return Err(Error::BufferTooSmall {
                            name: out_name,
                            needed,
                            capacity,
                        });
                    }
                    if out.is_null() {
                        // Checked here: an offset NULL is no longer NULL.
                        return Err(Error::NullArgument(out_name));
                    }
                    let new_rows = output_slice(
                        out.wrapping_add(old_len),
                        capacity - old_len,
                        needed - old_len,
                        (out_name, &[(x_new.data(), "x_new")]),
                    )?;
                    return engine.update_into(x_new, new_rows, 0).map(drop);
                }
                let phi_old = match old_len {
                    0 => &[][..],
                    len => slice_in(phi_old, len, "phi_old")?,
                };
                let inputs = [(x_new.data(), "x_new"), (phi_old, "phi_old")];
                let buffer = output_slice(out, capacity, needed, (out_name, &inputs))?;
                engine.update_into(x_new, buffer, rows_old)?;
                buffer[..old_len].copy_from_slice(phi_old);
                Ok(())
            })
        }
    })
}

/// # Safety
/// The contract of `helios_nystrom_landmarks_f32`.
unsafe fn copy_out_c<T: Element>(
    engine: *const HeliosNystromEngine,
    what: fn(&crate::embed::FeatureMap<T>) -> &[T],
    (out, capacity, out_needed): RawOut<T>,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let engine = T::engine(any)?;
                let values = what(engine.feature_map().ok_or_else(not_built)?);
                let needed = report_needed(Some(values.len()), out_needed)?;
                output_slice(out, capacity, needed, ("out", &[]))?.copy_from_slice(values);
                Ok(())
            })
        }
    })
}

/// Choose `landmark_count` landmarks among the n rows of `x` (n x d,
/// leading dimension `ldx` >= d), cache `(K(L, L) + ridge·I)^(-1/2)` and write
/// `Phi(x)` (n x m, row-major) to `out`. Building again replaces the
/// landmarks. `out_needed`, when not NULL, receives n·m. On error the engine
/// is unchanged.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_ARGUMENT` (n or d 0, m > n, ldx < d, an f64 engine,
/// out overlapping x), `HELIOS_ERR_BUFFER_TOO_SMALL`, `HELIOS_ERR_NUMERIC`
/// (NaN or Inf in x, or a squared distance beyond the double range: the
/// message names the row; or a failed eigendecomposition of K(L, L)).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `x` points to `(n - 1) * ldx + d` elements;
/// `out` to `out_capacity` writable elements; `out_needed` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_build_f32(
    engine: *mut HeliosNystromEngine,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    // SAFETY: forwarded caller contract.
    unsafe { build_c(engine, x, (out, out_capacity, out_needed)) }
}

/// Write `Phi(x)` (n x m) for `x` (n x d, leading dimension `ldx`) with
/// the engine's landmarks to `out`, without changing the engine.
/// `out_needed`, when not NULL, receives n·m.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_STATE` (not built), `HELIOS_ERR_INVALID_ARGUMENT` (n or
/// d 0, d differing from the landmarks', ldx < d, an f64 engine, out overlapping x),
/// `HELIOS_ERR_BUFFER_TOO_SMALL`, `HELIOS_ERR_NUMERIC` (NaN or Inf in x, or a
/// squared distance beyond the double range; the message names the row).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_build_f32`.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_transform_f32(
    engine: *mut HeliosNystromEngine,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    // SAFETY: forwarded caller contract.
    unsafe { transform_c(engine, x, (out, out_capacity, out_needed)) }
}

/// Write `[phi_old; Phi(x_new)]` to `out`: the `rows_old` x m rows of
/// `phi_old` followed by the embedding of the `n_new` rows of `x_new`
/// (leading dimension `ldx`). `phi_old` may be NULL when `rows_old` is 0.
/// When `phi_old == out` the old rows stay where they are and only the new
/// rows are written, so the cost depends on n_new only (as with
/// `helios_nystrom_update_inplace_f32`); otherwise `out` must not overlap the
/// inputs and the old rows are copied. `out_needed`, when not NULL, receives
/// (rows_old + n_new)·m. The new rows equal a transform of `x_new`, bit for
/// bit, so build(X1) then update(X2) equals transform([X1; X2]).
///
/// Errors: as for `helios_nystrom_transform_f32`, and
/// `HELIOS_ERR_INVALID_ARGUMENT` for sizes that overflow.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `phi_old` is NULL or points to rows_old·m elements; the rest as for
/// `helios_nystrom_build_f32`.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_update_f32(
    engine: *mut HeliosNystromEngine,
    x_new: *const f32,
    n_new: usize,
    d: usize,
    ldx: usize,
    phi_old: *const f32,
    rows_old: usize,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x_new = RawMatrix::new(x_new, n_new, d, ldx);
    let old = (phi_old, rows_old);
    // SAFETY: forwarded caller contract.
    unsafe { update_c(engine, x_new, old, (out, out_capacity, out_needed), "out") }
}

/// Append `Phi(x_new)` to a caller buffer with spare rows: `buffer` holds
/// `rows_used` rows of m values and room for `buffer_capacity` elements; the
/// n_new new rows are written after the used ones and nothing else is
/// touched, so the cost depends on n_new only. `buffer_needed`, when not
/// NULL, receives (rows_used + n_new)·m; the new row count is
/// rows_used + n_new.
///
/// Errors: as for `helios_nystrom_transform_f32`;
/// `HELIOS_ERR_BUFFER_TOO_SMALL` when the spare room is short (nothing is
/// written).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `buffer` points to `buffer_capacity` writable elements that do not overlap
/// `x_new`; the rest as for `helios_nystrom_build_f32`.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_update_inplace_f32(
    engine: *mut HeliosNystromEngine,
    x_new: *const f32,
    n_new: usize,
    d: usize,
    ldx: usize,
    buffer: *mut f32,
    buffer_capacity: usize,
    rows_used: usize,
    buffer_needed: *mut usize,
) -> HeliosStatus {
    let x_new = RawMatrix::new(x_new, n_new, d, ldx);
    let old = (buffer.cast_const(), rows_used);
    // SAFETY: `buffer` as both the old rows and the output is the in-place
    // case of `update_c`; the rest is the forwarded caller contract.
    unsafe {
        update_c(
            engine,
            x_new,
            old,
            (buffer, buffer_capacity, buffer_needed),
            "buffer",
        )
    }
}

/// Copy the m x d landmarks (row-major) to `out`; `out_needed`, when not
/// NULL, receives m·d.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_STATE` (not built), `HELIOS_ERR_INVALID_ARGUMENT` (an
/// f64 engine), `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `out` points to `out_capacity` writable
/// elements; `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_landmarks_f32(
    engine: *const HeliosNystromEngine,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        copy_out_c(
            engine,
            |map| map.landmarks(),
            (out, out_capacity, out_needed),
        )
    }
}

/// Copy the cached m x m normaliser `(K(L, L) + ridge·I)^(-1/2)`
/// (row-major, symmetric) to `out`, so that `Phi(x) = K(x, L) · normaliser`;
/// `out_needed`, when not NULL, receives m·m.
///
/// Errors: as for `helios_nystrom_landmarks_f32`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_landmarks_f32`.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_normaliser_f32(
    engine: *const HeliosNystromEngine,
    out: *mut f32,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        copy_out_c(
            engine,
            |map| map.normaliser(),
            (out, out_capacity, out_needed),
        )
    }
}

/// `helios_nystrom_build_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_build_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_build_f64(
    engine: *mut HeliosNystromEngine,
    x: *const f64,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    // SAFETY: forwarded caller contract.
    unsafe { build_c(engine, x, (out, out_capacity, out_needed)) }
}

/// `helios_nystrom_transform_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_build_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_transform_f64(
    engine: *mut HeliosNystromEngine,
    x: *const f64,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x = RawMatrix::new(x, n, d, ldx);
    // SAFETY: forwarded caller contract.
    unsafe { transform_c(engine, x, (out, out_capacity, out_needed)) }
}

/// `helios_nystrom_update_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_update_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_update_f64(
    engine: *mut HeliosNystromEngine,
    x_new: *const f64,
    n_new: usize,
    d: usize,
    ldx: usize,
    phi_old: *const f64,
    rows_old: usize,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    let x_new = RawMatrix::new(x_new, n_new, d, ldx);
    let old = (phi_old, rows_old);
    // SAFETY: forwarded caller contract.
    unsafe { update_c(engine, x_new, old, (out, out_capacity, out_needed), "out") }
}

/// `helios_nystrom_update_inplace_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_update_inplace_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_update_inplace_f64(
    engine: *mut HeliosNystromEngine,
    x_new: *const f64,
    n_new: usize,
    d: usize,
    ldx: usize,
    buffer: *mut f64,
    buffer_capacity: usize,
    rows_used: usize,
    buffer_needed: *mut usize,
) -> HeliosStatus {
    let x_new = RawMatrix::new(x_new, n_new, d, ldx);
    let old = (buffer.cast_const(), rows_used);
    // SAFETY: `buffer` as both the old rows and the output is the in-place
    // case of `update_c`; the rest is the forwarded caller contract.
    unsafe {
        update_c(
            engine,
            x_new,
            old,
            (buffer, buffer_capacity, buffer_needed),
            "buffer",
        )
    }
}

/// `helios_nystrom_landmarks_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_landmarks_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_landmarks_f64(
    engine: *const HeliosNystromEngine,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        copy_out_c(
            engine,
            |map| map.landmarks(),
            (out, out_capacity, out_needed),
        )
    }
}

/// `helios_nystrom_normaliser_f32` for an engine of `double`s.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_landmarks_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_normaliser_f64(
    engine: *const HeliosNystromEngine,
    out: *mut f64,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        copy_out_c(
            engine,
            |map| map.normaliser(),
            (out, out_capacity, out_needed),
        )
    }
}

/// Save the built engine to the file at `path` (`path_len` bytes of UTF-8, no
/// terminating NUL needed): a versioned, checksummed binary file, written to a
/// temporary file in the same folder and renamed over `path`, so a reader
/// never sees half a file.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_STATE` (not built), `HELIOS_ERR_INVALID_ARGUMENT` (path
/// empty, not UTF-8 or holding a NUL), `HELIOS_ERR_IO`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `path` is NULL or points to `path_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_save(
    engine: *const HeliosNystromEngine,
    path: *const c_char,
    path_len: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let path = path_arg(path, path_len)?;
                match any {
                    AnyEngine::F32(e) => e.save(path),
                    AnyEngine::F64(e) => e.save(path),
                }
            })
        }
    })
}

fn engine_from_bytes(bytes: &[u8], source: &str) -> Result<AnyEngine> {
    Ok(match stored_element_size(bytes, source)? {
        4 => AnyEngine::F32(NystromEngine::from_bytes(bytes, source)?),
        _ => AnyEngine::F64(NystromEngine::from_bytes(bytes, source)?),
    })
}

/// Load an engine saved by `helios_nystrom_save` and store it in `*out`; its
/// dtype is the one it was saved with (see `helios_nystrom_info`) and its
/// threads `HELIOS_AUTO`. It gives the same bits as the saved engine.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (path),
/// `HELIOS_ERR_IO` (cannot read), `HELIOS_ERR_FORMAT` (not an engine file,
/// truncated, corrupt, or a newer format version).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `path` is NULL or points to `path_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_load(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut HeliosNystromEngine,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let path = unsafe { path_arg(path, path_len) }?;
        let bytes = crate::persist::read_file(path)?;
        let engine = engine_from_bytes(&bytes, &path.display().to_string())?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(engine, out) };
        Ok(())
    })
}

/// Serialise the built engine into `out` (the bytes of the file
/// `helios_nystrom_save` writes), for pickling or sending over a network.
/// `out_needed`, when not NULL, receives the byte count: call with
/// `out_capacity` 0 to learn it.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_INVALID_STATE` (not built), `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `out` points to `out_capacity` writable bytes;
/// `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_to_bytes(
    engine: *const HeliosNystromEngine,
    out: *mut u8,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let bytes = match any {
                    AnyEngine::F32(e) => e.to_bytes(),
                    AnyEngine::F64(e) => e.to_bytes(),
                }?;
                let needed = report_needed(Some(bytes.len()), out_needed)?;
                output_slice(out, out_capacity, needed, ("out", &[]))?.copy_from_slice(&bytes);
                Ok(())
            })
        }
    })
}

/// An engine from the bytes of `helios_nystrom_to_bytes`, stored in `*out`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (`len`
/// beyond the address space), `HELIOS_ERR_FORMAT` (not engine bytes,
/// truncated or corrupt).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_from_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut HeliosNystromEngine,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let bytes = unsafe { slice_in(data, len, "data") }?;
        let engine = engine_from_bytes(bytes, "the engine bytes")?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(engine, out) };
        Ok(())
    })
}

/// Run the engine's later calls on `device` (NULL: on the CPU again). A
/// built engine uploads its feature map to the device now (the landmarks,
/// their norms and the m x m normaliser, f32), and a later build replaces
/// it; the landmarks are still chosen, and the normaliser computed, on the
/// CPU in double precision. On a device every `_f32` call runs there: host
/// arrays are staged through the default stream, and the
/// `helios_nystrom_*_device_f32` functions take device arrays and a stream.
/// Results match the CPU engine's within 1e-5 of the output's largest
/// magnitude (another GEMM, not the same bits) and repeat bit for bit on
/// one device. The engine keeps its own reference to the device: the
/// caller may free its handle. Files saved from an engine on a device load
/// on the CPU.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (engine), `HELIOS_ERR_BUSY`,
/// `HELIOS_ERR_UNSUPPORTED` (an f64 engine: the GPU path is f32),
/// `HELIOS_ERR_OUT_OF_MEMORY` (the map does not fit in the device's free
/// memory), `HELIOS_ERR_DEVICE`. On error the engine is unchanged.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` and `device` are each NULL or live.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_set_device(
    engine: *mut HeliosNystromEngine,
    device: *const HeliosDevice,
) -> HeliosStatus {
    ffi_call(|| {
        let device = match device.is_null() {
            true => None,
            // SAFETY: per the contract.
            false => Some(unsafe { entered(device) }?.device.clone()),
        };
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| match any {
                AnyEngine::F32(e) => e.set_device(device),
                AnyEngine::F64(e) => e.set_device(device),
            })
        }
    })
}

/// Whether the engine runs on a device: `*out_on_device` receives 1 or 0.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUSY`.
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `out_on_device` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_on_device(
    engine: *const HeliosNystromEngine,
    out_on_device: *mut i32,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let on_device = unsafe {
            with_engine(engine, |any| {
                Ok(match any {
                    AnyEngine::F32(e) => e.device().is_some(),
                    AnyEngine::F64(e) => e.device().is_some(),
                })
            })
        }?;
        if out_on_device.is_null() {
            return Err(Error::NullArgument("out_on_device"));
        }
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out_on_device.write(i32::from(on_device)) };
        Ok(())
    })
}

/// Run `body` on the f32 engine behind `engine` with device arguments.
///
/// # Safety
/// `engine` is NULL or live; the arguments describe device memory per the
/// contract of the calling entry point.
unsafe fn device_call(
    engine: *mut HeliosNystromEngine,
    x: GpuMatrix<'static>,
    out: GpuOutput<'static>,
    stream: *mut std::ffi::c_void,
    body: impl FnOnce(
        &mut NystromEngine<f32>,
        GpuMatrix<'static>,
        GpuOutput<'static>,
        usize,
    ) -> Result<()>,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        unsafe {
            with_engine(engine, |any| {
                let AnyEngine::F32(e) = any else {
                    return Err(f64_on_device());
                };
                body(e, x, out, stream as usize)
            })
        }
    })
}

/// What the `_device_f32` entry points answer an f64 engine.
fn f64_on_device() -> Error {
    Error::Unsupported(
        "the GPU path computes in f32: create the engine with HELIOS_DTYPE_F32 to run it on a device"
            .into(),
    )
}

/// `helios_nystrom_build_f32` on the engine's device (`helios_nystrom_set_device`)
/// with device arrays: `x` (n x d, leading dimension `ldx`) and `out` (n x m,
/// `out_capacity` floats) in device memory of the device's context. The work
/// runs on `stream` (a `CUstream`; NULL for the default stream), after the
/// work queued there before, and the call returns once it is done. The
/// chosen landmark rows are copied to the host (all of `x` with k-means++
/// selection, which runs on the CPU). On error the engine is unchanged.
///
/// Errors: those of `helios_nystrom_build_f32` and
/// `helios_rkhs_embed_device_f32` (NULL or host pointers, too small an
/// output, out of device memory), `HELIOS_ERR_INVALID_STATE` (no device
/// set), `HELIOS_ERR_UNSUPPORTED` (built without the `cuda` feature, or an
/// f64 engine).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// `engine` is NULL or live; `x` and `out` are device memory holding the
/// elements described (or NULL); `stream` is NULL or a live stream of the
/// device's context that outlives the call.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_build_device_f32(
    engine: *mut HeliosNystromEngine,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f32,
    out_capacity: usize,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    let out = GpuOutput::Device {
        ptr: out as u64,
        len: out_capacity,
    };
    let run =
        |engine: &mut NystromEngine<f32>, x, out, stream| engine.build_on_device(x, out, stream);
    // SAFETY: forwarded caller contract.
    unsafe { device_call(engine, device_rows(x, n, d, ldx), out, stream, run) }
}

/// `helios_nystrom_transform_f32` on the engine's device with device
/// arrays `x` (n x d, `ldx`) and `out` (n x m, `out_capacity` floats), on
/// `stream` (NULL for the default stream); returns once the stream has
/// finished the work.
///
/// Errors: as `helios_nystrom_build_device_f32`, plus
/// `HELIOS_ERR_INVALID_STATE` (not built).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_build_device_f32`.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_transform_device_f32(
    engine: *mut HeliosNystromEngine,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    out: *mut f32,
    out_capacity: usize,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    let out = GpuOutput::Device {
        ptr: out as u64,
        len: out_capacity,
    };
    let run = |engine: &mut NystromEngine<f32>, x, out, stream| {
        engine.transform_on_device(x, out, stream)
    };
    // SAFETY: forwarded caller contract.
    unsafe { device_call(engine, device_rows(x, n, d, ldx), out, stream, run) }
}

/// `helios_nystrom_update_inplace_f32` on the engine's device: write
/// `Phi(x_new)` (`x_new` n_new x d in device memory, `ldx`) into the device
/// buffer `buffer` (`buffer_capacity` floats, rows of m) after its first
/// `rows_used` rows, on `stream` (NULL for the default stream); only the
/// new rows are written, and `*out_rows` (when not NULL) receives
/// `rows_used + n_new`.
///
/// Errors: as `helios_nystrom_transform_device_f32` (the buffer too small:
/// `HELIOS_ERR_BUFFER_TOO_SMALL` naming `buffer`).
///
/// Thread safety: single-owner (one thread at a time; a second thread gets
/// HELIOS_ERR_BUSY).
///
/// # Safety
/// As for `helios_nystrom_build_device_f32`; `out_rows` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_nystrom_update_device_f32(
    engine: *mut HeliosNystromEngine,
    x_new: *const f32,
    n_new: usize,
    d: usize,
    ldx: usize,
    buffer: *mut f32,
    buffer_capacity: usize,
    rows_used: usize,
    out_rows: *mut usize,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let rows = unsafe {
            with_engine(engine, |any| {
                let buffer = GpuOutput::Device {
                    ptr: buffer as u64,
                    len: buffer_capacity,
                };
                let AnyEngine::F32(e) = any else {
                    return Err(f64_on_device());
                };
                e.update_on_device(
                    device_rows(x_new, n_new, d, ldx),
                    buffer,
                    rows_used,
                    stream as usize,
                )
            })
        }?;
        // SAFETY: NULL or writable per the contract.
        if let Some(out) = unsafe { out_rows.as_mut() } {
            *out = rows;
        }
        Ok(())
    })
}
