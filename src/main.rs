//! The flightdeck binary: install error hooks, parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

// Inference and request handling allocate many small, short-lived buffers; mimalloc serves them
// several times faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install error reporting: {e}");
    }
    flightdeck::cli::run(flightdeck::cli::Cli::parse())
}
