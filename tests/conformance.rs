//! Conformance vectors (`tests/conformance/`): small `.vqc` files whose decoding is pinned, as
//! image-png pins pngsuite's output. Each `NAME.vqc` has `NAME.txt`: per chunk its kind, pts and
//! the CRC32 of its decoded indices and modes (or the error that cost it), then per decoded frame
//! the CRC32 of its reconstructed latent and of its pixels; and `NAME.rgb`: the decoded frames
//! themselves (8-bit RGB, one after another).
//!
//! * The indices, modes and latents are the bitstream's contract: they must match exactly, on
//!   every machine (the format crate checks the symbols again without the model,
//!   `crates/vqc/tests/conformance.rs`).
//! * Pixels come from floating point (the decoder network on the CPU backend): they must stay
//!   within ±1 of the pinned frames; an exact CRC mismatch alone is printed, not failed, so that
//!   another CPU's rounding cannot fail CI while a real change of the decoder still does.
//!
//! A change of the format or the decoder must re-pin them on purpose:
//! `VQC_CONFORMANCE_WRITE=1 cargo test --release --workspace --test conformance`.

use vqcodec::pipeline::{Decoder, Encoder};
use vqcodec::vqc::bench::{describe_symbols, latent_crc};
use vqcodec::vqc::{CodebookPatch, EncoderConfig, Limits, RateControl, layout};
use vqcodec::{Backend, Engine, Frame, ModelKind, Weights, block_on};

mod common;

const DIR: &str = "tests/conformance";

/// The vectors: name, what they exercise.
const VECTORS: [(&str, &str); 7] = [
    (
        "key-delta",
        "lite, 64x48, 6 frames of carphone, quality 80, keyframe every 3: key and delta frames, copies and inter residuals",
    ),
    (
        "fidelity",
        "lite, 64x48, the same frames at quality 90, keyframe every 3: the enhancement's coefficients in key and delta frames",
    ),
    (
        "bitrate",
        "lite, 64x48, the same frames at a 40 kbit/s target: rate control's quality steps and depths",
    ),
    (
        "codebook",
        "lite, 64x48, the same frames with an adapted codebook (levels 0-1) in the header",
    ),
    (
        "pan",
        "lite, 64x48, a window panning 16 pixels a frame over the same frames, quality 80, keyframe every 3: far motions",
    ),
    (
        "slices",
        "key-delta coded in 3 slices of 2 latent rows each: every slice with its own models and coder, the slices' lengths before them",
    ),
    (
        "damaged",
        "key-delta with one flipped bit in chunk 1's payload: its CRC fails, the delta after it waits, the keyframe resumes",
    ),
];

/// The 64×48 crop (the face) of the checked-in carphone frames.
fn frames() -> Vec<Frame> {
    crops(|_| 56)
}

