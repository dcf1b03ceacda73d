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

    /// Where one random `crop × crop` patch comes from: a frame drawn by [`Self::pick`], a 2×
    /// box downscale of large frames (p = 0.4), a position in the (scaled) frame, a horizontal
    /// flip and a ±4% gain.
    fn draw(&self, rng: &mut Rng, crop: usize) -> CropDraw<'_> {
        let frame = self.pick(rng);
        let (w, h) = (frame.width(), frame.height());
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
        CropDraw {
            frame,
            scale,
            x0,
            y0,
            flip,
            gain,
        }
    }

    /// A batch of `batch` random `crop × crop` patches, `[B, 3, crop, crop]` in [0, 1]:
    /// [`Self::batch_values`] on `device`.
    pub fn batch(&self, rng: &mut Rng, batch: usize, crop: usize, device: &Device) -> Tensor<4> {
        let data = self.batch_values(rng, batch, crop);
        Tensor::from_data(TensorData::new(data, [batch, 3, crop, crop]), device)
    }

    /// The values of a batch of `batch` random `crop × crop` patches, planar RGB in [0, 1]
    /// (`[B, 3, crop, crop]` row-major), made on the host: frames drawn by [`Self::pick`],
    /// random position, random 2× box downscale of large frames (scale variety), random
    /// horizontal flip, ±4% brightness jitter. Frames smaller than the crop are edge-padded.
    pub fn batch_values(&self, rng: &mut Rng, batch: usize, crop: usize) -> Vec<f32> {
        let plane = crop * crop;
        let mut data = vec![0f32; batch * 3 * plane];
        // source column of each output column, reused across rows and planes
        let mut cols = vec![0usize; crop];
        for b in 0..batch {
            let CropDraw {
                frame: f,
                scale,
                x0,
                y0,
                flip,
                gain,
            } = self.draw(rng, crop);
            let w = f.width();
            let (sw, sh) = (w / scale, f.height() / scale);
            let rgb = f.rgb();
            let out = &mut data[b * 3 * plane..][..3 * plane];
            for (x, col) in cols.iter_mut().enumerate() {
                let xx = if flip { crop - 1 - x } else { x };
                *col = (x0 + xx).min(sw - 1) * scale * 3;
            }
            // one multiply per value: the mean of the box (1 or 4 samples) times the gain
            let k = gain / (255.0 * (scale * scale) as f32);
            for y in 0..crop {
                let sy = (y0 + y).min(sh - 1) * scale;
                let row0 = &rgb[sy * w * 3..][..w * 3];
                let (r, rest) = out[y * crop..].split_at_mut(plane);
                let (g, bl) = rest.split_at_mut(plane);
                if scale == 1 {
                    for (x, &c) in cols.iter().enumerate() {
                        let p = &row0[c..c + 3];
                        r[x] = (f32::from(p[0]) * k).min(1.0);
                        g[x] = (f32::from(p[1]) * k).min(1.0);
                        bl[x] = (f32::from(p[2]) * k).min(1.0);
                    }
                } else {
                    let row1 = &rgb[(sy + 1) * w * 3..][..w * 3];
                    for (x, &c) in cols.iter().enumerate() {
                        let (p, q) = (&row0[c..c + 6], &row1[c..c + 6]);
                        let sum = |i: usize| {
                            u32::from(p[i])
                                + u32::from(p[i + 3])
                                + u32::from(q[i])
                                + u32::from(q[i + 3])
                        };
                        r[x] = (sum(0) as f32 * k).min(1.0);
                        g[x] = (sum(1) as f32 * k).min(1.0);
                        bl[x] = (sum(2) as f32 * k).min(1.0);
                    }
                }
            }
        }
        data
    }

    /// Batches of [`Self::batch_values`] made ahead, on a thread of `scope` (`ahead` of them
    /// waiting at most), so that the training loop's thread only uploads them (a batch of 64
    /// crops of 128² from the whole training set took 6.5 ms of the loop's time on the
    /// development machine's Xeon before, docs/results/train-speed.md). The thread ends when
    /// the [`Prefetch`] is dropped.
    pub fn prefetch<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        mut rng: Rng,
        batch: usize,
        crop: usize,
        ahead: usize,
    ) -> Prefetch<'scope> {
        let (tx, rx) = std::sync::mpsc::sync_channel(ahead.max(1));
        let maker = scope.spawn(move || {
            loop {
                let t = std::time::Instant::now();
                let values = self.batch_values(&mut rng, batch, crop);
                if tx.send((values, t.elapsed().as_secs_f64())).is_err() {
                    break; // the loop is done with batches
                }
            }
        });
        Prefetch {
            rx,
            maker: Some(maker),
            shape: [batch, 3, crop, crop],
            waited: 0.0,
            made: 0.0,
            taken: 0,
        }
    }
}

/// One patch's source, as [`Dataset::draw`] chose it.
struct CropDraw<'a> {
    frame: &'a Frame,
    /// 1, or 2 for a 2× box downscale.
    scale: usize,
    /// Top-left corner in the downscaled frame.
    x0: usize,
    y0: usize,
    flip: bool,
    gain: f32,
}

