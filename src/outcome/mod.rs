//! The outcome vocabulary, below both probe and diagnose so that neither imports the other:
//! why a step failed ([`Reason`], with [`classify_auth_refusal`] reading servers' own words),
//! what is worth knowing beyond pass/fail ([`Finding`], [`FindingCode`], [`Severity`]), and
//! the run's [`Status`].

mod classify;
mod finding;
mod reason;
mod status;

pub use classify::classify_auth_refusal;
pub use finding::{Finding, FindingCode, Severity};
pub use reason::{placeholder_params, Reason, ReasonInfo, REASON_ARGS};
pub use status::Status;
