//! The incremental Nyström engine: it chooses landmarks from the data it is
//! built on (seeded: uniform sampling or k-means++), keeps the feature map
//! with its normaliser, and embeds new rows at a cost that depends only on
//! how many there are. It is single-owner: one thread at a time (the C layer
//! returns BUSY to a second one). Engines save to a versioned, checksummed
//! file, written atomically, and a reloaded engine gives the same bits.
//!
//! An f32 engine given a CUDA device ([`NystromEngine::set_device`], feature
//! `cuda`) keeps its feature map on the device too and runs build, update
//! and transform there; the landmarks are still chosen, and the normaliser
//! computed, on the CPU in f64. Its results match the CPU engine's within
//! 1e-5 of the output's largest magnitude (not bit for bit: another GEMM),
//! and repeat bit for bit on one device.

use std::path::Path;
use std::sync::Arc;

use super::rkhs::{
    check_finite, check_parameters, check_shapes, fitted_output, output_len, EmbedFloat,
    FeatureMap, Matrix,
};
use crate::error::{Error, Result};
use crate::exec::{run_blocks, Threads};
use crate::gpu::{rows_to_host, Device, DeviceFeatureMap, GpuMatrix, GpuOutput};
use crate::persist::{read_file, seal, unseal, write_atomically, Reader};
use crate::rng::{uniform_sample, SplitMix64};

/// How [`NystromEngine::build`] chooses its landmarks among the rows of X.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandmarkSelection {
    /// m distinct rows drawn uniformly at random (seeded).
    Uniform,
    /// k-means++ seeding: each next landmark drawn with probability
    /// proportional to its squared distance to the nearest one chosen so far,
    /// which spreads landmarks over the data.
    KMeansPlusPlus,
}

/// The settings of a [`NystromEngine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NystromOptions {
    /// Kernel width in `exp(-gamma ||x - y||²)`; finite and > 0.
    pub gamma: f64,
    /// Added to the diagonal of `K(L, L)`; finite and >= 0.
    pub ridge: f64,
    /// The number of landmarks m (the output width).
    pub landmark_count: usize,
    /// How the landmarks are chosen.
    pub selection: LandmarkSelection,
    /// The seed of the landmark choice: the same data and seed give the same
    /// landmarks on every machine and thread count.
    pub seed: u64,
    /// Worker threads.
    pub threads: Threads,
}

impl Default for NystromOptions {
    /// gamma 1, ridge 1e-6, 256 uniform landmarks, seed 0, default threads.
    fn default() -> NystromOptions {
        NystromOptions {
            gamma: 1.0,
            ridge: 1e-6,
            landmark_count: 256,
            selection: LandmarkSelection::Uniform,
            seed: 0,
            threads: Threads::Auto,
        }
    }
}

/// The incremental Nyström engine (single-owner).
#[derive(Debug, Clone)]
pub struct NystromEngine<T> {
    options: NystromOptions,
    map: Option<FeatureMap<T>>,
    /// The device later calls run on (None: the CPU).
    device: Option<Device>,
    /// `map` on `device`: present whenever both are.
    device_map: Option<Arc<DeviceFeatureMap>>,
}

