//! Samplers that turn a score into draws of the data distribution.
mod annealed_langevin;
mod clipped;
mod corrector;
mod ddim;
mod dpm_solver;
mod edm;
mod euler_maruyama;
mod exact_law;
mod grid_law;
mod guidance;
mod imputation;
mod langevin;
mod pc;
mod predictor;
mod probability_flow;
mod sampler;
pub mod sigma;
mod tilted_2d;

pub use annealed_langevin::{
    annealed_langevin, annealed_langevin_law_1d, geometric_levels, AnnealedLangevinConfig,
    AnnealedLangevinRun,
};
pub use clipped::ClippedDenoiser;
pub use corrector::LangevinCorrector;
pub use ddim::ddim;
pub use dpm_solver::{dpm_solver, dpm_solver_pp_2m};
pub use edm::{euler, heun, rk4_sigma, Churn};
pub use euler_maruyama::{reverse_euler_maruyama, ReverseSdeConfig, Trajectory};
pub use exact_law::{w1_between, MapLaw, Tangent};
pub use grid_law::{GridLaw, Law1d};
pub use guidance::{
    tilted_law_1d, ClassifierFree, ClassifierGrad, ClassifierGuided, ConditionalScore,
    ExactClassifier, TiltedLaw,
};
pub use imputation::{replacement_law_1d, Observation, ReconstructionGuided, Replacement};
pub use langevin::langevin_step;
pub use pc::{pc_law_1d, pc_sample, PcConfig};
pub use predictor::{transition, Predictor};
pub use probability_flow::{flow_velocity, probability_flow_sample, OdeMethod};
pub use sampler::{Sampler, SAMPLER_NAMES};
pub use sigma::{Model, Schedule};
pub use tilted_2d::TiltedLaw2d;

/// The uniform grid `t_min = t_0 < ... < t_{N-1} = T` of the reverse-time samplers, with
/// `N = n_time_points >= 2` and `t_min` in `[0, T)`; a typed error otherwise.
pub(crate) fn time_grid(
    sde: &dyn crate::sde::LinearSde,
    n_time_points: usize,
    t_min: f64,
) -> crate::Result<Vec<f64>> {
    if n_time_points < 2 {
        return Err(crate::Error::param(
            "n_time_points",
            format!("must be >= 2, got {n_time_points}"),
        ));
    }
    let t_max = sde.t_max();
    if !(t_min.is_finite() && t_min >= 0.0 && t_min < t_max) {
        return Err(crate::Error::param(
            "t_min",
            format!("must lie in [0, T = {t_max}), got {t_min}"),
        ));
    }
    Ok(crate::quadrature::linspace(t_min, t_max, n_time_points))
}

#[cfg(test)]
mod tests {
    use super::time_grid;
    use crate::sde::Vp;

    /// Two time points, `[t_min, T]`, are the smallest grid (one step); one point, a NaN or
    /// negative `t_min`, or `t_min = T` are errors.
    #[test]
    fn time_grid_bounds() {
        let sde = Vp::song();
        assert_eq!(time_grid(&sde, 2, 1e-3).unwrap(), vec![1e-3, 1.0]);
        assert_eq!(time_grid(&sde, 3, 0.0).unwrap(), vec![0.0, 0.5, 1.0]);
        assert!(time_grid(&sde, 1, 1e-3).is_err());
        for t_min in [f64::NAN, -1e-3, 1.0] {
            assert!(time_grid(&sde, 10, t_min).is_err(), "{t_min}");
        }
    }
}
