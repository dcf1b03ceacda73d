//! `vqcodec encode | decode | info | tokens`: the `.vqc` stream on the command line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::ModelArgs;
use vqcodec::frame::{Chroma, Frame, psnr_rgb, psnr_y_planes};
use vqcodec::model::{ModelId, ModelKind, Weights};
use vqcodec::pipeline::{
    Encoder, Overlap, Reconstruct, Search, StreamReader, default_render_workers, encode_ordered,
    render_ordered,
};
use vqcodec::vqc::{
    CodebookPatch, EncoderConfig, FrameKind, Header, Limits, RateControl, StreamDecoder,
    StreamError, SymbolBits,
};
use vqcodec::y4m_io::{InputFrame, Planes, Y4mReader, Y4mWriter, create_output, open_input};
use vqcodec::{Backend, Engine, block_on};

/// Options of `vqcodec encode`.
#[derive(clap::Args, Debug, Clone)]
pub struct EncodeArgs {
    /// Input y4m (`-` for stdin).
    pub input: PathBuf,
    /// Output `.vqc` (`-` for stdout).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Constant quality 0..=100 (RVQ depth and λ of the rate–distortion choices); default 80.
    /// 81..=100 are the high-fidelity steps: the model's enhancement coefficients lift its
    /// quality ceiling, for several times the bits on busy footage and slower encoding.
    #[arg(long, conflicts_with = "bitrate", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub quality: Option<u8>,
    /// Target bitrate in kbit/s (per-frame rate control).
    #[arg(long)]
    pub bitrate: Option<f64>,
    /// Most frames between keyframes (a whole file's default, as x264's).
    #[arg(long, default_value_t = vqcodec::vqc::FILE_KEYINT, value_parser = clap::value_parser!(u32).range(1..))]
    pub keyint: u32,
    /// Do not start keyframes at scene cuts.
    #[arg(long)]
    pub no_scene_cut: bool,
    /// Search effort 1..=8: smaller files at equal PSNR (not at a fixed --quality) for more
    /// encoding time (the
    /// paths the encoder's beam search keeps per position; 1 is greedy and fastest).
    #[arg(long, default_value_t = vqcodec::vqc::DEFAULT_EFFORT,
          value_parser = clap::value_parser!(u8).range(1..=vqcodec::vqc::MAX_EFFORT as i64))]
    pub effort: u8,
    /// Look ahead this many frames (0: none): smaller files at equal PSNR for a second search
    /// per frame and this many frames of delay (the encoder codes each window twice, first to
    /// see what later frames reuse).
    #[arg(long, default_value_t = vqcodec::vqc::FILE_LOOKAHEAD,
          value_parser = clap::value_parser!(u32).range(0..=vqcodec::vqc::MAX_LOOKAHEAD as i64))]
    pub lookahead: u32,
    /// Adaptive quantisation strength, 0 to 1 (0: off): more bits where the picture is flat,
    /// fewer in busy texture (λ per block by its Y' variance, as x264's AQ).
    #[arg(long, default_value_t = vqcodec::vqc::DEFAULT_AQ, value_parser = parse_aq)]
    pub aq: f64,
    /// Slices per frame, 1 to 16 (0: one per 8,192 latent positions, at most 8): bands of
    /// rows coded apart, which a decoder with several cores decodes at once, for slightly
    /// larger files.
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=vqcodec::vqc::MAX_SLICES as i64))]
    pub slices: u8,
    /// Where the encoder makes its choices: `host` (the CPU, position after position with the
    /// entropy coder's exact costs: the smallest files) or `device` (every position of a frame
    /// at once on the backend's device: fast on a GPU, larger files; whole-position motion
    /// only, no lookahead, a quality rather than a bitrate).
    #[arg(long, default_value = "host", conflicts_with = "bitrate")]
    pub search: Search,
    /// Encode at most this many frames.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frames per batch on the device.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Batches in the encoder network at once (and, for the PSNR, frames in the decoder
    /// network), each on its own thread, while the reading and the coding run on threads of
    /// their own; default 3 on a GPU, 2 on the CPU. The stream is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// Print only the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not decode each coded frame to measure its PSNR: the report then has no PSNR, and
    /// encoding skips a decoder-network run per frame (about a third of a CPU encode's time).
    /// The stream is the same either way.
    #[arg(long)]
    pub no_psnr: bool,
    /// A codebook adapted to this footage (`vqcodec adapt`); the stream carries it.
    #[arg(long)]
    pub codebook: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Reads a `.codebook` file made by `vqcodec adapt`.
