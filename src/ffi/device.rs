//! `HeliosDevice`: the C face of [`crate::gpu::Device`], a shareable,
//! reference-counted handle to a CUDA device. Every function here is
//! exported in every build: without the `cuda` feature they return
//! `HELIOS_ERR_UNSUPPORTED`, and on a machine without a driver or device
//! `HELIOS_ERR_DEVICE`, so the header is the same for every build.

use std::sync::Arc;

use super::embed::RawMatrix;
use super::handle::{output_slice, release, report_needed, retain, share};
use super::status::{ffi_call, HeliosStatus};
use crate::error::{Error, Result};
use crate::gpu::embed::rkhs_embed_f32;
use crate::gpu::{memory, Device, GpuMatrix, GpuOutput};

/// A CUDA device. Opaque; shareable: any number of threads may use one
/// handle at once.
pub struct HeliosDevice {
    pub(crate) device: Device,
}

/// The device behind a handle, with a reference of the call's own.
///
/// # Safety
/// `device` is NULL or a live device handle.
pub(super) unsafe fn entered(device: *const HeliosDevice) -> Result<Arc<HeliosDevice>> {
    // SAFETY: per the contract.
    unsafe { retain(device) }.ok_or(Error::NullArgument("device"))
}

/// A matrix of device memory given through the C API (checked by the GPU
/// functions through the driver's pointer attributes).
pub(super) fn device_rows(
    x: *const f32,
    rows: usize,
    cols: usize,
    ld: usize,
) -> GpuMatrix<'static> {
    GpuMatrix::Device {
        ptr: x as u64,
        rows,
        cols,
        ld,
    }
}

/// The number of CUDA devices into `*out_count`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_UNSUPPORTED` (built
/// without the `cuda` feature), `HELIOS_ERR_DEVICE` (no CUDA driver, or the
/// driver failed).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `out_count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_count(out_count: *mut usize) -> HeliosStatus {
    ffi_call(|| {
        if out_count.is_null() {
            return Err(Error::NullArgument("out_count"));
        }
        let count = Device::count()?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out_count.write(count) };
        Ok(())
    })
}

/// Open CUDA device `ordinal` (0 for the first) into `*out`. Every handle
/// on one device shares one CUDA context (the driver's primary context).
/// Free it with `helios_device_free`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_UNSUPPORTED` (built
/// without the `cuda` feature), `HELIOS_ERR_DEVICE` (no CUDA driver, no
/// device, or the driver failed), `HELIOS_ERR_INVALID_ARGUMENT` (an ordinal
/// not below the device count).
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_open(
    ordinal: usize,
    out: *mut *mut HeliosDevice,
) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        let device = Device::open(ordinal)?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(share(HeliosDevice { device })) };
        Ok(())
    })
}

/// The device's name (UTF-8, not NUL-terminated) into `out` (`capacity`
/// bytes); `*out_len` receives its length, also when the buffer is too
/// small: call with capacity 0 to ask, then again.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_BUFFER_TOO_SMALL`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `out` is NULL or holds `capacity` writable
/// bytes; `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_name(
    device: *const HeliosDevice,
    out: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if out_len.is_null() {
            return Err(Error::NullArgument("out_len"));
        }
        let name = device.device.name().as_bytes();
        // SAFETY: per the contract.
        let needed = unsafe { report_needed(Some(name.len()), out_len) }?;
        if needed > 0 {
            // SAFETY: per the contract.
            unsafe { output_slice(out, capacity, needed, ("out", &[])) }?.copy_from_slice(name);
        }
        Ok(())
    })
}

/// The device's free and total memory in bytes into `*out_free` and
/// `*out_total` (either may be NULL when not wanted).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (device), `HELIOS_ERR_DEVICE`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `out_free` and `out_total` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_memory(
    device: *const HeliosDevice,
    out_free: *mut usize,
    out_total: *mut usize,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if !out_free.is_null() {
            let free = device.device.free_memory()?;
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_free.write(free) };
        }
        if !out_total.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_total.write(device.device.total_memory()) };
        }
        Ok(())
    })
}

/// The device's compute capability into `*out_major` and `*out_minor` (9
/// and 0 for Hopper).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `out_major` and `out_minor` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_compute_capability(
    device: *const HeliosDevice,
    out_major: *mut u32,
    out_minor: *mut u32,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if out_major.is_null() {
            return Err(Error::NullArgument("out_major"));
        }
        if out_minor.is_null() {
            return Err(Error::NullArgument("out_minor"));
        }
        let (major, minor) = device.device.compute_capability();
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe {
            out_major.write(major);
            out_minor.write(minor);
        }
        Ok(())
    })
}

