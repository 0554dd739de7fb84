//! The cudarc calls behind [`super::Device`], each guarded so that a
//! missing driver is an error, never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::driver::{CudaContext, DriverError};
use parking_lot::Mutex;

use super::Device;
use crate::error::{Error, Result};

/// The context of each device opened so far, by ordinal: one per device for
/// the whole process (the driver's primary context).
static CONTEXTS: Mutex<Vec<Option<Arc<CudaContext>>>> = Mutex::new(Vec::new());

/// `Ok` when the CUDA driver library can be loaded.
fn driver_present() -> Result<()> {
    // SAFETY: is_culib_present only tries to load libcuda (dlopen) and
    // reports whether that worked; it calls no CUDA function.
    let present = catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() });
    match present {
        Ok(true) => Ok(()),
        _ => Err(Error::Device(
            "no CUDA driver: libcuda.so could not be loaded (install the NVIDIA driver, or use the CPU functions)"
                .into(),
        )),
    }
}

/// Run a driver call, turning its error or a panic into [`Error::Device`].
fn guarded<T>(what: &str, call: impl FnOnce() -> std::result::Result<T, DriverError>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Error::Device(format!("CUDA {what} failed: {error}"))),
        Err(_) => Err(Error::Device(format!(
            "CUDA {what} failed: the driver bindings panicked"
        ))),
    }
}

pub(super) fn count() -> Result<usize> {
    driver_present()?;
    let count = guarded("device count", CudaContext::device_count)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

pub(super) fn open(ordinal: usize) -> Result<Device> {
    let devices = count()?;
    if devices == 0 {
        return Err(Error::Device(
            "the CUDA driver found no CUDA device on this machine".into(),
        ));
    }
    if ordinal >= devices {
        return Err(Error::invalid(format!(
            "CUDA device {ordinal} does not exist: this machine has {devices} (ordinals 0..{devices})"
        )));
    }
    let context = {
        let mut contexts = CONTEXTS.lock();
        if contexts.len() <= ordinal {
            contexts.resize(ordinal + 1, None);
        }
        match &contexts[ordinal] {
            Some(context) => Arc::clone(context),
            None => {
                let context = guarded("context creation", || CudaContext::new(ordinal))?;
                contexts[ordinal] = Some(Arc::clone(&context));
                context
            }
        }
    };
    let name = guarded("device name query", || context.name())?;
    let (major, minor) = guarded("compute capability query", || context.compute_capability())?;
    let total_memory = guarded("memory query", || context.total_mem())?;
    Ok(Device {
        ordinal,
        name,
        total_memory,
        compute_capability: (
            u32::try_from(major).unwrap_or(0),
            u32::try_from(minor).unwrap_or(0),
        ),
        context,
    })
}

pub(super) fn free_memory(context: &CudaContext) -> Result<usize> {
    let (free, _total) = guarded("memory query", || context.mem_get_info())?;
    Ok(free)
}
