//! Reverse-mode automatic differentiation over `Array2<f64>`: a Wengert list ("tape").
//!
//! Every op appends a node holding its output value and the indices of its inputs.
//! [`Tape::backward`] walks the nodes in reverse order and applies each op's
//! vector-Jacobian product (VJP): given `G = ∂L/∂Y` for the op's output `Y`, it adds
//! `∂L/∂X = Gᵀ·∂Y/∂X` to the gradient of every input `X` (Griewank & Walther,
//! *Evaluating Derivatives*, 2nd ed., 2008, ch. 3). Contributions are summed, so a
//! [`Var`] used several times receives the sum of its uses.
//!
//! Scalars are `1×1` arrays; `⊙` below denotes the elementwise product.
//!
//! A [`Var`] names its node and the tape that made it: each tape has an id of its own (a
//! process-wide counter), renewed by [`Tape::clear`]. Every op, [`Tape::value`],
//! [`Tape::backward`] and [`Gradients::get`] checks it, so a `Var` of another tape, or of
//! this tape before `clear`, is an [`Error::ForeignVar`], never a silent read of the wrong
//! node. The check is one comparison per input.
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};
use ndarray::{Array2, ArrayView1, Axis, Zip};

/// The next tape id (ids are never reused within a process).
static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(0);

fn fresh_id() -> u64 {
    NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed)
}

/// Handle to a node of a [`Tape`]: the tape's id and the node's position. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    tape: u64,
    index: usize,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Leaf,
    Constant,
    MatMul(usize, usize),
    AddBias(usize, usize),
    Add(usize, usize),
    Sub(usize, usize),
    ScaleRows(usize, usize),
    Scale(usize, f64),
    Square(usize),
    Relu(usize),
    Silu(usize),
    Tanh(usize),
    Softplus(usize),
    Sum(usize),
    Mean(usize),
    SoftmaxXent(usize, usize),
}

#[derive(Debug, Clone)]
struct Node {
    value: Array2<f64>,
    op: Op,
    /// True if some leaf is upstream of this node (constants and their functions: false).
    requires_grad: bool,
}

/// Logistic sigmoid `σ(x) = 1/(1+e^{-x})`, evaluated without overflow for any `x`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softplus `log(1+e^x) = max(x,0) + log1p(e^{-|x|})` (stable: no overflow, no cancellation).
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// SiLU (swish) `x·σ(x)`.
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

/// ReLU `max(x, 0)`.
pub fn relu(x: f64) -> f64 {
    x.max(0.0)
}

/// `log Σ_c e^{a_c}` of one row, shifted by the maximum (no overflow).
fn log_sum_exp(a: ArrayView1<f64>) -> f64 {
    crate::mixture::log_sum_exp(a.iter().copied())
}

/// Derivative of SiLU: `σ(x)(1 + x(1-σ(x)))`.
fn silu_deriv(x: f64) -> f64 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

fn dims(a: &Array2<f64>) -> String {
    format!("[{}, {}]", a.nrows(), a.ncols())
}

