//! Encoder settings as the browser package passes them (WebCodecs' names, bitrate in bit/s), and
//! the defaults every front end shares: the CLI, the wasm API and the JS package all read them
//! from here (the JS package through the format module's `encoderDefaults()` / `limits()`).

use crate::container::{Limits, SourceChroma};
use crate::encoder::EncoderConfig;
use crate::error::ConfigError;
use crate::rate::{DEFAULT_QUALITY, RateControl};

/// Frames per second when the caller does not say.
pub const DEFAULT_FRAMERATE: u32 = 30;
/// Most frames between keyframes when the caller does not say, for a live source (the frame
/// API: the package's `VqVideoEncoder`, the pipeline's `push`): a lost chunk costs at most this
/// many frames.
pub const DEFAULT_KEYINT: u32 = 60;
/// Most frames between keyframes for a whole file (`vqcodec encode`, the package's
/// `compressVideo`, the lab's eval), as x264's default `--keyint`: fewer keyframes, smaller
/// files (docs/results/file-defaults.md).
pub const FILE_KEYINT: u32 = 250;
/// The encoder's search effort when the caller does not say: paths its beam search keeps per
/// position (1: the greedy choice, the fastest).
pub const DEFAULT_EFFORT: u8 = 1;
/// The highest search effort accepted.
pub const MAX_EFFORT: u8 = 8;
/// The encoder's lookahead when the caller does not say, for a live source: none (it costs a
/// second search per frame and holds frames back; `EncoderConfig::lookahead`).
pub const DEFAULT_LOOKAHEAD: u32 = 0;
/// The encoder's lookahead for a whole file, where holding frames back costs no latency (as
/// x264 `-preset medium`'s `rc-lookahead`): smaller files for about twice the search time.
pub const FILE_LOOKAHEAD: u32 = 40;
/// The longest lookahead accepted, in frames (the encoder holds that many latents: at
/// 1920×1080, 2 MB each for lite).
pub const MAX_LOOKAHEAD: u32 = 250;
/// Adaptive quantisation's strength when the caller does not say (`EncoderConfig::aq`).
/// Measured on the validation clips (lite, 60 frames, BD-rate against 0): 0.15 makes files
/// smaller at equal PSNR-Y (−1 to −8%) and at equal MS-SSIM (−9 to −10%) on all three; 0.2
/// and above trade PSNR-Y for MS-SSIM on balle-jbart (docs/results/aq.md).
pub const DEFAULT_AQ: f64 = 0.15;
/// The highest adaptive quantisation strength accepted.
pub const MAX_AQ: f64 = 1.0;
/// The highest frame rate accepted.
pub const MAX_FRAMERATE: f64 = 1000.0;

/// `{width, height, framerate?, quality? | bitrate? (bit/s), keyInterval?, sceneCut?, effort?,
/// lookahead?, aq?, search?, slices?}`, as JavaScript values: [`EncoderOptions::config`] checks
/// that sizes, quality, key interval, effort, lookahead and slices are integers in range, `aq` a number in range and
/// `search` `"host"` or `"device"`, so every message about them comes from here.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncoderOptions {
    /// Frame width in pixels.
    pub width: f64,
    /// Frame height in pixels.
    pub height: f64,
    /// Frames per second (default [`DEFAULT_FRAMERATE`]).
    #[serde(default)]
    pub framerate: Option<f64>,
    /// Constant quality 0..=100 (default [`DEFAULT_QUALITY`]).
    #[serde(default)]
    pub quality: Option<f64>,
    /// Target bitrate in bit/s (instead of `quality`).
    #[serde(default)]
    pub bitrate: Option<f64>,
    /// Most frames between keyframes (default [`DEFAULT_KEYINT`]).
    #[serde(default)]
    pub key_interval: Option<f64>,
    /// Start keyframes at scene cuts (default on).
    #[serde(default)]
    pub scene_cut: Option<bool>,
    /// Search effort 1..=[`MAX_EFFORT`] (default [`DEFAULT_EFFORT`]): smaller files at the same
    /// quality for more encoding time.
    #[serde(default)]
    pub effort: Option<f64>,
    /// Frames the encoder looks ahead, 0..=[`MAX_LOOKAHEAD`] (default [`DEFAULT_LOOKAHEAD`]):
    /// smaller files at the same quality for a second search per frame and that many frames of
    /// delay (`EncoderConfig::lookahead`).
    #[serde(default)]
    pub lookahead: Option<f64>,
    /// Adaptive quantisation strength 0..=[`MAX_AQ`] (default [`DEFAULT_AQ`]; 0: off): more
    /// bits where the picture is flat (`EncoderConfig::aq`).
    #[serde(default)]
    pub aq: Option<f64>,
    /// Where the encoder makes its choices: `"host"` (default: the CPU, the smallest files) or
    /// `"device"` (every position of a frame at once on the GPU: much faster there, larger
    /// files; no lookahead, a quality rather than a bitrate): [`EncoderOptions::search_on_device`].
    #[serde(default)]
    pub search: Option<String>,
    /// Slices per frame, 0..=[`crate::MAX_SLICES`] (default 0: by the frame's size,
    /// [`crate::default_slices`]): bands of rows a decoder with several cores decodes at once,
    /// for slightly larger files (`EncoderConfig::slices`).
    #[serde(default)]
    pub slices: Option<f64>,
}

