//! The entropy decoder on arbitrary payloads, past the CRC that shields it in a stream: the
//! first bytes pick a frame geometry and its slices (1 to 4), the rest is decoded as a keyframe
//! and then as a delta frame against it (with 0 to 3 refined values: version 9's coefficients),
//! and both are reconstructed to latents with a codebook
//! (and, for a fine-motion range the first byte picks, motion maps of extreme values). Typed
//! errors only, no panic, indices always inside the codebook, a position's levels present
//! exactly from its mode's first level up to its stop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vqc::bench::{Contexts, decode_frame};
use vqc::{Codebooks, FIRST_FINE, FrameKind, Mode, MotionOps, NONE, fine_count};

/// Indices inside the codebook; a position's levels "none" below its mode's first level and
/// from its stop on (or from the frame's coded levels on), an index at every level between;
/// keyframes all intra; inter starts below the coded levels.
fn check(state: &vqc::TokenState, size: usize, kind: FrameKind, fine: u8) {
    assert!(
        state
            .idx
            .iter()
            .all(|&v| usize::from(v) < size || v == NONE)
    );
    let n = state.height * state.width;
    for p in 0..n {
        let first = match state.mode[p] {
            Mode::Intra => 0,
            Mode::Copy => state.levels,
            Mode::Inter(s) => usize::from(s),
        };
        assert!(kind == FrameKind::Delta || state.mode[p] == Mode::Intra);
        let motions = usize::from(FIRST_FINE) + if fine > 0 { fine_count(fine) } else { 0 };
        assert!(usize::from(state.motion[p]) < motions);
        assert!(usize::from(state.far[p]) <= vqc::FAR_COUNT);
        assert!(
            state.mode[p] != Mode::Intra || (state.motion[p] == 0 && state.far[p] == 0),
            "intra never moves"
        );
        assert!((0..first.min(state.levels)).all(|l| state.idx[l * n + p] == NONE));
        if first < state.levels {
            assert!(first < state.coded, "a start below the coded levels");
            assert_ne!(
                state.idx[first * n + p],
                NONE,
                "the first level is always coded"
            );
            let ended = (first..state.levels).position(|l| state.idx[l * n + p] == NONE);
            if let Some(e) = ended {
                assert!((first + e..state.levels).all(|l| state.idx[l * n + p] == NONE));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let levels = usize::from(data[0] % 4) + 1;
    let fine = (data[0] / 4) % (vqc::MAX_FINE_RANGE + 1);
    let coded = usize::from(data[1]) % levels + 1;
    let (h, w) = (usize::from(data[2] % 24) + 1, usize::from(data[3] % 24) + 1);
    // 1 to 4 slices (at most one per row): the slices' lengths are read from the payload too
    let slices = (usize::from(data[3] / 24) % 4 + 1).min(h);
    // 0 to 3 refined values (version 9's coefficients; the frame's step is the payload's first
    // byte then), at most the latent's
    let refined = usize::from(data[1] / 16) % 4;
    let bits = 7u32;
    let size = 1usize << bits;
    let payload = &data[4..];
    // a codebook with extreme values: reconstruction wraps, never panics
    let dim = 3;
    let values = (0..levels * size * dim)
        .map(|i| if i % 2 == 0 { 4096.0 } else { -4095.5 })
        .collect();
    let mut books = Codebooks::new(levels, size, dim, values).unwrap();
    if fine > 0 {
        let rows = 2 * dim + 1;
        let maps: Vec<f32> = (0..4 * usize::from(fine) * rows * dim)
            .map(|i| match (i / dim % rows == rows - 1, i % 2) {
                (true, 0) => 4096.0,
                (true, _) => -4096.0,
                (false, 0) => 8.0,
                (false, _) => -8.0,
            })
            .collect();
        books = books
            .with_motion(MotionOps::new(fine, dim, &maps).unwrap())
            .unwrap();
    }
    let mut ctx = Contexts::new(levels, bits)
        .with_fine_motion(fine)
        .with_enhancement(refined)
        .with_slices(slices);
    // a step when the stream refines values (the chunk's: any the decoder may meet)
    let step = if refined > 0 {
        data[2] / 24 % 12 * 10 + 1
    } else {
        0
    };
    let key = decode_frame(
        payload,
        FrameKind::Key,
        (coded, step),
        (levels, h, w),
        size,
        &mut ctx,
    );
    if let Ok(mut state) = key {
        check(&state, size, FrameKind::Key, fine);
        assert_eq!(state.coef.len(), h * w * refined);
        assert_eq!(state.step, step);
        state.reconstruct(&books, None);
        assert_eq!(state.latent.len(), h * w * dim);
        let half = &payload[payload.len() / 2..];
        if let Ok(mut next) = decode_frame(
            half,
            FrameKind::Delta,
            (levels, step),
            (levels, h, w),
            size,
            &mut ctx,
        ) {
            check(&next, size, FrameKind::Delta, fine);
            next.reconstruct(&books, Some(&state.latent));
            assert_eq!(next.latent.len(), h * w * dim);
        }
    }
});
