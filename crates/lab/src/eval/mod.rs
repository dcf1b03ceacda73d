//! `vqcodec-lab eval`: rate–distortion of vqcodec against x264, x265, VP9 and AV1 on y4m clips.
//!
//! For each clip: vqcodec at several quality points and each reference codec at several CRFs,
//! every stream written to a file and decoded back (vqcodec by its own stream decoder, the
//! others by ffmpeg); rate is the file's size, quality is PSNR-Y, PSNR-RGB and MS-SSIM (Y')
//! against the source frames, averaged over frames. Then BD-rate and BD-PSNR of vqcodec
//! against each reference, a CSV, SVG plots and a Markdown report.

mod baseline;
pub mod bdrate;
mod plot;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::model_spec::ModelSpec;
use baseline::Baseline;
use bdrate::{BdError, RdPoint, bd_quality, bd_rate};
use vqcodec::adapt::{AdaptOptions, learn};
use vqcodec::frame::{Chroma, Frame, psnr_rgb, psnr_y_planes};
use vqcodec::metrics::{ms_ssim, ms_ssim_db};
use vqcodec::pipeline::{Analysis, Encoder, Search, StreamReader};
use vqcodec::vqc::{CodebookPatch, EncoderConfig, Limits, RateControl};
use vqcodec::y4m_io::{InputFrame, Y4mReader, open_input};
use vqcodec::{Backend, BackendRequest, Engine, block_on};
use vqcodec_cli::adapt_cmd::{analyse_all, latents_of};

/// Options of `vqcodec-lab eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// y4m clips to evaluate on.
    #[arg(required = true)]
    pub clips: Vec<PathBuf>,
    /// Folder for results.csv, bdrate.csv, the SVG plots and report.md (unless --doc).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Folder for the encoded streams (default: OUTPUT/streams).
    #[arg(long)]
    pub streams: Option<PathBuf>,
    /// Frames per clip (default: all).
    #[arg(long)]
    pub frames: Option<usize>,
    /// vqcodec quality points.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5,10,25,35,45,55,70,85,100"
    )]
    pub qualities: Vec<u8>,
    /// vqcodec models to evaluate: `base`, `lite` or paths to `.vqw` weight files.
    #[arg(long, value_delimiter = ',', default_value = "base")]
    pub models: Vec<ModelSpec>,
    /// Reference codecs (x264, x265, vp9, av1), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "x264,x265,vp9,av1")]
    pub codecs: Vec<String>,
    /// CRF values for every reference codec (default: per codec, see docs/results.md).
    #[arg(long, value_delimiter = ',')]
    pub crf: Option<Vec<u32>>,
    /// vqcodec's most frames between keyframes (as `vqcodec encode --keyint`).
    #[arg(long, default_value_t = vqcodec::vqc::FILE_KEYINT)]
    pub keyint: u32,
    /// vqcodec's search effort (1..=8, as `vqcodec encode --effort`).
    #[arg(long, default_value_t = vqcodec::vqc::DEFAULT_EFFORT,
          value_parser = clap::value_parser!(u8).range(1..=vqcodec::vqc::MAX_EFFORT as i64))]
    pub effort: u8,
    /// vqcodec's lookahead in frames (as `vqcodec encode --lookahead`; 0: none).
    #[arg(long, default_value_t = vqcodec::vqc::FILE_LOOKAHEAD,
          value_parser = clap::value_parser!(u32).range(0..=vqcodec::vqc::MAX_LOOKAHEAD as i64))]
    pub lookahead: u32,
    /// vqcodec's slices per frame (as `vqcodec encode --slices`; 0: by the frame's size).
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=vqcodec::vqc::MAX_SLICES as i64))]
    pub slices: u8,
    /// Where vqcodec's encoder makes its choices (as `vqcodec encode --search`: `host` or
    /// `device`; the device's search has no lookahead, and its rows are named `…-device`).
    #[arg(long, default_value = "host")]
    pub search: Search,
    /// vqcodec's adaptive quantisation strength (as `vqcodec encode --aq`; 0: off).
    #[arg(long, default_value_t = vqcodec::vqc::DEFAULT_AQ, value_parser = vqcodec_cli::codec_cmd::parse_aq)]
    pub aq: f64,
    /// Replace the part of this Markdown file between `<!-- eval:begin -->` and
    /// `<!-- eval:end -->` with the report.
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// Backend for vqcodec: auto, wgpu or cpu.
    #[arg(long, default_value = "auto")]
    pub backend: BackendRequest,
    /// Also run each model with codebooks adapted to the clip (`vqcodec adapt`'s defaults:
    /// 64 frames sampled across it, level 0), the codebook carried in every stream.
    #[arg(long)]
    pub adapt: bool,
    /// With `--adapt`: λ of the rate-aware refit (`vqcodec adapt --rate-weight`; 0: plain
    /// k-means).
    #[arg(long, default_value_t = vqcodec::adapt::RATE_WEIGHT)]
    pub adapt_rate_weight: f32,
    /// With `--adapt`: the RVQ levels to refit (`vqcodec adapt --levels`; default: its
    /// default).
    #[arg(long, value_delimiter = ',')]
    pub adapt_levels: Option<Vec<usize>>,
}

