//! A conditional network `s_θ(t, x, y)` with input `[x, t, e_y]` (`e_y` one-hot, the null
//! label all zeros: [`crate::loss::labelled_dsm_batch`]) seen as a [`ScoreFn`] at one label.
use ndarray::{s, Array2, ArrayView2};

use super::ScoreFn;
use crate::error::{Error, Result};
use crate::nn::Mlp;

/// `s_θ(t, x, y)` at a fixed label `y`, or at the null label (`None`: the unconditional score).
pub struct LabelledNetScore<'a> {
    net: &'a Mlp,
    n_classes: usize,
    label: Option<usize>,
}

impl<'a> LabelledNetScore<'a> {
    /// Errors unless `label < n_classes` and `net` maps `d + 1 + n_classes` inputs to `d`
    /// outputs.
    pub fn new(net: &'a Mlp, n_classes: usize, label: Option<usize>) -> Result<Self> {
        net.validate()?;
        let d = net.output_dim();
        if net.input_dim() != d + 1 + n_classes {
            return Err(Error::shape(
                "labelled network input [x, t, one-hot]",
                d + 1 + n_classes,
                net.input_dim(),
            ));
        }
        if let Some(y) = label.filter(|&y| y >= n_classes) {
            return Err(Error::param(
                "label",
                format!("must be below {n_classes}, got {y}"),
            ));
        }
        Ok(Self {
            net,
            n_classes,
            label,
        })
    }
}

impl ScoreFn for LabelledNetScore<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(t, "t")?;
        let (n, d) = x.dim();
        let mut input = Array2::zeros((n, d + 1 + self.n_classes));
        input.slice_mut(s![.., ..d]).assign(&x);
        input.column_mut(d).fill(t);
        if let Some(y) = self.label {
            input.column_mut(d + 1 + y).fill(1.0);
        }
        crate::fast::infer::forward(self.net, input.view())
    }
}
