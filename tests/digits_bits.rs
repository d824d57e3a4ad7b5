//! Bits per dimension of the digits with uniform dequantisation: known answers (uniform,
//! Gaussian), the baselines against independent computations, their order on the real
//! digits, bad input, the probability-flow log-density against the exact one, and the
//! experiment.
use ndarray::{array, Array1, Array2, ArrayView1, ArrayView2, Axis};
use score_sde::book::experiment::digits_bits::{run, BitsConfig};
use score_sde::digits::{
    bits_per_dim, dequantise, flow_log_p, offset_bits, ClassMixtureBaseline, Digits,
    GaussianBaseline, CLASS_RIDGE, DELTA,
};
use score_sde::metrics::mean_se;
use score_sde::mixture::GaussianMixture;
use score_sde::rng::seeded;
use score_sde::sampling::OdeMethod;
use score_sde::score::ExactScore;
use score_sde::sde::{LinearSde, Vp};

const LN_2PI: f64 = 1.8378770664093453;

/// `Σ_j log N(y_j; m_j, s_j^2)`, written out.
fn diagonal_log_pdf(y: ArrayView1<f64>, m: &[f64], s: &[f64]) -> f64 {
    y.iter()
        .zip(m.iter().zip(s))
        .map(|(y, (m, s))| -0.5 * (LN_2PI + (s * s).ln()) - (y - m).powi(2) / (2.0 * s * s))
        .sum()
}

/// A model whose density is uniform on the box `[-1, 1 + Δ)^d` gives every cell probability
/// `17^-d`, so its bound is exact: `log p(y) = -d log(17 Δ)` at every dequantised image (all of
/// which lie in the box), and the bits per dimension are `log_2 17` to 1e-12 (a few roundings
/// of numbers of order 4), with standard error 0 (up to the rounding of the mean).
#[test]
fn uniform_density_on_the_box_gives_log2_17() {
    let digits = Digits::book().unwrap();
    let y = dequantise(digits.test.view(), &mut seeded(1)).unwrap();
    assert!(y.iter().all(|&v| (-1.0..1.0 + DELTA).contains(&v)));
    let d = y.ncols();
    let log_p = vec![-(d as f64) * (17.0 * DELTA).ln(); y.nrows()];
    let (bpd, se) = bits_per_dim(&log_p, d).unwrap();
    assert!((bpd - 17f64.log2()).abs() < 1e-12, "{bpd}");
    assert!(se < 1e-15, "{se}");
    assert_eq!(offset_bits(), 3.0);
    // The dequantised pixels fill their cells: offsets y - x are uniform on [0, Δ), mean Δ/2.
    let u = (&y - &digits.test) / DELTA;
    assert!(u.iter().all(|&u| (0.0..1.0).contains(&u)));
    let (m, se) = mean_se(&u.iter().copied().collect::<Vec<_>>());
    assert!((m - 0.5).abs() < 4.0 * se, "{m} ± {se}");
}

/// For a diagonal Gaussian model `N(m, s^2)` the expectation over dequantisation has a closed
/// form per dimension, `E_u log N(x + Δ u) = -½ log(2π s^2) - ((x-m)^2 + (x-m) Δ + Δ^2/3) / (2 s^2)`.
/// The Monte Carlo mean over 4000 dequantisations of each of three test images matches it
/// within 4 standard errors (4000 draws make the se a few hundredths of a nat at most for
/// these 64 dimensions; asserted below 0.03 so the check has teeth).
#[test]
fn gaussian_model_matches_closed_form_dequantised_expectation() {
    let digits = Digits::book().unwrap();
    let d = digits.test.ncols();
    let m: Vec<f64> = (0..d).map(|j| -0.6 + 0.02 * j as f64).collect();
    let s: Vec<f64> = (0..d).map(|j| 0.3 + 0.01 * j as f64).collect();
    let reps = 4000;
    for (i, x) in digits.test.rows().into_iter().take(3).enumerate() {
        let closed: f64 = x
            .iter()
            .zip(m.iter().zip(&s))
            .map(|(x, (m, s))| {
                let e = x - m;
                -0.5 * (LN_2PI + (s * s).ln())
                    - (e * e + e * DELTA + DELTA * DELTA / 3.0) / (2.0 * s * s)
            })
            .sum();
        let xs = x
            .insert_axis(Axis(0))
            .broadcast((reps, d))
            .unwrap()
            .to_owned();
        let y = dequantise(xs.view(), &mut seeded(10 + i as u64)).unwrap();
        let lp: Vec<f64> = y
            .rows()
            .into_iter()
            .map(|r| diagonal_log_pdf(r, &m, &s))
            .collect();
        let (mean, se) = mean_se(&lp);
        assert!(se < 0.03, "image {i}: se {se}");
        assert!(
            (mean - closed).abs() < 4.0 * se,
            "image {i}: Monte Carlo {mean} ± {se} vs closed form {closed}"
        );
        // The same in bits: the bound is linear in E log p.
        let (bpd, _) = bits_per_dim(&lp, d).unwrap();
        let want = -closed / (d as f64 * std::f64::consts::LN_2) + 3.0;
        assert!((bpd - want).abs() < 4.0 * se / (d as f64 * std::f64::consts::LN_2));
    }
}

