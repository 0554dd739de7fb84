//! `helios_parallel_map_f32` / `_f64`: the deterministic block-parallel runner
//! with a C kernel callback.

use std::ffi::{c_int, c_void};

use super::cancel::HeliosCancelToken;
use super::handle::{overlaps, read_options, retain, slice_in, slice_out};
use super::status::{ffi_call, HeliosStatus, HELIOS_AUTO};
use crate::error::Error;
use crate::exec::{parallel_map_into, Element, MapOptions, Threads};

/// Options of `helios_parallel_map_f32`/`_f64`. Fill it with
/// `helios_parallel_map_default_options()` and change only what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HeliosParallelMapOptions {
    /// `sizeof(HeliosParallelMapOptions)`, set by the defaults function; a
    /// different value (an uninitialised struct, a mismatched header) gets
    /// `HELIOS_ERR_INVALID_ARGUMENT`.
    pub struct_size: usize,
    /// Neighbours added on each side of every block's core (fewer at the ends
    /// of the array); use at least the kernel's radius. Must not exceed the
    /// array length. Default 0.
    pub halo: usize,
    /// Core elements per block, or `HELIOS_AUTO` (the default) for a size that
    /// depends only on the length and the halo. 0 is invalid.
    pub block_elems: usize,
    /// Workers (1 = the calling thread only, nothing spawned), or
    /// `HELIOS_AUTO` (the default) for `helios_get_num_threads()`. Workers run
    /// on the process pool, which has max(default count, CPU count) threads.
    /// 0 and counts above `HELIOS_MAX_THREADS` are invalid.
    pub threads: usize,
    /// Optional token checked before every block; NULL (the default) for none.
    pub cancel: *const HeliosCancelToken,
}

