//! Imputation against the exact conditional of a Gaussian mixture: conditioning by Bayes' rule
//! and quadrature, the mixed-kernel step of the exact laws, the exact conditional sampler's
//! convergence, the replacement method's exact law (against Monte Carlo and against its own
//! quadrature refinement) and its bias, and reconstruction guidance's gradient against finite
//! differences.
use ndarray::{arr2, Array2};
use score_sde::book::experiment::imputation::example;
use score_sde::mixture::GaussianMixture;
use score_sde::quadrature::{integrate, linspace};
use score_sde::sampling::{
    pc_law_1d, replacement_law_1d, GridLaw, Observation, PcConfig, Predictor, ReconstructionGuided,
    Replacement, Sampler,
};
use score_sde::score::{ExactScore, ScoreFn};
use score_sde::sde::{LinearSde, Vp};

mod common;

/// A 3-D mixture with a different sd per coordinate, so a swapped index shows.
fn three_d() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.5, 0.3, 0.2],
        arr2(&[[-1.0, 0.5, 2.0], [1.5, -1.0, 0.0], [0.0, 2.0, -1.5]]),
        arr2(&[[0.6, 0.4, 0.9], [0.5, 0.8, 0.7], [1.1, 0.3, 0.5]]),
    )
    .unwrap()
}

/// `p_0(x_U | x_K = a)` equals `p_0(x_U, a) / ∫ p_0(x'_U, a) dx'_U` (adaptive quadrature to
/// 1e-12) to 1e-9 relative, with the observed coordinates listed out of order (2 then 0).
#[test]
fn conditioning_is_bayes_rule() {
    let p0 = three_d();
    let (known, a) = ([2usize, 0], [0.7, -0.4]);
    let cond = p0.condition(&known, &a).unwrap();
    assert_eq!(cond.dim(), 1);
    let joint = |x1: f64| {
        let x = arr2(&[[a[1], x1, a[0]]]);
        p0.pdf(x.view()).unwrap()[0]
    };
    let z = integrate(joint, -12.0, 12.0, 1e-12).unwrap();
    for x1 in linspace(-3.0, 3.0, 13) {
        let want = joint(x1) / z;
        let got = cond.pdf(arr2(&[[x1]]).view()).unwrap()[0];
        assert!(
            (got - want).abs() <= 1e-9 * want,
            "x1 {x1}: {got} vs {want}"
        );
    }
}

/// Bad observations are typed errors: nothing observed, a repeat, a coordinate out of range,
/// everything observed, values of the wrong width or not finite, and rows that fit no batch.
#[test]
fn observations_reject_bad_input() {
    let one = arr2(&[[1.0]]);
    assert!(Observation::new(2, vec![], Array2::zeros((1, 0))).is_err());
    assert!(Observation::new(3, vec![1, 1], arr2(&[[1.0, 2.0]])).is_err());
    assert!(Observation::new(2, vec![2], one.clone()).is_err());
    assert!(Observation::new(2, vec![0, 1], arr2(&[[1.0, 2.0]])).is_err());
    assert!(Observation::new(2, vec![1], arr2(&[[1.0, 2.0]])).is_err());
    assert!(Observation::new(2, vec![1], arr2(&[[f64::NAN]])).is_err());
    let p0 = example().unwrap();
    assert!(p0.condition(&[1], &[f64::INFINITY]).is_err());
    assert!(p0.condition(&[1], &[1.0, 2.0]).is_err());
    let per_row = Observation::new(2, vec![1], arr2(&[[1.0], [2.0]])).unwrap();
    assert!(per_row.values_for(3).is_err());
    assert_eq!(per_row.values_for(2).unwrap(), arr2(&[[1.0], [2.0]]));
    let x_u = Array2::zeros((2, 2));
    assert!(per_row
        .assemble(x_u.view(), arr2(&[[1.0], [2.0]]).view())
        .is_err());
}

/// `assemble` puts each part at its coordinates; `unknown_part` and `known_part` take them back.
#[test]
fn observation_assembles_and_splits_points() {
    let obs = Observation::new(3, vec![2, 0], arr2(&[[9.0, 8.0]])).unwrap();
    assert_eq!(obs.unknown(), &[1]);
    let x = obs
        .assemble(arr2(&[[5.0]]).view(), arr2(&[[1.0, 2.0]]).view())
        .unwrap();
    assert_eq!(x, arr2(&[[2.0, 5.0, 1.0]]));
    assert_eq!(obs.unknown_part(x.view()).unwrap(), arr2(&[[5.0]]));
    assert_eq!(obs.known_part(x.view()).unwrap(), arr2(&[[1.0, 2.0]]));
    assert_eq!(obs.values_for(2).unwrap(), arr2(&[[9.0, 8.0], [9.0, 8.0]]));
}

