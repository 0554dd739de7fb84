//! Thread counts and the process-wide worker pool. The default count comes
//! from `HELIOS_NUM_THREADS` or the CPU count and can be changed at run time;
//! every call can also name its own count. A count of 1 runs on the calling
//! thread and never touches the pool (game engines and servers with their own
//! job systems rely on that). The pool is a rayon pool owned by helios, not
//! rayon's global one, so a host program's own rayon use is left alone. It
//! has as many threads as the larger of the default count and the CPU count
//! (growing when the default is raised, never shrinking); a call that asks
//! for more workers than that queues them on the pool rather than starting
//! threads that would only compete for the same cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// The largest thread count helios accepts; larger counts are refused as a
/// likely mistake (a negative number cast to `size_t`, for example).
pub const MAX_THREADS: usize = 1024;

/// 0 until the default is first read or set.
static DEFAULT_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);

/// How many threads a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// The process default: [`default_threads`].
    #[default]
    Auto,
    /// Exactly this many (1 ..= [`MAX_THREADS`]); 1 runs on the calling thread.
    Exactly(usize),
}

impl Threads {
    /// The count this choice stands for, or an error for 0 or a count above
    /// [`MAX_THREADS`].
    pub fn resolve(self) -> Result<usize> {
        match self {
            Threads::Auto => Ok(default_threads()),
            Threads::Exactly(n) => check_count(n),
        }
    }
}

fn check_count(n: usize) -> Result<usize> {
    if n == 0 {
        return Err(Error::invalid("thread count is 0: it must be at least 1"));
    }
    if n > MAX_THREADS {
        return Err(Error::invalid(format!(
            "thread count {n} is larger than the maximum {MAX_THREADS}"
        )));
    }
    Ok(n)
}

/// The default thread count: the last value given to [`set_default_threads`],
/// else `HELIOS_NUM_THREADS` when it holds a number in 1 ..= [`MAX_THREADS`],
/// else the number of CPUs this process may use.
pub fn default_threads() -> usize {
    let current = DEFAULT_THREADS.load(Ordering::Acquire);
    if current != 0 {
        return current;
    }
    let initial = threads_from_env(std::env::var("HELIOS_NUM_THREADS").ok().as_deref())
        .unwrap_or_else(cpu_count);
    // A concurrent set_default_threads wins over the environment.
    match DEFAULT_THREADS.compare_exchange(0, initial, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => initial,
        Err(already) => already,
    }
}

/// The count `HELIOS_NUM_THREADS` asks for: a number in 1 ..= [`MAX_THREADS`],
/// blanks around it allowed; anything else is ignored.
fn threads_from_env(value: Option<&str>) -> Option<usize> {
    value
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|&n| (1..=MAX_THREADS).contains(&n))
}

/// Change the default thread count for calls that do not name one.
pub fn set_default_threads(n: usize) -> Result<()> {
    DEFAULT_THREADS.store(check_count(n)?, Ordering::Release);
    Ok(())
}

/// The most threads the pool grows to: the default count or the CPU count,
/// whichever is larger.
fn pool_limit() -> usize {
    default_threads().max(cpu_count())
}

/// The CPUs this process may use, read once: the query opens files under
/// /proc and /sys, which would cost more than a small call's work.
fn cpu_count() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The pool, grown to at least `workers` threads.
fn pool_with_at_least(workers: usize) -> Result<Arc<rayon::ThreadPool>> {
    if let Some(pool) = POOL.read().as_ref() {
        if pool.current_num_threads() >= workers {
            return Ok(Arc::clone(pool));
        }
    }
    let mut slot = POOL.write();
    if let Some(pool) = slot.as_ref() {
        if pool.current_num_threads() >= workers {
            return Ok(Arc::clone(pool));
        }
    }
    let size = workers.max(default_threads());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(size)
        .thread_name(|i| format!("helios-worker-{i}"))
        .build()
        .map_err(|e| Error::OutOfMemory(format!("could not start {size} worker threads: {e}")))?;
    let pool = Arc::new(pool);
    // Calls still running on a smaller pool keep it alive through their Arc.
    *slot = Some(Arc::clone(&pool));
    Ok(pool)
}

