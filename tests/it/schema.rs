//! The JSON Schemas in `schemas/` against the code: every catalogue of codes is the schema's
//! enum (a code added without updating the schema fails here), the schemas are valid draft
//! 2020-12, and `demo`'s real output conforms. The integration tests that produce JSON validate
//! theirs too (`support::schema::assert_schema`).

use crate::support::schema;

use std::collections::BTreeSet;

use assert_cmd::Command;
use mailcheck::discover::{Note, SourceKind};
use mailcheck::i18n::Lang;
use mailcheck::outcome::Reason;
use serde_json::Value;

use schema::{assert_schema, violations, NAMES};

/// The enum of `$defs/{def}` in `schemas/{file}.schema.json`.
fn schema_enum(file: &str, def: &str) -> BTreeSet<String> {
    let s = schema::schema(file);
    s["$defs"][def]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: $defs/{def} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn serialized<T: serde::Serialize>(items: impl IntoIterator<Item = T>) -> BTreeSet<String> {
    items
        .into_iter()
        .map(|i| match serde_json::to_value(i).unwrap() {
            Value::String(s) => s,
            other => panic!("not a string: {other}"),
        })
        .collect()
}

#[test]
fn every_schema_is_valid_draft_2020_12_and_resolves_offline() {
    for name in NAMES {
        let s = schema::schema(name);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(
            s["$id"].as_str().unwrap(),
            format!("{}{name}.schema.json", schema::BASE)
        );
        jsonschema::draft202012::meta::validate(&s)
            .unwrap_or_else(|e| panic!("schemas/{name}.schema.json: {e}"));
        // Every `$ref` resolves among the files.
        schema::validator(name);
    }
}

#[test]
fn the_reason_codes_are_the_catalogue() {
    assert_eq!(
        schema_enum("probe", "reasonCode"),
        serialized(Reason::ALL),
        "schemas/probe.schema.json $defs/reasonCode against Reason::ALL"
    );
}

#[test]
fn the_finding_codes_are_findingcode_all() {
    assert_eq!(
        schema_enum("probe", "findingCode"),
        serialized(mailcheck::outcome::FindingCode::ALL),
        "schemas/probe.schema.json $defs/findingCode against FindingCode::ALL"
    );
}

#[test]
fn the_discovery_codes_are_the_catalogue() {
    assert_eq!(
        schema_enum("discover", "noteCode"),
        Note::CODES.iter().map(|c| c.to_string()).collect()
    );
    assert_eq!(
        schema_enum("discover", "source"),
        serialized(SourceKind::ALL)
    );
    assert_eq!(
        schema_enum("probe", "protocol"),
        serialized(mailcheck::model::Protocol::ALL)
    );
    assert_eq!(schema_enum("probe", "lang"), serialized(Lang::ALL));
}

fn demo(args: &[&str]) -> Value {
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .arg("demo")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `demo` needs no server: a few scenarios that fill the optional parts (a transcript, a
/// failing reason with the server's words, findings, advice) conform.
#[test]
fn demo_output_conforms_and_the_schema_is_closed() {
    let good = demo(&["--trace"]);
    assert_schema("probe", &good);
    for scenario in [
        "cert-expired",
        "starttls-injection",
        "busy",
        "oauth2-required",
    ] {
        assert_schema("probe", &demo(&["--scenario", scenario, "--lang", "fr"]));
    }
    // The schema does see a field or a value it does not list.
    let mut extra = good.clone();
    extra["results"][0]["tls"]["brand_new"] = Value::Bool(true);
    extra["credential"]["source"] = Value::String("carrier-pigeon".into());
    assert_eq!(violations("probe", &extra).len(), 2, "{extra:#}");
}

/// docs/json.md is written from the schemas: a section per file and per definition, with a row
/// for every field and every listed value.
#[test]
fn the_json_page_follows_the_schemas() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let section = |heading: &str| -> String {
        let start = page
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("docs/json.md lacks the heading {heading}"));
        let rest = &page[start + heading.len() + 2..];
        let end = rest.find("\n#").unwrap_or(rest.len());
        rest[..end].to_string()
    };
    let mut missing = vec![];
    let mut check = |heading: &str, def: &Value| {
        let text = section(heading);
        for field in def["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
        {
            if !text.contains(&format!("| `{field}` |")) {
                missing.push(format!("{heading}: field {field}"));
            }
        }
        let values = def["enum"].as_array().into_iter().flatten();
        let consts = def["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                b["properties"]
                    .as_object()?
                    .values()
                    .find_map(|v| v.get("const"))
            });
        for v in values.chain(consts) {
            let v = v.as_str().map_or(v.to_string(), str::to_string);
            if !text.contains(&format!("`{v}`")) {
                missing.push(format!("{heading}: value {v}"));
            }
        }
    };
    for name in NAMES {
        let s = schema::schema(name);
        check(&format!("### {name}"), &s);
        for (def, body) in s["$defs"].as_object().into_iter().flatten() {
            check(&format!("#### {def}"), body);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/json.md lags the schemas:\n{}",
        missing.join("\n")
    );
    assert!(page.contains("## Compatibility: `schema_version`"));
}
