//! Entry point: parse the command line, then run the GUI or a headless command. Sets the global
//! allocator (mimalloc keeps freed tensor buffers for the next op instead of unmapping them).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_freed_memory_mapped_a_while();
    heatscope::cli::main()
}

/// `mi_option_purge_delay` in the mimalloc 3 bundled with libmimalloc-sys 0.1.49 (its `mi_option_e`;
/// the crate's bindings predate the name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands memory that has stayed free for a second back to the kernel, so a model asked a
/// question every few seconds (or a benchmark's next run) faults its whole working set in again: 97
/// page faults per Qwen3-VL medium prefill here, 5-10 % of its time. Ten seconds keeps the working set
/// mapped while a model is in use and still returns it soon after.
///
/// heatscope's third `unsafe` call: an FFI call into the allocator, which documents `mi_option_set` as
/// not thread-safe. It is sound here because it runs first in `main`, before any thread exists, and
/// sets a plain integer option (milliseconds) that mimalloc reads whenever it schedules a purge.
#[allow(unsafe_code)]
fn keep_freed_memory_mapped_a_while() {
    // SAFETY: see above.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
}
