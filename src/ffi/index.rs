//! `HeliosVectorIndex`: the C face of [`crate::index::VectorIndex`], a
//! shareable, reference-counted handle. Every call takes a reference of its
//! own for its duration, so the memory outlives a `helios_index_free` from
//! another thread until the calls inside have returned.

use std::ffi::c_char;
use std::sync::Arc;

use super::embed::RawMatrix;
use super::handle::{
    address_range, output_slice, path_arg, ranges_overlap, read_options, release, report_needed,
    retain, share, slice_in, to_threads,
};
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use crate::embed::Matrix;
use crate::error::{Error, Result};
use crate::index::{IndexKind, IndexOptions, Metric, SearchOptions, VectorIndex};

/// `HeliosIndexOptions.kind`: exact search over the stored vectors.
pub const HELIOS_INDEX_FLAT: i32 = 0;
/// `HeliosIndexOptions.kind`: product-quantized codes (trained first).
pub const HELIOS_INDEX_PQ: i32 = 1;
/// `HeliosIndexOptions.metric`: squared Euclidean distance (smaller is nearer).
pub const HELIOS_METRIC_L2: i32 = 0;
/// `HeliosIndexOptions.metric`: inner product (larger is nearer; results are
/// sorted by decreasing score).
pub const HELIOS_METRIC_INNER_PRODUCT: i32 = 1;
/// The id that pads a search result row when the index holds fewer than k
/// vectors (`UINT64_MAX`; -1 read as `int64_t`, as faiss does).
pub const HELIOS_NO_ID: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// The settings of a vector index, fixed at creation (except the thread
/// count). Fill it with `helios_index_default_options()` and change the
/// fields you need, so that `struct_size` is right.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosIndexOptions {
    /// `sizeof(HeliosIndexOptions)`; read first, refused when it differs.
    pub struct_size: usize,
    /// `HELIOS_INDEX_FLAT` (default) or `HELIOS_INDEX_PQ`.
    pub kind: i32,
    /// `HELIOS_METRIC_L2` (default) or `HELIOS_METRIC_INNER_PRODUCT`.
    pub metric: i32,
    /// The vector dimension d: 1 to 2^24. Default 0, so it must be set.
    pub dim: usize,
    /// PQ: sub-spaces M, 1 to 65536, dividing `dim`. Default 16.
    pub pq_m: usize,
    /// PQ: bits per code, 1 to 8 (2^nbits centroids per sub-space). Default 8.
    pub pq_nbits: u32,
    /// PQ: k-means iterations per sub-space, 1 to 1000. Default 25.
    pub train_iterations: usize,
    /// PQ: seed of the k-means initialisation and the training sample: the
    /// same data and seed give the same codebooks on every machine and thread
    /// count. Default 0.
    pub seed: u64,
    /// Workers for train, add and searches that name none, or `HELIOS_AUTO`
    /// (default). Results do not depend on it.
    pub threads: usize,
}

/// The settings of one search call (they travel with the call, never as
/// state of the shared index). Fill it with
/// `helios_index_default_search_options()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosSearchOptions {
    /// `sizeof(HeliosSearchOptions)`; read first, refused when it differs.
    pub struct_size: usize,
    /// Workers for this call, or `HELIOS_AUTO` (default) for the index's
    /// setting. Results do not depend on it.
    pub threads: usize,
}

/// A vector index. Opaque; shareable: searches run concurrently, while
/// train, add and remove wait for each other and for the searches in flight,
/// so a search sees the index before or after a write, never half of one.
pub struct HeliosVectorIndex {
    index: VectorIndex,
}

/// The index behind a handle, with a reference of the call's own.
///
/// # Safety
/// `index` is NULL or a live index handle.
unsafe fn entered(index: *const HeliosVectorIndex) -> Result<Arc<HeliosVectorIndex>> {
    // SAFETY: per the contract.
    unsafe { retain(index) }.ok_or(Error::NullArgument("index"))
}

/// `n` vectors of `dim` values at `data`, as a matrix.
///
/// # Safety
/// `data` is NULL or points to `n * dim` readable floats.
unsafe fn vectors<'a>(
    data: *const f32,
    n: usize,
    dim: usize,
    name: &'static str,
) -> Result<Matrix<'a, f32>> {
    // SAFETY: per the contract (a dense matrix: the stride is `dim`).
    unsafe { RawMatrix::new(data, n, dim, dim).borrow(name) }
}

