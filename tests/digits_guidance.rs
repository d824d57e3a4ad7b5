//! The class-conditional digits network and classifier-free guidance on it: the label
//! columns of the fused batch, the model at a label and at the null label, the guided score,
//! training reproducibility, and guidance raising the classifier's agreement.
use ndarray::{Array2, Axis};
use score_sde::book::experiment::digits_guidance::{class_fidelity, guided_sample};
use score_sde::digits::{
    train_conditional_digits, ClassifierConfig, ConditionalDigitsModel, DigitClassifier, Digits,
    DigitsTrainConfig, Labels, LABEL_DROPOUT,
};
use score_sde::fast::{FusedBatch, SdeEpsBuffers, TimeFeatures};
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::sampling::{ClassifierFree, Sampler, Schedule};
use score_sde::score::ScoreFn;
use score_sde::sde::{LinearSde, Vp};

fn data(n: usize, d: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0)
}

/// Row `i` of a labelled batch is `[x_i(t), f(t_i), e_{y_i}]`: its first `d + features`
/// columns equal, bit for bit, those of an unlabelled batch drawn from the same seed (the
/// labels draw no random numbers), and its last ten columns are the one-hot of its label, all
/// zeros for the null label; in `f64` and in `f32`, through the trainer's `FusedBatch` view.
#[test]
fn label_columns_follow_the_time_features() {
    let (n, d) = (5, 3);
    let x0 = data(n, d);
    let features = TimeFeatures::fourier(vec![0.5, 2.0]).unwrap();
    let sde = Vp::song();
    let labels = [Some(2), None, Some(9), Some(0), None];
    let mut plain = SdeEpsBuffers::<f64>::new(n, d, features.clone());
    plain.draw(&sde, x0.view(), 1e-3, &mut seeded(4)).unwrap();
    let mut lab = SdeEpsBuffers::<f64>::labelled(n, d, features.clone(), 10);
    assert_eq!(lab.input_dim(), d + 4 + 10);
    lab.draw_labelled(&sde, x0.view(), &labels, 1e-3, &mut seeded(4))
        .unwrap();
    let (w0, w1) = (plain.input_dim(), lab.input_dim());
    for (i, y) in labels.iter().enumerate() {
        let row = &lab.drawn_input()[i * w1..(i + 1) * w1];
        assert_eq!(&row[..w0], &plain.drawn_input()[i * w0..(i + 1) * w0]);
        for c in 0..10 {
            let want = if *y == Some(c) { 1.0 } else { 0.0 };
            assert_eq!(row[w0 + c], want, "row {i} class {c}");
        }
    }
    assert_eq!(lab.eps(), plain.eps());
    assert_eq!(FusedBatch::input(&lab), lab.drawn_input());
    let mut single = SdeEpsBuffers::<f32>::labelled(n, d, features, 10);
    single
        .draw_labelled(&sde, x0.view(), &labels, 1e-3, &mut seeded(4))
        .unwrap();
    for (a, &b) in FusedBatch::input(&single).iter().zip(lab.drawn_input()) {
        assert_eq!(*a, b as f32);
    }
    // Errors: a label past the columns, a count mismatch.
    let bad = [Some(10), None, None, None, None];
    assert!(lab
        .draw_labelled(&sde, x0.view(), &bad, 1e-3, &mut seeded(4))
        .is_err());
    assert!(lab
        .draw_labelled(&sde, x0.view(), &labels[..4], 1e-3, &mut seeded(4))
        .is_err());
}

/// The null label everywhere gives the rows of an unlabelled batch followed by ten zeros,
/// whether drawn by `draw` or by `draw_labelled` with every label `None`.
#[test]
fn null_label_rows_are_the_unconditional_rows_and_zeros() {
    let (n, d) = (6, 4);
    let x0 = data(n, d);
    let sde = Vp::song();
    let mut plain = SdeEpsBuffers::<f64>::new(n, d, TimeFeatures::Raw);
    plain.draw(&sde, x0.view(), 1e-3, &mut seeded(9)).unwrap();
    let mut by_draw = SdeEpsBuffers::<f64>::labelled(n, d, TimeFeatures::Raw, 10);
    by_draw.draw(&sde, x0.view(), 1e-3, &mut seeded(9)).unwrap();
    let mut by_null = SdeEpsBuffers::<f64>::labelled(n, d, TimeFeatures::Raw, 10);
    // A labelled draw first, so that stale ones would show.
    by_null
        .draw_labelled(&sde, x0.view(), &[Some(1); 6], 1e-3, &mut seeded(1))
        .unwrap();
    by_null
        .draw_labelled(&sde, x0.view(), &[None; 6], 1e-3, &mut seeded(9))
        .unwrap();
    let w0 = d + 1;
    let want: Vec<f64> = plain
        .drawn_input()
        .chunks(w0)
        .flat_map(|r| r.iter().copied().chain([0.0; 10]))
        .collect();
    assert_eq!(by_draw.drawn_input(), &want[..]);
    assert_eq!(by_null.drawn_input(), &want[..]);
}

