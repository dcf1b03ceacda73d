//! Bjøntegaard delta (VCEG-M33): the average rate difference between two rate–distortion
//! curves over the quality range they share (BD-rate), and the average quality difference over
//! the shared rate range (BD-PSNR). Each curve is interpolated piecewise-cubically and
//! monotonically (PCHIP, as the later VCEG/JVET tools do) in ln(rate) against quality, or the
//! reverse, after dropping points that add rate without adding quality: Bjøntegaard's single
//! cubic polynomial swings wildly on a curve that saturates, as a VQ codec's does at its top.

/// One measured point of a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RdPoint {
    /// Bits per pixel (or any rate unit; only ratios matter).
    pub rate: f64,
    /// Quality: PSNR in dB, or MS-SSIM in dB.
    pub quality: f64,
}

/// Why no delta could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BdError {
    /// A curve has fewer than two usable points.
    #[error("a curve has fewer than two points")]
    TooFewPoints,
    /// The curves do not overlap on the integrated axis.
    #[error("the curves do not overlap")]
    NoOverlap,
}

/// Smallest quality step (dB) that counts as a change: a point that adds less than this over
/// a cheaper one adds nothing measurable and only bends the interpolation.
const MIN_STEP: f64 = 0.02;

/// The efficient points of a curve: sorted by rate, each must beat every cheaper point's
/// quality by [`MIN_STEP`]. A curve that saturates (more rate, no more quality) keeps only its
/// useful points, so that quality and ln(rate) are both increasing along it.
fn frontier(c: &[RdPoint]) -> Vec<RdPoint> {
    let mut c: Vec<RdPoint> = c
        .iter()
        .copied()
        .filter(|p| p.rate > 0.0 && p.rate.is_finite() && p.quality.is_finite())
        .collect();
    c.sort_by(|a, b| {
        a.rate
            .total_cmp(&b.rate)
            .then(b.quality.total_cmp(&a.quality))
    });
    let mut out: Vec<RdPoint> = Vec::with_capacity(c.len());
    for p in c {
        match out.last() {
            Some(last) if p.quality < last.quality + MIN_STEP || p.rate <= last.rate => {}
            _ => out.push(p),
        }
    }
    out
}

/// Monotone piecewise-cubic Hermite interpolation (Fritsch–Carlson) through points with
/// strictly increasing `x`; evaluated at `x` inside their range.
fn pchip(p: &[(f64, f64)], x: f64) -> f64 {
    let n = p.len();
    if n == 2 {
        let t = (x - p[0].0) / (p[1].0 - p[0].0);
        return p[0].1 + t * (p[1].1 - p[0].1);
    }
    let h: Vec<f64> = p.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let d: Vec<f64> = p
        .windows(2)
        .zip(&h)
        .map(|(w, h)| (w[1].1 - w[0].1) / h)
        .collect();
    // slopes at the points
    let mut m = vec![0f64; n];
    for i in 1..n - 1 {
        if d[i - 1] * d[i] > 0.0 {
            let (w1, w2) = (2.0 * h[i] + h[i - 1], h[i] + 2.0 * h[i - 1]);
            m[i] = (w1 + w2) / (w1 / d[i - 1] + w2 / d[i]);
        }
    }
    let end = |h0: f64, h1: f64, d0: f64, d1: f64| {
        let s = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
        if s * d0 <= 0.0 {
            0.0
        } else if d0 * d1 <= 0.0 && s.abs() > 3.0 * d0.abs() {
            3.0 * d0
        } else {
            s
        }
    };
    m[0] = end(h[0], h[1], d[0], d[1]);
    m[n - 1] = end(h[n - 2], h[n - 3], d[n - 2], d[n - 3]);
    let i = p.windows(2).position(|w| x <= w[1].0).unwrap_or(n - 2);
    let t = ((x - p[i].0) / h[i]).clamp(0.0, 1.0);
    let (t2, t3) = (t * t, t * t * t);
    (2.0 * t3 - 3.0 * t2 + 1.0) * p[i].1
        + (t3 - 2.0 * t2 + t) * h[i] * m[i]
        + (-2.0 * t3 + 3.0 * t2) * p[i + 1].1
        + (t3 - t2) * h[i] * m[i + 1]
}

