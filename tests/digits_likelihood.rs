//! The two training options of `SdeEpsBuffers` the digits chapter tests: dequantisation and
//! the likelihood weighting by importance sampling of `t` (`fast::LikelihoodTimes`).
//!
//! Tolerances: the table's CDF against VP's closed form to 1e-9 absolute (8-point
//! Gauss-Legendre on 512 log-spaced segments is exact to far below that; a wrong integrand,
//! e.g. `g²` alone, is off by whole units); Monte Carlo means within 4 standard errors, with
//! `n` chosen so the standard error is below 0.5% of the value; identities of the weights
//! and of the fused loss to 1e-12 relative (one `f64` sum in another order).
//! The runaway diagnostics (`book::experiment::digits_likelihood`): a flow path against the
//! closed form of Gaussian data to 1e-7 relative (Dopri5 at 1e-10; the closed form's γ is
//! exact at the integrated point), the share of draws above `t` against VP's closed form to
//! 1e-4 (the table is linear between nodes: `(Δt)²/8 max|h'|/Z < 1e-5` for `t ≤ 0.5`).
mod common;

use common::mean_se;
use ndarray::{Array2, ArrayView2};
use rand::RngExt;
use score_sde::book::experiment::digits_likelihood::{flow_path, q_above};
use score_sde::digits::{DigitsTrainConfig, DELTA};
use score_sde::fast::{
    likelihood_weight, FusedTrainer, LikelihoodTimes, SdeEpsBuffers, TimeFeatures,
};
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::quadrature::integrate;
use score_sde::rng::seeded;
use score_sde::sampling::OdeMethod;
use score_sde::score::ScoreFn;
use score_sde::sde::{LinearSde, SubVp, Ve, Vp};

const T_EPS: f64 = 1e-3;

