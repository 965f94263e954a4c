//! mailcheck: which server, port and security setting actually work for a mail address,
//! and if none does, why.
//!
//! The flow (see DESIGN.md): front end → settings → discover → plan → engine (probe in
//! parallel, round trip) → diagnose → report.

pub mod account;
pub mod app;
pub mod check;
pub mod cli;
pub mod cli_monitor;
pub mod cli_oauth2;
pub mod diagnose;
pub mod discover;
pub mod engine;
pub mod i18n;
pub mod lab;
pub mod model;
pub mod net;
pub mod oauth2;
pub mod outcome;
pub mod plan;
pub mod probe;
pub mod proto;
pub mod report;
pub mod serve;
pub mod settings;