/// The tape: records values and ops, then backpropagates (see the module docs).
#[derive(Debug)]
pub struct Tape {
    /// This tape's id, in every [`Var`] it hands out; renewed by [`clear`](Self::clear).
    id: u64,
    nodes: Vec<Node>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tape with room for `n` nodes before reallocating.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Tape {
            id: fresh_id(),
            nodes: Vec::with_capacity(n),
        }
    }

    /// Forgets every node but keeps the node buffer's allocation (reuse across steps).
    /// Every [`Var`] created before is invalidated: using it is an [`Error::ForeignVar`].
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.id = fresh_id();
    }

    /// The value of `v`; errors if `v` is not a node of this tape.
    pub fn value(&self, v: Var) -> Result<&Array2<f64>> {
        Ok(&self.node(v, "value")?.value)
    }

    /// A differentiable input (a parameter or data whose gradient is wanted).
    pub fn leaf(&mut self, value: Array2<f64>) -> Var {
        self.push(value, Op::Leaf, true)
    }

    /// An input whose gradient is not needed; ops depending only on constants are not
    /// differentiated at all.
    pub fn constant(&mut self, value: Array2<f64>) -> Var {
        self.push(value, Op::Constant, false)
    }

    fn push(&mut self, value: Array2<f64>, op: Op, requires_grad: bool) -> Var {
        self.nodes.push(Node {
            value,
            op,
            requires_grad,
        });
        Var {
            tape: self.id,
            index: self.nodes.len() - 1,
        }
    }

    /// The node of `v`, or [`Error::ForeignVar`] if `v` is not from this tape (since its last
    /// `clear`).
    fn node(&self, v: Var, what: &str) -> Result<&Node> {
        let foreign = || Error::ForeignVar {
            what: format!("Tape::{what}"),
        };
        if v.tape != self.id {
            return Err(foreign());
        }
        self.nodes.get(v.index).ok_or_else(foreign)
    }

    /// `Y = f(A)` elementwise, recorded as `op`.
    fn unary(&mut self, what: &str, a: Var, op: Op, f: impl Fn(f64) -> f64) -> Result<Var> {
        let x = self.node(a, what)?;
        let (value, rg) = (x.value.mapv(f), x.requires_grad);
        Ok(self.push(value, op, rg))
    }

    /// The nodes of `a` and `b`, which must have the same shape.
    fn same_shape(&self, what: &str, a: Var, b: Var) -> Result<(&Node, &Node)> {
        let x = self.node(a, what)?;
        let y = self.node(b, what)?;
        if x.value.dim() != y.value.dim() {
            return Err(Error::shape(what, dims(&x.value), dims(&y.value)));
        }
        Ok((x, y))
    }

    /// Matrix product `Y = A B` (`[n,k]·[k,m]`). VJP: `dA = G Bᵀ`, `dB = Aᵀ G`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let x = self.node(a, "matmul")?;
        let y = self.node(b, "matmul")?;
        if x.value.ncols() != y.value.nrows() {
            return Err(Error::shape(
                "matmul (rows of B must equal columns of A)",
                format!("[{}, _]", x.value.ncols()),
                dims(&y.value),
            ));
        }
        let (value, rg) = (x.value.dot(&y.value), x.requires_grad || y.requires_grad);
        Ok(self.push(value, Op::MatMul(a.index, b.index), rg))
    }

    /// Row-broadcast bias `Y_ij = A_ij + b_j` (`A: [n,m]`, `b: [1,m]`).
    /// VJP: `dA = G`, `db = 1ᵀ G` (column sums).
    pub fn add_bias(&mut self, a: Var, b: Var) -> Result<Var> {
        let x = self.node(a, "add_bias")?;
        let bias = self.node(b, "add_bias")?;
        if bias.value.dim() != (1, x.value.ncols()) {
            return Err(Error::shape(
                "add_bias (bias must be one row)",
                format!("[1, {}]", x.value.ncols()),
                dims(&bias.value),
            ));
        }
        let (value, rg) = (
            &x.value + &bias.value,
            x.requires_grad || bias.requires_grad,
        );
        Ok(self.push(value, Op::AddBias(a.index, b.index), rg))
    }

    /// Elementwise sum `Y = A + B` (same shape). VJP: `dA = G`, `dB = G`.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let (x, y) = self.same_shape("add", a, b)?;
        let (value, rg) = (&x.value + &y.value, x.requires_grad || y.requires_grad);
        Ok(self.push(value, Op::Add(a.index, b.index), rg))
    }

    /// Elementwise difference `Y = A − B` (same shape). VJP: `dA = G`, `dB = −G`.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        let (x, y) = self.same_shape("sub", a, b)?;
        let (value, rg) = (&x.value - &y.value, x.requires_grad || y.requires_grad);
        Ok(self.push(value, Op::Sub(a.index, b.index), rg))
    }

    /// Per-row weighting `Y_ij = A_ij s_i` (`A: [n,m]`, `s: [n,1]`), e.g. a per-sample
    /// loss weight. VJP: `dA_ij = G_ij s_i`, `ds_i = Σ_j G_ij A_ij`.
    pub fn scale_rows(&mut self, a: Var, s: Var) -> Result<Var> {
        let x = self.node(a, "scale_rows")?;
        let w = self.node(s, "scale_rows")?;
        if w.value.dim() != (x.value.nrows(), 1) {
            return Err(Error::shape(
                "scale_rows (weights must be one column)",
                format!("[{}, 1]", x.value.nrows()),
                dims(&w.value),
            ));
        }
        let (value, rg) = (&x.value * &w.value, x.requires_grad || w.requires_grad);
        Ok(self.push(value, Op::ScaleRows(a.index, s.index), rg))
    }

    /// `Y = c A`. VJP: `dA = c G`.
    pub fn scale(&mut self, a: Var, c: f64) -> Result<Var> {
        self.unary("scale", a, Op::Scale(a.index, c), |x| c * x)
    }

    /// `Y = A ⊙ A`. VJP: `dA = 2 A ⊙ G`.
    pub fn square(&mut self, a: Var) -> Result<Var> {
        self.unary("square", a, Op::Square(a.index), |x| x * x)
    }

    /// `Y = max(A, 0)`. VJP: `dA = G ⊙ 1[A > 0]` (subgradient 0 at the kink).
    pub fn relu(&mut self, a: Var) -> Result<Var> {
        self.unary("relu", a, Op::Relu(a.index), relu)
    }

    /// SiLU `Y = A ⊙ σ(A)`. VJP: `dA = G ⊙ σ(A)(1 + A(1 − σ(A)))`.
    pub fn silu(&mut self, a: Var) -> Result<Var> {
        self.unary("silu", a, Op::Silu(a.index), silu)
    }

    /// `Y = tanh A`. VJP: `dA = G ⊙ (1 − Y²)`.
    pub fn tanh(&mut self, a: Var) -> Result<Var> {
        self.unary("tanh", a, Op::Tanh(a.index), f64::tanh)
    }

    /// `Y = log(1 + e^A)` (stable form, see [`softplus`]). VJP: `dA = G ⊙ σ(A)`.
    pub fn softplus(&mut self, a: Var) -> Result<Var> {
        self.unary("softplus", a, Op::Softplus(a.index), softplus)
    }

    /// `y = Σ_ij A_ij` (1×1). VJP: `dA = g·1`.
    pub fn sum(&mut self, a: Var) -> Result<Var> {
        let x = self.node(a, "sum")?;
        let (value, rg) = (Array2::from_elem((1, 1), x.value.sum()), x.requires_grad);
        Ok(self.push(value, Op::Sum(a.index), rg))
    }

    /// `y = (1/nm) Σ_ij A_ij` (1×1). VJP: `dA = (g/nm)·1`. Errors on an empty array.
    pub fn mean(&mut self, a: Var) -> Result<Var> {
        let x = self.node(a, "mean")?;
        if x.value.is_empty() {
            return Err(Error::shape(
                "mean (of an empty array)",
                "non-empty",
                dims(&x.value),
            ));
        }
        let value = Array2::from_elem((1, 1), x.value.sum() / x.value.len() as f64);
        let rg = x.requires_grad;
        Ok(self.push(value, Op::Mean(a.index), rg))
    }

    /// Mean cross-entropy of the row-wise softmax of logits `A` against target distributions
    /// `T` (rows of `[n, k]`, e.g. one-hot labels; a constant):
    /// `y = -(1/n) Σ_i Σ_c T_ic log softmax(A_i)_c`, with `log softmax(a)_c = a_c - logsumexp(a)`
    /// (shifted by the row maximum: no overflow). VJP: `dA = (g/n)(softmax(A) rowsum(T) - T)`.
    /// Errors on shapes that differ, on an empty batch, and on a `T` that needs a gradient.
    pub fn softmax_cross_entropy(&mut self, a: Var, t: Var) -> Result<Var> {
        let (x, y) = self.same_shape("softmax_cross_entropy", a, t)?;
        if x.value.is_empty() {
            return Err(Error::shape(
                "softmax_cross_entropy (of an empty batch)",
                "non-empty",
                dims(&x.value),
            ));
        }
        if y.requires_grad {
            return Err(Error::param(
                "t",
                "the targets of softmax_cross_entropy must be a constant",
            ));
        }
        let mut total = 0.0;
        for (row, target) in x.value.rows().into_iter().zip(y.value.rows()) {
            let lse = log_sum_exp(row);
            total -= row
                .iter()
                .zip(target)
                .map(|(a, t)| t * (a - lse))
                .sum::<f64>();
        }
        let value = Array2::from_elem((1, 1), total / x.value.nrows() as f64);
        let rg = x.requires_grad;
        Ok(self.push(value, Op::SoftmaxXent(a.index, t.index), rg))
    }

    /// Backpropagates from the 1×1 output `out`: returns `∂out/∂v` for every leaf `v`.
    ///
    /// Nodes are visited in reverse creation order (a topological order, since inputs
    /// always precede outputs), so each node's gradient is complete before its VJP runs.
    pub fn backward(&self, out: Var) -> Result<Gradients> {
        let o = self.node(out, "backward")?;
        if o.value.dim() != (1, 1) {
            return Err(Error::shape(
                "backward (output must be a scalar)",
                "[1, 1]",
                dims(&o.value),
            ));
        }
        let mut grads: Vec<Option<Array2<f64>>> = vec![None; self.nodes.len()];
        if o.requires_grad {
            grads[out.index] = Some(Array2::ones((1, 1)));
        }
        for i in (0..=out.index).rev() {
            let node = &self.nodes[i];
            if !node.requires_grad || matches!(node.op, Op::Leaf | Op::Constant) {
                continue;
            }
            // Intermediate gradients are consumed (moved into an input or dropped).
            if let Some(g) = grads[i].take() {
                self.vjp(i, g, &mut grads);
            }
        }
        for (g, node) in grads.iter_mut().zip(&self.nodes) {
            if matches!(node.op, Op::Leaf) && g.is_none() {
                *g = Some(Array2::zeros(node.value.raw_dim()));
            }
        }
        Ok(Gradients {
            tape: self.id,
            grads,
        })
    }

    /// Adds `g` to the gradient of node `i` (if it needs one).
    fn acc(&self, grads: &mut [Option<Array2<f64>>], i: usize, g: Array2<f64>) {
        if !self.nodes[i].requires_grad {
            return;
        }
        match &mut grads[i] {
            Some(acc) => *acc += &g,
            slot => *slot = Some(g),
        }
    }

    /// `G ⊙ f(input)`, computed in place in `g`.
    fn elementwise(&self, mut g: Array2<f64>, x: usize, f: impl Fn(f64) -> f64) -> Array2<f64> {
        Zip::from(&mut g)
            .and(&self.nodes[x].value)
            .for_each(|g, &x| *g *= f(x));
        g
    }

    fn vjp(&self, i: usize, g: Array2<f64>, grads: &mut [Option<Array2<f64>>]) {
        let val = |j: usize| &self.nodes[j].value;
        let rg = |j: usize| self.nodes[j].requires_grad;
        match self.nodes[i].op {
            Op::Leaf | Op::Constant => {}
            Op::MatMul(a, b) => {
                if rg(b) {
                    self.acc(grads, b, val(a).t().dot(&g));
                }
                if rg(a) {
                    self.acc(grads, a, g.dot(&val(b).t()));
                }
            }
            Op::AddBias(a, b) => {
                if rg(b) {
                    self.acc(grads, b, g.sum_axis(Axis(0)).insert_axis(Axis(0)));
                }
                self.acc(grads, a, g);
            }
            Op::Add(a, b) => {
                if rg(b) {
                    self.acc(grads, b, g.clone());
                }
                self.acc(grads, a, g);
            }
            Op::Sub(a, b) => {
                if rg(b) {
                    self.acc(grads, b, -&g);
                }
                self.acc(grads, a, g);
            }
            Op::ScaleRows(a, s) => {
                if rg(s) {
                    let ds = (&g * val(a)).sum_axis(Axis(1)).insert_axis(Axis(1));
                    self.acc(grads, s, ds);
                }
                if rg(a) {
                    self.acc(grads, a, g * val(s));
                }
            }
            Op::Scale(a, c) => self.acc(grads, a, g * c),
            Op::Square(a) => self.acc(grads, a, self.elementwise(g, a, |x| 2.0 * x)),
            Op::Relu(a) => {
                let d = self.elementwise(g, a, |x| if x > 0.0 { 1.0 } else { 0.0 });
                self.acc(grads, a, d)
            }
            Op::Silu(a) => self.acc(grads, a, self.elementwise(g, a, silu_deriv)),
            Op::Tanh(a) => self.acc(grads, a, self.elementwise(g, i, |y| 1.0 - y * y)),
            Op::Softplus(a) => self.acc(grads, a, self.elementwise(g, a, sigmoid)),
            Op::Sum(a) => {
                let d = Array2::from_elem(val(a).raw_dim(), g[[0, 0]]);
                self.acc(grads, a, d)
            }
            Op::Mean(a) => {
                let x = val(a);
                let d = Array2::from_elem(x.raw_dim(), g[[0, 0]] / x.len() as f64);
                self.acc(grads, a, d)
            }
            Op::SoftmaxXent(a, t) => {
                let (x, target) = (val(a), val(t));
                let c = g[[0, 0]] / x.nrows() as f64;
                let mut d = Array2::zeros(x.raw_dim());
                for ((mut d, row), target) in
                    d.rows_mut().into_iter().zip(x.rows()).zip(target.rows())
                {
                    let (lse, mass) = (log_sum_exp(row), target.sum());
                    for ((d, a), t) in d.iter_mut().zip(row).zip(target) {
                        *d = c * ((a - lse).exp() * mass - t);
                    }
                }
                self.acc(grads, a, d)
            }
        }
    }
}

