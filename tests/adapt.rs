//! Codebooks adapted to a clip (issue 6) on the real carphone frames: the refit lowers the
//! latent error, the stream carries the codebook, every decoder path uses it, and quality at
//! equal rate goes up.

use vqcodec::adapt::{AdaptOptions, adapt};
use vqcodec::codec::container::HEADER_LEN;
use vqcodec::codec::{
    CodebookPatch, Encoder, EncoderConfig, Header, Limits, RateControl, StreamDecoder, StreamError,
};
use vqcodec::{Backend, Engine, Frame, ModelKind, VideoDecoder, Weights, block_on, psnr_rgb};

mod common;

struct Setup {
    engine: Engine,
    frames: Vec<Frame>,
    latents: Vec<Vec<f32>>,
    patch: CodebookPatch,
}

fn setup() -> Setup {
    let engine = Engine::new(&Weights::embedded(ModelKind::Lite), Backend::cpu("test")).unwrap();
    let frames = common::clip("tests/data/carphone_6f.y4m");
    let latents = block_on(engine.latents(&frames)).unwrap();
    let books = block_on(engine.codebooks()).unwrap();
    let options = AdaptOptions::default();
    let (adapted, report) = adapt(&books, &latents, &options, |_| true).unwrap();
    assert!(
        report.mse_after < report.mse_before * 0.8,
        "latent error {} → {}",
        report.mse_before,
        report.mse_after
    );
    let patch = CodebookPatch::new(engine.model_id().0, &adapted, &books, &options.levels);
    Setup {
        engine,
        frames,
        latents,
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
    let books = block_on(s.engine.codebooks()).unwrap();
    let mut enc = Encoder::new(config, &s.engine.codec_info(), books).unwrap();
    let mut out = enc.header_bytes();
    for z in &s.latents {
        out.extend_from_slice(&enc.encode_latent(z, false).unwrap().data);
    }
    out
}

/// Decodes `stream` as the CLI does (the engine takes the header's codebook); mean PSNR-RGB.
fn decoded_psnr(s: &Setup, stream: &[u8]) -> f64 {
    let header = Header::parse(stream, &Limits::default()).unwrap();
    let engine = match &header.codebook {
        Some(p) => s.engine.with_codebook(p).unwrap(),
        None => s.engine.clone(),
    };
    let (w, h) = (s.frames[0].width(), s.frames[0].height());
    let dec = StreamDecoder::new(stream, Limits::default(), Some(&engine.codec_info())).unwrap();
    let mut sum = 0.0;
    let mut n = 0;
    for (f, src) in dec.zip(&s.frames) {
        let f = f.unwrap();
        let out = block_on(engine.decode(&f.state.tokens(), w, h))
            .unwrap()
            .remove(0);
        sum += psnr_rgb(&out, src);
        n += 1;
    }
    assert_eq!(n, s.frames.len());
    sum / n as f64
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
    // one through an engine with the codebook, and other pixels than the model's own codes
    let mut dec =
        VideoDecoder::new(&s.engine, &adapted[..header.byte_len()], Limits::default()).unwrap();
    let with = s.engine.with_codebook(&s.patch).unwrap();
    let mut at = header.byte_len();
    let (w, h) = (s.frames[0].width(), s.frames[0].height());
    while at < adapted.len() {
        let len = 16 + u32::from_le_bytes(adapted[at + 8..at + 12].try_into().unwrap()) as usize;
        let f = block_on(dec.decode(&s.engine, &adapted[at..at + len])).unwrap();
        let tokens = f.state.tokens();
        let expected = block_on(with.decode(&tokens, w, h)).unwrap().remove(0);
        let own = block_on(s.engine.decode(&tokens, w, h)).unwrap().remove(0);
        assert_eq!(f.frame.rgb(), expected.rgb(), "pts {}", f.pts);
        assert_ne!(f.frame.rgb(), own.rgb(), "pts {}", f.pts);
        at += len;
    }
    // and the codebook helps at the same setting
    assert!(decoded_psnr(&s, &adapted) > decoded_psnr(&s, &plain));
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
    // a codebook for another model is refused by the encoder and by the engine
    let base = Engine::new(&Weights::embedded(ModelKind::Base), Backend::cpu("test")).unwrap();
    assert!(base.with_codebook(&s.patch).is_err());
    let config = EncoderConfig {
        codebook: Some(s.patch.clone()),
        ..EncoderConfig::new(176, 144)
    };
    let books = block_on(base.codebooks()).unwrap();
    assert!(Encoder::new(config, &base.codec_info(), books).is_err());
    // the whole stream still decodes (symbols only) and its chunks start after the block
    let frames: Vec<_> = StreamDecoder::new(&stream, limits, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(frames.len(), s.frames.len());
    assert_eq!(frames[0].offset as usize, header_len);
}
