//! Device memory that helios allocates for its callers (the Python
//! binding's device arrays, tests), and copies between it and the host on a
//! stream. Every copy is checked against the allocation the driver knows
//! the pointer to be in, so that a wrong size is an error, not a write past
//! the end.
//!
//! Thread safety: reentrant; the memory itself is the caller's to order
//! (one stream writes it at a time).

use cudarc::driver::sys;

use super::embed::{check_device_pointer, driver_error, stream_of};
use super::Device;
use crate::error::{Error, Result};

/// Make the device's context current on this thread.
fn bind(device: &Device) -> Result<()> {
    device
        .context
        .bind_to_thread()
        .map_err(|e| driver_error("making the device's context current", e))
}

/// `bytes` bytes of device memory (cuMemAlloc), to free with [`free`].
///
/// Errors: [`Error::InvalidArgument`] (0 bytes), [`Error::OutOfMemory`]
/// (the driver's answer), [`Error::Device`].
pub(crate) fn alloc(device: &Device, bytes: usize) -> Result<u64> {
    if bytes == 0 {
        return Err(Error::invalid("a device allocation of 0 bytes"));
    }
    bind(device)?;
    // SAFETY: allocates with the device's context current; the pointer is
    // returned to the caller, who frees it with `free`.
    unsafe { cudarc::driver::result::malloc_sync(bytes) }
        .map_err(|e| driver_error("allocating device memory", e))
}

/// Free memory from [`alloc`]; waits for the work using it (cuMemFree).
///
/// # Safety
/// `ptr` came from [`alloc`] on `device`, is not freed yet, and no work
/// that will run later uses it.
pub(crate) unsafe fn free(device: &Device, ptr: u64) -> Result<()> {
    bind(device)?;
    check_device_pointer(device, ptr, "ptr")?;
    // SAFETY: per the contract, a live allocation of this context.
    unsafe { cudarc::driver::result::free_sync(ptr) }
        .map_err(|e| driver_error("freeing device memory", e))
}

/// Check that `bytes` bytes from `ptr` lie inside one allocation the driver
/// knows as device memory.
fn check_range(device: &Device, ptr: u64, bytes: usize, name: &'static str) -> Result<()> {
    check_device_pointer(device, ptr, name)?;
    let (mut start, mut size): (u64, usize) = (0, 0);
    // SAFETY: the attributes are an 8-byte address and an 8-byte size,
    // written to `start` and `size`; the driver only looks `ptr` up.
    let status = unsafe {
        let start_status = sys::cuPointerGetAttribute(
            (&mut start as *mut u64).cast(),
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
            ptr,
        );
        let size_status = sys::cuPointerGetAttribute(
            (&mut size as *mut usize).cast(),
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_SIZE,
            ptr,
        );
        (start_status, size_status)
    };
    if status.0 != sys::cudaError_enum::CUDA_SUCCESS
        || status.1 != sys::cudaError_enum::CUDA_SUCCESS
    {
        // The range is unknown (some allocators): the pointer's type was
        // checked, the size is the caller's word.
        return Ok(());
    }
    let end = (start as u128) + size as u128;
    if ptr as u128 + bytes as u128 > end {
        return Err(Error::invalid(format!(
            "`{name}`: {bytes} bytes from 0x{ptr:x} run past the end of its allocation (0x{start:x}, {size} bytes)"
        )));
    }
    Ok(())
}

/// Copy `host` into device memory at `ptr` on `stream` (a raw `CUstream`,
/// 0 for the default), after the work queued there before; returns once
/// the copy is done.
///
/// Errors: [`Error::NullArgument`], [`Error::InvalidArgument`] (not device
/// memory, or past its allocation's end), [`Error::Device`].
pub(crate) fn copy_to_device(device: &Device, host: &[u8], ptr: u64, stream: usize) -> Result<()> {
    bind(device)?;
    check_range(device, ptr, host.len(), "dst")?;
    let stream = stream_of(&device.context, stream);
    // SAFETY: `ptr` spans `host.len()` bytes of device memory (checked); the
    // host bytes outlive the copy, which is waited for below.
    unsafe { cudarc::driver::result::memcpy_htod_async(ptr, host, stream.cu_stream()) }
        .map_err(|e| driver_error("copying to the device", e))?;
    stream
        .synchronize()
        .map_err(|e| driver_error("waiting for the stream", e))
}

/// Copy device memory at `ptr` into `host` on `stream`, after the work
/// queued there before; returns once the copy is done.
///
/// Errors: as [`copy_to_device`].
pub(crate) fn copy_to_host(
    device: &Device,
    ptr: u64,
    host: &mut [u8],
    stream: usize,
) -> Result<()> {
    bind(device)?;
    check_range(device, ptr, host.len(), "src")?;
    let stream = stream_of(&device.context, stream);
    // SAFETY: as in `copy_to_device`, the other way.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(host, ptr, stream.cu_stream()) }
        .map_err(|e| driver_error("copying to the host", e))?;
    stream
        .synchronize()
        .map_err(|e| driver_error("waiting for the stream", e))
}
