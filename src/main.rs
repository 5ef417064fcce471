//! The flightdeck binary: install error hooks, parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install error reporting: {e}");
    }
    flightdeck::cli::run(flightdeck::cli::Cli::parse())
}
