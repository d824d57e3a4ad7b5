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
//! A [`Var`] is an index into the tape that created it. Passing a `Var` from another
//! tape, or one created before [`Tape::clear`], to an op that returns a bare `Var`
//! panics like an out-of-range slice index (a programming error, not bad data); ops
//! returning [`Result`] and [`Tape::backward`] report it as an error instead.
use crate::{Error, Result};
use ndarray::{s, Array2, Axis, Zip};

/// Handle to a node of a [`Tape`] (its index). Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var(usize);

impl Var {
    /// Position of the node on its tape.
    pub fn index(self) -> usize {
        self.0
    }
}

#[derive(Debug, Clone)]
enum Op {
    Leaf,
    Constant,
    MatMul(usize, usize),
    AddBias(usize, usize),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    ScaleRows(usize, usize),
    Scale(usize, f64),
    AddScalar(usize),
    Square(usize),
    Relu(usize),
    Silu(usize),
    Tanh(usize),
    Softplus(usize),
    Sin(usize),
    Cos(usize),
    Exp(usize),
    ConcatCols(Vec<usize>),
    Sum(usize),
    Mean(usize),
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

/// Derivative of SiLU: `σ(x)(1 + x(1-σ(x)))`.
fn silu_deriv(x: f64) -> f64 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

fn dims(a: &Array2<f64>) -> String {
    format!("[{}, {}]", a.nrows(), a.ncols())
}

/// The tape: records values and ops, then backpropagates (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Tape {
    nodes: Vec<Node>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tape with room for `n` nodes before reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Tape {
            nodes: Vec::with_capacity(n),
        }
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Forgets every node but keeps the node buffer's allocation (reuse across steps).
    /// Every [`Var`] created before is invalidated.
    pub fn clear(&mut self) {
        self.nodes.clear();
    }

    /// The value of `v` (panics if `v` is not a node of this tape; see [`try_value`](Self::try_value)).
    pub fn value(&self, v: Var) -> &Array2<f64> {
        &self.nodes[v.0].value
    }

    /// The value of `v`, or `None` if `v` is not a node of this tape.
    pub fn try_value(&self, v: Var) -> Option<&Array2<f64>> {
        self.nodes.get(v.0).map(|n| &n.value)
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
        Var(self.nodes.len() - 1)
    }

    fn node(&self, v: Var, what: &str) -> Result<&Node> {
        self.nodes.get(v.0).ok_or_else(|| {
            Error::param(
                "var",
                format!(
                    "{what}: Var #{} does not belong to this tape ({} nodes)",
                    v.0,
                    self.nodes.len()
                ),
            )
        })
    }

    fn rg(&self, a: Var) -> bool {
        self.nodes[a.0].requires_grad
    }

    fn unary(&mut self, a: Var, op: Op, f: impl Fn(f64) -> f64) -> Var {
        let value = self.nodes[a.0].value.mapv(f);
        let rg = self.rg(a);
        self.push(value, op, rg)
    }

    fn same_shape(&self, what: &str, a: Var, b: Var) -> Result<(&Array2<f64>, &Array2<f64>)> {
        let x = &self.node(a, what)?.value;
        let y = &self.node(b, what)?.value;
        if x.dim() != y.dim() {
            return Err(Error::shape(what, dims(x), dims(y)));
        }
        Ok((x, y))
    }

