//! The autoconfig reader's schema rules (`src/discover/schema.rs`) against the draft's own
//! RELAX NG schema run by a real validator: `xmllint --relaxng` (libxml2, installed by
//! scripts/install-test-deps) and mailcheck judge every document of tests/fixtures/autoconfig
//! alike, and each judges it as its name says (`valid-*`, `invalid-*`). Then what the reader
//! makes of an invalid document: a note, and the broken server entry skipped with its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use mailcheck::account::Address;
use mailcheck::discover::{autoconfig, schema};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/autoconfig")
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

/// xmllint's verdict: 0 valid, 3 invalid; anything else is a broken test setup.
fn xmllint_valid(file: &Path) -> (bool, String) {
    let out = Command::new("/usr/bin/xmllint")
        .args(["--noout", "--relaxng"])
        .arg(dir().join("autoconfig.rng"))
        .arg(file)
        .output()
        .expect("/usr/bin/xmllint (run scripts/install-test-deps)");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (true, said),
        Some(3) => (false, said),
        other => panic!("xmllint {}: {other:?} {said}", file.display()),
    }
}

#[test]
fn the_reader_and_xmllint_agree_on_every_fixture() {
    let files = fixtures();
    let valid = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("valid-")
        })
        .count();
    assert!(valid >= 5 && files.len() - valid >= 15, "{files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(f).unwrap();
        let text = autoconfig::decode_xml(&bytes).unwrap();
        let ours = schema::validate(&text);
        let (theirs, said) = xmllint_valid(f);
        assert_eq!(
            ours.is_empty(),
            theirs,
            "{name}: mailcheck says {ours:?}; xmllint says {said}"
        );
        assert_eq!(theirs, name.starts_with("valid-"), "{name}: {said}");
    }
}

#[test]
fn an_invalid_document_is_a_note_and_its_broken_server_is_skipped() {
    let alice = Address::parse("alice@example.com").unwrap();
    let read =
        |name: &str| autoconfig::parse(&std::fs::read(dir().join(name)).unwrap(), &alice).unwrap();
    let codes = |d: &autoconfig::Document| -> Vec<&'static str> {
        d.skipped.iter().map(|n| n.code()).collect()
    };
    // The port of the IMAP entry is 0: that entry goes, SMTP stays.
    let d = read("invalid-port-zero.xml");
    assert_eq!(codes(&d), ["schema-invalid", "skipped-invalid"]);
    assert_eq!(
        d.skipped[0].english(),
        "the document does not follow the autoconfig draft's schema (1 problem), first: \
         clientConfig/emailProvider[1]/incomingServer[1]/port[1]: \"0\" is not a positive integer"
    );
    assert_eq!(
        d.skipped[1].english(),
        "server entry \"imap\" skipped, it breaks the schema: \"0\" is not a positive integer"
    );
    assert_eq!(d.servers.len(), 1);
    assert_eq!(d.servers[0].host, "smtp.example.com");
    // A reserved element inside a server: the entry goes.
    let d = read("invalid-domain-in-server.xml");
    assert_eq!(codes(&d), ["schema-invalid", "skipped-invalid"]);
    assert!(d.skipped[1]
        .english()
        .contains("domain is not allowed in incomingServer"));
    // A problem outside the servers: a note, and every server still read.
    let d = read("invalid-no-provider-id.xml");
    assert_eq!(codes(&d), ["schema-invalid"]);
    assert_eq!(d.servers.len(), 1);
    // Valid documents carry no such note.
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid-") {
            let d = read(&name);
            assert!(
                !codes(&d).contains(&"schema-invalid"),
                "{name}: {:?}",
                d.skipped
            );
        }
    }
}
