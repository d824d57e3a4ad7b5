//! The fused trainer and the tape-free forward compute what the tape path computes.
//!
//! Tolerances: the fused kernels sum in a different order than `ndarray`'s `dot` and the
//! tape's `sum`, so `f64` results agree to rounding, ~1e-16 per operation times a few
//! hundred accumulated terms: we ask 1e-12 relative (norm-wise per parameter array).
//! The `f32` path rounds inputs and weights to 24 bits: 1e-4 relative.
mod common;

use common::{max_grad_rel, rel};
use ndarray::Array2;
use score_sde::book::experiment::ve_seed::VeSeedConfig;
use score_sde::fast::{infer, DsmBuffers, FusedMlp, FusedTrainer};
use score_sde::loss::{dsm_batch, dsm_loss_and_grad};
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::{LinearSde, Ve};

/// The seed's data and network (as in `experiment::ve_seed::run`).
fn seed_setup(hidden: usize) -> (Array2<f64>, Mlp, score_sde::rng::SeededRng) {
    let cfg = VeSeedConfig::seed_settings();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(cfg.n_data, &mut rng);
    let net = Mlp::new(&[2, hidden, hidden, 1], Activation::Relu, &mut rng).unwrap();
    (data, net, rng)
}

/// `|a - b| / |b|` in the Euclidean norm.

#[test]
fn fused_gradient_matches_tape_on_seed_network() {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let (data, net, rng) = seed_setup(64);
    let (mut r1, mut r2) = (rng.clone(), rng);
    let batch = dsm_batch(&sde, data.view(), cfg.t_eps, &mut r1).unwrap();
    let (loss_t, grad_t) = dsm_loss_and_grad(&net, &sde, cfg.weighting, &batch).unwrap();
    let mut bufs = DsmBuffers::<f64>::new(data.nrows(), 1);
    bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut r2)
        .unwrap();
    // Same random stream, same batch: bit for bit.
    assert!(bufs.input().iter().eq(batch.input.iter()));
    for threads in [1, 2, 3] {
        let adam = Adam::new(cfg.lr).unwrap();
        let mut tr = FusedTrainer::<f64>::new(&net, &adam, data.nrows(), threads).unwrap();
        let loss_f = tr.loss_and_grad(&bufs).unwrap();
        assert!(
            ((loss_f - loss_t) / loss_t).abs() < 1e-12,
            "threads {threads}: {loss_f} vs {loss_t}"
        );
        let e = max_grad_rel(tr.grad(), &grad_t);
        assert!(e < 1e-12, "threads {threads}: gradient rel. error {e}");
    }
}

#[test]
fn fused_training_follows_the_tape_trajectory() {
    // 300 Adam steps from the same start and the same batches: the losses of the two paths
    // stay within 1e-9 relative (rounding differences grow slowly through Adam's updates).
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let (data, mut net, rng) = seed_setup(64);
    let (mut r1, mut r2) = (rng.clone(), rng);
    let mut adam = Adam::new(cfg.lr).unwrap();
    let mut tr = FusedTrainer::<f64>::new(&net, &adam, data.nrows(), 1).unwrap();
    let mut bufs = DsmBuffers::<f64>::new(data.nrows(), 1);
    for step in 0..300 {
        let b = dsm_batch(&sde, data.view(), cfg.t_eps, &mut r1).unwrap();
        let (lt, g) = dsm_loss_and_grad(&net, &sde, cfg.weighting, &b).unwrap();
        adam.step(net.parameters_mut(), &g).unwrap();
        bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut r2)
            .unwrap();
        let lf = tr.step(&bufs).unwrap();
        assert!(((lf - lt) / lt).abs() < 1e-9, "step {step}: {lf} vs {lt}");
    }
    let fused = tr.net().to_mlp();
    for (a, b) in fused.parameters().iter().zip(net.parameters()) {
        let e = rel(a.as_slice().unwrap(), b.view());
        assert!(e < 1e-9, "final parameters rel. error {e}");
    }
}

