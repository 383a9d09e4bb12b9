//! Entry point: parse the command line, then run the GUI or a headless command.

fn main() -> std::process::ExitCode {
    heatscope::cli::main()
}
