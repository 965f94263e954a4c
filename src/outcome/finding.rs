//! Findings: something worth knowing beyond pass/fail, with a stable code and a severity.

use serde::Serialize;

use crate::i18n::{self, Lang, Params};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Something worth knowing beyond pass/fail. `code` is stable; `message` is in the language
/// of the report, made from the catalogue (`finding-<code>`) and `params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The facts of the finding (days left, version, names...), language-neutral.
    #[serde(skip_serializing_if = "Params::is_empty")]
    pub params: Params,
}

impl Finding {
    /// A finding with its message in English; reports re-word it in their language.
    /// A `date` parameter is an ISO date, written as people of the language write dates.
    pub fn new(code: &'static str, severity: Severity, params: Params) -> Finding {
        let mut f = Finding {
            code,
            severity,
            message: String::new(),
            params,
        };
        f.localize(Lang::En);
        f
    }

    /// Re-word the message in `lang`.
    pub fn localize(&mut self, lang: Lang) {
        let mut p = self.params.clone();
        if let Some(i18n::Param::Text(d)) = p.get("date") {
            let d = i18n::date(lang, d);
            p.insert("date", d.into());
        }
        // A documentation source named by its code (`provider-table`) has words of its own.
        if let Some(i18n::Param::Text(s)) = p.get("source") {
            if let Some(words) = i18n::lookup(lang, &format!("source-{s}"), &Params::new()) {
                p.insert("source", words.into());
            }
        }
        self.message = i18n::text(lang, &i18n::id_of("finding", self.code), &p);
    }
}
