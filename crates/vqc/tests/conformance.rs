//! The conformance vectors (`tests/conformance/` at the workspace root) decoded by the format
//! crate alone, without a model: every chunk's indices (or the error that cost it) must be the
//! pinned ones. The engine's `tests/conformance.rs` pins the decoded frames too, and re-pins
//! everything on purpose (`VQC_CONFORMANCE_WRITE=1`); `coefficients.vqc`, a lab model's stream
//! with enhancement coefficients, is re-pinned and its latents checked by the lab's
//! `crates/lab/tests/enhance.rs`.

use vqc::bench::describe_symbols;

#[test]
fn vectors_decode_to_their_pinned_symbols_without_a_model() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/conformance");
    let (mut seen, mut refined) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "vqc") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let pinned = std::fs::read_to_string(path.with_extension("txt")).unwrap();
        let expected: Vec<&str> = pinned
            .lines()
            .filter(|l| {
                !l.starts_with('#') && !l.starts_with("frame ") && !l.starts_with("latent ")
            })
            .collect();
        let got = describe_symbols(&bytes).unwrap();
        assert_eq!(
            got.lines().collect::<Vec<_>>(),
            expected,
            "{}",
            path.display()
        );
        seen += 1;
        refined += usize::from(got.lines().any(|l| l.contains(" step ")));
    }
    assert!(seen >= 4, "only {seen} vectors in {dir}");
    // version 9's enhancement coefficients are pinned too (coefficients.vqc, a lab model's)
    assert!(refined >= 1, "no vector in {dir} codes coefficients");
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/conformance/").to_string() + name,
    )
    .unwrap()
}

/// `layout` (what the browser package splits files with) walks the vectors as the decoder does:
/// the same chunks at the same offsets, a damaged span where the decoder met damage, and a cut
/// file's whole chunks with the cut reported.
#[test]
fn layout_and_peek_agree_with_the_decoder_on_the_vectors() {
    use vqc::{ErrorKind, FrameKind, Limits, StreamDecoder, layout, peek_chunk};
    let clean = vector("key-delta.vqc");
    let l = layout(&clean, Limits::default()).unwrap();
    let decoded: Vec<_> = StreamDecoder::new(&clean, Limits::default(), None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(l.chunks.len(), decoded.len());
    assert_eq!(l.header_len, l.chunks[0].start);
    assert_eq!(l.chunks.last().unwrap().end, clean.len());
    assert!(l.truncated.is_none());
    for (span, f) in l.chunks.iter().zip(&decoded) {
        assert_eq!(span.start as u64, f.offset);
        assert_eq!(span.end - span.start, f.bytes);
        assert_eq!((span.kind, span.pts), (Some(f.kind), f.pts));
        let peeked = peek_chunk(&clean[span.start..]).unwrap();
        assert_eq!(
            (peeked.kind, peeked.pts, peeked.len),
            (f.kind, f.pts, f.bytes)
        );
    }
    assert_eq!(peek_chunk(&clean[1..]), None);

    // the damaged vector: chunk 1 fails its CRC and is one span, the rest are whole
    let damaged = vector("damaged.vqc");
    let d = layout(&damaged, Limits::default()).unwrap();
    let kinds: Vec<_> = d.chunks.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(FrameKind::Key),
            None,
            Some(FrameKind::Delta),
            Some(FrameKind::Key),
            Some(FrameKind::Delta),
            Some(FrameKind::Delta)
        ]
    );
    assert_eq!(
        d.chunks[1].error.as_ref().unwrap().kind(),
        ErrorKind::Damaged
    );
    assert_eq!(
        (d.chunks[1].start, d.chunks[1].end),
        (l.chunks[1].start, l.chunks[1].end)
    );

    // cut inside the last chunk: five whole chunks and the cut
    let cut = layout(&clean[..clean.len() - 3], Limits::default()).unwrap();
    assert_eq!(cut.chunks.len(), 5);
    assert_eq!(cut.truncated.unwrap().kind(), ErrorKind::Damaged);
    // not a stream at all: no layout, a Format error
    assert_eq!(
        layout(b"RIFF....WAVEfmt ", Limits::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Format
    );
}
