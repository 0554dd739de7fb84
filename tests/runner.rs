//! The block-parallel runner against independent references: a plain loop
//! over the whole array, for every thread count and block size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use helios::exec::{parallel_map, parallel_map_into, MapOptions, Threads};
use helios::{CancelToken, Error, ErrorKind};

mod common;

/// Seeded data with a wide range of magnitudes.
fn data_f64(len: usize) -> Vec<f64> {
    common::noise(len, 11)
        .into_iter()
        .map(|v| v * 500.0)
        .collect()
}

fn data_f32(len: usize) -> Vec<f32> {
    data_f64(len).into_iter().map(|v| v as f32).collect()
}

/// Deterministic pseudo-random data with a wide range of magnitudes.
/// A radius-2 nonlinear stencil computed the obvious way over the whole array
/// (edges clamped), independent of the runner.
fn reference_stencil5(x: &[f64]) -> Vec<f64> {
    let at = |i: isize| x[i.clamp(0, x.len() as isize - 1) as usize];
    (0..x.len() as isize)
        .map(|i| {
            (0.1 * at(i - 2) + 0.2 * at(i - 1) + 0.4 * at(i) + 0.2 * at(i + 1) + 0.1 * at(i + 2))
                .sin()
        })
        .collect()
}

/// The same stencil as a runner kernel, reading neighbours from its block.
fn kernel_stencil5(block: &[f64], core: usize, out: &mut [f64]) -> helios::Result<()> {
    let at = |i: isize| block[i.clamp(0, block.len() as isize - 1) as usize];
    for (k, o) in out.iter_mut().enumerate() {
        let i = (core + k) as isize;
        *o = (0.1 * at(i - 2) + 0.2 * at(i - 1) + 0.4 * at(i) + 0.2 * at(i + 1) + 0.1 * at(i + 2))
            .sin();
    }
    Ok(())
}

fn kernel_stencil3_f32(block: &[f32], core: usize, out: &mut [f32]) -> helios::Result<()> {
    let last = block.len() - 1;
    for (k, o) in out.iter_mut().enumerate() {
        let i = core + k;
        *o = 0.25 * block[i.saturating_sub(1)] + 0.5 * block[i] + 0.25 * block[(i + 1).min(last)];
    }
    Ok(())
}

fn bits64(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn map_equals_a_whole_array_loop_bit_for_bit_for_every_split() {
    // The clamped edges of the reference must match the kernel's view of a
    // block only where the block touches the array's end: that holds because
    // halos are clamped at the ends of the array.
    let x = data_f64(1237);
    let expected = bits64(&reference_stencil5(&x));
    for threads in 1..=4 {
        for block in [
            Some(1),
            Some(2),
            Some(3),
            Some(7),
            Some(64),
            Some(1000),
            Some(1237),
            Some(5000),
            None,
        ] {
            for halo in [2, 3, 10] {
                let y = parallel_map(&x, halo, block, Threads::Exactly(threads), kernel_stencil5)
                    .unwrap();
                assert_eq!(
                    bits64(&y),
                    expected,
                    "threads {threads}, block {block:?}, halo {halo}"
                );
            }
        }
    }
}

#[test]
fn stencil_f32_is_bit_identical_across_thread_counts() {
    let x = data_f32(200_003);
    let one = parallel_map(&x, 1, None, Threads::Exactly(1), kernel_stencil3_f32).unwrap();
    // An independent reference for the f32 stencil.
    let last = x.len() - 1;
    for i in [0, 1, 4095, 4096, 100_000, last] {
        let expected = 0.25 * x[i.saturating_sub(1)] + 0.5 * x[i] + 0.25 * x[(i + 1).min(last)];
        assert_eq!(one[i].to_bits(), expected.to_bits(), "element {i}");
    }
    for threads in [2, 3] {
        let other =
            parallel_map(&x, 1, None, Threads::Exactly(threads), kernel_stencil3_f32).unwrap();
        assert!(
            one.iter()
                .zip(&other)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "threads {threads} differs from threads 1"
        );
    }
}

#[test]
fn bad_arguments_get_their_own_kind_and_message() {
    let x = data_f64(10);
    let copy = |b: &[f64], c: usize, o: &mut [f64]| {
        o.copy_from_slice(&b[c..c + o.len()]);
        Ok(())
    };
    let cases: Vec<(helios::Result<Vec<f64>>, ErrorKind, &str)> = vec![
        (
            parallel_map(&[], 0, None, Threads::Auto, copy),
            ErrorKind::InvalidArgument,
            "empty",
        ),
        (
            parallel_map(&x, 11, None, Threads::Auto, copy),
            ErrorKind::InvalidArgument,
            "halo 11",
        ),
        (
            parallel_map(&x, 0, Some(0), Threads::Auto, copy),
            ErrorKind::InvalidArgument,
            "block_elems is 0",
        ),
        (
            parallel_map(&x, 0, None, Threads::Exactly(0), copy),
            ErrorKind::InvalidArgument,
            "thread count is 0",
        ),
        (
            parallel_map(&x, 0, None, Threads::Exactly(5000), copy),
            ErrorKind::InvalidArgument,
            "maximum 1024",
        ),
    ];
    for (result, kind, fragment) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), kind);
        assert!(error.to_string().contains(fragment), "{error}");
    }
    let mut short = vec![0.0; 9];
    let error = parallel_map_into(&x, &mut short, &MapOptions::default(), copy).unwrap_err();
    assert!(matches!(
        error,
        Error::BufferTooSmall {
            needed: 10,
            capacity: 9,
            ..
        }
    ));
    // A halo equal to the length is allowed.
    assert_eq!(parallel_map(&x, 10, None, Threads::Auto, copy).unwrap(), x);
}

