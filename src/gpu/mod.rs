//! CUDA devices (feature `cuda`).
//!
//! `cudarc` loads the driver at run time, so a build with the feature needs
//! no CUDA toolkit and runs on machines without a GPU: there every call
//! returns [`Error::Device`] with the reason. A build without the feature
//! returns [`Error::Unsupported`]. Nothing here panics on a machine without
//! a driver: cudarc's constructors panic when `libcuda` is missing, so the
//! library's presence is checked first, and every driver call runs under a
//! `catch_unwind` as a backstop.
//!
//! Thread safety: [`Device`] is shareable (safe to use from any number of
//! threads at once). One CUDA context per device (the driver's primary
//! context) serves every `Device` opened on it.

use crate::embed::Matrix;
use crate::error::{Error, Result};

#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
pub mod embed;
#[cfg(feature = "cuda")]
pub(crate) mod memory;
#[cfg(not(feature = "cuda"))]
mod no_cuda;
#[cfg(not(feature = "cuda"))]
pub use no_cuda::embed;
#[cfg(not(feature = "cuda"))]
pub(crate) use no_cuda::memory;

pub(crate) use embed::rows_to_host;

/// Why a build without the `cuda` feature cannot use a GPU.
const NO_FEATURE: &str =
    "helios was built without the `cuda` feature: rebuild with `cargo build --release --features cuda`";

/// `Ok` in a build with the `cuda` feature, else [`Error::Unsupported`]
/// saying how to get it.
pub(crate) fn require_cuda() -> Result<()> {
    if cfg!(feature = "cuda") {
        Ok(())
    } else {
        Err(Error::Unsupported(NO_FEATURE.into()))
    }
}

/// A CUDA device: its name, memory and compute capability, and the context
/// the GPU functions run in (shareable; cloning shares the context).
#[derive(Clone)]
pub struct Device {
    ordinal: usize,
    name: String,
    total_memory: usize,
    compute_capability: (u32, u32),
    #[cfg(feature = "cuda")]
    context: std::sync::Arc<cudarc::driver::CudaContext>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("ordinal", &self.ordinal)
            .field("name", &self.name)
            .field("total_memory", &self.total_memory)
            .field("compute_capability", &self.compute_capability)
            .finish()
    }
}

impl Device {
    /// The number of CUDA devices.
    ///
    /// Errors: [`Error::Unsupported`] (built without `cuda`),
    /// [`Error::Device`] (no driver, or the driver failed).
    pub fn count() -> Result<usize> {
        #[cfg(feature = "cuda")]
        {
            driver::count()
        }
        #[cfg(not(feature = "cuda"))]
        {
            Err(Error::Unsupported(NO_FEATURE.into()))
        }
    }

    /// Open device `ordinal` (0 for the first).
    ///
    /// Errors: [`Error::Unsupported`] (built without `cuda`),
    /// [`Error::Device`] (no driver, no device, or the driver failed),
    /// [`Error::InvalidArgument`] (an ordinal not below the device count).
    pub fn open(ordinal: usize) -> Result<Device> {
        #[cfg(feature = "cuda")]
        {
            driver::open(ordinal)
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(Error::Unsupported(NO_FEATURE.into()))
        }
    }

    /// The device's ordinal.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The device's name, for example "NVIDIA H100 80GB HBM3".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's memory in bytes.
    pub fn total_memory(&self) -> usize {
        self.total_memory
    }

    /// The device's memory not in use now, in bytes (any process's use
    /// counts).
    ///
    /// Errors: [`Error::Device`].
    pub fn free_memory(&self) -> Result<usize> {
        #[cfg(feature = "cuda")]
        {
            driver::free_memory(&self.context)
        }
        #[cfg(not(feature = "cuda"))]
        {
            Err(Error::Unsupported(NO_FEATURE.into()))
        }
    }

    /// The device's CUDA context (cudarc), for Rust code that allocates
    /// device memory or launches its own work next to helios's.
    #[cfg(feature = "cuda")]
    pub fn cuda_context(&self) -> &std::sync::Arc<cudarc::driver::CudaContext> {
        &self.context
    }

