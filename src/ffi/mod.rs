//! The C ABI: a thin translation layer over the safe Rust core. Each exported
//! function checks its pointers and sizes, takes the object's guard, calls the
//! core inside a panic guard ([`status::ffi_call`]), maps the error to a
//! [`HeliosStatus`] and keeps the message for `helios_last_error()`. Nothing
//! here computes; all `unsafe` of the crate lives here (and, later, in `gpu/`).
//!
//! cbindgen reads these files to write `include/helios.h`; the doc comments
//! below become the header's documentation, so they are written for C users.

// In the order a C user meets them; cbindgen writes the header in this order.
pub mod status;
pub mod handle;
pub mod cancel;
pub mod device;
pub mod exec;
pub mod embed;
pub mod nystrom;
pub mod index;
pub mod tokenizer;
pub mod model;
pub mod sampler;
pub(crate) mod mmap;

pub use cancel::*;
pub use device::*;
pub use embed::*;
pub use exec::*;
pub use index::*;
pub use model::*;
pub use nystrom::*;
pub use sampler::*;
pub use status::*;
pub use tokenizer::*;
