//! What the tokenizer's piece cache brings, and what sharing it costs: encode
//! throughput of one byte-level BPE (vocab 8 192, trained on the text) with
//! the cache (first pass: cold, second: warm) and without it, on 1 and 2
//! threads. Run with `cargo bench --bench tokenizer_cache` (make bench).

use std::time::Instant;

use helios::lm::{Tokenizer, TrainOptions};
use helios::Threads;

/// ~`bytes` of prose-like text from a seeded generator: a lexicon of made-up
/// words drawn with Zipf frequencies, punctuation, numbers and line breaks.
fn corpus(bytes: usize) -> Vec<String> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let syllables = [
        "ka", "lo", "mi", "ten", "ra", "sor", "vin", "de", "al", "qu", "ex", "ing", "tion", "s",
    ];
    let lexicon: Vec<String> = (0..20_000)
        .map(|_| {
            (0..1 + next() % 4)
                .map(|_| syllables[(next() % syllables.len() as u64) as usize])
                .collect()
        })
        .collect();
    let mut docs = Vec::new();
    let mut total = 0;
    while total < bytes {
        let mut doc = String::new();
        for _ in 0..200 {
            // Zipf: rank ~ 1 / u.
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let rank = ((1.0 / (u + 1e-5)) as usize).clamp(1, lexicon.len()) - 1;
            doc.push_str(&lexicon[rank]);
            doc.push_str([" ", " ", " ", ", ", ". ", "\n", " 42 "][(next() % 7) as usize]);
        }
        total += doc.len();
        docs.push(doc);
    }
    docs
}

fn main() {
    let docs = corpus(8 << 20);
    let bytes: usize = docs.iter().map(String::len).sum();
    let options = TrainOptions {
        vocab_size: 8192,
        ..TrainOptions::default()
    };
    let json = Tokenizer::train_bpe(&docs, &options)
        .expect("train")
        .to_json();
    println!(
        "tokenizer piece cache: {:.1} MB of text, byte-level BPE vocab 8192; MB/s",
        bytes as f64 / 1e6
    );
    println!(
        "{:>8}  {:>12}  {:>12}  {:>10}",
        "threads", "cache cold", "cache warm", "no cache"
    );
    let mb_s = |t: &Tokenizer, threads: usize| {
        let start = Instant::now();
        let ids = t
            .encode_batch(&docs, Threads::Exactly(threads))
            .expect("encode");
        std::hint::black_box(ids);
        bytes as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    for threads in [1, 2] {
        let cached = Tokenizer::from_json(json.as_bytes()).expect("load");
        let cold = mb_s(&cached, threads);
        let warm = mb_s(&cached, threads);
        let uncached = Tokenizer::from_json(json.as_bytes())
            .expect("load")
            .without_cache();
        let none = mb_s(&uncached, threads).max(mb_s(&uncached, threads));
        println!("{threads:>8}  {cold:>12.1}  {warm:>12.1}  {none:>10.1}");
    }
}
