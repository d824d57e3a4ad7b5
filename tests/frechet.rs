//! The Fréchet distance between fitted Gaussians and its Jacobi eigensolver, on cases with known
//! answers and against an independent route (Cholesky, not the square root of C1).
use score_sde::metrics::{frechet_distance_sq, symmetric_eigen, GaussianFit};
use score_sde::ndarray::{array, Array1, Array2, Axis};
use score_sde::rand::RngExt;
use score_sde::rand_distr::StandardNormal;
use score_sde::rng::seeded;

fn gaussian_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = seeded(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.sample(StandardNormal))
}

/// A random orthogonal matrix: modified Gram-Schmidt, applied twice, on the columns of a
/// seeded Gaussian matrix.
fn random_orthogonal(n: usize, seed: u64) -> Array2<f64> {
    let mut q = gaussian_matrix(n, n, seed);
    for _ in 0..2 {
        for j in 0..n {
            for k in 0..j {
                let r = q.column(k).dot(&q.column(j));
                let qk = q.column(k).to_owned();
                q.column_mut(j).scaled_add(-r, &qk);
            }
            let norm = q.column(j).dot(&q.column(j)).sqrt();
            q.column_mut(j).mapv_inplace(|x| x / norm);
        }
    }
    q
}

/// `Q diag(λ) Qᵀ`, symmetrised so that rounding leaves no asymmetry.
fn with_spectrum(q: &Array2<f64>, lambda: &Array1<f64>) -> Array2<f64> {
    let a = (q * &lambda.view().insert_axis(Axis(0))).dot(&q.t());
    (&a + &a.t()) / 2.0
}

/// A random symmetric positive definite matrix `G Gᵀ / d + 0.1 I`.
fn random_spd(d: usize, seed: u64) -> Array2<f64> {
    let g = gaussian_matrix(d, d, seed);
    let c = g.dot(&g.t()) / d as f64 + Array2::<f64>::eye(d) * 0.1;
    (&c + &c.t()) / 2.0
}

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Jacobi recovers a spectrum it was given: `A = Q diag(λ) Qᵀ` with Q orthogonal. The
/// eigenvalues agree to 1e-12 max|λ| (building A costs ~n ε max|λ|, about 3e-14 at n = 128;
/// Jacobi's backward error is of the same order), the residuals `A v - λ v` are below
/// 1e-12 max|λ| and `VᵀV = I` to 1e-12 (both are ~n ε for a backward-stable method).
/// The spectrum has signs, a repeated eigenvalue pair and a spread of 1e3.
#[test]
fn jacobi_recovers_a_known_spectrum() {
    for (n, seed) in [(5, 1), (64, 2), (128, 3)] {
        let q = random_orthogonal(n, seed);
        let qtq = q.t().dot(&q) - Array2::<f64>::eye(n);
        assert!(max_abs(&qtq) < 1e-14, "Q not orthogonal: {}", max_abs(&qtq));
        let mut lambda = Array1::from_shape_fn(n, |i| {
            let x = (i as f64 + 1.0) / n as f64;
            if i % 3 == 0 {
                -10.0 * x
            } else {
                1e3 * x * x
            }
        });
        lambda[n - 1] = lambda[n - 2]; // a repeated eigenvalue
        let a = with_spectrum(&q, &lambda);
        let (values, v) = symmetric_eigen(a.view()).unwrap();
        let mut want = lambda.to_vec();
        want.sort_by(f64::total_cmp);
        let big = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (got, want) in values.iter().zip(&want) {
            assert!((got - want).abs() < 1e-12 * big, "n={n}: λ {got} vs {want}");
        }
        let residual = a.dot(&v) - &v * &values.view().insert_axis(Axis(0));
        assert!(
            max_abs(&residual) < 1e-12 * big,
            "n={n}: {}",
            max_abs(&residual)
        );
        let orth = v.t().dot(&v) - Array2::<f64>::eye(n);
        assert!(
            max_abs(&orth) < 1e-12,
            "n={n}: VᵀV - I = {}",
            max_abs(&orth)
        );
    }
}

