//! A frame's slices read apart (`SliceDecoder`, as the browser's slice workers read them) and
//! put together by `Decoder::decode_parts` make what `Decoder::decode_shared` makes of the
//! same chunks: the same symbols, the same errors, the same resync; parts that are not the
//! chunk's are refused, and the frames after them wait for a keyframe.

use std::ops::Range;

use vqc::{Chunk, ChunkReader, ConfigError, Decoder, Header, Limits, SliceDecoder, StreamError};

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/conformance/").to_string() + name,
    )
    .unwrap()
}

/// The chunks of a stream, the damaged ones left out (the container drops them before any
/// decoder sees them).
fn chunks(bytes: &[u8]) -> (Header, Vec<Chunk<'_>>) {
    let reader = ChunkReader::new(bytes, Limits::default()).unwrap();
    let header = reader.header().clone();
    (header, reader.filter_map(Result::ok).collect())
}

/// Every way to cut `slices` slices into runs that the tests try: one decoder for all, one
/// per slice, and two halves.
fn splits(slices: usize) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![vec![0..slices], (0..slices).map(|k| k..k + 1).collect()];
    if slices > 2 {
        out.push(vec![0..slices / 2, slices / 2..slices]);
    }
    out
}

/// What a decoder answers for a chunk, comparable across the two ways.
fn outcome(
    r: Result<std::sync::Arc<vqc::TokenState>, StreamError>,
) -> Result<vqc::TokenState, String> {
    r.map(|s| (*s).clone()).map_err(|e| e.to_string())
}

