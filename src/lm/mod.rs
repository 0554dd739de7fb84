//! The language-model family. So far: the [`tokenizer`] (text to token ids
//! and back; Hugging Face `tokenizer.json` compatible).

pub mod tokenizer;

pub use tokenizer::{Encoding, Tokenizer, TrainOptions};
