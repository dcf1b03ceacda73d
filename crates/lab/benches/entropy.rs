//! Entropy coder throughput on real symbols: a clip is encoded once (network on the CPU),
//! then its frames' symbols are entropy-coded and decoded again and again.
//!
//! `cargo bench -p vqcodec-lab --bench entropy -- [CLIP.y4m] [FRAMES] [QUALITY] [KEYINT] [MODEL] [SLICES]`
//! (default: data/y4m/coinpen.y4m if fetched, else the checked-in carphone clip; 60; 80; 60;
//! base; 0, the encoder's default for the size; paths from the workspace root).
//! KEYINT 1 makes every frame a keyframe: every symbol an index, the coder's slowest case.

use std::time::Instant;

use vqc::bench::{Contexts, decode_frame, symbol_count, write_frame};
use vqcodec::pipeline::{Decoder, Encoder};
use vqcodec::vqc::{Chunk, EncoderConfig, FrameKind, Limits, RateControl, TokenState};
use vqcodec::y4m_io::{Y4mReader, open_input};
use vqcodec::{Backend, Engine, Frame, ModelKind, Weights, block_on};

fn read_clip(path: &str, max: usize) -> (Vec<Frame>, (u32, u32)) {
    let mut r =
        Y4mReader::new(open_input(path.as_ref()).expect("a clip"), path).expect("a y4m clip");
    let mut frames = Vec::new();
    while frames.len() < max {
        match r.next_frame().expect("a frame") {
            Some(f) => frames.push(f.rgb),
            None => break,
        }
    }
    (frames, (r.framerate.num as u32, r.framerate.den as u32))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // cargo runs benchmarks in the package's folder: paths are the workspace root's
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .expect("the workspace");
    let clip = args.first().cloned().unwrap_or_else(|| {
        if std::path::Path::new("data/y4m/coinpen.y4m").exists() {
            "data/y4m/coinpen.y4m".into()
        } else {
            "tests/data/carphone_6f.y4m".into()
        }
    });
    let max: usize = args.get(1).map_or(60, |s| s.parse().expect("frames"));
    let quality: u8 = args.get(2).map_or(80, |s| s.parse().expect("quality"));
    let keyint: u32 = args.get(3).map_or(60, |s| s.parse().expect("keyint"));
    let (frames, (num, den)) = read_clip(&clip, max);
    let (w, h) = (frames[0].width(), frames[0].height());
    let model = match args.get(4).map(String::as_str) {
        None | Some("base") => ModelKind::Base,
        Some("lite") => ModelKind::Lite,
        Some(m) => panic!("model {m}: base or lite"),
    };
    let slices: u8 = args.get(5).map_or(0, |s| s.parse().expect("slices"));
    let engine = Engine::new(&Weights::embedded(model), Backend::cpu("bench")).unwrap();
    let cfg = EncoderConfig {
        fps_num: num.max(1),
        fps_den: den.max(1),
        rate: RateControl::Quality(quality),
        keyint,
        slices,
        ..EncoderConfig::new(w as u32, h as u32)
    };
    let mut enc = block_on(Encoder::new(&engine, cfg)).unwrap();
    let analyser = enc.analyser();
    // the models the stream's frames are coded with (the shipped weights carry fine motion)
    let header = enc.header().clone();
    let fine = header.fine_motion;
    let fresh = || Contexts::for_header(&header);
    let mut coded: Vec<(FrameKind, TokenState, Vec<u8>)> = Vec::new();
    // the chunks as a stream decoder reads them
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut t_decide = 0f64;
    for chunk in frames.chunks(8) {
        let analysis = block_on(analyser.analyse(chunk)).unwrap();
        let t = Instant::now();
        let packets = enc.code(&analysis, false).unwrap();
        t_decide += t.elapsed().as_secs_f64();
        for p in packets {
            let (c, _) = Chunk::parse(&p.data, 0, &header, &Limits::default()).unwrap();
            let payload = c.payload.to_vec();
            chunks.push(p.data.clone());
            coded.push((p.kind, p.state, payload));
        }
    }
    // symbols per pass, and a check that write_frame reproduces the encoder's payloads
    let mut symbols = 0usize;
    let mut ctx = fresh();
    for (kind, state, payload) in &coded {
        if *kind == FrameKind::Key {
            ctx = fresh();
        }
        symbols += symbol_count(state, *kind, fine, header.slices.into());
        assert_eq!(
            &write_frame(state, *kind, &mut ctx),
            payload,
            "write_frame differs"
        );
    }
    let bytes: usize = coded.iter().map(|c| c.2.len()).sum();
    let reps = (20_000_000 / symbols.max(1)).clamp(3, 2000);
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    let t_enc = time(&mut || {
        let mut ctx = fresh();
        for (kind, state, _) in &coded {
            if *kind == FrameKind::Key {
                ctx = fresh();
            }
            std::hint::black_box(write_frame(state, *kind, &mut ctx));
        }
    });
    let t_dec = time(&mut || {
        let mut ctx = fresh();
        for (kind, state, payload) in &coded {
            if *kind == FrameKind::Key {
                ctx = fresh();
            }
            let s = decode_frame(
                payload,
                *kind,
                (state.coded, state.step),
                (3, state.height, state.width),
                128,
                &mut ctx,
            )
            .expect("decodes");
            std::hint::black_box(s);
        }
    });
    // what a stream decoder does per chunk before its network (`Decoder::symbols`: the
    // chunk's CRC and header, the symbols, the latent reconstructed from the codebooks in
    // integers) and the latent handed to the network as f32 (`TokenState::latent_f32`)
    let header_bytes = enc.header_bytes();
    let (mut t_symbols, mut t_f32) = (0f64, 0f64);
    for _ in 0..reps.min(20) {
        let mut dec = Decoder::new(&engine, &header_bytes, Limits::default()).unwrap();
        for c in &chunks {
            let t = Instant::now();
            let s = dec.symbols(c).expect("decodes");
            t_symbols += t.elapsed().as_secs_f64();
            let t = Instant::now();
            std::hint::black_box(s.state.latent_f32());
            t_f32 += t.elapsed().as_secs_f64();
        }
    }
    let per_frame = |t: f64| t * 1e3 / (reps.min(20) * chunks.len()) as f64;
    // of which the format crate's decoder: symbols and the latent, without the copy the
    // stream decoder hands on
    let mut t_vqc = 0f64;
    for _ in 0..reps.min(20) {
        let mut dec = vqcodec::vqc::Decoder::new(&header, None)
            .unwrap()
            .with_codebooks(engine.codebooks())
            .unwrap();
        for c in &chunks {
            let (chunk, _) = Chunk::parse(c, 0, &header, &Limits::default()).unwrap();
            let t = Instant::now();
            std::hint::black_box(dec.decode(&chunk).expect("decodes"));
            t_vqc += t.elapsed().as_secs_f64();
        }
    }
    println!(
        "{clip}: {} frames {w}x{h}, quality {quality}, keyint {keyint}, {} slices: {symbols} symbols in {bytes} payload bytes ({:.3} bits/symbol)",
        coded.len(),
        header.slices,
        bytes as f64 * 8.0 / symbols as f64
    );
    println!(
        "entropy encode {:.1} M symbols/s ({:.2} ms/frame) | decode {:.1} M symbols/s ({:.2} ms/frame) | encoder decisions (RVQ search + coding) {:.2} ms/frame",
        symbols as f64 / t_enc / 1e6,
        t_enc * 1e3 / coded.len() as f64,
        symbols as f64 / t_dec / 1e6,
        t_dec * 1e3 / coded.len() as f64,
        t_decide * 1e3 / coded.len() as f64
    );
    println!(
        "a stream decoder's whole symbols path (Decoder::symbols: chunk, symbols, latent) {:.2} ms/frame (of which vqc::Decoder::decode: symbols and latent {:.2}), then the latent as f32 {:.2} ms/frame",
        per_frame(t_symbols),
        per_frame(t_vqc),
        per_frame(t_f32)
    );
}
