//! `vqcodec-lab bench`: where the time of one frame goes, per model, size and backend.
//!
//! Per frame (batch 1, medians over timed frames after warm-up; synthetic moving frames):
//! encoder network (upload, network, latent readback), the CPU's RVQ search + RD decisions +
//! entropy coding at quality 80, entropy decoding, decoder network (index upload, network,
//! frame readback); the model alone (encoder + RVQ on the device + decoder, one readback); and
//! a bare readback of one frame-sized f32 tensor, to separate transfer and sync from compute.
//! Then the stream's throughput as `vqcodec decode` reads a file and as `vqcodec encode --search
//! device` codes one (the stages overlapped).

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Tensor;

use vqcodec::model::{ConvKernels, set_conv_kernels};
use vqcodec::pipeline::{
    Decoder, Encoder, Overlap, Reconstruct, Search, default_render_workers, encode_ordered,
    render_ordered,
};
use vqcodec::vqc::{EncoderConfig, Limits};
use vqcodec::{Backend, BackendRequest, Engine, Frame, block_on};

use crate::model_spec::ModelSpec;

/// Options of `vqcodec bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Frame sizes, `WxH`, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "320x180,640x360,1280x720"
    )]
    pub sizes: Vec<String>,
    /// Models, comma-separated: `base`, `lite` or paths to `.vqw` weight files.
    #[arg(long, value_delimiter = ',', default_value = "base,lite")]
    pub models: Vec<ModelSpec>,
    /// Timed frames per case (after 3 warm-up frames).
    #[arg(long, default_value_t = 10)]
    pub frames: usize,
    /// Also time the encoder network on batches of this many frames (per-frame time).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// The hardware's peak f32 rate in TFLOP/s, to report the fraction reached.
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Backend: auto, wgpu or cpu.
    #[arg(long, default_value = "auto")]
    pub backend: BackendRequest,
    /// Slices per frame (as `vqcodec encode --slices`; 0: the encoder's default for the size).
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=vqcodec::vqc::MAX_SLICES as i64))]
    pub slices: u8,
    /// How the networks' convolutions run: auto (the codec's choice per backend), direct
    /// (burn's convolution), gemm (matrix products) or tiled (one tiled kernel of our own).
    #[arg(long, default_value = "auto", value_parser = parse_conv)]
    pub conv: ConvKernels,
    /// Run the search on the device as burn tensor operations on a GPU too (as before it was
    /// one kernel of our own; the CPU backends always do), to compare the two.
    #[arg(long)]
    pub search_operations: bool,
}

pub fn parse_conv(s: &str) -> Result<ConvKernels, String> {
    match s {
        "auto" => Ok(ConvKernels::Auto),
        "direct" => Ok(ConvKernels::Direct),
        "gemm" => Ok(ConvKernels::Gemm),
        "tiled" => Ok(ConvKernels::Tiled),
        other => Err(format!(
            "unknown convolution kernels {other:?} (auto, direct, gemm or tiled)"
        )),
    }
}

/// The encoder's settings of a case: the defaults for the size, with `a`'s slices.
fn bench_config(w: usize, h: usize, a: &BenchArgs) -> Result<EncoderConfig> {
    Ok(EncoderConfig {
        slices: a.slices,
        ..EncoderConfig::new(u32::try_from(w)?, u32::try_from(h)?)
    })
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| anyhow::anyhow!("size {s:?} should be WxH"))?;
    Ok((w.trim().parse()?, h.trim().parse()?))
}