/// An untrained conditional network (random weights make every column matter).
fn model(sde: &dyn LinearSde) -> ConditionalDigitsModel<'_> {
    let features = TimeFeatures::fourier(vec![0.3, 1.7, 4.0]).unwrap();
    let net = Mlp::new(&[64 + 6 + 10, 32, 64], Activation::Relu, &mut seeded(5)).unwrap();
    ConditionalDigitsModel { net, features, sde }
}

/// The model at class `k` is the network on the row `[x, f(t), e_k]` written out by hand, at
/// the null label on `[x, f(t), 0]` (equal to 1e-12 relative: the tape-free forward and
/// `Mlp::forward` differ only in the order of their sums), per-row labels agree with
/// one-class labels row by row, and its score is `-eps / zeta(t)`. The classifier-free
/// adapter over it is `(1 + w) s(x | y) - w s(x)` to 1e-12 relative; the wrong weights
/// `w s(x | y) - (w - 1) s(x)` would differ by `s(x | y) - s(x)`, of order one here.
#[test]
fn guided_score_is_one_plus_w_conditional_minus_w_null() {
    let sde = Vp::song();
    let m = model(&sde);
    let x = Digits::book()
        .unwrap()
        .test
        .slice(ndarray::s![..8, ..])
        .to_owned();
    let t = 0.4;
    let mut f = vec![0.0; 6];
    m.features.write(t, &mut f).unwrap();
    let close = |a: &Array2<f64>, b: &Array2<f64>, what: &str| {
        for (u, v) in a.iter().zip(b.iter()) {
            assert!(
                (u - v).abs() <= 1e-12 * v.abs().max(1.0),
                "{what}: {u} vs {v}"
            );
        }
    };
    let by_hand = |label: Option<usize>| {
        let mut input = Array2::zeros((8, 80));
        for (mut row, xr) in input.rows_mut().into_iter().zip(x.rows()) {
            for (j, v) in xr.iter().chain(&f).enumerate() {
                row[j] = *v;
            }
            if let Some(k) = label {
                row[70 + k] = 1.0;
            }
        }
        m.net.forward(input.view()).unwrap()
    };
    for k in [0, 4, 9] {
        let eps = m.eps(t, x.view(), &Labels::Class(k)).unwrap();
        close(&eps, &by_hand(Some(k)), "class");
    }
    let null = m.eps(t, x.view(), &Labels::Null).unwrap();
    close(&null, &by_hand(None), "null");
    let ys: Vec<usize> = (0..8).map(|i| (3 * i) % 10).collect();
    let rows = m.eps(t, x.view(), &Labels::Rows(ys.clone())).unwrap();
    for (i, &y) in ys.iter().enumerate() {
        let one = m.eps(t, x.view(), &Labels::Class(y)).unwrap();
        assert_eq!(rows.row(i), one.row(i));
    }
    let zeta = sde.kernel_std(t);
    let (cond, uncond) = (m.at(Labels::Class(7)), m.at(Labels::Null));
    let s_c = cond.score(t, x.view()).unwrap();
    let s_u = uncond.score(t, x.view()).unwrap();
    close(&s_u, &(&null / -zeta), "score");
    assert!((&s_c - &s_u).iter().map(|v| v.abs()).fold(0.0, f64::max) > 0.1);
    for w in [0.0, 1.0, 3.0] {
        let g = ClassifierFree {
            conditional: &cond,
            unconditional: &uncond,
            guidance: w,
        }
        .score(t, x.view())
        .unwrap();
        close(&g, &(&s_c * (1.0 + w) - &(&s_u * w)), "guided");
    }
    // Errors: a class past 9, per-row labels of the wrong count.
    assert!(m.eps(t, x.view(), &Labels::Class(10)).is_err());
    assert!(m.eps(t, x.view(), &Labels::Rows(vec![1; 7])).is_err());
    assert!(m.eps(t, x.view(), &Labels::Rows(vec![10; 8])).is_err());
}

