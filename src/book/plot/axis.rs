//! Axes: visible ranges (fixed or padded data extents, linear or log) and readable tick labels.
use crate::error::{Error, Result};

/// How tick values of one axis are printed: a common number of decimals, or scientific.
#[derive(Clone, Copy, Debug)]
pub(super) enum TickFmt {
    Fixed { decimals: usize, zero: f64 },
    Sci { decimals: usize, zero: f64 },
    PerValue,
}

fn decimals_needed(ticks: &[f64], f: impl Fn(f64, usize) -> f64) -> usize {
    (0..=6)
        .find(|&d| {
            ticks.iter().all(|&t| {
                let r = f(t, d);
                (r - t).abs() <= 1e-9 * t.abs().max(1e-300)
            })
        })
        .unwrap_or(6)
}

fn round_to(t: f64, d: usize) -> f64 {
    let p = 10f64.powi(d as i32);
    (t * p).round() / p
}

fn round_sci(t: f64, d: usize) -> f64 {
    format!("{t:.d$e}").parse().unwrap_or(t)
}

impl TickFmt {
    pub(super) fn new(ticks: &[f64], log: bool) -> Self {
        if log {
            return TickFmt::PerValue;
        }
        let m = ticks.iter().fold(0f64, |a, t| a.max(t.abs()));
        let zero = 1e-9 * m;
        let ticks: Vec<f64> = ticks.iter().copied().filter(|t| t.abs() > zero).collect();
        if m >= 1e5 || (m > 0.0 && m < 1e-3) {
            let decimals = decimals_needed(&ticks, round_sci).min(4);
            TickFmt::Sci { decimals, zero }
        } else {
            let decimals = decimals_needed(&ticks, round_to);
            TickFmt::Fixed { decimals, zero }
        }
    }

    pub(super) fn fmt(&self, v: f64) -> String {
        match *self {
            TickFmt::Fixed { decimals, zero } => {
                let v = if v.abs() <= zero { 0.0 } else { v };
                format!("{v:.decimals$}")
            }
            TickFmt::Sci { decimals, zero } => {
                if v.abs() <= zero {
                    "0".into()
                } else {
                    format!("{v:.decimals$e}")
                }
            }
            TickFmt::PerValue => {
                let a = v.abs();
                if (1e-3..1e5).contains(&a) {
                    let d = decimals_needed(&[v], round_to);
                    format!("{v:.d$}")
                } else {
                    let d = decimals_needed(&[v], round_sci).min(4);
                    format!("{v:.d$e}")
                }
            }
        }
    }
}

/// One axis: its visible range and whether it is logarithmic. Clipping happens in the
/// transformed coordinate `u` (`log10 v` on a log axis).
#[derive(Clone, Copy, Debug)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
}

impl Axis {
    pub(super) fn fwd(&self, v: f64) -> Option<f64> {
        match (v.is_finite(), self.log) {
            (false, _) => None,
            (true, false) => Some(v),
            (true, true) if v > 0.0 => Some(v.log10()),
            _ => None,
        }
    }

    pub(super) fn inv(&self, u: f64) -> f64 {
        if self.log {
            10f64.powf(u)
        } else {
            u
        }
    }

    pub(super) fn u_lo(&self) -> f64 {
        self.fwd(self.lo).unwrap_or(0.0)
    }

    pub(super) fn u_hi(&self) -> f64 {
        self.fwd(self.hi).unwrap_or(1.0)
    }

    /// Transformed and clamped to the visible range; non-positive values on a log axis go
    /// to the low end (histogram bars start there).
    pub(super) fn clamp_u(&self, v: f64) -> f64 {
        let u = match self.fwd(v) {
            Some(u) => u,
            None if self.log && v <= 0.0 => f64::NEG_INFINITY,
            None => v,
        };
        u.clamp(self.u_lo(), self.u_hi())
    }

    /// Position in `[0, 1]` across the visible range.
    pub(super) fn norm(&self, v: f64) -> Option<f64> {
        let u = self.fwd(v)?;
        Some((u - self.u_lo()) / (self.u_hi() - self.u_lo()))
    }

    /// The visible range for `extent` (finite, already valid on this axis) or a fixed range.
    pub(super) fn build(
        fixed: Option<(f64, f64)>,
        extent: Option<(f64, f64)>,
        log: bool,
        floor0: bool,
        name: &'static str,
    ) -> Result<Axis> {
        if let Some((lo, hi)) = fixed {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::param(
                    name,
                    format!("needs finite lo < hi, got ({lo}, {hi})"),
                ));
            }
            if log && lo <= 0.0 {
                return Err(Error::param(
                    name,
                    format!("a log axis needs lo > 0, got {lo}"),
                ));
            }
            return Ok(Axis { lo, hi, log });
        }
        let (lo, hi) = match (extent, log) {
            (None, false) => (0.0, 1.0),
            (None, true) => (1.0, 10.0),
            (Some((a, b)), false) if a == b => {
                let d = (a.abs() * 0.1).max(0.5);
                (a - d, b + d)
            }
            (Some((a, b)), true) if a == b => (a / 2.0, b * 2.0),
            (Some((a, b)), false) => {
                let pad = 0.05 * (b - a);
                let lo = if floor0 && a >= 0.0 { 0.0 } else { a - pad };
                (lo, b + pad)
            }
            (Some((a, b)), true) => {
                let r = (b / a).powf(0.05);
                (a / r, b * r)
            }
        };
        Ok(Axis { lo, hi, log })
    }
}

/// Running min / max of the finite values on one axis.
#[derive(Default)]
pub(super) struct Extent(pub(super) Option<(f64, f64)>);

impl Extent {
    pub(super) fn add(&mut self, axis_log: bool, v: f64) {
        if !v.is_finite() || (axis_log && v <= 0.0) {
            return;
        }
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((a, b)) => (a.min(v), b.max(v)),
        });
    }
}
