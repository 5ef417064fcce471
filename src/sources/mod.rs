//! The read side: one collector per kind of signal. Parsing is pure (bytes in, view models
//! out) and tested on real payloads; fetching runs in the background with timeouts.

pub mod metrics;
