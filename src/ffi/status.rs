//! Status codes, the per-thread last error message, version queries and the
//! panic guard that every entry point runs under.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind};

/// The ABI version of this header and library. A binding compares
/// `helios_abi_version()` with the value it was built for and refuses a
/// library that differs. It changes whenever an existing function, struct or
/// enum changes in a way that breaks callers.
pub const HELIOS_ABI_VERSION: u32 = 1;

/// `HELIOS_AUTO` (`SIZE_MAX`): pass as a thread count or block size to let
/// helios choose. cbindgen cannot write `usize::MAX`, so the header's
/// `#define` comes from `cbindgen.toml`; a test checks the two agree.
pub const HELIOS_AUTO: usize = usize::MAX;

/// The largest thread count helios accepts; a larger count gets
/// `HELIOS_ERR_INVALID_ARGUMENT`.
pub const HELIOS_MAX_THREADS: usize = 1024;
const _: () = assert!(HELIOS_MAX_THREADS == crate::exec::MAX_THREADS);

/// The result of every fallible helios function. `HELIOS_OK` is 0; on any
/// other value `helios_last_error()` holds a message for the calling thread.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeliosStatus {
    /// Success.
    HELIOS_OK = 0,
    /// A required pointer argument was NULL.
    HELIOS_ERR_NULL_ARGUMENT = 1,
    /// An argument is out of range (zero length, overflowing size, bad option).
    HELIOS_ERR_INVALID_ARGUMENT = 2,
    /// An output buffer is too small; the call wrote the size it needs.
    HELIOS_ERR_BUFFER_TOO_SMALL = 3,
    /// A single-owner object is in use by another thread; nothing was changed.
    HELIOS_ERR_BUSY = 4,
    /// Stopped by a CancelToken or by a callback's non-zero return.
    HELIOS_ERR_CANCELLED = 5,
    /// A file could not be read or written.
    HELIOS_ERR_IO = 6,
    /// A file or buffer is corrupt, truncated or of the wrong format.
    HELIOS_ERR_FORMAT = 7,
    /// Not available in this build or on this platform.
    HELIOS_ERR_UNSUPPORTED = 8,
    /// A GPU device or driver error.
    HELIOS_ERR_DEVICE = 9,
    /// A numerical failure.
    HELIOS_ERR_NUMERIC = 10,
    /// An allocation failed.
    HELIOS_ERR_OUT_OF_MEMORY = 11,
    /// The object is not in a state that allows the call.
    HELIOS_ERR_INVALID_STATE = 12,
    /// A bug in helios (a caught panic, for instance); the message says more.
    HELIOS_ERR_INTERNAL = 13,
}

use HeliosStatus::*;

const STATUS_NAMES: [(HeliosStatus, &std::ffi::CStr); 14] = [
    (HELIOS_OK, c"HELIOS_OK"),
    (HELIOS_ERR_NULL_ARGUMENT, c"HELIOS_ERR_NULL_ARGUMENT"),
    (HELIOS_ERR_INVALID_ARGUMENT, c"HELIOS_ERR_INVALID_ARGUMENT"),
    (HELIOS_ERR_BUFFER_TOO_SMALL, c"HELIOS_ERR_BUFFER_TOO_SMALL"),
    (HELIOS_ERR_BUSY, c"HELIOS_ERR_BUSY"),
    (HELIOS_ERR_CANCELLED, c"HELIOS_ERR_CANCELLED"),
    (HELIOS_ERR_IO, c"HELIOS_ERR_IO"),
    (HELIOS_ERR_FORMAT, c"HELIOS_ERR_FORMAT"),
    (HELIOS_ERR_UNSUPPORTED, c"HELIOS_ERR_UNSUPPORTED"),
    (HELIOS_ERR_DEVICE, c"HELIOS_ERR_DEVICE"),
    (HELIOS_ERR_NUMERIC, c"HELIOS_ERR_NUMERIC"),
    (HELIOS_ERR_OUT_OF_MEMORY, c"HELIOS_ERR_OUT_OF_MEMORY"),
    (HELIOS_ERR_INVALID_STATE, c"HELIOS_ERR_INVALID_STATE"),
    (HELIOS_ERR_INTERNAL, c"HELIOS_ERR_INTERNAL"),
];

