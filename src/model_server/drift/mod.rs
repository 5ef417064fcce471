//! Input drift: a bounded window of each loaded version's recent inputs, scored against the
//! version's baseline profile.

mod compare;
mod outputs;
mod window;

pub use compare::compare;
pub use outputs::number_at;
pub use window::{DriftWindow, WindowLimits, WindowSnapshot};
