//! Image quality metrics beyond PSNR: MS-SSIM (Wang, Simoncelli & Bovik 2003).
//!
//! Computed on one 8-bit plane (the evaluation uses Y'). The reference definition: an 11×11
//! Gaussian window (σ = 1.5) filtered "valid", five scales with a 2×2 average and decimation
//! between them, exponents 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, K1 = 0.01, K2 = 0.03.
//! Two departures, both only for small pictures or heavy distortion: at a scale smaller than
//! the window the window shrinks to the picture (renormalised), so that 176×144 still has five
//! scales; and negative contrast-structure terms count as 0 (as pytorch-msssim does), so the
//! result stays a real number.

/// The exponents of MS-SSIM's five scales (finest first).
pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// A plane of samples in f32.
#[derive(Clone)]
struct Plane {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Plane {
    fn from_u8(w: usize, h: usize, data: &[u8]) -> Self {
        Self {
            w,
            h,
            v: data.iter().map(|&x| f32::from(x)).collect(),
        }
    }

    fn mul(&self, other: &Plane) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            v: self.v.iter().zip(&other.v).map(|(a, b)| a * b).collect(),
        }
    }

    /// 2×2 average, dropping an odd last row or column.
    fn downsample(&self) -> Plane {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = &self.v[2 * y * self.w..];
            let r1 = &self.v[(2 * y + 1) * self.w..];
            for x in 0..w {
                v.push((r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]) * 0.25);
            }
        }
        Plane { w, h, v }
    }

    /// Separable "valid" filtering with `k` (odd length, sums to 1).
    fn filter(&self, k: &[f32]) -> Plane {
        let n = k.len();
        let (w, h) = (self.w + 1 - n, self.h + 1 - n);
        let mut tmp = Vec::with_capacity(w * self.h);
        for row in self.v.chunks_exact(self.w) {
            for x in 0..w {
                tmp.push(row[x..x + n].iter().zip(k).map(|(a, b)| a * b).sum::<f32>());
            }
        }
        let mut v = vec![0f32; w * h];
        for (i, &kk) in k.iter().enumerate() {
            for y in 0..h {
                let src = &tmp[(y + i) * w..(y + i + 1) * w];
                let dst = &mut v[y * w..(y + 1) * w];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += kk * s;
                }
            }
        }
        Plane { w, h, v }
    }
}

/// The normalised Gaussian window (σ = 1.5) MS-SSIM filters a `width × height` scale with, along
/// each axis: 11 taps, or the largest odd count that fits a smaller scale.
pub fn ms_ssim_window(width: usize, height: usize) -> Vec<f32> {
    let mut n = WINDOW.min(width).min(height);
    if n % 2 == 0 {
        n -= 1;
    }
    let n = n.max(1);
    let c = (n as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..n)
        .map(|i| (-((i as f64 - c).powi(2)) / (2.0 * SIGMA * SIGMA)).exp())
        .collect();
    let s: f64 = g.iter().sum();
    g.iter().map(|x| (x / s) as f32).collect()
}

/// Mean SSIM and mean contrast-structure term of one scale.
fn ssim_cs(a: &Plane, b: &Plane) -> (f64, f64) {
    let k = ms_ssim_window(a.w, a.h);
    let (mu_a, mu_b) = (a.filter(&k), b.filter(&k));
    let (aa, bb, ab) = (
        a.mul(a).filter(&k),
        b.mul(b).filter(&k),
        a.mul(b).filter(&k),
    );
    let (mut ssim, mut cs) = (0f64, 0f64);
    for i in 0..mu_a.v.len() {
        let (ma, mb) = (f64::from(mu_a.v[i]), f64::from(mu_b.v[i]));
        let va = f64::from(aa.v[i]) - ma * ma;
        let vb = f64::from(bb.v[i]) - mb * mb;
        let cov = f64::from(ab.v[i]) - ma * mb;
        let c = (2.0 * cov + C2) / (va + vb + C2);
        let l = (2.0 * ma * mb + C1) / (ma * ma + mb * mb + C1);
        ssim += l * c;
        cs += c;
    }
    let count = mu_a.v.len() as f64;
    (ssim / count, cs / count)
}

/// SSIM (single scale, Gaussian window) of two `width × height` 8-bit planes.
///
/// # Panics
/// If a plane's length is not `width × height` (a caller bug).
pub fn ssim(a: &[u8], b: &[u8], width: usize, height: usize) -> f64 {
    assert!(
        a.len() == width * height && b.len() == width * height,
        "planes should be width × height"
    );
    ssim_cs(
        &Plane::from_u8(width, height, a),
        &Plane::from_u8(width, height, b),
    )
    .0
}