#[test]
fn a_failing_kernel_stops_the_run_with_its_error_for_every_thread_count() {
    let x = data_f64(1000);
    for threads in 1..=3 {
        let calls = AtomicUsize::new(0);
        let error = parallel_map(&x, 0, Some(10), Threads::Exactly(threads), |_, _, _| {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(Error::Numeric("the kernel hit a singular block".into()))
        })
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Numeric);
        // Blocks after the first failure are skipped: at most one per worker ran.
        assert!(
            calls.load(Ordering::Relaxed) <= threads,
            "threads {threads}"
        );
    }
}

#[test]
fn cancelling_from_another_thread_stops_between_blocks() {
    let x = data_f32(400);
    let token = CancelToken::new();
    let started = AtomicUsize::new(0);
    let mut output = vec![f32::NAN; x.len()];
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while started.load(Ordering::Acquire) < 3 {
                std::thread::yield_now();
            }
            token.cancel();
        });
        let options = MapOptions {
            halo: 0,
            block_elems: Some(4),
            threads: Threads::Exactly(2),
            cancel: Some(&token),
        };
        parallel_map_into(&x, &mut output, &options, |block, core, out| {
            started.fetch_add(1, Ordering::AcqRel);
            std::thread::sleep(Duration::from_millis(2));
            out.copy_from_slice(&block[core..core + out.len()]);
            Ok(())
        })
    });
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    let ran = started.load(Ordering::Acquire);
    assert!(ran < 100, "{ran} of 100 blocks ran after the cancel");
    // Every block that ran wrote its core; the rest were never touched.
    let written = output.iter().filter(|v| !v.is_nan()).count();
    assert_eq!(written, ran * 4);
}

#[test]
fn concurrent_calls_give_the_sequential_results() {
    let inputs: Vec<Vec<f64>> = (0..6).map(|i| data_f64(5000 + 977 * i)).collect();
    let sequential: Vec<Vec<u64>> = inputs
        .iter()
        .map(|x| bits64(&reference_stencil5(x)))
        .collect();
    std::thread::scope(|scope| {
        for round in 0..4 {
            let inputs = &inputs;
            let sequential = &sequential;
            scope.spawn(move || {
                for (x, expected) in inputs.iter().zip(sequential) {
                    let threads = Threads::Exactly(1 + round % 3);
                    let y = parallel_map(x, 2, Some(333), threads, kernel_stencil5).unwrap();
                    assert_eq!(&bits64(&y), expected);
                }
            });
        }
    });
}

#[test]
fn one_thread_runs_every_block_on_the_calling_thread() {
    let caller = std::thread::current().id();
    let x = data_f32(100_000);
    parallel_map(&x, 0, Some(1000), Threads::Exactly(1), |_, _, _| {
        assert_eq!(std::thread::current().id(), caller);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_kernel_may_run_a_nested_map() {
    let x = data_f64(3000);
    let expected = bits64(&reference_stencil5(&x));
    for threads in 1..=3 {
        let y = parallel_map(
            &x,
            0,
            Some(1000),
            Threads::Exactly(threads),
            |block, core, out| {
                // The inner map recomputes the stencil over the whole array and
                // keeps this block's part: nested calls share the pool safely.
                let inner = parallel_map(&x, 2, Some(300), Threads::Exactly(2), kernel_stencil5)?;
                let start = (block.as_ptr() as usize - x.as_ptr() as usize) / 8 + core;
                out.copy_from_slice(&inner[start..start + out.len()]);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(bits64(&y), expected, "threads {threads}");
    }
}

#[test]
fn one_element_blocks_work_for_a_million_elements() {
    // Blocks are taken from an iterator, with no state allocated per block.
    let x = data_f32(1_000_000);
    let y = parallel_map(&x, 0, Some(1), Threads::Exactly(2), |b, c, o| {
        o[0] = -b[c];
        Ok(())
    })
    .unwrap();
    assert!(x.iter().zip(&y).all(|(a, b)| b.to_bits() == (-a).to_bits()));
}

#[test]
fn the_default_thread_count_can_be_changed() {
    let before = helios::exec::default_threads();
    helios::exec::set_default_threads(3).unwrap();
    assert_eq!(helios::exec::default_threads(), 3);
    assert_eq!(Threads::Auto.resolve().unwrap(), 3);
    assert!(helios::exec::set_default_threads(0).is_err());
    assert_eq!(helios::exec::default_threads(), 3);
    helios::exec::set_default_threads(before).unwrap();
}
