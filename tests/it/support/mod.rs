//! Helpers shared by the integration test binaries; each one includes them with `mod support;`.
//!
//! Not every binary uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod nsd;
pub mod oauth2;
pub mod schema;
pub mod servers;
