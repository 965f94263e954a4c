//! The exporter's `--web-config` file (src/serve.rs) on arbitrary bytes, short of loading the
//! certificate and key files it names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `serve` reads the file as UTF-8 text.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mailcheck::serve::read_web_config(text);
    }
});
