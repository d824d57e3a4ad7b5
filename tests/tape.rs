//! Gradients of the reverse-mode tape against central finite differences (every op)
//! and against forward-mode dual numbers from the `autodiff` crate (a whole MLP loss).
use autodiff::{Float, F1};
use ndarray::{array, Array2};
use rand::RngExt;
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::tape::{Tape, Var};
use score_sde::Error;

/// Entries drawn from U(lo, hi) with a random sign if `signed`.
fn random(rows: usize, cols: usize, lo: f64, hi: f64, signed: bool, seed: u64) -> Array2<f64> {
    let mut rng = seeded(seed);
    Array2::from_shape_simple_fn((rows, cols), || {
        let x = rng.random_range(lo..hi);
        if signed && rng.random::<bool>() {
            -x
        } else {
            x
        }
    })
}

/// Inputs in ±[0.1, 1.5]: bounded away from 0 so ReLU's kink is never within h.
fn input(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    random(rows, cols, 0.1, 1.5, true, seed)
}

/// Builds `L = Σ_ij (Y_ij + R_ij)²` with `Y = build(inputs)` and a fixed random `R`, so the
/// seed gradient `∂L/∂Y = 2 (Y + R)` is not all ones (a wrong transpose or a missing factor
/// in a VJP cannot hide behind a symmetric seed).
fn loss_on_tape(
    tape: &mut Tape,
    inputs: &[Array2<f64>],
    as_leaves: bool,
    build: &dyn Fn(&mut Tape, &[Var]) -> score_sde::Result<Var>,
) -> (Var, Vec<Var>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|x| {
            if as_leaves {
                tape.leaf(x.clone())
            } else {
                tape.constant(x.clone())
            }
        })
        .collect();
    let y = build(tape, &vars).expect("op must succeed on valid shapes");
    let (r, c) = tape.value(y).unwrap().dim();
    let shift = tape.constant(random(r, c, 0.5, 2.0, true, 999));
    let p = tape.add(y, shift).unwrap();
    let p2 = tape.square(p).unwrap();
    (tape.sum(p2).unwrap(), vars)
}

fn eval(
    inputs: &[Array2<f64>],
    build: &dyn Fn(&mut Tape, &[Var]) -> score_sde::Result<Var>,
) -> f64 {
    let mut tape = Tape::new();
    let (l, _) = loss_on_tape(&mut tape, inputs, false, build);
    tape.value(l).unwrap()[[0, 0]]
}

/// Compares the tape gradient with central differences `(L(x+h) − L(x−h)) / 2h`,
/// `h = 1e-6`. Error of the difference quotient: truncation `h²|L'''|/6 ≈ 1e-12` plus
/// roundoff `≈ ε|L|/h ≈ 2e-16·10/1e-6 = 2e-9` for the O(10) losses used here. The
/// tolerance `1e-6·(1 + |g|)` leaves a wide margin above that, yet any wrong VJP
/// (errors of order |g|) fails it.
fn check(
    name: &str,
    inputs: Vec<Array2<f64>>,
    build: &dyn Fn(&mut Tape, &[Var]) -> score_sde::Result<Var>,
) {
    const H: f64 = 1e-6;
    const TOL: f64 = 1e-6;
    let mut tape = Tape::new();
    let (l, vars) = loss_on_tape(&mut tape, &inputs, true, build);
    let grads = tape.backward(l).unwrap();
    for (k, v) in vars.iter().enumerate() {
        let g = grads.get(*v).expect("every leaf has a gradient");
        assert_eq!(
            g.dim(),
            inputs[k].dim(),
            "{name}: gradient shape of input {k}"
        );
        for idx in ndarray::indices(inputs[k].dim()) {
            let mut plus = inputs.clone();
            plus[k][idx] += H;
            let mut minus = inputs.clone();
            minus[k][idx] -= H;
            let fd = (eval(&plus, build) - eval(&minus, build)) / (2.0 * H);
            let err = (g[idx] - fd).abs();
            assert!(
                err <= TOL * (1.0 + fd.abs()),
                "{name}: d/d input{k}{idx:?}: tape {} vs finite difference {fd} (err {err:e})",
                g[idx]
            );
        }
    }
}