/// The default options: a flat L2 index of dim 0 (set it), PQ settings
/// M = 16, nbits = 8, 25 iterations, seed 0, `HELIOS_AUTO` threads, and the
/// right `struct_size`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_index_default_options() -> HeliosIndexOptions {
    let defaults = IndexOptions::default();
    HeliosIndexOptions {
        struct_size: std::mem::size_of::<HeliosIndexOptions>(),
        kind: HELIOS_INDEX_FLAT,
        metric: HELIOS_METRIC_L2,
        dim: defaults.dim,
        pq_m: defaults.pq_m,
        pq_nbits: defaults.pq_nbits,
        train_iterations: defaults.train_iterations,
        seed: defaults.seed,
        threads: HELIOS_AUTO,
    }
}

/// The default search options (`HELIOS_AUTO` threads) with the right
/// `struct_size`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_index_default_search_options() -> HeliosSearchOptions {
    HeliosSearchOptions {
        struct_size: std::mem::size_of::<HeliosSearchOptions>(),
        threads: HELIOS_AUTO,
    }
}

fn core_options(options: &HeliosIndexOptions) -> Result<IndexOptions> {
    let kind = match options.kind {
        HELIOS_INDEX_FLAT => IndexKind::Flat,
        HELIOS_INDEX_PQ => IndexKind::ProductQuantized,
        other => {
            return Err(Error::invalid(format!(
                "options.kind is {other}: use HELIOS_INDEX_FLAT (0) or HELIOS_INDEX_PQ (1)"
            )))
        }
    };
    let metric = match options.metric {
        HELIOS_METRIC_L2 => Metric::L2,
        HELIOS_METRIC_INNER_PRODUCT => Metric::InnerProduct,
        other => {
            return Err(Error::invalid(format!(
                "options.metric is {other}: use HELIOS_METRIC_L2 (0) or \
                 HELIOS_METRIC_INNER_PRODUCT (1)"
            )))
        }
    };
    Ok(IndexOptions {
        kind,
        metric,
        dim: options.dim,
        pq_m: options.pq_m,
        pq_nbits: options.pq_nbits,
        train_iterations: options.train_iterations,
        seed: options.seed,
        threads: to_threads(options.threads),
    })
}

/// Hand a new index to the caller's `*out`.
///
/// # Safety
/// `out` is non-NULL and writable.
unsafe fn hand_out(index: VectorIndex, out: *mut *mut HeliosVectorIndex) {
    // SAFETY: per the contract.
    unsafe { out.write(share(HeliosVectorIndex { index })) };
}

/// Create an empty index and store it in `*out`; free it with
/// `helios_index_free`. `options` may not be NULL (its `dim` has no default).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (bad
/// struct_size, unknown kind or metric, dim 0 or above 2^24, PQ: pq_m 0 or not dividing
/// dim, pq_nbits 0 or > 8, train_iterations 0 or > 1000; threads 0 or > 1024).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `options` is NULL or a valid struct; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_new(
    options: *const HeliosIndexOptions,
    out: *mut *mut HeliosVectorIndex,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        if options.is_null() {
            return Err(Error::NullArgument("options"));
        }
        // SAFETY: a valid struct per the contract.
        let options = unsafe {
            read_options(
                options,
                helios_index_default_options(),
                "helios_index_default_options",
            )
        }?;
        let index = VectorIndex::new(core_options(&options)?)?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(index, out) };
        Ok(())
    })
}

/// Release the caller's handle; NULL is a no-op. The memory goes when the
/// last call that is still inside the index (from another thread) returns.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the handle must not be used after this call.
///
/// # Safety
/// `index` is NULL or a live handle, released once.
#[no_mangle]
pub unsafe extern "C" fn helios_index_free(index: *mut HeliosVectorIndex) {
    let _ = ffi_call(|| {
        // SAFETY: per the contract, a live handle released once.
        unsafe { release(index) };
        Ok(())
    });
}