/// `x` as an f32 matrix (the GPU path's type).
fn f32_matrix<T: EmbedFloat>(x: Matrix<'_, T>) -> Result<Matrix<'_, f32>> {
    let data = T::as_f32(x.data()).ok_or_else(f64_on_device)?;
    Matrix::with_stride(data, x.rows(), x.cols(), x.row_stride())
}

fn f64_on_device() -> Error {
    Error::Unsupported(
        "the GPU path computes in f32: create the engine with f32 data to run it on a device"
            .into(),
    )
}

fn no_device() -> Error {
    match crate::gpu::require_cuda() {
        Err(unsupported) => unsupported,
        Ok(()) => Error::InvalidState(
            "the Nyström engine has no device: give it one with set_device first".into(),
        ),
    }
}

impl<T: EmbedFloat> NystromEngine<T> {
    /// An engine that is not built yet.
    pub fn new(options: NystromOptions) -> Result<NystromEngine<T>> {
        check_parameters(options.gamma, options.ridge)?;
        if options.landmark_count == 0 {
            return Err(Error::invalid("landmark_count is 0: it must be at least 1"));
        }
        options.threads.resolve()?;
        Ok(NystromEngine {
            options,
            map: None,
            device: None,
            device_map: None,
        })
    }

    /// Run later calls on `device` (None: on the CPU again). A built engine
    /// uploads its feature map now; a later build replaces it. Only f32
    /// engines run on a device.
    ///
    /// Errors: [`Error::Unsupported`] (an f64 engine), [`Error::OutOfMemory`]
    /// (the map does not fit in the device's free memory), [`Error::Device`];
    /// on error the engine is left as it was.
    pub fn set_device(&mut self, device: Option<Device>) -> Result<()> {
        let Some(device) = device else {
            self.device = None;
            self.device_map = None;
            return Ok(());
        };
        if T::as_f32(&[]).is_none() {
            return Err(f64_on_device());
        }
        let uploaded = match &self.map {
            Some(map) => Some(Arc::new(DeviceFeatureMap::upload(
                &device,
                T::f32_map(map).ok_or_else(f64_on_device)?,
            )?)),
            None => None,
        };
        self.device = Some(device);
        self.device_map = uploaded;
        Ok(())
    }

    /// The device the engine runs on, if any.
    pub fn device(&self) -> Option<&Device> {
        self.device.as_ref()
    }

    /// `Phi(x)` into `out` with `map`: on the CPU, or with `device_map`.
    fn apply_with(
        &self,
        map: &FeatureMap<T>,
        device_map: Option<&DeviceFeatureMap>,
        x: Matrix<'_, T>,
        out: &mut [T],
    ) -> Result<()> {
        match device_map {
            None => map.apply_into(x, self.options.threads, out),
            Some(on_device) => {
                // The CPU path's shape errors, worded alike.
                check_shapes(x, map.dim(), map.landmark_count(), out.len())?;
                let out = T::as_f32_mut(out).ok_or_else(f64_on_device)?;
                on_device.apply(GpuMatrix::Host(f32_matrix(x)?), GpuOutput::Host(out), 0)
            }
        }
    }

    /// The engine's settings.
    pub fn options(&self) -> &NystromOptions {
        &self.options
    }

    /// The feature map, once built.
    pub fn feature_map(&self) -> Option<&FeatureMap<T>> {
        self.map.as_ref()
    }

    /// Choose landmarks among the rows of `x`, cache the normaliser and
    /// return `Phi(x)` (n x m). Building again replaces the landmarks.
    pub fn build(&mut self, x: Matrix<'_, T>) -> Result<Vec<T>> {
        let mut phi = vec![T::from_f64(0.0); output_len(x.rows(), self.options.landmark_count)?];
        self.build_into(x, &mut phi)?;
        Ok(phi)
    }

    /// [`build`](Self::build) writing `Phi(x)` into the first n·m values of
    /// `out`. On error the engine is left as it was.
    pub fn build_into(&mut self, x: Matrix<'_, T>, out: &mut [T]) -> Result<()> {
        let (n, d, m) = (x.rows(), x.cols(), self.options.landmark_count);
        check_build_shape(n, d, m)?;
        let needed = fitted_output(n, m, out.len(), "out")?;
        check_finite(x, "X")?;
        let landmarks = self.chosen_rows(x)?;
        let map = self.map_on(&landmarks, d)?;
        let device_map = self.upload(&map)?;
        self.apply_with(&map, device_map.as_deref(), x, &mut out[..needed])?;
        self.map = Some(map);
        self.device_map = device_map;
        Ok(())
    }

    /// `map` uploaded to the engine's device, if it has one.
    fn upload(&self, map: &FeatureMap<T>) -> Result<Option<Arc<DeviceFeatureMap>>> {
        let Some(device) = &self.device else {
            return Ok(None);
        };
        let map = T::f32_map(map).ok_or_else(f64_on_device)?;
        Ok(Some(Arc::new(DeviceFeatureMap::upload(device, map)?)))
    }

    /// [`build_into`](Self::build_into) on the engine's device, with `x`
    /// (n x d) and `out` (n x m) in device memory (or host memory, staged),
    /// on `stream` (a raw `CUstream`, 0 for the default stream). The chosen
    /// landmark rows are copied to the host (all of X for k-means++, which
    /// runs on the CPU), once the stream has finished the work queued on it.
    ///
    /// Errors: those of [`build_into`](Self::build_into) and
    /// [`crate::gpu::embed::rkhs_embed_f32`] (feature `cuda`), plus
    /// [`Error::InvalidState`] (no device) and [`Error::Unsupported`] (built
    /// without `cuda`, or an f64 engine). On error the engine is left as it
    /// was.
    pub fn build_on_device(
        &mut self,
        x: GpuMatrix<'_>,
        out: GpuOutput<'_>,
        stream: usize,
    ) -> Result<()> {
        let device = self.device.clone().ok_or_else(no_device)?;
        if T::as_f32(&[]).is_none() {
            return Err(f64_on_device());
        }
        let ((n, d), m) = (x.shape(), self.options.landmark_count);
        check_build_shape(n, d, m)?;
        // The output's room before any copy, k-means++ or normaliser.
        let capacity = match &out {
            GpuOutput::Host(slice) => slice.len(),
            GpuOutput::Device { len, .. } => *len,
        };
        fitted_output(n, m, capacity, "out")?;
        let landmarks: Vec<f32> = match (x, self.options.selection) {
            (GpuMatrix::Host(host), _) => {
                let host = Matrix::with_stride(host.data(), n, d, host.row_stride())?;
                check_finite(host, "X")?;
                self.chosen_rows(host)?
            }
            (GpuMatrix::Device { .. }, LandmarkSelection::Uniform) => {
                let chosen = uniform_sample(n, m, self.options.seed);
                rows_to_host(&device, x, Some(&chosen), stream)?
            }
            (GpuMatrix::Device { .. }, LandmarkSelection::KMeansPlusPlus) => {
                let all = rows_to_host(&device, x, None, stream)?;
                let all = Matrix::new(&all, n, d)?;
                check_finite(all, "X")?;
                self.chosen_rows(all)?
            }
        };
        let landmarks: Vec<T> = landmarks
            .iter()
            .map(|&v| T::from_f64(f64::from(v)))
            .collect();
        let map = self.map_on(&landmarks, d)?;
        let uploaded = self.upload(&map)?.ok_or_else(no_device)?;
        uploaded.apply(x, out, stream)?;
        self.map = Some(map);
        self.device_map = Some(uploaded);
        Ok(())
    }

    /// The landmark rows the options choose among the rows of `x` (finite).
    fn chosen_rows<U: EmbedFloat>(&self, x: Matrix<'_, U>) -> Result<Vec<U>> {
        let m = self.options.landmark_count;
        let chosen = match self.options.selection {
            LandmarkSelection::Uniform => uniform_sample(x.rows(), m, self.options.seed),
            LandmarkSelection::KMeansPlusPlus => kmeans_plus_plus(
                x,
                m,
                self.options.seed,
                self.options.threads.resolve()?,
                true,
            )?,
        };
        Ok(chosen
            .iter()
            .flat_map(|&i| x.row(i).iter().copied())
            .collect())
    }

    /// The feature map of the options on `landmarks` (m rows of d).
    fn map_on(&self, landmarks: &[T], d: usize) -> Result<FeatureMap<T>> {
        FeatureMap::new(
            Matrix::new(landmarks, self.options.landmark_count, d)?,
            self.options.gamma,
            self.options.ridge,
        )
    }

    /// [`transform`](Self::transform) on the engine's device into `out`
    /// (n x m), with `x` and `out` in device memory (or host memory,
    /// staged), on `stream` (a raw `CUstream`, 0 for the default stream).
    ///
    /// Errors: as [`build_on_device`](Self::build_on_device), plus
    /// [`Error::InvalidState`] (not built).
    pub fn transform_on_device(
        &self,
        x: GpuMatrix<'_>,
        out: GpuOutput<'_>,
        stream: usize,
    ) -> Result<()> {
        self.device.as_ref().ok_or_else(no_device)?;
        self.built()?;
        let on_device = self.device_map.as_ref().ok_or_else(no_device)?;
        on_device.apply(x, out, stream)
    }

    /// [`update_into`](Self::update_into) on the engine's device: write
    /// `Phi(x_new)` into `buffer` (device or host memory, rows of m) after
    /// its first `rows_used` rows, on `stream`, and return the new row
    /// count. Only the new rows are written.
    ///
    /// Errors: as [`transform_on_device`](Self::transform_on_device).
    pub fn update_on_device(
        &self,
        x_new: GpuMatrix<'_>,
        buffer: GpuOutput<'_>,
        rows_used: usize,
        stream: usize,
    ) -> Result<usize> {
        self.device.as_ref().ok_or_else(no_device)?;
        let map = self.built()?;
        let on_device = self.device_map.as_ref().ok_or_else(no_device)?;
        let m = map.landmark_count();
        let rows = rows_used
            .checked_add(x_new.shape().0)
            .ok_or_else(|| Error::invalid("row count overflows"))?;
        let capacity = match &buffer {
            GpuOutput::Host(slice) => slice.len(),
            GpuOutput::Device { len, .. } => *len,
        };
        fitted_output(rows, m, capacity, "buffer")?;
        let skip = rows_used * m; // below rows * m, which fits
        if matches!(buffer, GpuOutput::Device { ptr: 0, .. }) {
            // Checked here: an offset NULL is no longer NULL.
            return Err(Error::NullArgument("buffer"));
        }
        let tail = match buffer {
            GpuOutput::Host(slice) => GpuOutput::Host(&mut slice[skip..]),
            GpuOutput::Device { ptr, len } => GpuOutput::Device {
                ptr: ptr + (skip * std::mem::size_of::<f32>()) as u64,
                len: len - skip,
            },
        };
        on_device.apply(x_new, tail, stream)?;
        Ok(rows)
    }

    fn built(&self) -> Result<&FeatureMap<T>> {
        self.map.as_ref().ok_or_else(|| {
            Error::InvalidState("the Nyström engine is not built yet: call build first".into())
        })
    }

    /// `Phi(x)` with the engine's landmarks, without changing the engine.
    pub fn transform(&self, x: Matrix<'_, T>) -> Result<Vec<T>> {
        let map = self.built()?;
        let mut phi = vec![T::from_f64(0.0); output_len(x.rows(), map.landmark_count())?];
        self.apply_with(map, self.device_map.as_deref(), x, &mut phi)?;
        Ok(phi)
    }

    /// [`transform`](Self::transform) into the first n·m values of `out`.
    pub fn transform_into(&self, x: Matrix<'_, T>, out: &mut [T]) -> Result<()> {
        let map = self.built()?;
        self.apply_with(map, self.device_map.as_deref(), x, out)
    }

    /// Append `Phi(x_new)` to `phi` (rows of m values). Amortised, the cost
    /// depends on the new rows only: the old rows are neither read nor moved
    /// unless the vector has to grow.
    pub fn update(&self, x_new: Matrix<'_, T>, phi: &mut Vec<T>) -> Result<()> {
        let map = self.built()?;
        let m = map.landmark_count();
        if !phi.len().is_multiple_of(m) {
            return Err(Error::invalid(format!(
                "phi holds {} values, not a whole number of rows of {m}",
                phi.len()
            )));
        }
        let old = phi.len();
        let added = output_len(x_new.rows(), m)?;
        phi.resize(old + added, T::from_f64(0.0));
        let result = self.apply_with(map, self.device_map.as_deref(), x_new, &mut phi[old..]);
        if result.is_err() {
            phi.truncate(old); // leave the caller's rows as they were
        }
        result
    }

    /// Write `Phi(x_new)` into `buffer` after its first `rows_used` rows and
    /// return the new row count. Only the new rows are written.
    pub fn update_into(
        &self,
        x_new: Matrix<'_, T>,
        buffer: &mut [T],
        rows_used: usize,
    ) -> Result<usize> {
        let map = self.built()?;
        let m = map.landmark_count();
        let rows = rows_used
            .checked_add(x_new.rows())
            .ok_or_else(|| Error::invalid("row count overflows"))?;
        let needed = fitted_output(rows, m, buffer.len(), "buffer")?;
        self.apply_with(
            map,
            self.device_map.as_deref(),
            x_new,
            &mut buffer[rows_used * m..needed],
        )?;
        Ok(rows)
    }

    /// Change the worker count used by later calls (a loaded engine starts
    /// with [`Threads::Auto`]). The output bits do not depend on it.
    pub fn set_threads(&mut self, threads: Threads) -> Result<()> {
        threads.resolve()?;
        self.options.threads = threads;
        Ok(())
    }

    /// The built engine in the versioned, checksummed format of
    /// [`save`](Self::save).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let map = self.built()?;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(std::mem::size_of::<T>() as u32).to_le_bytes());
        let (gamma, ridge) = map.parameters();
        bytes.extend_from_slice(&gamma.to_le_bytes());
        bytes.extend_from_slice(&ridge.to_le_bytes());
        let selection = match self.options.selection {
            LandmarkSelection::Uniform => 0u32,
            LandmarkSelection::KMeansPlusPlus => 1u32,
        };
        bytes.extend_from_slice(&selection.to_le_bytes());
        bytes.extend_from_slice(&self.options.seed.to_le_bytes());
        bytes.extend_from_slice(&(map.landmark_count() as u64).to_le_bytes());
        bytes.extend_from_slice(&(map.dim() as u64).to_le_bytes());
        for &value in map.landmarks().iter().chain(map.normaliser()) {
            push_element(&mut bytes, value);
        }
        seal(&mut bytes);
        Ok(bytes)
    }

    /// Save the built engine to `path` (written to a temporary file in the
    /// same folder, then renamed over `path`, so a reader never sees half a
    /// file).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes()?)
    }

    /// Load an engine saved by [`save`](Self::save) with the same element
    /// type. A truncated, corrupt or foreign file gives [`Error::Format`].
    pub fn load(path: &Path) -> Result<NystromEngine<T>> {
        let bytes = read_file(path)?;
        NystromEngine::from_bytes(&bytes, &path.display().to_string())
    }

    /// An engine from the bytes of [`to_bytes`](Self::to_bytes); `source`
    /// names them in error messages (a path, "the buffer").
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<NystromEngine<T>> {
        let element = stored_element_size(bytes, source)?;
        let format = |what: &str| Error::Format(format!("{source}: {what}"));
        let body = &bytes[..bytes.len() - 8];
        let mut reader = Reader {
            bytes: body,
            at: 16,
        };
        if element != std::mem::size_of::<T>() {
            return Err(format(&format!(
                "holds {element}-byte elements, but was loaded as {}-byte ones",
                std::mem::size_of::<T>()
            )));
        }
        let (gamma, ridge) = (reader.f64(), reader.f64());
        let selection = match reader.u32() {
            0 => LandmarkSelection::Uniform,
            1 => LandmarkSelection::KMeansPlusPlus,
            other => return Err(format(&format!("unknown landmark selection {other}"))),
        };
        let seed = reader.u64();
        let (m, d) = (reader.u64(), reader.u64());
        let (m, d) = match (usize::try_from(m), usize::try_from(d)) {
            (Ok(m), Ok(d)) => (m, d),
            _ => return Err(format(&format!("impossible sizes m = {m}, d = {d}"))),
        };
        let count = m
            .checked_mul(d)
            .and_then(|md| md.checked_add(m.checked_mul(m)?))
            .filter(|_| m > 0 && d > 0)
            .ok_or_else(|| format(&format!("impossible sizes m = {m}, d = {d}")))?;
        if count.checked_mul(element) != Some(body.len() - HEADER_LEN) {
            return Err(format("the sizes in the header do not match the data"));
        }
        check_parameters(gamma, ridge).map_err(|e| format(&e.to_string()))?;
        let values: Vec<T> = (0..count).map(|_| read_element::<T>(&mut reader)).collect();
        let (landmarks, normaliser) = values.split_at(m * d);
        if values.iter().any(|v| !v.to_f64().is_finite()) {
            return Err(format("holds a NaN or Inf"));
        }
        // Compared as bits: the map reads it in either layout, so 0.0 and
        // -0.0 must not differ either.
        let bits = |v: T| v.to_f64().to_bits();
        let symmetric = (0..m).all(|i| {
            (i + 1..m).all(|j| bits(normaliser[i * m + j]) == bits(normaliser[j * m + i]))
        });
        if !symmetric {
            return Err(format("the normaliser is not symmetric"));
        }
        let options = NystromOptions {
            gamma,
            ridge,
            landmark_count: m,
            selection,
            seed,
            threads: Threads::Auto,
        };
        let map = FeatureMap::from_parts(gamma, ridge, landmarks.to_vec(), d, normaliser.to_vec());
        Ok(NystromEngine {
            options,
            map: Some(map),
            device: None,
            device_map: None,
        })
    }
}

