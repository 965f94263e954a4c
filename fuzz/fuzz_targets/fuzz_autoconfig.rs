//! Thunderbird autoconfig documents (provider and ISPDB) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::account::Address;
use mailcheck::discover::autoconfig;

fuzz_target!(|data: &[u8]| {
    let address = Address::parse("alice@example.com").unwrap();
    if let Ok(doc) = autoconfig::parse(data, &address) {
        for s in &doc.servers {
            // A server kept is one that can be probed: a host name and a real port.
            assert!(!s.host.is_empty());
            assert!(s.port != 0);
            assert!(!s.host.contains([' ', '/', '\\']), "{:?}", s.host);
        }
    }
});
