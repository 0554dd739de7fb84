//! The language-model family: the [`tokenizer`] (text to token ids and
//! back; Hugging Face `tokenizer.json` compatible) and the GPT-2 [`model`]
//! (Hugging Face checkpoints, batch-invariant forward passes).

mod checkpoint;
mod linear;
mod team;
pub mod model;
pub mod sampler;
pub mod tokenizer;

pub use model::{GptConfig, KvCache, LogitRows, Model};
pub use sampler::{Sampler, SamplerOptions, StopReason};
pub use tokenizer::{Encoding, Tokenizer, TrainOptions};
