//! score-sde: the tested library behind the book *Score-based generative modeling through SDEs*.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow.
pub mod ddpm;
pub mod error;
pub mod rng;

pub use error::{Error, Result};

pub use autodiff;
pub use ndarray;
pub use rand;
pub use rand_distr;
