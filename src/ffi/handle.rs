//! The two kinds of handle the C ABI hands out, and checked access to the raw
//! pointers callers pass in.
//!
//! - Shareable objects (tokenizer, model, cancel token) are `Arc`s: the
//!   handle is `Arc::into_raw`, `_free` drops one reference, and an object
//!   that needs another (a sampler needs its model) keeps its own reference,
//!   so the caller may free handles in any order.
//! - Single-owner objects (engine, sampler, trainer) sit in a [`SingleOwner`]:
//!   an atomic in-use flag taken on entry, so a second thread that enters
//!   while the first is inside gets `HELIOS_ERR_BUSY` and the object is not
//!   touched, instead of undefined behaviour.

use std::cell::UnsafeCell;
use std::ffi::c_char;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::status::HELIOS_AUTO;
use crate::error::{Error, Result};
use crate::exec::Threads;

/// A value that one thread at a time may use, enforced at run time.
pub struct SingleOwner<T> {
    name: &'static str,
    in_use: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `enter`, whose atomic flag lets a
// single thread at a time hold the one `OwnerGuard`, so sharing the wrapper
// between threads shares no simultaneous access to `T`; `T: Send` because the
// guard may be taken on any thread.
unsafe impl<T: Send> Sync for SingleOwner<T> {}

impl<T> SingleOwner<T> {
    /// Wrap `value`; `name` ("the Nyström engine") goes into BUSY messages.
    pub fn new(name: &'static str, value: T) -> SingleOwner<T> {
        SingleOwner {
            name,
            in_use: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Take the object for the calling thread, or [`Error::Busy`] when another
    /// thread is inside it. The object is released when the guard drops.
    pub fn enter(&self) -> Result<OwnerGuard<'_, T>> {
        self.in_use
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| Error::Busy(self.name))?;
        Ok(OwnerGuard {
            owner: self,
            _not_send_or_sync: PhantomData,
        })
    }

    /// The value, once no handle can reach the wrapper any more.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Exclusive access to a [`SingleOwner`]'s value for as long as it lives.
/// Like `std::sync::MutexGuard`, it stays on the thread that entered (not
/// `Send`) and may be shared only when `T` itself is `Sync`:
///
/// ```compile_fail
/// use helios::ffi::handle::SingleOwner;
/// fn shared_between_threads<T: Sync>(_: &T) {}
/// let owner = SingleOwner::new("a counter", std::cell::Cell::new(0));
/// let guard = owner.enter().unwrap();
/// shared_between_threads(&guard); // Cell is not Sync, so neither is the guard
/// ```
pub struct OwnerGuard<'a, T> {
    owner: &'a SingleOwner<T>,
    // Without it the guard would be Sync whenever T: Send (through
    // `&SingleOwner<T>`), and `&OwnerGuard<Cell<_>>` could race.
    _not_send_or_sync: PhantomData<*const T>,
}

// SAFETY: sharing the guard shares only `&T` (through Deref), which is safe
// exactly when `T: Sync`.
unsafe impl<T: Sync> Sync for OwnerGuard<'_, T> {}

impl<T> Deref for OwnerGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard exists only while `in_use` is held by it, so no
        // other reference to the value exists.
        unsafe { &*self.owner.value.get() }
    }
}

impl<T> DerefMut for OwnerGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only live borrow.
        unsafe { &mut *self.owner.value.get() }
    }
}

impl<T> Drop for OwnerGuard<'_, T> {
    fn drop(&mut self) {
        self.owner.in_use.store(false, Ordering::Release);
    }
}

/// Box `value` behind a reference count and hand out the raw handle.
pub(crate) fn share<T>(value: T) -> *mut T {
    Arc::into_raw(Arc::new(value)).cast_mut()
}

/// Drop the caller's reference to a handle made by [`share`]; NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or came from [`share::<T>`] and was not released before.
pub(crate) unsafe fn release<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: per the contract, `handle` holds one strong count of an Arc<T>.
        drop(unsafe { Arc::from_raw(handle.cast_const()) });
    }
}

/// Take a reference of one's own to the object behind a handle made by
/// [`share`], so that it outlives a `_free` of the caller's handle during the
/// call; `None` for NULL.
///
/// # Safety
/// `handle` is NULL or a live handle made by [`share::<T>`].
pub(crate) unsafe fn retain<T>(handle: *const T) -> Option<Arc<T>> {
    if handle.is_null() {
        return None;
    }
    // SAFETY: per the contract, `handle` holds a strong count of an Arc<T>;
    // the increment gives the returned Arc a count of its own.
    unsafe {
        Arc::increment_strong_count(handle);
        Some(Arc::from_raw(handle))
    }
}