/// One measured rate point.
#[derive(Debug, Clone)]
struct Row {
    clip: String,
    codec: String,
    setting: String,
    frames: usize,
    width: usize,
    height: usize,
    bytes: u64,
    psnr_y: f64,
    psnr_rgb: f64,
    msssim: f64,
    encode_s: f64,
    decode_s: f64,
}

impl Row {
    fn bpp(&self) -> f64 {
        self.bytes as f64 * 8.0 / (self.width * self.height * self.frames) as f64
    }
    fn encode_fps(&self) -> f64 {
        self.frames as f64 / self.encode_s
    }
    fn decode_fps(&self) -> f64 {
        self.frames as f64 / self.decode_s
    }
    fn psnr_point(&self) -> RdPoint {
        RdPoint {
            rate: self.bpp(),
            quality: self.psnr_y,
        }
    }
    fn msssim_point(&self) -> RdPoint {
        RdPoint {
            rate: self.bpp(),
            quality: ms_ssim_db(self.msssim),
        }
    }
}

/// A clip held in memory.
pub(crate) struct Clip {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) fps: (u32, u32),
    pub(crate) chroma: Chroma,
    pub(crate) frames: Vec<InputFrame>,
}

/// The frames of the y4m clip at `path` (at most `limit`), named by its file stem.
pub(crate) fn load_clip(path: &Path, limit: Option<usize>) -> Result<Clip> {
    let mut r = Y4mReader::new(open_input(path)?, &path.display().to_string())?;
    let mut frames = Vec::new();
    while frames.len() < limit.unwrap_or(usize::MAX) {
        match r.next_frame()? {
            Some(f) => frames.push(f),
            None => break,
        }
    }
    if frames.is_empty() {
        bail!("{} holds no frames", path.display());
    }
    Ok(Clip {
        name: path
            .file_stem()
            .map_or("clip".into(), |s| s.to_string_lossy().to_string()),
        path: path.to_path_buf(),
        width: r.width,
        height: r.height,
        fps: (
            u32::try_from(r.framerate.num.max(1))?,
            u32::try_from(r.framerate.den.max(1))?,
        ),
        chroma: r.chroma(),
        frames,
    })
}