/// The shape checks of a build on n rows of d values with m landmarks.
pub(crate) fn check_build_shape(n: usize, d: usize, m: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::invalid(format!("empty input: n = {n}, d = {d}")));
    }
    if m > n {
        return Err(Error::invalid(format!(
            "landmark_count {m} is larger than the {n} rows to choose from"
        )));
    }
    Ok(())
}

/// The element size (4 or 8 bytes) of an engine saved with
/// [`NystromEngine::to_bytes`], after checking its magic, checksum and
/// version, so that a caller can load it with the right type.
pub fn stored_element_size(bytes: &[u8], source: &str) -> Result<usize> {
    let format = |what: &str| Error::Format(format!("{source}: {what}"));
    let body = unseal(bytes, MAGIC, HEADER_LEN, "Nyström engine", source)?;
    let mut reader = Reader { bytes: body, at: 8 };
    let version = reader.u32();
    if version != FORMAT_VERSION {
        return Err(format(&format!(
            "format version {version}, this library reads {FORMAT_VERSION}"
        )));
    }
    match reader.u32() {
        element @ (4 | 8) => Ok(element as usize),
        other => Err(format(&format!("unknown element size {other}"))),
    }
}

const MAGIC: &[u8; 8] = b"HELIOSNY";
const FORMAT_VERSION: u32 = 1;
/// magic, version, element size, gamma, ridge, selection, seed, m, d.
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8;

