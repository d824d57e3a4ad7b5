//! The notebook helpers (`score_sde::notebook`): exact forward paths, per-sample regrouping,
//! and the DDPM noise predictor with its simplified loss.
use ndarray::Array2;
use score_sde::ddpm::{simple_loss, EpsModel, VarianceSchedule};
use score_sde::nn::{Activation, Mlp};
use score_sde::notebook::{eps_input, eps_loss_and_grad, forward_paths, per_sample, EpsNet};
use score_sde::rng::seeded;
use score_sde::sde::{LinearSde, Ve, Vp};

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

/// From a fixed start `x0 = 1.5` the path's marginal at `t` is `N(mu(t) x0, zeta(t)^2)` and
/// the covariance of two times `s < t` is `mu(t)/mu(s) zeta(s)^2`: the second checks the
/// transition, not only the marginals. n = 40 000 paths, so the standard error of a mean is
/// `zeta / 200`, of a variance `zeta^2 sqrt(2/n) = 0.7% zeta^2`; we allow 4 standard errors.
#[test]
fn forward_paths_have_the_kernel_marginals_and_covariance() {
    let n = 40_000;
    let vp = Vp::song();
    let ve = Ve::seed();
    for sde in [&vp as &dyn LinearSde, &ve] {
        let x0 = Array2::from_elem((n, 1), 1.5);
        let times = [0.0, 0.1, 0.5, 1.0];
        let paths = forward_paths(sde, x0.view(), &times, &mut seeded(3)).unwrap();
        assert_eq!(paths.len(), times.len());
        assert!(paths[0].iter().all(|&x| x == 1.5), "time 0 is the start");
        for (j, &t) in times.iter().enumerate().skip(1) {
            let col = paths[j].column(0).to_vec();
            let (m, v) = mean_var(&col);
            let (mt, vt) = (sde.mean_factor(t) * 1.5, sde.kernel_var(t));
            let se = (vt / n as f64).sqrt();
            assert!(
                (m - mt).abs() < 4.0 * se,
                "{} t={t}: mean {m} vs {mt}",
                sde.name()
            );
            let tol = 4.0 * vt * (2.0 / n as f64).sqrt();
            assert!(
                (v - vt).abs() < tol,
                "{} t={t}: var {v} vs {vt}",
                sde.name()
            );
        }
        // Cov(x_0.1, x_1) = mu(1)/mu(0.1) zeta(0.1)^2; its estimate has standard error
        // about sqrt(var_s var_t / n).
        let (a, b) = (paths[1].column(0).to_vec(), paths[3].column(0).to_vec());
        let (ma, va) = mean_var(&a);
        let (mb, vb) = mean_var(&b);
        let cov = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (n as f64 - 1.0);
        let want = sde.mean_factor(1.0) / sde.mean_factor(0.1) * sde.kernel_var(0.1);
        let tol = 4.0 * (va * vb / n as f64).sqrt();
        assert!(
            (cov - want).abs() < tol,
            "{}: cov {cov} vs {want}",
            sde.name()
        );
    }
}

#[test]
fn forward_paths_reject_bad_times_and_data() {
    let sde = Vp::song();
    let x0 = Array2::zeros((3, 1));
    let mut rng = seeded(0);
    assert!(forward_paths(&sde, x0.view(), &[], &mut rng).is_err());
    assert!(forward_paths(&sde, x0.view(), &[0.5, 0.4], &mut rng).is_err());
    assert!(forward_paths(&sde, x0.view(), &[0.5, 1.5], &mut rng).is_err());
    assert!(forward_paths(&sde, x0.view(), &[-0.1], &mut rng).is_err());
    assert!(forward_paths(&sde, x0.view(), &[f64::NAN], &mut rng).is_err());
    let bad = Array2::from_elem((3, 1), f64::INFINITY);
    assert!(forward_paths(&sde, bad.view(), &[0.5], &mut rng).is_err());
}

#[test]
fn per_sample_regroups_states_by_sample() {
    let states: Vec<Array2<f64>> = (0..3)
        .map(|j| Array2::from_shape_fn((2, 2), |(i, c)| (10 * j + i) as f64 + 0.5 * c as f64))
        .collect();
    let p = per_sample(&states, 1).unwrap();
    assert_eq!(p, vec![vec![0.5, 10.5, 20.5], vec![1.5, 11.5, 21.5]]);
    assert!(per_sample(&states, 2).is_err());
    let ragged = vec![Array2::zeros((2, 1)), Array2::zeros((3, 1))];
    assert!(per_sample(&ragged, 0).is_err());
    assert!(per_sample(&[], 0).unwrap().is_empty());
}

#[test]
fn eps_net_predicts_rowwise_and_checks_shapes() {
    let net = Mlp::new(&[3, 8, 2], Activation::Relu, &mut seeded(1)).unwrap();
    let model = EpsNet { net };
    let x = Array2::from_shape_fn((4, 2), |(i, j)| i as f64 - 0.3 * j as f64);
    let ks = [1, 7, 7, 3];
    let all = model.eps_rows(x.view(), &ks).unwrap();
    for (i, &k) in ks.iter().enumerate() {
        let one = model.eps(x.slice(ndarray::s![i..i + 1, ..]), k).unwrap();
        assert_eq!(one.row(0), all.row(i), "row {i}: one pass == per-row");
    }
    let input = eps_input(x.view(), &ks).unwrap();
    assert_eq!(input.column(2).to_vec(), vec![1.0, 7.0, 7.0, 3.0], "raw k");
    assert!(eps_input(x.view(), &[1, 2]).is_err());
    assert!(model.eps_rows(x.view(), &[1, 2]).is_err());
}

/// With the same seed, `eps_loss_and_grad` draws the same `(k, eps)` as `simple_loss`, so
/// its value is `simple_loss / d` up to rounding (relative 1e-12). The gradient matches
/// central finite differences of the loss (same draws via the same seed) to 1e-5 relative:
/// the loss is piecewise quadratic in a weight, step h = 1e-5 gives an O(h^2) error.
#[test]
fn eps_loss_matches_simple_loss_and_its_gradient_finite_differences() {
    let schedule = VarianceSchedule::linear(0.02, 0.4, 40).unwrap();
    let net = Mlp::new(&[3, 16, 2], Activation::Tanh, &mut seeded(2)).unwrap();
    let x0 = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 3.0 - 1.5);
    let (loss, grads) = eps_loss_and_grad(&net, &schedule, x0.view(), &mut seeded(9)).unwrap();
    let model = EpsNet { net: net.clone() };
    let simple = simple_loss(&schedule, &model, x0.view(), &mut seeded(9)).unwrap();
    assert!(
        (loss - simple / 2.0).abs() < 1e-12 * simple,
        "{loss} vs {simple}/2"
    );

    let h = 1e-5;
    for (p, idx) in [(0usize, [1usize, 3usize]), (1, [0, 5]), (2, [7, 1])] {
        let shifted = |delta: f64| {
            let mut n2 = net.clone();
            n2.parameters_mut()[p][idx] += delta;
            eps_loss_and_grad(&n2, &schedule, x0.view(), &mut seeded(9))
                .unwrap()
                .0
        };
        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
        let g = grads[p][idx];
        assert!(
            (fd - g).abs() <= 1e-5 * g.abs().max(1e-3),
            "param {p} {idx:?}: fd {fd} vs grad {g}"
        );
    }
    let empty = Array2::<f64>::zeros((0, 2));
    assert!(eps_loss_and_grad(&net, &schedule, empty.view(), &mut seeded(9)).is_err());
}
