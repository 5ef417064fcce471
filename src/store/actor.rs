//! Who is acting, and where: stamped on every journal row and alias move, and the place where
//! read-only environments are enforced.

use crate::error::EngineError;

/// The person (or script) and the environment an action is taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub environment: String,
    /// Set for read-only environments (or `--readonly`): every mutation is refused.
    pub read_only: bool,
}

impl Actor {
    pub fn new(user: impl Into<String>, environment: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            environment: environment.into(),
            read_only: false,
        }
    }

    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Refuses a mutation in a read-only environment; enforced in the engine so that no front
    /// end can skip it.
    pub fn ensure_writable(&self, action: &str) -> Result<(), EngineError> {
        if self.read_only {
            return Err(EngineError::ReadOnly {
                environment: self.environment.clone(),
                action: action.to_string(),
                // Said for every front end: the CLI's flag and the console's command.
                remedy: "Nothing was changed; act from a writable environment (--env NAME, or :env NAME in the console), or without --readonly if it was given".to_string(),
            });
        }
        Ok(())
    }
}

/// The login name from the environment, for when the config names no user.
pub fn login_name() -> String {
    ["FLIGHTDECK_USER", "USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        // No variable (a bare shell on a bastion, cron): the account the process runs as.
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".to_string())
}
