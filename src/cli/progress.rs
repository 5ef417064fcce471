//! Progress of long steps on stderr: one line per step, and for a counted step a bar redrawn in
//! place when stderr is a terminal (a script's log gets the step lines only).

use std::io::{IsTerminal, Write};

use crate::model::Step;

/// A reporter for `label` (e.g. "smoke fraud v2"): call it with each step.
pub fn printer(label: String, quiet: bool) -> impl Fn(&Step) + Sync {
    let terminal = std::io::stderr().is_terminal();
    move |step: &Step| {
        if quiet {
            return;
        }
        if let Some(text) = shown(&label, step, terminal) {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        }
    }
}

/// What stderr gets for `step`: on a terminal a counted step redraws its bar in place (`\r`,
/// a newline once done); off one it is logged once, when it starts.
fn shown(label: &str, step: &Step, terminal: bool) -> Option<String> {
    let text = &step.text;
    match (terminal, step.counted) {
        (true, Some((done, total))) => {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
            let end = if done >= total { "\n" } else { "" };
            Some(format!(
                "\r{label}: {text} [{}{}] {done}/{total}{end}",
                "#".repeat(filled),
                ".".repeat(width - filled)
            ))
        }
        (false, Some((0, total))) => Some(format!("{label}: {text} ({total})…\n")),
        (false, Some(_)) => None,
        (_, None) => Some(format!("{label}: {text}…\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_steps_draw_a_bar_on_a_terminal_and_one_line_in_a_log() {
        let half = Step::counted("latency burst", 100, 200);
        assert_eq!(
            shown("smoke", &half, true).unwrap(),
            format!(
                "\rsmoke: latency burst [{}{}] 100/200",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        assert!(
            shown("smoke", &Step::counted("latency burst", 200, 200), true)
                .unwrap()
                .ends_with("200/200\n")
        );
        assert_eq!(shown("smoke", &half, false), None);
        assert_eq!(
            shown("smoke", &Step::counted("latency burst", 0, 200), false).unwrap(),
            "smoke: latency burst (200)…\n"
        );
        assert_eq!(
            shown("smoke", &Step::new("comparing the signature"), false).unwrap(),
            "smoke: comparing the signature…\n"
        );
    }
}