/// 64×48 crops of the checked-in carphone frames at 40 pixels down and `x0(t)` across.
fn crops(x0: impl Fn(usize) -> usize) -> Vec<Frame> {
    common::clip("tests/data/carphone_6f.y4m")
        .iter()
        .enumerate()
        .map(|(t, f)| {
            let (x0, y0, w, h) = (x0(t), 40, 64, 48);
            let rgb = (y0..y0 + h)
                .flat_map(|y| {
                    let at = (y * f.width() + x0) * 3;
                    f.rgb()[at..at + w * 3].to_vec()
                })
                .collect();
            Frame::from_rgb(w, h, rgb).unwrap()
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new(
        &Weights::embedded(ModelKind::Lite),
        Backend::cpu("conformance"),
    )
    .unwrap()
}

/// Encodes a vector's stream from the frames (only when re-pinning).
fn encode(name: &str, engine: &Engine, frames: &[Frame]) -> Vec<u8> {
    let base = EncoderConfig {
        keyint: 3,
        frame_count: frames.len() as u32,
        ..EncoderConfig::new(64, 48)
    };
    let config = match name {
        "key-delta" | "damaged" | "pan" => base,
        "slices" => EncoderConfig { slices: 3, ..base },
        "fidelity" => EncoderConfig {
            rate: RateControl::Quality(90),
            ..base
        },
        "bitrate" => EncoderConfig {
            rate: RateControl::Bitrate(40.0),
            ..base
        },
        "codebook" => {
            let analysis =
                block_on(vqcodec::pipeline::Analyser::new(engine, 64, 48).analyse(frames)).unwrap();
            let (patch, _): (CodebookPatch, _) = block_on(vqcodec::adapt::learn(
                engine,
                analysis.latents(),
                // levels 0-1 as pinned (the default refits level 0 only)
                &vqcodec::adapt::AdaptOptions {
                    levels: vec![0, 1],
                    ..vqcodec::adapt::AdaptOptions::default()
                },
                |_| true,
            ))
            .unwrap();
            EncoderConfig {
                codebook: Some(patch),
                ..base
            }
        }
        other => panic!("unknown vector {other}"),
    };
    let mut enc = block_on(Encoder::new(engine, config)).unwrap();
    let mut bytes = enc.header_bytes();
    for p in block_on(enc.encode(frames, false)).unwrap() {
        bytes.extend_from_slice(&p.data);
    }
    if name == "damaged" {
        let spans = layout(&bytes, Limits::default()).unwrap().chunks;
        let at = spans[1].end - 3;
        bytes[at] ^= 0x08;
    }
    bytes
}

/// The pinned text of a stream: its chunks' symbols (the format crate's own description, which
/// `crates/vqc/tests/conformance.rs` checks without the model), then its frames' CRCs; and the
/// frames, decoded chunk by chunk through the pipeline's decoder (as the browser decodes).
fn describe(bytes: &[u8], engine: &Engine) -> (String, Vec<Frame>) {
    let mut text = describe_symbols(bytes).unwrap();
    let l = layout(bytes, Limits::default()).unwrap();
    let mut dec = Decoder::new(engine, &bytes[..l.header_len], Limits::default()).unwrap();
    let mut frames = Vec::new();
    for span in &l.chunks {
        if let Ok(f) = block_on(dec.decode(&bytes[span.start..span.end])) {
            // the reconstructed latent is integer work: pinned exactly, on every machine
            text += &format!("latent pts {} crc {:08x}\n", f.pts, latent_crc(&f.state));
            text += &format!(
                "frame pts {} rgb {:08x}\n",
                f.pts,
                crc32fast::hash(f.frame.rgb())
            );
            frames.push(f.frame);
        }
    }
    (text, frames)
}

#[test]
fn vectors_decode_to_their_pinned_symbols_and_frames() {
    let engine = engine();
    let write = std::env::var_os("VQC_CONFORMANCE_WRITE").is_some();
    if write {
        for (name, what) in VECTORS {
            let frames = match name {
                // the window moves right: the picture in it moves 16 pixels (2 positions) left
                "pan" => crops(|t| 8 + 16 * t),
                _ => frames(),
            };
            let bytes = encode(name, &engine, &frames);
            let (text, decoded) = describe(&bytes, &engine);
            std::fs::write(format!("{DIR}/{name}.vqc"), &bytes).unwrap();
            std::fs::write(format!("{DIR}/{name}.txt"), format!("# {what}\n{text}")).unwrap();
            let rgb: Vec<u8> = decoded.iter().flat_map(|f| f.rgb().to_vec()).collect();
            std::fs::write(format!("{DIR}/{name}.rgb"), rgb).unwrap();
            eprintln!("re-pinned {name}: {} bytes", bytes.len());
        }
    }
    for (name, _) in VECTORS {
        let bytes = std::fs::read(format!("{DIR}/{name}.vqc")).unwrap();
        let pinned = std::fs::read_to_string(format!("{DIR}/{name}.txt")).unwrap();
        let pinned_rgb = std::fs::read(format!("{DIR}/{name}.rgb")).unwrap();
        let (text, decoded) = describe(&bytes, &engine);
        let lines = |t: &str, frames: bool| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#') && l.starts_with("frame ") == frames)
                .map(str::to_string)
                .collect()
        };
        // the symbols (and errors) exactly
        assert_eq!(
            lines(&text, false),
            lines(&pinned, false),
            "{name}: symbols"
        );
        // the frames within ±1 of the pinned ones
        let rgb: Vec<u8> = decoded.iter().flat_map(|f| f.rgb().to_vec()).collect();
        assert_eq!(rgb.len(), pinned_rgb.len(), "{name}: decoded frame count");
        let worst = rgb
            .iter()
            .zip(&pinned_rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(
            worst <= 1,
            "{name}: a pixel differs by {worst} from the pinned frames"
        );
        if lines(&text, true) != lines(&pinned, true) {
            eprintln!("{name}: frames within ±1 of the pinned ones, but not bit-exact on this CPU");
        }
    }
}
