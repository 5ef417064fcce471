//! Named pause points for crash tests: with `FLIGHTDECK_FAILPOINT=NAME` set, the process stops at
//! that point (saying so on stderr) until it is killed, so a test can kill it exactly there.

use std::io::Write;

/// Pauses forever if the failpoint named `name` is armed; otherwise returns at once.
pub fn pause_if_armed(name: &str) {
    let armed = std::env::var("FLIGHTDECK_FAILPOINT").is_ok_and(|v| v == name);
    if !armed {
        return;
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "failpoint {name} reached");
    let _ = err.flush();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