/// A kernel for `helios_parallel_map_f32`. It reads `block[0..block_len)`, the
/// core with up to `halo` neighbours on each side, and writes `core_len`
/// results to `core_out[0..core_len)` for the core elements
/// `block[core_offset .. core_offset + core_len)`. Return 0 to go on; any other
/// value stops the run with `HELIOS_ERR_CANCELLED` (the message names the
/// value and the elements of the block's core). The kernel is called from
/// several threads at once and must not write to `block`. Both pointers are
/// valid only during the call. It must return normally: a C++ exception or a
/// `longjmp` out of it is undefined behaviour (catch and return non-zero).
/// It may call helios itself (a nested map), but must not wait for another
/// thread's helios call to finish: workers are shared, and a kernel that
/// blocks on them can deadlock.
pub type HeliosKernelF32 = Option<
    unsafe extern "C" fn(
        block: *const f32,
        block_len: usize,
        core_offset: usize,
        core_len: usize,
        core_out: *mut f32,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// The `double` twin of `HeliosKernelF32`.
pub type HeliosKernelF64 = Option<
    unsafe extern "C" fn(
        block: *const f64,
        block_len: usize,
        core_offset: usize,
        core_len: usize,
        core_out: *mut f64,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// Options with every field at its default: `halo = 0`, `block_elems =
/// HELIOS_AUTO`, `threads = HELIOS_AUTO`, `cancel = NULL`.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
#[no_mangle]
pub extern "C" fn helios_parallel_map_default_options() -> HeliosParallelMapOptions {
    HeliosParallelMapOptions {
        struct_size: std::mem::size_of::<HeliosParallelMapOptions>(),
        halo: 0,
        block_elems: HELIOS_AUTO,
        threads: HELIOS_AUTO,
        cancel: std::ptr::null(),
    }
}

/// The signature shared by `HeliosKernelF32` and `HeliosKernelF64`.
type RawKernel<T> =
    unsafe extern "C" fn(*const T, usize, usize, usize, *mut T, *mut c_void) -> c_int;

/// A caller's kernel with its context pointer, callable from worker threads.
struct CKernel<T> {
    kernel: RawKernel<T>,
    user_data: *mut c_void,
}

// SAFETY: helios never dereferences `user_data`; it only passes it back to the
// caller's kernel, whose documented contract is to be callable from several
// threads at once with the same `user_data`.
unsafe impl<T> Send for CKernel<T> {}
// SAFETY: as for Send.
unsafe impl<T> Sync for CKernel<T> {}

impl<T> CKernel<T> {
    /// Run the kernel on one block.
    fn call(&self, block: &[T], core_offset: usize, core_out: &mut [T]) -> c_int {
        // SAFETY: the kernel's contract; both slices are valid for the call.
        unsafe {
            (self.kernel)(
                block.as_ptr(),
                block.len(),
                core_offset,
                core_out.len(),
                core_out.as_mut_ptr(),
                self.user_data,
            )
        }
    }
}

/// The shared body of the f32 and f64 entry points (`kernel` is `None` when
/// the caller passed a NULL kernel).
///
/// # Safety
/// The caller's pointer contract of `helios_parallel_map_f32`.
unsafe fn parallel_map_c<T: Element>(
    input: *const T,
    len: usize,
    output: *mut T,
    output_capacity: usize,
    output_needed: *mut usize,
    options: *const HeliosParallelMapOptions,
    kernel: Option<CKernel<T>>,
) -> HeliosStatus {
    ffi_call(|| {
        if !output_needed.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { output_needed.write(len) };
        }
        // SAFETY: NULL or a valid struct per the contract.
        let options = unsafe {
            read_options(
                options,
                helios_parallel_map_default_options(),
                "helios_parallel_map_default_options",
            )
        }?;
        let kernel = kernel.ok_or(Error::NullArgument("kernel"))?;
        // SAFETY: the caller guarantees `len` readable elements; the checks
        // reject NULL, misalignment and overflow.
        let input = unsafe { slice_in(input, len, "input") }?;
        if output.is_null() {
            return Err(Error::NullArgument("output"));
        }
        if output_capacity < len {
            return Err(Error::BufferTooSmall {
                name: "output",
                needed: len,
                capacity: output_capacity,
            });
        }
        // Only output[0..len) is borrowed and written, so spare capacity past
        // it may alias anything, the input included.
        if overlaps(input, output, len) {
            return Err(Error::invalid(
                "input and output overlap: halos would read values already overwritten; \
                 use separate buffers",
            ));
        }
        // SAFETY: the caller guarantees `output_capacity >= len` writable
        // elements, and they do not overlap the input (checked above).
        let output = unsafe { slice_out(output, len, "output") }?;
        // SAFETY: NULL or a live token per the contract.
        let cancel = unsafe { retain(options.cancel) };
        let map_options = MapOptions {
            halo: options.halo,
            block_elems: (options.block_elems != HELIOS_AUTO).then_some(options.block_elems),
            threads: match options.threads {
                HELIOS_AUTO => Threads::Auto,
                n => Threads::Exactly(n),
            },
            cancel: cancel.as_deref().map(|handle| &handle.token),
        };
        parallel_map_into(
            input,
            output,
            &map_options,
            |block, core_offset, core_out| match kernel.call(block, core_offset, core_out) {
                0 => Ok(()),
                code => {
                    // Where the core sits in the whole array, for the message.
                    let block_start = (block.as_ptr() as usize - input.as_ptr() as usize)
                        / std::mem::size_of::<T>();
                    let core_start = block_start + core_offset;
                    Err(Error::Cancelled(format!(
                        "the kernel returned {code} for the block whose core is elements \
                         {core_start}..{}; the run stopped",
                        core_start + core_out.len()
                    )))
                }
            },
        )
    })
}

/// Map `input[0..len)` block by block with `kernel` into `output` (capacity
/// `output_capacity` elements, at least `len`). The array is cut into blocks
/// of `options->block_elems` elements whatever the thread count; each block
/// is extended by `options->halo` neighbours on each side (clamped at the
/// ends), the kernel computes the block's core, and cores are written in index
/// order. With a halo at least the kernel's radius, the output is bit for bit
/// what the kernel gives on the whole array at once, for any thread count and
/// block size. `options` may be NULL for the defaults. `output_needed`, when
/// not NULL, receives `len` (the capacity needed), whatever the outcome.
///
/// Errors: `HELIOS_ERR_NULL_ARGUMENT` (input, output or kernel NULL),
/// `HELIOS_ERR_INVALID_ARGUMENT` (len 0, len overflowing, halo > len,
/// block_elems 0, threads 0 or > 1024, bad struct_size, input and output
/// overlapping), `HELIOS_ERR_BUFFER_TOO_SMALL` (output_capacity < len),
/// `HELIOS_ERR_CANCELLED` (the token was raised or the kernel returned
/// non-zero; blocks before the stopping one are complete, later ones may not
/// be). On error the output is partly written.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
/// The kernel itself runs on several threads at once.
///
/// # Safety
/// `input` points to `len` floats and `output` to `output_capacity` floats
/// (or either is NULL); `options` is NULL or a valid struct whose `cancel` is
/// NULL or a live token; `output_needed` is NULL or writable; `kernel` is
/// safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn helios_parallel_map_f32(
    input: *const f32,
    len: usize,
    output: *mut f32,
    output_capacity: usize,
    output_needed: *mut usize,
    options: *const HeliosParallelMapOptions,
    kernel: HeliosKernelF32,
    user_data: *mut c_void,
) -> HeliosStatus {
    let kernel = kernel.map(|kernel| CKernel { kernel, user_data });
    // SAFETY: forwarded caller contract.
    unsafe {
        parallel_map_c(
            input,
            len,
            output,
            output_capacity,
            output_needed,
            options,
            kernel,
        )
    }
}

