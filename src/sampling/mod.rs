//! Samplers that turn a score into draws of the data distribution.
mod euler_maruyama;

pub use euler_maruyama::{reverse_euler_maruyama, ReverseSdeConfig, Trajectory};
