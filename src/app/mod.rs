//! The console's state machine: messages in, state changes and effects out. `update` is pure
//! (no I/O, no clock: time arrives in messages), so it is tested without a terminal.

pub mod alerts;
pub mod chart_range;
pub mod checks;
pub mod describe;
pub mod effect;
pub mod everywhere;
pub mod filter;
pub mod fleet;
pub mod guide;
pub mod logs;
pub mod msg;
pub mod palette;
pub mod panes;
pub mod requests;
pub mod rollout;
pub mod servers;
pub mod shadow;
pub mod signals;
pub mod state;
pub mod update;

pub use effect::Effect;
pub use msg::Msg;
pub use state::State;
pub use update::update;
