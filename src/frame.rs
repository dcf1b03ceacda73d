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

/// `v.round().clamp(0.0, 255.0) as u8` (halves away from zero, NaN → 0), exactly, without a
/// call to libm's `roundf` per value, which kept the colour conversions scalar (they were a fifth
/// of `vqcodec decode`'s time on the CPU backend). Clamping first changes nothing (every value
/// outside the range clamps to the same end either way); in [0, 255], adding and subtracting
/// 2²³ rounds to the nearest integer with ties to even, and `v − r` is exact, so a tie that went
/// down shows as exactly one half and is moved up, as `round` rounds it.
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` keeps NaN; `max` then `min` map it to 0, as `round` + `as` did
fn clamp_u8(v: f32) -> u8 {
    let v = v.max(0.0).min(255.0); // NaN → 0
    let r = (v + 8_388_608.0) - 8_388_608.0; // to the nearest integer, ties to even
    let r = if v - r == 0.5 { r + 1.0 } else { r }; // ties away from zero
    // SAFETY: `r` is an integer in 0..=255 (NaN became 0 above), so the conversion is exact;
    // unlike `as`, it needs no saturating fix-up and the loops stay vectorised.
    unsafe { r.to_int_unchecked::<i32>() as u8 }
}

/// BT.601 luma of 8-bit R'G'B' values (0–255 scale).
#[inline(always)]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// 8-bit limited-range Y' of a luma value.
#[inline(always)]
fn y_of(luma: f32) -> u8 {
    clamp_u8(16.0 + luma * (219.0 / 255.0))
}

/// 8-bit limited-range Cb or Cr of a block's mean colour difference.
#[inline(always)]
fn c_of(mean_difference: f32) -> u8 {
    clamp_u8(128.0 + mean_difference * (224.0 / 255.0))
}

/// R'G'B' from 8-bit limited-range Y'CbCr, each already scaled to 0–255 (`yy`) or ±127.5.
#[inline(always)]
fn rgb_of(yy: f32, cb: f32, cr: f32) -> [u8; 3] {
    [
        clamp_u8(yy + 1.402 * cr),
        clamp_u8(yy - 0.344_136 * cb - 0.714_136 * cr),
        clamp_u8(yy + 1.772 * cb),
    ]
}

/// Pixels per group in the colour conversions: each group's values sit in fixed-size arrays,
/// loops over which the compiler turns into vector instructions (1080p on the 2-core lab
/// machine, scalar → grouped: RGB → Y'CbCr 4:4:4 57.6 → 8.1 ms, Y'CbCr 4:4:4 → RGB 30.6 →
/// 6.6 ms; `cargo bench -p vqcodec-lab --bench convert`, docs/results/convert.md).
const LANES: usize = 16;

/// One group of pixels as planar values: R' and B' (0–255, what the colour differences need)
/// and the luma.
struct Lanes {
    r: [f32; LANES],
    b: [f32; LANES],
    l: [f32; LANES],
}

impl Lanes {
    #[inline(always)]
    fn load(px: &[u8]) -> Self {
        let px: &[u8; 3 * LANES] = px.try_into().expect("a whole group");
        let (mut r, mut g, mut b, mut l) =
            ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
        for i in 0..LANES {
            r[i] = f32::from(px[3 * i]);
            g[i] = f32::from(px[3 * i + 1]);
            b[i] = f32::from(px[3 * i + 2]);
        }
        for i in 0..LANES {
            l[i] = luma(r[i], g[i], b[i]);
        }
        Self { r, b, l }
    }

    /// The blue and red differences, scaled as Cb and Cr before their offset.
    #[inline(always)]
    fn differences(&self) -> ([f32; LANES], [f32; LANES]) {
        let (mut db, mut dr) = ([0f32; LANES], [0f32; LANES]);
        for i in 0..LANES {
            db[i] = (self.b[i] - self.l[i]) / 1.772;
            dr[i] = (self.r[i] - self.l[i]) / 1.402;
        }
        (db, dr)
    }
}

/// Calls `f(first, count, group)` over the interleaved RGB pixels `rgb`, [`LANES`] at a time
/// (`first`: the group's first pixel; the last group is padded with black, `count` says how
/// many of its pixels are real).
#[inline(always)]
fn by_lanes(rgb: &[u8], mut f: impl FnMut(usize, usize, &Lanes)) {
    let mut groups = rgb.chunks_exact(3 * LANES);
    for (k, px) in groups.by_ref().enumerate() {
        f(k * LANES, LANES, &Lanes::load(px));
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut pad = [0u8; 3 * LANES];
        pad[..rest.len()].copy_from_slice(rest);
        f(
            (rgb.len() - rest.len()) / 3,
            rest.len() / 3,
            &Lanes::load(&pad),
        );
    }
}

/// Interleaved RGB from full-resolution planes (`u`, `v` as long as `y`; `None`: grey), the
/// same arithmetic as [`rgb_of`], [`LANES`] pixels at a time.
fn rgb_from_planes(y: &[u8], uv: Option<(&[u8], &[u8])>, out: &mut [u8]) {
    let group =
        |y: &[u8; LANES], uv: Option<(&[u8; LANES], &[u8; LANES])>, out: &mut [u8; 3 * LANES]| {
            let (mut yy, mut cb, mut cr) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
            for i in 0..LANES {
                yy[i] = (f32::from(y[i]) - 16.0) * (255.0 / 219.0);
            }
            if let Some((u, v)) = uv {
                for i in 0..LANES {
                    cb[i] = (f32::from(u[i]) - 128.0) * (255.0 / 224.0);
                    cr[i] = (f32::from(v[i]) - 128.0) * (255.0 / 224.0);
                }
            }
            // each channel over the group, then interleaved (a loop per channel vectorises)
            let (mut r, mut g, mut b) = ([0u8; LANES], [0u8; LANES], [0u8; LANES]);
            for i in 0..LANES {
                [r[i], g[i], b[i]] = rgb_of(yy[i], cb[i], cr[i]);
            }
            for i in 0..LANES {
                out[3 * i] = r[i];
                out[3 * i + 1] = g[i];
                out[3 * i + 2] = b[i];
            }
        };
    let whole = y.len() / LANES * LANES;
    let arr = |s: &[u8]| -> [u8; LANES] { s.try_into().expect("a whole group") };
    for (k, px) in out[..3 * whole].chunks_exact_mut(3 * LANES).enumerate() {
        let at = k * LANES;
        let yg = arr(&y[at..at + LANES]);
        let uvg = uv.map(|(u, v)| (arr(&u[at..at + LANES]), arr(&v[at..at + LANES])));
        group(
            &yg,
            uvg.as_ref().map(|(u, v)| (u, v)),
            px.try_into().expect("a whole group"),
        );
    }
    let n = y.len() - whole;
    if n > 0 {
        let pad = |s: &[u8]| {
            let mut a = [0u8; LANES];
            a[..n].copy_from_slice(&s[whole..]);
            a
        };
        let mut px = [0u8; 3 * LANES];
        let uvg = uv.map(|(u, v)| (pad(u), pad(v)));
        group(&pad(y), uvg.as_ref().map(|(u, v)| (u, v)), &mut px);
        out[3 * whole..].copy_from_slice(&px[..3 * n]);
    }
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
        let mut rgb = vec![0u8; width * height * 3];
        if chroma == Chroma::Mono {
            rgb_from_planes(y, None, &mut rgb);
        } else if sx == 0 && sy == 0 {
            rgb_from_planes(y, Some((u, v)), &mut rgb);
        } else {
            // row by row, the chroma row widened to the luma's first
            let (mut uw, mut vw) = (vec![0u8; width], vec![0u8; width]);
            for (row, (out, ys)) in rgb
                .chunks_exact_mut(width * 3)
                .zip(y.chunks_exact(width))
                .enumerate()
            {
                let c = (row >> sy) * cw;
                for col in 0..width {
                    uw[col] = u[c + (col >> sx)];
                    vw[col] = v[c + (col >> sx)];
                }
                rgb_from_planes(ys, Some((&uw, &vw)), out);
            }
        }
        Ok(Self { width, height, rgb })
    }

    /// Converts to planar 8-bit Y'CbCr (BT.601, limited range); chroma is averaged over
    /// each subsampled block. Returns `(y, u, v)`; `u` and `v` are empty for [`Chroma::Mono`].
    pub fn to_yuv(&self, chroma: Chroma) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (w, h) = (self.width, self.height);
        let mut y = vec![0u8; w * h];
        let group_y = |y: &mut [u8], p: &Lanes| {
            let mut o = [0u8; LANES];
            for (o, &l) in o.iter_mut().zip(&p.l) {
                *o = y_of(l);
            }
            y.copy_from_slice(&o[..y.len()]);
        };
        if chroma == Chroma::Mono {
            by_lanes(&self.rgb, |at, n, p| group_y(&mut y[at..at + n], p));
            return (y, Vec::new(), Vec::new());
        }
        if chroma == Chroma::C444 {
            // each pixel its own block: the mean of one difference is that difference
            let (mut cb, mut cr) = (vec![0u8; w * h], vec![0u8; w * h]);
            by_lanes(&self.rgb, |at, n, p| {
                group_y(&mut y[at..at + n], p);
                let (db, dr) = p.differences();
                let (mut ob, mut or) = ([0u8; LANES], [0u8; LANES]);
                for i in 0..LANES {
                    ob[i] = c_of(db[i]);
                    or[i] = c_of(dr[i]);
                }
                cb[at..at + n].copy_from_slice(&ob[..n]);
                cr[at..at + n].copy_from_slice(&or[..n]);
            });
            return (y, cb, cr);
        }
        // subsampled: each block's differences summed in raster order, then their mean
        let (cw, ch) = chroma.plane_size(w, h);
        let mut cb_acc = vec![0f32; cw * ch];
        let mut cr_acc = vec![0f32; cw * ch];
        let mut n_acc = vec![0f32; cw * ch];
        let (sx, sy) = chroma.shifts();
        let (mut db_row, mut dr_row) = (vec![0f32; w], vec![0f32; w]);
        for (row, (line, y)) in self
            .rgb
            .chunks_exact(w * 3)
            .zip(y.chunks_exact_mut(w))
            .enumerate()
        {
            by_lanes(line, |at, n, p| {
                group_y(&mut y[at..at + n], p);
                let (db, dr) = p.differences();
                db_row[at..at + n].copy_from_slice(&db[..n]);
                dr_row[at..at + n].copy_from_slice(&dr[..n]);
            });
            let c = (row >> sy) * cw;
            let (cb, cr, n) = (
                &mut cb_acc[c..c + cw],
                &mut cr_acc[c..c + cw],
                &mut n_acc[c..c + cw],
            );
            // the block's pixels of this row, left to right (`1 << sx` of them, fewer at the edge)
            let k = 1 << sx;
            for (((cb, cr), n), (db, dr)) in cb
                .iter_mut()
                .zip(cr.iter_mut())
                .zip(n.iter_mut())
                .zip(db_row.chunks(k).zip(dr_row.chunks(k)))
            {
                for (&b, &r) in db.iter().zip(dr) {
                    *cb += b;
                    *cr += r;
                }
                *n += db.len() as f32;
            }
        }
        let to_plane = |acc: Vec<f32>| -> Vec<u8> {
            acc.iter().zip(&n_acc).map(|(s, n)| c_of(s / n)).collect()
        };
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

    /// Pixels packed one per 32-bit word, `r | g << 8 | b << 16`, frame after frame: what
    /// [`crate::Engine`] uploads on WebGPU and unpacks on the device.
    pub fn to_packed(frames: &[Frame]) -> Vec<i32> {
        frames
            .iter()
            .flat_map(|f| {
                f.rgb
                    .chunks_exact(3)
                    .map(|p| i32::from(p[0]) | (i32::from(p[1]) << 8) | (i32::from(p[2]) << 16))
            })
            .collect()
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
        Ok(interleave_packed::<3>(words, batch, height, width)?
            .into_iter()
            .map(|rgb| Frame { width, height, rgb })
            .collect())
    }

    /// Interleaved RGBA bytes with opaque alpha, one buffer per frame, from pixels packed one
    /// per 32-bit word `r | g << 8 | b << 16 | 0xFF << 24` (what the device's conversion reads
    /// back, [`crate::Engine::decode_latents_rgba`]): each word's little-endian bytes are the
    /// pixel's, so this is a copy, where [`Frame::from_packed`] then [`Frame::to_rgba`] are two
    /// passes of three- and four-byte moves.
    ///
    /// # Errors
    /// [`Error::BufferSize`] if `words` is not `batch × height × width` long.
    pub fn rgba_from_packed(
        words: &[i32],
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        interleave_packed::<4>(words, batch, height, width)
    }

    /// Interleaved RGBA bytes with opaque alpha, one buffer per frame, from planar
    /// `[B, 3, H, W]` values in [0, 1]: [`Frame::from_planar`] then [`Frame::to_rgba`] in one
    /// pass, the same bytes.
    ///
    /// # Errors
    /// [`Error::BufferSize`] if `data` is not `batch × 3 × height × width` values.
    pub fn rgba_from_planar(
        data: &[f32],
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        interleave_planar::<4>(data, batch, height, width)
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
        Ok(interleave_planar::<3>(data, batch, height, width)?
            .into_iter()
            .map(|rgb| Frame { width, height, rgb })
            .collect())
    }
}

/// Planar `[B, 3, H, W]` values in [0, 1] → per frame, `N` bytes a pixel: its 8-bit R, G, B
/// ([`planar_u8`]) and, where `N` is 4, an opaque alpha.
fn interleave_planar<const N: usize>(
    data: &[f32],
    batch: usize,
    height: usize,
    width: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    check_dims(width, height)?;
    let plane = width * height;
    check_len(batch * 3 * plane, data.len())?;
    Ok(data
        .chunks_exact(3 * plane)
        .map(|d| {
            let (r, rest) = d.split_at(plane);
            let (g, b) = rest.split_at(plane);
            let mut out = vec![if N == 4 { 255 } else { 0 }; N * plane];
            for (((px, &r), &g), &b) in out.chunks_exact_mut(N).zip(r).zip(g).zip(b) {
                px[0] = planar_u8(r);
                px[1] = planar_u8(g);
                px[2] = planar_u8(b);
            }
            out
        })
        .collect())
}

/// Pixels packed one per 32-bit word (`r | g << 8 | b << 16 | a << 24`) → per frame, each
/// word's first `N` little-endian bytes: RGB for 3, RGBA for 4.
fn interleave_packed<const N: usize>(
    words: &[i32],
    batch: usize,
    height: usize,
    width: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    check_dims(width, height)?;
    let plane = width * height;
    check_len(batch * plane, words.len())?;
    Ok(words
        .chunks_exact(plane)
        .map(|d| {
            let mut out = vec![0u8; N * plane];
            for (px, &v) in out.chunks_exact_mut(N).zip(d) {
                px.copy_from_slice(&v.to_le_bytes()[..N]);
            }
            out
        })
        .collect())
}

/// A decoded value in [0, 1] → its 8-bit level. `(x + 0.5) as u8` rounds half up and saturates
/// (NaN → 0): `clamp_u8` without the libm `round` call, so that the loops that call it
/// vectorise (1.20 → 0.34 ms per 640×360 frame here; it was 3–4 ms of the H100 machine's
/// decode, docs/results.md). It differs from `round` only where x·255 lies within an ulp of a
/// half.
#[inline]
fn planar_u8(v: f32) -> u8 {
    (v * 255.0 + 0.5) as u8
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversions as they were written before they were made to vectorise (scalar,
    /// `f32::round`): the fast ones must give the same bytes.
    fn to_yuv_scalar(f: &Frame, chroma: Chroma) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let round = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let (w, h) = (f.width, f.height);
        let mut y = Vec::new();
        let (cw, ch) = chroma.plane_size(w, h);
        let (mut cb, mut cr, mut n) = (
            vec![0f32; cw * ch],
            vec![0f32; cw * ch],
            vec![0f32; cw * ch],
        );
        let (sx, sy) = chroma.shifts();
        for row in 0..h {
            for col in 0..w {
                let p = &f.rgb[(row * w + col) * 3..][..3];
                let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
                let luma = 0.299 * r + 0.587 * g + 0.114 * b;
                y.push(round(16.0 + luma * (219.0 / 255.0)));
                if chroma != Chroma::Mono {
                    let i = (row >> sy) * cw + (col >> sx);
                    cb[i] += (b - luma) / 1.772;
                    cr[i] += (r - luma) / 1.402;
                    n[i] += 1.0;
                }
            }
        }
        let plane = |acc: Vec<f32>| -> Vec<u8> {
            acc.iter()
                .zip(&n)
                .map(|(s, n)| round(128.0 + s / n * (224.0 / 255.0)))
                .collect()
        };
        (y, plane(cb), plane(cr))
    }

    fn from_yuv_scalar(
        w: usize,
        h: usize,
        chroma: Chroma,
        y: &[u8],
        u: &[u8],
        v: &[u8],
    ) -> Vec<u8> {
        let round = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let (cw, _) = chroma.plane_size(w, h);
        let (sx, sy) = chroma.shifts();
        let mut rgb = Vec::new();
        for row in 0..h {
            for col in 0..w {
                let yy = (f32::from(y[row * w + col]) - 16.0) * (255.0 / 219.0);
                let (cb, cr) = if chroma == Chroma::Mono {
                    (0.0, 0.0)
                } else {
                    let i = (row >> sy) * cw + (col >> sx);
                    (
                        (f32::from(u[i]) - 128.0) * (255.0 / 224.0),
                        (f32::from(v[i]) - 128.0) * (255.0 / 224.0),
                    )
                };
                rgb.push(round(yy + 1.402 * cr));
                rgb.push(round(yy - 0.344_136 * cb - 0.714_136 * cr));
                rgb.push(round(yy + 1.772 * cb));
            }
        }
        rgb
    }

    #[test]
    fn clamp_u8_rounds_as_round_does() {
        let reference = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        // every half and its neighbours one ulp either side, out of range, NaN and infinities
        let mut values = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e9, -1e9];
        for k in -8..=1030 {
            let half = k as f32 * 0.25;
            values.extend([
                half,
                f32::from_bits(half.to_bits() + 1),
                f32::from_bits(half.to_bits().wrapping_sub(1)),
            ]);
        }
        let mut x = 0x9e37_79b9_u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            values.push(x as f32 / u32::MAX as f32 * 300.0 - 20.0);
        }
        for v in values {
            assert_eq!(clamp_u8(v), reference(v), "clamp_u8({v:e})");
        }
    }

    /// The RGBA paths (a browser's frames in and out) are the RGB frame's bytes with an opaque
    /// alpha, by every route: from the RGB frame, from the decoder's planes in one pass, from
    /// the device's packed words; and RGBA in drops the alpha whatever it holds.
    #[test]
    fn every_rgba_route_gives_the_rgb_frame_with_opaque_alpha() {
        let mut x = 777u32;
        let mut next = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            x >> 8
        };
        for (w, h) in [(37, 23), (1, 1), (16, 9)] {
            let batch = 2;
            // planes with every kind of value: in range, halfway, out of range, NaN
            let mut planes: Vec<f32> = (0..batch * 3 * w * h)
                .map(|_| (next() % 2600) as f32 / 2550.0 - 0.01)
                .collect();
            planes[0] = f32::NAN;
            let frames = Frame::from_planar(&planes, batch, h, w).unwrap();
            let rgba = Frame::rgba_from_planar(&planes, batch, h, w).unwrap();
            let words: Vec<i32> = Frame::to_packed(&frames)
                .iter()
                .map(|v| v | i32::from_le_bytes([0, 0, 0, 0xFF]))
                .collect();
            let packed = Frame::rgba_from_packed(&words, batch, h, w).unwrap();
            for (b, f) in frames.iter().enumerate() {
                let reference: Vec<u8> = f
                    .rgb
                    .chunks_exact(3)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect();
                assert_eq!(f.to_rgba(), reference, "to_rgba {w}x{h}");
                assert_eq!(rgba[b], reference, "rgba_from_planar {w}x{h} frame {b}");
                assert_eq!(packed[b], reference, "rgba_from_packed {w}x{h} frame {b}");
                let mut any_alpha = reference.clone();
                any_alpha
                    .iter_mut()
                    .skip(3)
                    .step_by(4)
                    .for_each(|a| *a = next() as u8);
                assert_eq!(Frame::from_rgba(w, h, &any_alpha).unwrap(), *f);
            }
        }
        assert!(matches!(
            Frame::rgba_from_planar(&[0.0; 11], 1, 2, 2),
            Err(Error::BufferSize {
                expected: 12,
                got: 11
            })
        ));
        assert!(matches!(
            Frame::rgba_from_packed(&[0; 5], 1, 2, 2),
            Err(Error::BufferSize {
                expected: 4,
                got: 5
            })
        ));
    }

    #[test]
    fn the_conversions_match_the_scalar_ones_byte_for_byte() {
        // every 8-bit value in each channel over the frames, odd sizes for the subsampled edges
        let mut x = 12345u32;
        let mut next = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        };
        for (w, h) in [(37, 23), (64, 48), (1, 1), (2, 3)] {
            let rgb: Vec<u8> = (0..w * h * 3).map(|_| next()).collect();
            let frame = Frame::from_rgb(w, h, rgb).unwrap();
            for chroma in [Chroma::C420, Chroma::C422, Chroma::C444, Chroma::Mono] {
                let fast = frame.to_yuv(chroma);
                assert_eq!(
                    fast,
                    to_yuv_scalar(&frame, chroma),
                    "to_yuv {w}x{h} {chroma:?}"
                );
                let (y, u, v) = fast;
                let back = Frame::from_yuv(w, h, chroma, &y, &u, &v).unwrap();
                assert_eq!(
                    back.rgb,
                    from_yuv_scalar(w, h, chroma, &y, &u, &v),
                    "from_yuv {w}x{h} {chroma:?}"
                );
                // and on planes no RGB frame makes: every value, including the out-of-gamut ones
                let (cw, ch) = chroma.plane_size(w, h);
                let y: Vec<u8> = (0..w * h).map(|_| next()).collect();
                let u: Vec<u8> = (0..cw * ch).map(|_| next()).collect();
                let v: Vec<u8> = (0..cw * ch).map(|_| next()).collect();
                let back = Frame::from_yuv(w, h, chroma, &y, &u, &v).unwrap();
                assert_eq!(
                    back.rgb,
                    from_yuv_scalar(w, h, chroma, &y, &u, &v),
                    "from_yuv planes {w}x{h} {chroma:?}"
                );
            }
        }
    }
}
