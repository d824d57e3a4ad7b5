//! The notebook helpers (`score_sde::book::notebook`): exact forward paths, per-sample regrouping.
use ndarray::Array2;
use score_sde::book::notebook::{forward_paths, per_sample};
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