impl From<ErrorKind> for HeliosStatus {
    fn from(kind: ErrorKind) -> HeliosStatus {
        match kind {
            ErrorKind::NullArgument => HELIOS_ERR_NULL_ARGUMENT,
            ErrorKind::InvalidArgument => HELIOS_ERR_INVALID_ARGUMENT,
            ErrorKind::BufferTooSmall => HELIOS_ERR_BUFFER_TOO_SMALL,
            ErrorKind::Busy => HELIOS_ERR_BUSY,
            ErrorKind::Cancelled => HELIOS_ERR_CANCELLED,
            ErrorKind::Io => HELIOS_ERR_IO,
            ErrorKind::Format => HELIOS_ERR_FORMAT,
            ErrorKind::Unsupported => HELIOS_ERR_UNSUPPORTED,
            ErrorKind::Device => HELIOS_ERR_DEVICE,
            ErrorKind::Numeric => HELIOS_ERR_NUMERIC,
            ErrorKind::OutOfMemory => HELIOS_ERR_OUT_OF_MEMORY,
            ErrorKind::InvalidState => HELIOS_ERR_INVALID_STATE,
            ErrorKind::Internal => HELIOS_ERR_INTERNAL,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Store `message` as the calling thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // An interior NUL would cut the C string short; show it instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread teardown (a call from an atexit handler or a
    // TLS destructor) the slot is gone and the message is dropped, rather
    // than `with` panicking outside any guard.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// The calling thread's last error message (for the Rust tests and bindings).
pub fn last_error_message() -> String {
    LAST_ERROR
        .try_with(|slot| slot.borrow().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// Run the body of an entry point: clear the thread's last error, run `body`
/// under `catch_unwind`, and turn its error or panic into a status and a
/// message. No panic ever leaves this function. Every fallible entry point
/// runs under it; the others (names, versions, the last error, the thread
/// count) only read constants or atomics and cannot panic.
pub(crate) fn ffi_call<F>(body: F) -> HeliosStatus
where
    F: FnOnce() -> Result<(), Error>,
{
    set_last_error("");
    // The error is formatted inside the guard too: its message is built from
    // the caller's data, and a panic while formatting must not escape.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        body().map_err(|error| (error.kind(), error.to_string()))
    }));
    match outcome {
        // Cleared again: a callback inside `body` may have made a helios call
        // on this thread that failed.
        Ok(Ok(())) => {
            set_last_error("");
            HELIOS_OK
        }
        Ok(Err((kind, message))) => {
            set_last_error(&message);
            kind.into()
        }
        Err(payload) => {
            let error = Error::Internal(format!("panic: {}", panic_text(payload.as_ref())));
            set_last_error(&error.to_string());
            HELIOS_ERR_INTERNAL
        }
    }
}

/// The name of a status code as a static NUL-terminated string, for example
/// `"HELIOS_ERR_BUSY"`; `"HELIOS_UNKNOWN_STATUS"` for a value that is not a
/// `HeliosStatus`. Never NULL; the caller must not free it.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_status_name(status: i32) -> *const c_char {
    STATUS_NAMES
        .iter()
        .find(|(code, _)| *code as i32 == status)
        .map_or(c"HELIOS_UNKNOWN_STATUS", |(_, name)| name)
        .as_ptr()
}

/// The calling thread's last error message, as a NUL-terminated UTF-8 string;
/// empty after a call that succeeded. Each thread has its own message, so a
/// failure on one thread never overwrites another's. The pointer stays valid
/// until this thread's next call into helios (other than this function and
/// `helios_status_name`); copy the text to keep it. Never NULL; do not free.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The library version, for example `"0.1.0"`, as a static NUL-terminated
/// string. Never NULL; do not free.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version of the loaded library; compare it with `HELIOS_ABI_VERSION`
/// from the header the caller was compiled against.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_abi_version() -> u32 {
    HELIOS_ABI_VERSION
}

/// Set the default thread count used by calls that pass `HELIOS_AUTO`
/// (initially `HELIOS_NUM_THREADS` or the CPU count). `n` must be in
/// 1..=1024, else `HELIOS_ERR_INVALID_ARGUMENT`. Calls already running keep
/// the count they started with.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_set_num_threads(n: usize) -> HeliosStatus {
    ffi_call(|| crate::exec::set_default_threads(n))
}

/// The default thread count used by calls that pass `HELIOS_AUTO`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_get_num_threads() -> usize {
    crate::exec::default_threads()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn name(status: i32) -> String {
        // SAFETY: helios_status_name returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(helios_status_name(status)) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let status = ffi_call(|| panic!("the kernel table is empty"));
        assert_eq!(status, HELIOS_ERR_INTERNAL);
        let message = last_error_message();
        assert!(
            message.contains("panic: the kernel table is empty"),
            "{message}"
        );
        let status = ffi_call(|| panic!("{} formatted", 42));
        assert_eq!(status, HELIOS_ERR_INTERNAL);
        assert!(last_error_message().contains("42 formatted"));
    }

    #[test]
    fn errors_map_to_their_status_and_success_clears_the_message() {
        let status = ffi_call(|| Err(Error::Busy("the engine")));
        assert_eq!(status, HELIOS_ERR_BUSY);
        assert!(last_error_message().starts_with("the engine is in use"));
        assert_eq!(ffi_call(|| Ok(())), HELIOS_OK);
        assert_eq!(last_error_message(), "");
    }

    #[test]
    fn success_clears_a_message_left_by_a_nested_failing_call() {
        let status = ffi_call(|| {
            // A kernel running on this thread calls helios and fails.
            assert_eq!(helios_set_num_threads(0), HELIOS_ERR_INVALID_ARGUMENT);
            Ok(())
        });
        assert_eq!(status, HELIOS_OK);
        assert_eq!(last_error_message(), "");
    }

    #[test]
    fn every_status_has_its_own_name() {
        for (index, (code, _)) in STATUS_NAMES.iter().enumerate() {
            assert_eq!(*code as i32, index as i32, "codes are dense from 0");
            assert_eq!(name(index as i32), format!("{code:?}"));
        }
        assert_eq!(name(14), "HELIOS_UNKNOWN_STATUS");
        assert_eq!(name(-1), "HELIOS_UNKNOWN_STATUS");
    }

    #[test]
    fn last_error_is_per_thread() {
        ffi_call(|| Err(Error::invalid("main thread's error")));
        std::thread::spawn(|| {
            assert_eq!(last_error_message(), "");
            ffi_call(|| Err(Error::invalid("worker's error")));
        })
        .join()
        .unwrap();
        assert_eq!(last_error_message(), "main thread's error");
    }

    #[test]
    fn version_strings_match_the_crate() {
        // SAFETY: helios_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(helios_version()) };
        assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(helios_abi_version(), HELIOS_ABI_VERSION);
    }
}
