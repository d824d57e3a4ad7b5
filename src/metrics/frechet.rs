//! The Fréchet distance between two Gaussians fitted to samples (the distance behind FID), with
//! the small linear algebra it needs: a symmetric eigensolver (cyclic Jacobi) and square roots of
//! positive semi-definite matrices through it.
//!
//! For `N(m1, C1)` and `N(m2, C2)` the squared 2-Wasserstein (Fréchet) distance is
//! (Dowson & Landau 1982)
//!
//! ```text
//! d² = |m1 - m2|² + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2}),
//! ```
//!
//! and the Fréchet Inception Distance (Heusel et al. 2017) is this `d²` between Gaussians fitted
//! to two sets of features.
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{all_finite, Error, Result};

/// Converged when `off(A) <= OFF_TOL ‖A‖_F` (`off` is the Frobenius norm of the off-diagonal
/// part; both norms are invariant under the rotations, so `‖A‖_F` is computed once).
const OFF_TOL: f64 = 1e-14;
/// More sweeps than Jacobi needs: convergence is quadratic once `off(A)` is small, and 64x64 or
/// 128x128 matrices converge in about ten sweeps.
const MAX_SWEEPS: usize = 100;
/// Largest `|a_ij - a_ji|` accepted, relative to the largest `|a_ij|`.
const SYM_TOL: f64 = 1e-10;
/// Largest negative eigenvalue of a covariance accepted as rounding, relative to the
/// largest `|λ|`; larger negative eigenvalues mean the matrix is not a covariance.
const PSD_TOL: f64 = 1e-10;

/// Eigenvalues (ascending) and orthonormal eigenvectors (the columns of `V`, `A V = V diag(λ)`)
/// of a real symmetric matrix, by the cyclic-by-row Jacobi method (Golub & Van Loan, *Matrix
/// Computations*, 4th ed., §8.5: the 2x2 symmetric Schur decomposition and cyclic Jacobi).
///
/// Each rotation `A ← Jᵀ A J` zeroes one off-diagonal pair; sweeps over all pairs `p < q`
/// until `off(A) <= 1e-14 ‖A‖_F`. The matrix is scaled by a power of two near its largest entry
/// first (exactly), so no intermediate overflows. Errors: non-square or empty (`ShapeMismatch`),
/// non-finite entries (`NonFinite`), `|a_ij - a_ji| > 1e-10 max |a|` or no convergence within
/// 100 sweeps (`InvalidParameter`), eigenvalues beyond `f64` after scaling back (`NonFinite`).
/// The symmetric part `(A + Aᵀ)/2` is what is decomposed.
pub fn symmetric_eigen(a: ArrayView2<f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    let n = a.nrows();
    if n != a.ncols() {
        return Err(Error::shape(
            "symmetric_eigen matrix",
            "a square matrix",
            format!("{} x {}", a.nrows(), a.ncols()),
        ));
    }
    if n == 0 {
        return Err(Error::shape("symmetric_eigen matrix", "n >= 1", "0 x 0"));
    }
    all_finite(a.iter(), "symmetric_eigen matrix")?;
    let big = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if big == 0.0 {
        return Ok((Array1::zeros(n), Array2::eye(n)));
    }
    // A power of two, so scaling and scaling back are exact; scaled entries are below ~2.
    let scale = pow2(big.log2().floor() as i32);
    let big = big / scale;
    // Symmetry is judged on the scaled matrix, where no difference overflows.
    let mut w = Work::new(n);
    let mut asym = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (a[[i, j]] / scale, a[[j, i]] / scale);
            asym = asym.max((x - y).abs());
            w.a[i * w.ld + j] = 0.5 * (x + y);
        }
    }
    if asym > SYM_TOL * big {
        return Err(Error::param(
            "symmetric_eigen matrix",
            format!(
                "not symmetric: max |a_ij - a_ji| / max |a_ij| = {:.3e} > {SYM_TOL:e}",
                asym / big
            ),
        ));
    }
    w.jacobi()?;
    let diag = |k: usize| w.a[k * w.ld + k];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| diag(i).total_cmp(&diag(j)));
    let values = Array1::from_iter(order.iter().map(|&k| diag(k) * scale));
    all_finite(values.iter(), "symmetric_eigen eigenvalues (overflow)")?;
    let vectors = Array2::from_shape_fn((n, n), |(i, j)| w.vt[order[j] * n + i]);
    Ok((values, vectors))
}

