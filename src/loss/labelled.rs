//! The DSM batch of a conditional network for classifier-free guidance (Ho and Salimans 2022):
//! input `[x̃, t, e_y]` with `e_y` the one-hot label, replaced by the null label `0` (all
//! zeros: the unconditional model) with probability `p_drop`, so that one network learns
//! both `∇ log p_t(x | y)` and `∇ log p_t(x)`. The loss is [`super::dsm_loss_and_grad`]
//! unchanged: it reads the batch's input, whatever its width.
use ndarray::{s, Array2, ArrayView2};
use rand::{Rng, RngExt};

use super::{dsm_batch, DsmBatch};
use crate::error::{Error, Result};
use crate::sde::LinearSde;

/// [`dsm_batch`] of `x0` (its draws first), then one `U(0, 1)` per row: the label `labels[n]`
/// (one-hot among `n_classes`) is kept when it is at least `p_drop`, else the row gets the
/// null label. Errors on a label outside `0..n_classes`, a length mismatch or `p_drop`
/// outside `[0, 1]`.
pub fn labelled_dsm_batch(
    sde: &dyn LinearSde,
    x0: ArrayView2<f64>,
    labels: &[usize],
    n_classes: usize,
    p_drop: f64,
    t_eps: f64,
    rng: &mut dyn Rng,
) -> Result<DsmBatch> {
    crate::error::check_len("labels", x0.nrows(), labels.len())?;
    if !(0.0..=1.0).contains(&p_drop) {
        return Err(Error::param(
            "p_drop",
            format!("must lie in [0, 1], got {p_drop}"),
        ));
    }
    if let Some(&y) = labels.iter().find(|&&y| y >= n_classes) {
        return Err(Error::param(
            "labels",
            format!("must be below {n_classes}, got {y}"),
        ));
    }
    let mut batch = dsm_batch(sde, x0, t_eps, rng)?;
    let (n, w) = batch.input.dim();
    let mut input = Array2::zeros((n, w + n_classes));
    input.slice_mut(s![.., ..w]).assign(&batch.input);
    for (i, &y) in labels.iter().enumerate() {
        if rng.random::<f64>() >= p_drop {
            input[[i, w + y]] = 1.0;
        }
    }
    batch.input = input;
    Ok(batch)
}