/// The same seed trains the same weights and draws the same guided samples, bit for bit;
/// another seed does not. Bad labels and dropout are errors.
#[test]
fn conditional_training_and_guided_sampling_are_reproducible() {
    let digits = Digits::book().unwrap();
    let x = digits.train_subset(200).unwrap();
    let labels = &digits.train_labels[..200];
    let sde = Vp::song();
    let config = DigitsTrainConfig {
        hidden: vec![32, 32],
        steps: 20,
        batch: 32,
        threads: 1,
        ..DigitsTrainConfig::book()
    };
    let train = |c: &DigitsTrainConfig| {
        train_conditional_digits(x.view(), labels, &sde, c, LABEL_DROPOUT, None).unwrap()
    };
    let (a, b) = (train(&config), train(&config));
    assert_eq!(a.ema.sizes(), vec![64 + 32 + 10, 32, 32, 64]);
    assert_eq!(a.ema.layers, b.ema.layers);
    assert_eq!(a.losses, b.losses);
    let other = train(&DigitsTrainConfig {
        seed: 22,
        ..config.clone()
    });
    assert_ne!(a.ema.layers, other.ema.layers);
    let model = ConditionalDigitsModel {
        net: a.ema,
        features: a.features,
        sde: &sde,
    };
    let ts = Schedule::UniformT { t_min: 1e-3 }.times(&sde, 10).unwrap();
    let ys = [1, 1, 5, 8];
    let s = |seed| guided_sample(&model, &ys, 2.0, &Sampler::Ancestral, &ts, seed).unwrap();
    assert_eq!(s(3), s(3));
    assert_ne!(s(3), s(4));
    assert!(guided_sample(&model, &ys, f64::NAN, &Sampler::Ancestral, &ts, 3).is_err());
    assert!(guided_sample(&model, &ys, -1.0, &Sampler::Ancestral, &ts, 3).is_err());
    let mut bad = labels.to_vec();
    bad[3] = 10;
    assert!(train_conditional_digits(x.view(), &bad, &sde, &config, 0.2, None).is_err());
    assert!(train_conditional_digits(x.view(), &labels[..9], &sde, &config, 0.2, None).is_err());
    assert!(train_conditional_digits(x.view(), labels, &sde, &config, 1.5, None).is_err());
}

/// Label dropout keeps a drawn row's label when its `u ~ U[0, 1)` is at least `p`: at
/// `p = 1` every label is dropped, so two trainings on different labels give the same weights
/// bit for bit (the labels draw no random numbers); at `p = 0` every label is kept, and the
/// same two trainings differ.
#[test]
fn label_dropout_drops_every_label_at_one_and_none_at_zero() {
    let digits = Digits::book().unwrap();
    let x = digits.train_subset(100).unwrap();
    let labels = &digits.train_labels[..100];
    let shifted: Vec<u8> = labels.iter().map(|&y| (y + 1) % 10).collect();
    let sde = Vp::song();
    let config = DigitsTrainConfig {
        hidden: vec![16],
        steps: 5,
        batch: 16,
        threads: 1,
        ..DigitsTrainConfig::book()
    };
    let train = |y: &[u8], p: f64| {
        train_conditional_digits(x.view(), y, &sde, &config, p, None)
            .unwrap()
            .net
    };
    assert_eq!(train(labels, 1.0), train(&shifted, 1.0));
    assert_ne!(train(labels, 0.0), train(&shifted, 0.0));
}

