//! Discovery's notes: sentences a helpdesk reads, so typed here and worded by the catalogue
//! (`discovery-note-<code>`) in the run's language. JSON keeps `notes` as the English
//! sentences it always carried and adds `note_codes`, a stable code for each, in the same order.
//! What a note quotes from a source (an HTTP error, a DNS error, a document's odd value) stays
//! in that source's own words.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::SourceKind;
use crate::i18n::{self, Lang, Params};
use crate::model::Protocol;

/// Where the user can say "trust it anyway": the command line or the accounts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustHint {
    /// `--trust-discovered` or `--server HOST`.
    Cli,
    /// `trust_discovered = true` or a named server.
    Config,
}

/// One note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A source's own note, said with the source's name.
    From { source: SourceKind, note: Box<Note> },
    /// `source` says `protocol` is not offered, but the higher-priority `winner` names a server.
    NotOfferedOverruled {
        source: SourceKind,
        protocol: Protocol,
        winner: SourceKind,
    },
    /// `source` says `protocol` is not offered, and nothing above it names a server.
    NotOffered {
        source: SourceKind,
        protocol: Protocol,
    },
    /// As [`Note::NotOffered`], and what lower-priority sources propose is not used.
    NotOfferedIgnored {
        source: SourceKind,
        protocol: Protocol,
        ignored: Vec<SourceKind>,
    },
    /// The provider table's remark on a provider (OAuth2 only...).
    /// `text` is the table's English, used when the catalogue has no message for `id`.
    Provider {
        id: String,
        name: String,
        text: String,
    },
    /// The provider's host depends on the account (OVHcloud E-mail Pro's proN): give --server.
    HostUnknown {
        id: String,
        name: String,
        text: String,
        documented: Vec<String>,
    },
    /// Earlier steps of the source that had nothing, in their own words.
    Before { failures: Vec<String> },
    /// A document's server of a type that is not probed and not known either.
    SkippedType { kind: String },
    /// A service a document publishes besides mail access (JMAP, EWS, CardDAV...): listed, not
    /// probed. `at` is its URL (or host name, for the legacy `exchange` type).
    AlsoOffered { kind: String, at: String },
    /// The document does not follow the draft's RELAX NG schema: how many places, the first.
    SchemaInvalid { count: usize, first: String },
    /// A document's server entry that breaks the schema: skipped, with the reason.
    SkippedInvalid { kind: String, reason: String },
    /// A document's server whose host name is unusable.
    SkippedHost { protocol: Protocol, given: String },
    /// A document's server whose port is unusable.
    SkippedPort {
        protocol: Protocol,
        host: String,
        given: String,
    },
    /// A document's server without encryption: never probed.
    SkippedUnencrypted {
        protocol: Protocol,
        host: String,
        port: u16,
    },
    /// A document's server with an unknown socketType.
    SkippedSocketType {
        protocol: Protocol,
        host: String,
        port: u16,
        given: String,
    },
    /// The autoconfig document came over plain http.
    PlainHttp,
    /// Autodiscover was reached through http or an unvalidated DNS record.
    AutodiscoverUntrusted,
    /// The candidate came through an MX record.
    ThroughMx,
    /// From DNS without DNSSEC validation (SRV).
    NoDnssec,
    /// An SRV name answered only "." (RFC 6186 §3.4).
    SrvNotOffered { name: String },
    /// An SRV target outside the address's domain.
    SrvOutside {
        name: String,
        domain: String,
        target: String,
    },
    /// An SRV query that broke while others answered.
    SrvFailed { name: String, error: String },
    /// A DNS answer whose DNSSEC validation failed (bogus): reported, not used.
    DnssecBogus { name: String, error: String },
    /// A guessed host name.
    Guessed,
    /// A PACC document accepted because its SHA-256 matches the TXT record at `name`, which
    /// came from DNS without DNSSEC validation.
    PaccDigest { name: String },
    /// `discover`: the host has DNSSEC-validated TLSA records at `name` (DANE, RFC 7673): a probe
    /// checks the certificate against them.
    DaneTlsa { name: String, records: usize },
    /// Credentials withheld: untrusted candidates outside the domain.
    CredentialsWithheld {
        hosts: Vec<String>,
        domain: String,
        hint: TrustHint,
    },
}