/// The result of [`Tape::backward`]: one gradient per leaf of the tape
/// (zeros for a leaf the output does not depend on).
#[derive(Debug, Clone)]
pub struct Gradients {
    /// The id of the tape (as of the backward pass) whose `Var`s these are.
    tape: u64,
    grads: Vec<Option<Array2<f64>>>,
}

impl Gradients {
    /// The slot of `v`: [`Error::ForeignVar`] unless `v` is from the tape (and generation)
    /// that ran the backward pass.
    fn slot(&self, v: Var, what: &str) -> Result<usize> {
        if v.tape == self.tape && v.index < self.grads.len() {
            Ok(v.index)
        } else {
            Err(Error::ForeignVar {
                what: format!("Gradients::{what}"),
            })
        }
    }

    /// `∂out/∂v` for a leaf `v`. Errors on a `Var` of another tape, and on one with no
    /// gradient: a constant, an intermediate node (their gradients are freed during the
    /// sweep) or a gradient already [`take`](Self::take)n.
    pub fn get(&self, v: Var) -> Result<&Array2<f64>> {
        let i = self.slot(v, "get")?;
        self.grads[i].as_ref().ok_or_else(|| no_gradient(i))
    }

    /// Like [`get`](Self::get) but moves the gradient out (no copy).
    pub fn take(&mut self, v: Var) -> Result<Array2<f64>> {
        let i = self.slot(v, "take")?;
        self.grads[i].take().ok_or_else(|| no_gradient(i))
    }
}

fn no_gradient(i: usize) -> Error {
    Error::param(
        "var",
        format!("node {i} has no gradient: it is a constant or an intermediate node, or its gradient was taken"),
    )
}