/// A short run (1500 steps of 128 images, hidden 128-128, all training images) sampled with
/// 100 ancestral steps, 10 images of each class from the same prior draws and noise at
/// w = 0 and w = 3: the classifier puts more of the guided samples in their requested class.
/// `MARGIN` is far beyond the noise of 100 paired samples (a fraction's standard error is at
/// most 0.05), and without guidance's push (the adapter returning `s(x | y)` at every `w`)
/// the two fractions would be equal.
#[test]
fn guidance_raises_the_classifier_agreement() {
    const MARGIN: f64 = 0.1;
    let digits = Digits::book().unwrap();
    let sde = Vp::song();
    let config = DigitsTrainConfig {
        hidden: vec![128, 128],
        steps: 1500,
        batch: 128,
        threads: 2,
        ..DigitsTrainConfig::book()
    };
    let t = train_conditional_digits(
        digits.train.view(),
        &digits.train_labels,
        &sde,
        &config,
        LABEL_DROPOUT,
        None,
    )
    .unwrap();
    let model = ConditionalDigitsModel {
        net: t.ema,
        features: t.features,
        sde: &sde,
    };
    let classifier = DigitClassifier::train(
        digits.train.view(),
        &digits.train_labels,
        &ClassifierConfig::book(),
    )
    .unwrap();
    let ts = Schedule::UniformT { t_min: 1e-3 }.times(&sde, 100).unwrap();
    let ys: Vec<usize> = (0..100).map(|i| i / 10).collect();
    let judge = |w: f64| {
        let x = guided_sample(&model, &ys, w, &Sampler::Ancestral, &ts, 8).unwrap();
        let x = x.mapv(|p| p.clamp(-1.0, 1.0));
        assert_eq!(x.len_of(Axis(0)), 100);
        class_fidelity(&classifier, x.view(), &ys).unwrap()
    };
    let ((a0, c0), (a3, c3)) = (judge(0.0), judge(3.0));
    println!("w = 0: {a0} ({c0}); w = 3: {a3} ({c3})");
    assert!(a3 > a0 + MARGIN, "accuracy w=0 {a0}, w=3 {a3}");
    assert!(c3 > c0, "confidence w=0 {c0}, w=3 {c3}");
}

/// Inpainting (`digits_inpainting::run`, on an untrained network so that it is fast): one row
/// per method in a fixed order, the test images' row is the classifier's own accuracy with
/// zero error, every completed image keeps the observed upper half bit for bit, replacement
/// never moves it (drift exactly 0), and a lower-half error is the RMS against the test
/// image's lower half, recomputed here to 1e-12. Image counts outside `1..=297` are refused.
#[test]
fn inpainting_keeps_the_observed_half_and_judges_every_method() {
    use score_sde::book::experiment::digits_inpainting::{run, InpaintingConfig, KNOWN};
    let digits = Digits::book().unwrap();
    let sde = Vp::song();
    let model = model(&sde);
    let classifier = DigitClassifier::train(
        digits.train.view(),
        &digits.train_labels,
        &ClassifierConfig::book(),
    )
    .unwrap();
    let ts = Schedule::UniformT { t_min: 1e-3 }.times(&sde, 20).unwrap();
    let config = InpaintingConfig {
        n_images: 20,
        ..InpaintingConfig::book()
    };
    let joint = model.at(Labels::Null);
    let r = run(&joint, &sde, &digits, &classifier, &ts, &config).unwrap();
    let names: Vec<&str> = r.rows.iter().map(|row| row.method.as_str()).collect();
    assert_eq!(names[0], "test images as they are");
    assert_eq!(names[1], "replacement");
    assert_eq!(names.len(), 7, "{names:?}");
    let truth = digits.test.slice(ndarray::s![..20, ..]);
    let acc = classifier
        .accuracy(truth, &digits.test_labels[..20])
        .unwrap();
    assert_eq!(r.rows[0].accuracy, acc);
    assert_eq!(r.rows[0].rmse_lower, 0.0);
    assert_eq!(r.rows[1].rmse_upper, 0.0);
    for (row, x) in r.rows.iter().zip(&r.images) {
        assert_eq!(
            x.slice(ndarray::s![.., ..KNOWN]),
            truth.slice(ndarray::s![.., ..KNOWN]),
            "{}",
            row.method
        );
        let d = &x.slice(ndarray::s![.., KNOWN..]) - &truth.slice(ndarray::s![.., KNOWN..]);
        let rms = (d.mapv(|v| v * v).sum() / d.len() as f64).sqrt();
        assert!((row.rmse_lower - rms).abs() < 1e-12, "{}", row.method);
    }
    for n in [0, 298] {
        let bad = InpaintingConfig {
            n_images: n,
            ..InpaintingConfig::book()
        };
        assert!(run(&joint, &sde, &digits, &classifier, &ts, &bad).is_err());
    }
}
