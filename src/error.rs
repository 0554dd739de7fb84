//! The error type of the safe Rust API. Every fallible function in the crate
//! returns [`Result<T>`]; the C layer (`src/ffi/`) maps each [`ErrorKind`] to
//! one `HeliosStatus` code and keeps the [`Error`]'s text as the thread's last
//! error message, so a C, Python or C# caller sees the same words a Rust caller
//! does.

use std::fmt;

/// The category of an [`Error`], stable across releases: match on this, not on
/// the message text. Each kind maps to exactly one C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A required pointer was NULL (only the C layer produces this kind).
    NullArgument,
    /// An argument is out of its documented range.
    InvalidArgument,
    /// A caller buffer is too small; the error carries the size needed.
    BufferTooSmall,
    /// A single-owner object is already in use by another thread.
    Busy,
    /// The work was stopped by a `CancelToken` or by a callback's non-zero return.
    Cancelled,
    /// The operating system refused a file operation.
    Io,
    /// A file or buffer does not have the expected format.
    Format,
    /// The operation is not available in this build or on this platform.
    Unsupported,
    /// A GPU device or driver failed.
    Device,
    /// A numerical failure (for example a matrix that cannot be factorised).
    Numeric,
    /// An allocation failed.
    OutOfMemory,
    /// The object is not in a state that allows the operation.
    InvalidState,
    /// A bug in helios (for example a caught panic).
    Internal,
}

/// An error from helios: a kind to match on and a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ErrorKind::NullArgument`].
    #[error("argument `{0}` is NULL")]
    NullArgument(&'static str),
    /// See [`ErrorKind::InvalidArgument`].
    #[error("{0}")]
    InvalidArgument(String),
    /// See [`ErrorKind::BufferTooSmall`].
    #[error("buffer `{name}` holds {capacity} elements but {needed} are needed")]
    BufferTooSmall {
        /// Which buffer was too small.
        name: &'static str,
        /// The number of elements the call needs.
        needed: usize,
        /// The number of elements the caller provided.
        capacity: usize,
    },
    /// See [`ErrorKind::Busy`].
    #[error(
        "{0} is in use by another thread (single-owner object: use it from one thread at a time)"
    )]
    Busy(&'static str),
    /// See [`ErrorKind::Cancelled`].
    #[error("{0}")]
    Cancelled(String),
    /// See [`ErrorKind::Io`].
    #[error("{context}: {source}")]
    Io {
        /// What helios was doing, with the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// See [`ErrorKind::Format`].
    #[error("{0}")]
    Format(String),
    /// See [`ErrorKind::Unsupported`].
    #[error("{0}")]
    Unsupported(String),
    /// See [`ErrorKind::Device`].
    #[error("{0}")]
    Device(String),
    /// See [`ErrorKind::Numeric`].
    #[error("{0}")]
    Numeric(String),
    /// See [`ErrorKind::OutOfMemory`].
    #[error("{0}")]
    OutOfMemory(String),
    /// See [`ErrorKind::InvalidState`].
    #[error("{0}")]
    InvalidState(String),
    /// See [`ErrorKind::Internal`].
    #[error("internal error (a bug in helios, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NullArgument(_) => ErrorKind::NullArgument,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Cancelled(_) => ErrorKind::Cancelled,
            Error::Io { .. } => ErrorKind::Io,
            Error::Format(_) => ErrorKind::Format,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Device(_) => ErrorKind::Device,
            Error::Numeric(_) => ErrorKind::Numeric,
            Error::OutOfMemory(_) => ErrorKind::OutOfMemory,
            Error::InvalidState(_) => ErrorKind::InvalidState,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Shorthand for an [`Error::InvalidArgument`] built from anything printable.
    pub fn invalid(message: impl fmt::Display) -> Error {
        Error::InvalidArgument(message.to_string())
    }
}

/// The result type of the safe Rust API.
pub type Result<T> = std::result::Result<T, Error>;
