//! Every sampler of the book behind one shape: a score, the starting states and one
//! decreasing time grid in, the final states and the number of score evaluations (NFE) out,
//! the way k-diffusion's `sample_*(model, x, sigmas)` functions are called. The NFE study is a
//! loop over a list of [`Sampler`]s; a new sampler is one variant here and one function.
use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ddim::ddim;
use super::dpm_solver::{dpm_solver, dpm_solver_pp_2m};
use super::edm::{euler, heun, rk4_sigma, Churn};
use super::sigma::{check_grid, t_of_sigma, to_x, to_y, Model};
use super::{LangevinCorrector, Predictor};
use crate::error::{Error, Result};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// A sampler of the reverse process.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// Euler-Maruyama for the reverse SDE, in `t`.
    EulerMaruyama,
    /// Reverse diffusion (the discretised forward step reversed).
    ReverseDiffusion,
    /// Ancestral sampling of the discrete chain.
    Ancestral,
    /// Reverse diffusion then one Langevin corrector step of this signal-to-noise ratio at
    /// each new time, except a time where `zeta = 0` (the last one of a grid that ends at
    /// `t = 0`; [`super::pc_sample`] corrects there too).
    Pc { snr: f64 },
    /// DDIM with this `eta`.
    Ddim { eta: f64 },
    /// Euler in sigma (EDM Algorithm 1 without the correction).
    Euler,
    /// Heun in sigma (EDM Algorithm 1).
    Heun,
    /// Heun with churn (EDM Algorithm 2) at this `S_churn` (other settings neutral).
    HeunChurn { s_churn: f64 },
    /// Singlestep DPM-Solver of order 1, 2 or 3.
    DpmSolver { order: usize },
    /// DPM-Solver++(2M).
    DpmSolverPp2m,
    /// Classical RK4 in sigma.
    Rk4,
    /// Adaptive Dormand-Prince 5(4) in sigma from the first to the last grid point, with
    /// `rtol = atol = tol` (the grid's interior points are not used).
    Dopri5 { tol: f64 },
}

/// The names accepted by [`Sampler::parse`] (and `score-sde sample --sampler`).
pub const SAMPLER_NAMES: [&str; 14] = [
    "em",
    "reverse-diffusion",
    "ancestral",
    "pc",
    "ddim",
    "ddim-eta1",
    "euler",
    "heun",
    "heun-churn",
    "dpm-solver-1",
    "dpm-solver-2",
    "dpm-solver-3",
    "dpm-solver++2m",
    "rk4",
];