/// `2^e` exactly, for `e` clamped to the range of `f64` (subnormal powers included).
fn pow2(e: i32) -> f64 {
    let e = e.clamp(-1074, 1023);
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

/// The state of cyclic Jacobi: the symmetric matrix `a` (row-major, full, rows `ld` apart)
/// and `Vᵀ` (row-major, `n` apart), so that every rotation updates contiguous rows; columns
/// are written by copying rows ([`Work::mirror_row`]). `ld` is odd: with a power-of-two row
/// length the column copies would fall into a few cache sets (n = 128 ran 20x slower than
/// n = 64 instead of ~9x).
struct Work {
    n: usize,
    ld: usize,
    a: Vec<f64>,
    vt: Vec<f64>,
}

impl Work {
    fn new(n: usize) -> Self {
        let ld = n + 1 + n % 2;
        let mut vt = vec![0.0; n * n];
        for k in 0..n {
            vt[k * n + k] = 1.0;
        }
        Work {
            n,
            ld,
            a: vec![0.0; n * ld],
            vt,
        }
    }

    /// Sweeps over the pairs `p < q` in row order until `off(A) <= OFF_TOL ‖A‖_F`; leaves the
    /// eigenvalues on the diagonal of `a` and the eigenvectors in the rows of `vt`.
    fn jacobi(&mut self) -> Result<()> {
        let (n, ld) = (self.n, self.ld);
        let off_sq = |a: &[f64]| -> f64 {
            (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| i * ld + j))
                .map(|k| a[k] * a[k])
                .sum()
        };
        let diag_sq: f64 = (0..n).map(|k| self.a[k * ld + k].powi(2)).sum();
        let frob = (diag_sq + off_sq(&self.a)).sqrt();
        for _ in 0..MAX_SWEEPS {
            if off_sq(&self.a).sqrt() <= OFF_TOL * frob {
                return Ok(());
            }
            for p in 0..n - 1 {
                for q in p + 1..n {
                    self.rotate(p, q);
                }
                // Row p is current; its column was left stale by the rotations (p, q) above,
                // as nothing read it since (they read row p, not column p).
                self.mirror_row(p);
            }
        }
        Err(Error::param(
            "symmetric_eigen matrix",
            format!("cyclic Jacobi did not converge in {MAX_SWEEPS} sweeps"),
        ))
    }

    /// One Jacobi rotation in the plane `(p, q)`, `p < q`: `A ← Jᵀ A J`, `V ← V J`, with
    /// `J = [[c, s], [-s, c]]` in rows and columns `p, q` chosen so that the new `a_pq` is 0
    /// (Golub & Van Loan, Algorithm 8.5.1, the smaller of the two rotation angles).
    fn rotate(&mut self, p: usize, q: usize) {
        let (n, ld) = (self.n, self.ld);
        let apq = self.a[p * ld + q];
        if apq == 0.0 {
            return;
        }
        let (app, aqq) = (self.a[p * ld + p], self.a[q * ld + q]);
        // tau = cot 2θ; t = tan θ is the root of t² + 2 tau t - 1 = 0 of smaller size
        // (|θ| <= π/4). For huge |tau| hypot stays finite and t underflows towards 0.
        let tau = (aqq - app) / (2.0 * apq);
        let t = tau.signum() / (tau.abs() + tau.hypot(1.0));
        let c = 1.0 / t.mul_add(t, 1.0).sqrt();
        let s = t * c;
        rotate_rows(&mut self.a, ld, n, p, q, c, s);
        // Rows p and q now hold (Jᵀ A J) off the 2x2 block. Column q is copied now (row k > q
        // is read by the rotation (p, k)); column p once the sweep is done with p.
        self.mirror_row(q);
        self.a[p * ld + p] = app - t * apq;
        self.a[q * ld + q] = aqq + t * apq;
        self.a[p * ld + q] = 0.0;
        self.a[q * ld + p] = 0.0;
        rotate_rows(&mut self.vt, n, n, p, q, c, s);
    }

    /// `a_kr = a_rk` for every `k`: copies row `r` into column `r`.
    fn mirror_row(&mut self, r: usize) {
        let ld = self.ld;
        for k in 0..self.n {
            self.a[k * ld + r] = self.a[r * ld + k];
        }
    }
}

