//! SiLU `φ(z) = z σ(z)` and its derivative `φ'(z) = σ(z)(1 + z(1 − σ(z)))` (the operation
//! order of `tape::silu` and its gradient) over the rows of a layer, for the fused path.
//!
//! `σ(z) = 1/(1 + u)` for `z ≥ 0` and `u/(1 + u)` for `z < 0`, with `u = e^{−|z|} ≤ 1` (no
//! overflow). The exponential is written here in plain arithmetic (Cody–Waite reduction
//! `y = n ln 2 + r`, `|r| ≤ ln 2 / 2`, a degree-13 Taylor polynomial, `2ⁿ` built from its
//! exponent bits) rather than called from libm, so that the compiler can vectorise the loop in every
//! kernel family; it has no fused multiply-adds, so every family gives the same bits. NaN stays NaN;
//! arguments below −700 are raised to −700 (`u ≥ e^{−700}`, so `σ(z) ≥ 10^{−304}` where the true value is
//! smaller; `φ(z)` is then below `10^{−301}` in size either way). `f32` layers are computed
//! in `f64` and rounded once.
use super::float::Float;

/// `ln 2` split so that `n · LN2_HI` is exact for `|n| < 2²¹` (fdlibm's constants
/// `0x3fe62e42fee00000` ≈ 6.93147180369123816490e-1 and `0x3dea39ef35793c76` ≈
/// 1.90821492927058770002e-10).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 · 2⁵²`: adding it rounds a number of size below `2⁵¹` to an integer, held in the low
/// bits of the sum.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `1/k!` for `k = 13, 12, …, 2`, the Horner coefficients of `e^r` above degree 1.
const INV_FACTORIAL: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// `e^y` for `y ≤ 0` (`y < −700` gives `e^{−700}`, NaN gives NaN), to within 2 ulp of the
/// exact value.
#[inline(always)]
pub(crate) fn exp_nonpositive(y: f64) -> f64 {
    let y = y.clamp(-700.0, 0.0);
    let k = y * std::f64::consts::LOG2_E + ROUND;
    let n = k - ROUND;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let mut p = INV_FACTORIAL[0];
    for c in &INV_FACTORIAL[1..] {
        p = p * r + c;
    }
    p = p * r + 1.0;
    p = p * r + 1.0;
    // n ∈ [−1010, 0] is the low bits of `k` (whose exponent is `ROUND`'s), so
    // `n + 1023 ∈ [13, 1023]` is the biased exponent of `2ⁿ`.
    let biased = k.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(1023);
    p * f64::from_bits(biased << 52)
}

/// The logistic sigmoid `σ(z) = 1/(1 + e^{−z})` through [`exp_nonpositive`].
#[inline(always)]
pub(crate) fn sigmoid(z: f64) -> f64 {
    let u = exp_nonpositive(-z.abs());
    let d = 1.0 + u;
    if z >= 0.0 {
        1.0 / d
    } else {
        u / d
    }
}

/// `z ← φ(z)` for every element of a layer's pre-activations.
#[inline(always)]
pub(crate) fn silu<F: Float>(z: &mut [F]) {
    for v in z {
        let x = v.to_f64();
        *v = F::from_f64(x * sigmoid(x));
    }
}

/// `z ← φ(z)` and `slope ← φ'(z)` for every element of a layer's pre-activations.
#[inline(always)]
pub(crate) fn silu_with_slope<F: Float>(z: &mut [F], slope: &mut [F]) {
    for (v, d) in z.iter_mut().zip(slope) {
        let x = v.to_f64();
        let s = sigmoid(x);
        *d = F::from_f64(s * (1.0 + x * (1.0 - s)));
        *v = F::from_f64(x * s);
    }
}

#[cfg(test)]
mod tests {
    //! The exponential against libm's to 2 ulp over its whole range and at the rounding
    //! boundaries `y = (n + ½) ln 2`; `σ`, `φ` and `φ'` against `tape`'s (libm) versions to
    //! a relative `1e-15` (a few roundings of `u` propagated through `1/(1 + u)`);
    //! the clamped, NaN and infinite arguments.
    use super::*;
    use crate::tape;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0;
        let n = 200_000;
        for i in 0..=n {
            let y = -700.0 * (i as f64 / n as f64).powi(3);
            worst = worst.max(ulps(exp_nonpositive(y), y.exp()));
        }
        for m in 0..1000 {
            let y = -(m as f64 + 0.5) * std::f64::consts::LN_2;
            for y in [y, y.next_up(), y.next_down()] {
                worst = worst.max(ulps(exp_nonpositive(y), y.exp()));
            }
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
    }

    #[test]
    fn out_of_range_arguments_are_clamped() {
        let floor = (-700.0f64).exp();
        assert!(ulps(exp_nonpositive(-1e300), floor) <= 2);
        assert!(ulps(exp_nonpositive(f64::NEG_INFINITY), floor) <= 2);
        assert!(exp_nonpositive(f64::NAN).is_nan());
        assert_eq!(sigmoid(f64::INFINITY), 1.0);
        assert!(sigmoid(f64::NEG_INFINITY) < 1e-300);
        let mut z = [f64::NAN, f64::INFINITY];
        let mut d = [0.0; 2];
        silu_with_slope(&mut z, &mut d);
        assert!(
            z[0].is_nan() && d[0].is_nan(),
            "NaN propagates: {z:?} {d:?}"
        );
        assert_eq!(z[1], f64::INFINITY);
    }

    #[test]
    fn silu_and_its_slope_match_the_tape() {
        let xs: Vec<f64> = (-4000..=4000).map(|i| i as f64 / 100.0).collect();
        let mut z = xs.clone();
        let mut d = vec![0.0; xs.len()];
        silu_with_slope(&mut z, &mut d);
        let mut only = xs.clone();
        silu(&mut only);
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(only[i].to_bits(), z[i].to_bits(), "silu at {x}");
            let (a, b) = (tape::silu(x), z[i]);
            assert!((a - b).abs() <= 1e-15 * a.abs(), "silu({x}): {b} vs {a}");
            let h = 1e-6;
            let slope = (tape::silu(x + h) - tape::silu(x - h)) / (2.0 * h);
            // Central difference: O(h²) truncation and O(ε/h) rounding, both below 1e-8.
            assert!(
                (d[i] - slope).abs() <= 1e-8,
                "slope at {x}: {} vs {slope}",
                d[i]
            );
            let s = tape::sigmoid(x);
            let exact = s * (1.0 + x * (1.0 - s));
            // `1 + x(1 − σ)` cancels near the slope's zero (x ≈ −1.28): an absolute bound,
            // a few roundings of size ε(1 + |x|).
            let tol = 4.0 * f64::EPSILON * (1.0 + x.abs());
            assert!(
                (d[i] - exact).abs() <= tol,
                "slope at {x}: {} vs {exact}",
                d[i]
            );
        }
    }

    #[test]
    fn f32_is_the_f64_value_rounded_once() {
        let xs: Vec<f32> = (-300..=300).map(|i| i as f32 / 10.0).collect();
        let mut z = xs.clone();
        let mut d = vec![0f32; xs.len()];
        silu_with_slope(&mut z, &mut d);
        for (i, &x) in xs.iter().enumerate() {
            let s = sigmoid(x as f64);
            assert_eq!(z[i], (x as f64 * s) as f32);
            assert_eq!(d[i], (s * (1.0 + x as f64 * (1.0 - s))) as f32);
        }
    }
}