/// A test function of `t` and its name.
type Named = (&'static str, fn(f64) -> f64);

/// Lattice data like the digits: 17 grey levels `k Δ − 1` in `[-1, 1]`.
fn lattice(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = seeded(seed);
    Array2::from_shape_simple_fn((n, d), || rng.random_range(0..17) as f64 * DELTA - 1.0)
}

fn features() -> TimeFeatures {
    TimeFeatures::gaussian_fourier(16, 16.0, &mut seeded(7)).unwrap()
}

#[test]
fn the_table_is_vp_closed_form() {
    // ∫ β/(1 − e^{−B}) dt = ln expm1(B(t)): C(t_k) = ln expm1(B(t_k)) − ln expm1(B(t_eps)).
    let sde = Vp::song();
    let table = LikelihoodTimes::new(&sde, T_EPS).unwrap();
    let b = sde.beta();
    let closed = |t: f64| b.integral(t).exp_m1().ln() - b.integral(T_EPS).exp_m1().ln();
    assert_eq!(table.nodes().len(), LikelihoodTimes::SEGMENTS + 1);
    assert_eq!(table.nodes()[0], T_EPS);
    assert_eq!(table.nodes()[LikelihoodTimes::SEGMENTS], 1.0);
    for (&t, &c) in table.nodes().iter().zip(table.cumulative()) {
        assert!(
            (c - closed(t)).abs() < 1e-9,
            "C({t}) = {c}, closed form {}",
            closed(t)
        );
    }
    // The table's density is the derivative of its CDF and integrates to 1.
    let z = table.mass();
    assert!((z - closed(1.0)).abs() < 1e-9);
    let total = table
        .nodes()
        .windows(2)
        .map(|w| table.density(0.5 * (w[0] + w[1])) * (w[1] - w[0]))
        .sum::<f64>();
    assert!((total - 1.0).abs() < 1e-12, "q integrates to {total}");
    // On this fine grid q is h/Z to within 1% everywhere (so the weights lie near 1).
    for i in 0..1000 {
        let t = T_EPS * (1000f64).powf((i as f64 + 0.5) / 1000.0);
        let ratio = likelihood_weight(&sde, t) / (z * table.density(t));
        assert!((ratio - 1.0).abs() < 0.01, "w({t}) = {ratio}");
    }
}

#[test]
fn the_table_works_for_ve_and_sub_vp() {
    // VE: ζ² = σ(t)² − σ_min², g² = d ζ²/dt, so C(t) = ln ζ²(t) − ln ζ²(t_eps); sub-VP has no
    // such short form and is checked against adaptive quadrature.
    let ve = Ve::seed();
    let table = LikelihoodTimes::new(&ve, T_EPS).unwrap();
    for (&t, &c) in table.nodes().iter().zip(table.cumulative()).step_by(37) {
        let want = (ve.kernel_var(t) / ve.kernel_var(T_EPS)).ln();
        assert!(
            (c - want).abs() < 1e-8 * want.abs().max(1.0),
            "VE C({t}) = {c} vs {want}"
        );
    }
    let sub = SubVp::song();
    let table = LikelihoodTimes::new(&sub, T_EPS).unwrap();
    for (&t, &c) in table.nodes().iter().zip(table.cumulative()).step_by(37) {
        let want = integrate(|s| likelihood_weight(&sub, s), T_EPS, t, 1e-12).unwrap();
        assert!(
            (c - want).abs() < 1e-8 * want.abs().max(1.0),
            "sub-VP C({t}) = {c} vs {want}"
        );
    }
}

#[test]
fn the_weight_is_h_over_z_q() {
    // w = h(t)/(Z q(t)) at every drawn t, with q the table's own density: the identity that
    // makes the estimator unbiased.
    let sde = Vp::song();
    let table = LikelihoodTimes::new(&sde, T_EPS).unwrap();
    let mut rng = seeded(11);
    for _ in 0..10_000 {
        let (t, w) = table.draw(&sde, rng.random::<f64>());
        assert!((T_EPS..=1.0).contains(&t));
        let want = likelihood_weight(&sde, t) / (table.mass() * table.density(t));
        assert!((w - want).abs() <= 1e-12 * want, "w({t}) = {w} vs {want}");
    }
    assert_eq!(table.draw(&sde, 0.0).0, T_EPS);
}

#[test]
fn the_importance_sampled_mean_is_the_likelihood_weighted_integral() {
    // E_q[w f(t)] = ∫ (g²/ζ²) f dt / Z for smooth f, one of them concentrated near t_eps
    // where q is largest. Z and the numerator by adaptive Gauss-Kronrod (independent of the
    // table). n = 400 000 draws: the standard error is below 0.5% of the value.
    let sde = Vp::song();
    let table = LikelihoodTimes::new(&sde, T_EPS).unwrap();
    let h = |t: f64| likelihood_weight(&sde, t);
    let z = integrate(h, T_EPS, 1.0, 1e-12).unwrap();
    let fs: [Named; 3] = [
        ("1 + sin 5t", |t| 1.0 + (5.0 * t).sin()),
        ("t²", |t| t * t),
        ("exp(-t/0.01)", |t| (-t / 0.01).exp()),
    ];
    for (name, f) in fs {
        let want = integrate(|t| h(t) * f(t), T_EPS, 1.0, 1e-12).unwrap() / z;
        let mut rng = seeded(12);
        let v: Vec<f64> = (0..400_000)
            .map(|_| {
                let (t, w) = table.draw(&sde, rng.random::<f64>());
                w * f(t)
            })
            .collect();
        let (m, se) = mean_se(&v);
        assert!(se < 5e-3 * want, "{name}: se {se} of {want}");
        assert!(
            (m - want).abs() < 4.0 * se,
            "{name}: mean {m} vs {want} ({:.1} se)",
            (m - want) / se
        );
    }
    // Uniform t with the weight (T − t_eps) h/Z estimates the same integral (a check of the
    // target itself), with a far larger spread: that is why t is importance-sampled.
    let mut rng = seeded(13);
    let v: Vec<f64> = (0..400_000)
        .map(|_| {
            let t = rng.random_range(T_EPS..1.0);
            (1.0 - T_EPS) * h(t) / z * (1.0 + (5.0 * t).sin())
        })
        .collect();
    let want = integrate(|t| h(t) * (1.0 + (5.0 * t).sin()), T_EPS, 1.0, 1e-12).unwrap() / z;
    let (m, se) = mean_se(&v);
    assert!((m - want).abs() < 4.0 * se, "uniform: {m} vs {want}");
}

#[test]
fn dequantised_rows_are_uniform_in_their_cells() {
    let (n, d) = (256, 64);
    let data = lattice(n, d, 1);
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(n, d, features())
        .with_dequantisation(DELTA)
        .unwrap();
    let mut offsets = vec![];
    let mut rng = seeded(2);
    for _ in 0..4 {
        bufs.draw(&sde, data.view(), T_EPS, &mut rng).unwrap();
        let din = bufs.input_dim();
        for i in 0..n {
            let t = bufs.t()[i];
            let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
            for j in 0..d {
                let y = bufs.data()[i * d + j];
                let u = (y - data[[i, j]]) / DELTA;
                assert!((0.0..1.0).contains(&u), "offset {u} outside the cell");
                let xt = bufs.drawn_input()[i * din + j];
                assert!((xt - (m * y + s * bufs.eps()[i * d + j])).abs() < 1e-12);
                offsets.push(u);
            }
        }
    }
    // U[0, 1): mean 1/2, variance 1/12, a quarter below 1/4; 65 536 offsets.
    let (m, se) = mean_se(&offsets);
    assert!((m - 0.5).abs() < 4.0 * se, "mean offset {m} ± {se}");
    let (v, vse) = common::var_se(&offsets);
    assert!((v - 1.0 / 12.0).abs() < 4.0 * vse, "variance {v} ± {vse}");
    let below: Vec<f64> = offsets.iter().map(|&u| (u < 0.25) as u8 as f64).collect();
    let (q, qse) = mean_se(&below);
    assert!((q - 0.25).abs() < 4.0 * qse, "fraction below 1/4: {q}");
}

/// The draw before the options existed, written out: `t` for all rows by `random_range`,
/// then `ε` row by row, `x(t) = mu x + zeta ε`.
fn old_draw(sde: &Vp, data: ArrayView2<f64>, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = seeded(seed);
    let (n, d) = data.dim();
    let t: Vec<f64> = (0..n).map(|_| rng.random_range(T_EPS..1.0)).collect();
    let eps: Vec<f64> = (0..n * d)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let mut xt = vec![0.0; n * d];
    for i in 0..n {
        let (m, s) = (sde.mean_factor(t[i]), sde.kernel_std(t[i]));
        for j in 0..d {
            xt[i * d + j] = m * data[[i, j]] + s * eps[i * d + j];
        }
    }
    (t, eps, xt)
}

#[test]
fn the_default_draw_is_unchanged() {
    let (n, d) = (64, 64);
    let data = lattice(n, d, 3);
    let sde = Vp::song();
    let (t, eps, xt) = old_draw(&sde, data.view(), 4);
    let mut bufs = SdeEpsBuffers::<f64>::new(n, d, features());
    bufs.draw(&sde, data.view(), T_EPS, &mut seeded(4)).unwrap();
    let din = bufs.input_dim();
    assert!(bufs.t().iter().eq(&t), "t differs");
    assert!(bufs.eps().iter().eq(&eps), "eps differs");
    for i in 0..n {
        assert!(bufs.drawn_input()[i * din..i * din + d]
            .iter()
            .eq(&xt[i * d..(i + 1) * d]));
    }
    assert!(bufs.weights().iter().all(|&w| w == 1.0));
    assert!(bufs.data().iter().eq(data.iter()));
    // Dequantisation draws its offsets after ε: t and ε stay the same bits.
    let mut deq = SdeEpsBuffers::<f64>::new(n, d, features())
        .with_dequantisation(DELTA)
        .unwrap();
    deq.draw(&sde, data.view(), T_EPS, &mut seeded(4)).unwrap();
    assert!(deq.t().iter().eq(&t) && deq.eps().iter().eq(&eps));
    assert!(deq.data().iter().zip(data.iter()).all(|(y, x)| y > x));
}

#[test]
fn the_weighted_loss_through_the_fused_trainer_is_the_brute_force_sum() {
    // loss = (1/(n d)) Σ_i w_i Σ_j (ε_θ(x_i(t_i), t_i)_j − ε_ij)², gradient on the tape.
    let (n, d) = (128, 64);
    let data = lattice(n, d, 5);
    let sde = Vp::song();
    let f = features();
    let mut bufs = SdeEpsBuffers::<f64>::new(n, d, f.clone())
        .with_dequantisation(DELTA)
        .unwrap()
        .with_likelihood_weighting(&sde, T_EPS)
        .unwrap();
    bufs.draw(&sde, data.view(), T_EPS, &mut seeded(6)).unwrap();
    let table = LikelihoodTimes::new(&sde, T_EPS).unwrap();
    let w: Vec<f64> = bufs.weights().to_vec();
    for (&t, &wi) in bufs.t().iter().zip(&w) {
        let want = likelihood_weight(&sde, t) / (table.mass() * table.density(t));
        assert!((wi - want).abs() <= 1e-12 * want);
    }
    assert!(w.iter().any(|&wi| (wi - 1.0).abs() > 1e-4), "weights all 1");
    let net = Mlp::new(&[96, 64, 64, 64], Activation::Relu, &mut seeded(8)).unwrap();
    let input = ArrayView2::from_shape((n, bufs.input_dim()), bufs.drawn_input()).unwrap();
    let out = net.forward(input).unwrap();
    let mut brute = 0.0;
    for i in 0..n {
        for j in 0..d {
            brute += w[i] * (out[[i, j]] - bufs.eps()[i * d + j]).powi(2);
        }
    }
    brute /= (n * d) as f64;
    let eps = Array2::from_shape_vec((n, d), bufs.eps().to_vec()).unwrap();
    let wcol = Array2::from_shape_vec((n, 1), w.clone()).unwrap();
    let (loss_t, grad_t) = net
        .loss_and_grad(input, |tape, out| {
            let e = tape.constant(eps.clone());
            let wv = tape.constant(wcol.clone());
            let r = tape.sub(out, e)?;
            let r2 = tape.square(r)?;
            let weighted = tape.scale_rows(r2, wv)?;
            let total = tape.sum(weighted)?;
            tape.scale(total, 1.0 / (n * d) as f64)
        })
        .unwrap();
    assert!((loss_t - brute).abs() <= 1e-12 * brute);
    let adam = Adam::new(1e-3).unwrap();
    for threads in [1, 2] {
        let mut tr = FusedTrainer::<f64>::new(&net, &adam, n, threads).unwrap();
        let loss_f = tr.loss_and_grad(&bufs).unwrap();
        assert!(
            (loss_f - brute).abs() <= 1e-12 * brute,
            "threads {threads}: fused {loss_f} vs brute force {brute}"
        );
        let r = common::max_grad_rel(tr.grad(), &grad_t);
        assert!(r <= 1e-12, "threads {threads}: gradient off by {r}");
    }
    // Dropping the weights changes the loss: the test sees them.
    let plain: f64 = (0..n * d)
        .map(|k| (out[[k / d, k % d]] - bufs.eps()[k]).powi(2))
        .sum::<f64>()
        / (n * d) as f64;
    assert!((plain - brute).abs() > 1e-6 * brute);
}

#[test]
fn bad_options_are_errors() {
    let sde = Vp::song();
    let b = || SdeEpsBuffers::<f64>::new(8, 4, TimeFeatures::Raw);
    for delta in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(b().with_dequantisation(delta).is_err(), "Δ = {delta}");
    }
    for t_eps in [0.0, -1.0, 1.0, f64::NAN] {
        assert!(b().with_likelihood_weighting(&sde, t_eps).is_err());
        assert!(LikelihoodTimes::new(&sde, t_eps).is_err());
    }
    // The table belongs to one SDE and one t_eps.
    let mut bufs = b().with_likelihood_weighting(&sde, T_EPS).unwrap();
    let data = Array2::zeros((8, 4));
    assert!(bufs.draw(&sde, data.view(), 1e-2, &mut seeded(1)).is_err());
    let other = Vp::new(score_sde::sde::LinearBeta::new(0.1, 10.0).unwrap(), 1.0).unwrap();
    assert!(bufs
        .draw(&other, data.view(), T_EPS, &mut seeded(1))
        .is_err());
    assert!(bufs.draw(&sde, data.view(), T_EPS, &mut seeded(1)).is_ok());
}