#[test]
fn matmul_gradient() {
    check("matmul", vec![input(3, 4, 1), input(4, 2, 2)], &|t, v| {
        t.matmul(v[0], v[1])
    });
}

#[test]
fn add_bias_gradient() {
    check("add_bias", vec![input(4, 3, 3), input(1, 3, 4)], &|t, v| {
        t.add_bias(v[0], v[1])
    });
}

#[test]
fn add_sub_gradients() {
    let ins = || vec![input(3, 2, 5), input(3, 2, 6)];
    check("add", ins(), &|t, v| t.add(v[0], v[1]));
    check("sub", ins(), &|t, v| t.sub(v[0], v[1]));
}

#[test]
fn scale_rows_gradient() {
    check(
        "scale_rows",
        vec![input(4, 3, 7), input(4, 1, 8)],
        &|t, v| t.scale_rows(v[0], v[1]),
    );
}

/// A binary op needs a gradient when either input does: with one input a constant, the
/// gradient of the other still matches finite differences (an `and` in place of the `or`
/// would leave it zero).
#[test]
fn binary_ops_with_one_constant_input() {
    type Build = fn(&mut Tape, Var, Var) -> score_sde::Result<Var>;
    type Case = (&'static str, (usize, usize), (usize, usize), Build);
    let ops: [Case; 5] = [
        ("matmul", (3, 4), (4, 2), |t, a, b| t.matmul(a, b)),
        ("add_bias", (4, 3), (1, 3), |t, a, b| t.add_bias(a, b)),
        ("add", (3, 2), (3, 2), |t, a, b| t.add(a, b)),
        ("sub", (3, 2), (3, 2), |t, a, b| t.sub(a, b)),
        ("scale_rows", (4, 3), (4, 1), |t, a, b| t.scale_rows(a, b)),
    ];
    for (name, da, db, op) in ops {
        let (a, b) = (input(da.0, da.1, 21), input(db.0, db.1, 22));
        check(name, vec![b.clone()], &|t, v| {
            let c = t.constant(a.clone());
            op(t, c, v[0])
        });
        check(name, vec![a.clone()], &|t, v| {
            let c = t.constant(b.clone());
            op(t, v[0], c)
        });
    }
}

#[test]
fn scale_gradient() {
    check("scale", vec![input(2, 3, 9)], &|t, v| t.scale(v[0], -1.7));
}

#[test]
fn elementwise_gradients() {
    let x = || vec![input(3, 4, 11)];
    check("square", x(), &|t, v| t.square(v[0]));
    check("relu", x(), &|t, v| t.relu(v[0]));
    check("silu", x(), &|t, v| t.silu(v[0]));
    check("tanh", x(), &|t, v| t.tanh(v[0]));
    check("softplus", x(), &|t, v| t.softplus(v[0]));
}

#[test]
fn wide_range_activation_gradients() {
    // |x| up to 8 exercises both branches of the stable sigmoid/softplus.
    let x = || vec![random(3, 5, 0.1, 8.0, true, 12)];
    check("silu wide", x(), &|t, v| t.silu(v[0]));
    check("softplus wide", x(), &|t, v| t.softplus(v[0]));
    check("tanh wide", x(), &|t, v| t.tanh(v[0]));
}

#[test]
fn sum_mean_gradients() {
    check("sum", vec![input(3, 4, 16)], &|t, v| t.sum(v[0]));
    check("mean", vec![input(3, 4, 17)], &|t, v| t.mean(v[0]));
}

/// Softmax cross-entropy: the VJP against central differences, with one-hot targets and with
/// soft targets whose rows do not sum to one (the `rowsum(T)` factor of the VJP); the value
/// against closed forms: `log k` for equal logits, `softplus(b - a)` for two classes (label
/// on `a`), finite for logits of 1e3 (the shift by the row maximum); typed errors for a
/// target that is a leaf, a shape mismatch and an empty batch.
#[test]
fn softmax_cross_entropy_gradient_and_value() {
    let onehot = array![
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0]
    ];
    let soft = random(4, 3, 0.1, 0.9, false, 18);
    for (name, target) in [("one-hot", onehot), ("soft", soft)] {
        check(name, vec![input(4, 3, 19)], &|t, v| {
            let c = t.constant(target.clone());
            t.softmax_cross_entropy(v[0], c)
        });
    }
    let value = |logits: Array2<f64>, target: Array2<f64>| {
        let mut t = Tape::new();
        let (a, y) = (t.leaf(logits), t.constant(target));
        let l = t.softmax_cross_entropy(a, y).unwrap();
        t.value(l).unwrap()[[0, 0]]
    };
    let v = value(
        Array2::from_elem((2, 5), 0.7),
        array![[0., 1., 0., 0., 0.], [0., 0., 0., 0., 1.]],
    );
    assert!((v - 5f64.ln()).abs() < 1e-15, "{v}");
    let (a, b) = (0.3, -1.2);
    let v = value(array![[a, b]], array![[1.0, 0.0]]);
    assert!((v - score_sde::tape::softplus(b - a)).abs() < 1e-15, "{v}");
    let v = value(array![[1e3, 0.0]], array![[0.0, 1.0]]);
    assert!((v - 1e3).abs() < 1e-12, "{v}");
    let mut t = Tape::new();
    let a = t.leaf(input(2, 3, 20));
    let leaf_target = t.leaf(array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    assert!(t.softmax_cross_entropy(a, leaf_target).is_err());
    let narrow = t.constant(array![[1.0, 0.0], [0.0, 1.0]]);
    assert!(is_shape_err(t.softmax_cross_entropy(a, narrow)));
    let (e1, e2) = (
        t.leaf(Array2::zeros((0, 3))),
        t.constant(Array2::zeros((0, 3))),
    );
    assert!(is_shape_err(t.softmax_cross_entropy(e1, e2)));
}

#[test]
fn composite_gradient() {
    // A small score-matching-like loss: mean((tanh(softplus(x) W + b) ⊙ s - target)^2).
    check(
        "composite",
        vec![
            input(5, 2, 18),
            input(2, 3, 19),
            input(1, 3, 20),
            input(5, 1, 21),
            input(5, 3, 13),
        ],
        &|t, v| {
            let feat = t.softplus(v[0])?;
            let h = t.matmul(feat, v[1])?;
            let h = t.add_bias(h, v[2])?;
            let h = t.tanh(h)?;
            let h = t.scale_rows(h, v[3])?;
            let d = t.sub(h, v[4])?;
            let d = t.square(d)?;
            t.mean(d)
        },
    );
}

#[test]
fn reused_var_accumulates() {
    // L = Σ (x² + x + x), so dL/dx = 2x + 2. The tape sums the three contributions as
    // (1 + 1) + 2x, so it may differ from 2x + 2 by rounding only: allow 4 ulps. Dropping
    // any one contribution would be off by ≥ 0.1.
    let x0 = input(2, 3, 22);
    let mut t = Tape::new();
    let x = t.leaf(x0.clone());
    let xx = t.square(x).unwrap();
    let twice = t.add(x, x).unwrap();
    let y = t.add(xx, twice).unwrap();
    let l = t.sum(y).unwrap();
    let g = t.backward(l).unwrap();
    for (g, x) in g.get(x).unwrap().iter().zip(&x0) {
        let e = 2.0 * x + 2.0;
        assert!((g - e).abs() <= 4.0 * f64::EPSILON * e.abs(), "{g} vs {e}");
    }

    // Matrix used on both sides: L = Σ (A A), dL/dA = 1 Aᵀ + Aᵀ 1.
    let a0 = input(3, 3, 23);
    let mut t = Tape::new();
    let a = t.leaf(a0.clone());
    let aa = t.matmul(a, a).unwrap();
    let l = t.sum(aa).unwrap();
    let g = t.backward(l).unwrap();
    let ones = Array2::<f64>::ones((3, 3));
    let expected = ones.dot(&a0.t()) + a0.t().dot(&ones);
    let err = (g.get(a).unwrap() - &expected).mapv(f64::abs).sum();
    // Only the summation order differs between the two sides: error ~ few ulps.
    assert!(err < 1e-13, "matmul reuse: err {err:e}");
}

#[test]
fn constants_and_unused_leaves() {
    let mut t = Tape::new();
    let x = t.leaf(array![[1.0, 2.0]]);
    let c = t.constant(array![[3.0], [4.0]]);
    let unused = t.leaf(array![[5.0], [6.0]]);
    let y = t.matmul(x, c).unwrap();
    let l = t.sum(y).unwrap();
    let mut g = t.backward(l).unwrap();
    assert_eq!(g.get(x).unwrap(), &array![[3.0, 4.0]]);
    let no_grad = |r: score_sde::Result<&Array2<f64>>| {
        matches!(r, Err(Error::InvalidParameter { name: "var", .. }))
    };
    assert!(no_grad(g.get(c)), "constants get no gradient");
    assert!(no_grad(g.get(y)), "intermediate gradients are freed");
    assert_eq!(g.get(unused).unwrap(), &Array2::<f64>::zeros((2, 1)));
    assert_eq!(g.take(x).unwrap(), array![[3.0, 4.0]]);
    assert!(no_grad(g.get(x)), "take moves the gradient out");
    assert!(g.take(x).is_err());
}

#[test]
fn stable_activations_at_extremes() {
    let mut t = Tape::new();
    let x = t.leaf(array![[-1000.0, 1000.0, -40.0, 40.0]]);
    let sp = t.softplus(x).unwrap();
    let si = t.silu(x).unwrap();
    let spv = t.value(sp).unwrap().clone();
    assert_eq!(spv[[0, 1]], 1000.0);
    assert!(spv[[0, 0]] >= 0.0 && spv[[0, 0]] < 1e-300);
    assert!((spv[[0, 2]] - (-40.0f64).exp()).abs() < 1e-30);
    assert!(t.value(si).unwrap().iter().all(|v| v.is_finite()));
    let s = t.add(sp, si).unwrap();
    let l = t.sum(s).unwrap();
    let g = t.backward(l).unwrap();
    assert!(g.get(x).unwrap().iter().all(|v| v.is_finite()));
}

fn is_shape_err<T: std::fmt::Debug>(r: score_sde::Result<T>) -> bool {
    matches!(r, Err(Error::ShapeMismatch { .. }))
}

#[test]
fn shape_mismatches_are_errors() {
    let mut t = Tape::new();
    let a = t.leaf(Array2::zeros((2, 3)));
    let b = t.leaf(Array2::zeros((2, 3)));
    let c = t.leaf(Array2::zeros((3, 2)));
    let bias_bad = t.leaf(Array2::zeros((1, 2)));
    let col_bad = t.leaf(Array2::zeros((3, 1)));
    let empty = t.leaf(Array2::zeros((0, 3)));
    assert!(is_shape_err(t.matmul(a, b)));
    assert!(t.matmul(a, c).is_ok());
    assert!(is_shape_err(t.add(a, c)));
    assert!(is_shape_err(t.sub(a, c)));
    assert!(is_shape_err(t.add_bias(a, bias_bad)));
    assert!(is_shape_err(t.add_bias(a, b)));
    assert!(is_shape_err(t.scale_rows(a, col_bad)));
    assert!(is_shape_err(t.mean(empty)));
    // backward needs a 1x1 output
    let e = t.backward(a).unwrap_err();
    assert!(e.to_string().contains("[1, 1]"), "{e}");
}

fn is_foreign<T: std::fmt::Debug>(r: score_sde::Result<T>) -> bool {
    matches!(r, Err(Error::ForeignVar { .. }))
}

#[test]
fn a_var_from_another_tape_is_an_error() {
    // `xa` and `xb` sit at the same position of their tapes: a bare index would read `xb`.
    let mut a = Tape::new();
    let mut b = Tape::new();
    let xa = a.leaf(array![[1.0, 2.0]]);
    let xb = b.leaf(array![[10.0, 20.0]]);
    let col = b.leaf(array![[3.0]]);
    let row = b.leaf(array![[1.0, 1.0]]);
    assert!(is_foreign(b.value(xa)));
    assert!(is_foreign(b.matmul(xa, row)));
    assert!(is_foreign(b.matmul(col, xa)));
    assert!(is_foreign(b.add_bias(xa, row)));
    assert!(is_foreign(b.add_bias(xb, xa)));
    assert!(is_foreign(b.add(xb, xa)));
    assert!(is_foreign(b.sub(xa, xb)));
    assert!(is_foreign(b.scale_rows(xa, col)));
    assert!(is_foreign(b.scale(xa, 2.0)));
    assert!(is_foreign(b.square(xa)));
    assert!(is_foreign(b.relu(xa)));
    assert!(is_foreign(b.silu(xa)));
    assert!(is_foreign(b.tanh(xa)));
    assert!(is_foreign(b.softplus(xa)));
    assert!(is_foreign(b.sum(xa)));
    assert!(is_foreign(b.mean(xa)));
    let la = a.sum(xa).unwrap();
    assert!(is_foreign(b.backward(la)));
    for act in [Activation::Relu, Activation::Identity] {
        assert!(is_foreign(act.on_tape(&mut b, xa)), "{act}");
    }
    let mlp = Mlp::new(&[2, 3, 1], Activation::Tanh, &mut seeded(1)).unwrap();
    assert!(is_foreign(mlp.forward_tape(&mut b, xa)));
    // The gradients of `b` answer only for `b`'s Vars.
    let lb = b.sum(xb).unwrap();
    let mut gb = b.backward(lb).unwrap();
    assert!(is_foreign(gb.get(xa)));
    assert!(is_foreign(gb.take(xa)));
    assert_eq!(gb.get(xb).unwrap(), &array![[1.0, 1.0]]);
    // Nothing was recorded by the failed calls: `a` is intact and still works.
    assert_eq!(a.value(xa).unwrap(), &array![[1.0, 2.0]]);
    assert_eq!(
        a.backward(la).unwrap().get(xa).unwrap(),
        &array![[1.0, 1.0]]
    );
}

#[test]
fn a_var_from_before_clear_is_an_error() {
    let mut t = Tape::new();
    let x = t.leaf(array![[1.0, 2.0]]);
    let l = t.sum(x).unwrap();
    let g = t.backward(l).unwrap();
    t.clear();
    // A new node at the same position as `x`: the old `x` must not read it.
    let y = t.leaf(array![[7.0, 8.0]]);
    assert!(is_foreign(t.value(x)));
    assert!(is_foreign(t.square(x)));
    assert!(is_foreign(t.add(x, y)));
    assert!(is_foreign(t.backward(l)));
    assert_eq!(t.value(y).unwrap(), &array![[7.0, 8.0]]);
    // Gradients taken before the clear keep answering for the Vars of their pass, and
    // only for those.
    assert_eq!(g.get(x).unwrap(), &array![[1.0, 1.0]]);
    assert!(is_foreign(g.get(y)));
}

// ---------------------------------------------------------------------------------
// Whole tape vs forward mode.

/// The same MLP loss written generically over `T: Float`, so it can run on dual numbers:
/// L = (1/n) Σ_i (f(x_i) − y_i)², f a dense net with `act` on hidden layers.
fn generic_loss<T: Float>(
    params: &[Vec<T>],
    sizes: &[usize],
    act: fn(T) -> T,
    x: &Array2<f64>,
    y: &[f64],
) -> T {
    let n = x.nrows();
    let mut total = T::zero();
    for (row, &yi) in x.rows().into_iter().zip(y) {
        let mut h: Vec<T> = row.iter().map(|&v| T::from(v).unwrap()).collect();
        for l in 0..sizes.len() - 1 {
            let (w, b) = (&params[2 * l], &params[2 * l + 1]);
            let (din, dout) = (sizes[l], sizes[l + 1]);
            let mut out = vec![T::zero(); dout];
            for (j, o) in out.iter_mut().enumerate() {
                let mut s = T::zero();
                for (k, hk) in h.iter().enumerate().take(din) {
                    s = s + *hk * w[k * dout + j]; // w is [in, out] row-major
                }
                let z = s + b[j];
                *o = if l + 2 < sizes.len() { act(z) } else { z };
            }
            h = out;
        }
        let d = h[0] - T::from(yi).unwrap();
        total = total + d * d;
    }
    total / T::from(n as f64).unwrap()
}

fn compare_with_forward_mode(activation: Activation, act: fn(F1) -> F1) {
    let sizes = [2, 5, 5, 1];
    let mut rng = seeded(24);
    let mut mlp = Mlp::new(&sizes, activation, &mut rng).unwrap();
    // Non-zero biases so their gradients are exercised in general position.
    for p in mlp.parameters_mut() {
        p.mapv_inplace(|v| v + rng.random_range(-0.3..0.3));
    }
    let x = input(7, 2, 25);
    let y: Vec<f64> = (0..7).map(|i| (i as f64 * 0.7).sin()).collect();
    let target = Array2::from_shape_vec((7, 1), y.clone()).unwrap();
    let (loss, grads) = mlp
        .loss_and_grad(x.view(), |t, out| {
            let c = t.constant(target.clone());
            let d = t.sub(out, c)?;
            let d2 = t.square(d)?;
            t.mean(d2)
        })
        .unwrap();

    let flat: Vec<Vec<f64>> = mlp
        .parameters()
        .iter()
        .map(|p| p.iter().copied().collect())
        .collect();
    let cst: Vec<Vec<F1>> = flat
        .iter()
        .map(|p| p.iter().map(|&v| F1::cst(v)).collect())
        .collect();
    let l0 = generic_loss(&cst, &sizes, act, &x, &y);
    // Same arithmetic up to summation order and the sigmoid form: a few ulps.
    assert!(
        (l0.value() - loss).abs() <= 1e-13 * loss.abs(),
        "{} vs {loss}",
        l0.value()
    );
    for (pi, p) in flat.iter().enumerate() {
        for k in 0..p.len() {
            let mut dual = cst.clone();
            dual[pi][k] = F1::var(p[k]);
            let d = generic_loss(&dual, &sizes, act, &x, &y).deriv();
            let g = grads[pi].iter().nth(k).copied().unwrap();
            // Both are exact derivatives evaluated in floating point; they differ only
            // by rounding in O(100) operations (~1e-14 relative), so 1e-12 relative to
            // max(1, |d|) (the gradient entries are O(0.01–1)) is a tight check.
            assert!(
                (g - d).abs() <= 1e-12 * d.abs().max(1.0),
                "{activation}: param {pi}[{k}]: tape {g} vs forward mode {d}"
            );
        }
    }
}

#[test]
fn mlp_tape_matches_forward_mode_tanh() {
    compare_with_forward_mode(Activation::Tanh, |z| z.tanh());
}

#[test]
fn mlp_tape_matches_forward_mode_silu() {
    compare_with_forward_mode(Activation::Silu, |z| z / (F1::cst(1.0) + (-z).exp()));
}

#[test]
fn mlp_tape_matches_forward_mode_softplus() {
    // log(1+e^z) directly: the pre-activations here are O(1), where it is accurate.
    compare_with_forward_mode(Activation::Softplus, |z| (F1::cst(1.0) + z.exp()).ln());
}