/// Release the caller's handle; NULL is a no-op. The context stays for the
/// process (other handles and later opens share it).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the handle must not be used after this call.
///
/// # Safety
/// `device` is NULL or a live handle not freed before.
#[no_mangle]
pub unsafe extern "C" fn helios_device_free(device: *mut HeliosDevice) {
    // SAFETY: per the contract.
    unsafe { release(device) }
}

/// The RBF feature map of `helios_rkhs_embed_f32` on a CUDA device, f32,
/// with every array in device memory of `device`'s context: `x` (n x d,
/// leading dimension `ldx`), `landmarks` (m x d, `ldl`) and `out` (n x m
/// row-major, `out_capacity` floats). The work runs on `stream` (a
/// `CUstream`, for example PyTorch's `torch.cuda.current_stream().cuda_stream`;
/// NULL for the default stream), creates no stream of its own, and the call
/// returns once the stream has finished it: work queued later on the same
/// stream sees the output. The m x m normaliser is computed on the CPU in
/// double precision (the landmarks are copied to the host for it). Results
/// match the CPU path within 1e-5 of the output's largest magnitude and are
/// bit-identical from run to run on one device.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (device or an array NULL),
/// `HELIOS_ERR_INVALID_ARGUMENT` (n, m or d zero or above 2^32 - 1, ldx or ldl
/// below d, gamma or ridge out of range, a pointer the driver does not know
/// as device memory: a host pointer passed by mistake), `HELIOS_ERR_BUFFER_TOO_SMALL`,
/// `HELIOS_ERR_OUT_OF_MEMORY` (more than the device's free memory; nothing
/// is left allocated), `HELIOS_ERR_NUMERIC` (NaN or infinite landmarks, the
/// normaliser; NaN rows of `x` give NaN output rows, as they are not read
/// back),
/// `HELIOS_ERR_DEVICE` (the driver, NVRTC or cuBLAS failed),
/// `HELIOS_ERR_UNSUPPORTED` (built without the `cuda` feature).
///
/// Thread safety: reentrant (safe to call from any number of threads at once);
/// each call keeps its scratch and cuBLAS handle to itself, so threads with
/// streams of their own embed concurrently.
///
/// # Safety
/// `device` is NULL or live; the arrays are device memory holding the
/// elements described (or NULL); `stream` is NULL or a live stream of the
/// device's context that outlives the call.
#[no_mangle]
pub unsafe extern "C" fn helios_rkhs_embed_device_f32(
    device: *const HeliosDevice,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    landmarks: *const f32,
    m: usize,
    ldl: usize,
    gamma: f64,
    ridge: f64,
    out: *mut f32,
    out_capacity: usize,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        rkhs_embed_f32(
            &device.device,
            device_rows(x, n, d, ldx),
            device_rows(landmarks, m, d, ldl),
            gamma,
            ridge,
            GpuOutput::Device {
                ptr: out as u64,
                len: out_capacity,
            },
            stream as usize,
        )
    })
}

/// `helios_rkhs_embed_device_f32` with host arrays: `x`, `landmarks` and
/// `out` in host memory, copied to and from the device on `stream` (NULL
/// for the default stream) in row blocks; the same results, errors and
/// guarantees, plus `HELIOS_ERR_NUMERIC` for NaN or infinite values in `x`
/// (the message names the row) and `HELIOS_ERR_INVALID_ARGUMENT` for `out`
/// overlapping an input.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// As for `helios_rkhs_embed_f32` (host arrays), plus `device` NULL or live
/// and `stream` NULL or a live stream of the device's context.
#[no_mangle]
pub unsafe extern "C" fn helios_rkhs_embed_host_staged_f32(
    device: *const HeliosDevice,
    x: *const f32,
    n: usize,
    d: usize,
    ldx: usize,
    landmarks: *const f32,
    m: usize,
    ldl: usize,
    gamma: f64,
    ridge: f64,
    out: *mut f32,
    out_capacity: usize,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        // SAFETY: host arrays per the contract.
        let xs = unsafe { RawMatrix::new(x, n, d, ldx).borrow("x") }?;
        // SAFETY: as above.
        let ls = unsafe { RawMatrix::new(landmarks, m, d, ldl).borrow("landmarks") }?;
        let needed = n
            .checked_mul(m)
            .ok_or_else(|| Error::invalid("n x m overflows"))?;
        let inputs = [(xs.data(), "x"), (ls.data(), "landmarks")];
        // SAFETY: per the contract; checked against the inputs.
        let out = unsafe { output_slice(out, out_capacity, needed, ("out", &inputs)) }?;
        rkhs_embed_f32(
            &device.device,
            GpuMatrix::Host(xs),
            GpuMatrix::Host(ls),
            gamma,
            ridge,
            GpuOutput::Host(out),
            stream as usize,
        )
    })
}