pub fn read_codebook(path: &Path) -> Result<CodebookPatch> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    CodebookPatch::parse(&bytes).with_context(|| format!("cannot use {}", path.display()))
}

fn progress(hidden: bool, len: Option<u64>) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} frames {per_sec} {msg}")
                .expect("template should parse"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} frames {per_sec} {msg}")
                .expect("template should parse"),
        ),
    }
}

/// Statistics go to stdout, or to stderr when stdout carries the output.
fn report_sink(output: &Path) -> Box<dyn Write> {
    if output.as_os_str() == "-" {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

fn psnr_pair(input: &InputFrame, out: &Frame) -> (f64, f64) {
    let (y, _, _) = out.to_yuv(Chroma::Mono);
    (
        psnr_rgb(&input.rgb, out).min(100.0),
        psnr_y_planes(&input.luma, &y).min(100.0),
    )
}

/// An adaptive quantisation strength: a number in `0..=MAX_AQ`.
pub fn parse_aq(s: &str) -> std::result::Result<f64, String> {
    let max = vqcodec::vqc::MAX_AQ;
    match s.parse::<f64>() {
        Ok(a) if (0.0..=max).contains(&a) => Ok(a),
        _ => Err(format!("expected a number from 0 to {max}")),
    }
}

/// `vqcodec encode`.
pub fn encode(a: &EncodeArgs) -> Result<()> {
    let mut reader = Y4mReader::new(open_input(&a.input)?, &a.input.display().to_string())?;
    let codebook = a.codebook.as_deref().map(read_codebook).transpose()?;
    let engine = a.model.engine()?;
    let rate = match (a.quality, a.bitrate) {
        (_, Some(k)) => RateControl::Bitrate(k),
        (Some(q), None) => RateControl::Quality(q),
        (None, None) => RateControl::default(),
    };
    let (w, h) = (reader.width, reader.height);
    let config = EncoderConfig {
        width: u32::try_from(w)?,
        height: u32::try_from(h)?,
        fps_num: u32::try_from(reader.framerate.num.max(1))?,
        fps_den: u32::try_from(reader.framerate.den.max(1))?,
        rate,
        keyint: a.keyint,
        scene_cut: !a.no_scene_cut,
        effort: a.effort,
        chroma: reader.chroma().into(),
        frame_count: 0,
        // the device search decides frame by frame
        lookahead: if a.search == Search::Device {
            0
        } else {
            a.lookahead
        },
        aq: a.aq,
        codebook: codebook.clone(),
        slices: a.slices,
    };
    let fps = f64::from(config.fps_num) / f64::from(config.fps_den);
    let mut encoder = block_on(Encoder::new(&engine, config)).with_context(|| {
        format!(
            "cannot encode with {}",
            a.codebook
                .as_deref()
                .unwrap_or(Path::new("the model's codebook"))
                .display()
        )
    })?;
    if let Some(patch) = &codebook {
        eprintln!(
            "codebook {:016x}: levels {:?} adapted ({} bytes in the header)",
            patch.id(),
            patch.adapted,
            patch.byte_len() + 4
        );
    }
    eprintln!(
        "{w}x{h} @ {fps:.3} fps | model {} ({}) | backend {} ({}) | {}{}",
        a.model.label(),
        engine.model_id(),
        engine.backend_kind(),
        engine.backend().reason,
        match rate {
            RateControl::Quality(q) => format!("quality {q}"),
            RateControl::Bitrate(k) => format!("target {k} kbit/s"),
        },
        match (a.search, encoder.search_for(a.search)) {
            (Search::Device, Search::Device) => " | search on the device",
            (Search::Device, Search::Host) =>
                " | search on the host (the device's search codes no coefficients)",
            _ => "",
        }
    );
    let mut out = create_output(&a.output)?;
    let header = encoder.header_bytes();
    out.write_all(&header)?;
    let mut total_bytes = header.len();
    let mut report = report_sink(&a.output);
    let bar = progress(
        a.quiet || a.output.as_os_str() == "-",
        a.frames.map(|n| n as u64),
    );
    let (mut n, mut keys, mut cuts, mut sum_rgb, mut sum_y) = (0usize, 0usize, 0usize, 0f64, 0f64);
    let mut bits = SymbolBits::default();
    let limit = a.frames.unwrap_or(usize::MAX);
    let start = Instant::now();
    // per-frame stage times (ms) for medians: the mean includes backend warm-up (autotune)
    let (mut ms_latent, mut ms_code, mut ms_decode) = (Vec::new(), Vec::new(), Vec::new());
    // the reading and conversion on a thread ahead of the encoder network
    // (each frame tagged with its reading time)
    let frames = std::iter::from_fn(|| {
        let t = Instant::now();
        match reader.next_frame() {
            Ok(Some(f)) => {
                let rgb = f.rgb.clone();
                Some(Ok(((f, t.elapsed()), rgb)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    })
    .take(limit);
    let mut ms_read = Vec::new();
    // the decode only feeds the report: the decisions read the integer reference
    let compare = |(input, _): &(InputFrame, Duration), decoded: Frame, t: Duration| {
        (psnr_pair(input, &decoded), t)
    };
    let overlap = Overlap {
        search: a.search,
        workers: a
            .workers
            .map_or(default_render_workers(engine.backend_kind()), usize::from),
        batch: a.batch,
    };
    encode_ordered(
        &mut encoder,
        overlap,
        frames,
        (!a.no_psnr).then_some(&compare as Reconstruct<'_, _, _>),
        |e| {
            out.write_all(&e.packet.data)?;
            total_bytes += e.packet.data.len();
            ms_read.push(e.tag.1.as_secs_f64() * 1000.0);
            ms_latent.push(e.network.as_secs_f64() * 1000.0);
            ms_code.push(e.coding.as_secs_f64() * 1000.0);
            let psnr = match e.decoded {
                Some(d) => {
                    let ((p_rgb, p_y), t): ((f64, f64), Duration) = d?;
                    ms_decode.push(t.as_secs_f64() * 1000.0);
                    sum_rgb += p_rgb;
                    sum_y += p_y;
                    Some((p_rgb, p_y))
                }
                None => None,
            };
            let packet = e.packet;
            keys += usize::from(packet.kind == FrameKind::Key);
            cuts += usize::from(packet.stats.scene_cut);
            bits += packet.stats.bits;
            if !a.quiet {
                let s = &packet.stats;
                bar.suspend(|| {
                    writeln!(
                        report,
                        "frame {n:5} {:5} {:7} B  q {:3} L{} copy {:5.1}% inter {:5.1}% moved {:5.1}%{}{}",
                        format!("{:?}", packet.kind).to_lowercase(),
                        s.bytes,
                        s.quality,
                        s.levels,
                        s.copied * 100.0,
                        s.inter * 100.0,
                        s.moved * 100.0,
                        psnr.map_or_else(String::new, |(r, y)| format!(
                            "  PSNR-RGB {r:6.2}  PSNR-Y {y:6.2}"
                        )),
                        if s.scene_cut { "  (scene cut)" } else { "" }
                    )
                })?;
            }
            n += 1;
            bar.inc(1);
            Ok::<_, anyhow::Error>(())
        },
    )?;
    out.flush()?;
    bar.finish_and_clear();
    if n == 0 {
        bail!("{} holds no frames", a.input.display());
    }
    let secs = start.elapsed().as_secs_f64();
    let pixels = (w * h * n) as f64;
    let bpp = total_bytes as f64 * 8.0 / pixels;
    let kbps = total_bytes as f64 * 8.0 / (n as f64 / fps) / 1000.0;
    let raw = engine.config().raw_bpp(engine.config().levels);
    writeln!(
        report,
        "{n} frames ({keys} key, {cuts} at scene cuts) | {total_bytes} bytes | {bpp:.4} bpp = {kbps:.1} kbit/s | {} | {:.1}x below the raw token rate ({raw:.4} bpp) | {:.1} ms/frame on {} ({} network worker{}, the stages overlapped)",
        if a.no_psnr {
            "PSNR not measured (--no-psnr)".to_string()
        } else {
            format!(
                "PSNR-RGB {:.2} dB  PSNR-Y {:.2} dB",
                sum_rgb / n as f64,
                sum_y / n as f64
            )
        },
        raw / bpp,
        secs * 1000.0 / n as f64,
        engine.backend_kind(),
        overlap.workers,
        if overlap.workers == 1 { "" } else { "s" }
    )?;
    writeln!(
        report,
        "median per frame: reading {:.1} ms, encoder network {:.1} ms, RVQ + entropy coding {:.1} ms{}",
        median(&mut ms_read),
        median(&mut ms_latent),
        median(&mut ms_code),
        if a.no_psnr {
            String::new()
        } else {
            format!(
                ", decoder network (for PSNR) {:.1} ms",
                median(&mut ms_decode)
            )
        }
    )?;
    writeln!(report, "{}", bits_report(&bits, total_bytes))?;
    if let RateControl::Bitrate(target) = rate {
        writeln!(
            report,
            "rate control: target {target:.1} kbit/s, achieved {kbps:.1} kbit/s ({:+.1}%)",
            (kbps / target - 1.0) * 100.0
        )?;
    }
    Ok(())
}

/// Where the stream's bits went, as shares of the modelled bits.
fn bits_report(b: &SymbolBits, file_bytes: usize) -> String {
    let total = b.total().max(f64::MIN_POSITIVE);
    let pct = |v: f64| v * 100.0 / total;
    format!(
        "bits by syntax element: modes {:.1}%, motion {:.1}%, stop flags {:.1}%, indices {:.1}% \
         (keyframes {:.1}%, delta-frame intra {:.1}%, inter {:.1}%){} of {:.0} bytes modelled; \
         the file, with headers and each chunk's coder flush: {file_bytes} bytes",
        pct(b.mode),
        pct(b.motion),
        pct(b.stop),
        pct(b.index_key + b.index_intra + b.index_inter),
        pct(b.index_key),
        pct(b.index_intra),
        pct(b.index_inter),
        if b.enhancement > 0.0 {
            format!(", coefficients {:.1}%", pct(b.enhancement))
        } else {
            String::new()
        },
        b.total() / 8.0
    )
}

/// Per-frame stage times (ms), for a report that tells the first frame's warm-up (kernel
/// compilation, autotuning) from the steady state.
struct FrameTimes<const N: usize> {
    first: Option<[f64; N]>,
    rest: [Vec<f64>; N],
}

impl<const N: usize> Default for FrameTimes<N> {
    fn default() -> Self {
        Self {
            first: None,
            rest: std::array::from_fn(|_| Vec::new()),
        }
    }
}

impl<const N: usize> FrameTimes<N> {
    fn push(&mut self, stages: [f64; N]) {
        if self.first.is_none() {
            self.first = Some(stages);
        } else {
            for (v, t) in self.rest.iter_mut().zip(stages) {
                v.push(t);
            }
        }
    }

    /// ` (first frame F ms; then per frame, median: a A + b B … ms)`, or nothing for no frames.
    fn summary(&mut self, names: [&str; N]) -> String {
        let Some(first) = self.first else {
            return String::new();
        };
        let mut s = format!(" (first frame {:.1} ms", first.iter().sum::<f64>());
        if !self.rest[0].is_empty() {
            let parts: Vec<String> = self
                .rest
                .iter_mut()
                .zip(names)
                .map(|(v, name)| format!("{name} {:.1}", median(v)))
                .collect();
            s += &format!("; then per frame, median: {} ms", parts.join(" + "));
        }
        s + ")"
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Reads a whole stream from `input` (named `name` in errors) under `limits`.
fn read_stream(input: Box<dyn Read>, name: &Path, limits: &Limits) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let max = limits.max_stream_bytes;
    input
        .take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", name.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than the limit of {max} bytes", name.display());
    }
    Ok(bytes)
}

/// The weights a stream was made with: `--weights`, or the embedded model with its id.
fn weights_for(header: &Header, args: &ModelArgs) -> Result<Weights> {
    if args.weights.is_some() {
        return args.weights();
    }
    ModelKind::from_id(ModelId(header.model_id))
        .map(Weights::embedded)
        .with_context(|| {
            format!(
                "the stream was made with model {:016x}, which is not embedded here (pass --weights)",
                header.model_id
            )
        })
}

/// Options of `vqcodec decode`.
#[derive(clap::Args, Debug, Clone)]
pub struct DecodeArgs {
    /// Input `.vqc` (`-` for stdin).
    pub input: PathBuf,
    /// Output y4m (`-` for stdout).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The source y4m, to report PSNR against.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Print only the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Frames in the decoder network at once, each on its own thread (the entropy decoding and
    /// the writing run beside them): default 3 on a GPU, which keeps the device busy while
    /// frames upload, read back and convert, 2 on the CPU (1 on a single core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `vqcodec decode`. Damaged chunks are reported and concealed (the last good frame is
/// repeated until the next keyframe); a cut stream decodes up to the cut. Either way the
/// command exits with an error after writing everything it could.
pub fn decode(a: &DecodeArgs) -> Result<()> {
    let limits = Limits::default();
    let bytes = read_stream(open_input(&a.input)?, &a.input, &limits)?;
    let header = Header::parse(&bytes, &limits)
        .with_context(|| format!("cannot read {}", a.input.display()))?;
    let weights = weights_for(&header, &a.model)?;
    let engine = Engine::new(&weights, Backend::select(a.model.backend)?)?;
    let mut stream = StreamReader::new(&engine, &bytes, limits)?;
    let renderer = stream.renderer();
    let (w, h) = (header.width as usize, header.height as usize);
    let framerate = y4m::Ratio::new(header.fps_num as usize, header.fps_den as usize);
    let mut writer = Y4mWriter::new(
        create_output(&a.output)?,
        w,
        h,
        framerate,
        header.chroma.into(),
    )?;
    let mut reference = match &a.reference {
        Some(p) => Some(Y4mReader::new(open_input(p)?, &p.display().to_string())?),
        None => None,
    };
    let mut report = report_sink(&a.output);
    let bar = progress(a.quiet || a.output.as_os_str() == "-", None);
    let start = Instant::now();
    let (mut written, mut concealed, mut sum_rgb, mut sum_y, mut compared) =
        (0u64, 0u64, 0f64, 0f64, 0usize);
    // the last good frame and its planes, repeated over lost ones
    let mut last: Option<(Frame, Planes)> = None;
    // per decoded frame (ms): its symbols (entropy decoding and the integer reconstruction),
    // the decoder network with the pixels' way to the host, its output (conversion, writing,
    // the comparison); the first frame apart, as it pays the backend's warm-up. The stages
    // overlap (render_ordered), so they add up to more than the wall time per frame.
    let mut times = FrameTimes::default();
    let mut after_first: Option<(Instant, u64)> = None;
    let mut errors: Vec<StreamError> = Vec::new();
    let mut emit = |(frame, planes): &(Frame, Planes), writer: &mut Y4mWriter| -> Result<()> {
        writer.write_planes(planes)?;
        if let Some(r) = reference.as_mut()
            && let Some(input) = r.next_frame()?
        {
            sum_rgb += psnr_rgb(&input.rgb, frame).min(100.0);
            sum_y += psnr_y_planes(&input.luma, &planes.0).min(100.0);
            compared += 1;
        }
        Ok(())
    };
    // the entropy decoding, timed, on a thread ahead of the network
    let items = std::iter::from_fn(|| {
        let t = Instant::now();
        let item = stream.next()?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        Some(match item {
            Ok(f) => ((ms, Ok(f.pts)), Some(f.state)),
            Err(e) => ((ms, Err(e)), None),
        })
    });
    let chroma = writer.chroma();
    // on the worker after the network: the output's planes
    let finish = |frame: Frame, network: std::time::Duration| {
        let t = Instant::now();
        let planes = frame.to_yuv(chroma);
        let ms = [
            network.as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0,
        ];
        ((frame, planes), ms)
    };
    let workers = a
        .workers
        .map_or(default_render_workers(engine.backend_kind()), usize::from);
    render_ordered(
        &renderer,
        workers,
        items,
        finish,
        |(ms_symbols, item), out| {
            match (item, out) {
                (Ok(pts), Some(out)) => {
                    let (decoded, [ms_network, ms_convert]) = out?;
                    // conceal frames lost before this one by repeating the last good frame
                    if let Some(prev) = &last {
                        while written < u64::from(pts) {
                            emit(prev, &mut writer)?;
                            written += 1;
                            concealed += 1;
                        }
                    }
                    let t = Instant::now();
                    emit(&decoded, &mut writer)?;
                    let ms_output = ms_convert + t.elapsed().as_secs_f64() * 1000.0;
                    times.push([ms_symbols, ms_network, ms_output]);
                    written += 1;
                    last = Some(decoded);
                    // the stream's own pace starts when the first frame is out (warm-up apart)
                    after_first.get_or_insert((Instant::now(), written));
                    bar.inc(1);
                }
                (Ok(_), None) => unreachable!("every decoded frame is rendered"),
                (Err(e), _) => {
                    bar.suspend(|| writeln!(report, "warning: {e}"))?;
                    errors.push(e);
                }
            }
            anyhow::Ok(())
        },
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let pixels = (w * h) as f64 * written.max(1) as f64;
    let mut line = format!(
        "{written} frames ({concealed} concealed) from {} bytes | {:.4} bpp | {:.1} ms/frame on {} ({workers} network worker{}){}",
        bytes.len(),
        bytes.len() as f64 * 8.0 / pixels,
        secs * 1000.0 / written.max(1) as f64,
        engine.backend_kind(),
        if workers == 1 { "" } else { "s" },
        times.summary(["symbols", "decoder network", "output"])
    );
    if let Some((t, n)) = after_first
        && written > n
    {
        let ms = t.elapsed().as_secs_f64() * 1000.0 / (written - n) as f64;
        line += &format!(
            " | after the first frame {ms:.1} ms/frame ({:.1} fps)",
            1000.0 / ms
        );
    }
    if compared > 0 {
        line += &format!(
            " | PSNR-RGB {:.2} dB  PSNR-Y {:.2} dB vs the reference",
            sum_rgb / compared as f64,
            sum_y / compared as f64
        );
    }
    writeln!(report, "{line}")?;
    if let Some(e) = errors.last() {
        bail!("the stream has {} error(s); the last: {e}", errors.len());
    }
    Ok(())
}

/// Options of `vqcodec info`.
#[derive(clap::Args, Debug, Clone)]
pub struct InfoArgs {
    /// Input `.vqc` (`-` for stdin).
    pub input: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `vqcodec info`: the header and every chunk (checking each one's CRC and symbols).
pub fn info(a: &InfoArgs) -> Result<()> {
    let limits = Limits::default();
    let bytes = read_stream(open_input(&a.input)?, &a.input, &limits)?;
    let stream = StreamDecoder::new(&bytes, limits, None)
        .with_context(|| format!("cannot read {}", a.input.display()))?;
    let header = stream.header().clone();
    let mut chunks = Vec::new();
    let mut errors = Vec::new();
    for item in stream {
        match item {
            Ok(f) => chunks.push(serde_json::json!({
                "offset": f.offset,
                "kind": f.kind,
                "levels": f.state.coded,
                "pts": f.pts,
                "bytes": f.bytes,
            })),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let pixels = f64::from(header.width) * f64::from(header.height) * chunks.len().max(1) as f64;
    let fps = f64::from(header.fps_num) / f64::from(header.fps_den);
    let bpp = bytes.len() as f64 * 8.0 / pixels;
    let kbps = bytes.len() as f64 * 8.0 * fps / chunks.len().max(1) as f64 / 1000.0;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "header": header,
                "codebook": header.codebook,
                "bytes": bytes.len(),
                "bpp": bpp,
                "kbps": kbps,
                "chunks": chunks,
                "errors": errors,
            }))?
        );
    } else {
        println!("format          vqc version {}", vqcodec::vqc::VERSION);
        println!("model id        {:016x}", header.model_id);
        match &header.codebook {
            Some(p) => println!(
                "codebook        {:016x}: levels {:?} adapted ({} bytes)",
                header.codebook_id,
                p.adapted,
                p.byte_len()
            ),
            None => println!("codebook        the model's own"),
        }
        println!(
            "size            {}x{} ({:?} source)",
            header.width, header.height, header.chroma
        );
        println!(
            "frame rate      {}/{} ({fps:.3} fps)",
            header.fps_num, header.fps_den
        );
        println!(
            "model           {} levels x {} codes, stride {}",
            header.levels,
            1u32 << header.codebook_bits,
            header.downsample
        );
        println!("slices          {} per frame", header.slices);
        let keys = chunks.iter().filter(|c| c["kind"] == "key").count();
        println!(
            "frames          {} ({keys} key, {} delta)",
            chunks.len(),
            chunks.len() - keys
        );
        println!(
            "bytes           {} ({bpp:.4} bpp, {kbps:.1} kbit/s)",
            bytes.len()
        );
        println!("  frame   offset  type  levels    bytes");
        for (i, c) in chunks.iter().enumerate() {
            println!(
                "  {i:5} {:8}  {:5} {:6} {:8}",
                c["offset"],
                c["kind"].as_str().unwrap_or("?"),
                c["levels"],
                c["bytes"]
            );
        }
        for e in &errors {
            println!("error: {e}");
        }
    }
    if !errors.is_empty() {
        bail!("{} chunk(s) could not be read", errors.len());
    }
    Ok(())
}

/// Options of `vqcodec tokens`.
#[derive(clap::Args, Debug, Clone)]
pub struct TokensArgs {
    /// Input y4m or `.vqc` (`-` for stdin).
    pub input: PathBuf,
    /// Output `.npy`: int16, frames × levels × rows × columns; −1 where a frame coded no
    /// index (levels it left out, levels below an inter position's start, a position's levels
    /// from its stop flag on, every level of a copy).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write each position's mode and motion (a `.vqc` input only) as `.npy`: uint8,
    /// frames × rows × columns × 3; mode 0 intra (indices from level 0), 1 copy of the previous
    /// frame's latent, 2 + s the previous frame's latent plus indices from level s; motion 0 none,
    /// 1..=4 the prediction taken from the position left, right, above, below, 5 + k fine motion
    /// k (the picture moved by whole pixels: docs/bitstream.md, "Fine motion"); far motion 0
    /// none, 1 + k the k-th displacement of up to 4 positions (docs/bitstream.md, "Far motion"),
    /// where the motion applies.
    #[arg(long)]
    pub modes: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// An element type a `.npy` file holds: its numpy `descr` and little-endian bytes.
pub trait NpyElement: Copy {
    /// numpy's type string.
    const DESCR: &'static str;
    /// Appends the value's little-endian bytes.
    fn put(self, buf: &mut Vec<u8>);
}

impl NpyElement for i16 {
    const DESCR: &'static str = "<i2";
    fn put(self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn put(self, buf: &mut Vec<u8>) {
        buf.push(self);
    }
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn put(self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.to_le_bytes());
    }
}

/// Writes an array as `.npy` (format 1.0, C order).
pub fn write_npy<T: NpyElement>(out: &mut dyn Write, shape: &[usize], data: &[T]) -> Result<()> {
    anyhow::ensure!(
        shape.iter().product::<usize>() == data.len(),
        "npy shape {shape:?} does not hold {} values",
        data.len()
    );
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    // numpy's own spelling: a trailing comma only for a 1-tuple
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}",
        T::DESCR
    );
    // magic (6) + version (2) + length (2) + dict + newline, padded to a multiple of 64
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - 10 - dict.len() - 1));
    dict.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&u16::try_from(dict.len())?.to_le_bytes())?;
    out.write_all(dict.as_bytes())?;
    let mut buf = Vec::with_capacity(data.len() * std::mem::size_of::<T>());
    for &v in data {
        v.put(&mut buf);
    }
    out.write_all(&buf)?;
    Ok(())
}

/// `vqcodec tokens`.
pub fn tokens(a: &TokensArgs) -> Result<()> {
    let mut input = open_input(&a.input)?;
    let mut magic = [0u8; 4];
    input
        .read_exact(&mut magic)
        .with_context(|| format!("{} is too short", a.input.display()))?;
    let chained: vqcodec::y4m_io::Input = Box::new(std::io::Cursor::new(magic).chain(input));
    let (shape, data) = if magic == vqcodec::vqc::MAGIC {
        let limits = Limits::default();
        let bytes = read_stream(chained, &a.input, &limits)?;
        let stream = StreamDecoder::new(&bytes, limits, None)?;
        let (lh, lw) = stream.header().latent_size();
        let levels = usize::from(stream.header().levels);
        let mut data = Vec::new();
        let mut modes = Vec::new();
        let mut frames = 0usize;
        for item in stream {
            match item {
                Ok(f) => {
                    data.extend(f.state.idx.iter().map(|&v| {
                        if v == vqcodec::vqc::NONE {
                            -1
                        } else {
                            v as i16
                        }
                    }));
                    for ((m, &mv), &far) in
                        f.state.mode.iter().zip(&f.state.motion).zip(&f.state.far)
                    {
                        modes.extend([m.code(), mv, far]);
                    }
                    frames += 1;
                }
                Err(e) => eprintln!("warning: {e} (frame left out)"),
            }
        }
        if let Some(path) = &a.modes {
            let mut out = create_output(path)?;
            write_npy(&mut out, &[frames, lh, lw, 3], &modes)?;
            out.flush()?;
        }
        ([frames, levels, lh, lw], data)
    } else {
        anyhow::ensure!(
            a.modes.is_none(),
            "--modes needs a .vqc stream (a y4m clip is tokenized frame by frame, all intra)"
        );
        let mut reader = Y4mReader::new(chained, &a.input.display().to_string())?;
        let engine = a.model.engine()?;
        let mut data = Vec::new();
        let mut frames = 0usize;
        let mut grid = (0, 0, 0);
        while let Some(f) = reader.next_frame()? {
            let t = block_on(engine.encode(&[f.rgb], None))?;
            grid = (t.levels, t.height, t.width);
            data.extend(t.data.iter().map(|&v| v as i16));
            frames += 1;
        }
        ([frames, grid.0, grid.1, grid.2], data)
    };
    let mut out = create_output(&a.output)?;
    write_npy(&mut out, &shape, &data)?;
    out.flush()?;
    eprintln!(
        "wrote {} tokens, shape {:?} (frames, levels, rows, columns), int16",
        data.len(),
        shape
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FrameTimes;

    #[test]
    fn frame_times_keep_the_first_frame_apart_and_take_medians_of_the_rest() {
        let mut t = FrameTimes::<2>::default();
        assert_eq!(t.summary(["a", "b"]), "");
        t.push([900.0, 100.0]);
        assert_eq!(t.summary(["a", "b"]), " (first frame 1000.0 ms)");
        for s in [[3.0, 10.0], [1.0, 30.0], [2.0, 20.0]] {
            t.push(s);
        }
        assert_eq!(
            t.summary(["a", "b"]),
            " (first frame 1000.0 ms; then per frame, median: a 2.0 + b 20.0 ms)"
        );
    }
}
