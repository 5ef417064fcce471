//! `flightdeck demo`: a first deployment on one machine with real models, real traffic and a
//! real incident. The models and data are the committed files in `demo/`.

pub mod receiver;
pub mod script;
pub mod setup;
pub mod traffic;