/// The Gaussian baseline fitted to 100 000 draws of a known diagonal Gaussian in 4 dimensions
/// recovers its log-density at 50 points drawn from it within 0.05 nats: the estimation
/// error of `log p̂(x)` has sd about `sqrt((|z|^2 + Σ (z_i^2 - 1)^2 / 2 + ...) / n) ≈ 0.01`
/// for points within 3 sd (z the whitened point), so 0.05 is five sd.
#[test]
fn gaussian_baseline_recovers_a_known_gaussian() {
    let (m, s) = ([0.5, -1.0, 2.0, 0.0], [0.2, 1.5, 0.7, 1.0]);
    let law = GaussianMixture::new(
        vec![1.0],
        Array2::from_shape_vec((1, 4), m.to_vec()).unwrap(),
        Array2::from_shape_vec((1, 4), s.to_vec()).unwrap(),
    )
    .unwrap();
    let fit = GaussianBaseline::fit(law.sample(100_000, &mut seeded(2)).view(), 0.0).unwrap();
    let x = law.sample(50, &mut seeded(3));
    let lp = fit.log_pdf(x.view()).unwrap();
    let worst = x
        .rows()
        .into_iter()
        .zip(&lp)
        .map(|(r, l)| (l - diagonal_log_pdf(r, &m, &s)).abs())
        .fold(0.0f64, f64::max);
    assert!(worst < 0.05, "max |error| {worst}");
    let true_log_det: f64 = s.iter().map(|s| 2.0 * f64::ln(*s)).sum();
    assert!((fit.log_det() - true_log_det).abs() < 0.05);
}

/// Cholesky factor `L` with `L Lᵀ = a`, written out (a is SPD).
fn cholesky(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            l[[i, j]] = if i == j {
                (a[[i, i]] - s).sqrt()
            } else {
                (a[[i, j]] - s) / l[[j, j]]
            };
        }
    }
    l
}

/// `log N(x; m, a)` by the Cholesky factor: `-½ (d log 2π + 2 Σ log L_ii + |L^-1 (x - m)|^2)`,
/// `L^-1` by forward substitution.
fn cholesky_log_pdf(x: ArrayView1<f64>, m: &Array1<f64>, a: &Array2<f64>) -> f64 {
    let l = cholesky(a);
    let n = m.len();
    let mut z = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[[i, k]] * z[k]).sum();
        z[i] = (x[i] - m[i] - s) / l[[i, i]];
    }
    let log_det: f64 = (0..n).map(|i| 2.0 * l[[i, i]].ln()).sum();
    -0.5 * (n as f64 * LN_2PI + log_det + z.iter().map(|z| z * z).sum::<f64>())
}

/// On a random 5 x 5 SPD covariance `A Aᵀ + 0.1 I` (eigenvalues at least 0.1), the
/// eigen-pair log-density equals the Cholesky one to 1e-10 (both are backward stable; values
/// are of order 10, so this leaves a factor 1e4 over rounding), with and without a ridge.
#[test]
fn gaussian_baseline_matches_cholesky() {
    let mut rng = seeded(4);
    let a = GaussianMixture::new(vec![1.0], Array2::zeros((1, 5)), Array2::ones((1, 5)))
        .unwrap()
        .sample(5, &mut rng);
    let cov = a.dot(&a.t()) + Array2::<f64>::eye(5) * 0.1;
    let m = array![0.3, -0.2, 1.0, 0.0, -1.5];
    let x = GaussianMixture::new(vec![1.0], Array2::zeros((1, 5)), Array2::ones((1, 5)))
        .unwrap()
        .sample(20, &mut rng)
        * 2.0;
    for ridge in [0.0, 0.3] {
        let g = GaussianBaseline::new(m.clone(), cov.view(), ridge).unwrap();
        let c = &cov + &(Array2::<f64>::eye(5) * ridge);
        let lp = g.log_pdf(x.view()).unwrap();
        for (r, l) in x.rows().into_iter().zip(&lp) {
            let want = cholesky_log_pdf(r, &m, &c);
            assert!((l - want).abs() < 1e-10, "ridge {ridge}: {l} vs {want}");
        }
    }
}