impl Sampler {
    /// The sampler of a name in [`SAMPLER_NAMES`] or `dopri5`, with default settings
    /// (PC: snr 0.16; churn: `S_churn = 1`; Dopri5: tolerance 1e-6).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "em" => Sampler::EulerMaruyama,
            "reverse-diffusion" => Sampler::ReverseDiffusion,
            "ancestral" => Sampler::Ancestral,
            "pc" => Sampler::Pc { snr: 0.16 },
            "ddim" => Sampler::Ddim { eta: 0.0 },
            "ddim-eta1" => Sampler::Ddim { eta: 1.0 },
            "euler" => Sampler::Euler,
            "heun" => Sampler::Heun,
            "heun-churn" => Sampler::HeunChurn { s_churn: 1.0 },
            "dpm-solver-1" => Sampler::DpmSolver { order: 1 },
            "dpm-solver-2" => Sampler::DpmSolver { order: 2 },
            "dpm-solver-3" => Sampler::DpmSolver { order: 3 },
            "dpm-solver++2m" => Sampler::DpmSolverPp2m,
            "rk4" => Sampler::Rk4,
            "dopri5" => Sampler::Dopri5 { tol: 1e-6 },
            other => {
                return Err(Error::param(
                    "sampler",
                    format!(
                        "unknown sampler {other:?}; one of {}, dopri5",
                        SAMPLER_NAMES.join(", ")
                    ),
                ))
            }
        })
    }

    /// A label for figures and tables.
    pub fn label(&self) -> String {
        match *self {
            Sampler::EulerMaruyama => "Euler-Maruyama".into(),
            Sampler::ReverseDiffusion => "reverse diffusion".into(),
            Sampler::Ancestral => "ancestral".into(),
            Sampler::Pc { .. } => "PC (rev. diff. + Langevin)".into(),
            Sampler::Ddim { eta: 0.0 } => "DDIM".into(),
            Sampler::Ddim { eta } => format!("DDIM eta={eta}"),
            Sampler::Euler => "Euler (sigma)".into(),
            Sampler::Heun => "Heun (EDM)".into(),
            Sampler::HeunChurn { s_churn } => format!("Heun churn {s_churn}"),
            Sampler::DpmSolver { order } => format!("DPM-Solver-{order}"),
            Sampler::DpmSolverPp2m => "DPM-Solver++(2M)".into(),
            Sampler::Rk4 => "RK4 (sigma)".into(),
            Sampler::Dopri5 { tol } => format!("Dopri5 tol={tol:e}"),
        }
    }

    /// Whether the output is a deterministic function of the starting states.
    pub fn is_deterministic(&self) -> bool {
        match *self {
            Sampler::Ddim { eta } => eta == 0.0,
            Sampler::EulerMaruyama
            | Sampler::ReverseDiffusion
            | Sampler::Ancestral
            | Sampler::Pc { .. }
            | Sampler::HeunChurn { .. } => false,
            _ => true,
        }
    }

    // ANCHOR: run
    /// Runs the sampler from the states `x` at `ts[0]` over the decreasing times `ts`;
    /// returns the states at the last time and the number of score evaluations.
    pub fn run(
        &self,
        sde: &dyn LinearSde,
        score: &dyn ScoreFn,
        x: Array2<f64>,
        ts: &[f64],
        rng: &mut dyn Rng,
    ) -> Result<(Array2<f64>, usize)> {
        check_grid(sde, ts)?;
        let model = Model::new(sde, score);
        let out = match *self {
            Sampler::EulerMaruyama => {
                predictor(&model, Predictor::EulerMaruyama, None, x, ts, rng)?
            }
            Sampler::ReverseDiffusion => {
                predictor(&model, Predictor::ReverseDiffusion, None, x, ts, rng)?
            }
            Sampler::Ancestral => predictor(&model, Predictor::Ancestral, None, x, ts, rng)?,
            Sampler::Pc { snr } => {
                let c = LangevinCorrector { snr, n_steps: 1 };
                predictor(&model, Predictor::ReverseDiffusion, Some(c), x, ts, rng)?
            }
            Sampler::Ddim { eta } => ddim(&model, x, ts, eta, rng)?,
            Sampler::Euler => euler(&model, x, ts)?,
            Sampler::Heun => heun(&model, x, ts, &Churn::none(), rng)?,
            Sampler::HeunChurn { s_churn } => {
                let c = Churn {
                    s_churn,
                    ..Churn::none()
                };
                heun(&model, x, ts, &c, rng)?
            }
            Sampler::DpmSolver { order } => dpm_solver(&model, x, ts, order)?,
            Sampler::DpmSolverPp2m => dpm_solver_pp_2m(&model, x, ts)?,
            Sampler::Rk4 => rk4_sigma(&model, x, ts)?,
            Sampler::Dopri5 { tol } => dopri5_sigma(&model, x, ts, tol)?,
        };
        crate::error::all_finite(out.iter(), "sampler output")?;
        Ok((out, model.nfe()))
    }
    // ANCHOR_END: run
}

/// A predictor (and corrector) sampler in `x` over the grid; the score is never evaluated at
/// the last time.
fn predictor(
    model: &Model,
    p: Predictor,
    corrector: Option<LangevinCorrector>,
    mut x: Array2<f64>,
    ts: &[f64],
    rng: &mut dyn Rng,
) -> Result<Array2<f64>> {
    let score = model.score;
    let mut extra = 0;
    for w in ts.windows(2) {
        // Through `Model::eps` so that the evaluation is counted: s = -eps / zeta.
        let zeta = model.sde.kernel_std(w[0]);
        let y = to_y(model.sde, w[0], x.clone());
        let s = model.eps(w[0], y.view())? / (-zeta);
        p.step(model.sde, &mut x, s.view(), w[0], w[1], rng)?;
        if let Some(c) = &corrector {
            if model.sde.kernel_var(w[1]) > 0.0 {
                let (a, _) = super::transition(model.sde, w[0], w[1])?;
                extra += c.correct(score, w[1], a * a, &mut x, rng)?;
            }
        }
    }
    model.add_nfe(extra);
    Ok(x)
}

/// Dormand-Prince 5(4) on `dy/dsigma = eps` from `sigma(ts[0])` to `sigma(ts[N])`.
fn dopri5_sigma(model: &Model, x: Array2<f64>, ts: &[f64], tol: f64) -> Result<Array2<f64>> {
    let (t0, t1) = (ts[0], ts[ts.len() - 1]);
    let y = to_y(model.sde, t0, x);
    let sol = crate::ode::dopri5(
        |s, y| model.eps(t_of_sigma(model.sde, s.max(0.0))?, y),
        model.sigma(t0),
        model.sigma(t1),
        y,
        &crate::ode::Dopri5Options::new(tol, tol),
    )?;
    Ok(to_x(model.sde, t1, sol.y))
}