/// A step of a two-map kernel mixture is the weighted sum of the two single steps, in density
/// and in CDF (to 1e-14: the same sums in another order); bad weights are refused.
#[test]
fn mixed_step_is_the_weighted_sum_of_steps() {
    let mix = GaussianMixture::new_1d(&[0.6, 0.4], &[-1.0, 1.5], &[0.5, 0.7]).unwrap();
    let law = GridLaw::from_mixture(&mix, -8.0, 8.0, 0.02).unwrap();
    let xs = law.grid();
    let m1: Vec<f64> = xs.iter().map(|x| 0.9 * x + 0.3).collect();
    let m2: Vec<f64> = xs.iter().map(|x| 0.5 * x - 0.2 * x.sin()).collect();
    let (w1, w2) = (0.3, 0.7);
    let both = law.step_mixed(&[(w1, &m1), (w2, &m2)], 0.2).unwrap();
    let (a, b) = (law.step(&m1, 0.2).unwrap(), law.step(&m2, 0.2).unwrap());
    for i in 0..xs.len() {
        let want = w1 * a.density()[i] + w2 * b.density()[i];
        assert!((both.density()[i] - want).abs() < 1e-14, "density at {i}");
    }
    let (ca, cb, cm) = (a.cdf_at_grid(), b.cdf_at_grid(), both.cdf_at_grid());
    for i in 0..xs.len() {
        assert!(
            (cm[i] - (w1 * ca[i] + w2 * cb[i])).abs() < 1e-14,
            "cdf at {i}"
        );
    }
    assert!(law.step_mixed(&[(0.5, &m1), (0.6, &m2)], 0.2).is_err());
    assert!(law.step_mixed(&[(-0.5, &m1), (1.5, &m2)], 0.2).is_err());
    assert!(law.step_mixed(&[], 0.2).is_err());
}

fn config(steps: usize) -> PcConfig {
    let mut c = PcConfig::predictor_only(Predictor::EulerMaruyama, steps + 1);
    c.t_min = 1e-3;
    c
}

struct Setup {
    p0: GaussianMixture,
    cond: GaussianMixture,
    obs: Observation,
    sde: Vp,
}

fn setup() -> Setup {
    let p0 = example().unwrap();
    let cond = p0.condition(&[1], &[1.0]).unwrap();
    let obs = Observation::new(2, vec![1], arr2(&[[1.0]])).unwrap();
    Setup {
        p0,
        cond,
        obs,
        sde: Vp::song(),
    }
}

fn start(s: &Setup) -> GridLaw {
    GridLaw::from_mixture(&s.cond.diffused(&s.sde, 1.0).unwrap(), -7.0, 7.0, 0.02).unwrap()
}

/// The exact conditional score is the exact imputation: Euler-Maruyama's law tends to
/// `p_0(x_1 | x_2 = a)` at first order (W1 ratio between 50 and 100 steps within 0.45..0.55,
/// and below 0.03 at 50 steps). The replacement method does not: its W1 stays above 0.5, more
/// than 50 times the exact sampler's at 100 steps, and moves by under 2% from 25 to 100 steps
/// (a bias, not a discretisation error); it puts `P(x_1 > 0)` near the marginal's 0.5, not
/// at the conditional's 0.7.
#[test]
fn exact_score_imputes_and_replacement_is_biased() {
    let s = setup();
    let exact = ExactScore::new(&s.cond, &s.sde);
    let joint = ExactScore::new(&s.p0, &s.sde);
    let start = start(&s);
    let w1_exact = |n: usize| {
        pc_law_1d(&s.sde, &exact, &start, &config(n))
            .unwrap()
            .w1_to_mixture(&s.cond)
            .unwrap()
    };
    let (e50, e100) = (w1_exact(50), w1_exact(100));
    assert!(e50 < 0.03, "exact sampler at 50 steps: W1 {e50}");
    assert!((0.45..0.55).contains(&(e100 / e50)), "ratio {}", e100 / e50);
    let repl =
        |n: usize| replacement_law_1d(&s.sde, &joint, &s.obs, &start, &config(n), 24).unwrap();
    let (r25, r100) = (repl(25), repl(100));
    let (w25, w100) = (
        r25.w1_to_mixture(&s.cond).unwrap(),
        r100.w1_to_mixture(&s.cond).unwrap(),
    );
    assert!(w100 > 0.5 && w100 > 50.0 * e100, "replacement W1 {w100}");
    assert!((w25 - w100).abs() < 0.02 * w100, "{w25} vs {w100}");
    let upper = 1.0 - r100.cdf(0.0);
    let want = 1.0 - s.cond.cdf_1d(0.0).unwrap();
    // 0.7 up to the components' tails across 0 (Φ(-4) = 3e-5) and the off-diagonal
    // components' weights (~1e-7).
    assert!((want - 0.7).abs() < 1e-4);
    assert!(upper < 0.6, "replacement P(x1 > 0) = {upper}");
}

