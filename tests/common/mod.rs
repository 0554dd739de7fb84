//! Helpers shared by the integration tests and the Rust benches: seeded
//! data and the comparison of an f32 result with its f64 reference.
#![allow(dead_code)] // each test file uses a different subset

/// `count` values in [-1, 1) from a seeded xorshift generator, the same on
/// every platform.
pub fn noise(count: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// [`noise`] rounded to f32.
pub fn noise_f32(count: usize, seed: u64) -> Vec<f32> {
    noise(count, seed).into_iter().map(|v| v as f32).collect()
}

/// The largest |reference - value| over two equally long results.
pub fn max_abs_diff(reference: &[f64], values: &[f32]) -> f64 {
    reference
        .iter()
        .zip(values)
        .map(|(a, b)| (a - f64::from(*b)).abs())
        .fold(0.0, f64::max)
}
