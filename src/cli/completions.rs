//! `flightdeck completions SHELL` and `flightdeck man`: shell completions and the manual page,
//! generated from the command line's definition, so they never fall behind it.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, Failure, failure};

/// Completions for `shell`, on standard output.
pub fn print(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "flightdeck", &mut out);
    write_out(&out)
}

/// The manual page (roff): the command's own page, then a section per subcommand with its
/// whole `--help` (usage, arguments, options), as `git help` users expect to find them.
pub fn man() -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .map_err(|e| failure(format!("cannot render the manual: {e}")))?;
    command.build();
    for sub in command.get_subcommands_mut().filter(|c| !c.is_hide_set()) {
        let help = sub.render_long_help().to_string();
        out.extend_from_slice(
            format!(
                ".SH \"FLIGHTDECK {}\"\n.nf\n{}\n.fi\n",
                sub.get_name().to_uppercase(),
                roff_text(&help)
            )
            .as_bytes(),
        );
    }
    write_out(&out)
}

/// Text that roff shows as written: backslashes doubled, a line's leading `.` or `'` guarded.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_out(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // `flightdeck man | head`: the reader went away, as with any output.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(failure(format!("cannot write: {e}"))),
    }
}
