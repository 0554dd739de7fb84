//! The block-parallel map over a 1-D carrier (the dashiCORE model). The input
//! is cut into blocks of `block_elems` elements; each block's core is extended
//! by `halo` neighbours on each side (fewer at the ends of the array), the
//! kernel reads that extended block and writes the core's outputs, and the
//! cores land in the output in index order. With `halo` at least the kernel's
//! radius, the result equals the kernel run once over the whole array, to the
//! bit, for every thread count and every block size.

use super::threads::{run_blocks, Threads};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// The element types the runner carries: `f32` and `f64`.
pub trait Element: Copy + Send + Sync + 'static {}
impl Element for f32 {}
impl Element for f64 {}

/// The smallest and largest block the automatic choice makes.
const AUTO_MIN_BLOCK: usize = 4096;
const AUTO_MAX_BLOCK: usize = 65536;

/// The block size used when none is given. It depends only on the length and
/// the halo (never on the thread count): about 64 blocks, each between 4 Ki
/// and 64 Ki elements (so a block's input and output stay in the L2 cache),
/// and at least four halos long so that halo reads stay a small overhead.
pub fn auto_block_elems(len: usize, halo: usize) -> usize {
    len.div_ceil(64)
        .clamp(AUTO_MIN_BLOCK, AUTO_MAX_BLOCK)
        .max(halo.saturating_mul(4))
        .min(len.max(1))
}

/// How [`parallel_map_into`] splits and runs the work.
#[derive(Debug, Clone, Copy, Default)]
pub struct MapOptions<'a> {
    /// Neighbours added on each side of a block's core (clamped at the ends).
    pub halo: usize,
    /// Core elements per block; `None` picks [`auto_block_elems`].
    pub block_elems: Option<usize>,
    /// Worker count.
    pub threads: Threads,
    /// Checked before each block; a raised token stops the run.
    pub cancel: Option<&'a CancelToken>,
}

/// Map `input` block by block with `kernel` and return the output (reentrant).
///
/// The kernel receives `(block, core_offset, core_out)`: `block` is the core
/// with up to `halo` neighbours on each side, the core starts at
/// `block[core_offset]`, and the kernel writes one value per core element into
/// `core_out` (whose length is the core length). It may be called from several
/// threads at once. An error from the kernel stops the run: blocks after the
/// failing one are skipped and the error of the first failing block is
/// returned.
///
/// ```
/// use helios::exec::{parallel_map, Threads};
/// // A 3-point moving sum needs a halo of 1.
/// let input: Vec<f32> = (0..10).map(|i| i as f32).collect();
/// let sums = parallel_map(&input, 1, Some(4), Threads::Exactly(2), |block, core, out| {
///     for (i, o) in out.iter_mut().enumerate() {
///         let c = core + i;
///         let left = if c > 0 { block[c - 1] } else { 0.0 };
///         let right = block.get(c + 1).copied().unwrap_or(0.0);
///         *o = left + block[c] + right;
///     }
///     Ok(())
/// })?;
/// assert_eq!(sums[0], 1.0);
/// assert_eq!(sums[5], 15.0);
/// assert_eq!(sums[9], 17.0);
/// # Ok::<(), helios::Error>(())
/// ```
pub fn parallel_map<T, K>(
    input: &[T],
    halo: usize,
    block_elems: Option<usize>,
    threads: Threads,
    kernel: K,
) -> Result<Vec<T>>
where
    T: Element,
    K: Fn(&[T], usize, &mut [T]) -> Result<()> + Sync,
{
    let mut output = input.to_vec();
    let options = MapOptions {
        halo,
        block_elems,
        threads,
        cancel: None,
    };
    parallel_map_into(input, &mut output, &options, kernel)?;
    Ok(output)
}

/// [`parallel_map`] into a caller buffer of at least `input.len()` elements,
/// with a cancellation token. Elements of `output` past `input.len()` are left
/// as they are.
pub fn parallel_map_into<T, K>(
    input: &[T],
    output: &mut [T],
    options: &MapOptions<'_>,
    kernel: K,
) -> Result<()>
where
    T: Element,
    K: Fn(&[T], usize, &mut [T]) -> Result<()> + Sync,
{
    let len = input.len();
    let halo = options.halo;
    if len == 0 {
        return Err(Error::invalid(
            "input is empty: parallel_map needs at least one element",
        ));
    }
    if halo > len {
        return Err(Error::invalid(format!(
            "halo {halo} is larger than the array ({len} elements)"
        )));
    }
    let block = match options.block_elems {
        Some(0) => {
            return Err(Error::invalid(
                "block_elems is 0: a block needs at least one element",
            ))
        }
        Some(n) => n.min(len),
        None => auto_block_elems(len, halo),
    };
    if output.len() < len {
        return Err(Error::BufferTooSmall {
            name: "output",
            needed: len,
            capacity: output.len(),
        });
    }
    let threads = options.threads.resolve()?;

    run_blocks(
        threads,
        &mut output[..len],
        block,
        options.cancel,
        || (),
        |(), index, core_out| {
            let core_start = index * block;
            let core_end = core_start + core_out.len();
            let block_start = core_start.saturating_sub(halo);
            let block_end = core_end.saturating_add(halo).min(len);
            kernel(
                &input[block_start..block_end],
                core_start - block_start,
                core_out,
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_block_depends_on_length_and_halo_only() {
        assert_eq!(auto_block_elems(10, 0), 10);
        assert_eq!(auto_block_elems(100_000, 0), AUTO_MIN_BLOCK);
        assert_eq!(auto_block_elems(1 << 20, 0), 16384);
        assert_eq!(auto_block_elems(1 << 30, 0), AUTO_MAX_BLOCK);
        assert_eq!(auto_block_elems(1 << 20, 10_000), 40_000);
    }

    use parking_lot::Mutex;

    #[test]
    fn blocks_see_their_core_and_clamped_halo() {
        let input: Vec<f64> = (0..10).map(f64::from).collect();
        let seen = Mutex::new(Vec::new());
        parallel_map(
            &input,
            2,
            Some(4),
            Threads::Exactly(1),
            |block, core, out| {
                seen.lock().push((block.to_vec(), core, out.len()));
                out.copy_from_slice(&block[core..core + out.len()]);
                Ok(())
            },
        )
        .unwrap();
        let seen = seen.into_inner();
        assert_eq!(seen[0], (vec![0., 1., 2., 3., 4., 5.], 0, 4));
        assert_eq!(seen[1], (vec![2., 3., 4., 5., 6., 7., 8., 9.], 2, 4));
        assert_eq!(seen[2], (vec![6., 7., 8., 9.], 2, 2));
    }
}
