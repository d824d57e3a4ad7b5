//! Conditional and guided scores against the exact conditionals of a labelled Gaussian mixture:
//! Bayes' rule and finite differences for the classifier, the identities between guidance
//! methods, and the exact laws (by quadrature, `pc_law_1d`) of the samplers they drive.
use ndarray::{arr2, Array2};
use score_sde::mixture::{GaussianMixture, LabelledMixture};
use score_sde::sampling::{
    pc_law_1d, tilted_law_1d, ClassifierFree, ClassifierGuided, ConditionalScore, ExactClassifier,
    GridLaw, Law1d, PcConfig, Predictor,
};
use score_sde::score::{ExactScore, ScoreFn};
use score_sde::sde::{LinearSde, Vp};

/// Class 0: two components at -2 and 0.5; class 1: one at 2. `p(y = 0) = 0.5`.
fn labelled() -> LabelledMixture {
    let mix =
        GaussianMixture::new_1d(&[0.3, 0.2, 0.5], &[-2.0, 0.5, 2.0], &[0.5, 0.4, 0.6]).unwrap();
    LabelledMixture::new(mix, vec![0, 0, 1]).unwrap()
}

fn grid() -> Array2<f64> {
    Array2::from_shape_fn((41, 1), |(i, _)| -4.0 + 0.2 * i as f64)
}

/// `p(y | x) = p(y) p(x | y) / p(x)` to 1e-12 (relative), rows summing to one, at `t = 0` and
/// diffused to `t = 0.3`; `∇ log p(y | x)` equals central differences of `log p(y | x)`
/// (h = 1e-5: truncation ~1e-10, round-off ~1e-11 relative; tolerance 1e-7 absolute).
#[test]
fn class_posterior_is_bayes_and_its_gradient_matches_differences() {
    let sde = Vp::song();
    for t in [0.0, 0.3] {
        let p = if t == 0.0 {
            labelled()
        } else {
            labelled().diffused(&sde, t).unwrap()
        };
        let x = grid();
        let post = p.class_posterior(x.view()).unwrap();
        let px = p.mixture().pdf(x.view()).unwrap();
        let prior = p.class_prior();
        for y in 0..2 {
            let pxy = p.conditional(y).unwrap().pdf(x.view()).unwrap();
            for i in 0..x.nrows() {
                let bayes = prior[y] * pxy[i] / px[i];
                assert!((post[[i, y]] - bayes).abs() <= 1e-12 * bayes.max(1e-300));
            }
            let g = p.log_class_posterior_grad(x.view(), y).unwrap();
            let h = 1e-5;
            let lp = |d: f64| {
                let xs = x.mapv(|v| v + d);
                p.class_posterior(xs.view())
                    .unwrap()
                    .column(y)
                    .mapv(f64::ln)
            };
            let fd = (lp(h) - lp(-h)) / (2.0 * h);
            for i in 0..x.nrows() {
                assert!((g[[i, 0]] - fd[i]).abs() < 1e-7, "t={t} y={y} i={i}");
            }
        }
        for row in post.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-14);
        }
    }
}

/// With exact parts, classifier guidance at scale 1 is the conditional score, classifier-free
/// guidance at 0 is too, and CFG at `w` equals classifier guidance at `1 + w` (1e-12 relative
/// to the score's size: the two sides differ only by rounding).
#[test]
fn guidance_identities() {
    let (p0, sde) = (labelled(), Vp::song());
    let exact = ExactScore::new(p0.mixture(), &sde);
    let classifier = ExactClassifier { p0: &p0, sde: &sde };
    let x = grid();
    for y in 0..2 {
        let cond = ConditionalScore::new(&p0, &sde, y).unwrap();
        for t in [1e-3, 0.1, 0.5, 1.0] {
            let want = cond.score(t, x.view()).unwrap();
            let close = |a: &Array2<f64>, b: &Array2<f64>| {
                let scale = b.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                a.iter().zip(b).all(|(a, b)| (a - b).abs() <= 1e-12 * scale)
            };
            let cg = |w: f64| ClassifierGuided {
                score: &exact,
                classifier: &classifier,
                class: y,
                scale: w,
            };
            let cfg = |w: f64| ClassifierFree {
                conditional: &cond,
                unconditional: &exact,
                guidance: w,
            };
            assert!(close(&cg(1.0).score(t, x.view()).unwrap(), &want));
            assert!(close(&cfg(0.0).score(t, x.view()).unwrap(), &want));
            for w in [0.5, 2.0, 4.0] {
                let a = cfg(w).score(t, x.view()).unwrap();
                let b = cg(1.0 + w).score(t, x.view()).unwrap();
                assert!(close(&a, &b), "w={w} t={t}");
            }
        }
    }
    assert!(ConditionalScore::new(&p0, &sde, 2).is_err());
    let nan = ClassifierFree {
        conditional: &exact,
        unconditional: &exact,
        guidance: f64::NAN,
    };
    assert!(nan.score(0.5, arr2(&[[0.0]]).view()).is_err());
}