#[test]
fn f32_path_agrees_to_f32_rounding() {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let (data, net, mut rng) = seed_setup(64);
    let mut b64 = DsmBuffers::<f64>::new(data.nrows(), 1);
    let mut b32 = DsmBuffers::<f32>::new(data.nrows(), 1);
    let mut r2 = rng.clone();
    b64.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut rng)
        .unwrap();
    b32.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut r2)
        .unwrap();
    let adam = Adam::new(cfg.lr).unwrap();
    let mut t64 = FusedTrainer::<f64>::new(&net, &adam, data.nrows(), 1).unwrap();
    let mut t32 = FusedTrainer::<f32>::new(&net, &adam, data.nrows(), 2).unwrap();
    let l64 = t64.loss_and_grad(&b64).unwrap();
    let l32 = t32.loss_and_grad(&b32).unwrap() as f64;
    assert!(((l32 - l64) / l64).abs() < 1e-4, "{l32} vs {l64}");
    let g32: Vec<f64> = t32.grad().iter().map(|&v| v as f64).collect();
    let g64 = ndarray::ArrayView2::from_shape((1, g32.len()), t64.grad()).unwrap();
    let e = rel(&g32, g64);
    assert!(e < 1e-4, "f32 gradient rel. error {e}");
    // And a few f32 steps lower the loss like the f64 ones (same batches).
    for _ in 0..20 {
        b64.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut rng)
            .unwrap();
        b32.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut r2)
            .unwrap();
        let a = t64.step(&b64).unwrap();
        let b = t32.step(&b32).unwrap() as f64;
        assert!(((a - b) / a).abs() < 1e-3, "{b} vs {a}");
    }
}

#[test]
fn tape_free_forward_matches_mlp_forward() {
    let (_, net, mut rng) = seed_setup(64);
    let x = score_sde::ddpm::standard_normal(&mut rng, 257, 1);
    let t = 0.37;
    let fast = infer::forward_with_time(&net, x.view(), t).unwrap();
    let mut input = Array2::from_elem((257, 2), t);
    input.column_mut(0).assign(&x.column(0));
    let slow = net.forward(input.view()).unwrap();
    assert!(rel(fast.as_slice().unwrap(), slow.view()) < 1e-13);
    let fast2 = infer::forward(&net, input.view()).unwrap();
    assert_eq!(fast, fast2);
    // Odd widths exercise the remainder tiles; SiLU runs the fused path's own exponential
    // (within 2 ulp of libm's), far inside the same 1e-13.
    for act in [Activation::Relu, Activation::Silu] {
        let odd = Mlp::new(&[3, 13, 7, 2], act, &mut rng).unwrap();
        let x3 = score_sde::ddpm::standard_normal(&mut rng, 151, 3);
        let a = infer::forward(&odd, x3.view()).unwrap();
        let b = odd.forward(x3.view()).unwrap();
        assert!(rel(a.as_slice().unwrap(), b.view()) < 1e-13, "{act}");
    }
}