    /// The compute capability (major, minor), for example (9, 0) for Hopper.
    pub fn compute_capability(&self) -> (u32, u32) {
        self.compute_capability
    }
}

/// A matrix argument: on the host, or device memory (`ptr` a `CUdeviceptr`,
/// row i at `ptr + i * ld * 4` bytes).
#[derive(Debug, Clone, Copy)]
pub enum GpuMatrix<'a> {
    /// Host memory.
    Host(Matrix<'a, f32>),
    /// Device memory of the device's context.
    Device {
        /// The address of element (0, 0).
        ptr: u64,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
        /// Elements from one row to the next (at least `cols`).
        ld: usize,
    },
}

impl GpuMatrix<'_> {
    /// (rows, columns).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            GpuMatrix::Host(m) => (m.rows(), m.cols()),
            GpuMatrix::Device { rows, cols, .. } => (*rows, *cols),
        }
    }
}

/// The output: host memory, or `len` floats of device memory at `ptr`
/// (row-major n x m, dense).
#[derive(Debug)]
pub enum GpuOutput<'a> {
    /// Host memory.
    Host(&'a mut [f32]),
    /// Device memory of the device's context.
    Device {
        /// The address of element (0, 0).
        ptr: u64,
        /// Floats available.
        len: usize,
    },
}

/// A feature map uploaded to a device ([`crate::NystromEngine`] keeps
/// one): the landmarks, their centre and norms and the normaliser live in
/// device memory, in f32, and every call reuses them.
pub struct DeviceFeatureMap {
    inner: embed::DeviceMap,
}

impl std::fmt::Debug for DeviceFeatureMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFeatureMap")
            .field("device", self.device())
            .finish()
    }
}

impl DeviceFeatureMap {
    /// Upload `map` to `device` (on the default stream, waited for, so that
    /// any stream may use it).
    ///
    /// Errors: [`Error::OutOfMemory`], [`Error::InvalidArgument`] (sizes
    /// beyond the GPU path's), [`Error::Device`], [`Error::Unsupported`]
    /// (built without `cuda`).
    pub fn upload(device: &Device, map: &crate::embed::FeatureMap<f32>) -> Result<Self> {
        Ok(DeviceFeatureMap {
            inner: embed::DeviceMap::upload(device, map, 0, true)?,
        })
    }

    /// The device the map lives on.
    pub fn device(&self) -> &Device {
        self.inner.device()
    }

    /// `Phi(X)` into `out` (n x m row-major) on `stream` (a raw `CUstream`,
    /// 0 for the default stream); returns once the stream has finished it.
    ///
    /// Errors: as [`embed::rkhs_embed_f32`], less those of the landmarks.
    pub fn apply(&self, x: GpuMatrix<'_>, out: GpuOutput<'_>, stream: usize) -> Result<()> {
        self.inner.apply(x, out, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn devices_open_from_several_threads_at_once_alike() {
        // Reentrant: the same answer on every thread (an error kind, or the
        // same device), with no panic racing on the context registry.
        let answers: Vec<std::result::Result<String, ErrorKind>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        Device::open(0)
                            .map(|d| d.name().to_string())
                            .map_err(|e| e.kind())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    }

    #[test]
    fn without_a_device_every_call_says_why() {
        match Device::open(0) {
            Ok(device) => {
                // A GPU machine: the properties are plausible.
                assert!(!device.name().is_empty());
                assert!(device.total_memory() > 0);
                assert!(device.compute_capability().0 >= 3);
                assert!(device.free_memory().unwrap() <= device.total_memory());
            }
            Err(error) => {
                let expected = if cfg!(feature = "cuda") {
                    ErrorKind::Device
                } else {
                    ErrorKind::Unsupported
                };
                assert_eq!(error.kind(), expected, "{error}");
                println!("SKIPPED: the GPU checks need a CUDA device ({error})");
                assert_eq!(Device::count().unwrap_err().kind(), expected);
                let text = error.to_string();
                assert!(
                    text.contains("cuda") || text.contains("CUDA"),
                    "the message names the cause: {text}"
                );
            }
        }
    }
}
