//! The entropy decoder on arbitrary payloads, past the CRC that shields it in a stream: the
//! first bytes pick a frame geometry, the rest is decoded as a keyframe and then as a delta
//! frame against it. Typed errors only, no panic, indices always inside the codebook, a
//! position's levels absent only from its stop flag on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vqc::bench::{Contexts, decode_frame};
use vqc::{FrameKind, NONE};

/// Indices inside the codebook, and a position's levels "none" only from its stop on (or from
/// the frame's coded levels on): never an index below a none.
fn check(state: &vqc::TokenState, size: usize) {
    assert!(state.idx.iter().all(|&v| usize::from(v) < size || v == NONE));
    let n = state.height * state.width;
    for p in 0..n {
        assert_ne!(state.idx[p], NONE, "level 0 is always coded");
        let ended = (0..state.levels).position(|l| state.idx[l * n + p] == NONE);
        if let Some(e) = ended {
            assert!((e..state.levels).all(|l| state.idx[l * n + p] == NONE));
        }
    }
}

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
        check(&state, size);
        let half = &payload[payload.len() / 2..];
        if let Ok(next) = decode_frame(half, FrameKind::Delta, levels, (levels, h, w), size, &mut ctx, Some(&state)) {
            check(&next, size);
        }
    }
});