/// Already diagonal, zero and 1x1 matrices: exact answers (no rotation is needed, so the
/// comparisons are exact, tolerance 0).
#[test]
fn jacobi_trivial_cases_are_exact() {
    let (l, v) = symmetric_eigen(array![[3.0, 0.0], [0.0, -2.0]].view()).unwrap();
    assert_eq!(l, array![-2.0, 3.0]);
    assert_eq!(v, array![[0.0, 1.0], [1.0, 0.0]]);
    let (l, v) = symmetric_eigen(Array2::<f64>::zeros((3, 3)).view()).unwrap();
    assert_eq!(l, Array1::<f64>::zeros(3));
    assert_eq!(v, Array2::<f64>::eye(3));
    let (l, v) = symmetric_eigen(array![[-7.5]].view()).unwrap();
    assert_eq!((l[0], v[[0, 0]]), (-7.5, 1.0));
    // 2x2 [[2, 1], [1, 2]] has eigenvalues 1 and 3; one rotation, so exact to a few ulps (1e-15).
    let (l, _) = symmetric_eigen(array![[2.0, 1.0], [1.0, 2.0]].view()).unwrap();
    assert!(
        (l[0] - 1.0).abs() < 1e-15 && (l[1] - 3.0).abs() < 1e-15,
        "{l}"
    );
}

/// Scaling: entries near 1e300 and near 1e-300 give the scaled spectrum (relative 1e-12, as in
/// the unscaled case), since the matrix is divided by its largest entry before the sweeps.
#[test]
fn jacobi_is_scale_free() {
    let q = random_orthogonal(6, 11);
    let lambda = array![1.0, 2.0, 3.0, -4.0, 5.0, 0.5];
    let a = with_spectrum(&q, &lambda);
    let (base, _) = symmetric_eigen(a.view()).unwrap();
    for s in [1e300, 1e-300] {
        let (l, _) = symmetric_eigen((&a * s).view()).unwrap();
        for (x, y) in l.iter().zip(&base) {
            assert!((x / s - y).abs() < 1e-12 * 5.0, "scale {s}: {x} vs {y}");
        }
    }
}

/// In one dimension `d² = (m1 - m2)² + (s1 - s2)²`, both sides from the same fitted moments.
/// Tolerance 1e-13 (a few roundings of O(1) numbers). Missing the factor 2 or the inner
/// square root would give `s1² + s2² - s1 s2` or `s1² + s2² - 2 s1² s2²`: off by O(1) here.
#[test]
fn one_dimensional_distance_is_mean_and_std_gap() {
    let mut rng = seeded(7);
    let x = Array2::from_shape_fn((200, 1), |_| {
        0.7 * rng.sample::<f64, _>(StandardNormal) + 0.3
    });
    let y = Array2::from_shape_fn((300, 1), |_| {
        2.3 * rng.sample::<f64, _>(StandardNormal) - 1.1
    });
    let (a, b) = (
        GaussianFit::of_rows(x.view()).unwrap(),
        GaussianFit::of_rows(y.view()).unwrap(),
    );
    let (s1, s2) = (a.cov[[0, 0]].sqrt(), b.cov[[0, 0]].sqrt());
    let want = (a.mean[0] - b.mean[0]).powi(2) + (s1 - s2).powi(2);
    let got = frechet_distance_sq(&a, &b).unwrap();
    assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    // Hand-set moments: (1 - 4)² + (0.5 - 3)² = 9 + 6.25.
    let a = GaussianFit {
        mean: array![1.0],
        cov: array![[0.25]],
    };
    let b = GaussianFit {
        mean: array![4.0],
        cov: array![[9.0]],
    };
    assert!((frechet_distance_sq(&a, &b).unwrap() - 15.25).abs() < 1e-13);
}

/// The moments of rows: mean and the unbiased (n - 1) covariance, checked by hand on three
/// points (exact binary fractions, tolerance 1e-15).
#[test]
fn gaussian_fit_of_rows_is_unbiased() {
    let x = array![[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]];
    let g = GaussianFit::of_rows(x.view()).unwrap();
    assert_eq!(g.dim(), 2);
    // mean (2, 2); deviations (-2, -1), (0, -1), (2, 2); sums of products xx 8, xy 6, yy 6;
    // divided by n - 1 = 2 (dividing by n = 3 would give non-integers).
    let want = array![[4.0, 3.0], [3.0, 3.0]];
    assert!((&g.mean - &array![2.0, 2.0])
        .iter()
        .all(|e| e.abs() < 1e-15));
    assert!(max_abs(&(&g.cov - &want)) < 1e-15, "{}", g.cov);
}

