//! Property tests (proptest) for the range coder and the container.

use proptest::prelude::*;
use vqc::bench::{BitModel, BitTree, RangeDecoder, RangeEncoder, write_chunk};
use vqc::{
    ChunkReader, CodebookPatch, Codebooks, FrameKind, HEADER_LEN, Header, Limits, SourceChroma,
    StreamDecoder,
};

fn header_strategy() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        1u32..=8192,
        1u32..=8192,
        1u32..=120_000,
        1u32..=1001,
        0u32..=10_000_000,
        1u8..=15,
        1u8..=12,
        1u8..=64,
        0usize..4,
    )
        .prop_filter("pixels within the limit", |t| {
            u64::from(t.1) * u64::from(t.2) <= 8192 * 8192
        })
        .prop_map(|(id, w, h, num, den, count, levels, bits, ds, c)| Header {
            model_id: id,
            codebook_id: 0,
            width: w,
            height: h,
            fps_num: num,
            fps_den: den,
            frame_count: count,
            levels,
            codebook_bits: bits,
            downsample: ds,
            fine_motion: (id % 8) as u8,
            // 1 to 16 slices, as many as the grid and the models allow
            slices: (1 + (id >> 8) as usize % 16).min(vqc::max_slices(
                h.div_ceil(u32::from(ds)) as usize,
                levels.into(),
                bits.into(),
            )) as u8,
            chroma: [
                SourceChroma::C420,
                SourceChroma::C422,
                SourceChroma::C444,
                SourceChroma::Mono,
            ][c],
            enhance_dims: (id >> 16) as u8 % 65,
            codebook: None,
        })
}

