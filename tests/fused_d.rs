//! Workload D's step (the digits chapter's network shape: 64 pixels + 32 Gaussian Fourier
//! time features in, 256-256-256 ReLU or SiLU, 64 out, eps loss on the VP SDE) on the fused
//! trainer, against the tape, on every kernel family the CPU has.
//!
//! Tolerances: `f64` sums in another order than the tape's `dot` (a few hundred terms per
//! output): 1e-12 relative per parameter array. The AVX-512 and AVX2 families sum in the
//! same order with one FMA per product: equal bit for bit. The portable family rounds each
//! product before adding it: 1e-12 relative again. `f32` against `f64`: 1e-3 relative. SiLU's
//! exponential is the fused path's own (within 2 ulp of libm's, `fast::silu`), a relative
//! change of order 1e-16 per activation, far inside the same 1e-12.
mod common;

use common::max_grad_rel;
use ndarray::{Array2, ArrayView2};
use rand::RngExt;
use score_sde::fast::{FusedTrainer, Isa, SdeEpsBuffers, TimeFeatures};
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::rng::{seeded, SeededRng};
use score_sde::sde::{LinearSde, Vp};

const SIZES: [usize; 5] = [96, 256, 256, 256, 64];

fn setup(n: usize) -> (Array2<f64>, TimeFeatures, Mlp, SeededRng) {
    setup_with(n, Activation::Relu)
}

fn setup_with(n: usize, act: Activation) -> (Array2<f64>, TimeFeatures, Mlp, SeededRng) {
    let mut rng = seeded(3);
    let data = Array2::from_shape_simple_fn((n, 64), || rng.random_range(-1.0..1.0));
    let features = TimeFeatures::gaussian_fourier(16, 16.0, &mut rng).unwrap();
    let net = Mlp::new(&SIZES, act, &mut rng).unwrap();
    (data, features, net, rng)
}

const FUSED: [Activation; 2] = [Activation::Relu, Activation::Silu];

/// The eps loss `mean (net([x_t, f(t)]) - eps)^2` and its gradient on the tape.
fn tape_loss(net: &Mlp, bufs: &SdeEpsBuffers<f64>, n: usize) -> (f64, Vec<Array2<f64>>) {
    let input = ArrayView2::from_shape((n, bufs.input_dim()), bufs.drawn_input()).unwrap();
    let eps = Array2::from_shape_vec((n, 64), bufs.eps().to_vec()).unwrap();
    let c = 1.0 / eps.len() as f64;
    net.loss_and_grad(input, |tape, out| {
        let e = tape.constant(eps.clone());
        let r = tape.sub(out, e)?;
        let r2 = tape.square(r)?;
        let total = tape.sum(r2)?;
        tape.scale(total, c)
    })
    .unwrap()
}

#[test]
fn the_draw_is_the_peers_definition() {
    let n = 8;
    let (data, features, _, mut rng) = setup(n);
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(n, 64, features.clone());
    assert_eq!(bufs.input_dim(), 96);
    bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
    let TimeFeatures::GaussianFourier { w } = &features else {
        panic!("Fourier features expected")
    };
    for i in 0..n {
        let t = bufs.t()[i];
        assert!((1e-3..1.0).contains(&t));
        // VP with beta 0.1 -> 20: B(t) = 0.1 t + 9.95 t^2, mean exp(-B/2), std sqrt(1 - e^-B).
        let big_b = 0.1 * t + 9.95 * t * t;
        let (m, s) = ((-0.5 * big_b).exp(), (1.0 - (-big_b).exp()).sqrt());
        assert!((sde.mean_factor(t) - m).abs() < 1e-14);
        let row = &bufs.drawn_input()[i * 96..(i + 1) * 96];
        for j in 0..64 {
            let want = m * data[[i, j]] + s * bufs.eps()[i * 64 + j];
            assert!((row[j] - want).abs() < 1e-12, "x_t at ({i}, {j})");
        }
        for (k, &wk) in w.iter().enumerate() {
            let ang = 2.0 * std::f64::consts::PI * t * wk;
            assert!((row[64 + k] - ang.sin()).abs() < 1e-12);
            assert!((row[80 + k] - ang.cos()).abs() < 1e-12);
        }
    }
}

#[test]
fn fused_d_gradient_matches_the_tape_on_every_kernel_family() {
    for act in FUSED {
        gradient_matches_the_tape(act);
    }
}

