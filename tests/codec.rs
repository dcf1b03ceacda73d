//! The `.vqc` stream on a real clip: round trip, determinism, backends, damage, cuts and
//! hostile headers.

use std::time::Duration;

use vqcodec::pipeline::{
    Decoder, Encoded, Encoder, Overlap, Reconstruct, Search, SliceReader, StreamReader,
    encode_ordered, render_ordered,
};
use vqcodec::vqc::{
    self as vqc, DecodedFrame, EncoderConfig, FIRST_FINE, FrameKind, HEADER_LEN, Header, Limits,
    Packet, RateControl, StreamDecoder, StreamError,
};
use vqcodec::{
    Backend, BackendRequest, Engine, Error, Frame, ModelKind, Weights, block_on, psnr_rgb,
};

mod common;

fn engine(backend: Backend) -> Engine {
    Engine::new(&Weights::embedded(ModelKind::Base), backend).unwrap()
}

fn clip() -> Vec<Frame> {
    common::clip("tests/data/carphone_6f.y4m")
}

fn config(frames: &[Frame], rate: RateControl, keyint: u32) -> EncoderConfig {
    EncoderConfig {
        rate,
        keyint,
        frame_count: frames.len() as u32,
        ..EncoderConfig::new(frames[0].width() as u32, frames[0].height() as u32)
    }
}

/// Encodes `frames` through the pipeline (one network pass); returns the stream and the
/// packets.
fn encode(engine: &Engine, frames: &[Frame], cfg: EncoderConfig) -> (Vec<u8>, Vec<Packet>) {
    encode_with(engine, frames, cfg, Search::Host)
}

/// Mean PSNR-RGB of decoded frames against the source frames they came from.
fn mean_psnr(out: &[Frame], frames: &[Frame]) -> f64 {
    out.iter()
        .zip(frames)
        .map(|(x, y)| psnr_rgb(x, y))
        .sum::<f64>()
        / out.len() as f64
}

/// Decodes a whole stream with `engine`'s codebooks (the states hold their latents).
fn decode_all(engine: &Engine, bytes: &[u8]) -> (Vec<DecodedFrame>, Vec<StreamError>) {
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    match StreamDecoder::new(bytes, Limits::default(), None)
        .and_then(|s| s.with_codebooks(engine.codebooks()))
    {
        Ok(s) => {
            for item in s {
                match item {
                    Ok(f) => ok.push(f),
                    Err(e) => errors.push(e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    (ok, errors)
}

fn pixels(engine: &Engine, frames: &[DecodedFrame], w: usize, h: usize) -> Vec<Frame> {
    frames
        .iter()
        .map(|f| {
            block_on(engine.decode_latents(&[&f.state.latent_f32()], w, h))
                .unwrap()
                .remove(0)
        })
        .collect()
}

#[test]
fn round_trip_gives_the_encoders_indices_and_identical_bytes_twice() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(80), 60));
    let (decoded, errors) = decode_all(&e, &stream);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(decoded.len(), frames.len());
    for (d, p) in decoded.iter().zip(&packets) {
        assert_eq!(*d.state, p.state, "frame {}", p.pts);
        assert_eq!(d.kind, p.kind);
        assert_eq!(d.bytes, p.data.len());
    }
    assert_eq!(packets[0].kind, FrameKind::Key);
    assert!(packets[1..].iter().any(|p| p.kind == FrameKind::Delta));
    // the real rate is far below the raw token rate, at nearly the quality of plain RVQ
    let bpp = stream.len() as f64 * 8.0 / (w * h * frames.len()) as f64;
    let raw = e.config().raw_bpp(e.config().levels);
    assert!(bpp < raw * 0.7, "{bpp} bpp vs raw {raw}");
    let out = pixels(&e, &decoded, w, h);
    let plain = block_on(e.roundtrip(&frames, None)).unwrap().frames;
    let mean = |a: &[Frame]| mean_psnr(a, &frames);
    let (coded, reference) = (mean(&out), mean(&plain));
    assert!(
        coded > reference - 0.3,
        "{coded:.2} dB vs plain RVQ {reference:.2} dB"
    );
    // determinism: the same stream twice, the same pixels twice
    let (again, _) = encode(&e, &frames, config(&frames, RateControl::Quality(80), 60));
    assert_eq!(again, stream);
    let out2 = pixels(&e, &decode_all(&e, &stream).0, w, h);
    for (a, b) in out.iter().zip(&out2) {
        assert_eq!(a.rgb(), b.rgb());
    }
}

#[test]
fn quality_steps_and_bitrate_targets_order_size_and_quality() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let mut last: Option<(usize, f64)> = None;
    for q in [10u8, 40, 80, 100] {
        let (stream, _) = encode(&e, &frames, config(&frames, RateControl::Quality(q), 60));
        let out = pixels(&e, &decode_all(&e, &stream).0, w, h);
        let psnr = mean_psnr(&out, &frames);
        if let Some((size, p)) = last {
            assert!(stream.len() > size, "quality {q}: {} bytes", stream.len());
            assert!(psnr >= p - 0.05, "quality {q}: {psnr:.2} dB after {p:.2}");
        }
        last = Some((stream.len(), psnr));
    }
    // at a low quality the encoder ends positions before the last level (stop flags), and the
    // decoder reads back exactly those states; at quality 100 every position that codes
    // anything codes down to the last level (keyframes: every level)
    for (q, ends_early) in [(10u8, true), (100, false)] {
        let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(q), 60));
        let levels = packets[0].stats.levels;
        let to_the_end = |s: &vqcodec::vqc::TokenState| {
            let n = s.height * s.width;
            (0..n).all(|p| {
                s.mode[p] == vqcodec::vqc::Mode::Copy
                    || s.idx[(s.coded - 1) * n + p] != vqcodec::vqc::NONE
            })
        };
        assert_eq!(
            packets.iter().all(|p| to_the_end(&p.state)),
            !ends_early,
            "quality {q}"
        );
        assert_eq!(
            (packets[0].stats.depth - levels as f64).abs() < 1e-9,
            !ends_early,
            "quality {q}: keyframe depth {} of {levels}",
            packets[0].stats.depth
        );
        let (decoded, errors) = decode_all(&e, &stream);
        assert!(errors.is_empty(), "{errors:?}");
        for (d, p) in decoded.iter().zip(&packets) {
            assert_eq!(*d.state, p.state, "quality {q} frame {}", p.pts);
        }
    }
    // bitrate mode: a lower target gives a smaller stream, and the achieved rate is near it
    let fps = 30.0;
    let mut sizes = Vec::new();
    for kbps in [20.0, 60.0] {
        let (stream, _) = encode(&e, &frames, config(&frames, RateControl::Bitrate(kbps), 60));
        let achieved =
            (stream.len() - HEADER_LEN) as f64 * 8.0 * fps / frames.len() as f64 / 1000.0;
        assert!(
            achieved < kbps * 1.6,
            "target {kbps} kbit/s, achieved {achieved:.1}"
        );
        sizes.push(stream.len());
    }
    assert!(sizes[0] < sizes[1], "{sizes:?}");
}