/// Mean PSNR-Y, PSNR-RGB and MS-SSIM (Y') of decoded `(luma, rgb)` frames against the source,
/// computed on two threads.
fn quality(src: &[InputFrame], decoded: &[(Vec<u8>, Frame)], w: usize, h: usize) -> [f64; 3] {
    let n = src.len().min(decoded.len());
    let per_frame = |i: usize| -> [f64; 3] {
        let (luma, rgb) = &decoded[i];
        [
            psnr_y_planes(&src[i].luma, luma).min(100.0),
            psnr_rgb(&src[i].rgb, rgb).min(100.0),
            ms_ssim(&src[i].luma, luma, w, h),
        ]
    };
    let half = n / 2;
    let sums = std::thread::scope(|s| {
        let a = s.spawn(|| {
            (0..half).map(per_frame).fold([0.0; 3], |acc, v| {
                [acc[0] + v[0], acc[1] + v[1], acc[2] + v[2]]
            })
        });
        let b = (half..n).map(per_frame).fold([0.0; 3], |acc, v| {
            [acc[0] + v[0], acc[1] + v[1], acc[2] + v[2]]
        });
        let a = a.join().expect("metric thread should not panic");
        [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
    });
    sums.map(|s| s / n.max(1) as f64)
}

/// Codebooks adapted to a clip as `vqcodec adapt` makes them by default (64 of its latents,
/// evenly spaced, its default levels unless `levels`), with the rate-aware refit's λ
/// `rate_weight`.
fn adapted_codebook(
    engine: &Engine,
    analysis: &Analysis,
    rate_weight: f32,
    levels: Option<&[usize]>,
) -> Result<CodebookPatch> {
    let latents = analysis.latents();
    let n = latents.len().min(64);
    let sample: Vec<Vec<f32>> = (0..n)
        .map(|i| latents[i * latents.len() / n].clone())
        .collect();
    let defaults = AdaptOptions::default();
    let options = AdaptOptions {
        rate_weight,
        levels: levels.map_or(defaults.levels.clone(), <[usize]>::to_vec),
        ..defaults
    };
    let (patch, _) = block_on(learn(engine, &sample, &options, |_| true))?;
    Ok(patch)
}

/// vqcodec at every quality point: the encoder network runs once per frame (its latents do
/// not depend on the quality), then each quality is coded, written, read back and decoded.
/// With `adapted`, the codebooks are first adapted to the clip and every stream carries them
/// (the time to adapt counts as encoding time, the codebook's bytes as rate).
fn eval_vqcodec(
    clip: &Clip,
    model: &ModelSpec,
    backend: &Backend,
    args: &EvalArgs,
    streams: &Path,
    adapted: bool,
) -> Result<Vec<Row>> {
    let engine = Engine::new(&model.weights()?, backend.clone())?;
    let rgb: Vec<Frame> = clip.frames.iter().map(|f| f.rgb.clone()).collect();
    // the encoder network once per kind of analysis, with its time: the whole latent, and for
    // an enhanced model the one with the enhancement at zero that encoders which never open
    // its levels read (and whose network does not compute it); the latents do not depend on
    // the quality or the codebook
    let mut analyses: [Option<(Analysis, f64)>; 2] = [None, None];
    let codebook = if adapted {
        let t = Instant::now();
        let whole = latents_of(&engine, &rgb)?;
        let patch = adapted_codebook(
            &engine,
            &whole,
            args.adapt_rate_weight,
            args.adapt_levels.as_deref(),
        )?;
        // the time to adapt counts as the analysis's
        analyses[0] = Some((whole, t.elapsed().as_secs_f64()));
        Some(patch)
    } else {
        None
    };
    let codec = format!(
        "vqcodec-{}{}{}",
        model.label(),
        if adapted { "-adapted" } else { "" },
        match args.search {
            Search::Host => "",
            Search::Device => "-device",
        }
    );
    let mut rows = Vec::new();
    for &q in &args.qualities {
        let config = EncoderConfig {
            width: u32::try_from(clip.width)?,
            height: u32::try_from(clip.height)?,
            fps_num: clip.fps.0,
            fps_den: clip.fps.1,
            rate: RateControl::Quality(q),
            keyint: args.keyint,
            scene_cut: true,
            effort: args.effort,
            chroma: clip.chroma.into(),
            frame_count: u32::try_from(clip.frames.len())?,
            lookahead: match args.search {
                Search::Host => args.lookahead,
                Search::Device => 0,
            },
            aq: args.aq,
            codebook: codebook.clone(),
            slices: args.slices,
        };
        let mut enc = block_on(Encoder::new(&engine, config))?;
        let analyser = enc.analyser();
        let zeros = engine.config().enhance_dims > 0 && !analyser.enhancement();
        let slot = &mut analyses[usize::from(zeros)];
        if slot.is_none() {
            let t = Instant::now();
            let a = analyse_all(&analyser, &rgb)?;
            *slot = Some((a, t.elapsed().as_secs_f64()));
        }
        let (analysis, latent_s) = slot.as_ref().expect("just computed");
        let t = Instant::now();
        let mut bytes = enc.header_bytes();
        for p in block_on(enc.code_with(analysis, false, args.search))? {
            bytes.extend_from_slice(&p.data);
        }
        let encode_s = latent_s + t.elapsed().as_secs_f64();
        let file = streams.join(format!("{}-{codec}-q{q}.vqc", clip.name));
        std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
        // decode what is on disk, as any decoder would
        let on_disk = std::fs::read(&file)?;
        let t = Instant::now();
        let stream = StreamReader::new(&engine, &on_disk, Limits::default())?;
        let renderer = stream.renderer();
        let mut decoded = Vec::with_capacity(analysis.len());
        for item in stream {
            let f = item.with_context(|| format!("decoding {}", file.display()))?;
            decoded.push(block_on(renderer.frame(&f.state))?);
        }
        let decode_s = t.elapsed().as_secs_f64();
        if decoded.len() != clip.frames.len() {
            bail!(
                "{} decoded to {} frames, expected {}",
                file.display(),
                decoded.len(),
                clip.frames.len()
            );
        }
        let decoded: Vec<(Vec<u8>, Frame)> = decoded
            .into_iter()
            .map(|f| (f.to_yuv(Chroma::Mono).0, f))
            .collect();
        let times = (encode_s, decode_s);
        rows.push(measure(
            clip,
            &codec,
            format!("q{q}"),
            &file,
            &decoded,
            times,
        )?);
    }
    Ok(rows)
}

fn eval_baseline(clip: &Clip, codec: Baseline, crfs: &[u32], streams: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &crf in crfs {
        let t = Instant::now();
        let file = codec.encode(&clip.path, clip.frames.len(), crf, streams)?;
        let encode_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut child = baseline::decode_to_y4m(&file)?;
        let stdout = child.stdout.take().context("ffmpeg has no stdout")?;
        let mut r = Y4mReader::new(Box::new(std::io::BufReader::new(stdout)), "ffmpeg output")?;
        let mut decoded = Vec::with_capacity(clip.frames.len());
        while let Some(f) = r.next_frame()? {
            decoded.push((f.luma, f.rgb));
        }
        let status = child.wait()?;
        let decode_s = t.elapsed().as_secs_f64();
        if !status.success() || decoded.len() != clip.frames.len() {
            bail!(
                "ffmpeg decoded {} to {} frames ({status}), expected {}",
                file.display(),
                decoded.len(),
                clip.frames.len()
            );
        }
        let times = (encode_s, decode_s);
        rows.push(measure(
            clip,
            codec.name(),
            format!("crf{crf}"),
            &file,
            &decoded,
            times,
        )?);
    }
    Ok(rows)
}

/// The row of one rate point: the file's size, the decoded frames' quality against the
/// source, and the encode / decode seconds; printed as it is made.
fn measure(
    clip: &Clip,
    codec: &str,
    setting: String,
    file: &Path,
    decoded: &[(Vec<u8>, Frame)],
    (encode_s, decode_s): (f64, f64),
) -> Result<Row> {
    let [psnr_y, psnr_rgb, msssim] = quality(&clip.frames, decoded, clip.width, clip.height);
    let row = Row {
        clip: clip.name.clone(),
        codec: codec.to_string(),
        setting,
        frames: clip.frames.len(),
        width: clip.width,
        height: clip.height,
        bytes: std::fs::metadata(file)?.len(),
        psnr_y,
        psnr_rgb,
        msssim,
        encode_s,
        decode_s,
    };
    print_row(&row);
    Ok(row)
}

fn print_row(r: &Row) {
    eprintln!(
        "{:14} {:14} {:6} {:9} B {:.4} bpp  PSNR-Y {:6.2}  PSNR-RGB {:6.2}  MS-SSIM {:.4}  enc {:6.1} fps  dec {:6.1} fps",
        r.clip,
        r.codec,
        r.setting,
        r.bytes,
        r.bpp(),
        r.psnr_y,
        r.psnr_rgb,
        r.msssim,
        r.encode_fps(),
        r.decode_fps()
    );
}

/// The codecs measured on `clip`, in the order they ran.
fn codecs_on<'a>(rows: &'a [Row], clip: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = rows
        .iter()
        .filter(|r| r.clip == clip)
        .map(|r| r.codec.as_str())
        .collect();
    names.dedup();
    names
}

