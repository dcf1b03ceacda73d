//! Colour conversion speed: 8-bit RGB ↔ planar Y'CbCr (BT.601 limited range) as y4m input and
//! output and the PSNR-Y pass use it (`Frame::from_yuv`, `Frame::to_yuv`), per frame size and
//! chroma layout, RGB ↔ RGBA as the browser's canvas frames arrive and leave, and the decoder's
//! output (f32 planes on the CPU, packed words from the GPU) to RGBA, through an RGB frame or
//! straight (`Frame::rgba_from_planar`, `Frame::rgba_from_packed`). Arithmetic
//! only: the frame's content does not change the time.
//!
//! `cargo bench -p vqcodec-lab --bench convert -- [WxH,…] [REPEATS]` (default 1920x1080 and
//! 640x360, 20).

use std::hint::black_box;
use std::time::Instant;

use vqcodec::{Chroma, Frame};

/// Milliseconds per call of `f`, over `repeats` calls.
fn ms_per_call(repeats: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..repeats {
        f();
    }
    t.elapsed().as_secs_f64() * 1000.0 / repeats as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let sizes: Vec<(usize, usize)> = args
        .first()
        .map_or("1920x1080,640x360", String::as_str)
        .split(',')
        .map(|s| {
            let (w, h) = s.split_once('x').expect("WxH");
            (w.parse().expect("a width"), h.parse().expect("a height"))
        })
        .collect();
    let repeats: usize = args.get(1).map_or(20, |r| r.parse().expect("a count"));
    for (w, h) in sizes {
        // a smooth gradient with texture, every channel over its range
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x * 7 + y * 13) % 256) as u8,
                ]
            })
            .collect();
        let frame = Frame::from_rgb(w, h, rgb).expect("a frame");
        let rgba = frame.to_rgba();
        let to = ms_per_call(repeats, || {
            black_box(black_box(&frame).to_rgba());
        });
        let from = ms_per_call(repeats, || {
            black_box(Frame::from_rgba(w, h, black_box(&rgba)).expect("a frame"));
        });
        println!("{w}x{h} RGBA (the browser's): RGB -> RGBA {to:.2} ms, RGBA -> RGB {from:.2} ms");
        // the decoder's output as the browser takes it: from the CPU backend's f32 planes and
        // from the GPU's packed words, through an RGB frame or straight to RGBA
        let planes: Vec<f32> = (0..3 * w * h)
            .map(|i| frame.rgb()[(i % (w * h)) * 3 + i / (w * h)] as f32 / 255.0)
            .collect();
        let words: Vec<i32> = Frame::to_packed(std::slice::from_ref(&frame))
            .iter()
            .map(|v| v | i32::from_le_bytes([0, 0, 0, 0xFF]))
            .collect();
        let planes_rgb = ms_per_call(repeats, || {
            let f = Frame::from_planar(black_box(&planes), 1, h, w).expect("planes");
            black_box(f[0].to_rgba());
        });
        let planes_rgba = ms_per_call(repeats, || {
            black_box(Frame::rgba_from_planar(black_box(&planes), 1, h, w).expect("planes"));
        });
        let words_rgb = ms_per_call(repeats, || {
            let f = Frame::from_packed(black_box(&words), 1, h, w).expect("words");
            black_box(f[0].to_rgba());
        });
        let words_rgba = ms_per_call(repeats, || {
            black_box(Frame::rgba_from_packed(black_box(&words), 1, h, w).expect("words"));
        });
        println!(
            "{w}x{h} decoder output -> RGBA: f32 planes via RGB {planes_rgb:.2} ms, direct {planes_rgba:.2} ms; packed words via RGB {words_rgb:.2} ms, direct {words_rgba:.2} ms"
        );
        for chroma in [Chroma::C420, Chroma::C444, Chroma::Mono] {
            let planes = frame.to_yuv(chroma);
            let to = ms_per_call(repeats, || {
                black_box(black_box(&frame).to_yuv(chroma));
            });
            let from = ms_per_call(repeats, || {
                let (y, u, v) = black_box(&planes);
                black_box(Frame::from_yuv(w, h, chroma, y, u, v).expect("planes"));
            });
            println!(
                "{w}x{h} {chroma:?}: RGB -> Y'CbCr {to:.2} ms ({:.0} Mpx/s), Y'CbCr -> RGB {from:.2} ms ({:.0} Mpx/s)",
                (w * h) as f64 / to / 1000.0,
                (w * h) as f64 / from / 1000.0
            );
        }
    }
}
