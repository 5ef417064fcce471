//! Progress of long steps on stderr: one line per step, and for a counted step ("12/200") a
//! bar redrawn in place when stderr is a terminal (a script's log gets the step lines only).

use std::io::{IsTerminal, Write};

/// A reporter for `label` (e.g. "smoke fraud v2"): call it with each step's text.
pub fn printer(label: String, quiet: bool) -> impl Fn(&str) + Sync {
    let terminal = std::io::stderr().is_terminal();
    move |step: &str| {
        if quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        match (terminal, counted(step)) {
            (true, Some((text, done, total))) => {
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
                let _ = write!(
                    err,
                    "\r{label}: {text} [{}{}] {done}/{total}",
                    "#".repeat(filled),
                    ".".repeat(width - filled)
                );
                if done >= total {
                    let _ = writeln!(err);
                }
            }
            // Off a terminal, a counted step is logged once, when it starts.
            (false, Some((text, 0, total))) => {
                let _ = writeln!(err, "{label}: {text} ({total})…");
            }
            (false, Some(_)) => {}
            (_, None) => {
                let _ = writeln!(err, "{label}: {step}…");
            }
        }
        let _ = err.flush();
    }
}

/// "latency burst 120/200" -> ("latency burst", 120, 200).
fn counted(step: &str) -> Option<(&str, usize, usize)> {
    let (text, fraction) = step.rsplit_once(' ')?;
    let (done, total) = fraction.split_once('/')?;
    Some((text, done.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counted_steps_are_recognised() {
        assert_eq!(
            counted("latency burst 120/200"),
            Some(("latency burst", 120, 200))
        );
        assert_eq!(counted("comparing the signature"), None);
        assert_eq!(counted("reading a/b.csv"), None);
    }
}
