//! A step of a long task as the engine reports it (a smoke test, an evaluation, a plan that runs
//! a missing smoke test): what it does and, when it counts, how far it has come. The CLI draws a
//! counted step as a bar, the console as a line; neither parses text back into numbers.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    /// (done, total) for a step that counts, e.g. requests of a latency burst.
    pub counted: Option<(usize, usize)>,
}

impl Step {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            counted: None,
        }
    }

    pub fn counted(text: impl Into<String>, done: usize, total: usize) -> Self {
        Self {
            text: text.into(),
            counted: Some((done, total)),
        }
    }

    /// The same step said as part of a larger task (`smoke test v3: latency burst`).
    pub fn within(&self, task: &str) -> Self {
        Self {
            text: format!("{task}: {}", self.text),
            counted: self.counted,
        }
    }
}

/// "latency burst 40/200", or the text alone.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.counted {
            Some((done, total)) => write!(f, "{} {done}/{total}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// Where a long task reports its steps.
pub type Progress<'a> = &'a (dyn Fn(&Step) + Sync);