/// A class mixture with a single class is that class's Gaussian (weight 1, log-sum-exp of one
/// term): equal to 1e-12. With two classes the weights are the class frequencies.
#[test]
fn one_class_mixture_is_the_gaussian() {
    let digits = Digits::book().unwrap();
    let y = dequantise(digits.train.view(), &mut seeded(5)).unwrap();
    let test = dequantise(digits.test.view(), &mut seeded(6)).unwrap();
    for ridge in [0.0, CLASS_RIDGE] {
        let g = GaussianBaseline::fit(y.view(), ridge).unwrap();
        let mix = ClassMixtureBaseline::fit(y.view(), &vec![7; y.nrows()], ridge).unwrap();
        assert_eq!(mix.classes(), &[7]);
        let (a, b) = (
            g.log_pdf(test.view()).unwrap(),
            mix.log_pdf(test.view()).unwrap(),
        );
        let e = (&a - &b).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(e < 1e-12, "ridge {ridge}: {e}");
    }
    let labels: Vec<u8> = (0..y.nrows()).map(|i| u8::from(i % 3 == 0)).collect();
    let mix = ClassMixtureBaseline::fit(y.view(), &labels, 0.0).unwrap();
    let w = mix.weights();
    assert_eq!(mix.classes(), &[0, 1]);
    assert!((w[1] - 500.0 / 1500.0).abs() < 1e-15 && (w[0] + w[1] - 1.0).abs() < 1e-15);
}

/// Test bits per dimension on the real digits: one Gaussian per class < one Gaussian <
/// uniform over the 17 levels (`log_2 17`). The models are scored on the same dequantised
/// images, so each gap is judged by the standard error of the per-image differences: more
/// than 10 of them. The raw lattice images have a singular covariance (border pixels never
/// change): fitting them is an error, which is why the baselines are fitted to dequantised
/// images.
#[test]
fn baselines_order_on_real_digits() {
    let digits = Digits::book().unwrap();
    let mut rng = seeded(7);
    let train = dequantise(digits.train.view(), &mut rng).unwrap();
    let test = dequantise(digits.test.view(), &mut rng).unwrap();
    assert!(GaussianBaseline::fit(digits.train.view(), 0.0).is_err());
    let d = test.ncols();
    let bits = |lp: Array1<f64>| lp.mapv(|l| -l / (d as f64 * std::f64::consts::LN_2) + 3.0);
    let g = GaussianBaseline::fit(train.view(), 0.0).unwrap();
    let g_bits = bits(g.log_pdf(test.view()).unwrap());
    let mix = ClassMixtureBaseline::fit(train.view(), &digits.train_labels, CLASS_RIDGE).unwrap();
    let m_bits = bits(mix.log_pdf(test.view()).unwrap());
    let raw = ClassMixtureBaseline::fit(train.view(), &digits.train_labels, 0.0).unwrap();
    let r_bits = bits(raw.log_pdf(test.view()).unwrap());
    let t_bits = bits(g.log_pdf(train.view()).unwrap());
    let ms = |b: &Array1<f64>| mean_se(&b.to_vec());
    let ((g_bpd, g_se), (m_bpd, m_se)) = (ms(&g_bits), ms(&m_bits));
    let uniform = 17f64.log2();
    println!("uniform over 17 levels: {uniform:.4} bits/dim");
    println!(
        "Gaussian:               {g_bpd:.4} ± {g_se:.4} (train {:.4})",
        ms(&t_bits).0
    );
    println!("class mixture, ridge {CLASS_RIDGE:e}: {m_bpd:.4} ± {m_se:.4}");
    println!(
        "class mixture, no ridge: {:.4} ± {:.4}",
        ms(&r_bits).0,
        ms(&r_bits).1
    );
    let (gap, gap_se) = ms(&(&g_bits - &m_bits));
    println!("Gaussian - class mixture: {gap:.4} ± {gap_se:.4}");
    assert!(gap > 10.0 * gap_se, "{gap} ± {gap_se}");
    assert!(g_bpd + 10.0 * g_se < uniform, "{g_bpd} vs {uniform}");
    assert_eq!(
        bits_per_dim(&g.log_pdf(test.view()).unwrap().to_vec(), d).unwrap(),
        (g_bpd, g_se)
    );
}

