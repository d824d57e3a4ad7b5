//! Numerical quadrature: the independent check of every closed form (kernel moments,
//! diffused densities, KL divergences).
use crate::error::{Error, Result};

/// 8-point Gauss-Legendre nodes and weights on `[-1, 1]`.
pub(crate) const GL8: [(f64, f64); 8] = [
    (-0.960_289_856_497_536_3, 0.101_228_536_290_376_26),
    (-0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (-0.525_532_409_916_329, 0.313_706_645_877_887_3),
    (-0.183_434_642_495_649_8, 0.362_683_783_378_362),
    (0.183_434_642_495_649_8, 0.362_683_783_378_362),
    (0.525_532_409_916_329, 0.313_706_645_877_887_3),
    (0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (0.960_289_856_497_536_3, 0.101_228_536_290_376_26),
];

/// Nodes and weights of the 7-point Gauss-Kronrod rule nested in the 15-point one (on [-1, 1]).
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_2,
    0.140_653_259_715_525_9,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_728,
];
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// One Gauss-Kronrod 15(7) panel on [a, b]: returns (Kronrod estimate, |Kronrod - Gauss|).
fn gk15<F: Fn(f64) -> f64>(f: &F, a: f64, b: f64) -> (f64, f64) {
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let fc = f(c);
    let mut k = WGK[7] * fc;
    let mut g = WG[3] * fc;
    for j in 0..7 {
        let dx = h * XGK[j];
        let s = f(c - dx) + f(c + dx);
        k += WGK[j] * s;
        if j % 2 == 1 {
            g += WG[j / 2] * s;
        }
    }
    (k * h, ((k - g) * h).abs())
}

/// Adaptive Gauss-Kronrod 15(7) quadrature of `f` on `[a, b]` to absolute tolerance `tol`.
///
/// Starts from 16 equal panels, then bisects the panel with the largest error estimate until the summed estimate is below
/// `tol` (or 2000 panels). Errors on non-finite bounds or a non-finite integrand.
pub fn integrate<F: Fn(f64) -> f64>(f: F, a: f64, b: f64, tol: f64) -> Result<f64> {
    if !(a.is_finite() && b.is_finite()) {
        return Err(Error::param(
            "bounds",
            format!("must be finite, got [{a}, {b}]"),
        ));
    }
    if a == b {
        return Ok(0.0);
    }
    // Start from 16 panels so that a narrow peak is not missed by every node of one panel.
    let mut panels: Vec<_> = (0..16)
        .map(|i| {
            let lo = a + (b - a) * i as f64 / 16.0;
            let hi = a + (b - a) * (i + 1) as f64 / 16.0;
            (lo, hi, gk15(&f, lo, hi))
        })
        .collect();
    for _ in 0..2000 {
        let (total_err, worst) = panels
            .iter()
            .enumerate()
            .fold((0.0, 0usize), |(s, w), (i, p)| {
                let w = if p.2 .1 > panels[w].2 .1 { i } else { w };
                (s + p.2 .1, w)
            });
        if total_err <= tol {
            break;
        }
        let (lo, hi, _) = panels.swap_remove(worst);
        let mid = 0.5 * (lo + hi);
        panels.push((lo, mid, gk15(&f, lo, mid)));
        panels.push((mid, hi, gk15(&f, mid, hi)));
    }
    let v: f64 = panels.iter().map(|p| p.2 .0).sum();
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFinite {
            what: "integrand".into(),
        })
    }
}

/// Composite trapezoid rule on a uniform grid `xs` with values `ys` (same length >= 2).
pub fn trapezoid(xs: &[f64], ys: &[f64]) -> Result<f64> {
    if xs.len() != ys.len() || xs.len() < 2 {
        return Err(Error::shape(
            "trapezoid",
            "two grids of equal length >= 2",
            format!("{} and {}", xs.len(), ys.len()),
        ));
    }
    Ok(xs
        .windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| 0.5 * (x[1] - x[0]) * (y[0] + y[1]))
        .sum())
}

/// `n` equally spaced points from `a` to `b` inclusive (like Julia's `range(a, b, n)`).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// The `m`-point Gauss-Hermite rule for the standard normal law: nodes `z_i` and weights `w_i`
/// with `Σ w_i h(z_i) = E h(Z)`, `Z ~ N(0, 1)`, exactly for polynomials `h` of degree below
/// `2m`. The roots of the orthonormal Hermite polynomial `H_m` (weight `e^{-x^2}`) by Newton's
/// method from the usual asymptotic starting guesses, then `z = √2 x`, `w = w_x / √π`.
/// `m` must lie in `1..=200` (beyond that the largest weights underflow).
pub fn gauss_hermite(m: usize) -> Result<Vec<(f64, f64)>> {
    if !(1..=200).contains(&m) {
        return Err(Error::param(
            "Gauss-Hermite nodes",
            format!("must lie in 1..=200, got {m}"),
        ));
    }
    let mf = m as f64;
    let pim4 = std::f64::consts::PI.powf(-0.25);
    let mut x = vec![0.0; m];
    let mut w = vec![0.0; m];
    let mut z = 0.0f64;
    for i in 0..m.div_ceil(2) {
        z = match i {
            0 => (2.0 * mf + 1.0).sqrt() - 1.855_75 * (2.0 * mf + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * mf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 1.0;
        let mut converged = false;
        for _ in 0..100 {
            // The three-term recurrence of the orthonormal Hermite polynomials at z.
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 1..=m {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
            }
            pp = (2.0 * mf).sqrt() * p2;
            let step = p1 / pp;
            z -= step;
            if step.abs() <= 1e-15 * z.abs().max(1.0) {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::param(
                "Gauss-Hermite nodes",
                format!("Newton's method did not converge for m = {m}"),
            ));
        }
        x[i] = z;
        x[m - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[m - 1 - i] = w[i];
    }
    let (s2, spi) = (std::f64::consts::SQRT_2, std::f64::consts::PI.sqrt());
    Ok(x.iter()
        .zip(&w)
        .rev()
        .map(|(&xi, &wi)| (s2 * xi, wi / spi))
        .collect())
}