const LO: f64 = -9.0;
const HI: f64 = 9.0;
const H: f64 = 0.01;

/// The exact law of Euler-Maruyama with `score`, `k` steps on `[1e-3, 1]`, started from the
/// exact `p_T(x | y)`.
fn em_law(score: &dyn ScoreFn, start: &GaussianMixture, k: usize) -> Law1d {
    let sde = Vp::song();
    let start =
        GridLaw::from_mixture(&start.diffused(&sde, sde.t_max()).unwrap(), LO, HI, H).unwrap();
    let mut cfg = PcConfig::predictor_only(Predictor::EulerMaruyama, k + 1);
    cfg.t_min = 1e-3;
    pc_law_1d(&sde, score, &start, &cfg).unwrap()
}

/// The w = 1 identity in law: classifier guidance with the exact classifier at scale 1 samples
/// `p_0(x | y)`. Its exact law equals the conditional sampler's (CDF to 1e-12, the same scores
/// up to rounding), and its W1 to `p_0(x | y)` is the sampler's own discretisation error: it
/// falls below 0.02 at 200 steps and roughly halves from 100 to 200 (first order).
#[test]
fn classifier_guidance_at_scale_one_samples_the_conditional() {
    let (p0, sde) = (labelled(), Vp::song());
    let exact = ExactScore::new(p0.mixture(), &sde);
    let classifier = ExactClassifier { p0: &p0, sde: &sde };
    let y = 0;
    let cond = ConditionalScore::new(&p0, &sde, y).unwrap();
    let guided = ClassifierGuided {
        score: &exact,
        classifier: &classifier,
        class: y,
        scale: 1.0,
    };
    let target = p0.conditional(y).unwrap();
    let (g100, g200) = (em_law(&guided, &target, 100), em_law(&guided, &target, 200));
    let c200 = em_law(&cond, &target, 200);
    for i in 0..=100 {
        let x = -5.0 + 0.1 * i as f64;
        assert!((g200.cdf(x) - c200.cdf(x)).abs() < 1e-12);
    }
    let (w100, w200) = (
        g100.w1_to_mixture(&target).unwrap(),
        g200.w1_to_mixture(&target).unwrap(),
    );
    eprintln!("w=1: W1 at 100 steps {w100:.5}, at 200 steps {w200:.5}");
    assert!(w200 < 0.02, "{w200}");
    let ratio = w100 / w200;
    assert!((1.6..2.4).contains(&ratio), "ratio {ratio}");
}

/// Guidance beyond 1 does not sample the tilted law `p_0(x | y) p_0(y | x)^γ` whose score it
/// follows at `t = 0`: classifier-free guidance at `w = 2` (`γ = 2`) has an exact W1 to the
/// tilted law that does not fall with the step count (100 vs 200 steps: within 5%), and is
/// more than 10 times the discretisation error of the same sampler at `w = 0` (the conditional).
#[test]
fn guided_sampling_does_not_sample_the_tilted_law() {
    let (p0, sde) = (labelled(), Vp::song());
    let exact = ExactScore::new(p0.mixture(), &sde);
    let y = 0;
    let cond = ConditionalScore::new(&p0, &sde, y).unwrap();
    let cfg = |w: f64| ClassifierFree {
        conditional: &cond,
        unconditional: &exact,
        guidance: w,
    };
    let target = p0.conditional(y).unwrap();
    // The tilted law's own check: at γ = 0 it is `p_0(x | y)`. W1 below 5e-5: the law's CDF
    // is linear between knots h = 0.01 apart, an error up to h²/8 max|p'| ≈ 2e-5 pointwise.
    let untilted = tilted_law_1d(&p0, y, 0.0, LO, HI, H)
        .unwrap()
        .law()
        .unwrap();
    let w_untilted = untilted.w1_to_mixture(&target).unwrap();
    assert!(w_untilted < 5e-5, "{w_untilted}");
    let tilted = tilted_law_1d(&p0, y, 2.0, LO, HI, H)
        .unwrap()
        .law()
        .unwrap();
    let d = |k: usize| {
        em_law(&cfg(2.0), &target, k)
            .w1_to(|x| tilted.cdf(x), LO, HI)
            .unwrap()
    };
    let (d100, d200) = (d(100), d(200));
    let disc = em_law(&cfg(0.0), &target, 200)
        .w1_to_mixture(&target)
        .unwrap();
    let g = em_law(&cfg(2.0), &target, 200);
    eprintln!(
        "w=2: W1 to tilted {d100:.4} (100 steps), {d200:.4} (200); w=0 error {disc:.5}; \
         means: guided {:.4}, tilted {:.4}, conditional {:.4}; sd guided {:.4}, tilted {:.4}",
        g.mean(),
        tilted.mean(),
        target.mean()[0],
        g.variance().sqrt(),
        tilted.variance().sqrt()
    );
    assert!((d100 / d200 - 1.0).abs() < 0.05, "{d100} vs {d200}");
    assert!(d200 > 10.0 * disc, "{d200} vs {disc}");
}