fn gradient_matches_the_tape(act: Activation) {
    let n = 256;
    let (data, features, net, mut rng) = setup_with(n, act);
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(n, 64, features.clone());
    bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
    let (loss_t, grad_t) = tape_loss(&net, &bufs, n);
    let mut vector_grad: Option<Vec<f64>> = None;
    for isa in Isa::supported() {
        for threads in [1, 2] {
            let adam = Adam::new(1e-3).unwrap();
            let mut tr = FusedTrainer::<f64>::new(&net, &adam, n, threads)
                .unwrap()
                .with_isa(isa)
                .unwrap();
            assert_eq!(tr.isa(), isa);
            let loss_f = tr.loss_and_grad(&bufs).unwrap();
            assert!(
                (loss_f - loss_t).abs() <= 1e-12 * loss_t,
                "{act} {isa:?} {threads}: loss {loss_f} vs {loss_t}"
            );
            let r = max_grad_rel(tr.grad(), &grad_t);
            assert!(
                r <= 1e-12,
                "{act} {isa:?} threads {threads}: gradient off by {r}"
            );
            if isa != Isa::Portable && threads == 1 {
                if let Some(g) = &vector_grad {
                    assert!(g.iter().eq(tr.grad()), "{act} {isa:?}: not bit for bit");
                }
                vector_grad = Some(tr.grad().to_vec());
            }
        }
    }
    // f32 against f64.
    let mut b32 = SdeEpsBuffers::<f32>::new(n, 64, features.clone());
    b32.draw(&sde, data.view(), 1e-3, &mut seeded(99)).unwrap();
    let mut b64 = SdeEpsBuffers::<f64>::new(n, 64, features);
    b64.draw(&sde, data.view(), 1e-3, &mut seeded(99)).unwrap();
    let adam = Adam::new(1e-3).unwrap();
    let mut t32 = FusedTrainer::<f32>::new(&net, &adam, n, 1).unwrap();
    let mut t64 = FusedTrainer::<f64>::new(&net, &adam, n, 1).unwrap();
    let (l32, l64) = (
        t32.loss_and_grad(&b32).unwrap(),
        t64.loss_and_grad(&b64).unwrap(),
    );
    assert!(
        ((l32 as f64) - l64).abs() <= 1e-4 * l64,
        "{act}: {l32} vs {l64}"
    );
    let g32: Vec<f64> = t32.grad().iter().map(|&v| v as f64).collect();
    let num: f64 = g32
        .iter()
        .zip(t64.grad())
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f64 = t64.grad().iter().map(|b| b * b).sum();
    assert!(
        (num / den).sqrt() < 1e-3,
        "{act}: f32 gradient off by {}",
        (num / den).sqrt()
    );
}

#[test]
fn training_d_lowers_the_loss_and_the_families_agree() {
    for act in FUSED {
        training_lowers_the_loss(act);
    }
}

