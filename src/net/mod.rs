//! Transport: TCP connect with deadlines, TLS with a recording verifier, and the shared
//! connection type (bounded line reader, redacted transcript).

pub mod connect;
pub mod connection;
pub mod dane;
pub mod legacy_tls;
pub mod ocsp;
pub mod resolver;
pub mod tls;
