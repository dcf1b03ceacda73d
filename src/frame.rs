//! Frames in memory, colour conversion and quality metrics.
//!
//! The model works on RGB in [0, 1]. Video arrives as Y'CbCr (y4m, 8-bit, BT.601 limited
//! range) or RGBA (the browser); both convert through [`Frame`], 8-bit interleaved RGB.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::Error;

/// Largest frame side accepted anywhere in the library: the format's ([`vqc::Limits::DEFAULT`]),
/// so that every frame the engine takes can be coded.
pub const MAX_SIDE: usize = vqc::Limits::DEFAULT.max_width as usize;

/// An 8-bit RGB frame, interleaved `RGBRGB…`, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

/// Chroma subsampling of a planar Y'CbCr frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0: chroma planes at half width and half height.
    C420,
    /// 4:2:2: chroma planes at half width.
    C422,
    /// 4:4:4: full-size chroma planes.
    C444,
    /// Luma only (grey).
    Mono,
}

impl From<Chroma> for vqc::SourceChroma {
    /// The layout a stream header records for a source of this chroma.
    fn from(c: Chroma) -> Self {
        match c {
            Chroma::C420 => Self::C420,
            Chroma::C422 => Self::C422,
            Chroma::C444 => Self::C444,
            Chroma::Mono => Self::Mono,
        }
    }
}

impl From<vqc::SourceChroma> for Chroma {
    /// The chroma a decoder writes a stream back in.
    fn from(c: vqc::SourceChroma) -> Self {
        match c {
            vqc::SourceChroma::C420 => Self::C420,
            vqc::SourceChroma::C422 => Self::C422,
            vqc::SourceChroma::C444 => Self::C444,
            vqc::SourceChroma::Mono => Self::Mono,
        }
    }
}

impl Chroma {
    /// Size of each chroma plane for a `width × height` frame.
    pub fn plane_size(self, width: usize, height: usize) -> (usize, usize) {
        match self {
            Self::C420 => (width.div_ceil(2), height.div_ceil(2)),
            Self::C422 => (width.div_ceil(2), height),
            Self::C444 => (width, height),
            Self::Mono => (0, 0),
        }
    }

    fn shifts(self) -> (usize, usize) {
        match self {
            Self::C420 => (1, 1),
            Self::C422 => (1, 0),
            Self::C444 | Self::Mono => (0, 0),
        }
    }
}

fn check_dims(width: usize, height: usize) -> Result<(), Error> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::InvalidDimensions {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    Ok(())
}

fn clamp_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

impl Frame {
    /// Wraps interleaved RGB bytes.
    ///
    /// # Errors
    /// [`Error::InvalidDimensions`] for a zero or oversized side, [`Error::BufferSize`] if
    /// `rgb` is not `width × height × 3` bytes.
    pub fn from_rgb(width: usize, height: usize, rgb: Vec<u8>) -> Result<Self, Error> {
        check_dims(width, height)?;
        check_len(width * height * 3, rgb.len())?;
        Ok(Self { width, height, rgb })
    }

