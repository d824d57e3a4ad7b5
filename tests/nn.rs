//! Networks: the fast forward path vs the taped one, Glorot initialisation, Adam, EMA,
//! and safetensors weight files (round trip and every kind of bad file).
use ndarray::{array, Array2};
use rand::RngExt;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use score_sde::nn::{weights_io, Activation, Adam, Dense, Ema, Mlp};
use score_sde::rng::seeded;
use score_sde::tape::Tape;
use score_sde::Error;
use std::collections::HashMap;
use std::path::PathBuf;

const ALL: [Activation; 5] = [
    Activation::Relu,
    Activation::Silu,
    Activation::Tanh,
    Activation::Softplus,
    Activation::Identity,
];

fn batch(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = seeded(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-2.0..2.0))
}

fn net(sizes: &[usize], act: Activation, seed: u64) -> Mlp {
    let mut rng = seeded(seed);
    let mut mlp = Mlp::new(sizes, act, &mut rng).unwrap();
    // Non-zero biases, so that a dropped bias would show.
    for l in &mut mlp.layers {
        l.b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
    }
    mlp
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("nn-test-{name}.safetensors"))
}

// ---------------------------------------------------------------- Mlp

#[test]
fn forward_equals_forward_tape_bitwise() {
    // Same scalar functions and the same matmul routine on both paths: the outputs must
    // agree bit for bit (not merely to a tolerance).
    for (k, &act) in ALL.iter().enumerate() {
        let mlp = net(&[3, 16, 16, 2], act, k as u64);
        let x = batch(9, 3, 100 + k as u64);
        let fast = mlp.forward(x.view()).unwrap();
        let mut tape = Tape::new();
        let xv = tape.constant(x.clone());
        let (out, params) = mlp.forward_tape(&mut tape, xv).unwrap();
        assert_eq!(fast.dim(), (9, 2));
        assert_eq!(tape.value(out).unwrap(), &fast, "{act}");
        assert_eq!(params.len(), mlp.parameters().len());
        for (v, p) in params.iter().zip(mlp.parameters()) {
            assert_eq!(
                tape.value(*v).unwrap(),
                p,
                "parameter Vars follow parameters() order"
            );
        }
        // A non-contiguous (transposed) view gives the same result.
        let xt = x.t().to_owned();
        assert_eq!(mlp.forward(xt.t()).unwrap(), fast, "{act}: strided input");
    }
}

#[test]
fn forward_known_values() {
    // 2-2-1 relu net by hand: h = relu(x W0 + b0), y = h W1 + b1.
    let mlp = Mlp::from_layers(
        vec![
            Dense {
                w: array![[1.0, -1.0], [2.0, 0.5]],
                b: array![[0.5, -3.0]],
            },
            Dense {
                w: array![[2.0], [10.0]],
                b: array![[-1.0]],
            },
        ],
        Activation::Relu,
    )
    .unwrap();
    // x = (1, 1): pre = (3.5, -3.5) -> h = (3.5, 0) -> y = 7 - 1 = 6.
    let y = mlp.forward(array![[1.0, 1.0]].view()).unwrap();
    assert_eq!(y, array![[6.0]]);
}

#[test]
fn glorot_bounds_and_zero_biases() {
    let sizes = [100, 200, 3];
    let mlp = Mlp::new(&sizes, Activation::Silu, &mut seeded(7)).unwrap();
    assert_eq!(mlp.sizes(), sizes);
    assert_eq!(mlp.num_parameters(), 100 * 200 + 200 + 200 * 3 + 3);
    assert_eq!(mlp.parameters().len(), 4);
    for (l, p) in mlp.layers.iter().zip(sizes.windows(2)) {
        let a = (6.0 / (p[0] + p[1]) as f64).sqrt();
        assert_eq!(l.w.dim(), (p[0], p[1]));
        assert!(l.w.iter().all(|w| w.abs() <= a), "|w| <= a");
        assert!(l.b.iter().all(|&b| b == 0.0));
    }
    // Variance of U(-a, a) is a²/3. On the 20 000 weights of layer 0 the relative
    // standard error of the sample variance is sqrt(4/45)/(1/3)/sqrt(20000) ≈ 0.63 %;
    // 4 % is > 6 standard errors (a wrong bound, e.g. sqrt(2/(in+out)), is off by 50 %).
    let w = &mlp.layers[0].w;
    let a2 = 6.0 / 300.0;
    let var = w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64;
    assert!(
        (var / (a2 / 3.0) - 1.0).abs() < 0.04,
        "variance {var} vs {}",
        a2 / 3.0
    );
    // The mean is 0 with standard error sqrt(a²/3/20000) ≈ 5.8e-4; allow 6 of them.
    let mean = w.mean().unwrap();
    assert!(
        mean.abs() < 6.0 * (a2 / 3.0 / 20000.0).sqrt(),
        "mean {mean}"
    );
}