#[test]
fn odd_widths_match_the_tape() {
    // Widths that are not multiples of the tiles (6 rows x 8 columns) and d = 2; 37 rows (one
    // chunk of the trainer) and 150 (two full chunks of 64 and a partial one per thread).
    let sde = Ve::seed();
    let mut rng = seeded(5);
    for (n, w) in [
        (37, score_sde::loss::Weighting::Seed),
        (37, score_sde::loss::Weighting::Likelihood),
        (150, score_sde::loss::Weighting::Seed),
    ] {
        let data = score_sde::ddpm::standard_normal(&mut rng, n, 2);
        for act in [Activation::Relu, Activation::Silu] {
            let net = Mlp::new(&[3, 13, 9, 2], act, &mut rng).unwrap();
            let (mut r1, mut r2) = (rng.clone(), rng.clone());
            let batch = dsm_batch(&sde, data.view(), 0.01, &mut r1).unwrap();
            let (lt, gt) = dsm_loss_and_grad(&net, &sde, w, &batch).unwrap();
            let mut bufs = DsmBuffers::<f64>::new(n, 2);
            bufs.draw(&sde, data.view(), 0.01, w, &mut r2).unwrap();
            let adam = Adam::new(0.01).unwrap();
            for threads in [1, 2] {
                let mut tr = FusedTrainer::<f64>::new(&net, &adam, n, threads).unwrap();
                let lf = tr.loss_and_grad(&bufs).unwrap();
                assert!(
                    ((lf - lt) / lt).abs() < 1e-12,
                    "{act} n {n}, {threads} threads"
                );
                assert!(
                    max_grad_rel(tr.grad(), &gt) < 1e-12,
                    "{act} n {n}, {threads} threads"
                );
            }
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let mut rng = seeded(1);
    let adam = Adam::new(0.01).unwrap();
    let tanh = Mlp::new(&[2, 4, 1], Activation::Tanh, &mut rng).unwrap();
    assert!(FusedTrainer::<f64>::new(&tanh, &adam, 8, 1).is_err());
    assert!(FusedMlp::<f32>::from_mlp(&tanh).is_err());
    let net = Mlp::new(&[2, 4, 1], Activation::Relu, &mut rng).unwrap();
    assert!(FusedTrainer::<f64>::new(&net, &adam, 0, 1).is_err());
    assert!(FusedTrainer::<f64>::new(&net, &adam, 8, 0).is_err());
    let mut tr = FusedTrainer::<f64>::new(&net, &adam, 8, 1).unwrap();
    let mut bufs = DsmBuffers::<f64>::new(4, 1);
    let sde = Ve::seed();
    let data = Array2::zeros((4, 1));
    bufs.draw(
        &sde,
        data.view(),
        0.001,
        score_sde::loss::Weighting::Seed,
        &mut rng,
    )
    .unwrap();
    // A 4-row batch for an 8-row trainer.
    assert!(tr.step(&bufs).is_err());
    assert!(bufs
        .draw(
            &sde,
            data.view(),
            2.0,
            score_sde::loss::Weighting::Seed,
            &mut rng
        )
        .is_err());
    assert!(infer::forward_with_time(&net, Array2::zeros((3, 2)).view(), 0.5).is_err());
    // A weight file round trip keeps the fused copy exact, activation included.
    let f = FusedMlp::<f64>::from_mlp(&net).unwrap();
    assert_eq!(f.to_mlp(), net);
    let silu = Mlp::new(&[2, 4, 1], Activation::Silu, &mut rng).unwrap();
    assert_eq!(FusedMlp::<f64>::from_mlp(&silu).unwrap().to_mlp(), silu);
    let _ = sde.t_max();
}

#[test]
fn train_dsm_reports_the_tape_losses() {
    // The book's trainer (`train_dsm`, fused for ReLU) against the generic tape loop with the
    // same seed: same losses to 1e-9 relative over 300 steps (sums in another order only),
    // snapshots at the same steps, final weights to 1e-9.
    use score_sde::train::{train, train_dsm, TrainOptions};
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let (data, net, rng) = seed_setup(64);
    let opts = TrainOptions {
        snapshot_every: Some(100),
        ..TrainOptions::new(300, cfg.lr)
    };
    let (mut r1, mut r2) = (rng.clone(), rng);
    let tape = train(net.clone(), &opts, &mut r1, |net, rng| {
        let b = dsm_batch(&sde, data.view(), cfg.t_eps, rng)?;
        dsm_loss_and_grad(net, &sde, cfg.weighting, &b)
    })
    .unwrap();
    let fused = train_dsm(
        net,
        &opts,
        &mut r2,
        &sde,
        data.view(),
        cfg.t_eps,
        cfg.weighting,
    )
    .unwrap();
    assert_eq!(tape.losses.len(), fused.losses.len());
    for (i, (a, b)) in tape.losses.iter().zip(&fused.losses).enumerate() {
        assert!(((a - b) / a).abs() < 1e-9, "step {i}: {a} vs {b}");
    }
    let steps =
        |t: &score_sde::train::Training| t.snapshots.iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(steps(&tape), steps(&fused));
    for (a, b) in fused.net.parameters().iter().zip(tape.net.parameters()) {
        assert!(rel(a.as_slice().unwrap(), b.view()) < 1e-9);
    }
    // The random stream is left where the tape path leaves it.
    use score_sde::rand::Rng;
    assert_eq!(r1.next_u64(), r2.next_u64());
}
