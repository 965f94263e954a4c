//! The Prometheus exposition, written by `prometheus-client`: text 0.0.4 (`--format
//! prometheus` for a textfile collector, and `serve` by default) or OpenMetrics (`serve`, when
//! the scraper's `Accept` asks for it).
//!
//! Labels carry the server host, protocol, port and security of a combination, the failure
//! reason, the TLS version; never a secret, a username or a server's free text. With several accounts an
//! `account` label (the checks file's name) keeps them apart.

use std::collections::BTreeMap;
use std::io::Write;

use crate::diagnose::VerdictWord;
use crate::outcome::Status;
use crate::probe::AuthOutcome;
use crate::report::account::AccountResult;

/// The exposition format a scraper asked for (`Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4 (the default, and node_exporter's textfile collector's).
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, as Prometheus' does.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

type Samples = Vec<(Vec<(String, String)>, f64)>;

/// Metric families in a fixed order, each with its samples, written through `prometheus-client`.
///
/// Not its `Family` metrics: those keep their label sets in a HashMap, so the samples of a
/// family would come out in a different order at each scrape. A per-request [`Registry`] with
/// this as its collector keeps the order the probe reported them in, and leaves escaping,
/// number formatting and both formats to the crate.
///
/// [`Registry`]: prometheus_client::registry::Registry
#[derive(Default, Debug, Clone)]
pub struct Families {
    order: Vec<&'static str>,
    families: BTreeMap<&'static str, (&'static str, &'static str, Samples)>,
}

impl Families {
    pub fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: &[(String, String)],
        value: f64,
    ) {
        let entry = self.families.entry(name).or_insert_with(|| {
            self.order.push(name);
            (kind, help, vec![])
        });
        entry.2.push((labels.to_vec(), value));
    }

    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(self.encode(Format::Text).as_bytes())
    }

    pub fn encode(&self, format: Format) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        // Writing to a String cannot fail, and every name and label is ours.
        let _ = match format {
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            }
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        };
        out
    }
}

