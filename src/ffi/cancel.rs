//! `HeliosCancelToken`: the C face of [`crate::CancelToken`], reference counted.

use super::handle::{borrow, release, share};
use super::status::{ffi_call, HeliosStatus};
use crate::cancel::CancelToken;
use crate::error::Error;

/// A cancellation flag that any thread may raise; long calls that were given
/// the token stop at their next check with `HELIOS_ERR_CANCELLED`. Opaque.
pub struct HeliosCancelToken {
    pub(crate) token: CancelToken,
}

/// Create a token that is not cancelled and store it in `*out`. Free it with
/// `helios_cancel_token_free`. Errors: `HELIOS_ERR_NULL_ARGUMENT` when `out`
/// is NULL.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
///
/// # Safety
/// `out` is NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn helios_cancel_token_new(out: *mut *mut HeliosCancelToken) -> HeliosStatus {
    ffi_call(|| {
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        let handle = share(HeliosCancelToken {
            token: CancelToken::new(),
        });
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Raise the token: every call observing it stops at its next check.
/// Cancelling twice is harmless. Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of threads
/// at once).
///
/// # Safety
/// `token` is NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn helios_cancel_token_cancel(
    token: *const HeliosCancelToken,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    ffi_call(|| unsafe { borrow(token, "token") }.map(|t| t.token.cancel()))
}

/// Write whether the token is raised to `*out_cancelled`. Errors:
/// `HELIOS_ERR_NULL_ARGUMENT` when `token` or `out_cancelled` is NULL.
///
/// Thread safety: shareable (one object may be used from any number of threads
/// at once).
///
/// # Safety
/// `token` is NULL or a live token; `out_cancelled` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn helios_cancel_token_is_cancelled(
    token: *const HeliosCancelToken,
    out_cancelled: *mut bool,
) -> HeliosStatus {
    ffi_call(|| {
        // SAFETY: forwarded caller contract.
        let token = unsafe { borrow(token, "token") }?;
        if out_cancelled.is_null() {
            return Err(Error::NullArgument("out_cancelled"));
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_cancelled.write(token.token.is_cancelled()) };
        Ok(())
    })
}

/// Lower the token so it can serve new work. Calls that already stopped stay
/// stopped. Errors: `HELIOS_ERR_NULL_ARGUMENT`.
///
/// Thread safety: shareable (one object may be used from any number of threads
/// at once).
///
/// # Safety
/// `token` is NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn helios_cancel_token_reset(
    token: *const HeliosCancelToken,
) -> HeliosStatus {
    // SAFETY: forwarded caller contract.
    ffi_call(|| unsafe { borrow(token, "token") }.map(|t| t.token.reset()))
}

/// Release the caller's reference to the token; NULL is a no-op. Call it
/// after the last call that uses the token has returned. Using the handle
/// after this call is undefined behaviour, as with `free()`.
///
/// Thread safety: shareable (one object may be used from any number of threads
/// at once); free it once, after the caller's last use.
///
/// # Safety
/// `token` is NULL or a live token not freed before.
#[no_mangle]
pub unsafe extern "C" fn helios_cancel_token_free(token: *mut HeliosCancelToken) {
    // A panic cannot happen in a drop of this type, but the guard costs
    // nothing and keeps the rule "every entry point is guarded" without
    // exceptions.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: per the contract, a handle from helios_cancel_token_new.
        unsafe { release(token) }
    });
}
