//! The write side: registration, smoke tests, evaluation, and the one operations path (`ops`)
//! that moves aliases and serving with their gates, consent, journal and verify. No terminal code
//! lives here; the CLI, the console and the demo call the same functions. `alerts` judges alert
//! rules against the signals a caller reads.

pub mod alerts;
pub mod evaluate;
pub mod logged_sentinel;
pub mod mirror;
pub mod ops;
pub mod parquet_table;
pub mod profile;
pub mod reference;
pub mod reference_predictions;
pub mod register;
pub mod replay;
pub mod retrain;
pub mod rollout;
pub mod sentinels;
pub mod servers;
pub mod shadow;
pub mod silences;
pub mod smoke;