/// A whole 60-frame GOP (the default keyframe interval), every delta frame predicted from the
/// previous one's latent: every backend decodes the stream to the encoder's states (latents
/// included), the frames of two backends agree within ±1 at the end of the GOP, and the last
/// frame is as good as the first delta frame — prediction reads integers, so nothing drifts.
#[test]
fn a_60_frame_gop_decodes_alike_on_every_backend_without_drift() {
    let cpu = engine(Backend::cpu("test"));
    let six = clip();
    // 60 frames: the clip forwards and back, so the motion goes both ways
    let frames: Vec<Frame> = (0..60)
        .map(|i| six[[0, 1, 2, 3, 4, 5, 4, 3, 2, 1][i % 10]].clone())
        .collect();
    let (stream, packets) = encode(&cpu, &frames, config(&frames, RateControl::Quality(60), 60));
    assert_eq!(
        packets.iter().filter(|p| p.kind == FrameKind::Key).count(),
        1,
        "one keyframe, 59 delta frames"
    );
    // the shipped model carries fine-motion maps, and a moving clip uses them: the decoders
    // below must predict through the maps' integer arithmetic alike
    let fine: usize = packets
        .iter()
        .map(|p| p.state.motion.iter().filter(|&&m| m >= FIRST_FINE).count())
        .sum();
    assert!(fine > 0, "no position used fine motion");
    let mut decoders = vec![("cpu", cpu)];
    match Backend::select(BackendRequest::Gpu) {
        Ok(b) => decoders.push(("wgpu", engine(b))),
        Err(e) => eprintln!("no GPU adapter here ({e}); decoding on the CPU only"),
    }
    let mut last = Vec::new();
    for (name, e) in &decoders {
        let reader = vqcodec::pipeline::StreamReader::new(e, &stream, Limits::default()).unwrap();
        let renderer = reader.renderer();
        let mut psnr = Vec::new();
        let mut frame = None;
        for ((f, p), src) in reader.zip(&packets).zip(&frames) {
            let f = f.unwrap();
            assert_eq!(*f.state, p.state, "{name} frame {}", p.pts);
            let out = block_on(renderer.frame(&f.state)).unwrap();
            // what the browser's decoder draws: the same pixels, as RGBA read back at once
            assert_eq!(
                block_on(renderer.frame_rgba(&f.state))
                    .unwrap()
                    .frame(0)
                    .unwrap(),
                out.to_rgba(),
                "{name} frame {} as RGBA",
                p.pts
            );
            psnr.push(psnr_rgb(&out, src));
            frame = Some(out);
        }
        assert!(
            psnr[59] >= psnr[1] - 1.0,
            "{name}: frame 59 at {:.2} dB after frame 1 at {:.2}",
            psnr[59],
            psnr[1]
        );
        last.push(frame.unwrap());
    }
    for (i, f) in last.iter().enumerate().skip(1) {
        let worst = f
            .rgb()
            .iter()
            .zip(last[0].rgb())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        eprintln!(
            "frame 59 on {} against the CPU: max |diff| {worst}",
            decoders[i].0
        );
        assert!(worst <= 1, "{}: {worst}", decoders[i].0);
    }
}

#[test]
fn streams_from_the_gpu_and_the_cpu_decode_to_the_symbols_their_encoders_chose() {
    let cpu = engine(Backend::cpu("test"));
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let mut encoders = vec![("cpu", cpu)];
    match Backend::select(BackendRequest::Gpu) {
        Ok(b) => encoders.push(("wgpu", engine(b))),
        Err(e) => eprintln!("no GPU adapter here ({e}); checking the CPU stream only"),
    }
    let decoder = engine(Backend::cpu("decoder"));
    // the default, and a high-fidelity step: the enhancement's coefficients too
    for q in [vqc::DEFAULT_QUALITY, 90] {
        let mut quality = Vec::new();
        for (name, enc) in &encoders {
            let (stream, packets) =
                encode(enc, &frames, config(&frames, RateControl::Quality(q), 3));
            let coefficients = packets.iter().filter(|p| p.state.step > 0).count();
            assert_eq!(
                coefficients > 0,
                q > vqc::DEFAULT_QUALITY,
                "{name}, quality {q}"
            );
            let (decoded, errors) = decode_all(&decoder, &stream);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            for (d, p) in decoded.iter().zip(&packets) {
                assert_eq!(*d.state, p.state, "{name} quality {q} frame {}", p.pts);
            }
            let out = pixels(&decoder, &decoded, w, h);
            // the fixed-point latents as the browser's and `vqcodec decode`'s decoders render
            // them (the stream decoder's state, whose empty enhancement is left out of the
            // upload; a latent alone, looked at first): the very same frames. At the default
            // every frame's enhancement is empty, at 90 a frame with coefficients' is not
            let (d, e) = (decoder.config().code_dim, decoder.config().enhance_dims);
            let mut dec = Decoder::new(&decoder, &stream, Limits::default()).unwrap();
            let mut enhanced = 0;
            for (p, want) in packets.iter().zip(&out) {
                let s = dec.symbols(&p.data).unwrap();
                let got = block_on(dec.renderer().frame(&s.state)).unwrap();
                assert_eq!(got, *want, "{name} quality {q} frame {}", p.pts);
                // known empty: all of them at the default, none that coded coefficients
                let empty = s.state.zero_tail == e;
                assert!(s.state.zero_tail == 0 || empty);
                if q <= vqc::DEFAULT_QUALITY || s.state.step > 0 {
                    assert_eq!(
                        empty,
                        q <= vqc::DEFAULT_QUALITY,
                        "{name} quality {q} frame {}",
                        p.pts
                    );
                }
                let z = &s.state.latent;
                let nonzero = z
                    .chunks_exact(d)
                    .any(|v| v[d - e..].iter().any(|&v| v != 0));
                assert!(!(nonzero && empty), "{name} quality {q} frame {}", p.pts);
                enhanced += usize::from(nonzero);
                let got = block_on(decoder.decode_fixed(&[z], w, h)).unwrap();
                assert_eq!(got[0], *want, "{name} quality {q} frame {}", p.pts);
                // what a worker hands to another for rendering: the networks' values alone
                // where the enhancement is empty, the whole latent elsewhere; the same frame
                let handed = dec.renderer().latent(&s.state);
                let per = if empty { d - e } else { d };
                assert_eq!(handed.len(), z.len() / d * per, "{name} quality {q}");
                let got = block_on(decoder.decode_fixed(&[&handed], w, h)).unwrap();
                assert_eq!(got[0], *want, "{name} quality {q} frame {}", p.pts);
            }
            assert_eq!(enhanced > 0, q > vqc::DEFAULT_QUALITY, "{name} quality {q}");
            quality.push(mean_psnr(&out, &frames));
        }
        eprintln!(
            "quality {q}: mean PSNR-RGB decoded on the CPU: {:?} for streams encoded on {:?}",
            quality,
            encoders.iter().map(|e| e.0).collect::<Vec<_>>()
        );
        // float differences between backends move the encoder's choices a little, never much
        if quality.len() == 2 {
            assert!((quality[0] - quality[1]).abs() < 0.3, "{quality:?}");
        }
    }
}

