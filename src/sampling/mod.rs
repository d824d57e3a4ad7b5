//! Samplers that turn a score into draws of the data distribution.
mod annealed_langevin;
mod corrector;
mod euler_maruyama;
mod langevin;
mod pc;
mod predictor;
mod probability_flow;

pub use annealed_langevin::{
    annealed_langevin, geometric_levels, AnnealedLangevinConfig, AnnealedLangevinRun,
};
pub use corrector::LangevinCorrector;
pub use euler_maruyama::{reverse_euler_maruyama, ReverseSdeConfig, Trajectory};
pub use langevin::langevin_step;
pub use pc::{pc_sample, PcConfig};
pub use predictor::{transition, Predictor};
pub use probability_flow::{flow_velocity, probability_flow_sample, OdeMethod};
