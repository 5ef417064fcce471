//! What flightdeck keeps on disk in the data dir: the SQLite registry (versions, aliases,
//! reports, artifacts), the journal of every mutation, who acts, and the holder locks that keep
//! one writer at a time.

pub mod actor;
pub mod journal;
pub mod lock;
pub mod registry;
pub mod request_log;

pub use actor::Actor;
pub use registry::Registry;