/// Encodes `frames` with the choices made where `search` says; the stream and the packets.
fn encode_with(
    engine: &Engine,
    frames: &[Frame],
    cfg: EncoderConfig,
    search: Search,
) -> (Vec<u8>, Vec<Packet>) {
    let mut enc = block_on(Encoder::new(engine, cfg)).unwrap();
    let mut stream = enc.header_bytes();
    let analysis = block_on(enc.analyser().analyse(frames)).unwrap();
    let packets = block_on(enc.code_with(&analysis, false, search)).unwrap();
    for p in &packets {
        stream.extend_from_slice(&p.data);
    }
    (stream, packets)
}

#[test]
fn the_device_search_makes_streams_any_decoder_reads_near_the_hosts_size_and_quality() {
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let decoder = engine(Backend::cpu("decoder"));
    let cfg = config(&frames, RateControl::Quality(80), 4);
    let (host, _) = encode_with(&decoder, &frames, cfg.clone(), Search::Host);
    let (decoded, errors) = decode_all(&decoder, &host);
    assert!(errors.is_empty(), "{errors:?}");
    let host_psnr = mean_psnr(&pixels(&decoder, &decoded, w, h), &frames);
    let mut searches = vec![("cpu", engine(Backend::cpu("test")))];
    match Backend::select(BackendRequest::Gpu) {
        Ok(b) => searches.push(("wgpu", engine(b))),
        Err(e) => eprintln!("no GPU adapter here ({e}); the search on the CPU backend only"),
    }
    let mut keyframes = Vec::new();
    let mut results = Vec::new();
    for (name, enc) in &searches {
        let (stream, packets) = encode_with(enc, &frames, cfg.clone(), Search::Device);
        let (decoded, errors) = decode_all(&decoder, &stream);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(decoded.len(), frames.len(), "{name}");
        for (d, p) in decoded.iter().zip(&packets) {
            assert_eq!(*d.state, p.state, "{name} frame {}", p.pts);
        }
        // the delta frames predict: most positions copy or code a residual
        for p in packets.iter().filter(|p| p.kind == FrameKind::Delta) {
            assert!(
                p.stats.copied + p.stats.inter > 0.5,
                "{name} frame {}: {:?}",
                p.pts,
                p.stats
            );
        }
        let psnr = mean_psnr(&pixels(&decoder, &decoded, w, h), &frames);
        eprintln!(
            "search on {name}: {} bytes, {psnr:.2} dB; the host's {} bytes, {host_psnr:.2} dB",
            stream.len(),
            host.len()
        );
        // measured on this clip (base, quality 80): within 2% of the size and 0.1 dB
        let ratio = stream.len() as f64 / host.len() as f64;
        keyframes.push(packets[0].state.clone());
        results.push((name, ratio, psnr));
    }
    // the same keyframe searched on the GPU and the CPU: the same choices but for float ties
    if let [cpu, gpu] = &keyframes[..] {
        let same = cpu.idx.iter().zip(&gpu.idx).filter(|(a, b)| a == b).count();
        let share = same as f64 / cpu.idx.len() as f64;
        eprintln!(
            "keyframe indices the GPU and CPU searches agree on: {:.2}%",
            share * 100.0
        );
        let depth = |s: &vqc::TokenState| s.idx.iter().filter(|&&v| v != vqc::NONE).count();
        eprintln!("coded indices: cpu {}, gpu {}", depth(cpu), depth(gpu));
        assert!(share > 0.98, "{share}");
    }
    for (name, ratio, psnr) in results {
        assert!((0.8..1.25).contains(&ratio), "{name}: {ratio}");
        assert!(psnr > host_psnr - 0.5, "{name}: {psnr} against {host_psnr}");
    }
}

/// On a GPU the search on the device is kernels of our own (src/search_kernel.rs); they must
/// choose what the search chooses on the CPU backend (burn tensor operations) — the candidate,
/// the depth and every index it codes — at every position of a keyframe and the delta frames
/// that follow, at a quality that drops levels (5), one that picks depths by RD (55) and the
/// default (80), but where two costs tie to float rounding. (The same operations on burn-wgpu
/// did not: 1.5% of the delta frames' positions at quality 55 on lavapipe chose another start
/// level than on the CPU; the kernel agreed with the CPU at every one.) Needs a GPU adapter
/// (lavapipe will do); without one it says so and checks nothing.
#[test]
fn the_search_kernel_on_the_gpu_chooses_what_the_search_on_the_cpu_chooses() {
    let gpu = match Backend::select(BackendRequest::Gpu) {
        Ok(b) => engine(b),
        Err(e) => return eprintln!("no GPU adapter here ({e}); the search kernel not run"),
    };
    let cpu = engine(Backend::cpu("test"));
    let frames = clip();
    for q in [5u8, 55, 80] {
        let cfg = config(&frames, RateControl::Quality(q), 4);
        let mut enc = block_on(Encoder::new(&gpu, cfg.clone())).unwrap();
        let on_cpu = block_on(Encoder::new(&cpu, cfg)).unwrap().searcher();
        let analysis = block_on(enc.analyser().analyse(&frames)).unwrap();
        let searcher = enc.searcher();
        let (mut same, mut positions, mut deltas) = (0usize, 0usize, 0usize);
        for i in 0..analysis.len() {
            let planned = enc.plan(&analysis, i, i == 0).unwrap();
            let kernel = block_on(searcher.search(&planned)).unwrap();
            let want = block_on(on_cpu.search(&planned)).unwrap();
            let n = kernel.candidate.len();
            assert_eq!(n, want.candidate.len(), "quality {q}, frame {i}");
            for p in 0..n {
                let end = usize::from(kernel.end[p]);
                let coded = (0..end).all(|l| kernel.idx[l * n + p] == want.idx[l * n + p]);
                if kernel.candidate[p] == want.candidate[p] && kernel.end[p] == want.end[p] && coded
                {
                    same += 1;
                }
            }
            positions += n;
            let off = (kernel.distortion - want.distortion).abs() / want.distortion.max(1e-9);
            assert!(
                off < 1e-3,
                "quality {q}, frame {i}: distortion {} against {}",
                kernel.distortion,
                want.distortion
            );
            deltas += usize::from(kernel.candidate.iter().any(|&c| c > 0));
            enc.code_searched(&planned, &kernel).unwrap();
        }
        let share = same as f64 / positions as f64;
        eprintln!(
            "quality {q}: the kernel chose as the CPU did at {:.3}% of {positions} positions",
            share * 100.0
        );
        assert!(
            deltas >= 3,
            "quality {q}: {deltas} frames chose anything but intra"
        );
        assert!(share > 0.995, "quality {q}: {share}");
    }
}

