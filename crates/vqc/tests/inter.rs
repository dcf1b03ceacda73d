//! Delta frames predict from the previous frame's reconstructed latent (format version 3): the
//! decoder's integer reconstruction equals the encoder's, frame after frame, and prediction is
//! what makes a nearly still sequence cheap.

use vqc::{
    Codebooks, Encoder, EncoderConfig, FIRST_FINE, FrameKind, Limits, Mode, ModelInfo, MotionOps,
    RateControl, StreamDecoder,
};

const LEVELS: usize = 6;
const SIZE: usize = 32;
const DIM: usize = 8;
const DS: usize = 8;

/// A deterministic pseudo-random stream in [-1, 1).
fn noise(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// RVQ-like codebooks: each level's codes half as large as the last one's.
fn books() -> Codebooks {
    let mut r = noise(7);
    let data = (0..LEVELS * SIZE * DIM)
        .map(|i| r() * 0.5f32.powi((i / (SIZE * DIM)) as i32))
        .collect();
    Codebooks::new(LEVELS, SIZE, DIM, data).unwrap()
}

/// `frames` latents of a 10×12 grid: a smooth field that drifts a little each frame, plus a
/// block that changes a lot.
fn latents(frames: usize, rows: usize, cols: usize) -> Vec<Vec<f32>> {
    let mut r = noise(11);
    let base: Vec<f32> = (0..rows * cols * DIM).map(|_| r()).collect();
    (0..frames)
        .map(|t| {
            base.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let p = i / DIM;
                    let moving = p % cols < 3 && p / cols < 3;
                    v + 0.01 * t as f32 * ((i % 5) as f32 - 2.0)
                        + if moving {
                            0.4 * ((t * 7 + i) as f32).sin()
                        } else {
                            0.0
                        }
                })
                .collect()
        })
        .collect()
}

fn encode(
    quality: u8,
    frames: &[Vec<f32>],
    rows: usize,
    cols: usize,
) -> (Vec<u8>, Vec<vqc::Packet>) {
    encode_with(books(), quality, frames, rows, cols)
}

/// The settings of this file's streams: `rows × cols` positions, `quality`, a keyframe every
/// `keyint` frames.
fn config(rows: usize, cols: usize, quality: u8, keyint: u32) -> EncoderConfig {
    let mut config = EncoderConfig::new((cols * DS) as u32, (rows * DS) as u32);
    config.rate = RateControl::Quality(quality);
    config.keyint = keyint;
    config
}

/// This file's model.
fn model() -> ModelInfo {
    ModelInfo {
        id: 42,
        levels: LEVELS,
        codebook_size: SIZE,
        downsample: DS,
    }
}

/// An encoder of `books` for this file's model.
fn encoder(books: Codebooks, config: EncoderConfig) -> Encoder {
    Encoder::new(config, &model(), books).unwrap()
}

fn encode_with(
    books: Codebooks,
    quality: u8,
    frames: &[Vec<f32>],
    rows: usize,
    cols: usize,
) -> (Vec<u8>, Vec<vqc::Packet>) {
    encode_config(books, config(rows, cols, quality, 100), frames)
}

/// `frames` coded one by one with `config`: the stream and its packets.
fn encode_config(
    books: Codebooks,
    config: EncoderConfig,
    frames: &[Vec<f32>],
) -> (Vec<u8>, Vec<vqc::Packet>) {
    let mut enc = encoder(books, config);
    let mut stream = enc.header_bytes();
    let packets: Vec<_> = frames
        .iter()
        .map(|z| enc.encode_latent(z, false).unwrap())
        .collect();
    for p in &packets {
        stream.extend_from_slice(&p.data);
    }
    (stream, packets)
}