/// One codec's rate–quality points on one clip, in rate order.
fn curve(rows: &[Row], clip: &str, codec: &str, point: fn(&Row) -> RdPoint) -> Vec<RdPoint> {
    let mut points: Vec<RdPoint> = rows
        .iter()
        .filter(|r| r.clip == clip && r.codec == codec)
        .map(point)
        .collect();
    points.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    points
}

/// One BD comparison: a vqcodec model against a reference (or, for an adapted run, against
/// the same model with its own codebooks) on one clip.
struct Delta {
    clip: String,
    test: String,
    anchor: String,
    rate_psnr: Result<f64, BdError>,
    rate_msssim: Result<f64, BdError>,
    psnr: Result<f64, BdError>,
}

fn deltas(rows: &[Row]) -> Vec<Delta> {
    let mut clips: Vec<&str> = rows.iter().map(|r| r.clip.as_str()).collect();
    clips.dedup();
    let mut out = Vec::new();
    for clip in clips {
        let codecs = codecs_on(rows, clip);
        for test in codecs.iter().filter(|c| c.starts_with("vqcodec")) {
            let plain = test.strip_suffix("-adapted");
            let anchors = codecs
                .iter()
                .filter(|c| !c.starts_with("vqcodec") || Some(**c) == plain);
            for anchor in anchors {
                let psnr = |c| curve(rows, clip, c, Row::psnr_point);
                let msssim = |c| curve(rows, clip, c, Row::msssim_point);
                let (a_psnr, t_psnr) = (psnr(anchor), psnr(test));
                out.push(Delta {
                    clip: clip.to_string(),
                    test: (*test).to_string(),
                    anchor: (*anchor).to_string(),
                    rate_psnr: bd_rate(&a_psnr, &t_psnr),
                    rate_msssim: bd_rate(&msssim(anchor), &msssim(test)),
                    psnr: bd_quality(&a_psnr, &t_psnr),
                });
            }
        }
    }
    out
}

