//! Typed errors for every public API: bad input is reported, never a panic.
use thiserror::Error;

/// Every failure a public function of this crate can report.
#[derive(Debug, Error)]
pub enum Error {
    /// A parameter outside its domain (a negative sigma, beta <= 0, T <= 0, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// Mixture weights that are negative or do not sum to one.
    #[error("invalid mixture weights: {reason}")]
    InvalidWeights { reason: String },
    /// A NaN or infinite value where a finite number is required.
    #[error("non-finite value in {what}")]
    NonFinite { what: String },
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        what: String,
        expected: String,
        found: String,
    },
    /// A `tape::Var` used with a tape it does not belong to: another tape, or the same tape
    /// after `Tape::clear` (or with the gradients of such a tape).
    #[error("{what}: the Var belongs to another tape, or to this tape before `clear`")]
    ForeignVar { what: String },
    /// A weights file that cannot be read, is corrupt, or does not fit the network.
    #[error("weights file: {0}")]
    WeightsFile(String),
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Drawing a figure failed.
    #[error("plotting failed: {0}")]
    Plot(String),
    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shape(
        what: impl Into<String>,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) -> Self {
        Error::ShapeMismatch {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// `Ok(x)` if `x` is finite, else [`Error::NonFinite`] naming `what`.
pub fn finite(x: f64, what: &str) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::NonFinite {
            what: what.to_string(),
        })
    }
}

/// `Ok(x)` if `x > 0` and finite, else [`Error::InvalidParameter`].
pub fn positive(x: f64, name: &'static str) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number > 0, got {x}"),
        ))
    }
}

/// Checks that every entry of an array is finite.
pub fn all_finite<'a, I: IntoIterator<Item = &'a f64>>(xs: I, what: &str) -> Result<()> {
    if xs.into_iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: what.to_string(),
        })
    }
}

/// `Err(ShapeMismatch)` unless a buffer holds `want` values.
pub(crate) fn check_len(what: &str, want: usize, len: usize) -> Result<()> {
    if len == want {
        Ok(())
    } else {
        Err(Error::shape(what, want, len))
    }
}