#[test]
fn a_search_plan_is_for_one_frame_and_choices_the_format_cannot_code_are_refused() {
    let frames = clip();
    let cpu = engine(Backend::cpu("test"));
    let cfg = config(&frames, RateControl::Quality(80), 4);
    let mut enc = block_on(Encoder::new(&cpu, cfg.clone())).unwrap();
    let analysis = block_on(enc.analyser().analyse(&frames[..2])).unwrap();
    let planned = enc.plan(&analysis, 0, false).unwrap();
    assert_eq!(planned.plan().kind, FrameKind::Key);
    let choice = block_on(enc.searcher().search(&planned)).unwrap();
    let refused = |enc: &mut Encoder, c: &vqc::SearchChoice, plan| {
        matches!(
            enc.code_searched(plan, c),
            Err(vqcodec::Error::Config(vqc::ConfigError::Option(_)))
        )
    };
    let mut bad = choice.clone();
    bad.candidate[0] = 200; // no such candidate
    assert!(refused(&mut enc, &bad, &planned));
    let mut bad = choice.clone();
    bad.end[0] = 9; // deeper than the frame's levels
    assert!(refused(&mut enc, &bad, &planned));
    let mut bad = choice.clone();
    bad.candidate[0] = 1; // a copy in a keyframe
    assert!(refused(&mut enc, &bad, &planned));
    // nothing was coded by those: the frame codes, as the first of the stream
    let first = enc.code_searched(&planned, &choice).unwrap();
    assert_eq!((first.pts, first.kind), (0, FrameKind::Key));
    // the same plan again is for a frame already coded
    assert!(refused(&mut enc, &choice, &planned));
    let next = enc.plan(&analysis, 1, false).unwrap();
    assert_eq!(next.plan().kind, FrameKind::Delta);
    // a bitrate encoder makes no plans: its per-frame search over quality steps is its own
    let rate = block_on(Encoder::new(
        &cpu,
        EncoderConfig {
            rate: RateControl::Bitrate(200.0),
            ..cfg
        },
    ))
    .unwrap();
    assert!(rate.plan(&analysis, 0, false).is_err());
}

/// Chunk start offsets and kinds of a clean stream.
fn chunk_map(packets: &[Packet]) -> Vec<(usize, usize, FrameKind)> {
    let mut at = HEADER_LEN;
    packets
        .iter()
        .map(|p| {
            let start = at;
            at += p.data.len();
            (start, at, p.kind)
        })
        .collect()
}

#[test]
fn a_flipped_bit_costs_its_chunk_and_decoding_resumes_at_the_next_keyframe() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(80), 2));
    let map = chunk_map(&packets);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bit = HEADER_LEN * 8 + (x as usize) % ((stream.len() - HEADER_LEN) * 8);
        let mut bad = stream.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let hit = map
            .iter()
            .position(|&(s, end, _)| (s..end).contains(&(bit / 8)))
            .unwrap();
        let resume = (hit + 1..packets.len())
            .find(|&i| packets[i].kind == FrameKind::Key)
            .unwrap_or(packets.len());
        let (decoded, errors) = decode_all(&e, &bad);
        // reported as a CRC failure, or as an impossible length when the flip hit the length
        assert!(
            errors.iter().any(|e| match e {
                StreamError::ChunkCrc { offset } => *offset as usize == map[hit].0,
                StreamError::LimitExceeded { what, .. } => what.contains(&map[hit].0.to_string()),
                // a length that now runs past the end of the stream
                StreamError::Truncated { offset, .. } => *offset as usize == map[hit].0,
                _ => false,
            }),
            "bit {bit} in chunk {hit}: {errors:?}"
        );
        let got: Vec<u32> = decoded.iter().map(|d| d.pts).collect();
        let want: Vec<u32> = (0..packets.len() as u32)
            .filter(|&i| (i as usize) < hit || i as usize >= resume)
            .collect();
        assert_eq!(got, want, "bit {bit} in chunk {hit}");
        for d in &decoded {
            assert_eq!(*d.state, packets[d.pts as usize].state);
        }
    }
    // the header has its own CRC
    let mut bad = stream.clone();
    bad[30] ^= 4;
    assert_eq!(
        StreamDecoder::new(&bad, Limits::default(), None).unwrap_err(),
        StreamError::HeaderCrc
    );
}

#[test]
fn a_cut_stream_decodes_every_frame_before_the_cut_and_names_it() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(80), 60));
    let map = chunk_map(&packets);
    for cut in (0..=stream.len()).step_by(3).chain(map.iter().map(|m| m.1)) {
        let (decoded, errors) = decode_all(&e, &stream[..cut]);
        let complete = map.iter().filter(|m| m.1 <= cut).count();
        assert_eq!(
            decoded.len(),
            if cut < HEADER_LEN { 0 } else { complete },
            "cut {cut}"
        );
        for d in &decoded {
            assert_eq!(*d.state, packets[d.pts as usize].state);
        }
        let at_boundary = cut == HEADER_LEN || map.iter().any(|m| m.1 == cut);
        if at_boundary {
            assert!(errors.is_empty(), "cut {cut}: {errors:?}");
        } else {
            let offset = if cut < HEADER_LEN {
                cut
            } else {
                map[complete].0
            };
            let frames_before = if cut < HEADER_LEN { 0 } else { complete };
            assert!(
                errors.contains(&StreamError::Truncated {
                    offset: offset as u64,
                    frames: frames_before as u64
                }) || (cut < 8
                    && errors
                        == [StreamError::Truncated {
                            offset: cut as u64,
                            frames: 0
                        }]),
                "cut {cut}: {errors:?}"
            );
        }
    }
}

