//! Memory-mapped files for the core (the only `unsafe` a file map needs
//! lives here, with the rest of the crate's `unsafe`).

use std::path::Path;

use crate::error::{Error, Result};

/// `path` mapped read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let io = |source| Error::Io {
        context: format!("cannot read {}", path.display()),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only and private to this process; helios
    // reads it while loading and copies what it keeps. A file truncated by
    // another process during the load could fault, as with any mmap reader
    // (safetensors' own loaders share this); files written by helios are
    // replaced by rename, never truncated in place.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}
