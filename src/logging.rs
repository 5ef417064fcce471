//! Logs go to a file in the data dir, never to the terminal (the console owns it in raw mode).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts logging to `DATA_DIR/logs/FILE_NAME`; level from `FLIGHTDECK_LOG` (default
/// `info`). Keep the guard alive until exit so buffered lines are written. Logging that cannot
/// start is not fatal: the command still runs, without a log.
pub fn init(data_dir: &Path, file_name: &str) -> Option<WorkerGuard> {
    let dir = data_dir.join("logs");
    // Opened here, not by the appender (which panics when it cannot): a read-only data dir or a
    // full disk means no log file, said once on stderr, never a crash.
    let opened = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(file_name))
    });
    let appender = match opened {
        Ok(file) => file,
        Err(e) => {
            eprintln!(
                "warning: no log file ({}: {e}); going on without one",
                dir.join(file_name).display()
            );
            return None;
        }
    };
    // The default queue holds 128,000 lines (4 MB allocated up front, most of an idle
    // console's heap); a few thousand cover any burst, and a full queue drops lines, never
    // blocks the screen.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .lossy(true)
        .finish(appender);
    let filter =
        EnvFilter::try_from_env("FLIGHTDECK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