    /// Matrix product `Y = A B` (`[n,k]·[k,m]`). VJP: `dA = G Bᵀ`, `dB = Aᵀ G`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let x = &self.node(a, "matmul")?.value;
        let y = &self.node(b, "matmul")?.value;
        if x.ncols() != y.nrows() {
            return Err(Error::shape(
                "matmul (rows of B must equal columns of A)",
                format!("[{}, _]", x.ncols()),
                dims(y),
            ));
        }
        let value = x.dot(y);
        let rg = self.rg(a) || self.rg(b);
        Ok(self.push(value, Op::MatMul(a.0, b.0), rg))
    }

    /// Row-broadcast bias `Y_ij = A_ij + b_j` (`A: [n,m]`, `b: [1,m]`).
    /// VJP: `dA = G`, `db = 1ᵀ G` (column sums).
    pub fn add_bias(&mut self, a: Var, b: Var) -> Result<Var> {
        let x = &self.node(a, "add_bias")?.value;
        let bias = &self.node(b, "add_bias")?.value;
        if bias.dim() != (1, x.ncols()) {
            return Err(Error::shape(
                "add_bias (bias must be one row)",
                format!("[1, {}]", x.ncols()),
                dims(bias),
            ));
        }
        let value = x + bias;
        let rg = self.rg(a) || self.rg(b);
        Ok(self.push(value, Op::AddBias(a.0, b.0), rg))
    }

    /// Elementwise sum `Y = A + B` (same shape). VJP: `dA = G`, `dB = G`.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let (x, y) = self.same_shape("add", a, b)?;
        let value = x + y;
        let rg = self.rg(a) || self.rg(b);
        Ok(self.push(value, Op::Add(a.0, b.0), rg))
    }

    /// Elementwise difference `Y = A − B` (same shape). VJP: `dA = G`, `dB = −G`.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        let (x, y) = self.same_shape("sub", a, b)?;
        let value = x - y;
        let rg = self.rg(a) || self.rg(b);
        Ok(self.push(value, Op::Sub(a.0, b.0), rg))
    }

    /// Elementwise (Hadamard) product `Y = A ⊙ B` (same shape).
    /// VJP: `dA = G ⊙ B`, `dB = G ⊙ A`.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (x, y) = self.same_shape("mul", a, b)?;
        let value = x * y;
        let rg = self.rg(a) || self.rg(b);
        Ok(self.push(value, Op::Mul(a.0, b.0), rg))
    }

    /// Per-row weighting `Y_ij = A_ij s_i` (`A: [n,m]`, `s: [n,1]`), e.g. a per-sample
    /// loss weight. VJP: `dA_ij = G_ij s_i`, `ds_i = Σ_j G_ij A_ij`.
    pub fn scale_rows(&mut self, a: Var, s: Var) -> Result<Var> {
        let x = &self.node(a, "scale_rows")?.value;
        let w = &self.node(s, "scale_rows")?.value;
        if w.dim() != (x.nrows(), 1) {
            return Err(Error::shape(
                "scale_rows (weights must be one column)",
                format!("[{}, 1]", x.nrows()),
                dims(w),
            ));
        }
        let value = x * w;
        let rg = self.rg(a) || self.rg(s);
        Ok(self.push(value, Op::ScaleRows(a.0, s.0), rg))
    }

    /// `Y = c A`. VJP: `dA = c G`.
    pub fn scale(&mut self, a: Var, c: f64) -> Var {
        self.unary(a, Op::Scale(a.0, c), |x| c * x)
    }

    /// `Y = A + c` (every entry). VJP: `dA = G`.
    pub fn add_scalar(&mut self, a: Var, c: f64) -> Var {
        self.unary(a, Op::AddScalar(a.0), |x| x + c)
    }

    /// `Y = A ⊙ A`. VJP: `dA = 2 A ⊙ G`.
    pub fn square(&mut self, a: Var) -> Var {
        self.unary(a, Op::Square(a.0), |x| x * x)
    }

    /// `Y = max(A, 0)`. VJP: `dA = G ⊙ 1[A > 0]` (subgradient 0 at the kink).
    pub fn relu(&mut self, a: Var) -> Var {
        self.unary(a, Op::Relu(a.0), relu)
    }

    /// SiLU `Y = A ⊙ σ(A)`. VJP: `dA = G ⊙ σ(A)(1 + A(1 − σ(A)))`.
    pub fn silu(&mut self, a: Var) -> Var {
        self.unary(a, Op::Silu(a.0), silu)
    }

    /// `Y = tanh A`. VJP: `dA = G ⊙ (1 − Y²)`.
    pub fn tanh(&mut self, a: Var) -> Var {
        self.unary(a, Op::Tanh(a.0), f64::tanh)
    }

    /// `Y = log(1 + e^A)` (stable form, see [`softplus`]). VJP: `dA = G ⊙ σ(A)`.
    pub fn softplus(&mut self, a: Var) -> Var {
        self.unary(a, Op::Softplus(a.0), softplus)
    }

    /// `Y = sin A`. VJP: `dA = G ⊙ cos A`.
    pub fn sin(&mut self, a: Var) -> Var {
        self.unary(a, Op::Sin(a.0), f64::sin)
    }

    /// `Y = cos A`. VJP: `dA = −G ⊙ sin A`.
    pub fn cos(&mut self, a: Var) -> Var {
        self.unary(a, Op::Cos(a.0), f64::cos)
    }

    /// `Y = e^A`. VJP: `dA = G ⊙ Y`.
    pub fn exp(&mut self, a: Var) -> Var {
        self.unary(a, Op::Exp(a.0), f64::exp)
    }

    /// Horizontal concatenation `Y = [A₁ | A₂ | …]` (same row count).
    /// VJP: `dA_k` = the columns of `G` that came from `A_k`.
    pub fn concat_cols(&mut self, parts: &[Var]) -> Result<Var> {
        let first = parts
            .first()
            .ok_or_else(|| Error::param("parts", "concat_cols needs at least one input"))?;
        let n = self.node(*first, "concat_cols")?.value.nrows();
        let mut m = 0;
        for &p in parts {
            let v = &self.node(p, "concat_cols")?.value;
            if v.nrows() != n {
                return Err(Error::shape(
                    "concat_cols (row counts)",
                    format!("[{n}, _]"),
                    dims(v),
                ));
            }
            m += v.ncols();
        }
        let mut value = Array2::zeros((n, m));
        let mut off = 0;
        for &p in parts {
            let v = &self.nodes[p.0].value;
            value.slice_mut(s![.., off..off + v.ncols()]).assign(v);
            off += v.ncols();
        }
        let rg = parts.iter().any(|&p| self.rg(p));
        let idx = parts.iter().map(|p| p.0).collect();
        Ok(self.push(value, Op::ConcatCols(idx), rg))
    }

    /// `y = Σ_ij A_ij` (1×1). VJP: `dA = g·1`.
    pub fn sum(&mut self, a: Var) -> Var {
        let value = Array2::from_elem((1, 1), self.nodes[a.0].value.sum());
        let rg = self.rg(a);
        self.push(value, Op::Sum(a.0), rg)
    }

    /// `y = (1/nm) Σ_ij A_ij` (1×1). VJP: `dA = (g/nm)·1`. Errors on an empty array.
    pub fn mean(&mut self, a: Var) -> Result<Var> {
        let x = &self.node(a, "mean")?.value;
        if x.is_empty() {
            return Err(Error::shape(
                "mean (of an empty array)",
                "non-empty",
                dims(x),
            ));
        }
        let value = Array2::from_elem((1, 1), x.sum() / x.len() as f64);
        let rg = self.rg(a);
        Ok(self.push(value, Op::Mean(a.0), rg))
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
            grads[out.0] = Some(Array2::ones((1, 1)));
        }
        for i in (0..=out.0).rev() {
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
        Ok(Gradients { grads })
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
            Op::Mul(a, b) => {
                if rg(b) {
                    self.acc(grads, b, &g * val(a));
                }
                if rg(a) {
                    self.acc(grads, a, g * val(b));
                }
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
            Op::AddScalar(a) => self.acc(grads, a, g),
            Op::Square(a) => self.acc(grads, a, self.elementwise(g, a, |x| 2.0 * x)),
            Op::Relu(a) => {
                let d = self.elementwise(g, a, |x| if x > 0.0 { 1.0 } else { 0.0 });
                self.acc(grads, a, d)
            }
            Op::Silu(a) => self.acc(grads, a, self.elementwise(g, a, silu_deriv)),
            Op::Tanh(a) => self.acc(grads, a, self.elementwise(g, i, |y| 1.0 - y * y)),
            Op::Softplus(a) => self.acc(grads, a, self.elementwise(g, a, sigmoid)),
            Op::Sin(a) => self.acc(grads, a, self.elementwise(g, a, f64::cos)),
            Op::Cos(a) => self.acc(grads, a, self.elementwise(g, a, |x| -x.sin())),
            Op::Exp(a) => self.acc(grads, a, self.elementwise(g, i, |y| y)),
            Op::ConcatCols(ref parts) => {
                let mut off = 0;
                for &p in parts {
                    let w = val(p).ncols();
                    if rg(p) {
                        self.acc(grads, p, g.slice(s![.., off..off + w]).to_owned());
                    }
                    off += w;
                }
            }
            Op::Sum(a) => {
                let d = Array2::from_elem(val(a).raw_dim(), g[[0, 0]]);
                self.acc(grads, a, d)
            }
            Op::Mean(a) => {
                let x = val(a);
                let d = Array2::from_elem(x.raw_dim(), g[[0, 0]] / x.len() as f64);
                self.acc(grads, a, d)
            }
        }
    }
}

/// The result of [`Tape::backward`]: one gradient per leaf of the tape
/// (zeros for a leaf the output does not depend on).
#[derive(Debug, Clone)]
pub struct Gradients {
    grads: Vec<Option<Array2<f64>>>,
}

impl Gradients {
    /// `∂out/∂v` if `v` is a leaf of the tape; `None` for constants, intermediate
    /// nodes (their gradients are freed during the sweep) and foreign `Var`s.
    pub fn get(&self, v: Var) -> Option<&Array2<f64>> {
        self.grads.get(v.0).and_then(Option::as_ref)
    }

    /// Like [`get`](Self::get) but moves the gradient out (no copy).
    pub fn take(&mut self, v: Var) -> Option<Array2<f64>> {
        self.grads.get_mut(v.0).and_then(Option::take)
    }
}