/// A frame that repeats the last one costs a few bytes: an 8-byte chunk header (one-byte
/// timestamp and length varints) and the copy flags' payload, whose flush leaves out the zeros
/// the decoder infers. (Version 4 spent 16 bytes on the header and 4 on the flush alone.)
#[test]
fn a_repeated_frame_costs_a_few_bytes() {
    let e = engine(Backend::cpu("test"));
    let still: Vec<Frame> = std::iter::repeat_n(clip()[0].clone(), 12).collect();
    let (stream, packets) = encode(&e, &still, config(&still, RateControl::Quality(50), 60));
    assert_eq!(packets[0].kind, FrameKind::Key);
    assert!(packets[1..].iter().all(|p| p.kind == FrameKind::Delta));
    // the first delta frames still refine what the keyframe left; then every position copies
    let positions = packets[0].state.idx.len() / packets[0].state.levels;
    let copying: Vec<&Packet> = packets[1..]
        .iter()
        .filter(|p| p.state.copies() == positions)
        .collect();
    assert!(
        copying.len() >= 8,
        "{} of 11 delta frames copy everything",
        copying.len()
    );
    let sizes: Vec<usize> = copying.iter().map(|p| p.data.len()).collect();
    assert!(sizes.iter().all(|&n| n <= 11), "{sizes:?} bytes");
    let (decoded, errors) = decode_all(&e, &stream);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(decoded.len(), still.len());
    for (d, p) in decoded.iter().zip(&packets) {
        assert_eq!(*d.state, p.state);
        assert_eq!(d.bytes, p.data.len());
    }
}

/// The per-frame bits by syntax element (what `vqcodec encode` reports) account for each chunk's
/// payload, up to the coder's flush, and fall where the frame kind says: keyframes code indices
/// only; delta frames code a mode for every position.
#[test]
fn the_bits_by_syntax_element_add_up_to_each_payload() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(60), 3));
    assert_eq!(packets.len(), frames.len());
    let header = Header::parse(&stream, &Limits::default()).unwrap();
    let mut delta_motion = 0.0;
    for p in &packets {
        let (chunk, _) = vqc::Chunk::parse(&p.data, 0, &header, &Limits::default()).unwrap();
        let payload = chunk.payload.len() as f64;
        let b = p.stats.bits;
        let modelled = b.total() / 8.0;
        // the flush adds up to 4 bytes (fewer when it drops zeros); costs come from a table
        assert!(
            (modelled - payload).abs() <= 5.0 + 0.02 * payload,
            "frame {}: {modelled:.1} bytes modelled, payload {payload}",
            p.pts
        );
        match p.kind {
            FrameKind::Key => {
                assert!(b.index_key > 0.0, "{b:?}");
                assert_eq!(
                    (b.mode, b.motion, b.index_intra, b.index_inter),
                    (0.0, 0.0, 0.0, 0.0)
                );
            }
            FrameKind::Delta => {
                assert_eq!(b.index_key, 0.0);
                // at least the copy flag of every position
                assert!(b.mode > 0.0, "{b:?}");
                delta_motion += b.motion;
            }
        }
    }
    assert!(packets.iter().any(|p| p.kind == FrameKind::Delta));
    // carphone moves: some delta frame says so
    assert!(delta_motion > 0.0);
}

/// Adaptive quantisation, on a real frame: the same keyframe (quality 20) with `aq` 0 and 0.5
/// codes the flattest quarter of its blocks deeper and the busiest quarter no deeper (λ follows
/// each block's Y' variance, which the pipeline measures; at a keyframe's λ the base trained on
/// in 2026-12 codes every busy block of this frame to full depth either way, v1's base dropped
/// levels there); and it is on by default.
#[test]
fn aq_spends_depth_on_flat_blocks() {
    let e = engine(Backend::cpu("test"));
    let frame = vec![clip()[0].clone()];
    let s = usize::from(e.codec_info().downsample);
    let activity = vqcodec::pipeline::block_activity(&frame[0], s);
    let mut order: Vec<usize> = (0..activity.len()).collect();
    order.sort_by(|&a, &b| activity[a].total_cmp(&activity[b]));
    let quarter = order.len() / 4;
    let (flat, busy) = (&order[..quarter], &order[order.len() - quarter..]);
    assert!(activity[flat[quarter - 1]] * 4.0 < activity[busy[0]]);
    let depth = |aq: f64| {
        let mut cfg = config(&frame, RateControl::Quality(20), 60);
        cfg.aq = aq;
        let (_, packets) = encode(&e, &frame, cfg);
        let st = &packets[0].state;
        let n = st.idx.len() / st.levels;
        let d = |p: usize| {
            (0..st.levels)
                .filter(|&l| st.idx[l * n + p] != vqc::NONE)
                .count()
        };
        let mean =
            |set: &[usize]| set.iter().map(|&p| d(p)).sum::<usize>() as f64 / set.len() as f64;
        (mean(flat), mean(busy), packets[0].data.len())
    };
    let (flat0, busy0, bytes0) = depth(0.0);
    let (flat1, busy1, bytes1) = depth(0.5);
    assert!(flat1 > flat0, "flat blocks {flat0:.2} -> {flat1:.2} levels");
    assert!(
        busy1 <= busy0,
        "busy blocks {busy0:.2} -> {busy1:.2} levels"
    );
    // λ's geometric mean is kept: the frame's size moves far less than its parts
    assert!(
        (bytes1 as f64 / bytes0 as f64 - 1.0).abs() < 0.3,
        "{bytes0} -> {bytes1} bytes"
    );
    assert_eq!(
        EncoderConfig::new(8, 8).aq,
        vqcodec::vqc::DEFAULT_AQ,
        "on unless turned off"
    );
}