impl prometheus_client::collector::Collector for Families {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::metrics::MetricType;
        for name in &self.order {
            let (kind, help, samples) = &self.families[name];
            // The crate adds `_total` to a counter's samples itself.
            let (name, kind) = match *kind {
                "counter" => (name.trim_end_matches("_total"), MetricType::Counter),
                _ => (*name, MetricType::Gauge),
            };
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for (labels, value) in samples {
                let sample = family.encode_family(labels)?;
                // Whole numbers as integers ("1", not "1.0"), as before the crate.
                let whole = value.fract() == 0.0 && value.abs() < 1e15;
                match kind {
                    MetricType::Counter if whole && *value >= 0.0 => {
                        ConstCounter::new(*value as u64).encode(sample)?
                    }
                    MetricType::Counter => ConstCounter::new(*value).encode(sample)?,
                    _ if whole => ConstGauge::new(*value as i64).encode(sample)?,
                    _ => ConstGauge::new(*value).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

/// Add the metrics of one account; `account` adds an `account` label to every sample.
pub fn add_account(f: &mut Families, r: &AccountResult, account: Option<&str>) {
    let base: Vec<(&str, String)> = account
        .map(|a| vec![("account", a.to_string())])
        .unwrap_or_default();
    let with = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        base.iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let ok = matches!(r.status, Status::Ok | Status::Warning);
    f.add(
        "mailcheck_success",
        "gauge",
        "Whether the account is healthy: status ok or warning (1), else 0.",
        &with(&[]),
        f64::from(u8::from(ok)),
    );
    f.add(
        "mailcheck_status",
        "gauge",
        "Status in the Nagios convention: 0 ok, 1 warning, 2 critical, 3 unknown.",
        &with(&[]),
        f64::from(r.status.exit_code()),
    );
    for e in &r.expectations {
        f.add(
            "mailcheck_expectation_success",
            "gauge",
            "Whether an expectation of the checks file (or a threshold) holds.",
            &with(&[
                ("kind", e.kind.name().to_string()),
                ("subject", e.subject.clone()),
            ]),
            f64::from(u8::from(e.passed())),
        );
    }
    // An account that could not be probed for a known reason (its OAuth2 grant refused).
    if let (None, Some(reason)) = (&r.report, r.reason) {
        f.add(
            "mailcheck_failure_info",
            "gauge",
            "Why a combination fails: the stable reason code and the step.",
            &with(&[
                ("reason", reason.code().to_string()),
                ("step", "credential".to_string()),
            ]),
            1.0,
        );
    }
    let Some(rep) = &r.report else { return };
    f.add(
        "mailcheck_run_duration_seconds",
        "gauge",
        "Time the whole probe of the account took.",
        &with(&[]),
        rep.elapsed_ms as f64 / 1000.0,
    );
    for o in &rep.results {
        let c = o.report.target.combination;
        // Discovery may name two hosts for one combination (imap1 and imap2 on 993): the
        // server keeps their series apart.
        let mut combo = vec![
            ("server", o.report.target.host.clone()),
            ("protocol", c.protocol.name().to_string()),
            ("port", c.port.to_string()),
            ("security", c.security.name().to_string()),
        ];
        // --each-address: a series per address of the server.
        if let Some(a) = o.report.target.address {
            combo.push(("address", a.to_string()));
        }
        let lbl = |extra: &[(&str, String)]| {
            let mut v = combo.to_vec();
            v.extend(extra.iter().cloned());
            with(&v)
        };
        // The verdict word, not the transport's verdict: a combination whose login was
        // skipped (another combination's refusal or stall) only `connects`, and a login that
        // was not verified must not read as working.
        let works = matches!(o.word, VerdictWord::Works | VerdictWord::WorksWithWarnings);
        f.add(
            "mailcheck_probe_success",
            "gauge",
            "Whether the combination works (1: the verdict works or works-with-warnings), else 0.",
            &lbl(&[]),
            f64::from(u8::from(works)),
        );
        f.add(
            "mailcheck_probe_duration_seconds",
            "gauge",
            "Time the probe of the combination took, connect to logout.",
            &lbl(&[]),
            o.report.elapsed_ms as f64 / 1000.0,
        );
        for s in &o.report.steps {
            let step = serde_json::to_value(s.name)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            f.add(
                "mailcheck_step_duration_seconds",
                "gauge",
                "Duration of each step of a probe (connect, tls, greeting, starttls, auth, ...).",
                &lbl(&[("step", step)]),
                s.ms as f64 / 1000.0,
            );
        }
        if let Some(t) = &o.report.tls {
            if !t.version.is_empty() {
                f.add(
                    "mailcheck_tls_version_info",
                    "gauge",
                    "The negotiated TLS version and cipher suite.",
                    &lbl(&[
                        ("version", t.version.clone()),
                        ("cipher_suite", t.cipher_suite.clone()),
                    ]),
                    1.0,
                );
            }
            if let Some(cert) = &t.certificate {
                f.add(
                    "mailcheck_tls_cert_not_after_seconds",
                    "gauge",
                    "Expiry of the server's certificate, seconds since the Unix epoch.",
                    &lbl(&[]),
                    cert.not_after_unix as f64,
                );
            }
            f.add(
                "mailcheck_tls_cert_valid",
                "gauge",
                "Whether the certificate verified (trusted issuer, name, dates).",
                &lbl(&[]),
                f64::from(u8::from(t.verification.is_trusted())),
            );
        }
        if let Some(caps) = &o.report.capabilities_before_tls {
            f.add(
                "mailcheck_plaintext_login_offered",
                "gauge",
                "Whether a password login is offered before STARTTLS.",
                &lbl(&[]),
                f64::from(u8::from(caps.login_offered)),
            );
        }
        let attempted = !matches!(o.report.auth, AuthOutcome::NotAttempted { .. });
        if attempted {
            f.add(
                "mailcheck_auth_success",
                "gauge",
                "Whether the login succeeded (only where a login was attempted).",
                &lbl(&[]),
                f64::from(u8::from(matches!(
                    o.report.auth,
                    AuthOutcome::Succeeded { .. }
                ))),
            );
        }
        if let Some(fail) = &o.report.failure {
            let step = serde_json::to_value(fail.step)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            f.add(
                "mailcheck_failure_info",
                "gauge",
                "Why a combination fails: the stable reason code and the step.",
                &lbl(&[("reason", fail.reason.code().to_string()), ("step", step)]),
                1.0,
            );
        }
        for finding in &o.findings {
            f.add(
                "mailcheck_finding_info",
                "gauge",
                "Findings about a combination (certificate expiring, plaintext login offered...).",
                &lbl(&[
                    ("code", finding.code.to_string()),
                    (
                        "severity",
                        serde_json::to_value(finding.severity)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                    ),
                ]),
                1.0,
            );
        }
    }
}

/// All accounts; with more than one, an `account` label.
pub fn write(out: &mut dyn Write, results: &[AccountResult]) -> std::io::Result<()> {
    let mut f = Families::default();
    let multi = results.len() > 1;
    for r in results {
        add_account(&mut f, r, multi.then_some(r.account.as_str()));
    }
    f.write(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_group_samples_and_escape_labels() {
        let mut f = Families::default();
        f.add(
            "a_seconds",
            "gauge",
            "A.",
            &[("step".into(), "x\"y\\z\n".into())],
            0.25,
        );
        f.add("b", "gauge", "B.", &[], 3.0);
        f.add(
            "a_seconds",
            "gauge",
            "A.",
            &[("step".into(), "w".into())],
            1.0,
        );
        let mut out = vec![];
        f.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP a_seconds A.\n# TYPE a_seconds gauge\na_seconds{step=\"x\\\"y\\\\z\\n\"} 0.25\n\
             a_seconds{step=\"w\"} 1\n# HELP b B.\n# TYPE b gauge\nb 3\n"
        );
    }

    #[test]
    fn counters_keep_their_name_in_both_formats() {
        let mut f = Families::default();
        f.add("c_total", "counter", "C.", &[("r".into(), "x".into())], 2.0);
        assert_eq!(
            f.encode(Format::Text),
            "# HELP c_total C.\n# TYPE c_total counter\nc_total{r=\"x\"} 2\n"
        );
        assert_eq!(
            f.encode(Format::OpenMetrics),
            "# HELP c C.\n# TYPE c counter\nc_total{r=\"x\"} 2\n# EOF\n"
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::Text);
    }
}
