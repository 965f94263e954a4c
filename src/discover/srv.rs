//! RFC 6186 / RFC 8314 SRV records.

use super::{within, Budget, Candidate, Ctx, Found, Note, Notes, Obstacle, SourceKind, Trail};
use crate::model::{Protocol, Security};
use crate::net::resolver::{Dnssec, LookupError, SrvRecord};

/// The services, implicit TLS first (RFC 8314).
pub const SERVICES: [(&str, Protocol, Security); 6] = [
    ("_imaps._tcp", Protocol::Imap, Security::Tls),
    ("_imap._tcp", Protocol::Imap, Security::Starttls),
    ("_pop3s._tcp", Protocol::Pop3, Security::Tls),
    ("_pop3._tcp", Protocol::Pop3, Security::Starttls),
    ("_submissions._tcp", Protocol::Smtp, Security::Tls),
    ("_submission._tcp", Protocol::Smtp, Security::Starttls),
];

/// Priority ascending, then weight descending (a deterministic reading of RFC 2782's weighted
/// choice: the heaviest first).
pub fn order(records: &mut [SrvRecord]) {
    records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
}

/// Source 5.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let domain = ctx.address.domain.clone();
    let names: Vec<String> = SERVICES
        .iter()
        .map(|(svc, _, _)| format!("{svc}.{domain}"))
        .collect();
    let end = budget.step_end(ctx.cfg.step_timeout());
    let answers = futures::future::join_all(names.iter().map(|n| {
        trail.push(format!("SRV {n}"));
        async move {
            match tokio::time::timeout_at(end, ctx.cfg.resolver.srv(n)).await {
                Ok(r) => r,
                Err(_) => Err(LookupError::TimedOut),
            }
        }
    }))
    .await;
    let mut f = Found::default();
    let mut said = Vec::new();
    let mut broke = Vec::new();
    // Which services answered only "." (not offered).
    let mut dot = [false; SERVICES.len()];
    for (i, ((name, (_, protocol, security)), answer)) in
        names.iter().zip(SERVICES).zip(answers).enumerate()
    {
        match answer {
            Ok(answer) => {
                let dnssec = answer.dnssec;
                let mut recs = answer.records;
                order(&mut recs);
                if recs.iter().all(|r| r.target == ".") {
                    dot[i] = true;
                    said.push(format!("{name}: \".\" (not offered)"));
                    f.notes.push(Note::SrvNotOffered { name: name.clone() });
                    continue;
                }
                for r in recs.iter().filter(|r| r.target != ".") {
                    let record = format!(
                        "{name} SRV {} {} {} {}.",
                        r.priority, r.weight, r.port, r.target
                    );
                    // RFC 6186 §6, RFC 7673: a validated record vouches for its target, inside
                    // the domain or not.
                    let trusted = dnssec == Dnssec::Validated;
                    let mut notes = if trusted {
                        Notes::default()
                    } else {
                        Notes(vec![Note::NoDnssec])
                    };
                    if !within(&r.target, &domain) {
                        let n = Note::SrvOutside {
                            name: name.clone(),
                            domain: domain.clone(),
                            target: r.target.clone(),
                        };
                        notes.push(n.clone());
                        f.notes.push(n);
                    }
                    said.push(format!("{name}: {}:{}", r.target, r.port));
                    f.candidates.push(Candidate {
                        protocol,
                        host: r.target.clone(),
                        port: r.port,
                        security,
                        username: ctx.email(),
                        auth: vec![],
                        source: SourceKind::Srv,
                        origin: record,
                        dnssec: Some(dnssec),
                        trusted,
                        notes,
                    });
                }
            }
            Err(e) => {
                if let LookupError::Bogus { .. } = e {
                    f.notes.push(Note::DnssecBogus {
                        name: name.clone(),
                        error: e.to_string(),
                    });
                }
                f.obstacles.push(Obstacle::of_lookup(&e, name, &domain));
                if !matches!(e, LookupError::NotFound { .. }) {
                    broke.push((name.clone(), e.to_string()));
                }
            }
        }
    }
    // RFC 6186 §3.4: "." says the service is not offered. A protocol is not offered when
    // every one of its services says so (the implicit TLS and the STARTTLS one).
    for p in [Protocol::Imap, Protocol::Pop3, Protocol::Smtp] {
        let mut of_p = SERVICES.iter().zip(&dot).filter(|((_, q, _), _)| *q == p);
        if of_p.all(|(_, d)| *d) {
            f.not_offered.push(p);
        }
    }
    f.detail = if !said.is_empty() {
        said.join("; ")
    } else if !broke.is_empty() {
        f.failed = true;
        broke
            .iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        "no SRV record".into()
    };
    if !said.is_empty() && !broke.is_empty() {
        // A bogus answer has its own note already.
        let bogus = |n: &String| {
            f.notes
                .iter()
                .any(|x| matches!(x, Note::DnssecBogus { name, .. } if name == n))
        };
        let failed: Vec<Note> = broke
            .into_iter()
            .filter(|(name, _)| !bogus(name))
            .map(|(name, error)| Note::SrvFailed { name, error })
            .collect();
        f.notes.extend(failed);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_weight() {
        let r = |p, w, t: &str| SrvRecord {
            priority: p,
            weight: w,
            port: 993,
            target: t.into(),
        };
        let mut v = vec![r(10, 0, "c"), r(0, 5, "b"), r(0, 50, "a")];
        order(&mut v);
        let t: Vec<&str> = v.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(t, vec!["a", "b", "c"]);
    }
}
