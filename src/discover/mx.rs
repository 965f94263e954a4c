//! The MX record: a known provider by its MX host, or the MX's domains looked up in the
//! table, then the MX steps of draft-ietf-mailmaint-autoconfig ([`urls`]: their autoconfig,
//! https only, then the ISPDB).

use super::autoconfig;
use super::providers;
use super::{Budget, Ctx, Found, Note, Obstacle, SourceKind, Trail};
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
    let dnssec = mx.dnssec;
    let Some(best) = mx.records.iter().find(|m| m.exchange != ".") else {
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
            c.dnssec = Some(dnssec);
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
    // A derived domain the table knows answers at once.
    if let Some(d) = domains.iter().find(|d| !providers::by_domain(d).is_empty()) {
        let mut f = providers::found(
            &providers::by_domain(d),
            &ctx.address,
            SourceKind::Mx,
            &format!("{origin}built-in:"),
            false,
        );
        for c in &mut f.candidates {
            c.notes.push(Note::ThroughMx);
            c.dnssec = Some(dnssec);
        }
        f.detail = format!("{record}, {d}: {}", f.detail);
        return f;
    }
    // The draft's steps 3.1-3.4, all started together with what the MX lookup left of the
    // budget; the first in order that answered wins.
    let urls = urls(&domains, &ctx.cfg.ispdb_url);
    let mut f = autoconfig::first_of(ctx, &urls, SourceKind::Mx, trail, budget).await;
    if f.candidates.is_empty() {
        // The MX record itself came: the DNS answered, whatever its domains' sources did; and
        // the MX's hoster publishing nothing for it is no fault of this domain.
        f.obstacles.push(Obstacle::Absent);
        f.failed = false;
        f.detail = format!("{record}; {}", f.detail);
        return f;
    }
    for c in &mut f.candidates {
        c.trusted = false;
        c.dnssec = Some(dnssec);
        c.origin = format!("{origin}{}", c.origin);
        c.notes.push(Note::ThroughMx);
    }
    f.detail = format!("{record}: {}", f.detail);
    f
}

/// The URLs of draft-ietf-mailmaint-autoconfig's MX steps for the MX host's `domains`
/// (`%MXFULLDOMAIN%` first, then `%MXBASEDOMAIN%`, as [`derived_domains`] gives them), in the
/// draft's order: each domain's autoconfig (3.1, 3.2: the draft's
/// `https://autoconfig.<d>/.well-known/mail-v1.xml`, then the `/mail/config-v1.1.xml` that
/// hosters publish for today's clients), then the ISPDB for each (3.3, 3.4). https only, and
/// no address: only the MX's domain goes out.
pub(crate) fn urls(domains: &[String], ispdb: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for d in domains {
        v.push(format!("https://autoconfig.{d}/.well-known/mail-v1.xml"));
        v.push(format!("https://autoconfig.{d}/mail/config-v1.1.xml"));
    }
    v.extend(domains.iter().map(|d| autoconfig::ispdb_url(ispdb, d)));
    v
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

    #[test]
    fn mx_steps_in_the_drafts_order() {
        let d = derived_domains("mx.premium.europe.example.com", "shop.test");
        assert_eq!(d, ["premium.europe.example.com", "example.com"]);
        assert_eq!(
            urls(&d, "https://v1.ispdb.net/"),
            [
                "https://autoconfig.premium.europe.example.com/.well-known/mail-v1.xml",
                "https://autoconfig.premium.europe.example.com/mail/config-v1.1.xml",
                "https://autoconfig.example.com/.well-known/mail-v1.xml",
                "https://autoconfig.example.com/mail/config-v1.1.xml",
                "https://v1.ispdb.net/premium.europe.example.com",
                "https://v1.ispdb.net/example.com",
            ]
        );
    }
}