/// Decodes `chunks` both ways (`split` slice decoders, each fed every chunk) and checks that
/// every answer is the same.
fn same_both_ways(header: &Header, chunks: &[Chunk<'_>], split: &[Range<usize>]) -> usize {
    let mut whole = Decoder::new(header, None).unwrap();
    let mut apart = Decoder::new(header, None).unwrap();
    let mut readers: Vec<_> = split
        .iter()
        .map(|r| SliceDecoder::new(header, r.clone()).unwrap())
        .collect();
    let mut errors = 0;
    for (i, c) in chunks.iter().enumerate() {
        let parts: Vec<Vec<u8>> = readers.iter_mut().rev().map(|d| d.decode(c)).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let expected = outcome(whole.decode_shared(c));
        let got = outcome(apart.decode_parts(c, &refs).expect("this chunk's parts"));
        assert_eq!(got, expected, "chunk {i} in slices {split:?}");
        errors += usize::from(expected.is_err());
    }
    errors
}

#[test]
fn slices_read_apart_decode_to_the_symbols_and_errors_of_the_whole_decoder() {
    // 3 slices, and the one-slice vectors (with coefficients, with damage)
    for name in [
        "slices.vqc",
        "key-delta.vqc",
        "coefficients.vqc",
        "damaged.vqc",
        "pan.vqc",
    ] {
        let bytes = vector(name);
        let (header, chunks) = chunks(&bytes);
        for split in splits(header.slices.into()) {
            same_both_ways(&header, &chunks, &split);
        }
    }
    // payloads that make no frame: every byte of one slice's part of a delta chunk changed in
    // turn (errors in one slice, in the lengths before the slices), then the frames after it
    let bytes = vector("slices.vqc");
    let (header, clean) = chunks(&bytes);
    assert_eq!(header.slices, 3);
    let (mut failed, mut tried) = (0, 0);
    for at in (0..clean[1].payload.len()).step_by(3) {
        let mut payload = clean[1].payload.to_vec();
        payload[at] ^= 0xA5;
        let mut broken = clean.clone();
        broken[1] = Chunk {
            payload: &payload,
            ..clean[1].clone()
        };
        for split in splits(3) {
            failed += same_both_ways(&header, &broken, &split);
            tried += 1;
        }
    }
    // many changes cost chunk 1 and chunk 2 (no reference), up to the keyframe at pts 3; the
    // others decode to other symbols, the same both ways
    assert!(failed > tried / 4, "{failed} errors in {tried} runs");
}

#[test]
fn parts_that_are_not_the_chunks_are_refused_and_change_nothing() {
    let bytes = vector("slices.vqc");
    let (header, chunks) = chunks(&bytes);
    let mut whole = Decoder::new(&header, None).unwrap();
    let mut apart = Decoder::new(&header, None).unwrap();
    let mut readers: Vec<_> = (0..3)
        .map(|k| SliceDecoder::new(&header, k..k + 1).unwrap())
        .collect();
    let parts: Vec<Vec<Vec<u8>>> = chunks
        .iter()
        .map(|c| readers.iter_mut().map(|d| d.decode(c)).collect())
        .collect();
    let refused =
        |d: &mut Decoder, c: &Chunk<'_>, ps: &[&[u8]], why: &str| match d.decode_parts(c, ps) {
            Err(ConfigError::SliceParts(m)) => assert!(m.contains(why), "{m} (expected: {why})"),
            other => panic!("{other:?} (expected: {why})"),
        };
    let p = |k: usize, s: usize| parts[k][s].as_slice();
    let c0 = &chunks[0];
    refused(&mut apart, c0, &[p(0, 0), p(0, 1)], "no part holds slice 2");
    refused(
        &mut apart,
        c0,
        &[p(0, 0), p(0, 1), p(0, 1), p(0, 2)],
        "slice 1 is in two parts",
    );
    refused(
        &mut apart,
        c0,
        &[p(0, 0), p(1, 1), p(0, 2)],
        "part 1 is not of this chunk",
    );
    let cut = &p(0, 2)[..p(0, 2).len() - 1];
    refused(&mut apart, c0, &[p(0, 0), p(0, 1), cut], "cut short");
    let mut long = p(0, 2).to_vec();
    long.push(0);
    refused(
        &mut apart,
        c0,
        &[p(0, 0), p(0, 1), &long],
        "1 bytes too many",
    );
    // a symbol no decoder reads: a keyframe's first mode made a copy, an index past the codes
    let mut copy = p(0, 0).to_vec();
    let symbols = copy.len() - (2 * 3 + 3) * 2 * header.latent_size().1;
    copy[symbols] = 1;
    refused(
        &mut apart,
        c0,
        &[&copy, p(0, 1), p(0, 2)],
        "a mode the frame cannot hold",
    );
    let rows = vqc::slice_rows(header.latent_size().0, 3, 0).len() * header.latent_size().1;
    let mut index = p(0, 0).to_vec();
    let at = symbols + 3 * rows;
    index[at..at + 2].copy_from_slice(&200u16.to_le_bytes());
    refused(
        &mut apart,
        c0,
        &[&index, p(0, 1), p(0, 2)],
        "indices the frame cannot hold",
    );
    // any byte of a part changed: refused, or symbols a decoder could have read; never a panic
    let mut at_one = apart.clone();
    at_one
        .decode_parts(c0, &[p(0, 0), p(0, 1), p(0, 2)])
        .unwrap()
        .unwrap();
    for at in 0..p(1, 1).len() {
        let mut changed = p(1, 1).to_vec();
        changed[at] ^= 0xFF;
        let _ = at_one
            .clone()
            .decode_parts(&chunks[1], &[p(1, 0), &changed, p(1, 2)]);
    }
    // refused parts drop the reference: the next delta frame waits for a keyframe; from the
    // keyframe on, the stream decodes as the whole decoder reads it
    assert!(matches!(
        apart.decode_parts(&chunks[1], &[p(1, 0), p(1, 1), p(1, 2)]),
        Ok(Err(StreamError::NeedKeyframe { .. }))
    ));
    for (k, c) in chunks.iter().enumerate() {
        let refs: Vec<&[u8]> = parts[k].iter().map(Vec::as_slice).collect();
        assert_eq!(
            outcome(apart.decode_parts(c, &refs).unwrap()),
            outcome(whole.decode_shared(c))
        );
    }
    // a decoder fed parts has not carried its own models: it waits for a keyframe to decode a
    // chunk itself, then goes on as the whole decoder
    let mut mixed = Decoder::new(&header, None).unwrap();
    let refs: Vec<&[u8]> = parts[0].iter().map(Vec::as_slice).collect();
    mixed.decode_parts(&chunks[0], &refs).unwrap().unwrap();
    assert!(matches!(
        mixed.decode_shared(&chunks[1]),
        Err(StreamError::NeedKeyframe { .. })
    ));
    let mut again = Decoder::new(&header, None).unwrap();
    for c in &chunks[3..] {
        assert_eq!(
            outcome(mixed.decode_shared(c)),
            outcome(again.decode_shared(c))
        );
    }
    // slices the stream does not have
    for bad in [0..0, 2..4, 3..4] {
        assert!(SliceDecoder::new(&header, bad).is_err());
    }
}
