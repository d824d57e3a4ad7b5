//! Multilayer perceptron `f(x) = W_L(… φ(W_2 φ(W_1 x + b_1) + b_2) …) + b_L` acting on
//! rows: a batch is an `[n, d_in]` array and the output is `[n, d_out]`.
use crate::tape::{self, Tape, Var};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;
use std::fmt;
use std::str::FromStr;

/// Pointwise nonlinearity `φ` applied after every hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `x σ(x)` (swish).
    Silu,
    /// `tanh x`.
    Tanh,
    /// `log(1 + e^x)`, computed stably.
    Softplus,
    /// `x` (a linear network).
    Identity,
}

impl Activation {
    /// `φ(x)`; the same scalar functions as the [`Tape`] ops, so both paths agree bitwise.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Relu => tape::relu(x),
            Activation::Silu => tape::silu(x),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => tape::softplus(x),
            Activation::Identity => x,
        }
    }

    /// Lower-case name, as stored in weight files (`"relu"`, `"silu"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Identity => "identity",
        }
    }

    /// Records `φ(v)` on a tape; errors if `v` is not a node of `tape`.
    pub fn on_tape(self, tape: &mut Tape, v: Var) -> Result<Var> {
        match self {
            Activation::Relu => tape.relu(v),
            Activation::Silu => tape.silu(v),
            Activation::Tanh => tape.tanh(v),
            Activation::Softplus => tape.softplus(v),
            Activation::Identity => tape.value(v).map(|_| v),
        }
    }

    fn apply_inplace(self, a: &mut Array2<f64>) {
        match self {
            Activation::Relu => a.mapv_inplace(tape::relu),
            Activation::Silu => a.mapv_inplace(tape::silu),
            Activation::Tanh => a.mapv_inplace(f64::tanh),
            Activation::Softplus => a.mapv_inplace(tape::softplus),
            Activation::Identity => {}
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            "tanh" => Ok(Activation::Tanh),
            "softplus" => Ok(Activation::Softplus),
            "identity" | "linear" => Ok(Activation::Identity),
            _ => Err(Error::param(
                "activation",
                format!("unknown activation `{s}` (relu, silu, tanh, softplus, identity)"),
            )),
        }
    }
}

/// Affine layer `y = x W + b` on rows: `w` is `[in, out]`, `b` is `[1, out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Weights, `[in, out]`.
    pub w: Array2<f64>,
    /// Bias row, `[1, out]`.
    pub b: Array2<f64>,
}

/// Dense network: `activation` after every hidden layer, identity after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Layers in order, input first.
    pub layers: Vec<Dense>,
    /// Hidden-layer nonlinearity.
    pub activation: Activation,
}

fn check_sizes(sizes: &[usize]) -> Result<()> {
    if sizes.len() < 2 {
        return Err(Error::param(
            "sizes",
            format!("need at least [input, output], got {sizes:?}"),
        ));
    }
    if sizes.contains(&0) {
        return Err(Error::param(
            "sizes",
            format!("every layer width must be > 0, got {sizes:?}"),
        ));
    }
    Ok(())
}

impl Mlp {
    /// Network with layer widths `sizes = [d_in, h_1, …, d_out]`, Glorot-uniform weights
    /// `W ~ U(−a, a)`, `a = √(6/(fan_in + fan_out))` (Glorot & Bengio, AISTATS 2010,
    /// eq. 16) and zero biases. Errors on fewer than two sizes or a zero width.
    pub fn new<R: rand::Rng + ?Sized>(
        sizes: &[usize],
        activation: Activation,
        rng: &mut R,
    ) -> Result<Mlp> {
        check_sizes(sizes)?;
        let layers = sizes
            .windows(2)
            .map(|p| {
                let a = (6.0 / (p[0] + p[1]) as f64).sqrt();
                Dense {
                    w: Array2::from_shape_simple_fn((p[0], p[1]), || rng.random_range(-a..a)),
                    b: Array2::zeros((1, p[1])),
                }
            })
            .collect();
        Ok(Mlp { layers, activation })
    }

    /// Builds a network from given layers, checking that their shapes chain.
    pub fn from_layers(layers: Vec<Dense>, activation: Activation) -> Result<Mlp> {
        let mlp = Mlp { layers, activation };
        mlp.validate()?;
        Ok(mlp)
    }