/// The replacement law by quadrature is the law Monte Carlo samples: 20,000 paths of the
/// `Replacement` score through `Sampler::EulerMaruyama` on the same grid match its mean and
/// `P(x_1 > 0)` within 4 standard errors; and 24 Gauss-Hermite nodes agree with 48 to 1e-4 in
/// W1 (the rule has converged).
#[test]
fn replacement_law_is_what_sampling_gives() {
    let s = setup();
    let joint = ExactScore::new(&s.p0, &s.sde);
    let start = start(&s);
    let steps = 50;
    let law = replacement_law_1d(&s.sde, &joint, &s.obs, &start, &config(steps), 24).unwrap();
    let finer = replacement_law_1d(&s.sde, &joint, &s.obs, &start, &config(steps), 48).unwrap();
    let (a, b) = (
        law.w1_to_mixture(&s.cond).unwrap(),
        finer.w1_to_mixture(&s.cond).unwrap(),
    );
    assert!((a - b).abs() < 1e-4, "{a} vs {b}");

    let n = 20_000;
    let mut rng = score_sde::rng::seeded(3);
    let x = s.cond.diffused(&s.sde, 1.0).unwrap().sample(n, &mut rng);
    let score = Replacement::new(&joint, &s.sde, &s.obs, score_sde::rng::seeded(4));
    let mut ts = linspace(1e-3, 1.0, steps + 1);
    ts.reverse();
    let (out, _) = Sampler::EulerMaruyama
        .run(&s.sde, &score, x, &ts, &mut rng)
        .unwrap();
    let v = out.column(0).to_vec();
    let (m, se) = common::mean_se(&v);
    assert!(
        (m - law.mean()).abs() < 4.0 * se,
        "mean {m} vs {}",
        law.mean()
    );
    let upper: Vec<f64> = v.iter().map(|x| f64::from(u8::from(*x > 0.0))).collect();
    let (p, se) = common::mean_se(&upper);
    let want = 1.0 - law.cdf(0.0);
    assert!((p - want).abs() < 4.0 * se, "P(x1 > 0) {p} vs {want}");
    assert!(score.jvp(0.5, out.view(), out.view()).is_err());
}

/// Reconstruction guidance adds `w ∇_x log N(a; D_K(x), ζ²/μ²)`: against central differences
/// of that log-density (h = 1e-5; it is smooth, so truncation ~1e-10 and round-off ~1e-10 for
/// values of order 10), to 1e-6 absolute, at t = 0.3 and 0.05. It uses the exact score's
/// Jacobian, which is symmetric; at `w = 0` it is the joint score itself.
#[test]
fn reconstruction_guidance_is_the_gradient_of_its_likelihood() {
    let s = setup();
    let joint = ExactScore::new(&s.p0, &s.sde);
    let x = arr2(&[[0.3, 1.4], [-1.7, 0.2], [2.2, -0.5]]);
    for t in [0.3, 0.05] {
        let (mu, z2) = (s.sde.mean_factor(t), s.sde.kernel_var(t));
        let log_lik = |x: &Array2<f64>| -> Vec<f64> {
            let sc = joint.score(t, x.view()).unwrap();
            let d = (x + &(sc * z2)) / mu;
            let r2 = z2 / (mu * mu);
            d.column(1)
                .iter()
                .map(|dk| -(1.0 - dk).powi(2) / (2.0 * r2))
                .collect()
        };
        let w = 2.5;
        let guided = ReconstructionGuided {
            score: &joint,
            sde: &s.sde,
            observation: &s.obs,
            scale: w,
        };
        let g = guided.score(t, x.view()).unwrap() - joint.score(t, x.view()).unwrap();
        let h = 1e-5;
        for i in 0..x.nrows() {
            for j in 0..2 {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[[i, j]] += h;
                xm[[i, j]] -= h;
                let fd = (log_lik(&xp)[i] - log_lik(&xm)[i]) / (2.0 * h);
                assert!(
                    (g[[i, j]] - w * fd).abs() < 1e-6,
                    "t {t} ({i},{j}): {} vs {}",
                    g[[i, j]],
                    w * fd
                );
            }
        }
        let none = ReconstructionGuided {
            scale: 0.0,
            ..guided
        };
        assert_eq!(
            none.score(t, x.view()).unwrap(),
            joint.score(t, x.view()).unwrap()
        );
    }
    let bad = ReconstructionGuided {
        score: &joint,
        sde: &s.sde,
        observation: &s.obs,
        scale: f64::NAN,
    };
    assert!(bad.score(0.3, x.view()).is_err());
}

/// The replacement law is refused where it does not apply: more than one unobserved
/// coordinate, per-row observations, a corrector.
#[test]
fn replacement_law_refuses_what_it_cannot_compute() {
    let s = setup();
    let joint = ExactScore::new(&s.p0, &s.sde);
    let start = start(&s);
    let per_row = Observation::new(2, vec![1], arr2(&[[1.0], [0.0]])).unwrap();
    assert!(replacement_law_1d(&s.sde, &joint, &per_row, &start, &config(10), 8).is_err());
    let p3 = three_d();
    let j3 = ExactScore::new(&p3, &s.sde);
    let o3 = Observation::new(3, vec![0], arr2(&[[1.0]])).unwrap();
    assert!(replacement_law_1d(&s.sde, &j3, &o3, &start, &config(10), 8).is_err());
    let mut with_corrector = config(10);
    with_corrector.denoise = true;
    assert!(replacement_law_1d(&s.sde, &joint, &s.obs, &start, &with_corrector, 8).is_err());
}