/// Train a PQ index's codebooks on `n` vectors of `dim` floats (row-major):
/// at least 2^pq_nbits of them (a seeded sample of 256 per centroid is used
/// when there are more). Training again is allowed while the index is empty.
/// A flat index needs no training: the call only checks the vectors.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (n 0 or
/// below 2^pq_nbits, dim not the index's, n x dim overflowing),
/// `HELIOS_ERR_NUMERIC` (NaN or Inf, or a squared norm above FLT_MAX / 4),
/// `HELIOS_ERR_INVALID_STATE` (a PQ index that holds vectors).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); it waits for the write lock to store the codebooks.
///
/// # Safety
/// `index` is NULL or live; `x` is NULL or points to `n * dim` floats.
#[no_mangle]
pub unsafe extern "C" fn helios_index_train(
    index: *const HeliosVectorIndex,
    x: *const f32,
    n: usize,
    dim: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // SAFETY: per the contract.
        let x = unsafe { vectors(x, n, dim, "x") }?;
        index.index.train(x)
    })
}

/// Add `n` vectors of `dim` floats with the ids `ids[0..n)` (new, distinct,
/// never `HELIOS_NO_ID`), or with sequential ids from one past the largest id
/// ever added (0, 1, 2, ... on a fresh index; an explicit id of
/// `UINT64_MAX - 1` leaves no sequential ids) when `ids` is NULL. `ids`,
/// when not NULL, must hold `n` ids. Nothing is added when the call fails.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (n 0,
/// wrong dim, an id already present or repeated, HELIOS_NO_ID, sequential ids
/// past UINT64_MAX - 1), `HELIOS_ERR_NUMERIC` (NaN or Inf, or a squared norm
/// above FLT_MAX / 4), `HELIOS_ERR_INVALID_STATE` (PQ not trained).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); searches see the index before or after the add.
///
/// # Safety
/// `index` is NULL or live; `x` points to `n * dim` floats; `ids` is NULL or
/// points to `n` ids.
#[no_mangle]
pub unsafe extern "C" fn helios_index_add(
    index: *const HeliosVectorIndex,
    x: *const f32,
    n: usize,
    dim: usize,
    ids: *const u64,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // SAFETY: per the contract.
        let x = unsafe { vectors(x, n, dim, "x") }?;
        let ids = if ids.is_null() {
            None
        } else {
            // SAFETY: per the contract.
            Some(unsafe { slice_in(ids, n, "ids") }?)
        };
        index.index.add(x, ids)
    })
}

/// Remove the vectors with the ids `ids[0..n)`. Every id must be in the index,
/// listed once; otherwise nothing is removed. The cost is linear in the
/// index size (the rest is compacted in order): remove in batches.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (n 0, an
/// unknown or repeated id, named in the message).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); searches see the index before or after the removal.
///
/// # Safety
/// `index` is NULL or live; `ids` is NULL or points to `n` ids.
#[no_mangle]
pub unsafe extern "C" fn helios_index_remove(
    index: *const HeliosVectorIndex,
    ids: *const u64,
    n: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // SAFETY: per the contract.
        let ids = unsafe { slice_in(ids, n, "ids") }?;
        index.index.remove(ids)
    })
}

/// Write the number of stored vectors to `*out_count`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `out_count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_count(
    index: *const HeliosVectorIndex,
    out_count: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        if out_count.is_null() {
            return Err(Error::NullArgument("out_count"));
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_count.write(index.index.len()) };
        Ok(())
    })
}

/// Write whether the index can take vectors to `*out_trained` (always true
/// for a flat index; true for PQ after `helios_index_train`).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `out_trained` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_is_trained(
    index: *const HeliosVectorIndex,
    out_trained: *mut bool,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        if out_trained.is_null() {
            return Err(Error::NullArgument("out_trained"));
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_trained.write(index.index.is_trained()) };
        Ok(())
    })
}

/// Write the index's options (with its current thread setting) to `*out`.
/// A flat index reports the default PQ settings, which it does not use.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_get_options(
    index: *const HeliosVectorIndex,
    out: *mut HeliosIndexOptions,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        let o = index.index.options();
        let options = HeliosIndexOptions {
            struct_size: std::mem::size_of::<HeliosIndexOptions>(),
            kind: match o.kind {
                IndexKind::Flat => HELIOS_INDEX_FLAT,
                IndexKind::ProductQuantized => HELIOS_INDEX_PQ,
            },
            metric: match o.metric {
                Metric::L2 => HELIOS_METRIC_L2,
                Metric::InnerProduct => HELIOS_METRIC_INNER_PRODUCT,
            },
            dim: o.dim,
            pq_m: o.pq_m,
            pq_nbits: o.pq_nbits,
            train_iterations: o.train_iterations,
            seed: o.seed,
            threads: match o.threads {
                crate::Threads::Auto => HELIOS_AUTO,
                crate::Threads::Exactly(n) => n,
            },
        };
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(options) };
        Ok(())
    })
}