proptest! {
    #[test]
    fn binary_decisions_round_trip(bits in prop::collection::vec((any::<bool>(), 0usize..8), 0..4000)) {
        let mut models = [BitModel::new(); 8];
        let mut enc = RangeEncoder::new();
        for &(b, m) in &bits {
            enc.encode(&mut models[m], b);
        }
        let bytes = enc.finish();
        let mut models = [BitModel::new(); 8];
        let mut dec = RangeDecoder::new(&bytes);
        for &(b, m) in &bits {
            prop_assert_eq!(dec.decode(&mut models[m]), b);
        }
        prop_assert!(dec.overrun() <= vqc::bench::TRAILING_ZEROS);
    }

    #[test]
    fn tree_and_direct_values_round_trip(
        values in prop::collection::vec((0u32..4096, 0u32..1 << 20), 0..800),
        bits in 1u32..=12,
    ) {
        let mut tree = BitTree::new(bits);
        let mut enc = RangeEncoder::new();
        for &(v, d) in &values {
            tree.encode(&mut enc, v % (1 << bits));
            enc.encode_direct(d, 20);
        }
        let bytes = enc.finish();
        let mut tree = BitTree::new(bits);
        let mut dec = RangeDecoder::new(&bytes);
        for &(v, d) in &values {
            prop_assert_eq!(tree.decode(&mut dec), v % (1 << bits));
            prop_assert_eq!(dec.decode_direct(20), d);
        }
        prop_assert!(dec.overrun() <= vqc::bench::TRAILING_ZEROS);
    }

    #[test]
    fn skewed_sources_cost_close_to_their_entropy(p in 0.01f64..0.5, seed in any::<u64>()) {
        let mut x = seed | 1;
        let n = 20_000;
        let mut m = BitModel::new();
        let mut enc = RangeEncoder::new();
        let mut ones = 0usize;
        for _ in 0..n {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let b = (x >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p;
            ones += usize::from(b);
            enc.encode(&mut m, b);
        }
        let bytes = enc.finish();
        let q = ones as f64 / n as f64;
        let h = if q == 0.0 || q == 1.0 { 0.0 } else { -(q * q.log2() + (1.0 - q) * (1.0 - q).log2()) };
        // an adaptive model pays a few percent over the empirical entropy
        prop_assert!((bytes.len() * 8) as f64 <= h * n as f64 * 1.08 + 64.0,
            "{} bits for entropy {:.0}", bytes.len() * 8, h * n as f64);
    }

    #[test]
    fn headers_round_trip(h in header_strategy()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), HEADER_LEN);
        prop_assert_eq!(Header::parse(&bytes, &Limits::default()).unwrap(), h);
    }

    #[test]
    fn chunks_round_trip(
        h in header_strategy(),
        chunks in prop::collection::vec((any::<bool>(), 1u8..=15, any::<u32>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20),
    ) {
        let mut stream = h.to_bytes();
        for (delta, levels, pts, payload) in &chunks {
            let kind = if *delta { FrameKind::Delta } else { FrameKind::Key };
            stream.extend_from_slice(&write_chunk(kind, (*levels).min(h.levels), 0, *pts, payload));
        }
        let read: Vec<_> = ChunkReader::new(&stream, Limits::default()).unwrap().collect();
        prop_assert_eq!(read.len(), chunks.len());
        for (got, (delta, levels, pts, payload)) in read.iter().zip(&chunks) {
            let got = got.as_ref().unwrap();
            prop_assert_eq!(got.kind == FrameKind::Delta, *delta);
            prop_assert_eq!(got.levels, (*levels).min(h.levels));
            prop_assert_eq!(got.pts, *pts);
            prop_assert_eq!(got.payload, &payload[..]);
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2000),
        w in 1u32..200,
        h in 1u32..200,
    ) {
        let header = Header {
            model_id: 1, codebook_id: 0, width: w, height: h, fps_num: 30, fps_den: 1,
            frame_count: 0, levels: 3, codebook_bits: 7, downsample: 8, chroma: SourceChroma::C420,
            fine_motion: 2, codebook: None, enhance_dims: (w % 2) as u8 * 48,
            // one to three slices (at most one per latent row): the slices' lengths are bytes
            // to distrust too
            slices: (w % 3 + 1).min(h.div_ceil(8)) as u8,
        };
        let mut stream = header.to_bytes();
        // a sync byte and plausible flags (3 levels, a delta frame): the resync looks past it
        stream.extend_from_slice(&[0x56, 0x83]);
        stream.extend_from_slice(&tail);
        let dec = StreamDecoder::new(&stream, Limits::default(), None).unwrap();
        for item in dec.take(10_000) {
            if let Ok(f) = item {
                prop_assert!(f.state.idx.iter().all(|&v| v < 128 || v == u16::MAX));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(dec) = StreamDecoder::new(&bytes, Limits::default(), None) {
            for _ in dec.take(10_000) {}
        }
    }

    #[test]
    fn codebook_files_round_trip_within_half_a_step(
        seed in prop::collection::vec(-2.0f32..2.0, 3 * 16 * 4),
        moves in prop::collection::vec(-0.5f32..0.5, 3 * 16 * 4),
        levels in prop::sample::subsequence(vec![0usize, 1, 2], 1..=3),
    ) {
        let trained = Codebooks::new(3, 16, 4, seed.clone()).unwrap();
        let moved: Vec<f32> = seed.iter().zip(&moves).map(|(a, b)| a + b).collect();
        let adapted = Codebooks::new(3, 16, 4, moved).unwrap();
        let patch = CodebookPatch::new(9, &adapted, &trained, &levels);
        let back = CodebookPatch::parse(&patch.to_bytes()).unwrap();
        prop_assert_eq!(&back, &patch);
        let applied = back.apply(9, &trained).unwrap();
        for l in 0..3 {
            let step = levels.iter().position(|&x| x == l).map(|i| patch.steps[i]);
            for i in l * 64..(l + 1) * 64 {
                let want = if step.is_some() { adapted.data()[i] } else { trained.data()[i] };
                let tol = step.map_or(0.0, |s| s * 0.5 + 1e-5);
                prop_assert!((applied.data()[i] - want).abs() <= tol);
            }
        }
    }

    /// Hostile codebook files that pass the CRC (anyone can compute one): any change to the
    /// fields or the range-coded payload gives an error or a codebook, never a panic.
    #[test]
    fn recrcd_codebook_files_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let trained = Codebooks::new(2, 8, 3, (0..48).map(|i| (i as f32).sin()).collect()).unwrap();
        let adapted = Codebooks::new(2, 8, 3, (0..48).map(|i| (i as f32).cos()).collect()).unwrap();
        let mut bytes = CodebookPatch::new(1, &adapted, &trained, &[0, 1]).to_bytes();
        let body = bytes.len() - 4;
        for (at, v) in &flips {
            let i = at.index(body);
            bytes[i] ^= v;
        }
        let keep = cut.index(body) + 1;
        for b in [&bytes[..body], &bytes[..keep]] {
            let mut f = b.to_vec();
            let crc = crc32fast::hash(&f);
            f.extend_from_slice(&crc.to_le_bytes());
            if let Ok(p) = CodebookPatch::parse(&f) {
                prop_assert_eq!(p.deltas.len(), p.adapted.len() * p.size * p.dim);
            }
        }
    }
}
