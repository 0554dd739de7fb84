//! GPT-2 inference speed: prompt processing (128 tokens) and greedy decoding
//! (128 tokens) with random weights, at GPT-2 small's shape (12 x 768,
//! vocab 50 257) and a tiny one (4 x 256, vocab 8 192), on 1 and 2 threads,
//! against this machine's memory bandwidth: decoding one token reads every
//! weight once, so tokens/s x bytes of weights / read bandwidth is the
//! fraction of the limit reached. Run with `cargo bench --bench gpt_decode`
//! (make bench). PyTorch is not compared here (see docs/BENCHMARKS.md).

use std::time::Instant;

use helios::lm::{GptConfig, LogitRows, Model};
use helios::Threads;

/// Runs per row; the best is reported (the machine is shared and noisy).
const REPEATS: usize = 3;

/// Bytes per second of reading a 1 GiB array (summing it) on `threads`
/// threads, best of 3: the limit of a decode, which streams the weights.
fn read_bandwidth(data: &[f32], threads: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let chunk = data.len().div_ceil(threads);
        let total: f32 = std::thread::scope(|scope| {
            let handles: Vec<_> = data
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut lanes = [0.0f32; 16];
                        for block in part.chunks_exact(16) {
                            for (lane, v) in lanes.iter_mut().zip(block) {
                                *lane += v;
                            }
                        }
                        lanes.iter().sum::<f32>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("reader")).sum()
        });
        std::hint::black_box(total);
        best = best.max(std::mem::size_of_val(data) as f64 / start.elapsed().as_secs_f64());
    }
    best
}

/// Prompt and decode tokens/s of one run: the prompt through a fresh cache,
/// then `decode` greedy one-token steps.
fn run(model: &Model, prompt: &[u32], decode: usize, threads: Threads) -> (f64, f64) {
    let mut cache = model.new_cache(prompt.len() + decode).expect("cache");
    let mut logits = Vec::new();
    let start = Instant::now();
    model
        .forward_cached(&mut cache, prompt, LogitRows::Last, threads, &mut logits)
        .expect("prompt");
    let prompt_rate = prompt.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..decode {
        let next = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i as u32)
            .expect("logits");
        model
            .forward_cached(&mut cache, &[next], LogitRows::Last, threads, &mut logits)
            .expect("decode");
    }
    (prompt_rate, decode as f64 / start.elapsed().as_secs_f64())
}

fn main() {
    let data = vec![1.0f32; 256 << 20];
    println!("GPT-2 inference, random weights, f32, best of {REPEATS} runs; the read bandwidth (best of 3) measured just before each row");
    println!(
        "{:>10} {:>8} {:>14} {:>14} {:>12} {:>14} {:>13}",
        "shape",
        "threads",
        "prompt tok/s",
        "decode tok/s",
        "weights MB",
        "read GB/s",
        "of bandwidth"
    );
    let shapes = [
        ("tiny", GptConfig::new(8192, 512, 256, 4, 4)),
        ("gpt2", GptConfig::new(50257, 1024, 768, 12, 12)),
    ];
    for (name, config) in shapes {
        let model = Model::random(config, 0).expect("a valid config");
        let weights = config.parameter_count() as f64 * 4.0;
        let prompt: Vec<u32> = (0..128)
            .map(|i| (i * 31 % config.vocab_size) as u32)
            .collect();
        for threads in [1, 2] {
            let bandwidth = read_bandwidth(&data, threads);
            let (mut prompt_rate, mut decode_rate) = (0.0f64, 0.0f64);
            for _ in 0..REPEATS {
                let (p, d) = run(&model, &prompt, 128, Threads::Exactly(threads));
                prompt_rate = prompt_rate.max(p);
                decode_rate = decode_rate.max(d);
            }
            // A token reads every weight once: bytes/s against the read
            // bandwidth of as many threads.
            let share = decode_rate * weights / bandwidth;
            println!(
                "{name:>10} {threads:>8} {prompt_rate:>14.1} {decode_rate:>14.1} {:>12.1} {:>14.1} {:>12.0}%",
                weights / 1e6,
                bandwidth / 1e9,
                share * 100.0
            );
        }
    }
}