/// Commuting (diagonal) covariances: `d² = |m1 - m2|² + Σ (√a_i - √b_i)²`. Tolerance 1e-12
/// (O(1) entries, d = 5; the Jacobi route costs a few ε per eigenvalue).
#[test]
fn diagonal_covariances_give_sum_of_std_gaps() {
    let va = array![0.5, 1.0, 2.0, 4.0, 0.0];
    let vb = array![3.0, 1.0, 0.1, 9.0, 2.0];
    let a = GaussianFit {
        mean: array![0.0, 1.0, 2.0, 3.0, 4.0],
        cov: Array2::from_diag(&va),
    };
    let b = GaussianFit {
        mean: array![1.0, 1.0, 0.0, 3.5, 4.0],
        cov: Array2::from_diag(&vb),
    };
    let mean_term = (&a.mean - &b.mean).mapv(|x| x * x).sum();
    let cov_term: f64 = va
        .iter()
        .zip(&vb)
        .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
        .sum();
    let got = frechet_distance_sq(&a, &b).unwrap();
    assert!((got - (mean_term + cov_term)).abs() < 1e-12, "{got}");
    // The same covariances in a rotated basis no longer look diagonal; d² is unchanged
    // (relative 1e-12, rounding of the rotation).
    let r = random_orthogonal(5, 5);
    let rot = |g: &GaussianFit| GaussianFit {
        mean: r.dot(&g.mean),
        cov: {
            let c = r.dot(&g.cov).dot(&r.t());
            (&c + &c.t()) / 2.0
        },
    };
    let rotated = frechet_distance_sq(&rot(&a), &rot(&b)).unwrap();
    assert!((rotated - got).abs() < 1e-12 * got, "{rotated} vs {got}");
}

/// The test's own Cholesky factor `C = L Lᵀ` (C symmetric positive definite).
fn cholesky(c: &Array2<f64>) -> Array2<f64> {
    let n = c.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let s: f64 = (0..j).map(|k| l[[j, k]] * l[[j, k]]).sum();
        l[[j, j]] = (c[[j, j]] - s).sqrt();
        for i in j + 1..n {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            l[[i, j]] = (c[[i, j]] - s) / l[[j, j]];
        }
    }
    l
}

/// General (non-commuting) covariances against a different route: the eigenvalues of
/// `C1^{1/2} C2 C1^{1/2}` are those of `C1 C2 = L (Lᵀ C2 L) L⁻¹`, so
/// `tr (C1^{1/2} C2 C1^{1/2})^{1/2} = Σ √eig(Lᵀ C2 L)` with L the Cholesky factor of C1: no
/// square root of a matrix and no eigenvectors. Relative tolerance 1e-11 on d² (both routes
/// are backward stable, ~d ε κ with κ ~ 1e2 for these matrices). The formula for commuting
/// covariances, `tr(C1 + C2 - 2 C1^{1/2} C2^{1/2})`, is checked to miss `want` by more than
/// 1e3 times that tolerance, so the comparison would catch that mistake.
#[test]
fn general_covariances_match_the_cholesky_route() {
    for (d, seed) in [(2, 20), (6, 21), (32, 22)] {
        let (c1, c2) = (random_spd(d, seed), random_spd(d, seed + 100));
        let mut rng = seeded(seed + 200);
        let m1 = Array1::from_shape_fn(d, |_| rng.sample::<f64, _>(StandardNormal));
        let m2 = Array1::from_shape_fn(d, |_| rng.sample::<f64, _>(StandardNormal));
        let a = GaussianFit {
            mean: m1.clone(),
            cov: c1.clone(),
        };
        let b = GaussianFit {
            mean: m2.clone(),
            cov: c2.clone(),
        };
        let got = frechet_distance_sq(&a, &b).unwrap();

        let l = cholesky(&c1);
        assert!(max_abs(&(l.dot(&l.t()) - &c1)) < 1e-13, "Cholesky failed");
        let k = l.t().dot(&c2).dot(&l);
        let (mu, _) = symmetric_eigen(((&k + &k.t()) / 2.0).view()).unwrap();
        assert!(
            mu.iter().all(|&x| x > 0.0),
            "C1 C2 has positive eigenvalues"
        );
        let tr_sqrt: f64 = mu.iter().map(|x| x.sqrt()).sum();
        let mean_term = (&m1 - &m2).mapv(|x| x * x).sum();
        let want = mean_term + c1.diag().sum() + c2.diag().sum() - 2.0 * tr_sqrt;
        assert!((got - want).abs() < 1e-11 * want, "d={d}: {got} vs {want}");

        if d == 2 {
            // Closed form for 2x2: (√μ1 + √μ2)² = tr(C1 C2) + 2 √(det C1 det C2).
            let det = |c: &Array2<f64>| c[[0, 0]] * c[[1, 1]] - c[[0, 1]] * c[[1, 0]];
            let tr12 = c1.dot(&c2).diag().sum();
            let tr_sqrt_2 = (tr12 + 2.0 * (det(&c1) * det(&c2)).sqrt()).sqrt();
            assert!(
                (tr_sqrt - tr_sqrt_2).abs() < 1e-13 * tr_sqrt_2,
                "2x2 closed form"
            );
        }

        // C1^{1/2} C2^{1/2} has the wrong trace when C1 and C2 do not commute.
        let sqrtm = |c: &Array2<f64>| {
            let (l, v) = symmetric_eigen(c.view()).unwrap();
            (&v * &l.mapv(f64::sqrt).view().insert_axis(Axis(0))).dot(&v.t())
        };
        let naive = mean_term + c1.diag().sum() + c2.diag().sum()
            - 2.0 * sqrtm(&c1).dot(&sqrtm(&c2)).diag().sum();
        assert!(
            (naive - want).abs() > 1e-8 * want,
            "d={d}: naive {naive} vs {want}"
        );
    }
}

