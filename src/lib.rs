//! score-sde: the tested library behind the book *Score-based generative modeling through SDEs*.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow.
pub mod book;
pub mod ddpm;
pub mod digits;
pub mod divergence;
pub mod error;
pub mod fast;
pub mod likelihood;
pub mod loss;
pub mod metrics;
pub mod mixture;
pub mod nn;
pub mod ode;
pub mod progress;
pub mod quadrature;
pub mod rng;
pub mod sampling;
pub mod score;
pub mod sde;
pub mod tape;
pub mod train;
pub use error::{Error, Result};

pub use autodiff;
pub use ndarray;
pub use rand;
pub use rand_distr;
