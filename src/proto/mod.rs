//! Wire formats of IMAP, POP3 and SMTP: response parsing and command encoding.
//! No I/O here, so every parser can be unit-tested and fuzzed on bytes.

pub mod imap;
pub mod pop3;
pub mod sasl;
pub mod smtp;