/// Set the workers used by train, add and searches that name none
/// (`HELIOS_AUTO` for the process default).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (0 or
/// more than 1024).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn helios_index_set_threads(
    index: *const HeliosVectorIndex,
    threads: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        index.index.set_threads(to_threads(threads))
    })
}

/// Find the `k` nearest stored vectors of each of `n_queries` queries (`dim`
/// floats each). Row q of `distances` and `ids` (`n_queries x k`, row-major)
/// holds query q's hits, best first, ties broken by the smaller id: squared
/// L2 distances (increasing) or inner products (decreasing). When the index
/// holds fewer than k vectors, a row ends with `HELIOS_NO_ID` ids and
/// distances of +INFINITY (L2) or -INFINITY (inner product). `options` may be
/// NULL for the defaults. `out_needed`, when not NULL, receives n_queries x k:
/// pass NULL buffers with capacity 0 to learn it. The hits are the same bits
/// for every thread count and whatever other queries share the call.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (k 0,
/// n_queries 0, wrong dim, sizes overflowing, an output overlapping
/// `queries` or the other output, bad options), `HELIOS_ERR_NUMERIC` (NaN or
/// Inf, or a squared norm above FLT_MAX / 4), `HELIOS_ERR_BUFFER_TOO_SMALL`,
/// `HELIOS_ERR_INVALID_STATE` (PQ not trained).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `queries` points to `n_queries * dim` floats;
/// `distances` and `ids` point to their capacities of writable elements;
/// `options` is NULL or valid; `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_search(
    index: *const HeliosVectorIndex,
    queries: *const f32,
    n_queries: usize,
    dim: usize,
    k: usize,
    options: *const HeliosSearchOptions,
    distances: *mut f32,
    distances_capacity: usize,
    ids: *mut u64,
    ids_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // SAFETY: per the contract.
        let options = unsafe {
            read_options(
                options,
                helios_index_default_search_options(),
                "helios_index_default_search_options",
            )
        }?;
        // SAFETY: per the contract.
        let needed = unsafe { report_needed(n_queries.checked_mul(k), out_needed) }?;
        if k == 0 {
            return Err(Error::invalid("k is 0: ask for at least one neighbour"));
        }
        // SAFETY: per the contract.
        let q = unsafe { vectors(queries, n_queries, dim, "queries") }?;
        // SAFETY: per the contract.
        let distances = unsafe {
            output_slice(
                distances,
                distances_capacity,
                needed,
                ("distances", &[(q.data(), "queries")]),
            )
        }?;
        // The capacity first (a NULL `ids` of capacity 0 asks for the size),
        // then the overlaps, then the borrow.
        if ids_capacity < needed {
            return Err(Error::BufferTooSmall {
                name: "ids",
                needed,
                capacity: ids_capacity,
            });
        }
        for (other, name) in [
            (address_range(q.data()), "queries"),
            (address_range(distances), "distances"),
        ] {
            if ranges_overlap(other, (ids as usize, needed.saturating_mul(8))) {
                return Err(Error::invalid(format!(
                    "`ids` overlaps `{name}`: use separate buffers"
                )));
            }
        }
        // SAFETY: per the contract.
        let ids = unsafe { output_slice(ids, ids_capacity, needed, ("ids", &[])) }?;
        let options = SearchOptions {
            threads: to_threads(options.threads),
        };
        index.index.search_into(q, k, &options, distances, ids)
    })
}

/// Write the stored vector with this id to `out` (`dim` floats): exactly for
/// a flat index, the centroids its code stands for with PQ.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUFFER_TOO_SMALL`
/// (capacity below dim), `HELIOS_ERR_INVALID_ARGUMENT` (unknown id).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `out` points to `out_capacity` writable floats.
#[no_mangle]
pub unsafe extern "C" fn helios_index_reconstruct(
    index: *const HeliosVectorIndex,
    id: u64,
    out: *mut f32,
    out_capacity: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        let dim = index.index.options().dim;
        // SAFETY: per the contract.
        let out = unsafe { output_slice(out, out_capacity, dim, ("out", &[])) }?;
        index.index.reconstruct(id, out)
    })
}

