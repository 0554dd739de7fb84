//! helios: a native ML runtime with a C ABI, a documented thread-safety
//! contract and deterministic parallelism.
//!
//! This crate is both the safe Rust API (this module's re-exports) and the
//! C library (`src/ffi/`, exported as `libhelios.so` / `libhelios.a` with the
//! generated header `include/helios.h`). The core knows nothing of C; the
//! `ffi` module translates pointers, statuses and panics at the boundary;
//! it and the CUDA driver code in `gpu` are the only places where `unsafe`
//! code is allowed.
//!
//! Every object has one thread-safety class, stated in its documentation in
//! the same words as `docs/THREADING.md`: *reentrant* functions may run on any
//! number of threads at once, *shareable* objects may be used from any number
//! of threads at once, and *single-owner* objects serve one thread at a time
//! (a second thread gets [`ErrorKind::Busy`] through the C ABI).

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cancel;
pub mod embed;
pub mod error;
pub mod exec;
#[allow(unsafe_code)]
pub mod gpu;
pub mod index;
pub mod lm;
mod persist;
mod rng;

#[allow(unsafe_code)]
pub mod ffi;

pub use cancel::CancelToken;
pub use error::{Error, ErrorKind, Result};
pub use exec::{parallel_map, parallel_map_into, MapOptions, Threads};
pub use gpu::Device;

/// The library version (the crate version), for example `"0.1.0"`.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
