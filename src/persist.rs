//! What every saved object shares: reading a whole file, writing one
//! atomically (a temporary file in the same folder, then a rename, so a
//! reader or a crash never leaves half a file), a checksum, and a
//! little-endian reader for the headers.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Read a whole file, as an [`Error::Io`] naming it on failure.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        context: format!("cannot read {}", path.display()),
        source,
    })
}

/// Write `bytes` to `path` through a temporary file in the same folder and
/// a rename: a reader sees the old file or the new one, never half of one,
/// and a save that dies midway leaves the old file as it was.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |what: &str, source| Error::Io {
        context: format!("{what} {}", path.display()),
        source,
    };
    // Unique per process and call, so concurrent saves never share a file.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(
        ".tmp{}-{}",
        std::process::id(),
        SAVES.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = std::path::PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)
            .map_err(|e| io("cannot create a temporary file for", e))?;
        file.write_all(bytes).map_err(|e| io("cannot write", e))?;
        file.sync_all().map_err(|e| io("cannot flush", e))?;
        std::fs::rename(&temporary, path).map_err(|e| io("cannot rename the temporary file to", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// FNV-1a, 64-bit: enough to catch truncation and bit rot in a local file.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Append `checksum(bytes)` to `bytes`.
pub(crate) fn seal(bytes: &mut Vec<u8>) {
    let checksum = fnv1a(bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
}

/// The body of a sealed buffer (without its checksum) once the magic and the
/// checksum are right; `what` names the kind of file in the error.
pub(crate) fn unseal<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    min_body: usize,
    what: &str,
    source: &str,
) -> Result<&'a [u8]> {
    if bytes.len() < min_body.max(8) + 8 || &bytes[..8] != magic {
        return Err(Error::Format(format!(
            "{source}: not a helios {what} file (bad magic or too short)"
        )));
    }
    let (body, stored) = bytes.split_at(bytes.len() - 8);
    if fnv1a(body) != u64::from_le_bytes(stored.try_into().expect("8 bytes")) {
        return Err(Error::Format(format!(
            "{source}: corrupt or truncated (checksum mismatch)"
        )));
    }
    Ok(body)
}

/// Reads little-endian values from a buffer whose length the caller checked.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        let out = self.bytes[self.at..self.at + N]
            .try_into()
            .expect("length checked by the caller");
        self.at += N;
        out
    }
    pub(crate) fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    pub(crate) fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
    pub(crate) fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }
    /// The next `len` bytes.
    pub(crate) fn slice(&mut self, len: usize) -> &'a [u8] {
        let out = &self.bytes[self.at..self.at + len];
        self.at += len;
        out
    }
    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
}
