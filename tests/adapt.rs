//! Codebooks adapted to a clip (issue 6) on the real carphone frames: the refit lowers the
//! latent error, the stream carries the codebook, every decoder path uses it, and quality at
//! equal rate goes up.

use vqcodec::adapt::{AdaptOptions, learn};
use vqcodec::pipeline::{Analyser, Analysis, Decoder, Encoder, StreamReader};
use vqcodec::vqc::{
    CodebookPatch, EncoderConfig, ErrorKind, HEADER_LEN, Header, Limits, RateControl,
    StreamDecoder, StreamError, layout,
};
use vqcodec::{Backend, Engine, Frame, ModelKind, Weights, block_on, psnr_rgb};

mod common;

struct Setup {
    engine: Engine,
    frames: Vec<Frame>,
    analysis: Analysis,
    patch: CodebookPatch,
}

fn setup() -> Setup {
    let engine = Engine::new(&Weights::embedded(ModelKind::Lite), Backend::cpu("test")).unwrap();
    let frames = common::clip("tests/data/carphone_6f.y4m");
    let (w, h) = (frames[0].width(), frames[0].height());
    let analysis = block_on(Analyser::new(&engine, w, h).analyse(&frames)).unwrap();
    let options = AdaptOptions::default();
    let (patch, report) = block_on(learn(&engine, analysis.latents(), &options, |_| true)).unwrap();
    assert!(
        report.mse_after < report.mse_before * 0.8,
        "latent error {} → {}",
        report.mse_before,
        report.mse_after
    );
    Setup {
        engine,
        frames,
        analysis,
        patch,
    }
}

/// A stream of the clip at quality `q`, with `codebook` if given.
fn encode(s: &Setup, q: u8, codebook: Option<&CodebookPatch>) -> Vec<u8> {
    let f = &s.frames[0];
    let config = EncoderConfig {
        rate: RateControl::Quality(q),
        codebook: codebook.cloned(),
        ..EncoderConfig::new(f.width() as u32, f.height() as u32)
    };
    let mut enc = block_on(Encoder::new(&s.engine, config)).unwrap();
    let mut out = enc.header_bytes();
    for p in enc.code(&s.analysis, false).unwrap() {
        out.extend_from_slice(&p.data);
    }
    out
}

/// `stream` decoded as the CLI decodes it (the whole stream, through its codebook).
fn decoded(s: &Setup, stream: &[u8]) -> Vec<Frame> {
    let reader = StreamReader::new(&s.engine, stream, Limits::default()).unwrap();
    let renderer = reader.renderer();
    reader
        .map(|f| block_on(renderer.frame(&f.unwrap().state)).unwrap())
        .collect()
}

/// Mean PSNR-RGB of `stream` decoded as the CLI decodes it.
fn decoded_psnr(s: &Setup, stream: &[u8]) -> f64 {
    let out = decoded(s, stream);
    assert_eq!(out.len(), s.frames.len());
    out.iter()
        .zip(&s.frames)
        .map(|(o, src)| psnr_rgb(o, src))
        .sum::<f64>()
        / out.len() as f64
}

#[test]
fn the_stream_carries_the_codebook_and_every_decoder_uses_it() {
    let s = setup();
    let plain = encode(&s, 80, None);
    let adapted = encode(&s, 80, Some(&s.patch));
    let header = Header::parse(&adapted, &Limits::default()).unwrap();
    assert_eq!(header.codebook.as_ref(), Some(&s.patch));
    assert_eq!(header.codebook_id, s.patch.id());
    assert_eq!(header.byte_len(), HEADER_LEN + 4 + s.patch.byte_len());
    assert_eq!(
        Header::parse(&plain, &Limits::default()).unwrap().codebook,
        None
    );

    // the frame-by-frame decoder (the browser's path) gives the same pixels as the whole-stream
    // one, and other pixels than the model's own codes would
    let mut dec =
        Decoder::new(&s.engine, &adapted[..header.byte_len()], Limits::default()).unwrap();
    let whole = decoded(&s, &adapted);
    let (w, h) = (s.frames[0].width(), s.frames[0].height());
    let spans = layout(&adapted, Limits::default()).unwrap().chunks;
    assert_eq!(spans.len(), whole.len());
    let mut own_prev: Option<Vec<i32>> = None;
    for (span, expected) in spans.iter().zip(&whole) {
        let f = block_on(dec.decode(&adapted[span.start..span.end])).unwrap();
        // the same symbols reconstructed with the model's own codebooks
        let mut own = (*f.state).clone();
        own.reconstruct(s.engine.codebooks(), own_prev.as_deref());
        let own_latent = own.latent_f32();
        own_prev = Some(own.latent);
        let own = block_on(s.engine.decode_latents(&[&own_latent], w, h))
            .unwrap()
            .remove(0);
        assert_eq!(f.frame.rgb(), expected.rgb(), "pts {}", f.pts);
        assert_ne!(f.frame.rgb(), own.rgb(), "pts {}", f.pts);
    }
    // and the codebook helps at the same setting
    assert!(decoded_psnr(&s, &adapted) > decoded_psnr(&s, &plain));
}