/// `(row_p, row_q) ← (c row_p - s row_q, s row_p + c row_q)` on the first `n` entries of rows
/// `p < q` of a row-major buffer with rows `ld` apart.
fn rotate_rows(m: &mut [f64], ld: usize, n: usize, p: usize, q: usize, c: f64, s: f64) {
    let (head, tail) = m.split_at_mut(q * ld);
    let row_p = &mut head[p * ld..p * ld + n];
    let row_q = &mut tail[..n];
    for (x, y) in row_p.iter_mut().zip(row_q.iter_mut()) {
        let (xp, xq) = (*x, *y);
        *x = c * xp - s * xq;
        *y = s * xp + c * xq;
    }
}

/// The eigen-decomposition of a covariance, with eigenvalues that rounding made slightly
/// negative (down to `-1e-10 max |λ|`) set to 0; more negative ones are an error.
fn psd_eigen(c: ArrayView2<f64>, what: &'static str) -> Result<(Array1<f64>, Array2<f64>)> {
    let (mut lambda, v) = symmetric_eigen(c)?;
    let big = lambda.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let min = lambda.iter().cloned().fold(f64::INFINITY, f64::min);
    if min < -PSD_TOL * big {
        return Err(Error::param(
            what,
            format!("not positive semi-definite: eigenvalue {min:.3e} (largest |λ| {big:.3e})"),
        ));
    }
    lambda.mapv_inplace(|x| x.max(0.0));
    Ok((lambda, v))
}

/// `V diag(f(λ)) Vᵀ`.
fn spectral(lambda: &Array1<f64>, v: &Array2<f64>, f: impl Fn(f64) -> f64) -> Array2<f64> {
    let fl = lambda.mapv(f);
    let scaled = v * &fl.view().insert_axis(Axis(0));
    scaled.dot(&v.t())
}

/// A Gaussian `N(mean, cov)` fitted to a sample: the moments the Fréchet distance compares.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianFit {
    /// The mean, length `d`.
    pub mean: Array1<f64>,
    /// The covariance, `d x d`, symmetric positive semi-definite.
    pub cov: Array2<f64>,
}

