//! Microsoft Autodiscover (POX) responses on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::discover::autodiscover::{self, Answer};

fuzz_target!(|data: &[u8]| {
    match autodiscover::parse(data) {
        Ok(Answer::Settings { servers, .. }) => {
            for s in &servers {
                assert!(!s.host.is_empty());
                assert!(s.port != 0);
                assert!(!s.host.contains([' ', '/', '\\']), "{:?}", s.host);
            }
        }
        Ok(Answer::RedirectAddr(a)) => assert!(a.contains('@')),
        Ok(Answer::RedirectUrl(u)) => assert!(!u.is_empty()),
        Ok(Answer::Error { .. }) | Err(_) => {}
    }
});
