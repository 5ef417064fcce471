//! Process checks and signals for supervised servers.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Whether `pid` is alive and is a flightdeck process (guards against reused pids).
pub fn is_flightdeck(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if kill(Pid::from_raw(raw), None).is_err() {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let text = String::from_utf8_lossy(&cmdline);
            text.contains("flightdeck") || text.contains("supervise") || text.contains("serve")
        }
        // No /proc (not Linux): the signal check is all there is.
        Err(_) => true,
    }
}

/// Asks a process to stop (SIGTERM). False when it was already gone.
pub fn terminate(pid: u32) -> bool {
    signal(pid, Signal::SIGTERM)
}

pub fn kill_now(pid: u32) -> bool {
    signal(pid, Signal::SIGKILL)
}

fn signal(pid: u32, signal: Signal) -> bool {
    i32::try_from(pid).is_ok_and(|raw| kill(Pid::from_raw(raw), signal).is_ok())
}