fn fmt_pct(v: &Result<f64, BdError>) -> String {
    match v {
        Ok(x) => format!("{x:+.1}%"),
        Err(BdError::NoOverlap) => "n/a (no overlap)".into(),
        Err(BdError::TooFewPoints) => "n/a (too few points)".into(),
    }
}

fn fmt_db(v: &Result<f64, BdError>) -> String {
    match v {
        Ok(x) => format!("{x:+.2} dB"),
        Err(_) => fmt_pct(v),
    }
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut s = String::from(
        "clip,codec,setting,frames,width,height,bytes,bpp,psnr_y,psnr_rgb,msssim_y,msssim_y_db,encode_fps,decode_fps\n",
    );
    for r in rows {
        writeln!(
            s,
            "{},{},{},{},{},{},{},{:.6},{:.4},{:.4},{:.6},{:.4},{:.2},{:.2}",
            r.clip,
            r.codec,
            r.setting,
            r.frames,
            r.width,
            r.height,
            r.bytes,
            r.bpp(),
            r.psnr_y,
            r.psnr_rgb,
            r.msssim,
            ms_ssim_db(r.msssim),
            r.encode_fps(),
            r.decode_fps()
        )?;
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

fn write_bd_csv(path: &Path, d: &[Delta]) -> Result<()> {
    let v = |r: &Result<f64, BdError>| r.as_ref().map_or(String::new(), |x| format!("{x:.3}"));
    let mut s =
        String::from("clip,test,anchor,bd_rate_psnr_y_pct,bd_rate_msssim_pct,bd_psnr_y_db\n");
    for x in d {
        writeln!(
            s,
            "{},{},{},{},{},{}",
            x.clip,
            x.test,
            x.anchor,
            v(&x.rate_psnr),
            v(&x.rate_msssim),
            v(&x.psnr)
        )?;
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}, {threads} threads")
}

fn report(
    args: &EvalArgs,
    clips: &[(String, usize, usize, usize)],
    rows: &[Row],
    d: &[Delta],
    plots: &Path,
    ffmpeg: &str,
    backend: &str,
) -> Result<String> {
    let mut s = String::new();
    // the program as `vqcodec`, not the build's absolute path
    let command: Vec<String> = std::iter::once("vqcodec".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    writeln!(
        s,
        "Generated by `vqcodec-lab eval` — do not edit between the markers.\n"
    )?;
    writeln!(s, "- Command: `{}`", command.join(" "))?;
    writeln!(
        s,
        "- Machine: {} · vqcodec backend: {backend} · {ffmpeg}",
        machine()
    )?;
    let references = if args.codecs.iter().all(|c| c == "none") {
        "no reference codecs".to_string()
    } else {
        format!(
            "references at CRF {} (4:2:0, elementary streams)",
            args.crf.as_ref().map_or_else(
                || {
                    Baseline::ALL
                        .iter()
                        .map(|b| format!("{} {:?}", b.name(), b.default_crfs()))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                |c| format!("{c:?}")
            )
        )
    };
    writeln!(
        s,
        "- vqcodec qualities {:?}, keyframe every {} frames, lookahead {} frames, adaptive \
         quantisation {}, search effort {}; {references}; quality is the mean over frames \
         against the source; MS-SSIM on Y'.\n",
        args.qualities, args.keyint, args.lookahead, args.aq, args.effort,
    )?;
    writeln!(
        s,
        "### BD-rate of vqcodec (negative = fewer bits than the reference at equal quality)\n"
    )?;
    writeln!(
        s,
        "| clip | vqcodec | vs | BD-rate (PSNR-Y) | BD-rate (MS-SSIM) | BD-PSNR-Y |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|")?;
    for x in d {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            x.clip,
            x.test,
            x.anchor,
            fmt_pct(&x.rate_psnr),
            fmt_pct(&x.rate_msssim),
            fmt_db(&x.psnr)
        )?;
    }
    for (name, frames, w, h) in clips {
        writeln!(s, "\n### {name} ({frames} frames, {w}×{h})\n")?;
        writeln!(
            s,
            "![PSNR-Y vs bpp, {name}]({}/{name}-psnr.svg) ![MS-SSIM vs bpp, {name}]({}/{name}-msssim.svg)\n",
            plots.display(),
            plots.display()
        )?;
        writeln!(
            s,
            "| codec | setting | bytes | bpp | PSNR-Y | PSNR-RGB | MS-SSIM (dB) | encode fps | decode fps |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|---|---|---|")?;
        for r in rows.iter().filter(|r| &r.clip == name) {
            writeln!(
                s,
                "| {} | {} | {} | {:.4} | {:.2} | {:.2} | {:.4} ({:.2}) | {:.1} | {:.1} |",
                r.codec,
                r.setting,
                r.bytes,
                r.bpp(),
                r.psnr_y,
                r.psnr_rgb,
                r.msssim,
                ms_ssim_db(r.msssim),
                r.encode_fps(),
                r.decode_fps()
            )?;
        }
    }
    Ok(s)
}

/// Replaces the text between the eval markers of `doc` with `body`.
fn splice(doc: &Path, body: &str) -> Result<()> {
    const BEGIN: &str = "<!-- eval:begin -->";
    const END: &str = "<!-- eval:end -->";
    let text = std::fs::read_to_string(doc).unwrap_or_default();
    let new = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{BEGIN}\n{body}\n{}", &text[..b], &text[e..])
        }
        _ => format!("{text}\n{BEGIN}\n{body}\n{END}\n"),
    };
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))
}

