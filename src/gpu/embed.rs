//! The RBF (Nyström) feature map on a CUDA device, f32:
//! `Phi(X) = K(X, L) · (K(L, L) + ridge·I)^(-1/2)` as on the CPU
//! ([`crate::embed::rkhs`]): the normaliser is computed on the CPU in f64
//! and uploaded; the rows of X are centred on the landmarks' mean and their
//! squared norms taken by one kernel, `X Lᵀ` and the product with the
//! normaliser are cuBLAS GEMMs, and the distance, clamp and exp are one
//! fused kernel. Everything runs on the caller's stream (or the default
//! stream), in row blocks that fit in the device's free memory, and the
//! call returns once the stream has finished the work.
//!
//! Thread safety: reentrant. Each call has a cuBLAS handle of its own
//! (taken from a per-device pool, bound to its stream) and its own scratch;
//! the compiled kernels are shared per device (compiled once, under a lock).
//! Rows are processed in blocks of a fixed size (halved only when the
//! memory is short), so the GEMM shapes, and the bits, repeat from run to
//! run on one device.

use std::sync::Arc;

use cudarc::cublas::{result as blas, sys as blas_sys, CudaBlas};
use cudarc::driver::{
    sys, CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DriverError,
    LaunchConfig, PushKernelArg,
};
use parking_lot::Mutex;

use super::Device;
pub use super::{GpuMatrix, GpuOutput};
use crate::embed::{FeatureMap, Matrix};
use crate::error::{Error, Result};

/// The kernels' source, compiled with NVRTC at first use on each device.
const SOURCE: &str = include_str!("../../cuda/rkhs.cu");

/// `exp` arguments below this give exactly 0 (e^-34.5 = 1e-15, the CPU
/// path's f32 kernel floor).
const MIN_ARG: f32 = -34.5;

/// The most memory one call's row blocks use, at most half the free memory.
const MAX_SCRATCH_BYTES: usize = 1 << 30;

/// Rows of X per block when the memory allows (the same on every run, so
/// the GEMM shapes and the bits are too).
const BLOCK_ROWS: usize = 1 << 14;

/// The compiled kernels of one device.
struct Kernels {
    centre_rows: CudaFunction,
    rbf_from_dots: CudaFunction,
}

/// Kernels by device ordinal, compiled once each.
static KERNELS: Mutex<Vec<Option<Arc<Kernels>>>> = Mutex::new(Vec::new());

/// A driver error as a helios error: out of memory, or a device failure.
pub(super) fn driver_error(what: &str, error: DriverError) -> Error {
    if error.0 == sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
        Error::OutOfMemory(format!("{what}: the device is out of memory"))
    } else {
        Error::Device(format!("{what} failed: {error}"))
    }
}

fn blas_error(what: &str, error: cudarc::cublas::result::CublasError) -> Error {
    Error::Device(format!("cuBLAS {what} failed: {error:?}"))
}

/// The kernels of `device`, compiled at the first call.
fn kernels(device: &Device) -> Result<Arc<Kernels>> {
    let mut all = KERNELS.lock();
    if all.len() <= device.ordinal {
        all.resize(device.ordinal + 1, None);
    }
    if let Some(kernels) = &all[device.ordinal] {
        return Ok(Arc::clone(kernels));
    }
    // SAFETY: only tries to load libnvrtc and reports whether that worked.
    if !std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
        .unwrap_or(false)
    {
        return Err(Error::Device(
            "NVRTC (libnvrtc.so) could not be loaded: install the CUDA runtime compiler (the cuda-nvrtc package) to use the GPU feature map".into(),
        ));
    }
    let (major, minor) = device.compute_capability;
    let ptx = std::panic::catch_unwind(|| compile(major, minor))
        .map_err(|_| Error::Device("NVRTC panicked compiling helios's kernels".into()))?
        .map_err(|e| {
            Error::Device(format!(
                "NVRTC could not compile cuda/rkhs.cu for compute capability {major}.{minor} (this NVRTC does not target that architecture: CUDA 13's dropped Volta and older, and a device newer than the NVRTC needs a newer one): {e:?}"
            ))
        })?;
    let module = device.context.load_module(ptx).map_err(|e| {
        if e.0 == sys::cudaError_enum::CUDA_ERROR_UNSUPPORTED_PTX_VERSION {
            Error::Device(
                "the driver cannot load the kernels NVRTC compiled: libnvrtc is newer than the driver (update the driver or use an NVRTC of its CUDA version)".into(),
            )
        } else {
            driver_error("loading the compiled kernels", e)
        }
    })?;
    let load = |name: &str| {
        module
            .load_function(name)
            .map_err(|e| driver_error("finding a compiled kernel", e))
    };
    let kernels = Arc::new(Kernels {
        centre_rows: load("helios_centre_rows")?,
        rbf_from_dots: load("helios_rbf_from_dots")?,
    });
    all[device.ordinal] = Some(Arc::clone(&kernels));
    Ok(kernels)
}