/// Borrow the object behind a handle, or [`Error::NullArgument`].
///
/// # Safety
/// `handle` is NULL or a live handle of type `T` for the whole borrow.
pub(crate) unsafe fn borrow<'a, T>(handle: *const T, name: &'static str) -> Result<&'a T> {
    // SAFETY: per the contract, a non-NULL handle points to a live T.
    unsafe { handle.as_ref() }.ok_or(Error::NullArgument(name))
}

/// The caller's array as a slice, after checking NULL, alignment and that
/// `len` elements fit in the address space.
///
/// # Safety
/// A non-NULL `data` points to `len` readable elements that stay valid and
/// unmodified for the borrow.
pub(crate) unsafe fn slice_in<'a, T>(
    data: *const T,
    len: usize,
    name: &'static str,
) -> Result<&'a [T]> {
    check_array(data, len, name)?;
    // SAFETY: checked non-NULL, aligned and not overflowing; the caller
    // guarantees `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The caller's output array as a mutable slice, with the checks of
/// [`slice_in`].
///
/// # Safety
/// A non-NULL `data` points to `len` writable elements that nothing else
/// reads or writes during the borrow.
pub(crate) unsafe fn slice_out<'a, T>(
    data: *mut T,
    len: usize,
    name: &'static str,
) -> Result<&'a mut [T]> {
    check_array(data, len, name)?;
    // SAFETY: checked as in `slice_in`; the caller guarantees exclusive access.
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// A caller's versioned options struct, or `defaults` when it is NULL. Every
/// such struct starts with `struct_size`, which is read alone first: a struct
/// from another header may be shorter than this one, so the rest is read only
/// once the size says it is all there. `defaults_fn` names the function that
/// fills it, for the message.
///
/// # Safety
/// `options` is NULL or points to a readable struct whose first field is a
/// `usize` holding its size.
pub(crate) unsafe fn read_options<O: Copy>(
    options: *const O,
    defaults: O,
    defaults_fn: &str,
) -> Result<O> {
    if options.is_null() {
        return Ok(defaults);
    }
    // SAFETY: a valid struct per the contract; `struct_size` is its first
    // field in every version.
    let struct_size = unsafe { options.cast::<usize>().read() };
    let expected = std::mem::size_of::<O>();
    if struct_size != expected {
        return Err(Error::invalid(format!(
            "options.struct_size is {struct_size} but this library expects {expected}: \
             fill the options with {defaults_fn}()"
        )));
    }
    // SAFETY: as above, and the size matches this struct.
    Ok(unsafe { options.read() })
}

/// Write the element count a call needs to `*out_needed` (when not NULL;
/// `SIZE_MAX` when it overflows) and return it, or an error for the overflow.
///
/// # Safety
/// `out_needed` is NULL or writable.
pub(crate) unsafe fn report_needed(needed: Option<usize>, out_needed: *mut usize) -> Result<usize> {
    if !out_needed.is_null() {
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_needed.write(needed.unwrap_or(usize::MAX)) };
    }
    needed.ok_or_else(|| Error::invalid("the output size overflows"))
}

/// The first `needed` elements of the caller's output buffer `name`, after
/// checking the capacity (first, so that a NULL buffer of capacity 0 asks for
/// the size: `HELIOS_ERR_BUFFER_TOO_SMALL` with the size written back), NULL,
/// and that it overlaps none of `inputs`.
///
/// # Safety
/// A non-NULL `out` points to `capacity` writable elements that nothing else
/// reads or writes during the borrow.
pub(crate) unsafe fn output_slice<'a, T>(
    out: *mut T,
    capacity: usize,
    needed: usize,
    (name, inputs): (&'static str, &[(&[T], &str)]),
) -> Result<&'a mut [T]> {
    if capacity < needed {
        return Err(Error::BufferTooSmall {
            name,
            needed,
            capacity,
        });
    }
    if out.is_null() {
        return Err(Error::NullArgument(name));
    }
    for (input, input_name) in inputs {
        if overlaps(input, out, needed) {
            return Err(Error::invalid(format!(
                "`{name}` overlaps `{input_name}`: use separate buffers"
            )));
        }
    }
    // SAFETY: `out` holds `capacity >= needed` writable elements that overlap
    // no input (checked); only `needed` are borrowed.
    unsafe { slice_out(out, needed, name) }
}

