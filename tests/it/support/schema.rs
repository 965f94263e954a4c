//! The JSON contract: real output validated against the JSON Schemas in `schemas/`, with
//! every schema file registered locally (their `$id`s are never fetched).
//!
//! Included by the test binaries that parse mailcheck's JSON, through `support` or on its own
//! (`#[path = "support/schema.rs"]`).
#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::Value;

/// The schema files: `probe` (`probe`/`demo --format json`), `discover`, `account` (one
/// `--format jsonl` line), `check` (`check`/`batch --format json`), `sign-in` (`oauth2 sign-in
/// --json`).
pub const NAMES: [&str; 5] = ["probe", "discover", "account", "check", "sign-in"];

/// The base of the schemas' `$id`s (a reserved domain: nothing is ever fetched from it).
pub const BASE: &str = "https://mailcheck.invalid/schemas/";

pub fn schema(name: &str) -> Value {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn registry() -> &'static jsonschema::Registry<'static> {
    static REGISTRY: OnceLock<jsonschema::Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        jsonschema::Registry::new()
            .extend(NAMES.map(|n| (format!("{BASE}{n}.schema.json"), schema(n))))
            .and_then(|b| b.prepare())
            .expect("the schemas register")
    })
}

/// A validator of one schema file, offline: a `$ref` outside `schemas/` fails to build.
pub fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::options()
        .offline()
        .with_registry(registry())
        .build(&schema(name))
        .unwrap_or_else(|e| panic!("schemas/{name}.schema.json: {e}"))
}

/// Every way `doc` breaks the schema, one line each (empty when it conforms).
pub fn violations(name: &str, doc: &Value) -> Vec<String> {
    validator(name)
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// `doc`, real output of mailcheck, conforms to `schemas/{name}.schema.json`.
#[track_caller]
pub fn assert_schema(name: &str, doc: &Value) {
    let errors = violations(name, doc);
    assert!(
        errors.is_empty(),
        "output does not match schemas/{name}.schema.json:\n{}\n\ndocument:\n{doc:#}",
        errors.join("\n")
    );
}

/// A run's stdout as JSON, checked against schema `name`; a panic shows stdout and stderr.
pub fn json_of(out: &std::process::Output, name: &str) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_schema(name, &doc);
    doc
}
