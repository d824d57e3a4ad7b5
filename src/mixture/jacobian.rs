//! Exact derivatives of a mixture's score by forward mode: the score written generically over
//! [`Float`], so dual numbers carry exact Jacobian-vector products and the exact divergence
//! (`d` passes). [`crate::score::ExactScore`] uses them in place of central differences.
use autodiff::{Float, F1};
use ndarray::{Array1, Array2, ArrayView2};

use super::GaussianMixture;
use crate::error::Result;
use crate::sde::check_same;

impl GaussianMixture {
    /// `∇ log p(x) = Σ_i r_i(x) (m_i - x) / s_i^2` at one point, generic over [`Float`], with the
    /// responsibilities `r_i` computed by a stable softmax of the log joint densities.
    pub fn score_generic<T: Float>(&self, x: &[T]) -> Vec<T> {
        let (k, d) = (self.n_components(), self.dim());
        let (m, s) = (self.means(), self.stds());
        let half = T::from(0.5).unwrap();
        let logj: Vec<T> = (0..k)
            .map(|i| {
                let mut acc = T::from(self.weights()[i].ln()).unwrap();
                for (j, &xj) in x.iter().enumerate() {
                    let sd = s[[i, j]];
                    let z = (xj - T::from(m[[i, j]]).unwrap()) / T::from(sd).unwrap();
                    acc = acc - half * z * z - T::from(sd.ln()).unwrap();
                }
                acc
            })
            .collect();
        let mx = logj
            .iter()
            .copied()
            .fold(T::neg_infinity(), |a, b| if b > a { b } else { a });
        let e: Vec<T> = logj.iter().map(|&l| (l - mx).exp()).collect();
        let z = e.iter().fold(T::zero(), |a, &b| a + b);
        let mut out = vec![T::zero(); d];
        for i in 0..k {
            let r = e[i] / z;
            for j in 0..d {
                let v = T::from(s[[i, j]] * s[[i, j]]).unwrap();
                out[j] = out[j] + r * (T::from(m[[i, j]]).unwrap() - x[j]) / v;
            }
        }
        out
    }

    /// `J v` per row for the score of the mixture, by forward mode: the dual input
    /// `x + ε v` carries the directional derivative through [`score_generic`](GaussianMixture::score_generic).
    pub fn score_jvp(&self, x: ArrayView2<f64>, v: ArrayView2<f64>) -> Result<Array2<f64>> {
        check_x(self, &x)?;
        check_same("jvp: direction", x.dim(), v.dim())?;
        let mut out = Array2::zeros(x.dim());
        for (r, (xr, vr)) in x.rows().into_iter().zip(v.rows()).enumerate() {
            let dual: Vec<F1> = xr.iter().zip(vr).map(|(&a, &b)| F1::new(a, b)).collect();
            for (j, sj) in self.score_generic(&dual).iter().enumerate() {
                out[[r, j]] = sj.deriv();
            }
        }
        Ok(out)
    }

    /// The exact divergence `Σ_j ∂s_j/∂x_j` per row for the score of the mixture, by `d`
    /// forward-mode passes (one per coordinate).
    pub fn score_divergence(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        check_x(self, &x)?;
        let d = x.ncols();
        Ok(x.rows()
            .into_iter()
            .map(|xr| {
                (0..d)
                    .map(|j| {
                        let dual: Vec<F1> = xr
                            .iter()
                            .enumerate()
                            .map(|(i, &a)| if i == j { F1::var(a) } else { F1::cst(a) })
                            .collect();
                        self.score_generic(&dual)[j].deriv()
                    })
                    .sum()
            })
            .collect())
    }
}

fn check_x(p: &GaussianMixture, x: &ArrayView2<f64>) -> Result<()> {
    if x.ncols() != p.dim() {
        return Err(crate::error::Error::shape(
            "mixture input",
            format!("[n, {}]", p.dim()),
            format!("{:?}", x.dim()),
        ));
    }
    crate::error::all_finite(x.iter(), "mixture input")
}
