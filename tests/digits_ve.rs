//! The digits network's input scaling `c_in(t)` (for the VE SDE) and its `f32` training.
use ndarray::{Array2, Axis};
use rand::RngExt;
use score_sde::book::experiment::digits_ve::{digits_ve_sde, run, DigitsVeConfig};
use score_sde::digits::{
    largest_pairwise_distance, mean_pixel_variance, train_digits, ClassifierConfig, Digits,
    DigitsModel, DigitsTrainConfig, Precision,
};
use score_sde::fast::{input_scale, FusedTrainer, SdeEpsBuffers, TimeFeatures};
use score_sde::nn::{Activation, Adam, Ema, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::{LinearSde, Vp};

/// The mean over pixels of each pixel's variance over the rows.
fn mean_var(x: &Array2<f64>) -> f64 {
    x.var_axis(Axis(0), 0.0).mean().unwrap()
}

/// `c_in(t) x_t` of the diffused training images has mean per-pixel variance 1 at every `t`
/// for the digits' VE SDE (and VP): Monte Carlo over the 1500 images, one noise draw each,
/// within 0.03 (the estimate's standard error is about 0.005). Without it the VE input's
/// variance reaches `sigma_max² ≈ 93`. A wrong power (`1/(s_d² + zeta²)`) gives 0.01 at `t = 1`.
#[test]
fn c_in_gives_the_diffused_data_unit_variance() {
    let d = Digits::book().unwrap();
    let x0 = &d.train;
    let v = mean_pixel_variance(x0.view());
    assert!((v - mean_var(x0)).abs() < 1e-12);
    let ve = digits_ve_sde(x0.view(), 0.01).unwrap();
    let vp = Vp::song();
    let mut rng = seeded(5);
    for sde in [&ve as &dyn LinearSde, &vp] {
        for t in [0.0, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0] {
            let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
            let noise = Array2::from_shape_simple_fn(x0.dim(), || {
                rng.sample::<f64, _>(rand_distr::StandardNormal)
            });
            let xt = x0 * m + noise * s;
            let c = input_scale(sde, t, v).unwrap();
            let scaled = mean_var(&(&xt * c));
            assert!(
                (scaled - 1.0).abs() < 0.03,
                "{} t {t}: {scaled}",
                sde.name()
            );
            if t == 1.0 && sde.name().starts_with("VE") {
                assert!(mean_var(&xt) > 80.0);
            }
        }
    }
}

/// The buffers draw `c_in(t) (mu x + zeta ε)` with input scaling and exactly `mu x + zeta ε`
/// without (the same random numbers).
#[test]
fn buffers_scale_the_drawn_input() {
    let d = Digits::book().unwrap();
    let x0 = d.train.slice(ndarray::s![..8, ..]).to_owned();
    let ve = digits_ve_sde(d.train.view(), 0.01).unwrap();
    let features = TimeFeatures::fourier(vec![1.0, 2.0]).unwrap();
    let mut plain = SdeEpsBuffers::<f64>::new(8, 64, features.clone());
    let mut scaled = SdeEpsBuffers::<f64>::new(8, 64, features)
        .with_input_scaling(0.3)
        .unwrap();
    plain.draw(&ve, x0.view(), 1e-3, &mut seeded(3)).unwrap();
    scaled.draw(&ve, x0.view(), 1e-3, &mut seeded(3)).unwrap();
    let din = 64 + 4;
    for i in 0..8 {
        let t = plain.t()[i];
        let c = input_scale(&ve, t, 0.3).unwrap();
        for j in 0..64 {
            let xt = x0[[i, j]] + ve.kernel_std(t) * plain.eps()[i * 64 + j];
            assert_eq!(plain.drawn_input()[i * din + j], xt);
            assert_eq!(scaled.drawn_input()[i * din + j], c * xt);
        }
        assert_eq!(
            plain.drawn_input()[i * din + 64..(i + 1) * din],
            scaled.drawn_input()[i * din + 64..(i + 1) * din]
        );
    }
}

/// The model's `eps` with input scaling is the network on `[c_in(t) x, f(t)]`, built by hand
/// and run through `Mlp::forward` (1e-12); without scaling it is the network on `[x, f(t)]`.
#[test]
fn model_eps_is_the_net_on_the_scaled_input() {
    let mut rng = seeded(4);
    let features = TimeFeatures::gaussian_fourier(4, 16.0, &mut rng).unwrap();
    let net = Mlp::new(&[64 + 8, 32, 64], Activation::Relu, &mut rng).unwrap();
    let d = Digits::book().unwrap();
    let ve = digits_ve_sde(d.train.view(), 0.01).unwrap();
    let x = d.test.slice(ndarray::s![..5, ..]).to_owned() * 3.0;
    let v = 0.29;
    let plain = DigitsModel::new(net.clone(), features.clone(), &ve);
    let scaled = DigitsModel {
        data_var: Some(v),
        ..plain.clone()
    };
    for t in [1e-3, 0.3, 1.0] {
        let mut f = vec![0.0; 8];
        features.write(t, &mut f).unwrap();
        for (model, c) in [(&scaled, input_scale(&ve, t, v).unwrap()), (&plain, 1.0)] {
            let input =
                Array2::from_shape_fn(
                    (5, 72),
                    |(i, j)| {
                        if j < 64 {
                            c * x[[i, j]]
                        } else {
                            f[j - 64]
                        }
                    },
                );
            let want = net.forward(input.view()).unwrap();
            let got = model.eps(t, x.view()).unwrap();
            for (a, b) in got.iter().zip(want.iter()) {
                assert!(
                    (a - b).abs() < 1e-12 * b.abs().max(1.0),
                    "t {t}: {a} vs {b}"
                );
            }
        }
        assert!(c_differs(&scaled, &plain, t, &x));
    }
}

fn c_differs(a: &DigitsModel, b: &DigitsModel, t: f64, x: &Array2<f64>) -> bool {
    a.eps(t, x.view()).unwrap() != b.eps(t, x.view()).unwrap()
}

/// A small training config for the loop tests.
fn small() -> DigitsTrainConfig {
    DigitsTrainConfig {
        hidden: vec![32, 32],
        frequencies: 4,
        steps: 201,
        batch: 16,
        threads: 1,
        ..DigitsTrainConfig::book()
    }
}

/// The default config trains exactly as the loop before the options: the same loop written
/// here from the public parts gives bit-identical losses, weights and EMA weights; a config
/// without the new fields in its JSON reads as the defaults; input scaling changes the losses.
#[test]
fn default_config_is_bit_identical_to_the_plain_loop() {
    let d = Digits::book().unwrap();
    let train = d.train_subset(100).unwrap();
    let vp = Vp::song();
    let cfg = small();
    let got = train_digits(train.view(), &vp, &cfg, None).unwrap();
    // The loop as it was.
    let mut rng = seeded(cfg.seed);
    let features = TimeFeatures::gaussian_fourier(cfg.frequencies, cfg.scale, &mut rng).unwrap();
    let net = Mlp::new(&[64 + 8, 32, 32, 64], Activation::Relu, &mut rng).unwrap();
    let mut trainer =
        FusedTrainer::<f64>::new(&net, &Adam::new(cfg.lr).unwrap(), cfg.batch, 1).unwrap();
    let mut ema = Ema::new(&net, cfg.ema_decay).unwrap().with_warmup();
    let mut bufs = SdeEpsBuffers::<f64>::new(cfg.batch, 64, features.clone());
    let mut x0 = Array2::zeros((cfg.batch, 64));
    let mut losses = vec![];
    for step in 0..cfg.steps {
        for mut row in x0.rows_mut() {
            row.assign(&train.row(rng.random_range(0..train.nrows())));
        }
        bufs.draw(&vp, x0.view(), cfg.t_eps, &mut rng).unwrap();
        let loss = trainer.step(&bufs).unwrap();
        ema.update(&trainer.net().to_mlp()).unwrap();
        if step % 100 == 0 {
            losses.push(loss);
        }
    }
    assert_eq!(got.losses, losses);
    assert_eq!(got.net, trainer.net().to_mlp());
    assert_eq!(got.ema, ema.into_model());
    assert_eq!(got.features, features);
    assert_eq!(got.data_var, None);
    // Old JSON (no new fields) reads as the defaults.
    let mut json = serde_json::to_value(&cfg).unwrap();
    let obj = json.as_object_mut().unwrap();
    assert!(obj.remove("input_scaling").is_some() && obj.remove("precision").is_some());
    let back: DigitsTrainConfig = serde_json::from_value(json).unwrap();
    assert!(!back.input_scaling && back.precision == Precision::F64);
    let on = DigitsTrainConfig {
        input_scaling: true,
        ..cfg
    };
    let scaled = train_digits(train.view(), &vp, &on, None).unwrap();
    assert_ne!(scaled.losses[1..], got.losses[1..]);
    assert!((scaled.data_var.unwrap() - mean_pixel_variance(train.view())).abs() < 1e-15);
    // The trained model carries the input scaling (or none) with the weights.
    assert_eq!(scaled.model(&scaled.ema, &vp).data_var, scaled.data_var);
    assert_eq!(got.model(&got.ema, &vp).data_var, None);
}

/// Training in `f32` tracks `f64`: 401 steps on 100 images, every recorded loss within 1%
/// of the `f64` run's (they differ by about 1e-4 relative here), but not bit-equal (it did run
/// in `f32`); the same seed gives the same `f32` run bit for bit.
#[test]
fn f32_training_tracks_f64_and_is_reproducible() {
    let d = Digits::book().unwrap();
    let train = d.train_subset(100).unwrap();
    let vp = Vp::song();
    let cfg = DigitsTrainConfig {
        steps: 401,
        ..small()
    };
    let f32cfg = DigitsTrainConfig {
        precision: Precision::F32,
        ..cfg.clone()
    };
    let a = train_digits(train.view(), &vp, &cfg, None).unwrap();
    let b = train_digits(train.view(), &vp, &f32cfg, None).unwrap();
    let again = train_digits(train.view(), &vp, &f32cfg, None).unwrap();
    assert_eq!(a.losses.len(), 5);
    for (x, y) in a.losses.iter().zip(&b.losses) {
        assert!(
            (x - y).abs() <= 0.01 * x,
            "{:?} vs {:?}",
            a.losses,
            b.losses
        );
    }
    assert_ne!(a.losses, b.losses);
    assert_eq!(b.losses, again.losses);
    assert_eq!(b.ema, again.ema);
}

/// Hostile values are errors: a zero, negative or NaN data variance; `c_in` where it is
/// infinite (`s_d² = 0` at `t = 0` of VE) or at a NaN time; input scaling on constant images
/// or on the conditional model; `sigma_max` of fewer than two images or of NaN pixels.
#[test]
fn hostile_values_are_errors() {
    let d = Digits::book().unwrap();
    let ve = digits_ve_sde(d.train.view(), 0.01).unwrap();
    let f = TimeFeatures::fourier(vec![1.0]).unwrap();
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(SdeEpsBuffers::<f64>::new(2, 64, f.clone())
            .with_input_scaling(v)
            .is_err());
    }
    assert!(input_scale(&ve, 0.0, 0.0).is_err());
    assert!(input_scale(&ve, f64::NAN, 0.3).is_err());
    let mut rng = seeded(1);
    let net = Mlp::new(&[64 + 2, 8, 64], Activation::Relu, &mut rng).unwrap();
    let model = DigitsModel {
        data_var: Some(0.0),
        ..DigitsModel::new(net, f, &ve)
    };
    assert!(model.eps(0.0, d.test.view()).is_err());
    assert!(model.eps(f64::NAN, d.test.view()).is_err());
    let on = DigitsTrainConfig {
        input_scaling: true,
        steps: 2,
        ..small()
    };
    let constant = Array2::from_elem((10, 64), 0.5);
    assert!(train_digits(constant.view(), &ve, &on, None).is_err());
    let labels = vec![0u8; 20];
    let x = d.train_subset(20).unwrap();
    assert!(
        score_sde::digits::train_conditional_digits(x.view(), &labels, &ve, &on, 0.2, None)
            .is_err()
    );
    assert!(largest_pairwise_distance(d.train.slice(ndarray::s![..1, ..])).is_err());
    let mut bad = x.clone();
    bad[[3, 3]] = f64::NAN;
    assert!(largest_pairwise_distance(bad.view()).is_err());
}

