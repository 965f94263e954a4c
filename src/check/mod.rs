//! The front end of many accounts: the checks file (`check`, and the exporter's modules) and
//! address lists (`batch`). Both only translate their syntax into
//! [`crate::settings::Settings`]; the run is the engine's ([`crate::engine::run_accounts`]).

pub mod cli;
pub mod config;