impl Note {
    /// The stable code (JSON `note_codes`); also names the message, `discovery-note-<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Note::From { note, .. } => note.code(),
            Note::NotOfferedOverruled { .. } => "not-offered-overruled",
            Note::NotOffered { .. } => "not-offered",
            Note::NotOfferedIgnored { .. } => "not-offered-ignored",
            Note::Provider { .. } => "provider",
            Note::HostUnknown { .. } => "host-unknown",
            Note::Before { .. } => "before",
            Note::SkippedType { .. } => "skipped-type",
            Note::AlsoOffered { .. } => "also-offered",
            Note::SchemaInvalid { .. } => "schema-invalid",
            Note::SkippedInvalid { .. } => "skipped-invalid",
            Note::SkippedHost { .. } => "skipped-host",
            Note::SkippedPort { .. } => "skipped-port",
            Note::SkippedUnencrypted { .. } => "skipped-unencrypted",
            Note::SkippedSocketType { .. } => "skipped-socket-type",
            Note::PlainHttp => "plain-http",
            Note::AutodiscoverUntrusted => "autodiscover-untrusted",
            Note::ThroughMx => "through-mx",
            Note::NoDnssec => "no-dnssec",
            Note::SrvNotOffered { .. } => "srv-not-offered",
            Note::SrvOutside { .. } => "srv-outside",
            Note::SrvFailed { .. } => "srv-failed",
            Note::DnssecBogus { .. } => "dnssec-bogus",
            Note::Guessed => "guessed",
            Note::PaccDigest { .. } => "pacc-digest",
            Note::DaneTlsa { .. } => "dane-tlsa",
            Note::CredentialsWithheld {
                hint: TrustHint::Cli,
                ..
            } => "credentials-withheld",
            Note::CredentialsWithheld {
                hint: TrustHint::Config,
                ..
            } => "credentials-withheld-config",
        }
    }

    /// Every code, for the catalogue test and the README.
    pub const CODES: [&'static str; 27] = [
        "not-offered-overruled",
        "not-offered",
        "not-offered-ignored",
        "provider",
        "host-unknown",
        "before",
        "skipped-type",
        "also-offered",
        "schema-invalid",
        "skipped-invalid",
        "skipped-host",
        "skipped-port",
        "skipped-unencrypted",
        "skipped-socket-type",
        "plain-http",
        "autodiscover-untrusted",
        "through-mx",
        "no-dnssec",
        "srv-not-offered",
        "srv-outside",
        "srv-failed",
        "dnssec-bogus",
        "guessed",
        "pacc-digest",
        "dane-tlsa",
        "credentials-withheld",
        "credentials-withheld-config",
    ];

    /// The sentence in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let (id, p) = self.message(lang);
        i18n::text(lang, &id, &p)
    }

    /// The catalogue message and its arguments.
    fn message(&self, lang: Lang) -> (String, Params) {
        let source = |s: &SourceKind| i18n::t(lang, &format!("discovery-source-{}", s.name()));
        let mut p = Params::new();
        let mut put = |k: &'static str, v: String| {
            p.insert(k, i18n::Param::Text(v));
        };
        match self {
            Note::From { source: s, note } => {
                return (
                    "discovery-note-from".into(),
                    crate::params![("source", source(s)), ("note", note.text(lang))],
                );
            }
            Note::NotOfferedOverruled {
                source: s,
                protocol,
                winner,
            } => {
                put("source", source(s));
                put("protocol", protocol.to_string());
                put("winner", source(winner));
            }
            Note::NotOffered {
                source: s,
                protocol,
            } => {
                put("source", source(s));
                put("protocol", protocol.to_string());
            }
            Note::NotOfferedIgnored {
                source: s,
                protocol,
                ignored,
            } => {
                put("source", source(s));
                put("protocol", protocol.to_string());
                let names: Vec<String> = ignored.iter().map(source).collect();
                put("ignored", i18n::list(lang, &names));
                p.insert("count", names.len().into());
            }
            Note::Provider { id, name, text } | Note::HostUnknown { id, name, text, .. } => {
                put("name", name.clone());
                put("text", text.clone());
                if let Note::HostUnknown { documented, .. } = self {
                    put("documented", documented.join(", "));
                }
                // Each provider's remark is its own message; the table's English is the
                // fallback for a provider the catalogue does not know yet.
                let id = format!("discovery-note-{}-{id}", self.code());
                if i18n::lookup(lang, &id, &p).is_some() {
                    return (id, p);
                }
            }
            Note::Before { failures } => put("failures", failures.join("; ")),
            Note::SkippedType { kind } => put("kind", kind.clone()),
            Note::AlsoOffered { kind, at } => {
                put("kind", kind.clone());
                put("at", at.clone());
            }
            Note::SchemaInvalid { count, first } => {
                put("first", first.clone());
                p.insert("count", (*count).into());
            }
            Note::SkippedInvalid { kind, reason } => {
                put("kind", kind.clone());
                put("reason", reason.clone());
            }
            Note::SkippedHost { protocol, given } => {
                put("protocol", protocol.to_string());
                put("given", given.clone());
            }
            Note::SkippedPort {
                protocol,
                host,
                given,
            } => {
                put("protocol", protocol.to_string());
                put("host", host.clone());
                put("given", given.clone());
            }
            Note::SkippedUnencrypted {
                protocol,
                host,
                port,
            } => {
                put("protocol", protocol.to_string());
                put("host", host.clone());
                put("port", port.to_string());
            }
            Note::SkippedSocketType {
                protocol,
                host,
                port,
                given,
            } => {
                put("protocol", protocol.to_string());
                put("host", host.clone());
                put("port", port.to_string());
                put("given", given.clone());
            }
            Note::SrvNotOffered { name } | Note::PaccDigest { name } => put("name", name.clone()),
            Note::DaneTlsa { name, records } => {
                put("name", name.clone());
                p.insert("count", (*records).into());
            }
            Note::SrvOutside {
                name,
                domain,
                target,
            } => {
                put("name", name.clone());
                put("domain", domain.clone());
                put("target", target.clone());
            }
            Note::SrvFailed { name, error } | Note::DnssecBogus { name, error } => {
                put("name", name.clone());
                put("error", error.clone());
            }
            Note::CredentialsWithheld { hosts, domain, .. } => {
                put("hosts", hosts.join(", "));
                put("domain", domain.clone());
                p.insert("count", hosts.len().into());
            }
            Note::PlainHttp | Note::AutodiscoverUntrusted | Note::ThroughMx | Note::NoDnssec => {}
            Note::Guessed => {}
        }
        (format!("discovery-note-{}", self.code()), p)
    }

    /// The English sentence (JSON).
    pub fn english(&self) -> String {
        self.text(Lang::En)
    }
}