/// Cut `output` into blocks of `block_len` elements (the last may be
/// shorter) and run `work(scratch, index, block)` on each, with `threads`
/// workers. Each worker makes its own `scratch` with `init` once, before its
/// first block, so a kernel's temporary buffers are allocated per worker, not
/// per block.
///
/// The calling thread is one of the workers (a count of 1 runs everything on
/// it and touches no pool), and the others come from the pool. Each worker
/// owns a contiguous run of whole blocks, which it processes in order: no
/// lock, no per-block allocation, and only `threads - 1` pool threads to
/// wake. When a block fails, its worker stops and blocks after it are
/// skipped, but blocks before it still run, and the error of the lowest
/// failing block is returned, so the error too is the same for every thread
/// count. The token is checked before each block.
pub(crate) fn run_blocks<T, S, I, F>(
    threads: usize,
    output: &mut [T],
    block_len: usize,
    cancel: Option<&CancelToken>,
    init: I,
    work: F,
) -> Result<()>
where
    T: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, usize, &mut [T]) -> Result<()> + Sync,
{
    let check_cancel = || match cancel {
        Some(token) if token.is_cancelled() => Err(Error::Cancelled(
            "cancelled by the CancelToken before the work finished".into(),
        )),
        _ => Ok(()),
    };
    let n_blocks = output.len().div_ceil(block_len);
    let workers = threads.min(n_blocks);
    if workers <= 1 {
        let mut scratch = init();
        for (index, block) in output.chunks_mut(block_len).enumerate() {
            check_cancel()?;
            work(&mut scratch, index, block)?;
        }
        return Ok(());
    }

    let pool = pool_with_at_least((workers - 1).min(pool_limit()))?;
    let stop_after = AtomicUsize::new(usize::MAX);
    let failure: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    // One worker's run: blocks `first..` in order, `run` holding their outputs.
    let run_worker = |first: usize, run: &mut [T]| {
        let mut scratch = init();
        for (offset, block) in run.chunks_mut(block_len).enumerate() {
            let index = first + offset;
            if index > stop_after.load(Ordering::Acquire) {
                break;
            }
            if let Err(error) = check_cancel().and_then(|()| work(&mut scratch, index, block)) {
                stop_after.fetch_min(index, Ordering::AcqRel);
                let mut slot = failure.lock();
                if slot.as_ref().is_none_or(|(lowest, _)| index < *lowest) {
                    *slot = Some((index, error));
                }
                break;
            }
        }
    };
    // Worker w gets blocks [w * n / workers, (w + 1) * n / workers); the
    // calling thread takes the first run itself once the others are queued.
    let run_start = |worker: usize| worker * n_blocks / workers;
    let (first_run, mut rest) = output.split_at_mut(run_start(1) * block_len);
    pool.in_place_scope(|scope| {
        for worker in 1..workers {
            let elems = ((run_start(worker + 1) - run_start(worker)) * block_len).min(rest.len());
            let (run, tail) = std::mem::take(&mut rest).split_at_mut(elems);
            rest = tail;
            let run_worker = &run_worker;
            scope.spawn(move |_| run_worker(run_start(worker), run));
        }
        run_worker(0, first_run);
    });
    match failure.into_inner() {
        Some((_, error)) => Err(error),
        None => Ok(()),
    }
}