/// Bad input is an error, never a panic.
#[test]
fn bad_input_is_an_error() {
    let mut rng = seeded(8);
    let on = array![[-1.0, 0.125, 1.0]];
    assert!(dequantise(on.view(), &mut rng).is_ok());
    for bad in [
        array![[-1.0, 0.13, 1.0]],
        array![[-1.0, 0.125, 1.125]],
        array![[-1.125, 0.125, 1.0]],
        array![[-1.0, f64::NAN, 1.0]],
        array![[-1.0, f64::INFINITY, 1.0]],
    ] {
        assert!(dequantise(bad.view(), &mut rng).is_err(), "{bad}");
    }
    assert!(dequantise(Array2::zeros((0, 3)).view(), &mut rng).is_err());
    assert!(dequantise(Array2::zeros((2, 0)).view(), &mut rng).is_err());
    assert!(bits_per_dim(&[], 64).is_err());
    assert!(bits_per_dim(&[-1.0], 64).is_err());
    assert!(bits_per_dim(&[-1.0, f64::NAN], 64).is_err());
    assert!(bits_per_dim(&[-1.0, -2.0], 0).is_err());
    let y = dequantise(Array2::from_elem((10, 3), 0.0).view(), &mut rng).unwrap();
    let g = GaussianBaseline::fit(y.view(), 0.0).unwrap();
    assert!(g.log_pdf(Array2::zeros((2, 4)).view()).is_err());
    assert!(g.log_pdf(Array2::zeros((0, 3)).view()).is_err());
    assert!(g.log_pdf(array![[0.0, f64::NAN, 0.0]].view()).is_err());
    assert!(GaussianBaseline::fit(y.view(), -1.0).is_err());
    assert!(GaussianBaseline::fit(y.view(), f64::NAN).is_err());
    assert!(GaussianBaseline::fit(y.slice(ndarray::s![..1, ..]), 0.0).is_err());
    assert!(GaussianBaseline::new(array![0.0, 0.0], Array2::eye(3).view(), 0.0).is_err());
    assert!(GaussianBaseline::new(array![0.0], array![[-1.0]].view(), 0.0).is_err());
    assert!(
        GaussianBaseline::new(array![0.0, 0.0], array![[1.0, 2.0], [0.0, 1.0]].view(), 0.0)
            .is_err()
    );
    assert!(ClassMixtureBaseline::fit(y.view(), &[0; 9], 0.0).is_err());
    let mut one_alone = vec![0u8; 10];
    one_alone[3] = 1;
    assert!(ClassMixtureBaseline::fit(y.view(), &one_alone, 0.0).is_err());
    let mix = ClassMixtureBaseline::fit(y.view(), &[0; 10], 0.0).unwrap();
    assert!(mix.log_pdf(Array2::zeros((2, 4)).view()).is_err());
    let vp = Vp::song();
    let p0 = two_gaussians();
    let score = ExactScore::new(&p0, &vp);
    let method = OdeMethod::Dopri5 {
        rtol: 1e-5,
        atol: 1e-5,
    };
    let flow = |x: ArrayView2<f64>, t_min: f64| flow_log_p(&score, &vp, x, t_min, 0, &method);
    assert!(flow(Array2::zeros((0, 3)).view(), 1e-3).is_err());
    assert!(flow(array![[0.0, f64::NAN, 0.0]].view(), 1e-3).is_err());
    assert!(flow(Array2::zeros((2, 4)).view(), 1e-3).is_err());
    assert!(flow(Array2::zeros((2, 3)).view(), -1.0).is_err());
    assert!(flow(Array2::zeros((2, 3)).view(), 1.0).is_err());
    let digits = Digits::book().unwrap();
    let cheap = |_t: f64, x: ArrayView2<f64>| Ok(-&x);
    for n_test in [0, 1, 298] {
        let config = BitsConfig {
            n_test,
            ..BitsConfig::book()
        };
        assert!(run(&[("cheap", &cheap)], &vp, &digits, &config).is_err());
    }
}