/// A list of notes. Serialises (flattened into its parent) as `notes`, the English sentences,
/// and `note_codes`, their codes in the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes(pub Vec<Note>);

impl Notes {
    pub fn push(&mut self, n: Note) {
        self.0.push(n)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Note> {
        self.0.iter()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn contains(&self, n: &Note) -> bool {
        self.0.contains(n)
    }
    pub fn extend(&mut self, n: impl IntoIterator<Item = Note>) {
        self.0.extend(n)
    }
    /// The English sentences.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(Note::english).collect()
    }
}

impl From<Vec<Note>> for Notes {
    fn from(v: Vec<Note>) -> Notes {
        Notes(v)
    }
}

impl FromIterator<Note> for Notes {
    fn from_iter<I: IntoIterator<Item = Note>>(i: I) -> Notes {
        Notes(i.into_iter().collect())
    }
}

impl IntoIterator for Notes {
    type Item = Note;
    type IntoIter = std::vec::IntoIter<Note>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Notes {
    type Item = &'a Note;
    type IntoIter = std::slice::Iter<'a, Note>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Notes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("notes", &self.texts())?;
        let codes: Vec<&str> = self.0.iter().map(Note::code).collect();
        m.serialize_entry("note_codes", &codes)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_message_in_both_languages() {
        let en = i18n::catalogue_ids(Lang::En);
        let fr = i18n::catalogue_ids(Lang::Fr);
        for code in Note::CODES {
            let id = format!("discovery-note-{code}");
            assert!(en.contains_key(&id), "{id} missing in English");
            assert!(fr.contains_key(&id), "{id} missing in French");
        }
    }

    #[test]
    fn every_provider_remark_has_a_message_in_both_languages() {
        let en = i18n::catalogue_ids(Lang::En);
        let fr = i18n::catalogue_ids(Lang::Fr);
        for p in super::super::providers::all() {
            let mut ids = vec![];
            if p.note.is_some() {
                ids.push(format!("discovery-note-provider-{}", p.id));
            }
            if p.host_unknown.is_some() {
                ids.push(format!("discovery-note-host-unknown-{}", p.id));
            }
            for id in ids {
                assert!(en.contains_key(&id), "{id} missing in English");
                assert!(fr.contains_key(&id), "{id} missing in French");
            }
        }
    }

    /// One note of each kind, with one and two hosts/sources where the wording counts them.
    fn samples() -> Vec<Note> {
        let s = |n: &str| n.to_string();
        let mut v = vec![
            Note::NotOfferedOverruled {
                source: SourceKind::Srv,
                protocol: Protocol::Pop3,
                winner: SourceKind::Autoconfig,
            },
            Note::NotOffered {
                source: SourceKind::Srv,
                protocol: Protocol::Imap,
            },
            Note::Provider {
                id: s("outlook-com"),
                name: s("Outlook.com"),
                text: s("OAuth2 only"),
            },
            Note::Provider {
                id: s("not-in-the-catalogue"),
                name: s("Other"),
                text: s("its remark"),
            },
            Note::HostUnknown {
                id: s("ovh-email-pro"),
                name: s("OVHcloud E-mail Pro"),
                text: s("give --server"),
                documented: vec![s("imap proN.mail.ovh.net:993 tls")],
            },
            Note::HostUnknown {
                id: s("not-in-the-catalogue"),
                name: s("Other"),
                text: s("give --server"),
                documented: vec![s("imap x:993 tls")],
            },
            Note::Before {
                failures: vec![s("https://a/: HTTP 404")],
            },
            Note::SkippedType { kind: s("gopher") },
            Note::AlsoOffered {
                kind: s("jmap"),
                at: s("https://jmap.example.com/"),
            },
            Note::SchemaInvalid {
                count: 2,
                first: s("clientConfig: clientConfig without its version attribute"),
            },
            Note::SkippedInvalid {
                kind: s("imap"),
                reason: s("\"0\" is not a positive integer"),
            },
            Note::SkippedHost {
                protocol: Protocol::Imap,
                given: s("mail.%NOPE%"),
            },
            Note::SkippedPort {
                protocol: Protocol::Imap,
                host: s("mail.lab.test"),
                given: s("99999"),
            },
            Note::SkippedUnencrypted {
                protocol: Protocol::Imap,
                host: s("mail.lab.test"),
                port: 143,
            },
            Note::SkippedSocketType {
                protocol: Protocol::Imap,
                host: s("mail.lab.test"),
                port: 993,
                given: s("QUANTUM"),
            },
            Note::PlainHttp,
            Note::AutodiscoverUntrusted,
            Note::ThroughMx,
            Note::NoDnssec,
            Note::SrvNotOffered {
                name: s("_imaps._tcp.lab.test"),
            },
            Note::SrvOutside {
                name: s("_imaps._tcp.lab.test"),
                domain: s("lab.test"),
                target: s("imap.elsewhere.test"),
            },
            Note::SrvFailed {
                name: s("_imap._tcp.lab.test"),
                error: s("SERVFAIL"),
            },
            Note::DnssecBogus {
                name: s("_imaps._tcp.lab.test"),
                error: s("DNSSEC validation failed for _imaps._tcp.lab.test SRV (bogus): not used"),
            },
            Note::Guessed,
            Note::PaccDigest {
                name: s("_ua-auto-config.lab.test"),
            },
            Note::DaneTlsa {
                name: s("_993._tcp.mail.lab.test"),
                records: 2,
            },
        ];
        for n in 1..=2 {
            v.push(Note::NotOfferedIgnored {
                source: SourceKind::Srv,
                protocol: Protocol::Imap,
                ignored: [SourceKind::Autodiscover, SourceKind::Guess][..n].to_vec(),
            });
            for hint in [TrustHint::Cli, TrustHint::Config] {
                v.push(Note::CredentialsWithheld {
                    hosts: [s("a.test"), s("b.test")][..n].to_vec(),
                    domain: s("lab.test"),
                    hint,
                });
            }
        }
        v
    }

    #[test]
    fn every_note_formats_without_fluent_errors_in_both_languages() {
        let samples = samples();
        let codes: std::collections::BTreeSet<&str> = samples.iter().map(Note::code).collect();
        let listed: std::collections::BTreeSet<&str> = Note::CODES.into_iter().collect();
        assert_eq!(codes, listed, "Note::CODES and a sample of each code");
        for n in &samples {
            for lang in Lang::ALL {
                let (id, p) = n.message(lang);
                let (text, errors) = i18n::format_checked(lang, &id, None, &p)
                    .unwrap_or_else(|| panic!("{id} missing in {lang}"));
                assert_eq!(errors, 0, "{id} in {lang}: {text}");
            }
        }
        let fr = |n: &Note| n.text(Lang::Fr);
        assert!(fr(&samples[samples.len() - 2]).contains("a.test, b.test proviennent"));
        assert!(fr(&samples[samples.len() - 5]).contains("a.test provient"));
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../docs/discovery.md");
        for code in Note::CODES {
            assert!(
                readme.contains(&format!("`{code}`")),
                "docs/discovery.md lacks `{code}`"
            );
        }
    }

    #[test]
    fn notes_render_in_each_language_and_serialise_compatibly() {
        let n = Note::From {
            source: SourceKind::Srv,
            note: Box::new(Note::SrvNotOffered {
                name: "_imaps._tcp.lab.test".into(),
            }),
        };
        assert_eq!(
            n.english(),
            "SRV records: _imaps._tcp.lab.test says the service is not offered (target \".\")"
        );
        assert_eq!(
            n.text(Lang::Fr),
            "enregistrements SRV : _imaps._tcp.lab.test indique que le service n'est pas proposé (cible « . »)"
        );
        let v = serde_json::to_value(Notes(vec![n])).unwrap();
        assert_eq!(v["note_codes"][0], "srv-not-offered");
        assert!(v["notes"][0].as_str().unwrap().starts_with("SRV records: "));
    }
}
