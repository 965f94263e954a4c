//! The exporter's `/probe` query (src/serve.rs) on arbitrary bytes from a scrape request: the
//! query string as axum's `Query` extractor decodes it, then the request's settings and the
//! target policy, with and without a checks file.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;
use mailcheck::check::config::ChecksFile;
use mailcheck::serve::{first_values, request_settings, TargetPolicy};

struct Fixed {
    config: ChecksFile,
    policy: TargetPolicy,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        config: ChecksFile::parse(
            Path::new("mailcheck.toml"),
            include_str!("../../fixtures/mailcheck.toml"),
        )
        .unwrap(),
        policy: TargetPolicy::new(["*.example.org".into(), "lab.test".into(), "a?c@*".into()])
            .unwrap(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    // What hyper hands axum: a request target it could parse.
    let Ok(uri) = format!("/probe?{query}").parse::<Uri>() else {
        return;
    };
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&uri) else {
        return;
    };
    let q = first_values(pairs);
    let fixed = fixed();
    for config in [None, Some(&fixed.config)] {
        let settings = request_settings(config, &q);
        if settings.is_ok() {
            // A request is only served with a target.
            assert!(q.get("target").is_some_and(|t| !t.trim().is_empty()));
        }
        let _ = fixed.policy.check(config, &q);
    }
});
