//! Shell completions and the manual page, generated from the command line's definition: bash
//! completes subcommands and flags from what `flightdeck completions bash` prints, and `man`
//! renders the page with every subcommand in it.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::ok;

/// What bash completes after `words` (the last one being typed), with the completion script
/// `flightdeck completions bash` printed.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let words_text = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=({words_text}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; _flightdeck flightdeck '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len() - 1,
        words.join(" "),
        words.last().unwrap(),
        words[words.len() - 2],
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_and_flags_and_man_renders_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let script = h.join("flightdeck.bash");
    std::fs::write(&script, ok(h, &["completions", "bash"])).unwrap();
    let subcommands = bash_completes(&script, &["flightdeck", "sha"]);
    assert_eq!(subcommands, ["shadow"]);
    let flags = bash_completes(&script, &["flightdeck", "replay", "--min"]);
    assert_eq!(flags, ["--min-agreement"]);
    // The other shells get a script of their own.
    for shell in ["zsh", "fish"] {
        let text = ok(h, &["completions", shell]);
        assert!(
            text.contains("shadow") && text.contains("replay"),
            "{shell}"
        );
    }
    let err = common::fails(h, &["completions", "tcsh"], 2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");

    // The page, through man itself: the command and each subcommand with its options.
    let page = ok(h, &["man"]);
    let mut man = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    man.stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let shown = man.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    for section in [
        "FLIGHTDECK SHADOW",
        "FLIGHTDECK REPLAY",
        "FLIGHTDECK REQUESTS",
    ] {
        assert!(shown.contains(section), "{section}:\n{shown}");
    }
    assert!(shown.contains("--keep-as-sentinel"), "{shown}");
    assert!(
        !shown.contains("FLIGHTDECK SUPERVISE"),
        "hidden commands stay out"
    );
}
