//! What a build without the `cuda` feature has in place of the CUDA
//! modules: the same functions, each answering [`Error::Unsupported`] with
//! the way to rebuild. No [`Device`] can be opened in such a build, so the
//! ones that take a device are never reached with one; they exist so that
//! callers compile the same in every build.

use super::{Device, NO_FEATURE};
use crate::error::{Error, Result};

fn unsupported<T>() -> Result<T> {
    Err(Error::Unsupported(NO_FEATURE.into()))
}

/// The GPU feature map (feature `cuda`): here every call is
/// [`Error::Unsupported`].
pub mod embed {
    use std::convert::Infallible;

    pub use super::super::{GpuMatrix, GpuOutput};
    use super::{unsupported, Device};
    use crate::embed::FeatureMap;
    use crate::error::Result;

    /// The GPU feature map: [`crate::error::Error::Unsupported`] in this build.
    pub fn rkhs_embed_f32(
        _device: &Device,
        _x: GpuMatrix<'_>,
        _landmarks: GpuMatrix<'_>,
        _gamma: f64,
        _ridge: f64,
        _out: GpuOutput<'_>,
        _stream: usize,
    ) -> Result<()> {
        unsupported()
    }

    /// An uploaded map: none can exist in this build.
    pub(crate) struct DeviceMap(Infallible);

    impl DeviceMap {
        pub(crate) fn upload(
            _device: &Device,
            _map: &FeatureMap<f32>,
            _stream: usize,
            _wait: bool,
        ) -> Result<DeviceMap> {
            unsupported()
        }

        pub(crate) fn device(&self) -> &Device {
            match self.0 {}
        }

        pub(crate) fn apply(
            &self,
            _x: GpuMatrix<'_>,
            _out: GpuOutput<'_>,
            _stream: usize,
        ) -> Result<()> {
            match self.0 {}
        }
    }

    pub(crate) fn rows_to_host(
        _device: &Device,
        _x: GpuMatrix<'_>,
        _rows: Option<&[usize]>,
        _stream: usize,
    ) -> Result<Vec<f32>> {
        unsupported()
    }
}

/// Device memory for callers: [`Error::Unsupported`] in this build.
pub(crate) mod memory {
    use super::{unsupported, Device};
    use crate::error::Result;

    pub(crate) fn alloc(_device: &Device, _bytes: usize) -> Result<u64> {
        unsupported()
    }

    /// # Safety
    /// None needed: nothing is freed in this build.
    pub(crate) unsafe fn free(_device: &Device, _ptr: u64) -> Result<()> {
        unsupported()
    }

    pub(crate) fn copy_to_device(
        _device: &Device,
        _host: &[u8],
        _ptr: u64,
        _stream: usize,
    ) -> Result<()> {
        unsupported()
    }

    pub(crate) fn copy_to_host(
        _device: &Device,
        _ptr: u64,
        _host: &mut [u8],
        _stream: usize,
    ) -> Result<()> {
        unsupported()
    }
}