    /// Checks that there is at least one layer, that every bias is `[1, out]` and that
    /// each layer's input width equals the previous output width.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(Error::param("layers", "an Mlp needs at least one layer"));
        }
        let mut width = self.layers[0].w.nrows();
        for (i, l) in self.layers.iter().enumerate() {
            if l.w.nrows() != width || l.w.is_empty() {
                return Err(Error::shape(
                    format!("Mlp layer {i} weight"),
                    format!("[{width}, >0]"),
                    format!("[{}, {}]", l.w.nrows(), l.w.ncols()),
                ));
            }
            width = l.w.ncols();
            if l.b.dim() != (1, width) {
                return Err(Error::shape(
                    format!("Mlp layer {i} bias"),
                    format!("[1, {width}]"),
                    format!("[{}, {}]", l.b.nrows(), l.b.ncols()),
                ));
            }
        }
        Ok(())
    }

    /// Layer widths `[d_in, h_1, …, d_out]` (empty if there are no layers).
    pub fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .layers
            .first()
            .map(|l| l.w.nrows())
            .into_iter()
            .collect();
        s.extend(self.layers.iter().map(|l| l.w.ncols()));
        s
    }

    /// Input width `d_in` (0 if there are no layers).
    pub fn input_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.w.nrows())
    }

    /// Output width `d_out` (0 if there are no layers).
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.w.ncols())
    }

    /// Total number of scalar parameters `Σ (in·out + out)`.
    pub fn num_parameters(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Parameter arrays in the order `[w0, b0, w1, b1, …]`.
    pub fn parameters(&self) -> Vec<&Array2<f64>> {
        self.layers.iter().flat_map(|l| [&l.w, &l.b]).collect()
    }

    /// Mutable parameter arrays in the order of [`parameters`](Self::parameters).
    pub fn parameters_mut(&mut self) -> Vec<&mut Array2<f64>> {
        self.layers
            .iter_mut()
            .flat_map(|l| [&mut l.w, &mut l.b])
            .collect()
    }

    fn check_input(&self, cols: usize) -> Result<()> {
        self.validate()?;
        if cols != self.input_dim() {
            return Err(Error::shape(
                "Mlp input columns",
                format!("[_, {}]", self.input_dim()),
                format!("[_, {cols}]"),
            ));
        }
        Ok(())
    }

    /// Inference on a batch `x: [n, d_in]` → `[n, d_out]`, without a tape: one matmul
    /// per layer, then bias and activation in place.
    // ANCHOR: mlp_forward
    pub fn forward(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_input(x.ncols())?;
        let last = self.layers.len() - 1;
        let mut h = x.dot(&self.layers[0].w);
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                h = h.dot(&l.w);
            }
            h += &l.b;
            if i < last {
                self.activation.apply_inplace(&mut h);
            }
        }
        Ok(h)
    }
    // ANCHOR_END: mlp_forward

    /// Records the network applied to `x` on `tape`, with the parameters as leaves.
    /// Returns the output and the parameter `Var`s in the order of
    /// [`parameters`](Self::parameters).
    pub fn forward_tape(&self, tape: &mut Tape, x: Var) -> Result<(Var, Vec<Var>)> {
        let cols = tape.value(x)?.ncols();
        self.check_input(cols)?;
        let last = self.layers.len() - 1;
        let mut params = Vec::with_capacity(2 * self.layers.len());
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            let w = tape.leaf(l.w.clone());
            let b = tape.leaf(l.b.clone());
            params.extend([w, b]);
            h = tape.matmul(h, w)?;
            h = tape.add_bias(h, b)?;
            if i < last {
                h = self.activation.on_tape(tape, h)?;
            }
        }
        Ok((h, params))
    }

    /// Loss and its gradient: runs the network on `x` (a constant), applies `loss` to
    /// the output `Var`, backpropagates, and returns the loss value with one gradient
    /// per parameter, in the order of [`parameters`](Self::parameters).
    /// `loss` must return a 1×1 `Var`.
    pub fn loss_and_grad<F>(&self, x: ArrayView2<f64>, loss: F) -> Result<(f64, Vec<Array2<f64>>)>
    where
        F: FnOnce(&mut Tape, Var) -> Result<Var>,
    {
        let mut tape = Tape::with_capacity(5 * self.layers.len() + 16);
        let xv = tape.constant(x.to_owned());
        let (out, params) = self.forward_tape(&mut tape, xv)?;
        let l = loss(&mut tape, out)?;
        let mut g = tape.backward(l)?;
        let value = tape.value(l)?[[0, 0]];
        let grads = params
            .into_iter()
            .map(|p| g.take(p))
            .collect::<Result<Vec<_>>>()?;
        Ok((value, grads))
    }
}