impl GaussianFit {
    /// Sample mean `m = (1/n) Σ x_i` and unbiased covariance `C = (1/(n-1)) Σ (x_i - m)(x_i - m)ᵀ`
    /// of the rows of `x` (`[n, d]`). Errors: `n < 2` or `d = 0` (`ShapeMismatch`), non-finite
    /// input or a covariance that overflows (`NonFinite`).
    pub fn of_rows(x: ArrayView2<f64>) -> Result<Self> {
        let (n, d) = x.dim();
        if n < 2 {
            return Err(Error::shape("GaussianFit rows", "n >= 2 rows", n));
        }
        if d == 0 {
            return Err(Error::shape("GaussianFit rows", "d >= 1 columns", 0));
        }
        all_finite(x.iter(), "GaussianFit rows")?;
        let mean = x.sum_axis(Axis(0)) / n as f64;
        all_finite(mean.iter(), "GaussianFit mean (overflow)")?;
        let centred = &x - &mean.view().insert_axis(Axis(0));
        let raw = centred.t().dot(&centred) / (n - 1) as f64;
        // Exactly symmetric, whatever the summation order of the product.
        let cov = Array2::from_shape_fn((d, d), |(i, j)| 0.5 * (raw[[i, j]] + raw[[j, i]]));
        all_finite(cov.iter(), "GaussianFit covariance (overflow)")?;
        Ok(GaussianFit { mean, cov })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    fn check(&self, what: &str) -> Result<()> {
        let d = self.mean.len();
        if d == 0 || self.cov.dim() != (d, d) {
            return Err(Error::shape(
                format!("{what}: mean and covariance"),
                format!("mean of length d >= 1 and a d x d covariance (d = {d})"),
                format!("covariance {:?}", self.cov.dim()),
            ));
        }
        all_finite(self.mean.iter(), what)?;
        all_finite(self.cov.iter(), what)
    }
}

/// The squared Fréchet distance (FID convention: the square, not its root) between
/// `N(m1, C1)` and `N(m2, C2)` (Dowson & Landau 1982; Heusel et al. 2017):
///
/// `d² = |m1 - m2|² + tr C1 + tr C2 - 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}`,
///
/// with `C1^{1/2} = V diag(√λ) Vᵀ` from [`symmetric_eigen`] of `C1`, and the trace of the outer
/// square root as `Σ √μ_i` over the eigenvalues `μ_i` of the symmetric positive semi-definite
/// `C1^{1/2} C2 C1^{1/2}` (negative ones from rounding set to 0). A result below 0 by rounding
/// is returned as 0. Errors: different dimensions or inconsistent shapes (`ShapeMismatch`),
/// non-finite moments (`NonFinite`), and covariances that are not symmetric or have an
/// eigenvalue below `-1e-10 max |λ|` (`InvalidParameter`).
pub fn frechet_distance_sq(a: &GaussianFit, b: &GaussianFit) -> Result<f64> {
    a.check("frechet_distance_sq first Gaussian")?;
    b.check("frechet_distance_sq second Gaussian")?;
    if a.dim() != b.dim() {
        return Err(Error::shape(
            "frechet_distance_sq Gaussians",
            format!("equal dimensions (first d = {})", a.dim()),
            format!("second d = {}", b.dim()),
        ));
    }
    let (l1, v1) = psd_eigen(a.cov.view(), "frechet_distance_sq first covariance")?;
    // C2 is decomposed only to reject a covariance with a negative direction (which the
    // product below would hide wherever C1 is singular).
    psd_eigen(b.cov.view(), "frechet_distance_sq second covariance")?;
    let s1 = spectral(&l1, &v1, f64::sqrt);
    let m = s1.dot(&b.cov).dot(&s1);
    let m = Array2::from_shape_fn(m.dim(), |(i, j)| 0.5 * (m[[i, j]] + m[[j, i]]));
    all_finite(
        m.iter(),
        "frechet_distance_sq C1^{1/2} C2 C1^{1/2} (overflow)",
    )?;
    let (mu, _) = symmetric_eigen(m.view())?;
    let tr_sqrt: f64 = mu.iter().map(|&x| x.max(0.0).sqrt()).sum();
    let dm = mean_gap_sq(a.mean.view(), b.mean.view());
    let d2 = dm + a.cov.diag().sum() + b.cov.diag().sum() - 2.0 * tr_sqrt;
    crate::error::finite(d2, "frechet_distance_sq (overflow)").map(|d2| d2.max(0.0))
}

fn mean_gap_sq(m1: ArrayView1<f64>, m2: ArrayView1<f64>) -> f64 {
    m1.iter()
        .zip(m2.iter())
        .map(|(x, y)| (x - y) * (x - y))
        .sum()
}
