//! The TLSA matcher (src/net/dane.rs) on arbitrary record data and certificates, as a DNS
//! zone and a server could send them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::net::dane::{self, DaneStatus};

fuzz_target!(|data: &[u8]| {
    // The first byte is the RDATA's length, the next bytes the RDATA; the rest is the chain,
    // split in two certificates at its middle (a leaf and a CA).
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (rdata, der) = rest.split_at((n as usize).min(rest.len()));
    let (leaf, ca) = der.split_at(der.len() / 2);
    let chain: [&[u8]; 2] = [leaf, ca];
    if let Some(found) = dane::record_matches(rdata, &chain) {
        // EE usages match the leaf only, TA usages the others only.
        let ee = matches!(rdata[0], 1 | 3);
        assert!(found.iter().all(|&i| (i == 0) == ee), "{found:?}");
    }
    let status = dane::check(&[rdata.to_vec()], &chain, false, |_| false);
    if let DaneStatus::Match { usage, .. } = status {
        assert_eq!(usage, 3, "only DANE-EE matches without PKIX or a chain");
    }
});
