//! The loss functions against formulas written out independently of the library:
//! the weightings `λ(t)` in closed form for each SDE, and the multi-level (SMLD) loss against
//! a brute-force evaluation that pairs each data point with each noise level by hand.
use ndarray::{array, Array2};
use rand::RngExt;
use rand_distr::StandardNormal;
use score_sde::loss::{smld_loss_and_grad, Weighting};
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::{Geometric, LinearSde, SubVp, Ve, Vp};

/// `(sde, g², zeta²)` in closed form: VE with `sigma² = t` (`g² = 1`, `zeta² = t`); geometric
/// VE 0.01..10 (`g² = sigma² 2 ln(10/0.01)`, `zeta² = sigma² - 0.01²`); VP and sub-VP with
/// `beta(t) = 0.1 + 19.9 t`, `B(t) = 0.1 t + 9.95 t²` (`zeta²_VP = 1 - e^{-B}`,
/// `g²_subVP = beta (1 - e^{-2B})`, `zeta²_subVP = (1 - e^{-B})²`).
type ClosedForm = Box<dyn Fn(f64) -> f64>;
fn cases() -> Vec<(Box<dyn LinearSde>, ClosedForm, ClosedForm)> {
    let beta = |t: f64| 0.1 + 19.9 * t;
    let big_b = |t: f64| 0.1 * t + 9.95 * t * t;
    let sigma2 = |t: f64| (0.01f64 * 1000f64.powf(t)).powi(2);
    vec![
        (Box::new(Ve::seed()), Box::new(|_| 1.0), Box::new(|t| t)),
        (
            Box::new(Ve::new(Geometric::new(0.01, 10.0).unwrap(), 1.0).unwrap()),
            Box::new(move |t| sigma2(t) * 2.0 * 1000f64.ln()),
            Box::new(move |t| sigma2(t) - 1e-4),
        ),
        (
            Box::new(Vp::song()),
            Box::new(beta),
            Box::new(move |t| 1.0 - (-big_b(t)).exp()),
        ),
        (
            Box::new(SubVp::song()),
            Box::new(move |t| beta(t) * (1.0 - (-2.0 * big_b(t)).exp())),
            Box::new(move |t| (1.0 - (-big_b(t)).exp()).powi(2)),
        ),
    ]
}

/// Each weighting is its closed form: `g²` (likelihood), `zeta²` (kernel variance and the
/// seed's), `1`; relative tolerance 1e-10 (the library's `g` of a geometric VE comes from
/// forward-mode autodiff, exact up to rounding).
#[test]
fn weightings_are_their_closed_forms() {
    for (sde, g2, zeta2) in cases() {
        for &t in &[1e-3, 0.1, 0.37, 0.8, 1.0] {
            let close = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() <= 1e-10 * want.abs(),
                    "{what} at t = {t}: {got} vs {want}"
                )
            };
            close(Weighting::Likelihood.lambda(sde.as_ref(), t), g2(t), "g^2");
            close(
                Weighting::KernelVariance.lambda(sde.as_ref(), t),
                zeta2(t),
                "zeta^2",
            );
            close(Weighting::Seed.lambda(sde.as_ref(), t), zeta2(t), "seed");
            assert_eq!(Weighting::Unit.lambda(sde.as_ref(), t), 1.0);
        }
    }
}

/// The SMLD loss `1/(2 N L) Σ_l Σ_n |sigma_l s(x_n + sigma_l z, sigma_l) + z|²` over `N = 3`
/// points and `L = 2` levels, with the noise drawn in the library's order (all rows, level
/// major: row `r` is point `r mod N` at level `r div N`), equals the brute-force sum to 1e-12;
/// pairing a point with the wrong level, or a level with the wrong sigma in the input, changes it
/// at the first digit. The gradient of the first layer's weights matches central differences.
#[test]
fn smld_loss_pairs_every_point_with_every_level() {
    let x0 = array![[0.3, -1.0], [1.2, 0.4], [-0.7, 2.0]];
    let sigmas = [2.0, 0.25];
    let mut rng = seeded(5);
    let net = Mlp::new(&[3, 8, 2], Activation::Tanh, &mut rng).unwrap();
    let (loss, grads) = smld_loss_and_grad(&net, x0.view(), &sigmas, &mut seeded(9)).unwrap();
    let brute = |net: &Mlp| {
        let mut rng = seeded(9);
        let (n, d) = x0.dim();
        let z: Vec<f64> = (0..n * sigmas.len() * d)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let mut total = 0.0;
        for (l, &s) in sigmas.iter().enumerate() {
            for i in 0..n {
                let r = l * n + i;
                let zr = &z[r * d..(r + 1) * d];
                let input = Array2::from_shape_fn((1, d + 1), |(_, j)| {
                    if j < d {
                        x0[[i, j]] + s * zr[j]
                    } else {
                        s
                    }
                });
                let out = net.forward(input.view()).unwrap();
                total += (0..d)
                    .map(|j| (s * out[[0, j]] + zr[j]).powi(2))
                    .sum::<f64>();
            }
        }
        total / (2.0 * (n * sigmas.len()) as f64)
    };
    let want = brute(&net);
    assert!((loss - want).abs() <= 1e-12 * want, "{loss} vs {want}");
    // Central differences of the brute force in two weights of the first layer (h = 1e-6:
    // truncation ~1e-12, round-off ~1e-10 relative).
    for (r, c) in [(0, 0), (2, 5)] {
        let h = 1e-6;
        let mut plus = net.clone();
        plus.layers[0].w[[r, c]] += h;
        let mut minus = net.clone();
        minus.layers[0].w[[r, c]] -= h;
        let fd = (brute(&plus) - brute(&minus)) / (2.0 * h);
        let g = grads[0][[r, c]];
        assert!(
            (g - fd).abs() <= 1e-6 * fd.abs().max(1e-3),
            "dW[{r},{c}]: {g} vs {fd}"
        );
    }
}

/// A loss is a mean over `n d` terms; an empty batch (no points, or points of no dimension)
/// is a typed error from both losses, never `Ok(NaN)`.
#[test]
fn empty_batches_are_errors() {
    use score_sde::error::Error;
    use score_sde::loss::{dsm_batch, dsm_loss_and_grad};
    let sde = Vp::song();
    let net = Mlp::new(&[2, 4, 1], Activation::Tanh, &mut seeded(1)).unwrap();
    let empty = Array2::<f64>::zeros((0, 1));
    let batch = dsm_batch(&sde, empty.view(), 1e-3, &mut seeded(2)).unwrap();
    let r = dsm_loss_and_grad(&net, &sde, Weighting::Likelihood, &batch);
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    let r = smld_loss_and_grad(&net, empty.view(), &[1.0], &mut seeded(3));
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    let no_dim = Array2::<f64>::zeros((3, 0));
    let net0 = Mlp::new(&[1, 4, 0], Activation::Tanh, &mut seeded(1));
    if let Ok(net0) = net0 {
        let r = smld_loss_and_grad(&net0, no_dim.view(), &[1.0], &mut seeded(3));
        assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    }
    // One point is enough: the same calls are finite.
    let one = Array2::<f64>::ones((1, 1));
    let batch = dsm_batch(&sde, one.view(), 1e-3, &mut seeded(2)).unwrap();
    let (l, _) = dsm_loss_and_grad(&net, &sde, Weighting::Likelihood, &batch).unwrap();
    assert!(l.is_finite());
}