#[test]
fn old_configs_deserialize_with_the_options_off() {
    let mut v = serde_json::to_value(DigitsTrainConfig::book()).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("dequantise");
    obj.remove("likelihood_weighting");
    let c: DigitsTrainConfig = serde_json::from_value(v).unwrap();
    assert!(!c.dequantise && !c.likelihood_weighting);
}

/// The exact score of data `N(0, σ² I)` under an SDE: `p_t = N(0, v(t) I)`,
/// `v = μ(t)² σ² + ζ(t)²`, `s = −x/v`.
struct GaussianData<'a> {
    sde: &'a dyn LinearSde,
    var: f64,
}

impl ScoreFn for GaussianData<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> score_sde::Result<Array2<f64>> {
        let mu = self.sde.mean_factor(t);
        Ok(x.mapv(|v| -v / (mu * mu * self.var + self.sde.kernel_var(t))))
    }
}

#[test]
fn a_flow_path_of_gaussian_data_is_the_closed_form() {
    // The flow of N(0, σ² I) data scales x by sqrt(v(t)/v(t0)), and ε = −ζ s = ζ x / v has
    // radial gain γ = ζ/v: for σ = 1 (v ≡ 1 under VP) |x| stays put and γ = ζ, the
    // boundary between growing and shrinking.
    let sde = Vp::song();
    let x0 = ndarray::Array1::from_shape_fn(64, |j| ((j as f64) * 0.37).sin());
    let r0 = x0.dot(&x0).sqrt();
    let times = [T_EPS, 0.01, 0.1, 0.5, 1.0];
    let method = OdeMethod::Dopri5 {
        rtol: 1e-10,
        atol: 1e-10,
    };
    for var in [1.0, 0.25] {
        let score = GaussianData { sde: &sde, var };
        let v = |t: f64| sde.mean_factor(t).powi(2) * var + sde.kernel_var(t);
        let path = flow_path(&sde, &score, x0.view(), &times, &method).unwrap();
        assert_eq!(path.len(), times.len());
        for (p, &t) in path.iter().zip(&times) {
            assert_eq!(p.t, t);
            let norm = r0 * (v(t) / v(T_EPS)).sqrt();
            let gain = sde.kernel_std(t) / v(t);
            assert!(
                (p.norm / norm - 1.0).abs() < 1e-7,
                "σ² = {var}, t = {t}: |x| = {}, closed form {norm}",
                p.norm
            );
            assert!(
                (p.gain / gain - 1.0).abs() < 1e-7,
                "σ² = {var}, t = {t}: γ = {}, closed form {gain}",
                p.gain
            );
        }
    }
    // (With σ² = 1/4 the flow doubles |x|, v rising from ~1/4 to ~1: a path that skipped
    // the integration fails above.) Times must increase.
    let score = GaussianData {
        sde: &sde,
        var: 1.0,
    };
    assert!(flow_path(&sde, &score, x0.view(), &[0.5, 0.1], &method).is_err());
}

#[test]
fn the_share_above_t_is_vp_closed_form() {
    let sde = Vp::song();
    let table = LikelihoodTimes::new(&sde, T_EPS).unwrap();
    let b = sde.beta();
    let c = |t: f64| b.integral(t).exp_m1().ln() - b.integral(T_EPS).exp_m1().ln();
    for t in [T_EPS, 0.0123, 0.1, 0.337, 0.5] {
        let exact = 1.0 - c(t) / c(1.0);
        let got = q_above(&table, t);
        assert!(
            (got - exact).abs() < 1e-4,
            "share above {t}: {got}, closed form {exact}"
        );
    }
    assert!(q_above(&table, 1.0).abs() < 1e-12);
}