/// `bytes` bytes of device memory of `device`'s context into `*out_ptr`
/// (cuMemAlloc: usable from any stream), for callers without a CUDA
/// library of their own (the Python binding's device arrays). Free it with
/// `helios_device_dealloc`.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (0
/// bytes), `HELIOS_ERR_OUT_OF_MEMORY` (more than the device's free memory),
/// `HELIOS_ERR_DEVICE`, `HELIOS_ERR_UNSUPPORTED` (built without the `cuda`
/// feature).
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `out_ptr` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_device_alloc(
    device: *const HeliosDevice,
    bytes: usize,
    out_ptr: *mut *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if out_ptr.is_null() {
            return Err(Error::NullArgument("out_ptr"));
        }
        let ptr = memory::alloc(&device.device, bytes)?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out_ptr.write(ptr as *mut std::ffi::c_void) };
        Ok(())
    })
}

/// Free memory from `helios_device_alloc` once the work using it is done
/// (cuMemFree waits for it); NULL is a no-op.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (device), `HELIOS_ERR_INVALID_ARGUMENT`
/// (not device memory), `HELIOS_ERR_DEVICE`, `HELIOS_ERR_UNSUPPORTED`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once); the memory must not be used after this call.
///
/// # Safety
/// `device` is NULL or live; `ptr` is NULL or came from
/// `helios_device_alloc` on the same device and is not freed yet.
#[no_mangle]
pub unsafe extern "C" fn helios_device_dealloc(
    device: *const HeliosDevice,
    ptr: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if ptr.is_null() {
            return Ok(());
        }
        // SAFETY: an allocation of this device not freed yet, per the
        // contract.
        unsafe { memory::free(&device.device, ptr as u64) }
    })
}

/// Copy `bytes` bytes from host memory `src` to device memory `dst` on
/// `stream` (a `CUstream`; NULL for the default stream), after the work
/// queued there before; returns once the copy is done. The copy must lie
/// inside `dst`'s allocation (checked through the driver where it knows
/// the allocation).
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT`, `HELIOS_ERR_INVALID_ARGUMENT` (`dst`
/// not device memory, or the copy running past its allocation),
/// `HELIOS_ERR_DEVICE`, `HELIOS_ERR_UNSUPPORTED`.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `src` is NULL or holds `bytes` readable bytes;
/// `dst` is NULL or device memory of the device's context; `stream` is NULL
/// or a live stream of that context.
#[no_mangle]
pub unsafe extern "C" fn helios_device_copy_to_device(
    device: *const HeliosDevice,
    src: *const std::ffi::c_void,
    bytes: usize,
    dst: *mut std::ffi::c_void,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        // SAFETY: per the contract.
        let host = unsafe { super::handle::slice_in(src.cast::<u8>(), bytes, "src") }?;
        if dst.is_null() {
            return Err(Error::NullArgument("dst"));
        }
        memory::copy_to_device(&device.device, host, dst as u64, stream as usize)
    })
}

/// Copy `bytes` bytes from device memory `src` to host memory `dst` on
/// `stream` (NULL for the default stream), after the work queued there
/// before; returns once the copy is done.
///
/// Errors: as `helios_device_copy_to_device`, the other way.
///
/// Thread safety: shareable (one object may be used from any number of
/// threads at once).
///
/// # Safety
/// `device` is NULL or live; `src` is NULL or device memory of the device's
/// context; `dst` is NULL or holds `bytes` writable bytes; `stream` is NULL
/// or a live stream of that context.
#[no_mangle]
pub unsafe extern "C" fn helios_device_copy_to_host(
    device: *const HeliosDevice,
    src: *const std::ffi::c_void,
    bytes: usize,
    dst: *mut std::ffi::c_void,
    stream: *mut std::ffi::c_void,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: per the contract.
        let device = unsafe { entered(device) }?;
        if src.is_null() {
            return Err(Error::NullArgument("src"));
        }
        // SAFETY: per the contract.
        let host = unsafe { output_slice(dst.cast::<u8>(), bytes, bytes, ("dst", &[])) }?;
        memory::copy_to_host(&device.device, src as u64, host, stream as usize)
    })
}