    /// Converts interleaved RGBA bytes (alpha is dropped), as a canvas `ImageData` holds.
    ///
    /// # Errors
    /// As [`Frame::from_rgb`], with `width × height × 4` bytes expected.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Self, Error> {
        check_dims(width, height)?;
        check_len(width * height * 4, rgba.len())?;
        let rgb = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Ok(Self { width, height, rgb })
    }

    /// Converts planar 8-bit Y'CbCr (BT.601, limited range) to RGB.
    ///
    /// # Errors
    /// [`Error::InvalidDimensions`] or [`Error::BufferSize`] when the planes do not fit the size.
    pub fn from_yuv(
        width: usize,
        height: usize,
        chroma: Chroma,
        y: &[u8],
        u: &[u8],
        v: &[u8],
    ) -> Result<Self, Error> {
        check_dims(width, height)?;
        let (cw, ch) = chroma.plane_size(width, height);
        check_len(width * height, y.len())?;
        if u.len() != cw * ch || v.len() != cw * ch {
            return Err(Error::BufferSize {
                expected: cw * ch,
                got: u.len().min(v.len()),
            });
        }
        let (sx, sy) = chroma.shifts();
        let mut rgb = Vec::with_capacity(width * height * 3);
        for row in 0..height {
            for col in 0..width {
                let yy = (f32::from(y[row * width + col]) - 16.0) * (255.0 / 219.0);
                let (cb, cr) = if chroma == Chroma::Mono {
                    (0.0, 0.0)
                } else {
                    let i = (row >> sy) * cw + (col >> sx);
                    (
                        (f32::from(u[i]) - 128.0) * (255.0 / 224.0),
                        (f32::from(v[i]) - 128.0) * (255.0 / 224.0),
                    )
                };
                rgb.push(clamp_u8(yy + 1.402 * cr));
                rgb.push(clamp_u8(yy - 0.344_136 * cb - 0.714_136 * cr));
                rgb.push(clamp_u8(yy + 1.772 * cb));
            }
        }
        Ok(Self { width, height, rgb })
    }

    /// Converts to planar 8-bit Y'CbCr (BT.601, limited range); chroma is averaged over
    /// each subsampled block. Returns `(y, u, v)`; `u` and `v` are empty for [`Chroma::Mono`].
    pub fn to_yuv(&self, chroma: Chroma) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (w, h) = (self.width, self.height);
        let mut y = Vec::with_capacity(w * h);
        let (cw, ch) = chroma.plane_size(w, h);
        let mut cb_acc = vec![0f32; cw * ch];
        let mut cr_acc = vec![0f32; cw * ch];
        let mut n_acc = vec![0f32; cw * ch];
        let (sx, sy) = chroma.shifts();
        for row in 0..h {
            for col in 0..w {
                let p = &self.rgb[(row * w + col) * 3..][..3];
                let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
                let luma = 0.299 * r + 0.587 * g + 0.114 * b;
                y.push(clamp_u8(16.0 + luma * (219.0 / 255.0)));
                if chroma != Chroma::Mono {
                    let i = (row >> sy) * cw + (col >> sx);
                    cb_acc[i] += (b - luma) / 1.772;
                    cr_acc[i] += (r - luma) / 1.402;
                    n_acc[i] += 1.0;
                }
            }
        }
        let to_plane = |acc: Vec<f32>| -> Vec<u8> {
            acc.iter()
                .zip(&n_acc)
                .map(|(s, n)| clamp_u8(128.0 + s / n * (224.0 / 255.0)))
                .collect()
        };
        if chroma == Chroma::Mono {
            return (y, Vec::new(), Vec::new());
        }
        (y, to_plane(cb_acc), to_plane(cr_acc))
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Interleaved RGB bytes.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Interleaved RGBA bytes with opaque alpha.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    }

    /// Stacks same-sized frames into a `[B, 3, H, W]` tensor in [0, 1].
    ///
    /// # Panics
    /// If `frames` is empty or the sizes differ (a caller bug).
    pub fn to_tensor(frames: &[Frame], device: &Device) -> Tensor<4> {
        let first = frames
            .first()
            .expect("to_tensor should get at least one frame");
        let (w, h) = (first.width, first.height);
        let plane = w * h;
        let mut data = vec![0f32; frames.len() * 3 * plane];
        for (b, f) in frames.iter().enumerate() {
            assert!(
                f.width == w && f.height == h,
                "frames in a batch should share one size"
            );
            let out = &mut data[b * 3 * plane..][..3 * plane];
            for (i, p) in f.rgb.chunks_exact(3).enumerate() {
                out[i] = f32::from(p[0]) / 255.0;
                out[plane + i] = f32::from(p[1]) / 255.0;
                out[2 * plane + i] = f32::from(p[2]) / 255.0;
            }
        }
        Tensor::from_data(TensorData::new(data, [frames.len(), 3, h, w]), device)
    }

    /// Frames from pixels packed one per 32-bit word, `r | g << 8 | b << 16` (the high byte
    /// ignored), `batch × height × width` words: what the device's 8-bit conversion reads
    /// back ([`crate::Engine`] on WebGPU).
    ///
    /// # Errors
    /// [`Error::BufferSize`] if `words` is not `batch × height × width` long.
    pub fn from_packed(
        words: &[i32],
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<Frame>, Error> {
        check_dims(width, height)?;
        let plane = width * height;
        check_len(batch * plane, words.len())?;
        Ok(words
            .chunks_exact(plane)
            .map(|d| {
                let mut rgb = vec![0u8; 3 * plane];
                for (px, &v) in rgb.chunks_exact_mut(3).zip(d) {
                    px.copy_from_slice(&v.to_le_bytes()[..3]);
                }
                Frame { width, height, rgb }
            })
            .collect())
    }

    /// Splits planar `[B, 3, H, W]` values in [0, 1] (as read back from a tensor) into frames.
    ///
    /// # Errors
    /// [`Error::BufferSize`] if `data` is not `batch × 3 × height × width` values.
    pub fn from_planar(
        data: &[f32],
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<Frame>, Error> {
        check_dims(width, height)?;
        let plane = width * height;
        check_len(batch * 3 * plane, data.len())?;
        // `(x + 0.5) as u8` rounds half up and saturates (NaN → 0): `clamp_u8` without the
        // libm `round` call, so that this loop vectorises (1.20 → 0.34 ms per 640×360 frame
        // here; it was 3–4 ms of the H100 machine's decode, docs/results.md). It differs from
        // `round` only where x·255 lies within an ulp of a half.
        let to_u8 = |v: f32| (v * 255.0 + 0.5) as u8;
        Ok(data
            .chunks_exact(3 * plane)
            .map(|d| {
                let (r, rest) = d.split_at(plane);
                let (g, b) = rest.split_at(plane);
                let mut rgb = vec![0u8; 3 * plane];
                for (((px, &r), &g), &b) in rgb.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
                    px[0] = to_u8(r);
                    px[1] = to_u8(g);
                    px[2] = to_u8(b);
                }
                Frame { width, height, rgb }
            })
            .collect())
    }
}

/// [`Error::BufferSize`] unless a buffer of `got` values is the `expected` length.
fn check_len(expected: usize, got: usize) -> Result<(), Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::BufferSize { expected, got })
    }
}

fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR over the R, G and B samples, in dB (∞ for identical frames).
///
/// # Panics
/// If the frames differ in size (a caller bug).
pub fn psnr_rgb(a: &Frame, b: &Frame) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "frames should share one size"
    );
    let se: u64 = a
        .rgb
        .iter()
        .zip(&b.rgb)
        .map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2) as u64)
        .sum();
    psnr_from_mse(se as f64 / a.rgb.len() as f64)
}

/// PSNR of the BT.601 luma (Y', 8-bit limited range as a y4m file would hold it), in dB.
///
/// # Panics
/// If the frames differ in size (a caller bug).
pub fn psnr_y(a: &Frame, b: &Frame) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "frames should share one size"
    );
    let (ya, _, _) = a.to_yuv(Chroma::Mono);
    let (yb, _, _) = b.to_yuv(Chroma::Mono);
    psnr_y_planes(&ya, &yb)
}

/// PSNR between two 8-bit planes, in dB.
///
/// # Panics
/// If the planes differ in length (a caller bug).
pub fn psnr_y_planes(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "planes should share one size");
    let se: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2) as u64)
        .sum();
    psnr_from_mse(se as f64 / a.len() as f64)
}
