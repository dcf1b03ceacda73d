//! The entropy decoder on arbitrary payloads, past the CRC that shields it in a stream: the
//! first bytes pick a frame geometry, the rest is decoded as a keyframe and then as a delta
//! frame against it. Typed errors only, no panic, indices always inside the codebook.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vqc::bench::{Contexts, decode_frame};
use vqc::{FrameKind, NONE};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let levels = usize::from(data[0] % 4) + 1;
    let coded = usize::from(data[1]) % levels + 1;
    let (h, w) = (usize::from(data[2] % 24) + 1, usize::from(data[3] % 24) + 1);
    let bits = 7u32;
    let size = 1usize << bits;
    let payload = &data[4..];
    let mut ctx = Contexts::new(levels, bits);
    let key = decode_frame(payload, FrameKind::Key, coded, (levels, h, w), size, &mut ctx, None);
    if let Ok(state) = key {
        assert!(state.idx.iter().all(|&v| usize::from(v) < size || v == NONE));
        let half = &payload[payload.len() / 2..];
        if let Ok(next) = decode_frame(half, FrameKind::Delta, levels, (levels, h, w), size, &mut ctx, Some(&state)) {
            assert!(next.idx.iter().all(|&v| usize::from(v) < size || v == NONE));
        }
    }
});
