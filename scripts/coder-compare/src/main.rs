//! vqcodec's adaptive binary range coder vs. constriction (0.5) on real code indices.
//!
//! `vqcodec tokens CLIP.y4m -o t.npy && cargo run --release -- t.npy`
//!
//! Codes each RVQ level's indices (frames in order, raster order inside a frame) three ways:
//! * ours: an adaptive bit tree per level (`vqc`'s range coder, through its `bench` feature);
//! * constriction, static: one categorical model per level from counts over the whole clip
//!   (the table would still have to be sent; its size is not counted: a best case);
//! * constriction, adaptive: counts updated after every symbol and the categorical model
//!   rebuilt every `REBUILD` symbols (what adaptive coding costs with a table-based model).

use vqc::bench as range;

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel as Model;
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use std::time::Instant;

fn read_npy(path: &str) -> (Vec<usize>, Vec<i16>) {
    let raw = std::fs::read(path).expect("npy file");
    let hlen = u16::from_le_bytes([raw[8], raw[9]]) as usize;
    let header = std::str::from_utf8(&raw[10..10 + hlen]).unwrap();
    let shape: Vec<usize> = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap()
        .split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let data = raw[10 + hlen..].chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    (shape, data)
}

const K: usize = 128;

fn model_from(counts: &[u32]) -> Model {
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let p: Vec<f64> = counts.iter().map(|&c| f64::from(c) / total).collect();
    Model::from_floating_point_probabilities_fast(&p, None).unwrap()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: coder-compare TOKENS.npy");
    let (shape, data) = read_npy(&path);
    let (frames, levels, plane) = (shape[0], shape[1], shape[2] * shape[3]);
    let per_level: Vec<Vec<usize>> = (0..levels)
        .map(|l| {
            (0..frames)
                .flat_map(|f| data[(f * levels + l) * plane..(f * levels + l + 1) * plane].iter().map(|&v| v as usize))
                .collect()
        })
        .collect();
    let n: usize = per_level.iter().map(Vec::len).sum();
    println!("{path}: {frames} frames x {levels} levels x {plane} positions = {n} indices (raw {} bytes at 7 bits)", n * 7 / 8);
    let rate = |t: f64| n as f64 / t / 1e6;

    // ours
    let t = Instant::now();
    let mut enc = range::RangeEncoder::new();
    for seq in &per_level {
        let mut tree = range::BitTree::new(7);
        for &v in seq {
            tree.encode(&mut enc, v as u32);
        }
    }
    let bytes = enc.finish();
    let te = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut dec = range::RangeDecoder::new(&bytes);
    for seq in &per_level {
        let mut tree = range::BitTree::new(7);
        for &v in seq {
            assert_eq!(tree.decode(&mut dec) as usize, v);
        }
    }
    let td = t.elapsed().as_secs_f64();
    println!("ours, adaptive bit tree:            {:8} bytes  encode {:6.1} M/s  decode {:6.1} M/s", bytes.len(), rate(te), rate(td));

    // constriction, static per level
    let models: Vec<Model> = per_level
        .iter()
        .map(|seq| {
            let mut c = vec![1u32; K];
            for &v in seq {
                c[v] += 1;
            }
            model_from(&c)
        })
        .collect();
    let t = Instant::now();
    let mut enc = DefaultRangeEncoder::new();
    for (seq, m) in per_level.iter().zip(&models) {
        enc.encode_iid_symbols(seq.iter().copied(), m).unwrap();
    }
    let words = enc.into_compressed().unwrap();
    let te = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut dec = DefaultRangeDecoder::from_compressed(words.clone()).unwrap();
    for (seq, m) in per_level.iter().zip(&models) {
        for &v in seq {
            assert_eq!(dec.decode_symbol(m).unwrap(), v);
        }
    }
    let td = t.elapsed().as_secs_f64();
    println!("constriction, static (table free):  {:8} bytes  encode {:6.1} M/s  decode {:6.1} M/s", words.len() * 4, rate(te), rate(td));

    // constriction, adaptive counts
    for rebuild in [1usize, 64] {
        let t = Instant::now();
        let mut enc = DefaultRangeEncoder::new();
        for seq in &per_level {
            let mut c = vec![1u32; K];
            let mut m = model_from(&c);
            for (i, &v) in seq.iter().enumerate() {
                enc.encode_symbol(v, &m).unwrap();
                c[v] += 32;
                if (i + 1) % rebuild == 0 {
                    m = model_from(&c);
                }
            }
        }
        let words = enc.into_compressed().unwrap();
        let te = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut dec = DefaultRangeDecoder::from_compressed(words.clone()).unwrap();
        for seq in &per_level {
            let mut c = vec![1u32; K];
            let mut m = model_from(&c);
            for (i, &v) in seq.iter().enumerate() {
                assert_eq!(dec.decode_symbol(&m).unwrap(), v);
                c[v] += 32;
                if (i + 1) % rebuild == 0 {
                    m = model_from(&c);
                }
            }
        }
        let td = t.elapsed().as_secs_f64();
        println!("constriction, adaptive (rebuild/{rebuild:<3}): {:8} bytes  encode {:6.1} M/s  decode {:6.1} M/s", words.len() * 4, rate(te), rate(td));
    }
}