/// Metric properties on fitted samples: `d(a, b) = d(b, a)` (relative 1e-10: the two orders
/// take different square roots, each accurate to ~d ε κ), `d(a, a) = 0` (absolute 1e-10 against
/// a trace of O(d)), and invariance when both samples are rotated by the same orthogonal R
/// (relative 1e-10, R is orthogonal to 1e-15).
#[test]
fn symmetric_zero_on_the_diagonal_and_rotation_invariant() {
    let d = 8;
    let x = gaussian_matrix(500, d, 30);
    let mix = gaussian_matrix(d, d, 31) * 0.5;
    let y = gaussian_matrix(400, d, 32).dot(&mix) + 0.3;
    let (a, b) = (
        GaussianFit::of_rows(x.view()).unwrap(),
        GaussianFit::of_rows(y.view()).unwrap(),
    );
    let ab = frechet_distance_sq(&a, &b).unwrap();
    let ba = frechet_distance_sq(&b, &a).unwrap();
    assert!(ab > 1.0, "the samples differ: {ab}");
    assert!((ab - ba).abs() < 1e-10 * ab, "{ab} vs {ba}");
    assert!(frechet_distance_sq(&a, &a).unwrap() < 1e-10);
    assert!(frechet_distance_sq(&b, &b).unwrap() < 1e-10);
    let r = random_orthogonal(d, 33);
    let (ra, rb) = (
        GaussianFit::of_rows(x.dot(&r.t()).view()).unwrap(),
        GaussianFit::of_rows(y.dot(&r.t()).view()).unwrap(),
    );
    let rot = frechet_distance_sq(&ra, &rb).unwrap();
    assert!((rot - ab).abs() < 1e-10 * ab, "{rot} vs {ab}");
}

/// Singular covariances (n < d, so rank n - 1): eigenvalues rounded slightly negative are
/// clamped, and d(a, a) stays 0 (absolute 1e-10) with d(a, b) finite and positive.
#[test]
fn singular_covariances_are_accepted() {
    let x = gaussian_matrix(5, 20, 40);
    let y = gaussian_matrix(7, 20, 41);
    let (a, b) = (
        GaussianFit::of_rows(x.view()).unwrap(),
        GaussianFit::of_rows(y.view()).unwrap(),
    );
    assert!(frechet_distance_sq(&a, &a).unwrap() < 1e-10);
    let ab = frechet_distance_sq(&a, &b).unwrap();
    assert!(ab.is_finite() && ab > 0.0, "{ab}");
}

