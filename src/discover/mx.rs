//! The MX record: a known provider by its MX host, or the MX's domains looked up in the
//! table, their autoconfig (https only) and the ISPDB.

use super::autoconfig;
use super::providers;
use super::{in_order, Budget, Ctx, Found, Note, Obstacle, SourceKind, Trail};
use crate::net::resolver::LookupError;

/// The domains worth asking about for an MX host: the host minus its first label, then its
/// registrable domain (Public Suffix List), without duplicates, public suffixes or `own`.
pub fn derived_domains(mx_host: &str, own: &str) -> Vec<String> {
    let host = mx_host.trim_end_matches('.').to_ascii_lowercase();
    let mut v: Vec<String> = Vec::new();
    let registrable = psl::domain_str(&host).map(str::to_string);
    if let Some((_, rest)) = host.split_once('.') {
        // Not a bare public suffix ("co.uk"), and at least as long as the registrable domain.
        if rest.contains('.')
            && psl::suffix_str(rest) != Some(rest)
            && registrable
                .as_deref()
                .is_some_and(|r| rest == r || rest.ends_with(&format!(".{r}")))
        {
            v.push(rest.to_string());
        }
    }
    if let Some(r) = registrable {
        if !v.contains(&r) {
            v.push(r);
        }
    }
    v.retain(|d| !d.eq_ignore_ascii_case(own));
    v
}

/// Source 4.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let domain = &ctx.address.domain;
    trail.push(format!("MX {domain}"));
    let mx_end = budget.step_end(ctx.cfg.step_timeout());
    let mx = match tokio::time::timeout_at(mx_end, ctx.cfg.resolver.mx(domain)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e @ LookupError::NotFound { .. })) => {
            return Found::nothing(
                format!("no MX record for {domain} ({e})"),
                Obstacle::of_lookup(&e, domain, domain),
            )
        }
        Ok(Err(e)) => {
            return Found::failed(
                format!("MX {domain}: {e}"),
                Obstacle::of_lookup(&e, domain, domain),
            )
        }
        Err(_) => {
            return Found::failed(
                format!("MX {domain}: no answer in time"),
                Obstacle::DnsSilent,
            )
        }
    };
    let Some(best) = mx.iter().find(|m| m.exchange != ".") else {
        return Found::nothing(
            format!("{domain} has a null MX (accepts no mail)"),
            Obstacle::Absent,
        );
    };
    let record = format!("MX {} {}.", best.preference, best.exchange);
    let origin = format!("{domain} {record} -> ");

    // A provider known by its MX host.
    let known = providers::by_mx(&best.exchange);
    if !known.is_empty() {
        let mut f = providers::found(
            &known,
            &ctx.address,
            SourceKind::Mx,
            &format!("{origin}built-in:"),
            false,
        );
        for c in &mut f.candidates {
            c.notes.push(Note::ThroughMx);
        }
        f.detail = format!("{record}: {}", f.detail);
        return f;
    }

    // The MX's domains, through the table, their own autoconfig and the ISPDB.
    let domains = derived_domains(&best.exchange, domain);
    if domains.is_empty() {
        return Found::nothing(
            format!("{record}: no other domain to ask about"),
            Obstacle::Absent,
        );
    }
    let origin_ref = &origin;
    let lookups = domains.iter().map(|d| async move {
        let table = providers::by_domain(d);
        if !table.is_empty() {
            return providers::found(
                &table,
                &ctx.address,
                SourceKind::Mx,
                &format!("{origin_ref}built-in:"),
                false,
            );
        }
        let mut urls = autoconfig::urls(d, false);
        urls.push(autoconfig::ispdb_url(&ctx.cfg.ispdb_url, d));
        autoconfig::first_of(ctx, &urls, SourceKind::Mx, trail, budget).await
    });
    // What the MX lookup left of the budget is shared by the domains; the first in order
    // that answered within it wins.
    let results = in_order(budget.end(), lookups, |f| !f.candidates.is_empty()).await;
    let mut why = Vec::new();
    let mut obstacles = Vec::new();
    for (d, f) in domains.iter().zip(results) {
        let Some(mut f) = f else {
            obstacles.push(Obstacle::TimedOut);
            why.push(format!("{d}: no answer before the source's deadline"));
            continue;
        };
        if !f.candidates.is_empty() {
            for c in &mut f.candidates {
                c.trusted = false;
                c.origin = format!("{origin}{}", c.origin);
                c.notes.push(Note::ThroughMx);
            }
            f.detail = format!("{record}, {d}: {}", f.detail);
            if !why.is_empty() {
                f.notes.push(Note::Before { failures: why });
            }
            return f;
        }
        obstacles.extend(f.obstacles);
        why.push(format!("{d}: {}", f.detail));
    }
    // The MX record itself came: the DNS answered, whatever its domains' sources did.
    obstacles.push(Obstacle::Absent);
    Found {
        detail: format!("{record}; {}", why.join("; ")),
        obstacles,
        ..Found::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_from_the_public_suffix_list() {
        assert_eq!(
            derived_domains("mx1.mail.ovh.net", "example.fr"),
            vec!["mail.ovh.net", "ovh.net"]
        );
        // Not "last two labels": co.uk is a public suffix.
        assert_eq!(
            derived_domains("mx.mail.example.co.uk", "shop.test"),
            vec!["mail.example.co.uk", "example.co.uk"]
        );
        assert_eq!(
            derived_domains("mx.example.co.uk", "shop.test"),
            vec!["example.co.uk"]
        );
        assert_eq!(
            derived_domains("mail.example.com", "example.com"),
            Vec::<String>::new()
        );
        assert_eq!(
            derived_domains("mx.lab.test", "other.test"),
            vec!["lab.test"]
        );
    }
}
