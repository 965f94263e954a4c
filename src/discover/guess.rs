//! Last resort: common host names on the documented ports, kept when they resolve.

use super::{Budget, Candidate, Ctx, Found, Note, Notes, Obstacle, SourceKind, Trail};
use crate::model::{Combination, Protocol};

/// Host name prefixes tried per protocol, in order ("" is the bare domain).
pub const PREFIXES: [(Protocol, &[&str]); 3] = [
    (Protocol::Imap, &["imap.", "mail.", ""]),
    (Protocol::Pop3, &["pop3.", "pop.", "mail.", ""]),
    (Protocol::Smtp, &["smtp.", "mail.", ""]),
];

/// Source 7.
pub(crate) async fn source(
    ctx: &Ctx,
    trail: &Trail,
    budget: Budget,
    not_offered: &[Protocol],
) -> Found {
    let domain = &ctx.address.domain;
    let wanted = || PREFIXES.iter().filter(|(p, _)| !not_offered.contains(p));
    let mut names: Vec<String> = Vec::new();
    for (_, prefixes) in wanted() {
        for p in prefixes.iter() {
            let n = format!("{p}{domain}");
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let end = budget.step_end(ctx.cfg.step_timeout());
    let resolved = futures::future::join_all(names.iter().map(|n| {
        trail.push(format!("A/AAAA {n}"));
        async move {
            match tokio::time::timeout_at(end, ctx.cfg.resolver.lookup_addrs(n, 0)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(Obstacle::of_lookup(&e, n, domain)),
                Err(_) => Err(Obstacle::DnsSilent),
            }
        }
    }))
    .await;
    let exists = |n: &str| {
        names
            .iter()
            .zip(&resolved)
            .any(|(m, r)| m == n && r.is_ok())
    };
    let mut f = Found {
        obstacles: resolved.iter().filter_map(|r| r.clone().err()).collect(),
        ..Found::default()
    };
    let mut said: Vec<String> = not_offered
        .iter()
        .map(|p| format!("{p}: not guessed, SRV says it is not offered"))
        .collect();
    let mut resolved_any = false;
    for &(protocol, prefixes) in wanted() {
        let Some(host) = prefixes
            .iter()
            .map(|p| format!("{p}{domain}"))
            .find(|n| exists(n))
        else {
            continue;
        };
        resolved_any = true;
        said.push(format!("{protocol}: {host}"));
        for c in Combination::DOCUMENTED
            .iter()
            .filter(|c| c.protocol == protocol)
        {
            f.candidates.push(Candidate {
                protocol,
                host: host.clone(),
                port: c.port,
                security: c.security,
                username: ctx.email(),
                auth: vec![],
                source: SourceKind::Guess,
                origin: format!("guessed: {host} resolves"),
                dnssec: None,
                trusted: false,
                notes: Notes(vec![Note::Guessed]),
            });
        }
    }
    if !resolved_any && !names.is_empty() {
        said.push(format!("none of {} resolves", names.join(", ")));
    }
    f.detail = said.join("; ");
    f
}
