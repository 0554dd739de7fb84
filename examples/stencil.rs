//! helios from Rust: a 3-point stencil with the deterministic parallel runner,
//! error handling and cancellation. Run with `cargo run --release --example stencil`.

use helios::exec::{parallel_map, parallel_map_into, MapOptions, Threads};
use helios::{CancelToken, ErrorKind};

/// `y[i] = (x[i-1] + 2 x[i] + x[i+1]) / 4`, edges clamped. `block` is the core
/// with up to one neighbour on each side; the core starts at `block[core]`.
fn smooth(block: &[f32], core: usize, out: &mut [f32]) -> helios::Result<()> {
    let last = block.len() - 1;
    for (k, o) in out.iter_mut().enumerate() {
        let i = core + k;
        *o = 0.25 * block[i.saturating_sub(1)] + 0.5 * block[i] + 0.25 * block[(i + 1).min(last)];
    }
    Ok(())
}

fn main() -> helios::Result<()> {
    println!(
        "helios {}, {} threads by default",
        helios::version(),
        helios::exec::default_threads()
    );
    let signal: Vec<f32> = (0..1_000_000)
        .map(|i| if (i / 1000) % 2 == 1 { 1.0 } else { -1.0 })
        .collect();

    // A halo of 1 (the kernel's radius): the result equals one pass over the whole array.
    let smoothed = parallel_map(&signal, 1, None, Threads::Auto, smooth)?;
    println!("smoothed around the first edge: {:?}", &smoothed[998..1002]);
    let single = parallel_map(&signal, 1, None, Threads::Exactly(1), smooth)?;
    println!(
        "1 thread and many agree bit for bit: {}",
        single == smoothed
    );

    // Errors carry a kind to match on and a message to show.
    match parallel_map(&signal, 2_000_000, None, Threads::Auto, smooth) {
        Err(error) => println!("error ({:?}): {error}", error.kind()),
        Ok(_) => unreachable!("a halo longer than the array is refused"),
    }

    // Cancellation: any thread may raise the token; the run stops between blocks.
    let token = CancelToken::new();
    token.cancel();
    let mut output = vec![0.0; signal.len()];
    let options = MapOptions {
        halo: 1,
        cancel: Some(&token),
        ..MapOptions::default()
    };
    let error = parallel_map_into(&signal, &mut output, &options, smooth).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    println!("with a cancelled token: {error}");
    Ok(())
}
