//! A serialisable choice of SDE, for configs, the command line and JSON reports.
use serde::{Deserialize, Serialize};

use super::{Geometric, LinearBeta, LinearSde, SqrtT, SubVp, Ve, Vp};
use crate::error::{Error, Result};

/// The largest `T` (VE sqrt), `sigma_max` (VE geometric) or `beta_max` (VP, sub-VP) that a
/// [`SdeChoice`] accepts. The SDE types themselves take any finite value; the choice feeds
/// experiments on data of order one, where a larger scale only produces overflowing losses.
pub const MAX_SCALE: f64 = 1e6;

/// One of the library's SDEs with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SdeChoice {
    /// VE with `sigma(t) = sqrt(t)` on `[0, T]` (the seed: `T = 1`).
    VeSqrt { t_max: f64 },
    /// VE with `sigma(t) = sigma_min (sigma_max/sigma_min)^t` on `[0, 1]`.
    VeGeometric { sigma_min: f64, sigma_max: f64 },
    /// VP with linear beta on `[0, 1]`.
    Vp { beta_min: f64, beta_max: f64 },
    /// Sub-VP with linear beta on `[0, 1]`.
    SubVp { beta_min: f64, beta_max: f64 },
}

impl SdeChoice {
    /// The seed's SDE: VE, `sigma(t) = sqrt(t)`, `T = 1`.
    pub const SEED: SdeChoice = SdeChoice::VeSqrt { t_max: 1.0 };

    /// Builds the SDE, validating its parameters: those of each SDE's constructor, and a
    /// scale limit: `T`, `sigma_max` and `beta_max` at most [`MAX_SCALE`].
    pub fn build(&self) -> Result<Box<dyn LinearSde>> {
        let (what, value) = match *self {
            SdeChoice::VeSqrt { t_max } => ("T", t_max),
            SdeChoice::VeGeometric { sigma_max, .. } => ("sigma_max", sigma_max),
            SdeChoice::Vp { beta_max, .. } | SdeChoice::SubVp { beta_max, .. } => {
                ("beta_max", beta_max)
            }
        };
        if value > MAX_SCALE {
            return Err(Error::param(
                what,
                format!(
                    "{value:e} exceeds {MAX_SCALE:e}: the experiments train on data of order one \
                     with t and the noise as network inputs, which f64 cannot resolve at that scale"
                ),
            ));
        }
        Ok(match *self {
            SdeChoice::VeSqrt { t_max } => Box::new(Ve::new(SqrtT, t_max)?),
            SdeChoice::VeGeometric {
                sigma_min,
                sigma_max,
            } => Box::new(Ve::new(Geometric::new(sigma_min, sigma_max)?, 1.0)?),
            SdeChoice::Vp { beta_min, beta_max } => {
                Box::new(Vp::new(LinearBeta::new(beta_min, beta_max)?, 1.0)?)
            }
            SdeChoice::SubVp { beta_min, beta_max } => {
                Box::new(SubVp::new(LinearBeta::new(beta_min, beta_max)?, 1.0)?)
            }
        })
    }

    /// Parses `ve-sqrt[:T]`, `ve-geometric[:SMIN:SMAX]`, `vp[:BMIN:BMAX]`, `sub-vp[:BMIN:BMAX]`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or("");
        let nums: Vec<f64> = parts
            .map(|p| {
                p.parse::<f64>()
                    .map_err(|_| Error::param("sde", format!("`{p}` is not a number in `{s}`")))
            })
            .collect::<Result<_>>()?;
        let two = |a: f64, b: f64| match nums.as_slice() {
            [] => Ok((a, b)),
            [x, y] => Ok((*x, *y)),
            _ => Err(Error::param(
                "sde",
                format!("`{kind}` takes 0 or 2 numbers, got `{s}`"),
            )),
        };
        let choice = match kind {
            "ve-sqrt" => match nums.as_slice() {
                [] => Self::SEED,
                [t] => SdeChoice::VeSqrt { t_max: *t },
                _ => {
                    return Err(Error::param(
                        "sde",
                        format!("`ve-sqrt` takes 0 or 1 number, got `{s}`"),
                    ))
                }
            },
            "ve-geometric" => {
                let (sigma_min, sigma_max) = two(0.01, 10.0)?;
                SdeChoice::VeGeometric {
                    sigma_min,
                    sigma_max,
                }
            }
            "vp" => {
                let (beta_min, beta_max) = two(0.1, 20.0)?;
                SdeChoice::Vp { beta_min, beta_max }
            }
            "sub-vp" => {
                let (beta_min, beta_max) = two(0.1, 20.0)?;
                SdeChoice::SubVp { beta_min, beta_max }
            }
            _ => {
                return Err(Error::param(
                    "sde",
                    format!("unknown SDE `{kind}`; expected ve-sqrt, ve-geometric, vp or sub-vp"),
                ))
            }
        };
        choice.build()?;
        Ok(choice)
    }
}
