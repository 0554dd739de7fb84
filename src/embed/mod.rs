//! Kernel feature maps. `rkhs` is the stateless RBF (Nyström) feature map
//! `Phi(X) = K(X, L) · (K(L, L) + ridge·I)^(-1/2)`; `linalg` holds the small
//! dense linear algebra it needs (the inverse square root of the landmark
//! kernel, in f64 whatever the input precision). The GEMMs go to `faer`.

pub mod exp;
pub mod linalg;
pub mod nystrom;
pub mod rkhs;

pub use nystrom::{stored_element_size, LandmarkSelection, NystromEngine, NystromOptions};
pub use rkhs::{rkhs_embed, rkhs_embed_into, EmbedFloat, FeatureMap, Matrix, RKHS_BLOCK_ROWS};