/// `vqcodec-lab eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let baselines: Vec<Baseline> = args
        .codecs
        .iter()
        .filter(|c| c.as_str() != "none")
        .map(|c| c.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let (ffmpeg, available) = if baselines.is_empty() {
        ("no reference codecs".to_string(), Vec::new())
    } else {
        baseline::probe()?
    };
    if let Some(missing) = baselines.iter().find(|b| !available.contains(b)) {
        bail!("this ffmpeg has no {} encoder ({ffmpeg})", missing.name());
    }
    let streams = args
        .streams
        .clone()
        .unwrap_or_else(|| args.output.join("streams"));
    std::fs::create_dir_all(&streams)
        .with_context(|| format!("cannot create {}", streams.display()))?;
    std::fs::create_dir_all(&args.output)?;
    let backend = Backend::select(args.backend)?;
    let backend_name = format!("{} ({})", backend.kind, backend.reason);
    let mut rows = Vec::new();
    let mut clips = Vec::new();
    for path in &args.clips {
        let clip = load_clip(path, args.frames)?;
        eprintln!(
            "{}: {} frames, {}x{}",
            clip.name,
            clip.frames.len(),
            clip.width,
            clip.height
        );
        for model in &args.models {
            rows.extend(eval_vqcodec(&clip, model, &backend, args, &streams, false)?);
            if args.adapt {
                rows.extend(eval_vqcodec(&clip, model, &backend, args, &streams, true)?);
            }
        }
        for &b in &baselines {
            let crfs = args.crf.clone().unwrap_or_else(|| b.default_crfs());
            rows.extend(eval_baseline(&clip, b, &crfs, &streams)?);
        }
        let curves = |point: fn(&Row) -> RdPoint| -> Vec<plot::Series> {
            codecs_on(&rows, &clip.name)
                .into_iter()
                .map(|n| plot::Series {
                    name: n.to_string(),
                    points: curve(&rows, &clip.name, n, point)
                        .iter()
                        .map(|p| (p.rate, p.quality))
                        .collect(),
                })
                .collect()
        };
        let title = format!(
            "{} ({} frames, {}x{})",
            clip.name,
            clip.frames.len(),
            clip.width,
            clip.height
        );
        plot::rd_plot(
            &args.output.join(format!("{}-psnr.svg", clip.name)),
            &title,
            "PSNR-Y (dB)",
            &curves(Row::psnr_point),
        )?;
        plot::rd_plot(
            &args.output.join(format!("{}-msssim.svg", clip.name)),
            &title,
            "MS-SSIM on Y' (dB: −10·log10(1 − MS-SSIM))",
            &curves(Row::msssim_point),
        )?;
        clips.push((
            clip.name.clone(),
            clip.frames.len(),
            clip.width,
            clip.height,
        ));
    }
    let d = deltas(&rows);
    write_csv(&args.output.join("results.csv"), &rows)?;
    write_bd_csv(&args.output.join("bdrate.csv"), &d)?;
    let plots = match &args.doc {
        Some(doc) => {
            let base = doc.parent().unwrap_or(Path::new("."));
            args.output
                .strip_prefix(base)
                .map_or_else(|_| args.output.clone(), Path::to_path_buf)
        }
        None => PathBuf::from("."),
    };
    let text = report(args, &clips, &rows, &d, &plots, &ffmpeg, &backend_name)?;
    match &args.doc {
        Some(doc) => splice(doc, &text)?,
        None => std::fs::write(args.output.join("report.md"), &text)?,
    }
    let mut out = std::io::stdout().lock();
    for x in &d {
        writeln!(
            out,
            "{}: {} vs {}: BD-rate PSNR-Y {}, MS-SSIM {}, BD-PSNR-Y {}",
            x.clip,
            x.test,
            x.anchor,
            fmt_pct(&x.rate_psnr),
            fmt_pct(&x.rate_msssim),
            fmt_db(&x.psnr)
        )?;
    }
    writeln!(out, "wrote {}", args.output.display())?;
    Ok(())
}