/// Every frame of `stream`, reconstructed with [`books`].
fn decode(stream: &[u8]) -> Vec<vqc::DecodedFrame> {
    StreamDecoder::new(stream, Limits::default(), None)
        .unwrap()
        .with_codebooks(&books())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn decoders_reconstruct_the_encoders_latents_exactly() {
    let (rows, cols) = (10, 12);
    let frames = latents(12, rows, cols);
    for quality in [10u8, 50, 80, 100] {
        let (stream, packets) = encode(quality, &frames, rows, cols);
        let decoded = decode(&stream);
        assert_eq!(decoded.len(), packets.len());
        let mut predicted = 0;
        for (f, p) in decoded.iter().zip(&packets) {
            assert_eq!(f.kind, p.kind);
            assert_eq!(*f.state, p.state, "quality {quality}, frame {}", p.pts);
            assert_eq!(f.state.latent.len(), rows * cols * DIM);
            predicted += f.state.copies() + f.state.inters();
        }
        assert_eq!(packets[0].kind, FrameKind::Key);
        assert!(
            packets[1..].iter().all(|p| p.kind == FrameKind::Delta),
            "quality {quality}: no scene cut in a drifting field"
        );
        assert!(predicted > 0, "quality {quality}: delta frames predict");
        // without codebooks: the same symbols, no latent
        for (f, p) in StreamDecoder::new(&stream, Limits::default(), None)
            .unwrap()
            .map(Result::unwrap)
            .zip(&packets)
        {
            assert_eq!(
                (&f.state.idx, &f.state.mode, &f.state.motion),
                (&p.state.idx, &p.state.mode, &p.state.motion)
            );
            assert!(f.state.latent.is_empty());
        }
    }
}

/// Frames in slices (format version 8): a grid large enough that the encoder and the decoder
/// code the slices on threads; every frame decodes to the encoder's symbols and latent, for
/// the default number of slices and for more; impossible counts are refused up front.
#[test]
fn slices_decode_to_the_encoders_symbols_and_latents() {
    let (rows, cols) = (96, 88); // 8,448 positions: the default cuts 2 slices
    let frames = latents(3, rows, cols);
    let mut sizes = Vec::new();
    for (slices, expected) in [(0u8, 2u8), (1, 1), (5, 5)] {
        let (stream, packets) = encode_config(
            books(),
            EncoderConfig {
                slices,
                ..config(rows, cols, 80, 100)
            },
            &frames,
        );
        assert_eq!(
            vqc::Header::parse(&stream, &Limits::default())
                .unwrap()
                .slices,
            expected
        );
        let decoded = decode(&stream);
        assert_eq!(decoded.len(), 3);
        for (f, p) in decoded.iter().zip(&packets) {
            assert_eq!(*f.state, p.state, "{expected} slices, frame {}", p.pts);
        }
        assert!(
            packets[1..]
                .iter()
                .all(|p| p.state.copies() + p.state.inters() > 0)
        );
        sizes.push(stream.len());
    }
    // more slices: models that learn from fewer symbols each, and the slices' lengths
    assert!(sizes[2] > sizes[1], "{sizes:?}");
    for bad in [17u8, 97] {
        let config = EncoderConfig {
            slices: bad,
            ..config(rows, cols, 80, 100)
        };
        let err = Encoder::new(config, &model(), books()).unwrap_err();
        assert!(err.to_string().contains("slices"), "{err}");
    }
}

#[test]
fn prediction_makes_delta_frames_cheap_and_follows_the_change() {
    let (rows, cols) = (10, 12);
    let frames = latents(8, rows, cols);
    let (_, packets) = encode(60, &frames, rows, cols);
    let key = packets[0].data.len() as f64;
    let delta: f64 = packets[1..]
        .iter()
        .map(|p| p.data.len() as f64)
        .sum::<f64>()
        / (packets.len() - 1) as f64;
    assert!(delta < 0.5 * key, "delta {delta} B vs key {key} B");
    let n = rows * cols;
    for p in &packets[1..] {
        let s = &p.state;
        // the still part is predicted; the changing block is coded (intra or residual)
        let still_predicted = (0..n)
            .filter(|&q| !(q % cols < 3 && q / cols < 3))
            .filter(|&q| s.mode[q] != Mode::Intra)
            .count();
        assert!(
            still_predicted * 10 >= (n - 9) * 9,
            "frame {}: {still_predicted}",
            p.pts
        );
        let moving_coded = (0..n)
            .filter(|&q| q % cols < 3 && q / cols < 3)
            .filter(|&q| s.mode[q] != Mode::Copy)
            .count();
        assert!(moving_coded >= 5, "frame {}: {moving_coded} of 9", p.pts);
    }
}

#[test]
fn a_stream_codebook_is_what_the_decoder_reconstructs_with() {
    let (rows, cols) = (4, 5);
    let frames = latents(3, rows, cols);
    let (stream, packets) = encode(80, &frames, rows, cols);
    // other codebooks of the same shape: same symbols, another latent
    let other = Codebooks::new(
        LEVELS,
        SIZE,
        DIM,
        books().data().iter().map(|v| v * 0.5).collect(),
    )
    .unwrap();
    let f = StreamDecoder::new(&stream, Limits::default(), None)
        .unwrap()
        .with_codebooks(&other)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(f.state.idx, packets[0].state.idx);
    assert_ne!(f.state.latent, packets[0].state.latent);
    // codebooks of another shape are refused
    let small = Codebooks::new(LEVELS, SIZE / 2, DIM, vec![0.0; LEVELS * SIZE / 2 * DIM]).unwrap();
    assert!(
        StreamDecoder::new(&stream, Limits::default(), None)
            .unwrap()
            .with_codebooks(&small)
            .is_err()
    );
}

#[test]
fn a_field_that_moves_one_position_is_predicted_with_motion() {
    // a field shifted one latent position to the right each frame: without motion every
    // position would have to be coded again; with it, most positions predict from their left
    let (rows, cols) = (8, 14);
    let mut r = noise(5);
    let wide: Vec<f32> = (0..rows * (cols + 8) * DIM).map(|_| r()).collect();
    let frames: Vec<Vec<f32>> = (0..5)
        .map(|t| {
            (0..rows * cols)
                .flat_map(|p| {
                    let (y, x) = (p / cols, p % cols + 8 - t);
                    wide[(y * (cols + 8) + x) * DIM..][..DIM].to_vec()
                })
                .collect()
        })
        .collect();
    let (stream, packets) = encode(60, &frames, rows, cols);
    for p in &packets[1..] {
        let s = &p.state;
        let left = s
            .motion
            .iter()
            .filter(|&&m| vqc::MOTIONS[usize::from(m)] == (-1, 0))
            .count();
        assert!(
            left * 10 >= rows * cols * 7,
            "frame {}: {left} moved left",
            p.pts
        );
    }
    let key = packets[0].data.len();
    // smaller than the keyframe, and no worse: what the prediction carries over is refined
    let sizes: Vec<usize> = packets.iter().map(|p| p.data.len()).collect();
    assert!(sizes[1..].iter().all(|&s| s < key), "{sizes:?}");
    let mse: Vec<f64> = packets.iter().map(|p| p.stats.latent_mse).collect();
    assert!(mse[1..].iter().all(|&e| e <= mse[0] * 1.05), "{mse:?}");
    let decoded = decode(&stream);
    for (f, p) in decoded.iter().zip(&packets) {
        assert_eq!(*f.state, p.state);
    }
}

#[test]
fn a_field_that_moves_three_positions_is_predicted_with_far_motion() {
    // a field shifted three latent positions (24 pixels) to the right and one down each frame:
    // beyond the one-position motions; a far motion predicts it, and most positions repeat their
    // neighbour's far motion instead of coding it
    let offsets: std::collections::HashSet<(i8, i8)> =
        (1..=vqc::FAR_COUNT as u8).map(vqc::far_offset).collect();
    assert_eq!(offsets.len(), vqc::FAR_COUNT);
    assert!(!offsets.contains(&(0, 0)));
    assert!(
        offsets
            .iter()
            .all(|&(x, y)| x.abs().max(y.abs()) <= vqc::FAR_RANGE)
    );
    let (rows, cols, step) = (8, 14, 3);
    let (wide_rows, wide_cols) = (rows + 4, cols + 4 * step);
    let mut r = noise(9);
    let wide: Vec<f32> = (0..wide_rows * wide_cols * DIM).map(|_| r()).collect();
    let frames: Vec<Vec<f32>> = (0..5)
        .map(|t| {
            (0..rows * cols)
                .flat_map(|p| {
                    let (y, x) = (p / cols + 4 - t, p % cols + 4 * step - step * t);
                    wide[(y * wide_cols + x) * DIM..][..DIM].to_vec()
                })
                .collect()
        })
        .collect();
    let (stream, packets) = encode(60, &frames, rows, cols);
    let bits = |p: &vqc::Packet| p.stats.bits.motion;
    for p in &packets[1..] {
        let s = &p.state;
        // the positions whose source is inside the previous frame: all but the left 3 columns and
        // the top row
        let inside = (rows - 1) * (cols - step);
        let far = (0..rows * cols)
            .filter(|&q| s.far[q] != 0 && vqc::far_offset(s.far[q]) == (-(step as i8), -1))
            .count();
        assert!(
            far * 10 >= inside * 8,
            "frame {}: {far} of {inside} far",
            p.pts
        );
        // far motions repeated from neighbours cost far less than 7 bits each
        // coding each far motion's value takes 7 bits of it and 3 flags; repeating a
        // neighbour's, a few flags (once the models have seen a frame of them)
        if p.pts >= 2 {
            assert!(
                bits(p) < far as f64 * 4.0,
                "frame {}: {} motion bits for {far}",
                p.pts,
                bits(p)
            );
        }
    }
    let key = packets[0].data.len();
    let sizes: Vec<usize> = packets.iter().map(|p| p.data.len()).collect();
    // cheaper than the keyframe although a quarter of the positions come into view each frame
    assert!(sizes[1..].iter().all(|&s| s < key), "{sizes:?}");
    assert!(sizes[4] * 4 < key * 3, "{sizes:?}");
    let decoded = decode(&stream);
    for (f, p) in decoded.iter().zip(&packets) {
        assert_eq!(*f.state, p.state);
    }
}

/// Every number of coded levels (1: no inter start; 2..: one to four starts), key then delta
/// frames: the decoder reads back the encoder's modes, motions and indices, `write_frame`
/// re-encodes them to the very payload, and a non-finite latent still makes a decodable frame.
#[test]
fn every_coded_depth_round_trips_through_write_and_decode() {
    use vqc::bench::{Contexts, FrameParams, decode_frame, encode_frame, write_frame};
    let levels = 8;
    let mut r = noise(3);
    let data = (0..levels * SIZE * DIM)
        .map(|i| r() * 0.6f32.powi((i / (SIZE * DIM)) as i32))
        .collect();
    let plain = Codebooks::new(levels, SIZE, DIM, data).unwrap();
    let weighed = plain.clone().with_metric(&heavy_first_axis()).unwrap();
    let (rows, cols) = (5, 7);
    let mut frames = latents(4, rows, cols);
    // values that are not finite, in the keyframe and in a delta frame: every chain still
    // ends with its indices, and what is written decodes to the encoder's state
    frames[0][9] = f32::NAN;
    frames[0][DIM * 7 + 2] = f32::INFINITY;
    frames[3][5] = f32::NAN;
    let bits = SIZE.trailing_zeros();
    // the encoder's beam and metric change its choices, never what a decoder reads
    for (coded, beam, books) in (1..=levels).map(|c| (c, 1, &plain)).chain([
        (3, 4, &plain),
        (levels, 3, &weighed),
        (levels, 1, &weighed),
    ]) {
        for lambda in [0.0f32, 1e-3, 3e-2] {
            let (mut enc_ctx, mut dec_ctx, mut re_ctx) = (
                Contexts::new(levels, bits),
                Contexts::new(levels, bits),
                Contexts::new(levels, bits),
            );
            let mut prev: Option<vqc::TokenState> = None;
            for (t, z) in frames.iter().enumerate() {
                let kind = if t == 0 {
                    FrameKind::Key
                } else {
                    FrameKind::Delta
                };
                let params = FrameParams {
                    kind,
                    levels: coded,
                    lambda,
                    beam,
                    lambda_scale: None,
                    enhance: false,
                };
                let code =
                    encode_frame(z, (rows, cols), books, params, &mut enc_ctx, prev.as_ref());
                let what = format!("coded {coded}, beam {beam}, λ {lambda}, frame {t}");
                assert_eq!(
                    write_frame(&code.state, kind, &mut re_ctx),
                    code.payload,
                    "{what}"
                );
                let mut got = decode_frame(
                    &code.payload,
                    kind,
                    (coded, 0),
                    (levels, rows, cols),
                    SIZE,
                    &mut dec_ctx,
                )
                .unwrap();
                got.reconstruct(&plain, prev.as_ref().map(|s| s.latent.as_slice()));
                assert_eq!(got, code.state, "{what}");
                if coded == 1 {
                    assert!(
                        got.mode.iter().all(|m| !matches!(m, Mode::Inter(_))),
                        "{what}"
                    );
                }
                prev = Some(code.state);
            }
        }
    }
}

/// A metric that weighs the first latent axis 20× each of the others.
fn heavy_first_axis() -> Vec<f32> {
    (0..DIM * DIM)
        .map(|i| match (i / DIM, i % DIM) {
            (0, 0) => 20.0,
            (a, b) if a == b => 1.0,
            _ => 0.0,
        })
        .collect()
}

#[test]
fn the_encoders_beam_and_metric_buy_what_they_promise() {
    use vqc::bench::{Contexts, FrameParams, encode_frame};
    let (rows, cols) = (10, 12);
    let frames = latents(1, rows, cols);
    let z = &frames[0];
    let bits = SIZE.trailing_zeros();
    let key = |books: &Codebooks, beam: usize, lambda: f32| {
        let params = FrameParams {
            kind: FrameKind::Key,
            levels: LEVELS,
            lambda,
            beam,
            lambda_scale: None,
            enhance: false,
        };
        let mut ctx = Contexts::new(LEVELS, bits);
        encode_frame(z, (rows, cols), books, params, &mut ctx, None)
    };
    // squared error of the reconstructed latent, along the first axis and along the rest
    let error = |state: &vqc::TokenState| {
        let got = state.latent_f32();
        let (mut first, mut rest) = (0f64, 0f64);
        for (i, (a, b)) in z.iter().zip(&got).enumerate() {
            let e = f64::from(a - b).powi(2);
            if i % DIM == 0 { first += e } else { rest += e }
        }
        (first, rest)
    };
    // all levels, no rate term: a beam of 4 finds sums of codes nearer the latent than greedy
    let greedy = error(&key(&books(), 1, 0.0).state);
    let beam = error(&key(&books(), 4, 0.0).state);
    assert!(
        beam.0 + beam.1 < 0.95 * (greedy.0 + greedy.1),
        "beam {beam:?} against greedy {greedy:?}"
    );
    // with a metric that weighs the first axis, its error falls (and the others' is what pays)
    let weighed = books().with_metric(&heavy_first_axis()).unwrap();
    for lambda in [0.0f32, 1e-3] {
        let plain = error(&key(&books(), 1, lambda).state);
        let metric = error(&key(&weighed, 1, lambda).state);
        assert!(
            metric.0 < 0.8 * plain.0,
            "λ {lambda}: first axis {metric:?} against {plain:?}"
        );
    }
}

/// Motion maps of range `r` that interpolate linearly between the two latents a shifted
/// position straddles: a shift of `d` pixels takes `|d|/8` of the neighbour and the rest of the
/// position itself (exact for a field that is linear between positions).
fn interpolating_maps(r: u8) -> MotionOps {
    MotionOps::new(r, DIM, &interpolating_data(r)).unwrap()
}

/// The values of [`interpolating_maps`] (`2 × 2r × (2·DIM + 1) × DIM`).
fn interpolating_data(r: u8) -> Vec<f32> {
    let rows = 2 * DIM + 1;
    let mut data = vec![0f32; 4 * usize::from(r) * rows * DIM];
    for m in 0..4 * usize::from(r) {
        let k = (m % (2 * usize::from(r))) as i32;
        let d = if k < i32::from(r) {
            k - i32::from(r)
        } else {
            k - i32::from(r) + 1
        };
        let t = d.abs() as f32 / DS as f32;
        // inputs: d > 0 (the position before, the position); d < 0 (the position, the one after)
        let (wa, wb) = if d > 0 { (t, 1.0 - t) } else { (1.0 - t, t) };
        for j in 0..DIM {
            data[(m * rows + j) * DIM + j] = wa;
            data[(m * rows + DIM + j) * DIM + j] = wb;
        }
    }
    data
}

/// A smooth field that moves `speed` pixels to the right per frame (8 pixels per position).
fn moving_field(frames: usize, rows: usize, cols: usize, speed: f32) -> Vec<Vec<f32>> {
    (0..frames)
        .map(|t| {
            (0..rows * cols * DIM)
                .map(|i| {
                    let (p, c) = (i / DIM, i % DIM);
                    let u = (p % cols) as f32 * DS as f32 - speed * t as f32;
                    let v = (p / cols) as f32;
                    (u * (0.03 + 0.01 * c as f32) + v * 0.7 + c as f32).sin()
                })
                .collect()
        })
        .collect()
}

#[test]
fn fine_motion_predicts_a_field_moving_by_pixels_and_decodes_exactly() {
    let (rows, cols) = (8, 10);
    let frames = moving_field(8, rows, cols, 2.0);
    let with_maps = books().with_motion(interpolating_maps(2)).unwrap();
    let (stream, packets) = encode_with(with_maps.clone(), 60, &frames, rows, cols);
    let (plain, _) = encode(60, &frames, rows, cols);
    assert_eq!(stream[53], 2, "the header names the fine-motion range");
    let fine: usize = packets[1..]
        .iter()
        .map(|p| p.state.motion.iter().filter(|&&m| m >= FIRST_FINE).count())
        .sum();
    let n = rows * cols * (packets.len() - 1);
    assert!(
        fine * 2 > n,
        "{fine} of {n} delta positions use fine motion"
    );
    assert!(
        stream.len() * 10 < plain.len() * 9,
        "fine motion: {} bytes, without: {}",
        stream.len(),
        plain.len()
    );
    // a decoder with the same maps holds the encoder's state, latent included
    let decoded: Vec<_> = StreamDecoder::new(&stream, Limits::default(), None)
        .unwrap()
        .with_codebooks(&with_maps)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decoded.len(), packets.len());
    for (f, p) in decoded.iter().zip(&packets) {
        assert_eq!(*f.state, p.state, "frame {}", p.pts);
        assert_eq!(f.state.latent.len(), rows * cols * DIM);
    }
    // an enhanced model's empty enhancement (`zero_tail`: here the last 2 values, which no code
    // fills): known from frame to frame only through maps that put nothing there; the latent
    // is the one a reconstruction that looks at the reference computes, either way
    let tail = 2;
    let mut r = noise(7);
    let tail_free: Vec<f32> = (0..LEVELS * SIZE * DIM)
        .map(|i| {
            let v = r() * 0.5f32.powi((i / (SIZE * DIM)) as i32);
            if i % DIM >= DIM - tail { 0.0 } else { v }
        })
        .collect();
    for mixing in [false, true] {
        let mut data = interpolating_data(2);
        if mixing {
            // every map reads the first value into the last one
            for m in 0..8 {
                data[m * (2 * DIM + 1) * DIM + DIM - 1] = 0.5;
            }
        }
        let ops = MotionOps::new(2, DIM, &data).unwrap();
        assert_eq!(ops.keeps_zero_from(DIM - tail), !mixing);
        let enhanced = Codebooks::new(LEVELS, SIZE, DIM, tail_free.clone())
            .unwrap()
            .with_motion(ops)
            .unwrap()
            .with_enhancement(LEVELS, DIM - tail)
            .unwrap();
        let mut prev: Option<vqc::TokenState> = None;
        let mut filled = 0;
        for p in &packets {
            let mut known = p.state.clone();
            known.latent.clear();
            known.reconstruct_after(&enhanced, prev.as_ref());
            let mut looked = p.state.clone();
            looked.latent.clear();
            looked.reconstruct(&enhanced, prev.as_ref().map(|s| s.latent.as_slice()));
            assert_eq!(
                known.latent, looked.latent,
                "mixing {mixing}, frame {}",
                p.pts
            );
            let empty = known
                .latent
                .chunks_exact(DIM)
                .all(|v| v[DIM - tail..].iter().all(|&x| x == 0));
            assert_eq!(
                known.zero_tail,
                if mixing {
                    usize::from(p.pts == 0) * tail
                } else {
                    tail
                }
            );
            assert!(
                known.zero_tail == 0 || empty,
                "mixing {mixing}, frame {}",
                p.pts
            );
            filled += usize::from(!empty);
            prev = Some(known);
        }
        assert_eq!(filled > 0, mixing, "the mixing maps fill the enhancement");
    }
    // in bands on several threads: the same integers (fine motions, copies, residuals)
    for p in &packets[1..] {
        for threads in [1, 2, 3, 7, rows * cols + 5] {
            let mut state = p.state.clone();
            state.latent.clear();
            let prev = &packets[p.pts as usize - 1].state.latent;
            state.reconstruct_on(&with_maps, Some(prev), threads);
            assert_eq!(
                state.latent, p.state.latent,
                "frame {}, {threads} threads",
                p.pts
            );
        }
    }
    // the symbols need no model; reconstructing needs the maps of the stream's range
    let symbols: Vec<_> = StreamDecoder::new(&stream, Limits::default(), None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(symbols[3].state.motion, packets[3].state.motion);
    // reconstructing with maps of a smaller range (8 fine motions) never panics: a motion index
    // beyond them leaves the latent empty
    let mut state = packets[3].state.clone();
    state.reconstruct(
        &books().with_motion(interpolating_maps(1)).unwrap(),
        Some(&packets[2].state.latent),
    );
    let beyond = state.motion.iter().any(|&m| m >= FIRST_FINE + 8);
    assert!(beyond, "the 2-pixel motions are beyond range 1's indices");
    assert!(state.latent.is_empty());
    for books in [books(), books().with_motion(interpolating_maps(1)).unwrap()] {
        assert!(
            StreamDecoder::new(&stream, Limits::default(), None)
                .unwrap()
                .with_codebooks(&books)
                .is_err(),
            "maps of another range"
        );
    }
}

/// A stream coded with a lookahead (whole windows through `encode_latents`), and its packets.
fn encode_ahead(
    lookahead: u32,
    keyint: u32,
    frames: &[Vec<f32>],
    rows: usize,
    cols: usize,
) -> (Vec<u8>, Vec<vqc::Packet>) {
    let config = EncoderConfig {
        lookahead,
        ..config(rows, cols, 30, keyint)
    };
    let mut enc = encoder(books(), config);
    let mut stream = enc.header_bytes();
    // two calls: a window never spans them
    let (a, b) = frames.split_at(frames.len() / 2);
    let mut packets = enc.encode_latents(a, false).unwrap();
    packets.extend(enc.encode_latents(b, false).unwrap());
    for p in &packets {
        stream.extend_from_slice(&p.data);
    }
    (stream, packets)
}

#[test]
fn a_lookahead_spends_the_keyframes_bits_where_later_frames_reuse_them() {
    let (rows, cols) = (10, 12);
    // a still picture whose top-left corner (3×3 positions) changes completely every frame
    let corner = |p: usize| p % cols < 3 && p / cols < 3;
    let mut r = noise(5);
    let still: Vec<f32> = (0..rows * cols * DIM).map(|_| r()).collect();
    let frames: Vec<Vec<f32>> = (0..16)
        .map(|_| {
            still
                .iter()
                .enumerate()
                .map(|(i, &v)| if corner(i / DIM) { r() } else { v })
                .collect()
        })
        .collect();
    // frame 0's squared latent error in the corner over that elsewhere
    let ratio = |packets: &[vqc::Packet]| {
        let scale = f64::from(1u32 << vqc::LATENT_FRAC_BITS);
        let (mut sums, mut counts) = ([0f64; 2], [0usize; 2]);
        for p in 0..rows * cols {
            let e: f64 = (0..DIM)
                .map(|d| {
                    let got = f64::from(packets[0].state.latent[p * DIM + d]) / scale;
                    (got - f64::from(frames[0][p * DIM + d])).powi(2)
                })
                .sum();
            sums[usize::from(corner(p))] += e;
            counts[usize::from(corner(p))] += 1;
        }
        (sums[1] / counts[1] as f64) / (sums[0] / counts[0] as f64)
    };
    let (plain_stream, plain) = encode_ahead(0, 100, &frames, rows, cols);
    // without a lookahead, encode_latents is encode_latent frame by frame, byte for byte
    let (frame_by_frame, _) = encode(30, &frames, rows, cols);
    assert_eq!(plain_stream, frame_by_frame);
    let (stream, ahead) = encode_ahead(16, 100, &frames, rows, cols);
    // the corner, which the next frame replaces, is coded coarser than what later frames copy
    let (before, after) = (ratio(&plain), ratio(&ahead));
    // (measured: 0.53 without, 0.79 with)
    assert!(
        after > 1.25 * before,
        "corner/still error ratio {before:.2} without, {after:.2} with"
    );
    // the stream is an ordinary one: decoders hold the encoder's states
    let decoded = decode(&stream);
    assert_eq!(decoded.len(), ahead.len());
    for (f, p) in decoded.iter().zip(&ahead) {
        assert_eq!(*f.state, p.state);
    }
    // windows end before each planned keyframe: keyframes stay every fifth frame
    let (_, short) = encode_ahead(16, 5, &frames, rows, cols);
    let keys: Vec<u32> = short
        .iter()
        .filter(|p| p.kind == FrameKind::Key)
        .map(|p| p.pts)
        .collect();
    assert_eq!(keys, vec![0, 5, 10, 15]);
    // every frame a keyframe: windows of one frame, coded as without a lookahead
    assert_eq!(
        encode_ahead(16, 1, &frames, rows, cols).0,
        encode_ahead(0, 1, &frames, rows, cols).0
    );
}

/// Adaptive quantisation reads the activity maps it is given: none, a uniform map (every factor
/// 1) and `aq` 0 all code the same stream; an uneven map changes the choices; maps of the wrong
/// count or size are refused before anything is coded.
#[test]
fn activity_maps_steer_aq_and_are_checked() {
    let (rows, cols) = (6, 8);
    let mut r = noise(11);
    let frames: Vec<Vec<f32>> = (0..4)
        .map(|_| (0..rows * cols * DIM).map(|_| r()).collect())
        .collect();
    let run = |aq: f64, activity: Option<&[Vec<f32>]>| {
        let config = EncoderConfig {
            aq,
            ..config(rows, cols, 30, 100)
        };
        let mut enc = encoder(books(), config);
        enc.encode_analysed(&frames, activity, false)
            .map(|p| p.into_iter().flat_map(|p| p.data).collect::<Vec<u8>>())
    };
    let plain = run(0.5, None).unwrap();
    let uniform = vec![vec![40.0; rows * cols]; frames.len()];
    assert_eq!(run(0.5, Some(&uniform)).unwrap(), plain);
    let uneven: Vec<Vec<f32>> = (0..frames.len())
        .map(|_| {
            (0..rows * cols)
                .map(|p| if p % 2 == 0 { 2.0 } else { 900.0 })
                .collect()
        })
        .collect();
    assert_eq!(run(0.0, Some(&uneven)).unwrap(), plain);
    assert_ne!(run(0.5, Some(&uneven)).unwrap(), plain);
    let short = vec![vec![1.0; rows * cols - 1]; frames.len()];
    assert!(matches!(
        run(0.5, Some(&short)),
        Err(vqc::ConfigError::Option(_))
    ));
    assert!(matches!(
        run(0.5, Some(&uneven[..3])),
        Err(vqc::ConfigError::Option(_))
    ));
    let too_strong = EncoderConfig {
        aq: 1.5,
        ..config(rows, cols, 30, 100)
    };
    assert!(Encoder::new(too_strong, &model(), books()).is_err());
}