/// `v` as an integer in `lo..=hi`, or why not.
fn integer(name: &str, v: f64, lo: u32, hi: u32) -> Result<u32, ConfigError> {
    if v.fract() == 0.0 && v >= f64::from(lo) && v <= f64::from(hi) {
        Ok(v as u32)
    } else {
        Err(ConfigError::Option(format!(
            "{name} must be an integer in {lo}..={hi} (got {v})"
        )))
    }
}

/// A frame rate as a small fraction: integers exactly, NTSC rates as n/1001, else n/1000.
///
/// # Errors
/// [`ConfigError::Option`] outside `0 < fps ≤ 1000`.
pub fn fps_fraction(fps: f64) -> Result<(u32, u32), ConfigError> {
    if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FRAMERATE) {
        return Err(ConfigError::Option(format!(
            "framerate {fps} (expected 0 < framerate ≤ {MAX_FRAMERATE})"
        )));
    }
    if (fps - fps.round()).abs() < 1e-9 {
        return Ok((fps.round() as u32, 1));
    }
    let ntsc = fps * 1.001;
    if (ntsc - ntsc.round()).abs() < 1e-6 {
        return Ok(((ntsc.round() as u32) * 1000, 1001));
    }
    Ok(((fps * 1000.0).round() as u32, 1000))
}

impl EncoderOptions {
    /// Whether the choices are made on the device (`search: "device"`).
    ///
    /// # Errors
    /// [`ConfigError::Option`] for another value than `"host"` or `"device"`, or `"device"`
    /// with a bitrate or a lookahead (the device's search codes each frame at a quality as it
    /// comes).
    pub fn search_on_device(&self) -> Result<bool, ConfigError> {
        match self.search.as_deref() {
            None | Some("host") => Ok(false),
            Some("device") if self.bitrate.is_some() => Err(ConfigError::Option(
                "search \"device\" codes at a quality, not a bitrate".into(),
            )),
            Some("device") if self.lookahead.is_some_and(|n| n > 1.0) => Err(ConfigError::Option(
                "search \"device\" codes each frame as it comes: no lookahead".into(),
            )),
            Some("device") => Ok(true),
            Some(other) => Err(ConfigError::Option(format!(
                "search must be \"host\" or \"device\" (got {other:?})"
            ))),
        }
    }

