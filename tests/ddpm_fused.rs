//! `train_eps_net` on the fused trainer (ReLU networks) against the tape loop it replaces:
//! `train::train` on `simple_loss_and_grad` with the same targets.
use ndarray::Array2;
use rand::{Rng, RngExt};
use score_sde::ddpm::*;
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::train::{train, TrainOptions, Training};

/// The tape path of `train_eps_net` as it was before the fused path.
fn tape_train(
    s: &VarianceSchedule,
    model: &EpsNet,
    x0: &Array2<f64>,
    opts: &TrainOptions,
    rng: &mut dyn Rng,
) -> Training {
    let (feature, k) = (model.feature, model.num_steps());
    train(model.net.clone(), opts, rng, |net, rng| {
        let t = sample_eps_targets(s, x0.view(), rng)?;
        simple_loss_and_grad(net, feature, k, &t)
    })
    .unwrap()
}

fn max_rel_diff(a: &Mlp, b: &Mlp) -> f64 {
    let mut worst = 0.0f64;
    for (pa, pb) in a.parameters().iter().zip(b.parameters()) {
        for (x, y) in pa.iter().zip(pb.iter()) {
            worst = worst.max((x - y).abs() / x.abs().max(y.abs()).max(1e-3));
        }
    }
    worst
}

fn assert_same_training(fused: &Training, tape: &Training, tol: f64) {
    assert_eq!(fused.losses.len(), tape.losses.len());
    for (step, (a, b)) in fused.losses.iter().zip(&tape.losses).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs(),
            "step {step}: fused loss {a} vs tape {b}"
        );
    }
    assert_eq!(fused.snapshots.len(), tape.snapshots.len());
    for ((sa, na), (sb, nb)) in fused.snapshots.iter().zip(&tape.snapshots) {
        assert_eq!(sa, sb);
        let r = max_rel_diff(na, nb);
        assert!(r <= tol, "snapshot at step {sa}: relative difference {r}");
    }
    let r = max_rel_diff(&fused.net, &tape.net);
    assert!(r <= tol, "final weights: relative difference {r}");
    match (&fused.ema, &tape.ema) {
        (Some(a), Some(b)) => {
            let r = max_rel_diff(a, b);
            assert!(r <= tol, "EMA weights: relative difference {r}");
        }
        (None, None) => {}
        _ => panic!("EMA present on one path only"),
    }
}

#[test]
fn fused_eps_training_matches_the_tape() {
    // The seed's setting (2-32-32-1 ReLU, K = 40 linear betas 0.02..0.4, Adam 0.01, all 1024
    // points every step) for 300 steps, both step features. The two paths compute the same
    // sums in a different order (blocked GEMMs, FMA), so each step differs by ~1e-16
    // relative; Adam's normalised update and 300 steps amplify that by a few orders of
    // magnitude at most, unless a ReLU kink flips for some row, which at 1e-13 offsets does
    // not happen for this seed. 1e-9 is far above that and far below any real difference
    // (a wrong target, order or loss scale changes the losses at the 1e-2 level).
    let s = VarianceSchedule::linear(0.02, 0.4, 40).unwrap();
    let mut rng = seeded(4);
    let x0 = GaussianMixture::seed_ddpm().sample(1024, &mut rng);
    for feature in [StepFeature::Raw, StepFeature::Scaled] {
        let model = EpsNet::init(1, &[32, 32], feature, 40, &mut rng).unwrap();
        let mut opts = TrainOptions::new(300, 0.01);
        opts.snapshot_every = Some(100);
        opts.ema_decay = Some(0.99);
        let (mut r_fused, mut r_tape) = (seeded(7), seeded(7));
        let fused = train_eps_net(&s, &model, x0.view(), &opts, &mut r_fused).unwrap();
        let tape = tape_train(&s, &model, &x0, &opts, &mut r_tape);
        assert_eq!(fused.losses.len(), 300);
        assert_eq!(fused.snapshots.len(), 4);
        assert_same_training(&fused, &tape, 1e-9);
        // training moved the weights (the comparison is not between two untouched nets)
        assert!(max_rel_diff(&fused.net, &model.net) > 1e-2);
        // both consumed the same random numbers
        assert_eq!(
            r_fused.random::<u64>(),
            r_tape.random::<u64>(),
            "{feature:?}: the rng streams end in different places"
        );
    }
}

#[test]
fn non_relu_eps_nets_train_on_the_tape() {
    // A tanh network cannot take the fused path; train_eps_net must still train it, on the
    // tape, identically (same code, same order: exact equality).
    let s = VarianceSchedule::linear(0.02, 0.4, 10).unwrap();
    let mut rng = seeded(5);
    let x0 = GaussianMixture::seed_ddpm().sample(64, &mut rng);
    let net = Mlp::new(&[2, 8, 1], Activation::Tanh, &mut rng).unwrap();
    let model = EpsNet::new(net, StepFeature::Scaled, 10).unwrap();
    let opts = TrainOptions::new(20, 0.01);
    let a = train_eps_net(&s, &model, x0.view(), &opts, &mut seeded(8)).unwrap();
    let b = tape_train(&s, &model, &x0, &opts, &mut seeded(8));
    assert_eq!(a.losses, b.losses);
    assert_eq!(a.net, b.net);
}
