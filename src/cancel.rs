//! Cooperative cancellation. A [`CancelToken`] is a flag that any thread may
//! raise; long-running calls check it between units of work (blocks, tokens,
//! training steps) and return [`crate::Error::Cancelled`] when it is raised.
//! It is shareable: one token can stop several calls on several threads, and
//! the C layer hands it out behind a reference count.

use std::sync::atomic::{AtomicBool, Ordering};

/// A thread-safe cancellation flag (shareable: use it from any thread).
///
/// ```
/// let token = helios::CancelToken::new();
/// assert!(!token.is_cancelled());
/// token.cancel();
/// assert!(token.is_cancelled());
/// token.reset();
/// assert!(!token.is_cancelled());
/// ```
#[derive(Debug, Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Raise the flag: calls that observe this token stop at their next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called since the last
    /// [`reset`](Self::reset).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Lower the flag so that the token can be used for new work.
    pub fn reset(&self) {
        self.cancelled.store(false, Ordering::Release);
    }
}
