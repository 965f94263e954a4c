//! The card as Thunderbird's autoconfig file, `config-v1.1.xml` (the format of Mozilla's ISP
//! database and of `autoconfig.<domain>`): every working setting, best first, so the client
//! picks the recommended one and keeps the others as alternatives. No password.
//!
//! A user can drop it into Thunderbird's `isp/` folder as `<domain>.xml`, or a provider can
//! serve it at `https://autoconfig.<domain>/mail/config-v1.1.xml`.

use std::io::{self, Write};

use super::card::{file_made, security_label, xml_comment, xml_escape, Card};
use crate::diagnose::Recommendation;
use crate::i18n;
use crate::model::{Protocol, Security};

/// Thunderbird's placeholders for the username, when the username is the address or its
/// local part, so the file works for every account of the domain.
fn username(card: &Card, r: &Recommendation) -> String {
    let local = card
        .address
        .rsplit_once('@')
        .map_or(card.address.as_str(), |(l, _)| l);
    if r.username.eq_ignore_ascii_case(&card.address) {
        "%EMAILADDRESS%".into()
    } else if r.username == local {
        "%EMAILLOCALPART%".into()
    } else {
        r.username.clone()
    }
}

fn server(out: &mut dyn Write, card: &Card, r: &Recommendation, best: bool) -> io::Result<()> {
    let (element, kind) = match r.protocol {
        Protocol::Imap => ("incomingServer", "imap"),
        Protocol::Pop3 => ("incomingServer", "pop3"),
        Protocol::Smtp => ("outgoingServer", "smtp"),
    };
    // The machine value Thunderbird reads...
    let socket = match r.security {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
    };
    // ...and, for whoever opens the file, the setting in the words of Thunderbird's dialog.
    let label = i18n::text(
        card.lang,
        "card-file-server",
        &crate::params![
            (
                "direction",
                if r.protocol == Protocol::Smtp {
                    "outgoing"
                } else {
                    "incoming"
                }
            ),
            ("rank", if best { "best" } else { "other" }),
            ("protocol", r.protocol.name().to_uppercase()),
            ("port", r.port.to_string()),
            ("security", security_label(card.lang, r.security)),
        ],
    );
    writeln!(out, "    <!-- {} -->", xml_comment(&label))?;
    writeln!(out, "    <{element} type=\"{kind}\">")?;
    writeln!(out, "      <hostname>{}</hostname>", xml_escape(&r.host))?;
    writeln!(out, "      <port>{}</port>", r.port)?;
    writeln!(out, "      <socketType>{socket}</socketType>")?;
    writeln!(
        out,
        "      <username>{}</username>",
        xml_escape(&username(card, r))
    )?;
    // Over TLS, a password sent as is (PLAIN/LOGIN): Thunderbird's "normal password".
    writeln!(
        out,
        "      <authentication>password-cleartext</authentication>"
    )?;
    writeln!(out, "    </{element}>")
}

pub fn write(out: &mut dyn Write, card: &Card) -> io::Result<()> {
    let domain = xml_escape(card.domain());
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<!-- {} -->",
        xml_comment(&file_made(card, "card-file-made"))
    )?;
    writeln!(out, "<clientConfig version=\"1.1\">")?;
    writeln!(out, "  <emailProvider id=\"{domain}\">")?;
    writeln!(out, "    <domain>{domain}</domain>")?;
    writeln!(out, "    <displayName>{domain}</displayName>")?;
    writeln!(out, "    <displayShortName>{domain}</displayShortName>")?;
    for side in [&card.incoming, &card.outgoing] {
        for (i, r) in side.best.iter().chain(side.also.iter()).enumerate() {
            server(out, card, r, i == 0 && side.best.is_some())?;
        }
    }
    writeln!(out, "  </emailProvider>")?;
    writeln!(out, "</clientConfig>")
}
