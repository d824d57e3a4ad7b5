//! Small dense networks for score models: an MLP with a fast inference path and a
//! taped training path, the Adam optimiser, an exponential moving average of the
//! weights, and safetensors weight files.
pub mod adam;
pub mod ema;
pub mod mlp;
pub mod weights_io;

pub use adam::Adam;
pub use ema::Ema;
pub use mlp::{Activation, Dense, Mlp};
