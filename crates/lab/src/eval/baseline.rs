//! The reference codecs, run through Debian's `ffmpeg`: x264, x265, libvpx-vp9 and SVT-AV1,
//! each writing its raw elementary stream (Annex B or IVF: no container beyond what a decoder
//! needs), so that the file size is the codec's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{Context, Result, bail};

/// A reference codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// libx264, `-preset medium`.
    X264,
    /// libx265, `-preset medium`.
    X265,
    /// libvpx-vp9, `-deadline good -cpu-used 4 -row-mt 1 -b:v 0`.
    Vp9,
    /// SVT-AV1, `-preset 8`.
    Av1,
}

impl Baseline {
    /// All of them, in plotting order.
    pub const ALL: [Baseline; 4] = [Self::X264, Self::X265, Self::Vp9, Self::Av1];

    /// Short name used in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::X264 => "x264",
            Self::X265 => "x265",
            Self::Vp9 => "vp9",
            Self::Av1 => "av1",
        }
    }

    /// ffmpeg's encoder name.
    fn encoder(self) -> &'static str {
        match self {
            Self::X264 => "libx264",
            Self::X265 => "libx265",
            Self::Vp9 => "libvpx-vp9",
            Self::Av1 => "libsvtav1",
        }
    }

    /// Default CRF values: spread so that the curves cover the low rates vqcodec works at.
    pub fn default_crfs(self) -> Vec<u32> {
        match self {
            Self::X264 | Self::X265 => vec![27, 33, 39, 45, 51],
            Self::Vp9 | Self::Av1 => vec![31, 39, 47, 55, 63],
        }
    }

    /// The encoder's arguments at `crf`, as the issue fixes them.
    pub fn args(self, crf: u32) -> Vec<String> {
        let mut a: Vec<String> = ["-c:v", self.encoder()]
            .iter()
            .map(ToString::to_string)
            .collect();
        let extra: &[&str] = match self {
            Self::X264 => &["-preset", "medium"],
            Self::X265 => &["-preset", "medium", "-x265-params", "log-level=error"],
            Self::Vp9 => &[
                "-deadline",
                "good",
                "-cpu-used",
                "4",
                "-row-mt",
                "1",
                "-b:v",
                "0",
            ],
            Self::Av1 => &["-preset", "8"],
        };
        a.extend(extra.iter().map(ToString::to_string));
        a.extend(["-crf".to_string(), crf.to_string()]);
        a
    }

    /// The elementary-stream file extension and ffmpeg muxer.
    fn format(self) -> (&'static str, &'static str) {
        match self {
            Self::X264 => ("h264", "h264"),
            Self::X265 => ("hevc", "hevc"),
            Self::Vp9 | Self::Av1 => ("ivf", "ivf"),
        }
    }

    /// Encodes the first `frames` frames of `input` (4:2:0, as these codecs are used) at `crf`
    /// into a file under `dir`; returns its path.
    ///
    /// # Errors
    /// When ffmpeg cannot be run or fails.
    pub fn encode(self, input: &Path, frames: usize, crf: u32, dir: &Path) -> Result<PathBuf> {
        let (ext, muxer) = self.format();
        let stem = input
            .file_stem()
            .map_or("clip".into(), |s| s.to_string_lossy().to_string());
        let out = dir.join(format!("{stem}-{}-crf{crf}.{ext}", self.name()));
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(input)
            .args(["-frames:v", &frames.to_string(), "-pix_fmt", "yuv420p"])
            .args(self.args(crf))
            .args(["-f", muxer])
            .arg(&out)
            .env("SVT_LOG", "1") // SVT-AV1: errors only
            .stdin(Stdio::null())
            .status()
            .context("cannot run ffmpeg (install it: apt-get install ffmpeg)")?;
        if !status.success() {
            bail!("ffmpeg {} at crf {crf} failed ({status})", self.name());
        }
        Ok(out)
    }
}

impl FromStr for Baseline {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown codec {s:?} (expected x264, x265, vp9 or av1)"))
    }
}

/// Starts ffmpeg decoding `file` to 4:4:4 y4m on its stdout.
///
/// # Errors
/// When ffmpeg cannot be started.
pub fn decode_to_y4m(file: &Path) -> Result<std::process::Child> {
    Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
        .arg(file)
        .args(["-pix_fmt", "yuv444p", "-f", "yuv4mpegpipe", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run ffmpeg (install it: apt-get install ffmpeg)")
}

/// ffmpeg's version line and whether it has all four encoders.
pub fn probe() -> Result<(String, Vec<Baseline>)> {
    let v = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .context("cannot run ffmpeg (install it: apt-get install ffmpeg)")?;
    let version = String::from_utf8_lossy(&v.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .split(" Copyright")
        .next()
        .unwrap_or_default()
        .to_string();
    let e = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()?;
    let list = String::from_utf8_lossy(&e.stdout).to_string();
    let have = Baseline::ALL
        .into_iter()
        .filter(|b| list.split_whitespace().any(|w| w == b.encoder()))
        .collect();
    Ok((version, have))
}
