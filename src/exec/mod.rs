//! Deterministic parallel execution. `threads` chooses how many workers run
//! (the process-wide pool, or the calling thread alone for a count of 1);
//! `runner` splits a 1-D carrier into fixed blocks with halos and runs a
//! kernel on each. The split depends only on the data and the block size, never
//! on the thread count, and every block writes its own part of the output, so a
//! run gives the same bits on 1, 2 or 16 threads (the dashiCORE rule).

mod runner;
mod threads;

pub use runner::{auto_block_elems, parallel_map, parallel_map_into, Element, MapOptions};
pub use threads::{default_threads, set_default_threads, Threads, MAX_THREADS};
pub(crate) use threads::{run_blocks, run_team};