    /// The encoder configuration these options describe (RGB input: 4:4:4, frame count
    /// unknown, no codebook).
    ///
    /// # Errors
    /// [`ConfigError::Dimensions`] for a size of zero or over [`Limits::DEFAULT`];
    /// [`ConfigError::Option`] for a frame rate, quality, bitrate or key interval out of range,
    /// or both quality and bitrate.
    pub fn config(&self) -> Result<EncoderConfig, ConfigError> {
        let max = Limits::DEFAULT.max_width.min(Limits::DEFAULT.max_height);
        let (width, height) = match (
            integer("width", self.width, 1, max),
            integer("height", self.height, 1, max),
        ) {
            (Ok(w), Ok(h)) => (w, h),
            _ => {
                return Err(ConfigError::Dimensions {
                    width: self.width.max(0.0) as u64,
                    height: self.height.max(0.0) as u64,
                    max: max.into(),
                });
            }
        };
        self.search_on_device()?;
        let (fps_num, fps_den) =
            fps_fraction(self.framerate.unwrap_or(f64::from(DEFAULT_FRAMERATE)))?;
        let rate = match (self.quality, self.bitrate) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Option(
                    "give quality or bitrate, not both".into(),
                ));
            }
            (Some(q), None) => RateControl::Quality(integer("quality", q, 0, 100)? as u8),
            (None, Some(b)) if b.is_finite() && b > 0.0 => RateControl::Bitrate(b / 1000.0),
            (None, Some(b)) => {
                return Err(ConfigError::Option(format!(
                    "bitrate must be a positive number of bit/s (got {b})"
                )));
            }
            (None, None) => RateControl::Quality(DEFAULT_QUALITY),
        };
        let keyint = match self.key_interval {
            Some(k) => integer("keyInterval", k, 1, u32::MAX)?,
            None => DEFAULT_KEYINT,
        };
        let effort = match self.effort {
            Some(e) => integer("effort", e, 1, MAX_EFFORT.into())? as u8,
            None => DEFAULT_EFFORT,
        };
        let lookahead = match self.lookahead {
            Some(n) => integer("lookahead", n, 0, MAX_LOOKAHEAD)?,
            None => DEFAULT_LOOKAHEAD,
        };
        let slices = match self.slices {
            Some(n) => integer("slices", n, 0, crate::MAX_SLICES as u32)? as u8,
            None => 0,
        };
        let aq = match self.aq {
            Some(a) if (0.0..=MAX_AQ).contains(&a) => a,
            Some(a) => {
                return Err(ConfigError::Option(format!(
                    "aq must be a number from 0 to {MAX_AQ} (got {a})"
                )));
            }
            None => DEFAULT_AQ,
        };
        Ok(EncoderConfig {
            width,
            height,
            fps_num,
            fps_den,
            rate,
            keyint,
            scene_cut: self.scene_cut.unwrap_or(true),
            effort,
            chroma: SourceChroma::C444,
            frame_count: 0,
            lookahead,
            aq,
            codebook: None,
            slices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(width: f64, height: f64) -> EncoderOptions {
        EncoderOptions {
            width,
            height,
            ..EncoderOptions::default()
        }
    }

    #[test]
    fn the_search_is_the_hosts_unless_the_device_is_asked_for_and_can_do_it() {
        let with = |search: &str| EncoderOptions {
            search: Some(search.into()),
            ..opts(64.0, 64.0)
        };
        assert!(!opts(64.0, 64.0).search_on_device().unwrap());
        assert!(!with("host").search_on_device().unwrap());
        assert!(with("device").search_on_device().unwrap());
        assert!(with("device").config().is_ok());
        for bad in [
            with("gpu"),
            EncoderOptions {
                bitrate: Some(1e6),
                ..with("device")
            },
            EncoderOptions {
                lookahead: Some(10.0),
                ..with("device")
            },
        ] {
            assert!(bad.search_on_device().is_err(), "{bad:?}");
            assert!(bad.config().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_ranges() {
        let c = opts(640.0, 360.0).config().unwrap();
        assert_eq!((c.fps_num, c.fps_den, c.keyint, c.effort), (30, 1, 60, 1));
        assert_eq!(c.lookahead, DEFAULT_LOOKAHEAD);
        let ahead = EncoderOptions {
            lookahead: Some(60.0),
            ..opts(8.0, 8.0)
        };
        assert_eq!(ahead.config().unwrap().lookahead, 60);
        assert_eq!(c.aq, DEFAULT_AQ);
        let off = EncoderOptions {
            aq: Some(0.0),
            ..opts(640.0, 360.0)
        };
        assert_eq!(off.config().unwrap().aq, 0.0);
        assert_eq!(c.slices, 0, "slices by the frame's size unless given");
        let sliced = EncoderOptions {
            slices: Some(4.0),
            ..opts(8.0, 8.0)
        };
        assert_eq!(sliced.config().unwrap().slices, 4);
        assert_eq!(c.rate, RateControl::Quality(DEFAULT_QUALITY));
        assert_eq!(fps_fraction(30000.0 / 1001.0).unwrap(), (30000, 1001));
        assert_eq!(fps_fraction(29.97).unwrap(), (29970, 1000));
        assert_eq!(fps_fraction(12.5).unwrap(), (12500, 1000));
        let o = || opts(8.0, 8.0);
        for bad in [
            EncoderOptions {
                quality: Some(101.0),
                ..o()
            },
            EncoderOptions {
                quality: Some(50.5),
                ..o()
            },
            EncoderOptions {
                quality: Some(5.0),
                bitrate: Some(1e5),
                ..o()
            },
            EncoderOptions {
                bitrate: Some(0.0),
                ..o()
            },
            EncoderOptions {
                framerate: Some(0.0),
                ..o()
            },
            EncoderOptions {
                framerate: Some(f64::NAN),
                ..o()
            },
            EncoderOptions {
                key_interval: Some(0.0),
                ..o()
            },
            EncoderOptions {
                effort: Some(0.0),
                ..o()
            },
            EncoderOptions {
                effort: Some(9.0),
                ..o()
            },
            EncoderOptions {
                lookahead: Some(f64::from(MAX_LOOKAHEAD) + 1.0),
                ..o()
            },
            EncoderOptions {
                lookahead: Some(2.5),
                ..o()
            },
            EncoderOptions {
                slices: Some(17.0),
                ..o()
            },
            EncoderOptions {
                slices: Some(1.5),
                ..o()
            },
            EncoderOptions {
                aq: Some(-0.1),
                ..o()
            },
            EncoderOptions {
                aq: Some(MAX_AQ + 0.5),
                ..o()
            },
            EncoderOptions {
                aq: Some(f64::NAN),
                ..o()
            },
        ] {
            assert!(
                matches!(bad.config(), Err(ConfigError::Option(_))),
                "{bad:?}"
            );
        }
        for (w, h) in [(8193.0, 8.0), (0.0, 8.0), (8.5, 8.0), (-1.0, 8.0)] {
            assert!(
                matches!(opts(w, h).config(), Err(ConfigError::Dimensions { .. })),
                "{w}x{h}"
            );
        }
        let b = EncoderOptions {
            bitrate: Some(250_000.0),
            ..o()
        }
        .config()
        .unwrap();
        assert_eq!(b.rate, RateControl::Bitrate(250.0));
    }
}
