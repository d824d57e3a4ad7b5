//! The clipped denoiser: a no-op on the exact score of data in the box, a projection of a
//! learnt score's denoiser onto it otherwise.
use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};
use score_sde::digits::Digits;
use score_sde::rng::seeded;
use score_sde::sampling::ClippedDenoiser;
use score_sde::score::{EmpiricalScore, ScoreFn};
use score_sde::sde::{LinearSde, Vp};

/// The exact score of 200 digits (pixels in [-1, 1]): its denoiser is a convex combination
/// of the images, so clipping it to [-1, 1] changes nothing. Checked at states drawn from the
/// diffused data at five times: the unclipped Tweedie denoiser stays in the box to 1e-9
/// (rounding of `x + zeta^2 s` over `mu` as small as e^-5), and the clipped score equals the
/// oracle's to 1e-9 relative. A clip at [-0.5, 0.5] does act (the control).
#[test]
fn clipping_the_exact_denoiser_of_boxed_data_changes_nothing() {
    let digits = Digits::book().unwrap();
    let data = digits.train_subset(200).unwrap();
    let sde = Vp::song();
    let oracle = EmpiricalScore::new(data.view(), &sde).unwrap();
    let clipped = ClippedDenoiser::new(&oracle, &sde, -1.0, 1.0).unwrap();
    let tight = ClippedDenoiser::new(&oracle, &sde, -0.5, 0.5).unwrap();
    let mut rng = seeded(5);
    for &t in &[1e-3, 0.05, 0.2, 0.5, 1.0] {
        let (m, z) = (sde.mean_factor(t), sde.kernel_std(t));
        let x = Array2::from_shape_fn((64, 64), |(i, j)| {
            let e: f64 = StandardNormal.sample(&mut rng);
            m * data[[(7 * i) % 200, j]] + z * e
        });
        let s = oracle.score(t, x.view()).unwrap();
        let d = (&x + &(&s * (z * z))) / m;
        assert!(d.iter().all(|v| v.abs() <= 1.0 + 1e-9), "t = {t}");
        let sc = clipped.score(t, x.view()).unwrap();
        let scale = s.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let diff = (&sc - &s).iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(diff <= 1e-9 * scale, "t = {t}: {diff} of {scale}");
        let dt = tight.denoise(t, x.view()).unwrap();
        assert!(dt.iter().all(|v| v.abs() <= 0.5));
        assert!(
            d.iter().any(|v| v.abs() > 0.6),
            "t = {t}: the control clips nothing"
        );
    }
}