/// `sigma_max` is the largest pairwise distance: brute force on 30 images, and the digits'
/// value lies in `(0, 2 sqrt(64)]` (pixels in [-1, 1]).
#[test]
fn sigma_max_is_the_largest_pairwise_distance() {
    let d = Digits::book().unwrap();
    let x = d.train.slice(ndarray::s![..30, ..]);
    let mut best: f64 = 0.0;
    for a in x.rows() {
        for b in x.rows() {
            best = best.max((&a - &b).mapv(|v| v * v).sum().sqrt());
        }
    }
    assert!((largest_pairwise_distance(x).unwrap() - best).abs() < 1e-12);
    let s = largest_pairwise_distance(d.train.view()).unwrap();
    assert!(s > 0.0 && s <= 16.0);
    let ve = digits_ve_sde(d.train.view(), 0.01).unwrap();
    assert!((ve.kernel_std(1.0).powi(2) - (s * s - 1e-4)).abs() < 1e-9);
}

/// The experiment end to end on a tiny configuration: four rows (VE ancestral and EM, VP
/// f32 with ReLU and with SiLU), finite verdicts, the held-out losses of the
/// two f32 networks with ReLU's as the reference of the paired difference.
#[test]
fn digits_ve_experiment_runs_end_to_end() {
    let cfg = DigitsVeConfig {
        train: DigitsTrainConfig {
            hidden: vec![16],
            frequencies: 2,
            steps: 20,
            batch: 16,
            threads: 1,
            ..DigitsTrainConfig::book()
        },
        n_samples: 30,
        steps: 5,
        classifier: ClassifierConfig {
            hidden: vec![16],
            steps: 20,
            ..ClassifierConfig::book()
        },
        ..DigitsVeConfig::book()
    };
    let r = run(&cfg).unwrap();
    assert_eq!(r.rows.len(), 4);
    assert_eq!(
        r.rows
            .iter()
            .map(|x| (x.sde.as_str(), x.activation.as_str()))
            .collect::<Vec<_>>(),
        [
            ("VE", "relu"),
            ("VE", "relu"),
            ("VP", "relu"),
            ("VP", "silu")
        ]
    );
    assert_eq!(r.rows[2].precision, "f32");
    assert_eq!(r.rows[3].precision, "f32");
    let names: Vec<&str> = r.held_out.iter().map(|h| h.activation.as_str()).collect();
    assert_eq!(names, ["relu", "silu"]);
    assert_eq!(r.held_out[0].paired_difference, (0.0, 0.0));
    for h in &r.held_out {
        assert!(h.loss.0 > 0.0 && h.loss.0.is_finite() && h.loss.1 > 0.0);
    }
    // The mean of the per-image differences is the difference of the means.
    let (a, b) = (&r.held_out[0], &r.held_out[1]);
    assert!((b.paired_difference.0 - (b.loss.0 - a.loss.0)).abs() < 1e-12);
    assert!(b.paired_difference.0 != 0.0, "the two networks differ");
    for row in &r.rows {
        assert!(row.quality.fd_pixels.is_finite() && row.quality.fd_features.is_finite());
        assert_eq!(row.quality.classes.histogram.iter().sum::<usize>(), 30);
    }
    assert!(
        (r.sigma_max - largest_pairwise_distance(Digits::book().unwrap().train.view()).unwrap())
            .abs()
            < 1e-12
    );
}