fn read_element<T: EmbedFloat>(reader: &mut Reader<'_>) -> T {
    if std::mem::size_of::<T>() == 4 {
        T::from_f64(f64::from(reader.f32()))
    } else {
        T::from_f64(reader.f64())
    }
}

fn push_element<T: EmbedFloat>(bytes: &mut Vec<u8>, value: T) {
    if std::mem::size_of::<T>() == 4 {
        bytes.extend_from_slice(&(value.to_f64() as f32).to_le_bytes());
    } else {
        bytes.extend_from_slice(&value.to_f64().to_le_bytes());
    }
}

/// `||row - centre||²` in f64, summed in 8 interleaved partial sums added in
/// a fixed order: unlike one running sum, whose every add waits on the last
/// (the whole k-means++ cost before), the lanes vectorise, and the result
/// still does not depend on the vector width or the thread count.
#[inline(always)]
fn squared_distance<T: EmbedFloat>(row: &[T], centre: &[f64]) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let (row_body, row_tail) = row.split_at(row.len() / LANES * LANES);
    let (centre_body, centre_tail) = centre.split_at(row_body.len());
    for (values, centres) in row_body
        .chunks_exact(LANES)
        .zip(centre_body.chunks_exact(LANES))
    {
        for lane in 0..LANES {
            let diff = values[lane].to_f64() - centres[lane];
            lanes[lane] += diff * diff;
        }
    }
    for (lane, (value, c)) in row_tail.iter().zip(centre_tail).enumerate() {
        let diff = value.to_f64() - c;
        lanes[lane] += diff * diff;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// A row's squared distance to the nearest landmark chosen so far, and that
/// landmark's position among the chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Nearest {
    dist2: f64,
    landmark: usize,
}