/// Whether `output[0..len)` shares memory with `input`, compared as
/// addresses so that no reference to the output exists before the check.
pub(crate) fn overlaps<T>(input: &[T], output: *mut T, len: usize) -> bool {
    let output_bytes = len.saturating_mul(std::mem::size_of::<T>());
    ranges_overlap(address_range(input), (output as usize, output_bytes))
}

/// The (start address, length in bytes) of a slice.
pub(crate) fn address_range<T>(slice: &[T]) -> (usize, usize) {
    (slice.as_ptr() as usize, std::mem::size_of_val(slice))
}

/// Whether two (start address, length in bytes) ranges share a byte.
pub(crate) fn ranges_overlap((a, a_len): (usize, usize), (b, b_len): (usize, usize)) -> bool {
    a < b.saturating_add(b_len) && b < a.saturating_add(a_len)
}

fn check_array<T>(data: *const T, len: usize, name: &'static str) -> Result<()> {
    if data.is_null() {
        return Err(Error::NullArgument(name));
    }
    if !data.is_aligned() {
        return Err(Error::invalid(format!(
            "`{name}` is not aligned to {} bytes",
            std::mem::align_of::<T>()
        )));
    }
    let fits = len
        .checked_mul(std::mem::size_of::<T>())
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits {
        return Err(Error::invalid(format!(
            "`{name}` length {len} overflows the address space"
        )));
    }
    Ok(())
}

/// The thread choice a C `threads` field stands for (`HELIOS_AUTO` or a count).
pub(crate) fn to_threads(threads: usize) -> Threads {
    match threads {
        HELIOS_AUTO => Threads::Auto,
        n => Threads::Exactly(n),
    }
}

/// A UTF-8 path given as bytes and a length.
///
/// # Safety
/// `path` is NULL or points to `path_len` readable bytes.
pub(crate) unsafe fn path_arg<'a>(
    path: *const c_char,
    path_len: usize,
) -> Result<&'a std::path::Path> {
    // SAFETY: forwarded contract.
    unsafe { named_path_arg(path, path_len, "path") }
}

/// [`path_arg`] for a path parameter called `name` in errors.
///
/// # Safety
/// `path` is NULL or points to `path_len` readable bytes.
pub(crate) unsafe fn named_path_arg<'a>(
    path: *const c_char,
    path_len: usize,
    name: &'static str,
) -> Result<&'a std::path::Path> {
    // SAFETY: per the contract.
    let bytes = unsafe { slice_in(path.cast::<u8>(), path_len, name) }?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid(format!("`{name}` is not UTF-8: {e}")))?;
    if text.is_empty() || text.contains('\0') {
        return Err(Error::invalid(format!(
            "`{name}` is empty or contains a NUL byte"
        )));
    }
    Ok(std::path::Path::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn a_second_thread_gets_busy_and_leaves_the_object_untouched() {
        let owner = SingleOwner::new("the test object", vec![1, 2, 3]);
        let inside = Barrier::new(2);
        let checked = Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut guard = owner.enter().unwrap();
                inside.wait();
                checked.wait();
                guard.push(4);
            });
            inside.wait();
            let error = owner
                .enter()
                .err()
                .expect("the object is held by the other thread");
            assert_eq!(error.kind(), crate::ErrorKind::Busy);
            assert!(error.to_string().starts_with("the test object is in use"));
            checked.wait();
        });
        // Released after the holder left: the next entry succeeds and sees
        // exactly the holder's change.
        assert_eq!(*owner.enter().unwrap(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn hammering_a_single_owner_never_lets_two_threads_in() {
        let owner = SingleOwner::new("counter", 0u64);
        let busy = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        match owner.enter() {
                            // A non-atomic read-modify-write: a lost update
                            // would show up as a wrong total below.
                            Ok(mut guard) => *guard = std::hint::black_box(*guard) + 1,
                            Err(_) => {
                                busy.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        let entered = owner.into_inner();
        assert_eq!(entered + busy.load(Ordering::Relaxed), 80_000);
    }

    #[test]
    fn arrays_are_checked_for_null_alignment_and_overflow() {
        // SAFETY: every call below fails its checks before any dereference.
        unsafe {
            let error = slice_in::<f32>(std::ptr::null(), 4, "input").unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::NullArgument);
            let data = [0f32; 4];
            let error = slice_in(data.as_ptr(), usize::MAX, "input").unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::InvalidArgument);
            let misaligned = data.as_ptr().cast::<u8>().add(1).cast::<f32>();
            let error = slice_in(misaligned, 1, "input").unwrap_err();
            assert!(error.to_string().contains("aligned"));
        }
    }
}
