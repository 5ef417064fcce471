//! `flightdeck serve` with mimalloc: inference and request handling allocate many small,
//! short-lived buffers, which mimalloc serves several times faster than the system allocator.
//! Started by `flightdeck serve` (and so by the supervisor); the same command line either way.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Asked by `flightdeck serve` before handing over: is this the same build?
    if std::env::var_os(flightdeck::cli::serve::BUILD_ID_QUERY).is_some() {
        println!("{}", flightdeck::BUILD_ID);
        return ExitCode::SUCCESS;
    }
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install error reporting: {e}");
    }
    flightdeck::cli::run(flightdeck::cli::Cli::parse())
}
