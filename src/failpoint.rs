//! Named pause points for crash tests: with `FLIGHTDECK_FAILPOINT=NAME` set, the process stops at
//! that point (saying so on stderr) until it is killed, so a test can kill it exactly there.
//! With `FLIGHTDECK_FAILPOINT_RESUME=PATH` as well, it goes on once that file exists, so a test
//! can change the world under a running operation (another operator, a server that drifts).

use std::io::Write;

/// Pauses if the failpoint named `name` is armed (forever, or until the resume file exists);
/// otherwise returns at once.
pub fn pause_if_armed(name: &str) {
    let armed = std::env::var("FLIGHTDECK_FAILPOINT").is_ok_and(|v| v == name);
    if !armed {
        return;
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "failpoint {name} reached");
    let _ = err.flush();
    let resume = std::env::var_os("FLIGHTDECK_FAILPOINT_RESUME").map(std::path::PathBuf::from);
    loop {
        match &resume {
            Some(path) if path.exists() => return,
            Some(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            None => std::thread::sleep(std::time::Duration::from_secs(3600)),
        }
    }
}