#[test]
fn the_rate_aware_refit_keeps_the_indices_cheaper_than_plain_k_means() {
    // the real carphone latents: plain k-means spreads level 0's codes over the footage and
    // its indices' entropy rises; with the rate term they stay cheaper, the error still lower
    // than the trained codes'
    let engine = Engine::new(&Weights::embedded(ModelKind::Lite), Backend::cpu("test")).unwrap();
    let frames = common::clip("tests/data/carphone_6f.y4m");
    let (w, h) = (frames[0].width(), frames[0].height());
    let analysis = block_on(Analyser::new(&engine, w, h).analyse(&frames)).unwrap();
    let run = |rate_weight| {
        let options = AdaptOptions {
            rate_weight,
            ..AdaptOptions::default()
        };
        block_on(learn(&engine, analysis.latents(), &options, |_| true))
            .unwrap()
            .1
    };
    let (plain, aware) = (run(0.0), run(3e-2));
    assert_eq!(plain.bits_before, aware.bits_before);
    assert!(plain.bits_after > plain.bits_before, "{plain:?}");
    assert!(
        aware.bits_after < plain.bits_after - 0.2,
        "{plain:?}\n{aware:?}"
    );
    assert!(aware.bits_after < aware.bits_before, "{aware:?}");
    assert!(aware.mse_after < aware.mse_before, "{aware:?}");
}

#[test]
fn adapted_codebooks_raise_quality_at_equal_chunk_rate() {
    // Six frames cannot pay for an 8 KiB codebook, so this compares the chunks' bytes (the
    // header is a one-time cost); `vqcodec eval --adapt` measures whole files on long clips.
    let s = setup();
    let curve = |book: Option<&CodebookPatch>| -> Vec<(f64, f64)> {
        [40u8, 60, 80, 100]
            .iter()
            .map(|&q| {
                let stream = encode(&s, q, book);
                let header = Header::parse(&stream, &Limits::default()).unwrap();
                let chunk_bytes = (stream.len() - header.byte_len()) as f64;
                (chunk_bytes, decoded_psnr(&s, &stream))
            })
            .collect()
    };
    let plain = curve(None);
    let adapted = curve(Some(&s.patch));
    // plain PSNR at each adapted point's rate, by linear interpolation on the plain curve
    let mut gains = Vec::new();
    for &(rate, psnr) in &adapted {
        if let Some(w) = plain.windows(2).find(|w| w[0].0 <= rate && rate <= w[1].0) {
            let t = (rate - w[0].0) / (w[1].0 - w[0].0);
            gains.push(psnr - (w[0].1 + t * (w[1].1 - w[0].1)));
        }
    }
    assert!(
        gains.len() >= 2,
        "the curves overlap too little: {plain:?} vs {adapted:?}"
    );
    let mean = gains.iter().sum::<f64>() / gains.len() as f64;
    println!("plain {plain:?}\nadapted {adapted:?}\ngain at equal chunk rate {mean:+.2} dB");
    assert!(mean > 0.0, "{mean:+.3} dB: {gains:?}");
}

#[test]
fn damaged_foreign_or_oversized_codebook_blocks_are_refused() {
    let s = setup();
    let stream = encode(&s, 60, Some(&s.patch));
    let limits = Limits::default();
    let header_len = Header::parse(&stream, &limits).unwrap().byte_len();
    // a flipped byte in the block: its hash no longer matches the id the header names
    let mut bad = stream.clone();
    bad[HEADER_LEN + 40] ^= 0x10;
    assert!(matches!(
        Header::parse(&bad, &limits),
        Err(StreamError::Malformed(_))
    ));
    // cut inside the block
    assert!(matches!(
        Header::parse(&stream[..header_len - 1], &limits),
        Err(StreamError::Truncated { .. })
    ));
    // a block longer than the limit, refused before it is read
    let small = Limits {
        max_codebook_bytes: 16,
        ..limits
    };
    assert!(matches!(
        Header::parse(&stream, &small),
        Err(StreamError::LimitExceeded { .. })
    ));
    // a codebook for another model is refused by the encoder, and its stream by that model
    let base = Engine::new(&Weights::embedded(ModelKind::Base), Backend::cpu("test")).unwrap();
    let config = EncoderConfig {
        codebook: Some(s.patch.clone()),
        ..EncoderConfig::new(176, 144)
    };
    let refused = block_on(Encoder::new(&base, config)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ModelMismatch, "{refused}");
    let refused = Decoder::new(&base, &stream, limits).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ModelMismatch, "{refused}");
    // the whole stream still decodes (symbols only) and its chunks start after the block
    let frames: Vec<_> = StreamDecoder::new(&stream, limits, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(frames.len(), s.frames.len());
    assert_eq!(frames[0].offset as usize, header_len);
}