/// Batches made ahead by [`Dataset::prefetch`], with how long making them and waiting for them
/// took (for the training log).
pub struct Prefetch<'scope> {
    rx: std::sync::mpsc::Receiver<(Vec<f32>, f64)>,
    /// The thread making them, joined when it stops early (so that its panic is an error
    /// here, not a second panic when the scope ends).
    maker: Option<std::thread::ScopedJoinHandle<'scope, ()>>,
    shape: [usize; 4],
    waited: f64,
    made: f64,
    taken: usize,
}

impl Prefetch<'_> {
    /// The next batch on `device`.
    ///
    /// # Errors
    /// When the thread that makes them has stopped (it panicked: its message is the error's).
    pub fn next(&mut self, device: &Device) -> Result<Tensor<4>> {
        let t = std::time::Instant::now();
        let Ok((values, made)) = self.rx.recv() else {
            let why = match self.maker.take().map(std::thread::ScopedJoinHandle::join) {
                Some(Err(panic)) => panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                _ => "it ended".into(),
            };
            bail!("the thread making training batches stopped: {why}");
        };
        self.waited += t.elapsed().as_secs_f64();
        self.made += made;
        self.taken += 1;
        Ok(Tensor::from_data(
            TensorData::new(values, self.shape),
            device,
        ))
    }

    /// Milliseconds per batch since the last call: making one (on its thread) and waiting for
    /// one (on the caller's: near zero while the thread keeps ahead).
    pub fn take_stats(&mut self) -> (f64, f64) {
        let n = self.taken.max(1) as f64;
        let stats = (1e3 * self.made / n, 1e3 * self.waited / n);
        (self.made, self.waited, self.taken) = (0.0, 0.0, 0);
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip() -> Dataset {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/manifest.txt");
        Dataset::load(&manifest, 1).unwrap()
    }

    /// The crops as they were made before the batch builder was rewritten (one division per
    /// sample, every bound checked per value), from the same draws: the reference the rewrite
    /// must match.
    fn reference(set: &Dataset, rng: &mut Rng, batch: usize, crop: usize) -> (Vec<f32>, usize) {
        let plane = crop * crop;
        let mut data = vec![0f32; batch * 3 * plane];
        let mut halved = 0;
        for b in 0..batch {
            let CropDraw {
                frame: f,
                scale,
                x0,
                y0,
                flip,
                gain,
            } = set.draw(rng, crop);
            halved += usize::from(scale == 2);
            let w = f.width();
            let (sw, sh) = (w / scale, f.height() / scale);
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
        (data, halved)
    }

    #[test]
    fn the_crops_are_the_reference_crops() {
        let set = clip();
        // 176×144 frames: crops of 32 may be halved (≥ 96), crops of 160 are edge-padded
        // below, crops of 192 below and to the right (flipped or not)
        for (crop, seeds) in [(32, 0..6u64), (160, 6..8), (192, 8..12)] {
            let mut halved = 0;
            for seed in seeds {
                let (mut a, mut b) = (Rng::new(seed), Rng::new(seed));
                let got = set.batch_values(&mut a, 16, crop);
                let (want, h) = reference(&set, &mut b, 16, crop);
                halved += h;
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(0f32, f32::max);
                // the same samples; a multiply instead of a division rounds within an ulp or two
                assert!(worst < 1e-6, "crop {crop}, seed {seed}: off by {worst}");
                assert_eq!(a.next_u64(), b.next_u64(), "the same draws");
            }
            if crop == 32 {
                assert!(
                    halved > 0,
                    "no halved crop drawn: the 2× path went untested"
                );
            }
        }
    }

    #[test]
    fn prefetched_batches_come_in_the_generators_order_and_the_thread_ends() {
        let set = clip();
        let mut rng = Rng::new(42);
        let want: Vec<Vec<f32>> = (0..5).map(|_| set.batch_values(&mut rng, 4, 32)).collect();
        let device = Device::flex();
        std::thread::scope(|scope| {
            let mut batches = set.prefetch(scope, Rng::new(42), 4, 32, 2);
            for w in &want {
                let got = batches.next(&device).unwrap();
                assert_eq!(got.dims(), [4, 3, 32, 32]);
                assert_eq!(&got.into_data().try_to_vec::<f32>().unwrap(), w);
            }
            let (made, _) = batches.take_stats();
            assert!(made > 0.0);
            // dropping it ends the thread (else the scope would wait forever)
        });
    }

    #[test]
    fn a_panic_making_batches_is_an_error_of_the_loop() {
        // a clip whose frame is missing: picking it panics on the making thread
        let broken = Dataset {
            frames: Vec::new(),
            clips: vec![("gone".into(), 0, 1)],
            cumulative: vec![1.0],
        };
        let device = Device::flex();
        let err = std::thread::scope(|scope| {
            let mut batches = broken.prefetch(scope, Rng::new(1), 2, 16, 2);
            batches.next(&device).map(|_| ()).unwrap_err()
        });
        let text = err.to_string();
        assert!(
            text.contains("stopped") && text.contains("out of bounds"),
            "{text}"
        );
    }
}