/// MS-SSIM of two `width × height` 8-bit planes, in 0..=1 (1 = identical).
///
/// # Panics
/// If a plane's length is not `width × height` (a caller bug).
pub fn ms_ssim(a: &[u8], b: &[u8], width: usize, height: usize) -> f64 {
    assert!(
        a.len() == width * height && b.len() == width * height,
        "planes should be width × height"
    );
    let mut pa = Plane::from_u8(width, height, a);
    let mut pb = Plane::from_u8(width, height, b);
    let mut result = 1.0;
    for (scale, &weight) in MS_SSIM_WEIGHTS.iter().enumerate() {
        let (ssim, cs) = ssim_cs(&pa, &pb);
        let term = if scale + 1 == MS_SSIM_WEIGHTS.len() {
            ssim
        } else {
            cs
        };
        result *= term.max(0.0).powf(weight);
        if scale + 1 < MS_SSIM_WEIGHTS.len() {
            if pa.w < 2 || pa.h < 2 {
                break;
            }
            pa = pa.downsample();
            pb = pb.downsample();
        }
    }
    result
}

/// MS-SSIM on a decibel scale, `−10·log10(1 − msssim)`, as rate–distortion plots use it.
pub fn ms_ssim_db(msssim: f64) -> f64 {
    -10.0 * (1.0 - msssim).max(1e-10).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth test picture with detail: gradients plus a checker of two periods.
    fn picture(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let g = (x * 255 / w + y * 128 / h) as f64 * 0.6;
                let c = if (x / 4 + y / 4) % 2 == 0 { 40.0 } else { 0.0 };
                let s = ((x as f64 * 0.3).sin() * (y as f64 * 0.2).cos()) * 30.0;
                (g + c + s + 40.0).clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    fn noisy(p: &[u8], amp: i32, seed: u32) -> Vec<u8> {
        let mut s = seed;
        p.iter()
            .map(|&x| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let n = (s >> 16) as i32 % (2 * amp + 1) - amp;
                (i32::from(x) + n).clamp(0, 255) as u8
            })
            .collect()
    }

    #[test]
    fn identical_planes_score_one() {
        let p = picture(176, 144);
        assert!((ms_ssim(&p, &p, 176, 144) - 1.0).abs() < 1e-9);
        assert!((ssim(&p, &p, 176, 144) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn more_noise_scores_lower_and_order_does_not_matter() {
        let p = picture(320, 240);
        let mut last = 1.0;
        for amp in [2, 8, 24, 64] {
            let q = noisy(&p, amp, 7);
            let m = ms_ssim(&p, &q, 320, 240);
            assert!(m < last, "amp {amp}: {m} should be below {last}");
            assert!(m > 0.0);
            assert!((m - ms_ssim(&q, &p, 320, 240)).abs() < 1e-9);
            last = m;
        }
    }

    #[test]
    fn blur_hurts_more_at_fine_scales_than_a_small_brightness_shift() {
        // MS-SSIM is meant to forgive a uniform shift of a few levels and punish lost
        // structure: a 3×3 box blur must score below +4 levels of brightness.
        let (w, h) = (256, 192);
        let p = picture(w, h);
        let shifted: Vec<u8> = p.iter().map(|&x| x.saturating_add(4)).collect();
        let mut blurred = p.clone();
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let mut s = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        s += u32::from(p[(y + dy - 1) * w + x + dx - 1]);
                    }
                }
                blurred[y * w + x] = (s / 9) as u8;
            }
        }
        let (ms_shift, ms_blur) = (ms_ssim(&p, &shifted, w, h), ms_ssim(&p, &blurred, w, h));
        assert!(ms_shift > 0.99, "{ms_shift}");
        assert!(ms_blur < ms_shift, "{ms_blur} vs {ms_shift}");
    }

    /// Y' planes of frames of the checked-in 4:2:0 clip.
    fn carphone_luma(frames: &[usize]) -> Vec<Vec<u8>> {
        let b = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/carphone_6f.y4m"
        ))
        .expect("the test clip should be checked in");
        let (w, h) = (176usize, 144usize);
        let chroma = w.div_ceil(2) * h.div_ceil(2);
        let mut p = b.iter().position(|&c| c == b'\n').unwrap() + 1;
        let mut planes = Vec::new();
        while p < b.len() {
            p += b[p..].iter().position(|&c| c == b'\n').unwrap() + 1; // "FRAME\n"
            planes.push(b[p..p + w * h].to_vec());
            p += w * h + 2 * chroma;
        }
        frames.iter().map(|&i| planes[i].clone()).collect()
    }

    #[test]
    fn ssim_matches_scikit_image_on_real_frames() {
        // scikit-image 0.26: structural_similarity(f0, f3, gaussian_weights=True, sigma=1.5,
        // use_sample_covariance=False, data_range=255) on the Y' planes of frames 0 and 3
        let p = carphone_luma(&[0, 3]);
        let s = ssim(&p[0], &p[1], 176, 144);
        assert!((s - 0.849_368_0).abs() < 1e-4, "{s}");
    }

    #[test]
    fn decibel_scale_is_monotone() {
        assert!(ms_ssim_db(0.99) > ms_ssim_db(0.9));
        assert!((ms_ssim_db(0.9) - 10.0).abs() < 1e-9);
        assert!(ms_ssim_db(1.0).is_finite());
    }
}