#[test]
fn seeded_init_is_reproducible() {
    let a = Mlp::new(&[2, 8, 1], Activation::Tanh, &mut seeded(3)).unwrap();
    let b = Mlp::new(&[2, 8, 1], Activation::Tanh, &mut seeded(3)).unwrap();
    let c = Mlp::new(&[2, 8, 1], Activation::Tanh, &mut seeded(4)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn bad_sizes_and_inputs_are_errors() {
    let mut rng = seeded(1);
    for sizes in [&[][..], &[3][..], &[3, 0, 1][..], &[0, 2][..]] {
        let r = Mlp::new(sizes, Activation::Relu, &mut rng);
        assert!(
            matches!(r, Err(Error::InvalidParameter { .. })),
            "{sizes:?}"
        );
    }
    let mlp = net(&[3, 4, 1], Activation::Relu, 2);
    let e = mlp.forward(batch(5, 2, 3).view()).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let mut tape = Tape::new();
    let x = tape.constant(batch(5, 4, 3));
    assert!(mlp.forward_tape(&mut tape, x).is_err());
    // Inconsistent public fields are reported, not a panic.
    let mut broken = mlp.clone();
    broken.layers[1].w = Array2::zeros((5, 1));
    assert!(broken.forward(batch(5, 3, 3).view()).is_err());
    let mut broken = mlp.clone();
    broken.layers[0].b = Array2::zeros((1, 3));
    assert!(broken.forward(batch(5, 3, 3).view()).is_err());
    let empty = Mlp {
        layers: vec![],
        activation: Activation::Relu,
    };
    assert!(empty.forward(batch(5, 3, 3).view()).is_err());
    // The loss closure must produce a scalar.
    let r = mlp.loss_and_grad(batch(5, 3, 3).view(), |_, out| Ok(out));
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
}

#[test]
fn activation_names_round_trip() {
    for act in ALL {
        assert_eq!(act.name().parse::<Activation>().unwrap(), act);
    }
    assert!("gelu".parse::<Activation>().is_err());
    assert_eq!(Activation::Softplus.apply(0.0), std::f64::consts::LN_2);
    assert_eq!(Activation::Relu.apply(-1.0), 0.0);
    assert_eq!(Activation::Identity.apply(-1.5), -1.5);
}

#[test]
fn loss_and_grad_matches_finite_differences() {
    // One end-to-end check of loss_and_grad's parameter order against central
    // differences of the *fast* path (h = 1e-6; error ≈ ε|L|/h + h² ≈ 1e-9, tol 1e-6).
    let mut mlp = net(&[2, 6, 1], Activation::Silu, 9);
    let x = batch(8, 2, 10);
    let loss_fast = |m: &Mlp| m.forward(x.view()).unwrap().mapv(|v| v * v).mean().unwrap();
    let (l, grads) = mlp
        .loss_and_grad(x.view(), |t, out| {
            let s = t.square(out)?;
            t.mean(s)
        })
        .unwrap();
    assert!((l - loss_fast(&mlp)).abs() <= 1e-15 * l.abs());
    let h = 1e-6;
    for (k, gk) in grads.iter().enumerate() {
        for idx in ndarray::indices(gk.dim()) {
            mlp.parameters_mut()[k][idx] += h;
            let up = loss_fast(&mlp);
            mlp.parameters_mut()[k][idx] -= 2.0 * h;
            let down = loss_fast(&mlp);
            mlp.parameters_mut()[k][idx] += h;
            let fd = (up - down) / (2.0 * h);
            assert!(
                (gk[idx] - fd).abs() <= 1e-6 * (1.0 + fd.abs()),
                "param {k}{idx:?}: {} vs {fd}",
                gk[idx]
            );
        }
    }
}

// ---------------------------------------------------------------- Adam

#[test]
fn adam_first_step_is_lr_times_sign() {
    // After one step m̂ = g and v̂ = g², so Δθ = −lr·g/(|g| + ε): lr·sign(g) up to a
    // relative lr·ε/|g| ≤ 1e-5·lr for |g| ≥ 1e-3 (plus a few ulps of rounding).
    let lr = 0.01;
    let mut adam = Adam::new(lr).unwrap();
    let mut p = array![[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]];
    let p0 = p.clone();
    let g = array![[0.3, -5.0, 1e-3], [-120.0, 2.0, -0.02]];
    adam.step(vec![&mut p], std::slice::from_ref(&g)).unwrap();
    assert_eq!(adam.steps(), 1);
    for ((p, p0), g) in p.iter().zip(&p0).zip(&g) {
        let expected = p0 - lr * g.signum();
        let tol = lr * (1e-8 / g.abs() + 1e-14);
        assert!((p - expected).abs() <= tol, "{p} vs {expected}");
    }
}

#[test]
fn adam_matches_algorithm_1_for_three_steps() {
    // Scalar reference implementation of Kingma & Ba, Algorithm 1.
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.1, 0.9, 0.999, 1e-8);
    let grads = [0.5, -1.0, 2.0];
    let (mut th, mut m, mut v) = (1.0f64, 0.0, 0.0);
    let mut adam = Adam::new(lr).unwrap();
    let mut p = array![[1.0]];
    for (t, &g) in grads.iter().enumerate() {
        let t = t as i32 + 1;
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let mh = m / (1.0 - b1.powi(t));
        let vh = v / (1.0 - b2.powi(t));
        th -= lr * mh / (vh.sqrt() + eps);
        adam.step(vec![&mut p], &[array![[g]]]).unwrap();
        // Same formula, evaluated with 1/(1−βᵗ) multiplied in: a few ulps apart.
        assert!(
            (p[[0, 0]] - th).abs() <= 1e-15,
            "step {t}: {} vs {th}",
            p[[0, 0]]
        );
    }
}

#[test]
fn adam_stores_subnormal_moments_as_zero() {
    // g = 3e-308 is normal, but m = (1 − β₁) g = 3e-309 is subnormal (v = (1 − β₂) g²
    // underflows to 0 anyway). Algorithm 1 as written would move θ = 0 to
    // −lr · 10 m / ε = −3e-303; with m stored as 0, θ stays 0. The other entry keeps the
    // textbook first step, −lr · g / (|g| + ε) = −lr up to lr · ε = 1e-11.
    let mut adam = Adam::new(1e-3).unwrap();
    let mut p = array![[0.0, 0.0]];
    let g = array![[3e-308, 1.0]];
    assert!(0.1 * g[[0, 0]] < f64::MIN_POSITIVE);
    adam.step(vec![&mut p], std::slice::from_ref(&g)).unwrap();
    assert_eq!(p[[0, 0]], 0.0);
    assert!((p[[0, 1]] + 1e-3).abs() < 2e-11);
}

#[test]
fn adam_converges_on_a_quadratic() {
    // f(θ) = Σ a_i (θ_i − c_i)² with curvatures spanning 100×.
    let a = array![[1.0, 10.0], [0.1, 3.0]];
    let c = array![[1.0, -2.0], [0.5, 4.0]];
    let mut theta = Array2::<f64>::zeros((2, 2));
    let f = |t: &Array2<f64>| (&a * &(t - &c).mapv(|d| d * d)).sum();
    let f0 = f(&theta);
    let mut adam = Adam::new(0.05).unwrap();
    for _ in 0..3000 {
        let g = 2.0 * &a * &(&theta - &c);
        adam.step(vec![&mut theta], &[g]).unwrap();
    }
    let f1 = f(&theta);
    assert!(f0 > 10.0 && f1 < 1e-8, "f: {f0} -> {f1}");
}

#[test]
fn adam_rejects_bad_input() {
    for lr in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(Adam::new(lr), Err(Error::InvalidParameter { .. })),
            "{lr}"
        );
    }
    assert!(Adam::new(1e-3).unwrap().with_betas(1.0, 0.999).is_err());
    assert!(Adam::new(1e-3).unwrap().with_betas(0.9, -0.1).is_err());
    assert!(Adam::new(1e-3).unwrap().with_eps(0.0).is_err());
    assert!(Adam::new(1e-3).unwrap().set_lr(f64::NAN).is_err());

    let mut adam = Adam::new(1e-3).unwrap();
    let mut p = Array2::<f64>::ones((2, 3));
    let mut q = Array2::<f64>::ones((1, 3));
    let before = p.clone();
    // wrong count, wrong shape, non-finite gradient: Err and nothing modified
    assert!(adam.step(vec![&mut p], &[]).is_err());
    let e = adam
        .step(vec![&mut p], &[Array2::zeros((3, 2))])
        .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let mut nan = Array2::<f64>::ones((2, 3));
    nan[[1, 1]] = f64::NAN;
    assert!(matches!(
        adam.step(vec![&mut p], &[nan]),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(p, before);
    assert_eq!(adam.steps(), 0);
    // After the first step the parameter set is fixed.
    adam.step(vec![&mut p], &[Array2::ones((2, 3))]).unwrap();
    assert!(adam.step(vec![&mut q], &[Array2::ones((1, 3))]).is_err());
    assert!(adam
        .step(
            vec![&mut p, &mut q],
            &[Array2::ones((2, 3)), Array2::ones((1, 3))]
        )
        .is_err());
    adam.reset();
    assert!(adam.step(vec![&mut q], &[Array2::ones((1, 3))]).is_ok());
}

#[test]
fn adam_trains_an_mlp() {
    // Fit y = sin(2x) on [-1.5, 1.5] with a 1-32-32-1 tanh net: the MSE must drop by
    // two orders of magnitude in 1500 full-batch steps (a broken gradient would not).
    let x = Array2::from_shape_fn((64, 1), |(i, _)| -1.5 + 3.0 * i as f64 / 63.0);
    let y = x.mapv(|v| (2.0 * v).sin());
    let mut mlp = Mlp::new(&[1, 32, 32, 1], Activation::Tanh, &mut seeded(11)).unwrap();
    let mut adam = Adam::new(1e-2).unwrap();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..1500 {
        let (l, g) = mlp
            .loss_and_grad(x.view(), |t, out| {
                let c = t.constant(y.clone());
                let d = t.sub(out, c)?;
                let d = t.square(d)?;
                t.mean(d)
            })
            .unwrap();
        first.get_or_insert(l);
        last = l;
        adam.step(mlp.parameters_mut(), &g).unwrap();
    }
    let first = first.unwrap();
    assert!(last < first / 100.0, "mse {first} -> {last}");
}

// ---------------------------------------------------------------- EMA

#[test]
fn ema_update_formula() {
    let a = net(&[2, 3, 1], Activation::Tanh, 20);
    let b = net(&[2, 3, 1], Activation::Tanh, 21);
    let d = 0.9;
    let mut ema = Ema::new(&a, d).unwrap();
    assert_eq!(ema.model(), &a);
    ema.update(&b).unwrap();
    ema.update(&b).unwrap();
    // Two updates towards the same b: d(d a + (1−d) b) + (1−d) b, same operation order.
    for ((s, pa), pb) in ema
        .model()
        .parameters()
        .iter()
        .zip(a.parameters())
        .zip(b.parameters())
    {
        let once = pa.mapv(|x| d * x) + pb.mapv(|x| (1.0 - d) * x);
        let mut twice = once.clone();
        ndarray::Zip::from(&mut twice)
            .and(pb)
            .for_each(|s, &c| *s = d * *s + (1.0 - d) * c);
        assert_eq!(*s, &twice);
    }
    // decay 0 copies the current weights
    let mut copy = Ema::new(&a, 0.0).unwrap();
    copy.update(&b).unwrap();
    assert_eq!(copy.model(), &b);
}

/// The warm-up decays are `(1 + k)/(10 + k)` = 0.1, 2/11, 0.25, ... until they reach `d`;
/// after updates towards a fixed `b` the weight left on the start `a` is the product of the
/// decays used, `Π_k d_k`, so `θ̄ = w a + (1 - w) b` (to rounding, 1e-15). Without warm-up
/// the weight is `d^k`.
#[test]
fn ema_warmup_decays() {
    let a = net(&[2, 3, 1], Activation::Tanh, 20);
    let b = net(&[2, 3, 1], Activation::Tanh, 21);
    let d = 0.5;
    let mut ema = Ema::new(&a, d).unwrap().with_warmup();
    let mut plain = Ema::new(&a, d).unwrap();
    let (mut w, mut w_plain) = (1.0, 1.0);
    for k in 0..12 {
        let want = d.min((1.0 + k as f64) / (10.0 + k as f64));
        assert_eq!(ema.current_decay(), want, "update {k}");
        assert_eq!(plain.current_decay(), d);
        ema.update(&b).unwrap();
        plain.update(&b).unwrap();
        w *= want;
        w_plain *= d;
    }
    for (e, (wa, name)) in [(&ema, (w, "warm-up")), (&plain, (w_plain, "plain"))] {
        for ((s, pa), pb) in e
            .model()
            .parameters()
            .iter()
            .zip(a.parameters())
            .zip(b.parameters())
        {
            let want = pa.mapv(|x| wa * x) + pb.mapv(|x| (1.0 - wa) * x);
            assert!((*s - &want).iter().all(|v| v.abs() < 1e-15), "{name}");
        }
    }
    assert!(w < 1e-5 && w_plain > 2e-4, "{w} {w_plain}");
}

#[test]
fn ema_rejects_bad_input() {
    let a = net(&[2, 3, 1], Activation::Tanh, 20);
    for d in [1.0, -0.1, f64::NAN, 2.0] {
        assert!(Ema::new(&a, d).is_err(), "{d}");
    }
    let mut ema = Ema::new(&a, 0.99).unwrap();
    let other = net(&[2, 4, 1], Activation::Tanh, 20);
    assert!(matches!(
        ema.update(&other),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_eq!(ema.model(), &a, "a failed update changes nothing");
}

// ---------------------------------------------------------------- weights files

#[test]
fn safetensors_round_trip_is_bit_exact() {
    for (k, act) in ALL.into_iter().enumerate() {
        let mlp = net(&[2, 64, 64, 1], act, 30 + k as u64);
        let path = tmp(&format!("roundtrip-{k}"));
        weights_io::save(&mlp, &path).unwrap();
        let back = weights_io::load(&path).unwrap();
        assert_eq!(back.activation, act);
        for (p, q) in mlp.parameters().iter().zip(back.parameters()) {
            assert!(p.iter().zip(q).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert_eq!(
            weights_io::load_matching(&path, &[2, 64, 64, 1]).unwrap(),
            mlp
        );
        // Metadata is human readable.
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().as_ref().unwrap();
        assert_eq!(meta["sizes"], "2,64,64,1");
        assert_eq!(meta["activation"], act.name());
    }
}

fn weights_err(r: score_sde::Result<Mlp>, needle: &str) {
    match r {
        Err(Error::WeightsFile(msg)) => {
            assert!(
                msg.contains(needle),
                "message {msg:?} should mention {needle:?}"
            )
        }
        other => panic!("expected a WeightsFile error mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn wrong_sizes_is_an_error() {
    let path = tmp("sizes");
    weights_io::save(&net(&[2, 8, 1], Activation::Silu, 40), &path).unwrap();
    weights_err(weights_io::load_matching(&path, &[2, 16, 1]), "2,8,1");
}

#[test]
fn missing_file_is_io_error() {
    let r = weights_io::load(tmp("does-not-exist"));
    match r {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("does-not-exist"), "{e}"),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn corrupt_files_are_errors() {
    let path = tmp("corrupt");
    // random bytes
    let mut rng = seeded(50);
    let junk: Vec<u8> = (0..4096).map(|_| rng.random()).collect();
    std::fs::write(&path, &junk).unwrap();
    weights_err(weights_io::load(&path), "not a valid safetensors file");
    // empty file
    std::fs::write(&path, b"").unwrap();
    weights_err(weights_io::load(&path), "not a valid safetensors file");
    // a valid file truncated at several points, and one with a byte appended
    let good = tmp("good");
    weights_io::save(&net(&[2, 8, 1], Activation::Silu, 41), &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    for cut in [4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        weights_err(weights_io::load(&path), "corrupt");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    weights_err(weights_io::load(&path), "corrupt");
}

/// Writes a safetensors file with the given tensors and metadata.
fn write_raw(
    name: &str,
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    meta: &[(&str, &str)],
) -> PathBuf {
    let path = tmp(name);
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize_to_file(views, Some(meta), &path).unwrap();
    path
}

fn f64s(n: usize, v: f64) -> Vec<u8> {
    (0..n).flat_map(|_| v.to_le_bytes()).collect()
}

#[test]
fn inconsistent_files_are_errors() {
    let ok_meta = [("sizes", "2,3"), ("activation", "tanh")];
    let w = || ("layers.0.weight", Dtype::F64, vec![2, 3], f64s(6, 0.5));
    let b = || ("layers.0.bias", Dtype::F64, vec![1, 3], f64s(3, 0.1));
    // the well-formed file loads
    let good = write_raw("raw-good", &[w(), b()], &ok_meta);
    assert_eq!(weights_io::load(&good).unwrap().sizes(), vec![2, 3]);
    // wrong dtype
    let f32b = ("layers.0.bias", Dtype::F32, vec![1, 3], vec![0u8; 12]);
    weights_err(
        weights_io::load(write_raw("raw-f32", &[w(), f32b], &ok_meta)),
        "F32",
    );
    // missing tensor (and a stray one instead)
    let stray = ("layers.7.bias", Dtype::F64, vec![1, 3], f64s(3, 0.1));
    weights_err(
        weights_io::load(write_raw("raw-missing", &[w(), stray], &ok_meta)),
        "missing tensor `layers.0.bias`",
    );
    weights_err(
        weights_io::load(write_raw("raw-one", &[w()], &ok_meta)),
        "expected 2 tensors",
    );
    // shape not matching the metadata
    let wt = ("layers.0.weight", Dtype::F64, vec![3, 2], f64s(6, 0.5));
    weights_err(
        weights_io::load(write_raw("raw-shape", &[wt, b()], &ok_meta)),
        "shape [3, 2]",
    );
    // metadata problems
    weights_err(
        weights_io::load(write_raw(
            "raw-nosizes",
            &[w(), b()],
            &[("activation", "tanh")],
        )),
        "no `sizes`",
    );
    weights_err(
        weights_io::load(write_raw(
            "raw-badsizes",
            &[w(), b()],
            &[("sizes", "2,x"), ("activation", "tanh")],
        )),
        "sizes",
    );
    weights_err(
        weights_io::load(write_raw(
            "raw-badact",
            &[w(), b()],
            &[("sizes", "2,3"), ("activation", "gelu")],
        )),
        "gelu",
    );
    // non-finite weights
    let nan_w = ("layers.0.weight", Dtype::F64, vec![2, 3], f64s(6, f64::NAN));
    weights_err(
        weights_io::load(write_raw("raw-nan", &[nan_w, b()], &ok_meta)),
        "NaN",
    );
}
