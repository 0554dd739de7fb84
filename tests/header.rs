//! The committed C header must be exactly what cbindgen generates from the
//! current sources: a stale header would let C, Python and C# callers compile
//! against declarations the library no longer has.

#[test]
fn header_is_fresh() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/helios.h"));
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/helios.h");
    let committed = std::fs::read_to_string(committed_path).expect("include/helios.h exists");
    assert!(
        committed == generated,
        "include/helios.h is stale: run `make header` and commit the result"
    );
}

#[test]
fn header_constants_match_the_library() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/helios.h"));
    assert!(header.contains("#define HELIOS_AUTO SIZE_MAX"));
    assert_eq!(helios::ffi::HELIOS_AUTO, usize::MAX);
    let abi_line = format!(
        "#define HELIOS_ABI_VERSION {}",
        helios::ffi::HELIOS_ABI_VERSION
    );
    assert!(header.contains(&abi_line));
    let max_line = format!("#define HELIOS_MAX_THREADS {}", helios::exec::MAX_THREADS);
    assert!(header.contains(&max_line));
}

#[test]
fn every_exported_function_states_its_thread_safety_class() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/helios.h"));
    let phrases = [
        "Thread safety: reentrant (safe to call from any number of threads at once)",
        "Thread safety: shareable (one object may be used from any number of threads at once)",
        "Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY)",
    ];
    // Each declaration is preceded by its comment block; check the block.
    let mut comment = String::new();
    let mut checked = 0;
    for line in header.lines() {
        if let Some(text) = line.strip_prefix("//") {
            comment.push_str(text.trim());
            comment.push(' ');
            continue;
        }
        if line.contains("helios_") && line.trim_end().ends_with(");") {
            let squeezed = comment.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                phrases.iter().any(|p| squeezed.contains(p)),
                "no thread-safety class in the comment of: {line}"
            );
            checked += 1;
        }
        comment.clear();
    }
    assert!(checked >= 38, "only {checked} declarations found");
}
