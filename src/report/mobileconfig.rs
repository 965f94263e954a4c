//! The card as an Apple configuration profile (`.mobileconfig`, an XML property list with one
//! `com.apple.mail.managed` payload) for iPhone, iPad and macOS Mail. It carries no password:
//! the device asks for it when the profile is installed.
//!
//! Apple's `…UseSSL` means "use TLS": implicit TLS on 993/995/465, STARTTLS on 143/110/587.
//! Identifiers and UUIDs are derived from the settings, so the same card gives the same file.

use std::io::{self, Write};

use super::card::{file_made, xml_escape, Card};
use crate::diagnose::Recommendation;
use crate::i18n;
use crate::model::Protocol;

/// A UUID (version 5 layout) made from the SHA-256 of `seed`.
fn uuid(seed: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn string(out: &mut dyn Write, indent: &str, key: &str, value: &str) -> io::Result<()> {
    writeln!(out, "{indent}<key>{key}</key>")?;
    writeln!(out, "{indent}<string>{}</string>", xml_escape(value))
}

fn integer(out: &mut dyn Write, indent: &str, key: &str, value: i64) -> io::Result<()> {
    writeln!(out, "{indent}<key>{key}</key>")?;
    writeln!(out, "{indent}<integer>{value}</integer>")
}

fn boolean(out: &mut dyn Write, indent: &str, key: &str, value: bool) -> io::Result<()> {
    writeln!(out, "{indent}<key>{key}</key>")?;
    writeln!(out, "{indent}<{}/>", if value { "true" } else { "false" })
}

fn server(out: &mut dyn Write, ind: &str, prefix: &str, r: &Recommendation) -> io::Result<()> {
    string(
        out,
        ind,
        &format!("{prefix}MailServerAuthentication"),
        "EmailAuthPassword",
    )?;
    string(out, ind, &format!("{prefix}MailServerHostName"), &r.host)?;
    integer(
        out,
        ind,
        &format!("{prefix}MailServerPortNumber"),
        r.port.into(),
    )?;
    boolean(out, ind, &format!("{prefix}MailServerUseSSL"), true)?;
    string(
        out,
        ind,
        &format!("{prefix}MailServerUsername"),
        &r.username,
    )
}

/// Write the profile. The card must have a working incoming and outgoing setting.
pub fn write(out: &mut dyn Write, card: &Card) -> io::Result<()> {
    let (Some(inc), Some(outg)) = (&card.incoming.best, &card.outgoing.best) else {
        return Err(io::Error::other(
            "an Apple mail profile needs a working incoming and outgoing setting",
        ));
    };
    let seed = format!(
        "{}|{}:{}:{:?}|{}:{}:{:?}",
        card.address, inc.host, inc.port, inc.protocol, outg.host, outg.port, outg.security
    );
    let domain = card.domain();
    let reversed: Vec<&str> = domain.rsplit('.').collect();
    let base = format!("{}.mailcheck", reversed.join("."));
    let ind = "\t\t\t";
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">"
    )?;
    writeln!(out, "<plist version=\"1.0\">")?;
    writeln!(out, "<dict>")?;
    writeln!(out, "\t<key>PayloadContent</key>")?;
    writeln!(out, "\t<array>")?;
    writeln!(out, "\t\t<dict>")?;
    string(out, ind, "EmailAccountDescription", &card.address)?;
    string(
        out,
        ind,
        "EmailAccountType",
        match inc.protocol {
            Protocol::Pop3 => "EmailTypePOP",
            _ => "EmailTypeIMAP",
        },
    )?;
    string(out, ind, "EmailAddress", &card.address)?;
    server(out, ind, "Incoming", inc)?;
    server(out, ind, "Outgoing", outg)?;
    boolean(
        out,
        ind,
        "OutgoingPasswordSameAsIncomingPassword",
        inc.username == outg.username,
    )?;
    // What the device shows when the profile is installed, in the card's language.
    let address = crate::params![("address", card.address.as_str())];
    string(
        out,
        ind,
        "PayloadDescription",
        &file_made(card, "card-profile-description"),
    )?;
    string(
        out,
        ind,
        "PayloadDisplayName",
        &i18n::text(card.lang, "card-profile-account", &address),
    )?;
    string(
        out,
        ind,
        "PayloadIdentifier",
        &format!("{base}.mail.{}", uuid(&format!("mail|{seed}"))),
    )?;
    string(out, ind, "PayloadType", "com.apple.mail.managed")?;
    string(out, ind, "PayloadUUID", &uuid(&format!("mail|{seed}")))?;
    integer(out, ind, "PayloadVersion", 1)?;
    boolean(out, ind, "PreventAppSheet", false)?;
    boolean(out, ind, "PreventMove", false)?;
    boolean(out, ind, "SMIMEEnabled", false)?;
    writeln!(out, "\t\t</dict>")?;
    writeln!(out, "\t</array>")?;
    string(
        out,
        "\t",
        "PayloadDisplayName",
        &i18n::text(card.lang, "card-profile-name", &address),
    )?;
    string(
        out,
        "\t",
        "PayloadIdentifier",
        &format!("{base}.{}", uuid(&format!("profile|{seed}"))),
    )?;
    boolean(out, "\t", "PayloadRemovalDisallowed", false)?;
    string(out, "\t", "PayloadType", "Configuration")?;
    string(out, "\t", "PayloadUUID", &uuid(&format!("profile|{seed}")))?;
    integer(out, "\t", "PayloadVersion", 1)?;
    writeln!(out, "</dict>")?;
    writeln!(out, "</plist>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid("x");
        assert_eq!(a, uuid("x"));
        assert_ne!(a, uuid("y"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
