//! The console as a person runs it: in tmux, keys sent with `send-keys`, the screen read with
//! `capture-pane`. Each session runs on a tmux server of its own (`-L`), so tests in parallel
//! never meet a server another test is shutting down. Killed when dropped.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub session: String,
}

impl Tmux {
    pub fn start(home: &Path, width: u16, height: u16) -> Tmux {
        Self::start_with_config(home, &home.join("no-config.toml"), width, height)
    }

    pub fn start_with_config(home: &Path, config: &Path, width: u16, height: u16) -> Tmux {
        // tmux turns dots in session names into underscores: keep to letters, digits and dashes.
        let tag: String = home
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let session = format!("fd-test-{}-{tag}", std::process::id());
        let program = env!("CARGO_BIN_EXE_flightdeck");
        let command = format!(
            "FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={} FLIGHTDECK_USER=tester {program}",
            home.display(),
            config.display()
        );
        Self::start_command(session, width, height, &command)
    }

    /// Runs `command` in a new session named `session`, on its own tmux server.
    pub fn start_command(session: String, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux { session };
        let status = tmux
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                &tmux.session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (CI installs it)");
        assert!(status.success());
        tmux
    }

    /// A tmux command addressed to this session's own server.
    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.session]);
        command
    }

    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its colours and styles as escape sequences (`capture-pane -e`).
    pub fn styled_screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-e", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        assert!(self.tmux().args(&args).status().unwrap().success());
    }

    /// Waits until the screen satisfies `check`, up to a minute (generous: a loaded CI machine
    /// draws slowly); returns the screen.
    pub fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn alive(&self) -> bool {
        self.tmux()
            .args(["has-session", "-t", &self.session])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().args(["kill-server"]).status();
    }
}
