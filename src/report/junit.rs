//! JUnit XML, so CI systems show mail health in their test views: one `<testsuite>` per
//! account, one `<testcase>` per combination and one per expectation.
//!
//! A combination's case fails when the combination fails, except where the account's own
//! expectations say otherwise: with `expect`/`forbid`, only the combinations it expects to work
//! are judged as cases (the others pass, their verdict in `system-out`), and the expectation
//! cases carry the judgement. Warnings are failures of type `warning`; an account that could
//! not be probed is an `<error>`.

use std::fmt::Write as _;
use std::io::Write;

use crate::diagnose::Verdict;
use crate::outcome::Status;
use crate::report::account::AccountResult;
use crate::report::expect::{describe_outcome, outcome_name};
use crate::report::Outcome;
use crate::settings::Subject;

/// Escape for XML 1.0 text and attributes; drop characters XML cannot carry.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Case {
    name: String,
    time: f64,
    /// (type, message, body)
    failure: Option<(String, String, String)>,
    error: Option<String>,
    out: String,
}

fn combination_case(r: &AccountResult, o: &Outcome) -> Case {
    let explicit = r.thresholds.is_explicit();
    let c = o.report.target.combination;
    let judged = !explicit || r.thresholds.expect.contains(&Subject::Works(c));
    let mut out = String::new();
    for s in &o.report.steps {
        let _ = writeln!(
            out,
            "{} {} ms{}{}",
            serde_json::to_value(s.name)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            s.ms,
            if s.ok { "" } else { " FAILED" },
            s.detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    for f in &o.findings {
        let _ = writeln!(out, "finding {}: {}", f.code, f.message);
    }
    let failure = match o.verdict {
        Verdict::Fails if judged => {
            let code = o.reason.as_ref().map_or("fails", |r| r.code.code());
            let body = o
                .report
                .failure
                .as_ref()
                .map(|f| {
                    let mut b = format!("step {:?}: {}", f.step, f.detail);
                    if let Some(s) = &f.server_says {
                        let _ = write!(b, "\nserver says: {s}");
                    }
                    if let Some(r) = &o.reason {
                        let _ = write!(b, "\nhint: {}", r.hint);
                    }
                    b
                })
                .unwrap_or_default();
            Some((code.to_string(), describe_outcome(o), body))
        }
        Verdict::WorksWithWarnings if judged => {
            Some(("warning".to_string(), describe_outcome(o), String::new()))
        }
        _ => {
            let _ = writeln!(out, "verdict: {}", describe_outcome(o));
            None
        }
    };
    Case {
        name: r
            .report
            .as_ref()
            .map_or_else(|| o.id.clone(), |rep| outcome_name(rep, o)),
        time: o.report.elapsed_ms as f64 / 1000.0,
        failure,
        error: None,
        out,
    }
}

fn cases(r: &AccountResult) -> Vec<Case> {
    let mut v = vec![];
    if let Some(e) = &r.error {
        v.push(Case {
            name: "probe".into(),
            time: 0.0,
            failure: None,
            error: Some(e.clone()),
            out: String::new(),
        });
    }
    if let Some(rep) = &r.report {
        v.extend(rep.results.iter().map(|o| combination_case(r, o)));
    }
    for e in &r.expectations {
        let failure = (!e.passed()).then(|| {
            let kind = if e.status == Status::Warning {
                "warning".to_string()
            } else {
                e.kind.name().to_string()
            };
            (
                kind,
                e.message(),
                format!("expected: {}\nobserved: {}", e.expected, e.observed),
            )
        });
        v.push(Case {
            name: format!("{} {}", e.kind.name(), e.subject),
            time: 0.0,
            failure,
            error: None,
            out: format!("expected: {}\nobserved: {}\n", e.expected, e.observed),
        });
    }
    v
}

pub fn write(out: &mut dyn Write, results: &[AccountResult]) -> std::io::Result<()> {
    let suites: Vec<(&AccountResult, Vec<Case>)> = results.iter().map(|r| (r, cases(r))).collect();
    let count = |f: &dyn Fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .map(|(_, c)| c.iter().filter(|c| f(c)).count())
            .sum()
    };
    let tests = count(&|_| true);
    let failures = count(&|c| c.failure.is_some());
    let errors = count(&|c| c.error.is_some());
    let time: f64 = results
        .iter()
        .filter_map(|r| r.report.as_ref())
        .map(|r| r.elapsed_ms as f64 / 1000.0)
        .fold(0.0, f64::max);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="mailcheck" tests="{tests}" failures="{failures}" errors="{errors}" time="{time:.3}">"#
    )?;
    for (r, cs) in &suites {
        let rep = r.report.as_ref();
        // An account that never ran (unreadable secret, bad address) has no start time and no
        // server: the attributes are left out, since an empty timestamp is not an xs:dateTime.
        let when_where = rep.map_or(String::new(), |r| {
            format!(
                r#" timestamp="{}" hostname="{}""#,
                esc(r.started_at.trim_end_matches('Z')),
                esc(&r.server)
            )
        });
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="0" time="{:.3}"{when_where}>"#,
            esc(&r.account),
            cs.len(),
            cs.iter().filter(|c| c.failure.is_some()).count(),
            cs.iter().filter(|c| c.error.is_some()).count(),
            rep.map_or(0.0, |r| r.elapsed_ms as f64 / 1000.0),
        )?;
        writeln!(out, "    <properties>")?;
        writeln!(
            out,
            r#"      <property name="address" value="{}"/>"#,
            esc(&r.address)
        )?;
        writeln!(
            out,
            r#"      <property name="status" value="{}"/>"#,
            super::nagios::status_word(r.status).to_ascii_lowercase()
        )?;
        if let Some(rep) = rep {
            writeln!(
                out,
                r#"      <property name="summary" value="{}"/>"#,
                esc(&rep.summary)
            )?;
        }
        writeln!(out, "    </properties>")?;
        for c in cs {
            write!(
                out,
                r#"    <testcase classname="mailcheck.{}" name="{}" time="{:.3}">"#,
                esc(&r.account),
                esc(&c.name),
                c.time
            )?;
            writeln!(out)?;
            if let Some((kind, message, body)) = &c.failure {
                writeln!(
                    out,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    esc(kind),
                    esc(message),
                    esc(body)
                )?;
            }
            if let Some(e) = &c.error {
                writeln!(
                    out,
                    r#"      <error type="unknown" message="{}">{}</error>"#,
                    esc(e),
                    esc(e)
                )?;
            }
            if !c.out.is_empty() {
                writeln!(out, "      <system-out>{}</system-out>", esc(&c.out))?;
            }
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(esc("a\u{1}b\nc"), "a\u{FFFD}b\nc");
    }
}