#[test]
fn hostile_headers_are_refused_before_anything_is_allocated() {
    let e = engine(Backend::cpu("test"));
    let info = e.codec_info();
    let frames = clip();
    let (stream, _) = encode(&e, &frames, config(&frames, RateControl::Quality(80), 60));
    let header = Header::parse(&stream, &Limits::default()).unwrap();
    let rewrite = |h: Header| {
        let mut b = h.to_bytes();
        b.extend_from_slice(&stream[HEADER_LEN..]);
        b
    };
    let limited = |h: Header, limits: Limits, what: &str| match StreamDecoder::new(
        &rewrite(h),
        limits,
        Some(&info),
    ) {
        Err(StreamError::LimitExceeded { what: w, .. }) => assert!(w.contains(what), "{w}"),
        Err(other) => panic!("{what}: {other}"),
        Ok(_) => panic!("{what}: accepted"),
    };
    let default = Limits::default();
    limited(
        Header {
            width: 1 << 31,
            ..header.clone()
        },
        default,
        "width",
    );
    limited(
        Header {
            height: 100_000,
            ..header.clone()
        },
        default,
        "height",
    );
    let few_pixels = Limits {
        max_pixels: 1 << 20,
        ..default
    };
    limited(
        Header {
            width: 2000,
            height: 2000,
            ..header.clone()
        },
        few_pixels,
        "pixels",
    );
    limited(
        Header {
            frame_count: u32::MAX,
            ..header.clone()
        },
        default,
        "frame count",
    );
    match StreamDecoder::new(
        &rewrite(Header {
            model_id: 42,
            ..header.clone()
        }),
        Limits::default(),
        Some(&info),
    ) {
        Err(StreamError::ModelMismatch { stream: 42, .. }) => {}
        Err(other) => panic!("model id: {other}"),
        Ok(_) => panic!("model id: accepted"),
    }
    // a fine-motion range beyond the format's is malformed; another range than the model's
    // maps is not this model's stream
    assert!(matches!(
        StreamDecoder::new(
            &rewrite(Header {
                fine_motion: 8,
                ..header.clone()
            }),
            Limits::default(),
            Some(&info)
        ),
        Err(StreamError::Malformed(_))
    ));
    assert_eq!(header.fine_motion, e.codebooks().fine_range());
    let other_range = rewrite(Header {
        fine_motion: 1,
        ..header.clone()
    });
    assert!(matches!(
        StreamDecoder::new(&other_range, Limits::default(), Some(&info))
            .unwrap()
            .with_codebooks(e.codebooks()),
        Err(StreamError::ModelMismatch { .. })
    ));
    // slices: none, more than the format's 16, more than the latent rows are malformed; a
    // header that claims slices its chunks were not coded in costs those chunks, no more
    let rows = header.latent_size().0;
    for slices in [0u8, 17, rows as u8 + 1] {
        assert!(
            matches!(
                StreamDecoder::new(
                    &rewrite(Header {
                        slices,
                        ..header.clone()
                    }),
                    Limits::default(),
                    Some(&info)
                ),
                Err(StreamError::Malformed(m)) if m.contains("slices")
            ),
            "{slices} slices"
        );
    }
    assert_eq!(header.slices, 1, "a small clip is coded in one slice");
    let claimed = rewrite(Header {
        slices: 3,
        ..header.clone()
    });
    let items: Vec<_> = StreamDecoder::new(&claimed, Limits::default(), Some(&info))
        .unwrap()
        .with_codebooks(e.codebooks())
        .unwrap()
        .collect();
    assert_eq!(items.len(), frames.len());
    assert!(items.iter().any(Result::is_err));
    // a caller's own limits apply too
    let small = Limits {
        max_width: 100,
        ..Limits::default()
    };
    assert!(matches!(
        StreamDecoder::new(&stream, small, Some(&info)),
        Err(StreamError::LimitExceeded { .. })
    ));
    // a chunk length over the limit is refused without reading it
    let tight = Limits {
        max_chunk_bytes: 8,
        ..Limits::default()
    };
    let (_, errors) = {
        let s = StreamDecoder::new(&stream, tight, None).unwrap();
        let items: Vec<_> = s.collect();
        (
            0,
            items
                .into_iter()
                .filter_map(Result::err)
                .collect::<Vec<_>>(),
        )
    };
    assert!(
        matches!(errors.first(), Some(StreamError::LimitExceeded { .. })),
        "{errors:?}"
    );
    assert_eq!(
        StreamDecoder::new(b"RIFF0000", Limits::default(), None).unwrap_err(),
        StreamError::NotVqc
    );
}

#[test]
fn the_frame_api_decodes_chunk_by_chunk_like_the_stream_reader() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let mut enc = block_on(Encoder::new(
        &e,
        config(&frames, RateControl::Quality(70), 3),
    ))
    .unwrap();
    let header = enc.header_bytes();
    // two calls, the second forcing a keyframe at frame 4
    let mut packets = block_on(enc.encode(&frames[..4], false)).unwrap();
    packets.extend(block_on(enc.encode(&frames[4..], true)).unwrap());
    assert_eq!(packets[4].kind, FrameKind::Key);
    let mut stream = header.clone();
    for p in &packets {
        stream.extend_from_slice(&p.data);
    }
    let reference = pixels(&e, &decode_all(&e, &stream).0, w, h);
    let mut dec = Decoder::new(&e, &header, Limits::default()).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let f = block_on(dec.decode(&p.data)).unwrap();
        assert_eq!(*f.state, p.state);
        assert_eq!(f.pts, i as u32);
        assert_eq!(f.frame.rgb(), reference[i].rgb());
    }
    // a damaged chunk is an error, the delta frames after it wait for the next keyframe
    let mut dec = Decoder::new(&e, &header, Limits::default()).unwrap();
    let mut bad = packets[1].data.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x10;
    block_on(dec.decode(&packets[0].data)).unwrap();
    assert!(matches!(
        block_on(dec.decode(&bad)),
        Err(vqcodec::Error::Stream(StreamError::ChunkCrc { .. }))
    ));
    assert!(matches!(
        block_on(dec.decode(&packets[2].data)),
        Err(vqcodec::Error::Stream(StreamError::NeedKeyframe { .. }))
    ));
    let kf = packets
        .iter()
        .position(|p| p.kind == FrameKind::Key && p.pts > 2)
        .unwrap();
    assert_eq!(
        *block_on(dec.decode(&packets[kf].data)).unwrap().state,
        packets[kf].state
    );
    // frames of another size are refused
    let small = Frame::from_rgb(8, 8, vec![0; 192]).unwrap();
    assert!(matches!(
        block_on(enc.encode(&[small], false)),
        Err(vqcodec::Error::MixedSizes)
    ));
}

