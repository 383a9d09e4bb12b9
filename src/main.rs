//! Entry point: parse the command line, then run the GUI or a headless command. Sets the global
//! allocator (mimalloc keeps freed tensor buffers for the next op instead of unmapping them).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    heatscope::cli::main()
}
