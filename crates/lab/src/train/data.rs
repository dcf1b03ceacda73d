//! Training data: frames from y4m files (video clips and photos stored as one-frame clips),
//! sampled as random crops with augmentation.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};

use vqcodec::Frame;
use vqcodec::y4m_io::{Y4mReader, open_input};

/// SplitMix64: a small, seedable generator; training runs are reproducible from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// A generator whose state starts at `state` itself (`motion-ops` and `enhance` seed it
    /// so, and keep the crops and samples their `--seed` always chose).
    pub fn from_state(state: u64) -> Self {
        Self(state)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Frames held in memory, with the clip each came from.
pub struct Dataset {
    frames: Vec<Frame>,
    /// `(clip name, first frame, frame count)`.
    pub clips: Vec<(String, usize, usize)>,
    /// Cumulative sampling weight of the clips (each clip ∝ √ its pixels).
    cumulative: Vec<f64>,
}

impl Dataset {
    /// Loads every frame of the y4m files listed in `manifest` (one path per line, relative
    /// to the manifest's folder; `#` starts a comment), taking every `stride`-th frame.
    ///
    /// # Errors
    /// On a missing or unreadable file, or an empty set.
    pub fn load(manifest: &Path, stride: usize) -> Result<Self> {
        let text = std::fs::read_to_string(manifest)
            .with_context(|| format!("cannot read manifest {}", manifest.display()))?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let paths: Vec<PathBuf> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| dir.join(l))
            .collect();
        Self::from_paths(&paths, stride)
    }

    /// Loads the given y4m files.
    ///
    /// # Errors
    /// On a missing or unreadable file, or an empty set.
    pub fn from_paths(paths: &[PathBuf], stride: usize) -> Result<Self> {
        let mut frames = Vec::new();
        let mut clips = Vec::new();
        for p in paths {
            let mut r = Y4mReader::new(open_input(p)?, &p.display().to_string())?;
            let first = frames.len();
            let mut i = 0;
            while let Some(f) = r.next_frame()? {
                if i % stride.max(1) == 0 {
                    frames.push(f.rgb);
                }
                i += 1;
            }
            let name = p
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            clips.push((name, first, frames.len() - first));
        }
        if frames.is_empty() {
            bail!("the training set holds no frames");
        }
        clips.retain(|c| c.2 > 0);
        let mut total = 0.0;
        let cumulative = clips
            .iter()
            .map(|&(_, first, n)| {
                let px: usize = frames[first..first + n]
                    .iter()
                    .map(|f: &Frame| f.width() * f.height())
                    .sum();
                total += (px as f64).sqrt();
                total
            })
            .collect();
        Ok(Self {
            frames,
            clips,
            cumulative,
        })
    }

    /// Frames loaded.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Total pixels.
    pub fn pixels(&self) -> usize {
        self.frames.iter().map(|f| f.width() * f.height()).sum()
    }

    /// A random frame: a clip drawn with probability ∝ √ its pixels (so a long clip counts
    /// more than a short one, but does not outweigh the rest, and a photo — a one-frame clip —
    /// is not drowned by video), then a frame uniformly within it.
    fn pick(&self, rng: &mut Rng) -> &Frame {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u = f64::from(rng.unit()) * total;
        let c = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.clips.len() - 1);
        let (_, first, n) = self.clips[c];
        &self.frames[first + rng.below(n)]
    }

    /// A batch of `batch` random `crop × crop` patches, `[B, 3, crop, crop]` in [0, 1]:
    /// frames drawn by [`Self::pick`], random position, random 2× box downscale of large frames
    /// (scale variety), random horizontal flip, ±4% brightness jitter. Frames smaller than
    /// the crop are edge-padded.
    pub fn batch(&self, rng: &mut Rng, batch: usize, crop: usize, device: &Device) -> Tensor<4> {
        let plane = crop * crop;
        let mut data = vec![0f32; batch * 3 * plane];
        for b in 0..batch {
            let f = self.pick(rng);
            let (w, h) = (f.width(), f.height());
            let scale = if w.min(h) >= 3 * crop && rng.unit() < 0.4 {
                2
            } else {
                1
            };
            let (sw, sh) = (w / scale, h / scale);
            let x0 = if sw > crop {
                rng.below(sw - crop + 1)
            } else {
                0
            };
            let y0 = if sh > crop {
                rng.below(sh - crop + 1)
            } else {
                0
            };
            let flip = rng.unit() < 0.5;
            let gain = 0.96 + 0.08 * rng.unit();
            let rgb = f.rgb();
            let out = &mut data[b * 3 * plane..][..3 * plane];
            for y in 0..crop {
                let sy = (y0 + y).min(sh - 1);
                for x in 0..crop {
                    let xx = if flip { crop - 1 - x } else { x };
                    let sx = (x0 + xx).min(sw - 1);
                    for c in 0..3 {
                        let mut acc = 0u32;
                        for dy in 0..scale {
                            for dx in 0..scale {
                                acc += u32::from(
                                    rgb[((sy * scale + dy) * w + sx * scale + dx) * 3 + c],
                                );
                            }
                        }
                        let v = acc as f32 / (255.0 * (scale * scale) as f32);
                        out[c * plane + y * crop + x] = (v * gain).min(1.0);
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(data, [batch, 3, crop, crop]), device)
    }
}