/// `DigitsTrainConfig::activation`: configs written before it existed read as ReLU; a SiLU
/// training gives SiLU weights (raw and EMA), is reproducible, and differs from ReLU's.
#[test]
fn silu_training_is_reproducible_and_old_configs_read_as_relu() {
    let mut json = serde_json::to_value(DigitsTrainConfig::book()).unwrap();
    json.as_object_mut().unwrap().remove("activation");
    let old: DigitsTrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.activation, score_sde::nn::Activation::Relu);
    let digits = Digits::book().unwrap();
    let train = digits.train.slice(ndarray::s![..64, ..]);
    let sde = score_sde::sde::Vp::song();
    let cfg = |activation| DigitsTrainConfig {
        hidden: vec![32, 32],
        frequencies: 2,
        steps: 30,
        batch: 16,
        threads: 1,
        activation,
        ..DigitsTrainConfig::book()
    };
    let silu = cfg(score_sde::nn::Activation::Silu);
    let a = score_sde::digits::train_digits(train, &sde, &silu, None).unwrap();
    let b = score_sde::digits::train_digits(train, &sde, &silu, None).unwrap();
    assert_eq!(a.net.activation, score_sde::nn::Activation::Silu);
    assert_eq!(a.ema.activation, score_sde::nn::Activation::Silu);
    assert_eq!(a.ema, b.ema);
    assert_eq!(a.losses, b.losses);
    let relu = cfg(score_sde::nn::Activation::Relu);
    let r = score_sde::digits::train_digits(train, &sde, &relu, None).unwrap();
    assert_ne!(r.losses, a.losses);
}
