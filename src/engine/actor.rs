//! Who is acting, and where: stamped on every journal row and alias move.

/// The person (or script) and the environment an action is taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub environment: String,
}

impl Actor {
    pub fn new(user: impl Into<String>, environment: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            environment: environment.into(),
        }
    }

    /// The login name from the environment, for when the config names no user.
    pub fn login_name() -> String {
        ["FLIGHTDECK_USER", "USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| "unknown".to_string())
    }
}