/// `helios_parallel_map_f32` for `double` arrays: the same contract, errors
/// and guarantees.
///
/// Thread safety: reentrant (safe to call from any number of threads at once).
/// The kernel itself runs on several threads at once.
///
/// # Safety
/// As for `helios_parallel_map_f32`, with `double` elements.
#[no_mangle]
pub unsafe extern "C" fn helios_parallel_map_f64(
    input: *const f64,
    len: usize,
    output: *mut f64,
    output_capacity: usize,
    output_needed: *mut usize,
    options: *const HeliosParallelMapOptions,
    kernel: HeliosKernelF64,
    user_data: *mut c_void,
) -> HeliosStatus {
    let kernel = kernel.map(|kernel| CKernel { kernel, user_data });
    // SAFETY: forwarded caller contract.
    unsafe {
        parallel_map_c(
            input,
            len,
            output,
            output_capacity,
            output_needed,
            options,
            kernel,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{last_error_message, HeliosStatus::*};

    unsafe extern "C" fn negate(
        block: *const f32,
        _block_len: usize,
        core_offset: usize,
        core_len: usize,
        core_out: *mut f32,
        _user_data: *mut c_void,
    ) -> c_int {
        for i in 0..core_len {
            // SAFETY: the runner passes a block holding the core and an output
            // of core_len elements.
            unsafe { *core_out.add(i) = -*block.add(core_offset + i) };
        }
        0
    }

    unsafe extern "C" fn fail_with_user_code(
        _: *const f32,
        _: usize,
        _: usize,
        _: usize,
        _: *mut f32,
        user_data: *mut c_void,
    ) -> c_int {
        user_data as usize as c_int
    }

    fn map(
        input: &[f32],
        output: &mut [f32],
        options: &HeliosParallelMapOptions,
        kernel: HeliosKernelF32,
        user: usize,
    ) -> (HeliosStatus, usize) {
        let mut needed = 0;
        // SAFETY: slices valid for their lengths; the kernels honour the contract.
        let status = unsafe {
            helios_parallel_map_f32(
                input.as_ptr(),
                input.len(),
                output.as_mut_ptr(),
                output.len(),
                &mut needed,
                options,
                kernel,
                user as *mut c_void,
            )
        };
        (status, needed)
    }

    #[test]
    fn the_c_entry_point_maps_and_reports_needed_size() {
        let input: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let mut output = vec![0.0; 100];
        let options = helios_parallel_map_default_options();
        assert_eq!(
            map(&input, &mut output, &options, Some(negate), 0),
            (HELIOS_OK, 100)
        );
        assert!(output.iter().zip(&input).all(|(o, i)| *o == -*i));

        let mut short = vec![0.0; 99];
        assert_eq!(
            map(&input, &mut short, &options, Some(negate), 0),
            (HELIOS_ERR_BUFFER_TOO_SMALL, 100)
        );
        assert!(last_error_message().contains("holds 99 elements but 100 are needed"));
    }

    #[test]
    fn a_kernel_return_code_stops_the_run_and_is_named() {
        let input = vec![1.0f32; 50];
        let mut output = vec![0.0; 50];
        let mut options = helios_parallel_map_default_options();
        options.block_elems = 10;
        let (status, _) = map(&input, &mut output, &options, Some(fail_with_user_code), 7);
        assert_eq!(status, HELIOS_ERR_CANCELLED);
        assert!(
            last_error_message().contains("the kernel returned 7"),
            "{}",
            last_error_message()
        );
    }

    #[test]
    fn bad_options_and_pointers_get_specific_statuses() {
        let input = vec![1.0f32; 8];
        let mut output = vec![0.0; 8];
        let mut options = helios_parallel_map_default_options();
        assert_eq!(
            map(&input, &mut output, &options, None, 0).0,
            HELIOS_ERR_NULL_ARGUMENT
        );
        assert!(last_error_message().contains("`kernel`"));
        options.struct_size = 3;
        assert_eq!(
            map(&input, &mut output, &options, Some(negate), 0).0,
            HELIOS_ERR_INVALID_ARGUMENT
        );
        assert!(last_error_message().contains("struct_size"));
        options = helios_parallel_map_default_options();
        options.threads = 0;
        assert_eq!(
            map(&input, &mut output, &options, Some(negate), 0).0,
            HELIOS_ERR_INVALID_ARGUMENT
        );
        options.threads = 1;
        options.block_elems = 0;
        assert_eq!(
            map(&input, &mut output, &options, Some(negate), 0).0,
            HELIOS_ERR_INVALID_ARGUMENT
        );
        // In place (the same buffer as input and output) is refused.
        let mut data = vec![1.0f32; 8];
        let pointer = data.as_mut_ptr();
        // SAFETY: one valid buffer passed as both arguments; the call refuses it
        // before reading or writing.
        let status = unsafe {
            helios_parallel_map_f32(
                pointer,
                8,
                pointer,
                8,
                std::ptr::null_mut(),
                std::ptr::null(),
                Some(negate),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(status, HELIOS_ERR_INVALID_ARGUMENT);
        assert!(last_error_message().contains("overlap"));
    }
}
