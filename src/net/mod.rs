//! Transport: TCP connect with deadlines, TLS with a recording verifier, and the shared
//! connection type (bounded line reader, redacted transcript).

pub mod tls;