fn training_lowers_the_loss(act: Activation) {
    // 30 Adam steps at lr 1e-3 on one fixed stand-in batch: the loss falls; the AVX2 and
    // AVX-512 trainers give the same bits; the portable one follows within 1e-9.
    let n = 64;
    let (data, features, net, _) = setup_with(n, act);
    let sde = Vp::song();
    let mut runs = Vec::new();
    for isa in Isa::supported() {
        let mut rng = seeded(5);
        let mut bufs = SdeEpsBuffers::<f64>::new(n, 64, features.clone());
        let adam = Adam::new(1e-3).unwrap();
        let mut tr = FusedTrainer::<f64>::new(&net, &adam, n, 1)
            .unwrap()
            .with_isa(isa)
            .unwrap();
        let mut losses = Vec::new();
        for _ in 0..30 {
            bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
            losses.push(tr.step(&bufs).unwrap());
        }
        let first: f64 = losses[..5].iter().sum();
        let last: f64 = losses[25..].iter().sum();
        assert!(last < 0.9 * first, "{act} {isa:?}: {first} -> {last}");
        runs.push((isa, losses, tr.net().to_mlp()));
    }
    let vector: Vec<_> = runs.iter().filter(|r| r.0 != Isa::Portable).collect();
    for w in vector.windows(2) {
        assert_eq!(w[0].1, w[1].1, "{:?} vs {:?}", w[0].0, w[1].0);
        assert_eq!(w[0].2, w[1].2);
    }
    for (isa, losses, _) in &runs {
        for (a, b) in losses.iter().zip(&runs[0].1) {
            assert!((a - b).abs() <= 1e-9 * b.abs(), "{act} {isa:?}: {a} vs {b}");
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    let (data, features, net, mut rng) = setup(16);
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(16, 64, features.clone());
    assert!(bufs.draw(&sde, data.view(), 0.0, &mut rng).is_err());
    assert!(bufs.draw(&sde, data.view(), 1.5, &mut rng).is_err());
    assert!(bufs
        .draw(&sde, data.slice(ndarray::s![..8, ..]), 1e-3, &mut rng)
        .is_err());
    let mut bad = data.clone();
    bad[[3, 3]] = f64::NAN;
    assert!(bufs.draw(&sde, bad.view(), 1e-3, &mut rng).is_err());
    assert!(TimeFeatures::gaussian_fourier(0, 16.0, &mut rng).is_err());
    assert!(TimeFeatures::gaussian_fourier(4, -1.0, &mut rng).is_err());
    assert!(TimeFeatures::gaussian_fourier(4, f64::NAN, &mut rng).is_err());
    assert!(TimeFeatures::fourier(vec![]).is_err());
    assert!(TimeFeatures::fourier(vec![1.0, f64::INFINITY]).is_err());
    assert!(TimeFeatures::Raw.write(0.5, &mut [0.0; 2]).is_err());
    // A network whose input is not [x, f(t)] (97 wide), or a batch of another size.
    let wide = Mlp::new(&[97, 8, 64], Activation::Relu, &mut rng).unwrap();
    let adam = Adam::new(1e-3).unwrap();
    bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
    let mut tr = FusedTrainer::<f64>::new(&wide, &adam, 16, 1).unwrap();
    assert!(tr.step(&bufs).is_err());
    let mut tr = FusedTrainer::<f64>::new(&net, &adam, 32, 1).unwrap();
    assert!(tr.step(&bufs).is_err());
    // Activations the fused path lacks are refused up front, with their name.
    let tanh = Mlp::new(&SIZES, Activation::Tanh, &mut rng).unwrap();
    let err = FusedTrainer::<f64>::new(&tanh, &adam, 16, 1).unwrap_err();
    assert!(err.to_string().contains("tanh"), "{err}");
    for isa in Isa::ALL {
        assert_eq!(ok_with(&net, isa).is_ok(), isa.is_supported());
    }
    // The bench refuses unknown workloads, precisions and zero threads before running anything.
    use score_sde::book::bench::{print_bench, BenchOptions};
    for bad in [
        BenchOptions {
            workloads: "AE".into(),
            ..BenchOptions::default()
        },
        BenchOptions {
            dtypes: vec!["f16".into()],
            ..BenchOptions::default()
        },
        BenchOptions {
            threads: vec![0],
            ..BenchOptions::default()
        },
    ] {
        assert!(print_bench(&bad).is_err(), "{bad:?}");
    }
}

fn ok_with(net: &Mlp, isa: Isa) -> score_sde::error::Result<FusedTrainer<f64>> {
    FusedTrainer::<f64>::new(net, &Adam::new(1e-3).unwrap(), 4, 1)?.with_isa(isa)
}

/// On two threads the gradient sum and Adam are split into one piece per thread (D has more
/// parameters than the split threshold): three steps give, bit for bit, the weights of
/// `nn::Adam` applied on one thread to the same gradients (Adam is elementwise, so the split
/// must not change a bit).
#[test]
fn two_thread_adam_is_the_one_thread_update() {
    let n = 64;
    let (data, features, net, mut rng) = setup_with(n, Activation::Silu);
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(n, 64, features);
    let mut tr = FusedTrainer::<f64>::new(&net, &Adam::new(1e-3).unwrap(), n, 2).unwrap();
    assert_eq!(tr.threads(), 2);
    let (mut reference, mut adam) = (net.clone(), Adam::new(1e-3).unwrap());
    for _ in 0..3 {
        bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
        tr.loss_and_grad(&bufs).unwrap();
        let flat = tr.grad().to_vec();
        let mut grads = Vec::new();
        let mut off = 0;
        for p in reference.parameters_mut() {
            let len = p.len();
            grads.push(Array2::from_shape_vec(p.dim(), flat[off..off + len].to_vec()).unwrap());
            off += len;
        }
        adam.step(reference.parameters_mut(), &grads).unwrap();
        tr.step(&bufs).unwrap();
        assert_eq!(tr.grad(), &flat[..], "the same gradient twice");
        assert_eq!(tr.net().to_mlp(), reference);
    }
}

/// A step whose gradient overflows is refused and changes nothing, on one thread and on two
/// (where the check runs split, as Adam does): the next finite step gives the bits of a
/// trainer that never saw the bad batch.
#[test]
fn a_non_finite_gradient_is_refused_and_changes_nothing() {
    let n = 16;
    let (data, features, net, mut rng) = setup(n);
    let sde = Vp::song();
    let (mut bad, mut good) = (
        SdeEpsBuffers::<f64>::new(n, 64, features.clone()),
        SdeEpsBuffers::<f64>::new(n, 64, features),
    );
    // x(t) ~ 1e300: the network's output is ~1e302 and the weight gradients overflow.
    bad.draw(&sde, data.mapv(|x| x * 1e300).view(), 1e-3, &mut rng)
        .unwrap();
    good.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
    let adam = Adam::new(1e-3).unwrap();
    for threads in [1, 2] {
        let mut tr = FusedTrainer::<f64>::new(&net, &adam, n, threads).unwrap();
        let err = tr.step(&bad).unwrap_err();
        assert!(err.to_string().contains("gradient"), "{threads}: {err}");
        assert_eq!((tr.net().to_mlp(), tr.steps()), (net.clone(), 0));
        // A non-finite gradient that is only evaluated leaves nothing behind either.
        tr.loss_and_grad(&bad).unwrap();
        tr.step(&good).unwrap();
        let mut fresh = FusedTrainer::<f64>::new(&net, &adam, n, threads).unwrap();
        fresh.step(&good).unwrap();
        assert_eq!(tr.net().to_mlp(), fresh.net().to_mlp(), "{threads} threads");
    }
}