/// Lower each row's [`Nearest`] to the new landmark `centre` (position
/// `landmark`) where it is closer. `gaps[a]` is the squared distance from the
/// new landmark to landmark `a`: when it exceeds 4·(1 + 1e-6) times a row's
/// distance to its nearest landmark `a`, the triangle inequality puts the new
/// one farther than `a` by a margin far above rounding, so the row is skipped
/// without reading it, and the outcome is exactly that of computing it (the
/// test `pruning_changes_no_choice` compares). Compiled for the machine's
/// widest vector unit.
fn lower_to_centre<T: EmbedFloat>(
    x: Matrix<'_, T>,
    (first, landmark): (usize, usize),
    centre: &[f64],
    gaps: Option<&[f64]>,
    nearest: &mut [Nearest],
) {
    struct Lower<'a, 'x, T> {
        x: Matrix<'x, T>,
        first: usize,
        landmark: usize,
        centre: &'a [f64],
        gaps: Option<&'a [f64]>,
        nearest: &'a mut [Nearest],
    }
    impl<T: EmbedFloat> pulp::WithSimd for Lower<'_, '_, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            const MARGIN: f64 = 4.0 * (1.0 + 1e-6);
            for (offset, best) in self.nearest.iter_mut().enumerate() {
                if let Some(gaps) = self.gaps {
                    if best.dist2.is_finite() && gaps[best.landmark] > MARGIN * best.dist2 {
                        continue;
                    }
                }
                let dist2 = squared_distance(self.x.row(self.first + offset), self.centre);
                if dist2 < best.dist2 {
                    *best = Nearest {
                        dist2,
                        landmark: self.landmark,
                    };
                }
            }
        }
    }
    pulp::Arch::new().dispatch(Lower {
        x,
        first,
        landmark,
        centre,
        gaps,
        nearest,
    });
}