/// A smooth moving pattern with some texture, different per frame.
fn synthetic(width: usize, height: usize, t: usize) -> Frame {
    let rgb = (0..width * height)
        .flat_map(|i| {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let t = t as f32;
            let a = ((x + 2.0 * t) * 0.05).sin() * ((y - t) * 0.04).cos();
            let b = ((x * 0.31 + y * 0.17).sin() * 0.5 + 0.5) * 40.0;
            [
                (128.0 + 90.0 * a + b * 0.3) as u8,
                (110.0 + 60.0 * a - b * 0.2) as u8,
                (90.0 + x * 120.0 / width as f32 + b * 0.5) as u8,
            ]
        })
        .collect();
    Frame::from_rgb(width, height, rgb).expect("synthetic frame should be valid")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Times one model at one size; returns the printed line.
fn case(engine: &Engine, model: &str, w: usize, h: usize, a: &BenchArgs) -> Result<String> {
    let warm = 3;
    let frames: Vec<Frame> = (0..warm + a.frames.max(1))
        .map(|t| synthetic(w, h, t))
        .collect();
    let mut encoder = block_on(Encoder::new(engine, bench_config(w, h, a)?))?;
    // the same frames again with the search on the device (vqcodec encode --search device)
    let mut on_device = encoder.clone();
    let analyser = encoder.analyser();
    let mut dec = Decoder::new(engine, &encoder.header_bytes(), Limits::default())?;
    let renderer = dec.renderer();
    let (mut t_net_e, mut t_code, mut t_ent_d, mut t_net_d, mut t_model, mut t_read) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    // the device's search in its three phases: the plan (host), the search (device, with its
    // uploads and readback), the entropy coding and reconstruction (host)
    let (mut t_dev, mut t_plan, mut t_search, mut t_write) = (vec![], vec![], vec![], vec![]);
    let mut last_state = None;
    // the stream, for the overlapped decode below
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let s = Instant::now();
        let analysis = block_on(analyser.analyse(std::slice::from_ref(f)))?;
        let e1 = ms(s);
        let s = Instant::now();
        let packet = encoder.code(&analysis, false)?.remove(0);
        let e2 = ms(s);
        chunks.push(packet.data.clone());
        let s = Instant::now();
        let planned = on_device.plan(&analysis, 0, false)?;
        let p1 = ms(s);
        let s2 = Instant::now();
        let choice = block_on(on_device.searcher().search(&planned))?;
        let p2 = ms(s2);
        on_device.code_searched(&planned, &choice)?;
        let e3 = ms(s);
        let s = Instant::now();
        let symbols = dec.symbols(&packet.data)?;
        let d1 = ms(s);
        let s = Instant::now();
        let _frame = block_on(renderer.frame(&symbols.state))?;
        let d2 = ms(s);
        last_state = Some(symbols.state);
        let s = Instant::now();
        block_on(engine.roundtrip(std::slice::from_ref(f), None))?;
        let m = ms(s);
        let s = Instant::now();
        let probe = Tensor::<4>::ones([1, 3, h, w], &engine.backend().device);
        let _ = block_on(probe.into_data_async());
        let r = ms(s);
        if i >= warm {
            t_net_e.push(e1);
            t_code.push(e2);
            t_dev.push(e3);
            t_plan.push(p1);
            t_search.push(p2);
            t_write.push(e3 - p1 - p2);
            t_ent_d.push(d1);
            t_net_d.push(d2);
            t_model.push(m);
            t_read.push(r);
        }
    }
    // of the symbols' time, the entropy decoding alone (the rest: the chunk's CRC and header,
    // the latent's reconstruction, the copy handed on), on the same chunks after the warm-up
    let header = vqcodec::vqc::Header::parse(&encoder.header_bytes(), &Limits::default())?;
    let (levels, (rows, cols)) = (usize::from(header.levels), header.latent_size());
    let fresh = || vqc::bench::Contexts::for_header(&header);
    let mut t_entropy_only = Vec::new();
    let mut ctx = None;
    for (i, c) in chunks.iter().enumerate() {
        let (chunk, _) = vqcodec::vqc::Chunk::parse(c, 0, &header, &Limits::default())?;
        let ctx = match (&mut ctx, chunk.kind) {
            (Some(c), vqcodec::vqc::FrameKind::Delta) => c,
            (c, _) => c.insert(fresh()),
        };
        let s = Instant::now();
        vqc::bench::decode_frame(
            chunk.payload,
            chunk.kind,
            (chunk.levels.into(), chunk.step),
            (levels, rows, cols),
            1 << header.codebook_bits,
            ctx,
        )
        .map_err(anyhow::Error::msg)?;
        if i >= warm {
            t_entropy_only.push(ms(s));
        }
    }
    // the whole stream as `vqcodec decode` reads it: symbols on a thread ahead, the decoder
    // network on `workers` threads, RGB8 frames in order (a file's throughput, not a frame's
    // latency); the median of three passes, after one to warm the threads' streams
    let workers = default_render_workers(engine.backend_kind());
    let header = encoder.header_bytes();
    let mut t_stream: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for pass in 0..4 {
        for (k, n) in [1, workers].into_iter().enumerate() {
            let mut dec = Decoder::new(engine, &header, Limits::default())?;
            let items = chunks.iter().map(|c| match dec.symbols(c) {
                Ok(s) => (None, Some(s.state)),
                Err(e) => (Some(e), None),
            });
            let s = Instant::now();
            render_ordered(
                &renderer,
                n,
                items,
                |f, _| f,
                |e, out| match (e, out) {
                    (Some(e), _) | (None, Some(Err(e))) => Err(e),
                    _ => Ok(()),
                },
            )?;
            if pass > 0 {
                t_stream[k].push(ms(s) / chunks.len() as f64);
            }
        }
    }
    // the whole clip as `vqcodec encode --search device --no-psnr` codes it: frames read
    // ahead, the encoder network on `workers` threads, the device search and the entropy
    // coding in order beside it (a file's throughput); median of three passes after one
    let mut t_enc_stream: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for pass in 0..4 {
        for (k, n) in [1, workers].into_iter().enumerate() {
            let mut enc = block_on(Encoder::new(engine, bench_config(w, h, a)?))?;
            let overlap = Overlap {
                search: Search::Device,
                workers: n,
                batch: 1,
            };
            let items = frames
                .iter()
                .cloned()
                .map(|f| Ok::<_, anyhow::Error>(((), f)));
            let s = Instant::now();
            encode_ordered(
                &mut enc,
                overlap,
                items,
                None::<Reconstruct<'_, _, ()>>,
                |_| Ok(()),
            )?;
            if pass > 0 {
                t_enc_stream[k].push(ms(s) / frames.len() as f64);
            }
        }
    }
    // the networks on batches (per frame): a file decoder or a non-live encoder can batch
    let (mut t_batch, mut t_batch_dec) = (Vec::new(), Vec::new());
    if a.batch > 1 {
        let batch: Vec<Frame> = frames.iter().cycle().take(a.batch).cloned().collect();
        // the decoder network on the latents a stream decoder hands it
        let one = last_state
            .expect("at least one frame was timed")
            .latent_f32();
        let latents: Vec<&[f32]> = (0..a.batch).map(|_| one.as_slice()).collect();
        for i in 0..4 {
            let s = Instant::now();
            block_on(engine.latents(&batch))?;
            let e = ms(s);
            let s = Instant::now();
            block_on(engine.decode_latents(&latents, w, h))?;
            if i >= 2 {
                t_batch.push(e / a.batch as f64);
                t_batch_dec.push(ms(s) / a.batch as f64);
            }
        }
    }
    // the decoder network's last step on the CPU backends (on the GPU it runs on the device):
    // planar f32 → interleaved RGB8
    let planar = vec![0.5f32; 3 * w * h];
    let mut t_rgb = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        std::hint::black_box(Frame::from_planar(&planar, 1, h, w)?);
        t_rgb.push(ms(s));
    }
    let (ne, c, ed, nd) = (
        median(&mut t_net_e),
        median(&mut t_code),
        median(&mut t_ent_d),
        median(&mut t_net_d),
    );
    let (enc_ms, dec_ms) = (ne + c, ed + nd);
    let px = (w * h) as f64;
    let (fe, fd) = engine.config().flops_per_pixel();
    let gflop = (fe + fd) * px / 1e9;
    // GFLOP per millisecond = TFLOP/s
    let net_tflops = gflop / (ne + nd);
    let entropy_only = median(&mut t_entropy_only);
    let mut line = format!(
        "{} {w}x{h} on {}, {} slices: encode {enc_ms:.2} ms ({:.1} fps, {:.2} Mpx/s) = encoder net {ne:.2} + RVQ/RD/entropy {c:.2} | decode {dec_ms:.2} ms ({:.1} fps, {:.2} Mpx/s) = entropy {ed:.2} (the entropy decoding alone {entropy_only:.2}; the rest: the latent's reconstruction, the chunk's checks, the copy) + decoder net {nd:.2} (the host's f32→RGB8 pass, which the CPU backends use, timed alone: {:.2}) | model alone {:.2} ms | readback of a frame {:.2} ms",
        model,
        engine.backend_kind(),
        encoder.header().slices,
        1000.0 / enc_ms,
        px / enc_ms / 1000.0,
        1000.0 / dec_ms,
        px / dec_ms / 1000.0,
        median(&mut t_rgb),
        median(&mut t_model),
        median(&mut t_read),
    );
    let [s1, sn] = t_stream.each_mut().map(|v| median(v));
    line += &format!(
        " | stream decode, overlapped: {s1:.2} ms/frame ({:.1} fps) with 1 network worker, {sn:.2} ms/frame ({:.1} fps) with {workers}",
        1000.0 / s1,
        1000.0 / sn
    );
    let dev = median(&mut t_dev);
    line += &format!(
        " | with the search on the device: RVQ/RD/entropy {dev:.2} ms (plan {:.2} + search {:.2} + entropy coding {:.2}), encode {:.2} ms ({:.1} fps)",
        median(&mut t_plan),
        median(&mut t_search),
        median(&mut t_write),
        ne + dev,
        1000.0 / (ne + dev)
    );
    let [e1, en] = t_enc_stream.each_mut().map(|v| median(v));
    line += &format!(
        " | stream encode with the device search, overlapped: {e1:.2} ms/frame ({:.1} fps) with 1 network worker, {en:.2} ms/frame ({:.1} fps) with {workers}",
        1000.0 / e1,
        1000.0 / en
    );
    if !t_batch.is_empty() {
        line += &format!(
            " | batch {}: encoder net {:.2}, decoder net {:.2} ms/frame",
            a.batch,
            median(&mut t_batch),
            median(&mut t_batch_dec)
        );
    }
    line += &format!(" | {gflop:.2} GFLOP/frame, {net_tflops:.3} TFLOP/s in the networks");
    if let Some(peak) = a.peak_tflops {
        line += &format!(" ({:.2}% of {peak} TFLOP/s)", net_tflops / peak * 100.0);
    }
    Ok(line)
}

/// `vqcodec bench`.
pub fn bench(a: &BenchArgs) -> Result<()> {
    let backend = Backend::select(a.backend)?;
    println!("backend {} ({})", backend.kind, backend.reason);
    set_conv_kernels(a.conv);
    println!("convolutions {:?}", a.conv);
    vqcodec::set_search_operations(a.search_operations);
    if a.search_operations {
        println!("the search on the device as tensor operations");
    }
    for model in &a.models {
        let engine = Engine::new(&model.weights()?, backend.clone())?;
        let model = model.label();
        for s in &a.sizes {
            let (w, h) = parse_size(s)?;
            println!("{}", case(&engine, &model, w, h, a)?);
        }
    }
    Ok(())
}