/// The symbols of a stream's chunks with their slices read apart (`SliceReader`, as the
/// browser's slice workers read them) are those of the decoder that reads them itself: the
/// same indices and the same reconstructed latent, with coefficients too; after a damaged
/// chunk both wait for the keyframe.
#[test]
fn slices_read_apart_give_the_decoders_latents() {
    let e = Engine::new(&Weights::embedded(ModelKind::Lite), Backend::cpu("test")).unwrap();
    let frames = clip();
    for quality in [70, 90] {
        let cfg = EncoderConfig {
            slices: 3,
            ..config(&frames, RateControl::Quality(quality), 4)
        };
        let (stream, packets) = encode(&e, &frames, cfg);
        let header = &stream[..stream.len() - packets.iter().map(|p| p.data.len()).sum::<usize>()];
        let mut whole = Decoder::new(&e, header, Limits::default()).unwrap();
        let mut apart = Decoder::new(&e, header, Limits::default()).unwrap();
        let mut readers =
            [0..1, 1..3].map(|r| SliceReader::new(header, r, Limits::default()).unwrap());
        let mut chunks: Vec<Vec<u8>> = packets.iter().map(|p| p.data.clone()).collect();
        let last = chunks[1].len() - 1;
        chunks.insert(2, {
            let mut bad = chunks[1].clone();
            bad[last] ^= 0x10; // its CRC fails: frames wait for the keyframe at 4
            bad
        });
        let mut coefficients = false;
        for (i, c) in chunks.iter().enumerate() {
            let parts: Vec<Vec<u8>> = readers.iter_mut().map(|r| r.part(c)).collect();
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            match (whole.symbols(c), apart.symbols_from(c, &refs)) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(*a.state, *b.state, "chunk {i} at {quality}");
                    assert!(!b.state.latent.is_empty());
                    coefficients |= b.state.step > 0;
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "chunk {i}"),
                (a, b) => panic!("chunk {i} at {quality}: {:?} / {:?}", a.err(), b.err()),
            }
        }
        assert_eq!(coefficients, quality > 80, "coefficients at {quality}");
    }
}

#[test]
fn a_live_lookahead_codes_whole_windows_as_a_whole_clip_does() {
    let engine = engine(Backend::cpu("test"));
    let frames = clip();
    // a window of 4 frames, a keyframe every 3: windows end at the planned keyframes
    let cfg = EncoderConfig {
        lookahead: 4,
        ..config(&frames, RateControl::Quality(50), 3)
    };
    let (whole, packets) = encode(&engine, &frames, cfg.clone());
    let mut enc = block_on(Encoder::new(&engine, cfg.clone())).unwrap();
    let analysis = block_on(enc.analyser().analyse(&frames)).unwrap();
    // one frame at a time, as a live source gives them: packets come out a window at a time
    let mut live = enc.header_bytes();
    let mut out_after = Vec::new();
    for one in analysis.clone().split() {
        let got = enc.push(one, false).unwrap();
        out_after.push(got.len());
        for p in got {
            live.extend_from_slice(&p.data);
        }
    }
    for p in enc.flush().unwrap() {
        live.extend_from_slice(&p.data);
    }
    assert_eq!(out_after, vec![0, 0, 3, 0, 0, 3]);
    assert_eq!(live, whole);
    assert!(enc.flush().unwrap().is_empty());
    // with the lookahead, the stream differs from one without, and decodes to its symbols
    let (plain, _) = encode(
        &engine,
        &frames,
        config(&frames, RateControl::Quality(50), 3),
    );
    assert_ne!(plain, whole);
    let (decoded, errors) = decode_all(&engine, &whole);
    assert!(errors.is_empty(), "{errors:?}");
    for (f, p) in decoded.iter().zip(&packets) {
        assert_eq!(*f.state, p.state);
    }
    // a keyframe asked for mid-window: the frames held before it are coded first
    let mut enc = block_on(Encoder::new(&engine, cfg)).unwrap();
    let mut kinds = Vec::new();
    for (i, one) in analysis.split().enumerate() {
        kinds.extend(enc.push(one, i == 1).unwrap().iter().map(|p| p.kind));
    }
    kinds.extend(enc.flush().unwrap().iter().map(|p| p.kind));
    use FrameKind::{Delta, Key};
    assert_eq!(kinds, vec![Key, Key, Delta, Delta, Key, Delta]);
}

/// What the browser's encoder does with render workers: each frame analysed by another engine
/// of the model (its own module there), handed over as plain arrays (`Encoder::analysis_of`)
/// and pushed in order — the very stream of analysing in the encoder itself, lookahead
/// included; arrays of the wrong length are refused (kind Config).
#[test]
fn frames_analysed_elsewhere_code_to_the_same_stream() {
    let frames = clip();
    let (here, elsewhere) = (engine(Backend::cpu("test")), engine(Backend::cpu("other")));
    let cfg = EncoderConfig {
        lookahead: 4,
        ..config(&frames, RateControl::Quality(50), 3)
    };
    let (whole, _) = encode(&here, &frames, cfg.clone());
    let mut enc = block_on(Encoder::new(&here, cfg)).unwrap();
    let analyser =
        vqcodec::pipeline::Analyser::new(&elsewhere, frames[0].width(), frames[0].height())
            .with_enhancement(enc.analyser().enhancement());
    let mut stream = enc.header_bytes();
    for f in &frames {
        let a = block_on(analyser.analyse(std::slice::from_ref(f))).unwrap();
        let one = enc
            .analysis_of(a.latents()[0].clone(), a.activity()[0].clone())
            .unwrap();
        for p in enc.push(one, false).unwrap() {
            stream.extend_from_slice(&p.data);
        }
    }
    for p in enc.flush().unwrap() {
        stream.extend_from_slice(&p.data);
    }
    assert_eq!(stream, whole);
    let a = block_on(analyser.analyse(&frames[..1])).unwrap();
    let (z, act) = (a.latents()[0].clone(), a.activity()[0].clone());
    for (z, act) in [
        (z[1..].to_vec(), act.clone()),
        (z.clone(), act[1..].to_vec()),
        (Vec::new(), Vec::new()),
    ] {
        let e = enc.analysis_of(z, act).unwrap_err();
        assert_eq!(e.kind(), vqcodec::ErrorKind::Config, "{e}");
    }
}

