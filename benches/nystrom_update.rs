//! The Nyström engine's update cost: appending 1 000 rows to an engine built
//! on 10 000 or 100 000 rows must take the same time, because update touches
//! only the new rows (the in-place variant writes into spare rows of a
//! caller buffer). Run with `cargo bench --bench nystrom_update` (make bench).

use std::time::Instant;

use helios::embed::{LandmarkSelection, Matrix, NystromEngine, NystromOptions};
use helios::Threads;

#[path = "../tests/common/mod.rs"]
mod common;
use common::noise_f32;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let (d, m, n_new) = (64, 256, 1_000);
    let x_new = noise_f32(n_new * d, 99);
    println!("Nyström update: d = {d}, m = {m}, n_new = {n_new}, f32, 1 thread; median of 15");
    println!(
        "{:>12}  {:>14}  {:>18}",
        "built on", "update (Vec)", "update_into (buffer)"
    );
    for n_built in [10_000, 100_000] {
        let x = noise_f32(n_built * d, 1);
        let options = NystromOptions {
            gamma: 1.0 / d as f64,
            landmark_count: m,
            selection: LandmarkSelection::Uniform,
            threads: Threads::Exactly(1),
            ..NystromOptions::default()
        };
        let mut engine = NystromEngine::<f32>::new(options).expect("valid options");
        let phi = engine
            .build(Matrix::new(&x, n_built, d).unwrap())
            .expect("build");
        let new_rows = Matrix::new(&x_new, n_new, d).unwrap();

        let appended = (0..15)
            .map(|_| {
                let mut grown = Vec::with_capacity(phi.len() + n_new * m);
                grown.extend_from_slice(&phi); // outside the timing: the caller's rows
                let start = Instant::now();
                engine.update(new_rows, &mut grown).expect("update");
                start.elapsed().as_secs_f64()
            })
            .collect();
        let mut buffer = vec![0.0f32; (n_built + n_new) * m];
        buffer[..phi.len()].copy_from_slice(&phi);
        let in_place = (0..15)
            .map(|_| {
                let start = Instant::now();
                engine
                    .update_into(new_rows, &mut buffer, n_built)
                    .expect("update_into");
                start.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "{:>12}  {:>11.2} ms  {:>15.2} ms",
            n_built,
            median(appended) * 1e3,
            median(in_place) * 1e3
        );
    }
}
