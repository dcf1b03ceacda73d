//! `.codebook` files (and stream headers carrying one) on arbitrary bytes: typed errors only,
//! no panic, no allocation past the file's value limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vqc::{CodebookPatch, Header, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = CodebookPatch::parse(data) {
        assert_eq!(p.deltas.len(), p.adapted.len() * p.size * p.dim);
        assert_eq!(CodebookPatch::parse(&p.to_bytes()).as_ref(), Ok(&p));
    }
    let _ = Header::parse(data, &Limits::default());
});