/// k-means++ seeding of `m` rows of `x`. The distance updates run on the
/// worker blocks; the draw itself scans the distances in index order, so the
/// choice is the same for every thread count. `prune` skips rows that the
/// triangle inequality shows cannot move (the same choice, far fewer reads of
/// X once landmarks accumulate); the tests turn it off to compare.
fn kmeans_plus_plus<T: EmbedFloat>(
    x: Matrix<'_, T>,
    m: usize,
    seed: u64,
    threads: usize,
    prune: bool,
) -> Result<Vec<usize>> {
    let n = x.rows();
    let mut rng = SplitMix64(seed);
    let mut chosen = Vec::with_capacity(m);
    let mut taken = vec![false; n];
    let far = Nearest {
        dist2: f64::INFINITY,
        landmark: 0,
    };
    let mut nearest = vec![far; n];
    let mut gaps = Vec::with_capacity(m);
    let mut next = rng.below(n);
    loop {
        chosen.push(next);
        taken[next] = true;
        if chosen.len() == m {
            return Ok(chosen);
        }
        let landmark = chosen.len() - 1;
        let centre: Vec<f64> = x.row(next).iter().map(|v| v.to_f64()).collect();
        gaps.clear();
        if prune {
            gaps.extend(chosen.iter().map(|&c| squared_distance(x.row(c), &centre)));
        }
        let gaps = prune.then_some(&gaps[..]);
        run_blocks(
            threads,
            &mut nearest,
            4096,
            None,
            || (),
            |(), index, block| {
                lower_to_centre(x, (index * 4096, landmark), &centre, gaps, block);
                Ok(())
            },
        )?;
        let total: f64 = nearest.iter().map(|near| near.dist2).sum();
        next = if total > 0.0 {
            let target = rng.unit() * total;
            let mut running = 0.0;
            let mut pick = None;
            for (i, near) in nearest.iter().enumerate() {
                running += near.dist2;
                if near.dist2 > 0.0 && running > target {
                    pick = Some(i);
                    break;
                }
            }
            // Rounding can leave the target just past the end: take the last
            // point with a positive distance.
            pick.or_else(|| nearest.iter().rposition(|near| near.dist2 > 0.0))
                .expect("total > 0")
        } else {
            // Every point sits on a landmark already (fewer distinct rows than
            // m): take untaken rows uniformly; the normaliser's pseudo-inverse
            // handles the duplicates.
            let free: Vec<usize> = (0..n).filter(|&i| !taken[i]).collect();
            free[rng.below(free.len())]
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowering_to_a_centre_keeps_the_smaller_squared_distance() {
        // d = 11: one body of 8 lanes and a tail of 3.
        let (n, d) = (5, 11);
        let x: Vec<f32> = (0..n * d).map(|i| (i % 7) as f32 - 3.0).collect();
        let centre: Vec<f64> = (0..d).map(|k| k as f64 * 0.5).collect();
        let before: Vec<Nearest> = [f64::INFINITY, 0.0, 1e9, f64::INFINITY, 50.0]
            .iter()
            .map(|&dist2| Nearest { dist2, landmark: 0 })
            .collect();
        let mut nearest = before.clone();
        lower_to_centre(
            Matrix::new(&x, n, d).unwrap(),
            (0, 7),
            &centre,
            None,
            &mut nearest,
        );
        for i in 0..n {
            let exact: f64 = (0..d)
                .map(|k| (f64::from(x[i * d + k]) - centre[k]).powi(2))
                .sum();
            let expected = exact.min(before[i].dist2);
            assert!(
                (nearest[i].dist2 - expected).abs() <= 1e-12 * expected.max(1.0),
                "row {i}"
            );
            let moved = exact < before[i].dist2;
            assert_eq!(nearest[i].landmark, if moved { 7 } else { 0 }, "row {i}");
        }
        assert_eq!(nearest[1].dist2, 0.0);
    }

    #[test]
    fn pruning_changes_no_choice() {
        // Clustered data (where pruning skips most rows), uniform noise, and
        // rows repeated (zero distances), in f32 and f64, several seeds.
        let mut state = 1u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let (n, d) = (1500, 7);
        let clustered: Vec<f64> = (0..n * d)
            .map(|i| ((i / d) % 9) as f64 * 10.0 + noise())
            .collect();
        let uniform: Vec<f64> = (0..n * d).map(|_| noise()).collect();
        let repeated: Vec<f64> = (0..n * d).map(|i| uniform[i % (40 * d)]).collect();
        for data in [&clustered, &uniform, &repeated] {
            let single: Vec<f32> = data.iter().map(|&v| v as f32).collect();
            for seed in 0..3 {
                let x64 = Matrix::new(data, n, d).unwrap();
                let x32 = Matrix::new(&single, n, d).unwrap();
                for threads in [1, 2] {
                    assert_eq!(
                        kmeans_plus_plus(x64, 120, seed, threads, true).unwrap(),
                        kmeans_plus_plus(x64, 120, seed, threads, false).unwrap()
                    );
                    assert_eq!(
                        kmeans_plus_plus(x32, 120, seed, threads, true).unwrap(),
                        kmeans_plus_plus(x32, 120, seed, threads, false).unwrap()
                    );
                }
            }
        }
    }
}