/// Bad input gives a typed error, never a panic.
#[test]
fn bad_input_is_an_error_not_a_panic() {
    // symmetric_eigen: non-square, empty, NaN, infinite, non-symmetric.
    assert!(symmetric_eigen(Array2::<f64>::zeros((2, 3)).view()).is_err());
    assert!(symmetric_eigen(Array2::<f64>::zeros((0, 0)).view()).is_err());
    assert!(symmetric_eigen(array![[1.0, f64::NAN], [f64::NAN, 1.0]].view()).is_err());
    assert!(symmetric_eigen(array![[f64::INFINITY, 0.0], [0.0, 1.0]].view()).is_err());
    assert!(symmetric_eigen(array![[1.0, 2.0], [2.1, 1.0]].view()).is_err());
    // Asymmetry within the 1e-10 relative tolerance is accepted (the symmetric part is used).
    assert!(symmetric_eigen(array![[1.0, 2.0], [2.0 + 1e-14, 1.0]].view()).is_ok());
    // Extreme but finite entries: an answer or an error, no panic, no non-finite output.
    for m in [
        array![[f64::MAX, f64::MAX], [f64::MAX, f64::MAX]],
        array![[f64::MAX, -f64::MAX], [-f64::MAX, -f64::MAX]],
        array![[5e-324, 5e-324], [5e-324, 0.0]],
    ] {
        if let Ok((l, v)) = symmetric_eigen(m.view()) {
            assert!(l.iter().chain(v.iter()).all(|x| x.is_finite()), "{l} {v}");
        }
    }

    // GaussianFit::of_rows: fewer than two rows, no columns, NaN, overflowing covariance.
    assert!(GaussianFit::of_rows(Array2::<f64>::zeros((1, 3)).view()).is_err());
    assert!(GaussianFit::of_rows(Array2::<f64>::zeros((0, 3)).view()).is_err());
    assert!(GaussianFit::of_rows(Array2::<f64>::zeros((4, 0)).view()).is_err());
    assert!(GaussianFit::of_rows(array![[1.0, f64::NAN], [0.0, 1.0]].view()).is_err());
    assert!(GaussianFit::of_rows(array![[1e300], [-1e300]].view()).is_err());

    // frechet_distance_sq: dimension mismatch, inconsistent shapes, NaN, non-symmetric and
    // indefinite covariances.
    let g2 = GaussianFit {
        mean: array![0.0, 0.0],
        cov: Array2::eye(2),
    };
    let g3 = GaussianFit {
        mean: array![0.0, 0.0, 0.0],
        cov: Array2::eye(3),
    };
    assert!(frechet_distance_sq(&g2, &g3).is_err());
    assert!(frechet_distance_sq(&g3, &g2).is_err());
    let bad = [
        GaussianFit {
            mean: array![0.0, 0.0],
            cov: Array2::eye(3),
        },
        GaussianFit {
            mean: array![],
            cov: Array2::zeros((0, 0)),
        },
        GaussianFit {
            mean: array![f64::NAN, 0.0],
            cov: Array2::eye(2),
        },
        GaussianFit {
            mean: array![0.0, 0.0],
            cov: array![[1.0, 0.5], [0.0, 1.0]],
        },
        GaussianFit {
            mean: array![0.0, 0.0],
            cov: array![[1.0, 0.0], [0.0, -0.5]],
        },
        // Negative only where the other covariance is singular: still rejected.
        GaussianFit {
            mean: array![0.0, 0.0],
            cov: array![[0.0, 0.0], [0.0, 1.0]],
        },
    ];
    let c = GaussianFit {
        mean: array![0.0, 0.0],
        cov: array![[-1.0, 0.0], [0.0, 1.0]],
    };
    for (i, g) in bad.iter().enumerate().take(5) {
        assert!(frechet_distance_sq(g, &g2).is_err(), "bad[{i}] first");
        assert!(frechet_distance_sq(&g2, g).is_err(), "bad[{i}] second");
    }
    assert!(frechet_distance_sq(&bad[5], &c).is_err());
    assert!(frechet_distance_sq(&c, &bad[5]).is_err());
    // Finite covariances whose product overflows: an error, not a non-finite distance.
    let huge = GaussianFit {
        mean: array![0.0],
        cov: array![[1e300]],
    };
    if let Ok(d) = frechet_distance_sq(&huge, &huge) {
        assert!(d.is_finite(), "{d}");
    }
}
