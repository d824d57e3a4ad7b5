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
            (Some((a, b)), false) if a == b && floor0 && a > 0.0 => (0.0, 1.05 * b),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &[f64], log: bool) -> Vec<String> {
        let f = TickFmt::new(ticks, log);
        ticks.iter().map(|&t| f.fmt(t)).collect()
    }

    #[test]
    fn ticks_share_one_number_of_decimals() {
        assert_eq!(
            labels(&[0.0, 0.25, 0.5, 0.75, 1.0], false),
            ["0.00", "0.25", "0.50", "0.75", "1.00"]
        );
        assert_eq!(labels(&[-10.0, 0.0, 10.0], false), ["-10", "0", "10"]);
        // Float noise does not add decimals, and a near-zero tick is a plain zero.
        assert_eq!(
            labels(&[0.1, 0.2, 0.30000000000000004], false),
            ["0.1", "0.2", "0.3"]
        );
        assert_eq!(labels(&[-0.5, -1e-17, 0.5], false), ["-0.5", "0.0", "0.5"]);
    }

    #[test]
    fn tiny_and_huge_ticks_are_scientific() {
        assert_eq!(labels(&[0.0, 1e-5, 2e-5], false), ["0", "1e-5", "2e-5"]);
        assert_eq!(
            labels(&[0.0, 1.5e-5, 3e-5], false),
            ["0", "1.5e-5", "3.0e-5"]
        );
        assert_eq!(labels(&[2e5, 4e5], false), ["2e5", "4e5"]);
        // A log axis prints each value on its own.
        assert_eq!(
            labels(&[3e-4, 0.001, 1.0, 50.0, 1e5], true),
            ["3e-4", "0.001", "1", "50", "1e5"]
        );
    }

    #[test]
    fn ranges_pad_the_data_or_check_the_fixed_one() {
        let a = Axis::build(None, Some((0.0, 10.0)), false, false, "x").unwrap();
        assert_eq!((a.lo, a.hi), (-0.5, 10.5));
        // A histogram's density axis starts at 0.
        let a = Axis::build(None, Some((0.2, 10.0)), false, true, "y").unwrap();
        assert_eq!(a.lo, 0.0);
        // Even when every bar has the same height.
        let a = Axis::build(None, Some((4.0, 4.0)), false, true, "y").unwrap();
        assert_eq!((a.lo, a.hi), (0.0, 4.2));
        // A single value gets a visible range around it; no data gives the unit range.
        let a = Axis::build(None, Some((3.0, 3.0)), false, false, "x").unwrap();
        assert!(a.lo < 3.0 && a.hi > 3.0);
        let a = Axis::build(None, None, false, false, "x").unwrap();
        assert_eq!((a.lo, a.hi), (0.0, 1.0));
        // Log padding is multiplicative, so the range stays positive.
        let a = Axis::build(None, Some((1.0, 100.0)), true, false, "x").unwrap();
        assert!(a.lo > 0.0 && a.lo < 1.0 && a.hi > 100.0);
        for (fixed, log) in [
            ((1.0, 1.0), false),
            ((f64::NAN, 1.0), false),
            ((0.0, 1.0), true),
        ] {
            assert!(matches!(
                Axis::build(Some(fixed), None, log, false, "x_range"),
                Err(Error::InvalidParameter { .. })
            ));
        }
    }

    #[test]
    fn log_axis_skips_non_positive_values() {
        let a = Axis {
            lo: 1.0,
            hi: 100.0,
            log: true,
        };
        assert_eq!(a.fwd(10.0), Some(1.0));
        assert_eq!(a.fwd(0.0), None);
        assert_eq!(a.norm(10.0), Some(0.5));
        assert_eq!(a.clamp_u(-1.0), 0.0);
        let mut e = Extent::default();
        for v in [-1.0, 0.0, 5.0, f64::NAN, 2.0] {
            e.add(true, v);
        }
        assert_eq!(e.0, Some((2.0, 5.0)));
    }
}