/// Save the index to the file at `path` (`path_len` bytes of UTF-8): a
/// versioned, checksummed binary file, written to a temporary file in the
/// same folder and renamed over `path`, so a reader never sees half a file
/// and a save that dies midway leaves the old file.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (path
/// empty, not UTF-8 or holding a NUL), `HELIOS_ERR_IO`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the file holds the index before or after any write.
///
/// # Safety
/// `index` is NULL or live; `path` is NULL or points to `path_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn helios_index_save(
    index: *const HeliosVectorIndex,
    path: *const c_char,
    path_len: usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // SAFETY: per the contract.
        let path = unsafe { path_arg(path, path_len) }?;
        index.index.save(path)
    })
}

/// Load an index saved by `helios_index_save` and store it in `*out` (threads
/// `HELIOS_AUTO`). It answers every search with the same bits as the saved one.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (path),
/// `HELIOS_ERR_IO` (cannot read), `HELIOS_ERR_FORMAT` (not an index file,
/// truncated, corrupt, or a newer format version).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `path` is NULL or points to `path_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_load(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut HeliosVectorIndex,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let path = unsafe { path_arg(path, path_len) }?;
        let index = VectorIndex::load(path)?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(index, out) };
        Ok(())
    })
}

/// Serialise the index into `out` (the bytes of the file `helios_index_save`
/// writes), for pickling or sending over a network. `out_needed`, when not
/// NULL, receives the byte count: call with `out_capacity` 0 to learn it (no
/// serialising happens then; a write between the two calls may change the
/// size, which the second call reports the same way).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `index` is NULL or live; `out` points to `out_capacity` writable bytes;
/// `out_needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_to_bytes(
    index: *const HeliosVectorIndex,
    out: *mut u8,
    out_capacity: usize,
    out_needed: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let index = unsafe { entered(index) }?;
        // The size is known without serialising; a write from another thread
        // between the two calls can still change it, which the second check
        // reports the same way.
        let mut needed = index.index.byte_len();
        let mut bytes = Vec::new();
        if out_capacity >= needed {
            bytes = index.index.to_bytes();
            needed = bytes.len();
        }
        // SAFETY: per the contract.
        let needed = unsafe { report_needed(Some(needed), out_needed) }?;
        // SAFETY: per the contract.
        unsafe { output_slice(out, out_capacity, needed, ("out", &[])) }?.copy_from_slice(&bytes);
        Ok(())
    })
}

/// An index from the bytes of `helios_index_to_bytes`, stored in `*out`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_FORMAT` (not index bytes,
/// truncated or corrupt).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_index_from_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut HeliosVectorIndex,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        // SAFETY: per the contract.
        let bytes = unsafe { slice_in(data, len, "data") }?;
        let index = VectorIndex::from_bytes(bytes, "the index bytes")?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { hand_out(index, out) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_inside_keeps_the_index_alive_through_a_free() {
        let mut options = helios_index_default_options();
        options.dim = 2;
        let mut handle = std::ptr::null_mut();
        // SAFETY: valid options and a writable out pointer.
        let status = unsafe { helios_index_new(&options, &mut handle) };
        assert_eq!(status, HeliosStatus::HELIOS_OK);
        let points = [0.0f32, 0.0, 3.0, 4.0];
        // SAFETY: a live handle and 2 x 2 floats.
        let status = unsafe { helios_index_add(handle, points.as_ptr(), 2, 2, std::ptr::null()) };
        assert_eq!(status, HeliosStatus::HELIOS_OK);
        // What every entry point holds while it runs, taken as a call
        // from another thread would take it.
        // SAFETY: a live handle.
        let inside = unsafe { entered(handle) }.unwrap();
        assert_eq!(Arc::strong_count(&inside), 2);
        // The caller frees its handle while that call is inside.
        // SAFETY: a live handle, released once.
        unsafe { helios_index_free(handle) };
        assert_eq!(Arc::strong_count(&inside), 1);
        // The call still sees a whole index, and the memory goes with it.
        let query = Matrix::new(&[3.0f32, 3.0], 1, 2).unwrap();
        let hits = inside
            .index
            .search(query, 2, &SearchOptions::default())
            .unwrap();
        assert_eq!(hits.ids, vec![1, 0]);
        assert_eq!(hits.distances, vec![1.0, 18.0]);
    }
}
