//! `HELIOS_NUM_THREADS` sets the default thread count. This file is its own
//! test process with a single test, so the variable is set before anything in
//! helios reads it and no other test thread is running. Which values are
//! accepted is tested next to the parser, in `src/exec/threads.rs`.

#[test]
fn helios_num_threads_sets_the_default_once() {
    std::env::set_var("HELIOS_NUM_THREADS", "3");
    assert_eq!(helios::exec::default_threads(), 3);
    assert_eq!(helios::Threads::Auto.resolve().unwrap(), 3);
    // Read once: later changes of the variable do not move the default.
    std::env::set_var("HELIOS_NUM_THREADS", "5");
    assert_eq!(helios::exec::default_threads(), 3);
}
