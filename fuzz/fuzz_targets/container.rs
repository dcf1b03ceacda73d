//! The container parser and the whole symbol decoder on arbitrary bytes: typed errors only,
//! no panic, no unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vqc::{Limits, StreamDecoder};

fuzz_target!(|data: &[u8]| {
    // small limits keep a hostile frame size from costing seconds per input
    let limits = Limits {
        max_pixels: 1 << 20,
        ..Limits::default()
    };
    if let Ok(dec) = StreamDecoder::new(data, limits, None) {
        let size = 1u16 << dec.header().codebook_bits;
        for f in dec.take(1 << 16).flatten() {
            assert!(f.state.coded >= 1 && f.state.coded <= f.state.levels);
            assert!(f.state.idx.iter().all(|&v| v < size || v == u16::MAX));
        }
    }
});