/// Mean of `y(x)` of curve `test` minus that of `anchor` over their shared `x` range; both
/// curves have strictly increasing `x` (from [`frontier`]).
fn mean_difference(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Result<f64, BdError> {
    let (a, t) = (anchor, test);
    if a.len() < 2 || t.len() < 2 {
        return Err(BdError::TooFewPoints);
    }
    let (lo, hi) = (a[0].0.max(t[0].0), a[a.len() - 1].0.min(t[t.len() - 1].0));
    if hi - lo <= 1e-9 {
        return Err(BdError::NoOverlap);
    }
    // Simpson's rule on a fine grid: the integrand is smooth between knots
    const N: usize = 2000;
    let step = (hi - lo) / N as f64;
    let sum: f64 = (0..=N)
        .map(|k| {
            let x = lo + k as f64 * step;
            let w = if k == 0 || k == N {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * (pchip(&t, x) - pchip(&a, x))
        })
        .sum();
    Ok(sum * step / 3.0 / (hi - lo))
}

/// The mean difference of `test` over `anchor` with both curves' efficient points placed on
/// the axes `xy` gives.
fn delta(
    anchor: &[RdPoint],
    test: &[RdPoint],
    xy: fn(&RdPoint) -> (f64, f64),
) -> Result<f64, BdError> {
    let curve = |c: &[RdPoint]| -> Vec<(f64, f64)> { frontier(c).iter().map(xy).collect() };
    mean_difference(&curve(anchor), &curve(test))
}

/// BD-rate of `test` against `anchor`, in percent: negative means `test` needs fewer bits for
/// the same quality.
///
/// # Errors
/// [`BdError`] when a curve has fewer than two points or the quality ranges do not overlap.
pub fn bd_rate(anchor: &[RdPoint], test: &[RdPoint]) -> Result<f64, BdError> {
    let d = delta(anchor, test, |p| (p.quality, p.rate.ln()))?;
    Ok((d.exp() - 1.0) * 100.0)
}

/// BD-quality (BD-PSNR for PSNR curves) of `test` against `anchor`: the mean quality gain at
/// equal rate (positive means `test` is better).
///
/// # Errors
/// As [`bd_rate`], on the rate axis.
pub fn bd_quality(anchor: &[RdPoint], test: &[RdPoint]) -> Result<f64, BdError> {
    delta(anchor, test, |p| (p.rate.ln(), p.quality))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> Vec<RdPoint> {
        points
            .iter()
            .map(|&(rate, quality)| RdPoint { rate, quality })
            .collect()
    }

    /// A typical codec curve: PSNR = 10·log10(rate) + 45, sampled at 5 rates.
    fn anchor() -> Vec<RdPoint> {
        curve(&[0.02, 0.05, 0.1, 0.2, 0.4].map(|r: f64| (r, 10.0 * r.log10() + 45.0)))
    }

    #[test]
    fn identical_curves_have_zero_delta() {
        let a = anchor();
        assert!(bd_rate(&a, &a).unwrap().abs() < 1e-9);
        assert!(bd_quality(&a, &a).unwrap().abs() < 1e-9);
    }

    #[test]
    fn half_the_rate_at_equal_quality_is_minus_fifty_percent() {
        let a = anchor();
        let t: Vec<RdPoint> = a
            .iter()
            .map(|p| RdPoint {
                rate: p.rate * 0.5,
                quality: p.quality,
            })
            .collect();
        assert!((bd_rate(&a, &t).unwrap() + 50.0).abs() < 1e-6);
        assert!((bd_rate(&t, &a).unwrap() - 100.0).abs() < 1e-6);
        // the same curve shifted by half the rate is 10·log10(2) ≈ 3.01 dB better
        assert!((bd_quality(&a, &t).unwrap() - 10.0 * 2f64.log10()).abs() < 1e-6);
    }

    #[test]
    fn one_db_better_everywhere_is_plus_one_db() {
        let a = anchor();
        let t: Vec<RdPoint> = a
            .iter()
            .map(|p| RdPoint {
                rate: p.rate,
                quality: p.quality + 1.0,
            })
            .collect();
        assert!((bd_quality(&a, &t).unwrap() - 1.0).abs() < 1e-6);
        // 1 dB on a 10 dB/decade curve is a factor 10^(-0.1) in rate: −20.57%
        assert!((bd_rate(&a, &t).unwrap() - (10f64.powf(-0.1) - 1.0) * 100.0).abs() < 1e-6);
    }

    #[test]
    fn a_saturating_top_does_not_swing_the_result() {
        // the test curve equals the anchor, then spends twice the rate for 0.001 dB more:
        // a single cubic through such points bends far off; the monotone fit stays at ~0
        let a = anchor();
        let mut t = a.clone();
        let top = *t.last().unwrap();
        t.push(RdPoint {
            rate: top.rate * 2.0,
            quality: top.quality + 0.001,
        });
        t.push(RdPoint {
            rate: top.rate * 3.0,
            quality: top.quality - 0.5,
        });
        assert!(
            bd_rate(&a, &t).unwrap().abs() < 0.5,
            "{:?}",
            bd_rate(&a, &t)
        );
        assert!(bd_quality(&a, &t).unwrap().abs() < 0.05);
    }

    #[test]
    fn disjoint_or_short_curves_are_reported() {
        let a = anchor();
        let far = curve(&[(1.0, 60.0), (2.0, 63.0), (4.0, 66.0)]);
        assert_eq!(bd_rate(&a, &far), Err(BdError::NoOverlap));
        assert_eq!(
            bd_rate(&a, &curve(&[(0.1, 35.0)])),
            Err(BdError::TooFewPoints)
        );
    }
}