#[test]
fn overlapped_rendering_gives_each_frame_in_stream_order_and_stops_at_the_sinks_error() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let (w, h) = (frames[0].width(), frames[0].height());
    let (stream, packets) = encode(&e, &frames, config(&frames, RateControl::Quality(70), 3));
    // damage chunk 1: an error in its place, frame 2 lost with it, frame 3 a keyframe again
    let map = chunk_map(&packets);
    let mut bad = stream.clone();
    bad[map[1].1 - 1] ^= 0x10;
    let (decoded, errors) = decode_all(&e, &bad);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let reference = pixels(&e, &decoded, w, h);
    for workers in [1, 3] {
        let reader = StreamReader::new(&e, &bad, Limits::default()).unwrap();
        let renderer = reader.renderer();
        let items = reader.map(|item| match item {
            Ok(f) => (Ok(f.pts), Some(f.state)),
            Err(e) => (Err(e), None),
        });
        let mut got = Vec::new();
        render_ordered(
            &renderer,
            workers,
            items,
            |frame, _| frame,
            |tag, out| {
                got.push((tag, out.map(Result::unwrap)));
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        // the stream's own order: frame 0, the two errors, then the frames from the keyframe
        let tags: Vec<Result<u32, StreamError>> = got.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(tags[0], Ok(0));
        let errs: Vec<Result<u32, StreamError>> = errors.iter().cloned().map(Err).collect();
        assert_eq!(&tags[1..3], &errs[..], "{workers} workers");
        let pts: Vec<u32> = decoded.iter().map(|d| d.pts).collect();
        assert_eq!(
            tags.iter()
                .filter_map(|t| t.clone().ok())
                .collect::<Vec<_>>(),
            pts
        );
        let rendered: Vec<&Frame> = got.iter().filter_map(|(_, f)| f.as_ref()).collect();
        assert_eq!(rendered.len(), reference.len());
        for (a, b) in rendered.iter().zip(&reference) {
            assert_eq!(a.rgb(), b.rgb(), "{workers} workers");
        }
        // a sink's error ends it: no more calls, and no thread left waiting
        let reader = StreamReader::new(&e, &stream, Limits::default()).unwrap();
        let items = reader.map(|item| ((), item.ok().map(|f| f.state)));
        let mut calls = 0;
        let r = render_ordered(
            &renderer,
            workers,
            items,
            |f, _| f,
            |(), _| {
                calls += 1;
                if calls == 2 { Err("enough") } else { Ok(()) }
            },
        );
        assert_eq!((r, calls), (Err("enough"), 2));
    }
}

#[test]
fn overlapped_encoding_makes_the_chunks_of_the_stages_one_after_the_other() {
    let e = engine(Backend::cpu("test"));
    let frames = clip();
    let batch = 2;
    for (search, lookahead) in [(Search::Host, 0), (Search::Host, 4), (Search::Device, 0)] {
        let cfg = EncoderConfig {
            lookahead,
            ..config(&frames, RateControl::Quality(70), 4)
        };
        // the stages one after the other, the encoder network on batches of the same size
        let mut enc = block_on(Encoder::new(&e, cfg.clone())).unwrap();
        let mut want = Vec::new();
        for b in frames.chunks(batch) {
            let analysis = block_on(enc.analyser().analyse(b)).unwrap();
            for one in analysis.split() {
                want.extend(match search {
                    Search::Host => enc.push(one, false).unwrap(),
                    Search::Device => block_on(enc.code_with(&one, false, search)).unwrap(),
                });
            }
        }
        want.extend(enc.flush().unwrap());
        assert_eq!(want.len(), frames.len());
        let renderer = enc.renderer();
        let shown: Vec<Frame> = want
            .iter()
            .map(|p| block_on(renderer.frame(&p.state)).unwrap())
            .collect();
        for workers in [1, 3] {
            let mut enc = block_on(Encoder::new(&e, cfg.clone())).unwrap();
            let overlap = Overlap {
                search,
                workers,
                batch,
            };
            let items = frames.iter().cloned().enumerate().map(Ok::<_, Error>);
            let keep = |i: &usize, f: Frame, _: Duration| (*i, f);
            let mut got = Vec::new();
            encode_ordered(&mut enc, overlap, items, Some(&keep), |out| {
                got.push(out);
                Ok(())
            })
            .unwrap();
            let what = format!("{search:?}, lookahead {lookahead}, {workers} workers");
            assert_eq!(got.len(), frames.len(), "{what}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.tag, i, "{what}");
                assert_eq!(g.packet.data, w.data, "{what}: frame {i}");
                let (j, f) = g.decoded.as_ref().unwrap().as_ref().unwrap();
                assert_eq!(*j, i);
                assert_eq!(f.rgb(), shown[i].rgb(), "{what}: frame {i}");
            }
        }
    }
    // the device search's two halves: a frame is finished before the next is accepted, and
    // only the frame accepted last can be finished
    let mut enc = block_on(Encoder::new(
        &e,
        config(&frames, RateControl::Quality(70), 4),
    ))
    .unwrap();
    let analysis = block_on(enc.analyser().analyse(&frames[..2])).unwrap();
    let searcher = enc.searcher();
    let first = enc.plan(&analysis, 0, false).unwrap();
    let choice = block_on(searcher.search(&first)).unwrap();
    let written = enc.accept_searched(&first, &choice).unwrap().write();
    // the next frame can be planned and searched before the first is finished
    let second = enc.plan(&analysis, 1, false).unwrap();
    let choice2 = block_on(searcher.search(&second)).unwrap();
    assert!(matches!(
        enc.accept_searched(&second, &choice2),
        Err(Error::Config(_))
    ));
    // nor can the encoder code a frame itself meanwhile
    assert!(matches!(enc.code(&analysis, false), Err(Error::Config(_))));
    let stale = written.clone();
    let packet = enc.finish_searched(written).unwrap();
    assert_eq!((packet.pts, packet.kind), (0, FrameKind::Key));
    assert!(matches!(enc.finish_searched(stale), Err(Error::Config(_))));
    let written = enc.accept_searched(&second, &choice2).unwrap().write();
    let packet = enc.finish_searched(written).unwrap();
    assert_eq!((packet.pts, packet.kind), (1, FrameKind::Delta));
    // an input's error ends the stream after the frames before it; so does the sink's
    #[derive(Debug, PartialEq)]
    enum Stop {
        Unreadable,
        Enough,
        Codec(String),
    }
    impl From<Error> for Stop {
        fn from(e: Error) -> Self {
            Self::Codec(e.to_string())
        }
    }
    let overlap = Overlap {
        search: Search::Host,
        workers: 3,
        batch,
    };
    let cfg = config(&frames, RateControl::Quality(70), 4);
    let failing = |at: usize| {
        frames.iter().cloned().enumerate().map(move |(i, f)| {
            if i == at {
                Err(Stop::Unreadable)
            } else {
                Ok((i, f))
            }
        })
    };
    let run = |at: usize, sink: &mut dyn FnMut(Encoded<usize, ()>) -> Result<(), Stop>| {
        let mut enc = block_on(Encoder::new(&e, cfg.clone())).unwrap();
        encode_ordered(
            &mut enc,
            overlap,
            failing(at),
            None::<Reconstruct<'_, _, ()>>,
            sink,
        )
    };
    let mut tags = Vec::new();
    let r = run(3, &mut |out| {
        assert!(out.decoded.is_none());
        tags.push(out.tag);
        Ok(())
    });
    // frame 2 was in the batch the error cut
    assert_eq!((r, tags), (Err(Stop::Unreadable), vec![0, 1]));
    let mut calls = 0;
    let r = run(99, &mut |_| {
        calls += 1;
        if calls == 2 {
            Err(Stop::Enough)
        } else {
            Ok(())
        }
    });
    assert_eq!((r, calls), (Err(Stop::Enough), 2));
}