/// Two Gaussians in 3-D: the responsibilities make the score's Jacobian non-diagonal, so the
/// Rademacher probe's variance `2 Σ_{i≠j} S_ij^2` is not zero.
fn two_gaussians() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.5, 0.5],
        array![[0.5, -0.3, 0.4], [-0.5, 0.3, -0.4]],
        array![[0.3, 0.5, 0.4], [0.4, 0.3, 0.6]],
    )
    .unwrap()
}

/// `flow_log_p` with the exact score of a two-Gaussian law equals the exact `log p_{t_min}`
/// within Hutchinson error: over 2000 points the mean difference is within 4 standard errors
/// of 0 (Rademacher probes are unbiased; the solver's error at rtol = atol = 1e-5 and the
/// prior's, `log N(0, I) - log p_T = O(mu(T)^2) ≈ 4e-5` under VP, are far below the se). The
/// se (about 0.017: the per-point Hutchinson sd is about 0.8) is below 0.03, so the check has
/// teeth: the flow's change `log p_{t_min} - log π` is of order 1 per point.
#[test]
fn flow_log_p_matches_exact_log_density() {
    let vp = Vp::song();
    let p0 = two_gaussians();
    let score = ExactScore::new(&p0, &vp);
    let t_min = 1e-3;
    let x = p0.sample(2000, &mut seeded(9));
    let method = OdeMethod::Dopri5 {
        rtol: 1e-5,
        atol: 1e-5,
    };
    let flow = flow_log_p(&score, &vp, x.view(), t_min, 11, &method).unwrap();
    let exact = p0.diffused(&vp, t_min).unwrap().log_pdf(x.view()).unwrap();
    let diff: Vec<f64> = (&flow.log_p - &exact).to_vec();
    let (mean, se) = mean_se(&diff);
    println!(
        "mean difference {mean:.2e} ± {se:.2e}, {} evaluations",
        flow.n_evals
    );
    assert!(se > 0.0 && se < 0.03, "se {se}");
    let change = (&exact - &vp.prior_log_density(x.view())).mapv(f64::abs);
    assert!(change.mean().unwrap() > 0.5, "{change}");
    assert!(mean.abs() < 4.0 * se, "{mean} ± {se}");
    assert!(flow.n_evals > 10);
}

/// The experiment with a model whose flow is known: under VP the score `-x` is that of
/// `p_t = N(0, I)` at every time, the flow's velocity `f x + ½ g^2 x` is 0, and so is the
/// divergence of the velocity (`(f + ½ g^2) |ε|^2`). The network row is then the bits per
/// dimension of `N(0, I)` on the same dequantised test images (1e-9: the divergence is a
/// central difference of rounding size). The uniform row is `log_2 17` exactly, and the
/// class mixture beats the Gaussian.
#[test]
fn experiment_scores_a_known_flow() {
    let digits = Digits::book().unwrap();
    let vp = Vp::song();
    let model = |_t: f64, x: ArrayView2<f64>| Ok(-&x);
    let config = BitsConfig {
        n_test: 100,
        ..BitsConfig::book()
    };
    let report = run(&[("-x", &model)], &vp, &digits, &config).unwrap();
    for r in &report.rows {
        println!("{:45} {:.4} ± {:.4}", r.model, r.bpd, r.se);
    }
    assert_eq!(report.rows.len(), 4);
    assert_eq!(report.rows[0].bpd, 17f64.log2());
    assert!(report.rows[2].bpd < report.rows[1].bpd);
    let mut rng = seeded(config.dequant_seed);
    let _train = dequantise(digits.train.view(), &mut rng).unwrap();
    let test = dequantise(digits.test.slice(ndarray::s![..100, ..]), &mut rng).unwrap();
    let prior = vp.prior_log_density(test.view()).to_vec();
    let (want, _) = bits_per_dim(&prior, 64).unwrap();
    assert!(
        (report.rows[3].bpd - want).abs() < 1e-9,
        "{} vs {want}",
        report.rows[3].bpd
    );
    assert!(serde_json::to_string(&report).is_ok());
}