/// Run `lead` on the calling thread while `threads - 1` pool threads run
/// `helper(member)` (member 1, 2, ...), and return the lead's result once
/// every helper has returned. For work that needs its workers to stay awake
/// across many short steps: waking a pool thread costs tens of
/// microseconds, so one team per batch of steps replaces a region per step.
///
/// Helpers may start late (the pool busy with other calls) or only after the
/// lead is done: the lead must never wait for a helper to arrive, only for
/// work a helper has already claimed, and helpers must return once the lead
/// says it is finished. A count of 1 runs the lead alone and touches no pool;
/// at most as many helpers as the pool has threads are started.
pub(crate) fn run_team<R, L, H>(threads: usize, lead: L, helper: H) -> Result<R>
where
    L: FnOnce() -> R,
    H: Fn(usize) + Sync,
{
    // Helpers beyond the pool's size would only queue for its threads.
    let helpers = threads.saturating_sub(1).min(pool_limit());
    if helpers == 0 {
        return Ok(lead());
    }
    let pool = pool_with_at_least(helpers)?;
    Ok(pool.in_place_scope(|scope| {
        let helper = &helper;
        for member in 1..=helpers {
            scope.spawn(move |_| helper(member));
        }
        lead()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_absurd_thread_counts_are_refused() {
        assert!(Threads::Exactly(0).resolve().is_err());
        assert!(Threads::Exactly(MAX_THREADS + 1).resolve().is_err());
        assert_eq!(Threads::Exactly(3).resolve().unwrap(), 3);
        assert!(set_default_threads(0).is_err());
    }

    #[test]
    fn helios_num_threads_accepts_only_a_count_in_range() {
        assert_eq!(threads_from_env(Some("4")), Some(4));
        assert_eq!(threads_from_env(Some(" 12\n")), Some(12));
        assert_eq!(threads_from_env(Some("1024")), Some(1024));
        for bad in ["0", "1025", "-2", "abc", "", "2.5"] {
            assert_eq!(threads_from_env(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(threads_from_env(None), None);
    }

    #[test]
    fn one_thread_runs_on_the_calling_thread() {
        let caller = std::thread::current().id();
        run_blocks(
            1,
            &mut [0u8; 8],
            1,
            None,
            || (),
            |_, _, _| {
                assert_eq!(std::thread::current().id(), caller);
                Ok(())
            },
        )
        .unwrap();
    }

    #[test]
    fn the_lowest_failing_block_is_reported_for_every_thread_count() {
        for threads in 1..=4 {
            let error = run_blocks(
                threads,
                &mut [0u8; 64],
                1,
                None,
                || (),
                |_, block, _| {
                    if block % 10 == 7 {
                        Err(Error::invalid(format!("block {block}")))
                    } else {
                        Ok(())
                    }
                },
            )
            .unwrap_err();
            assert_eq!(error.to_string(), "block 7", "threads = {threads}");
        }
    }

    #[test]
    fn a_huge_thread_count_does_not_start_a_thread_per_worker() {
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        run_blocks(
            MAX_THREADS,
            &mut [0u8; 4096],
            1,
            None,
            || (),
            |_, _, _| {
                threads.lock().unwrap().insert(std::thread::current().id());
                Ok(())
            },
        )
        .unwrap();
        // The pool's threads plus the calling thread.
        let used = threads.into_inner().unwrap().len();
        assert!(
            used <= pool_limit() + 1,
            "{used} threads for a limit of {}",
            pool_limit()
        );
    }

    #[test]
    fn every_block_runs_exactly_once() {
        for threads in 1..=4 {
            let hits: Vec<AtomicUsize> = (0..100).map(|_| AtomicUsize::new(0)).collect();
            run_blocks(
                threads,
                &mut [0u8; 100],
                1,
                None,
                || (),
                |_, block, _| {
                    hits[block].fetch_add(1, Ordering::Relaxed);
                    Ok(())
                },
            )
            .unwrap();
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_raised_token_stops_before_the_first_block() {
        let token = CancelToken::new();
        token.cancel();
        for threads in 1..=3 {
            let ran = AtomicUsize::new(0);
            let error = run_blocks(
                threads,
                &mut [0u8; 10],
                1,
                Some(&token),
                || (),
                |_, _, _| {
                    ran.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Cancelled);
            assert_eq!(ran.load(Ordering::Relaxed), 0);
        }
    }
}