/// The kernels compiled to PTX for compute capability `major.minor`.
fn compile(
    major: u32,
    minor: u32,
) -> std::result::Result<cudarc::nvrtc::Ptx, cudarc::nvrtc::CompileError> {
    let options = cudarc::nvrtc::CompileOptions {
        options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(SOURCE, options)
}

/// cuBLAS handles of each device, kept between calls: creating one costs
/// an allocation, and destroying one synchronises the whole device.
static BLAS_HANDLES: Mutex<Vec<Vec<CudaBlas>>> = Mutex::new(Vec::new());

/// A cuBLAS handle of `device` bound to `stream`: a kept one, or a new one.
fn take_blas(device: &Device, stream: &Arc<CudaStream>) -> Result<CudaBlas> {
    let kept = BLAS_HANDLES
        .lock()
        .get_mut(device.ordinal)
        .and_then(Vec::pop);
    match kept {
        Some(mut blas) => {
            // SAFETY: the stream belongs to the handle's context and lives
            // for the call; the handle is rebound before every use.
            unsafe { blas.set_stream(Arc::clone(stream)) }
                .map_err(|e| blas_error("binding the handle to the stream", e))?;
            Ok(blas)
        }
        None => CudaBlas::new(Arc::clone(stream)).map_err(|e| match e.0 {
            blas_sys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED => {
                Error::OutOfMemory("cuBLAS could not allocate its handle's workspace".into())
            }
            _ => blas_error("handle creation", e),
        }),
    }
}

/// Keep `blas` for the next call, bound to the default stream (the
/// caller's stream may be destroyed after this call).
fn keep_blas(device: &Device, mut blas: CudaBlas) {
    // SAFETY: the default stream of the handle's own context always exists.
    if unsafe { blas.set_stream(device.context.default_stream()) }.is_ok() {
        let mut kept = BLAS_HANDLES.lock();
        if kept.len() <= device.ordinal {
            kept.resize_with(device.ordinal + 1, Vec::new);
        }
        kept[device.ordinal].push(blas);
    }
}

/// Column-major `C (m x n, ldc m) = op(A) · B` with `op` a transpose when
/// `transpose_a`, `A` and `B` given with their leading dimensions.
fn sgemm(
    blas: &CudaBlas,
    transpose_a: bool,
    (m, n, k): (usize, usize, usize),
    (a, lda): (u64, usize),
    (b, ldb): (u64, usize),
    c: u64,
) -> std::result::Result<(), cudarc::cublas::result::CublasError> {
    let op_a = if transpose_a {
        blas_sys::cublasOperation_t::CUBLAS_OP_T
    } else {
        blas_sys::cublasOperation_t::CUBLAS_OP_N
    };
    let (alpha, beta) = (1.0f32, 0.0f32);
    // SAFETY: the caller passes device pointers of the handle's context
    // holding op(A) m x k, B k x n and C m x n with these leading dimensions
    // (all below 2^31, checked on entry); alpha and beta are host scalars
    // (the handle's default pointer mode).
    unsafe {
        blas::sgemm(
            *blas.handle(),
            op_a,
            blas_sys::cublasOperation_t::CUBLAS_OP_N,
            m as i32,
            n as i32,
            k as i32,
            &alpha,
            a as *const f32,
            lda as i32,
            b as *const f32,
            ldb as i32,
            &beta,
            c as *mut f32,
            m as i32,
        )
    }
}

/// The stream to run on: the caller's (`raw` a `CUstream`) or the default.
pub(super) fn stream_of(context: &Arc<CudaContext>, raw: usize) -> Arc<CudaStream> {
    if raw == 0 {
        context.default_stream()
    } else {
        // SAFETY: the caller passes a live stream of this device's context
        // and keeps it alive until this call returns (the documented
        // contract); the wrapper does not destroy it.
        unsafe { context.wrap_borrowed_stream(raw as sys::CUstream) }
    }
}

/// Refuse a device pointer the driver does not know as device (or managed)
/// memory: a host pointer passed by mistake, a freed or foreign allocation.
pub(super) fn check_device_pointer(device: &Device, ptr: u64, name: &'static str) -> Result<()> {
    if ptr == 0 {
        return Err(Error::NullArgument(name));
    }
    let mut memory_type: u32 = 0;
    // SAFETY: the attribute is a 4-byte enum written to `memory_type`; the
    // driver only inspects `ptr`, never dereferences it from the host.
    let status = unsafe {
        sys::cuPointerGetAttribute(
            (&mut memory_type as *mut u32).cast(),
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
            ptr,
        )
    };
    let device_ordinal = device.ordinal;
    let device = sys::CUmemorytype::CU_MEMORYTYPE_DEVICE as u32;
    let unified = sys::CUmemorytype::CU_MEMORYTYPE_UNIFIED as u32;
    if status != sys::cudaError_enum::CUDA_SUCCESS
        || !(memory_type == device || memory_type == unified)
    {
        return Err(Error::invalid(format!(
            "`{name}` (0x{ptr:x}) is not CUDA device memory (a host pointer passed as a device pointer?)"
        )));
    }
    // Managed memory is reachable from every device; device memory only
    // from its own (without peer access, which helios does not set up).
    if memory_type == device {
        let mut ordinal: i32 = -1;
        // SAFETY: the attribute is a 4-byte int written to `ordinal`; the
        // driver only looks `ptr` up.
        let status = unsafe {
            sys::cuPointerGetAttribute(
                (&mut ordinal as *mut i32).cast(),
                sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                ptr,
            )
        };
        if status == sys::cudaError_enum::CUDA_SUCCESS
            && usize::try_from(ordinal).is_ok_and(|o| o != device_ordinal)
        {
            return Err(Error::invalid(format!(
                "`{name}` (0x{ptr:x}) is memory of CUDA device {ordinal}, not of device {device_ordinal} the call runs on"
            )));
        }
    }
    Ok(())
}

/// A feature map uploaded to a device, in f32: the landmarks' centre, the
/// centred landmarks, their squared norms and the normaliser. Made once
/// (by an engine, or by one call of [`rkhs_embed_f32`]) and applied to any
/// number of row sets.
pub(crate) struct DeviceMap {
    device: Device,
    m: usize,
    d: usize,
    neg_gamma: f32,
    centre: CudaSlice<f32>,
    centred: CudaSlice<f32>,
    landmark_norms: CudaSlice<f32>,
    normaliser: CudaSlice<f32>,
}

impl Drop for DeviceMap {
    fn drop(&mut self) {
        // The slices free themselves on their stream after this, which needs
        // the device's context current on the dropping thread (any thread).
        let _ = self.device.context.bind_to_thread();
    }
}

/// The bytes of a map of `m` landmarks in `d` dimensions (u128: m x m alone
/// can exceed 2^64 bytes for m near 2^32).
fn map_bytes(m: usize, d: usize) -> u128 {
    let (m, d) = (m as u128, d as u128);
    (d + m * d + m + m * m) * 4
}

/// The sizes and gamma the GPU path takes.
fn check_gpu_limits(n: usize, m: usize, d: usize, gamma: f64) -> Result<()> {
    let limit = i32::MAX as usize;
    if n > u32::MAX as usize || m > limit || d > limit {
        return Err(Error::invalid(format!(
            "n = {n}, m = {m}, d = {d}: the GPU path takes n below 2^32 and m, d below 2^31 (cuBLAS's int sizes)"
        )));
    }
    if gamma.is_finite() && gamma > f64::from(f32::MAX) {
        return Err(Error::invalid(format!(
            "gamma = {gamma} does not fit in f32, which the GPU path computes in"
        )));
    }
    Ok(())
}

/// The rows of X a call embeds: n x d, refused when empty, of another
/// width than the map's, or beyond the GPU path's sizes.
fn check_rows(x: &GpuMatrix<'_>, d: usize, m: usize) -> Result<usize> {
    let (n, cols) = x.shape();
    if n == 0 || cols == 0 {
        return Err(Error::invalid(format!(
            "empty input: n = {n}, d = {cols} (both must be at least 1)"
        )));
    }
    if cols != d {
        return Err(Error::invalid(format!(
            "X has {cols} columns but the landmarks have {d}"
        )));
    }
    check_gpu_limits(n, m, d, 0.0)?;
    Ok(n)
}

/// Check the output's room for n x m values and every device pointer (with
/// the device's context current on this thread).
fn check_pointers(
    device: &Device,
    x: &GpuMatrix<'_>,
    landmarks: Option<&GpuMatrix<'_>>,
    out: &GpuOutput<'_>,
    needed: usize,
) -> Result<()> {
    let out_len = match out {
        GpuOutput::Host(slice) => slice.len(),
        GpuOutput::Device { len, .. } => *len,
    };
    if out_len < needed {
        return Err(Error::BufferTooSmall {
            name: "out",
            needed,
            capacity: out_len,
        });
    }
    device
        .context
        .bind_to_thread()
        .map_err(|e| driver_error("making the device's context current", e))?;
    for (matrix, name) in [(Some(x), "x"), (landmarks, "landmarks")] {
        if let Some(GpuMatrix::Device { ptr, cols, ld, .. }) = matrix {
            if ld < cols {
                return Err(Error::invalid(format!(
                    "`{name}`: leading dimension {ld} is below its {cols} columns"
                )));
            }
            check_device_pointer(device, *ptr, name)?;
        }
    }
    if let GpuOutput::Device { ptr, .. } = out {
        check_device_pointer(device, *ptr, "out")?;
    }
    Ok(())
}

/// The device bytes one row of a block takes: its centred copy and norm,
/// its kernel row, and the staging rows of host arguments.
fn row_bytes(x: &GpuMatrix<'_>, out: &GpuOutput<'_>, m: usize, d: usize) -> usize {
    let staged_x = if matches!(x, GpuMatrix::Host(_)) {
        d
    } else {
        0
    };
    let staged_out = if matches!(out, GpuOutput::Host(_)) {
        m
    } else {
        0
    };
    (d + 1 + m + staged_x + staged_out) * 4
}

/// Rows `rows` (all of them when None) of the device matrix `x` (n x d,
/// leading dimension ld), copied to the host after `stream` has finished
/// the work queued on it (the caller's kernels writing X, say).
pub(crate) fn rows_to_host(
    device: &Device,
    x: GpuMatrix<'_>,
    rows: Option<&[usize]>,
    stream: usize,
) -> Result<Vec<f32>> {
    let GpuMatrix::Device {
        ptr,
        rows: n,
        cols: d,
        ld,
    } = x
    else {
        return Err(Error::invalid("rows_to_host takes a device matrix"));
    };
    n.checked_mul(ld)
        .and_then(|elements| elements.checked_mul(std::mem::size_of::<f32>()))
        .ok_or_else(|| Error::invalid(format!("{n} rows of stride {ld} overflow")))?;
    device
        .context
        .bind_to_thread()
        .map_err(|e| driver_error("making the device's context current", e))?;
    if ld < d {
        return Err(Error::invalid(format!(
            "`x`: leading dimension {ld} is below its {d} columns"
        )));
    }
    check_device_pointer(device, ptr, "x")?;
    // The synchronous copies below run on the legacy default stream, which
    // does not wait for a non-blocking stream: let the caller's stream
    // finish writing X first.
    stream_of(&device.context, stream)
        .synchronize()
        .map_err(|e| driver_error("waiting for the stream", e))?;
    let row_at = |i: usize| ptr + (i * ld * std::mem::size_of::<f32>()) as u64;
    let copy = |out: &mut [f32], from: u64| {
        // SAFETY: `from` is inside device memory (checked above) holding n
        // rows of ld >= d floats per the caller's contract, and `out` spans
        // whole rows of it; the copy is synchronous.
        unsafe { cudarc::driver::result::memcpy_dtoh_sync(out, from) }
            .map_err(|e| driver_error("copying rows to the host", e))
    };
    match rows {
        None if ld == d => {
            let mut dense = vec![0.0f32; n * d];
            copy(&mut dense, ptr)?;
            Ok(dense)
        }
        None => {
            let mut dense = vec![0.0f32; n * d];
            for (i, row) in dense.chunks_exact_mut(d).enumerate() {
                copy(row, row_at(i))?;
            }
            Ok(dense)
        }
        Some(chosen) => {
            let mut dense = vec![0.0f32; chosen.len() * d];
            for (row, &i) in dense.chunks_exact_mut(d).zip(chosen) {
                if i >= n {
                    return Err(Error::invalid(format!("row {i} is beyond the {n} rows")));
                }
                copy(row, row_at(i))?;
            }
            Ok(dense)
        }
    }
}

impl DeviceMap {
    /// Upload `map` to `device` on `stream` (a raw `CUstream`, 0 for the
    /// default stream), synchronising when `wait` so that any stream may
    /// read it afterwards.
    ///
    /// Errors: [`Error::OutOfMemory`] (it does not fit in the free memory;
    /// nothing stays allocated), [`Error::InvalidArgument`] (sizes beyond
    /// the GPU path's), [`Error::Device`].
    pub(crate) fn upload(
        device: &Device,
        map: &FeatureMap<f32>,
        stream: usize,
        wait: bool,
    ) -> Result<DeviceMap> {
        let (m, d) = (map.landmark_count(), map.dim());
        let (gamma, _) = map.parameters();
        check_gpu_limits(0, m, d, gamma)?;
        let context = &device.context;
        context
            .bind_to_thread()
            .map_err(|e| driver_error("making the device's context current", e))?;
        let (free, _) = context
            .mem_get_info()
            .map_err(|e| driver_error("querying the free memory", e))?;
        if map_bytes(m, d) > free as u128 {
            return Err(Error::OutOfMemory(format!(
                "the feature map of m = {m} landmarks in d = {d} needs {} MB on the device but it has {} MB free",
                map_bytes(m, d) >> 20,
                free >> 20
            )));
        }
        let stream = stream_of(context, stream);
        let upload = |values: &[f32], what: &str| -> Result<CudaSlice<f32>> {
            stream.clone_htod(values).map_err(|e| driver_error(what, e))
        };
        let to_f32 = |values: &[f64]| values.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let uploaded = DeviceMap {
            device: device.clone(),
            m,
            d,
            neg_gamma: -gamma as f32,
            centre: upload(&to_f32(map.centre()), "uploading the centre")?,
            centred: upload(&to_f32(map.centred_landmarks()), "uploading the landmarks")?,
            landmark_norms: upload(
                &to_f32(map.landmark_norms()),
                "uploading the landmark norms",
            )?,
            normaliser: upload(map.normaliser(), "uploading the normaliser")?,
        };
        if wait {
            stream
                .synchronize()
                .map_err(|e| driver_error("waiting for the upload", e))?;
        }
        Ok(uploaded)
    }

    /// The device the map lives on.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// `Phi(X)` into `out` (n x m row-major) on `stream` (a raw `CUstream`,
    /// 0 for the default stream); returns once the stream has finished.
    ///
    /// Errors: as [`rkhs_embed_f32`], less those of the landmarks.
    pub(crate) fn apply(&self, x: GpuMatrix<'_>, out: GpuOutput<'_>, stream: usize) -> Result<()> {
        let n = check_rows(&x, self.d, self.m)?;
        let needed = n
            .checked_mul(self.m)
            .ok_or_else(|| Error::invalid("n x m overflows"))?;
        check_pointers(&self.device, &x, None, &out, needed)?;
        let (free, _) = self
            .device
            .context
            .mem_get_info()
            .map_err(|e| driver_error("querying the free memory", e))?;
        let per_row = row_bytes(&x, &out, self.m, self.d);
        if per_row > free {
            return Err(Error::OutOfMemory(format!(
                "one row of the GPU feature map needs {per_row} bytes but the device has {free} free"
            )));
        }
        if let GpuMatrix::Host(matrix) = x {
            crate::embed::rkhs::check_finite(matrix, "X")?;
        }
        self.queue_blocks(x, out, stream)
    }

    /// The row blocks of `apply`, arguments checked, queued on the stream,
    /// which is then waited for.
    fn queue_blocks(&self, x: GpuMatrix<'_>, out: GpuOutput<'_>, stream: usize) -> Result<()> {
        let (m, d) = (self.m, self.d);
        let (n, _) = x.shape();
        let device = &self.device;
        let context = &device.context;
        let (free, _) = context
            .mem_get_info()
            .map_err(|e| driver_error("querying the free memory", e))?;
        // A fixed block size (cuBLAS may choose another algorithm for another
        // shape, so the bits would change with the free memory otherwise),
        // halved only while the blocks would take more than half the free
        // memory.
        let per_row_bytes = row_bytes(&x, &out, m, d);
        let room = (free / 2).min(MAX_SCRATCH_BYTES);
        let mut block_rows = BLOCK_ROWS.min(n);
        while block_rows > 1 && block_rows * per_row_bytes > room {
            block_rows /= 2;
        }
        let kernels = kernels(device)?;
        let stream = stream_of(context, stream);
        let alloc = |len: usize, what: &str| -> Result<CudaSlice<f32>> {
            stream
                .alloc_zeros::<f32>(len)
                .map_err(|e| driver_error(what, e))
        };
        let mut xc = alloc(block_rows * d, "allocating the centred rows")?;
        let mut x_norms = alloc(block_rows, "allocating the row norms")?;
        let mut dots = alloc(block_rows * m, "allocating the kernel block")?;
        let mut x_stage = match x {
            GpuMatrix::Host(_) => Some(alloc(block_rows * d, "allocating the staged rows")?),
            GpuMatrix::Device { .. } => None,
        };
        let mut out_stage = match out {
            GpuOutput::Host(_) => Some(alloc(block_rows * m, "allocating the staged output")?),
            GpuOutput::Device { .. } => None,
        };
        let blas = take_blas(device, &stream)?;
        let mut out = out;
        // The blocks, queued on the stream; the handle is kept whatever happens.
        let mut queue = || -> Result<()> {
            let mut start = 0;
            while start < n {
                let rows = block_rows.min(n - start);
                // The block's rows of X, in device memory with their leading dimension.
                let (x_ptr, ldx) = match (&x, &mut x_stage) {
                    (GpuMatrix::Host(matrix), Some(stage)) => {
                        let mut dense = Vec::with_capacity(rows * d);
                        for i in start..start + rows {
                            dense.extend_from_slice(matrix.row(i));
                        }
                        let mut view = stage.slice_mut(..rows * d);
                        stream
                            .memcpy_htod(&dense, &mut view)
                            .map_err(|e| driver_error("copying X to the device", e))?;
                        let (ptr, _sync) = stage.device_ptr(&stream);
                        (ptr, d)
                    }
                    (GpuMatrix::Device { ptr, ld, .. }, _) => {
                        (ptr + (start * ld * std::mem::size_of::<f32>()) as u64, *ld)
                    }
                    (GpuMatrix::Host(_), None) => unreachable!("host X always has a stage"),
                };
                // Centre the rows and take their norms: one warp per row.
                {
                    let threads = 256u32;
                    let blocks = (rows as u64 * 32).div_ceil(u64::from(threads)) as u32;
                    let config = LaunchConfig {
                        grid_dim: (blocks, 1, 1),
                        block_dim: (threads, 1, 1),
                        shared_mem_bytes: 0,
                    };
                    let (ldx, rows32, d32) = (ldx as u64, rows as u32, d as u32);
                    let mut launch = stream.launch_builder(&kernels.centre_rows);
                    launch
                        .arg(&x_ptr)
                        .arg(&ldx)
                        .arg(&self.centre)
                        .arg(&mut xc)
                        .arg(&mut x_norms)
                        .arg(&rows32)
                        .arg(&d32);
                    // SAFETY: the arguments match the kernel's parameters in
                    // order and type; every buffer holds the elements the
                    // kernel reads or writes (rows x d, rows).
                    unsafe { launch.launch(config) }
                        .map_err(|e| driver_error("launching helios_centre_rows", e))?;
                }
                // dots (rows x m, row-major) = Xc Lcᵀ: in cuBLAS's column-major
                // terms, dotsᵀ (m x rows) = Lcᵀᵀ · Xcᵀ.
                {
                    let (lc, _a) = self.centred.device_ptr(&stream);
                    let (xcp, _b) = xc.device_ptr(&stream);
                    let (dp, _c) = dots.device_ptr_mut(&stream);
                    // The pointers hold m x d, rows x d and rows x m floats.
                    sgemm(&blas, true, (m, rows, d), (lc, d), (xcp, d), dp)
                        .map_err(|e| blas_error("X Lᵀ", e))?;
                }
                // Distances, clamp and exp, in place.
                {
                    let threads = 256u32;
                    let blocks = ((rows * m) as u64)
                        .div_ceil(u64::from(threads))
                        .min(65_535 * 8) as u32;
                    let config = LaunchConfig {
                        grid_dim: (blocks, 1, 1),
                        block_dim: (threads, 1, 1),
                        shared_mem_bytes: 0,
                    };
                    let (rows32, m32, min_arg) = (rows as u32, m as u32, MIN_ARG);
                    let mut launch = stream.launch_builder(&kernels.rbf_from_dots);
                    launch
                        .arg(&mut dots)
                        .arg(&x_norms)
                        .arg(&self.landmark_norms)
                        .arg(&rows32)
                        .arg(&m32)
                        .arg(&self.neg_gamma)
                        .arg(&min_arg);
                    // SAFETY: as above; dots holds rows x m floats.
                    unsafe { launch.launch(config) }
                        .map_err(|e| driver_error("launching helios_rbf_from_dots", e))?;
                }
                // out block (rows x m) = K · M, M symmetric: column-major outᵀ = M · Kᵀ.
                {
                    let target: u64 = match (&mut out, &mut out_stage) {
                        (GpuOutput::Device { ptr, .. }, _) => {
                            *ptr + (start * m * std::mem::size_of::<f32>()) as u64
                        }
                        (GpuOutput::Host(_), Some(stage)) => stage.device_ptr_mut(&stream).0,
                        (GpuOutput::Host(_), None) => {
                            unreachable!("host output always has a stage")
                        }
                    };
                    let (mp, _a) = self.normaliser.device_ptr(&stream);
                    let (kp, _b) = dots.device_ptr(&stream);
                    // M is m x m, the kernel block and the target rows x m
                    // floats (the target checked against the output's length).
                    sgemm(&blas, false, (m, rows, m), (mp, m), (kp, m), target)
                        .map_err(|e| blas_error("K M", e))?;
                }
                if let (GpuOutput::Host(host), Some(stage)) = (&mut out, &out_stage) {
                    let view = stage.slice(..rows * m);
                    stream
                        .memcpy_dtoh(&view, &mut host[start * m..(start + rows) * m])
                        .map_err(|e| driver_error("copying the output to the host", e))?;
                }
                start += rows;
            }
            Ok(())
        };
        let queued = queue();
        // Wait before the handle goes back to the pool: another thread
        // rebinding it to its stream while this stream's GEMMs still run
        // would share its workspace.
        let waited = stream
            .synchronize()
            .map_err(|e| driver_error("waiting for the stream", e));
        keep_blas(device, blas);
        queued?;
        waited
    }
}

/// `Phi(X)` on `device` into `out` (n x m row-major), on the stream `stream`
/// (a raw `CUstream`; 0 for the default stream). Landmarks in device memory
/// are copied to the host for the normaliser (m x d floats).
///
/// Errors: [`Error::InvalidArgument`] (shapes, a pointer that is not
/// device memory, gamma or ridge out of range), [`Error::Numeric`] (NaN or
/// infinite values in the landmarks or host rows of X, the normaliser),
/// [`Error::NullArgument`] (a NULL device pointer),
/// [`Error::BufferTooSmall`], [`Error::OutOfMemory`] (the buffers do not
/// fit in the free device memory; nothing stays allocated),
/// [`Error::Device`] (the driver, NVRTC or cuBLAS failed).
pub fn rkhs_embed_f32(
    device: &Device,
    x: GpuMatrix<'_>,
    landmarks: GpuMatrix<'_>,
    gamma: f64,
    ridge: f64,
    out: GpuOutput<'_>,
    stream: usize,
) -> Result<()> {
    let (n, d) = x.shape();
    let (m, landmark_dim) = landmarks.shape();
    if n == 0 || d == 0 || m == 0 {
        return Err(Error::invalid(format!(
            "empty input: n = {n}, d = {d}, m = {m} (all must be at least 1)"
        )));
    }
    if landmark_dim != d {
        return Err(Error::invalid(format!(
            "X has {d} columns but the landmarks have {landmark_dim}"
        )));
    }
    check_gpu_limits(n, m, d, gamma)?;
    let needed = n
        .checked_mul(m)
        .ok_or_else(|| Error::invalid("n x m overflows"))?;
    check_pointers(device, &x, Some(&landmarks), &out, needed)?;

    // Memory first, before the CPU spends time on the normaliser: the map's
    // buffers and at least one row.
    let (free, _) = device
        .context
        .mem_get_info()
        .map_err(|e| driver_error("querying the free memory", e))?;
    let least = map_bytes(m, d) + row_bytes(&x, &out, m, d) as u128;
    if least > free as u128 {
        return Err(Error::OutOfMemory(format!(
            "the GPU feature map needs at least {} MB for m = {m}, d = {d} but the device has {} MB free",
            least >> 20,
            free >> 20
        )));
    }
    // Host rows are checked as on the CPU path (device rows are not read
    // back: NaN there gives NaN rows).
    if let GpuMatrix::Host(matrix) = x {
        crate::embed::rkhs::check_finite(matrix, "X")?;
    }
    // The normaliser on the CPU, in f64 (as the CPU path).
    let host_landmarks: Vec<f32> = match landmarks {
        GpuMatrix::Host(matrix) => (0..m).flat_map(|i| matrix.row(i).to_vec()).collect(),
        GpuMatrix::Device { .. } => rows_to_host(device, landmarks, None, stream)?,
    };
    let map = FeatureMap::<f32>::new(Matrix::new(&host_landmarks, m, d)?, gamma, ridge)?;
    // On the caller's stream, which the blocks then follow: no wait needed.
    DeviceMap::upload(device, &map, stream, false)?.queue_blocks(x, out, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_compile_with_nvrtc_where_it_is_installed() {
        // NVRTC needs no GPU: wherever libnvrtc loads, the source must compile.
        // SAFETY: only tries to load libnvrtc and reports whether that worked.
        let present =
            std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
                .unwrap_or(false);
        if !present {
            println!(
                "SKIPPED: NVRTC (libnvrtc.so) is not installed: the kernels were not compiled"
            );
            return;
        }
        // Turing to Hopper (CUDA 13's NVRTC no longer targets Volta, 7.0).
        for (major, minor) in [(7, 5), (8, 0), (8, 9), (9, 0)] {
            let ptx = compile(major, minor).expect("cuda/rkhs.cu compiles");
            let text = ptx.to_src();
            assert!(
                text.contains(&format!(".target sm_{major}{minor}")),
                "{major}.{minor}"
            );
            for name in ["helios_centre_rows", "helios_rbf_from_dots"] {
                assert!(text.contains(name), "{name} is in the PTX");
            }
        }
    }
}
