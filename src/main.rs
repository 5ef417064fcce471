//! The flightdeck binary: install error hooks, parse the command line, hand over to the library.
//!
//! It keeps the system allocator: the console is long-lived and mostly idle, and glibc gives
//! freed memory back where mimalloc keeps it cached (66 MB resident against 49 MB with 1,000 live
//! servers on screen). `flightdeck serve` hands over to its sibling `flightdeck-serve`, built
//! with mimalloc for the request path, when that binary is installed next to this one.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flightdeck::cli::Cli::parse();
    if matches!(cli.command, Some(flightdeck::cli::Command::Serve(_))) {
        flightdeck::cli::serve::hand_over_to_server_binary();
    }
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install error reporting: {e}");
    }
    flightdeck::cli::run(cli)
}
