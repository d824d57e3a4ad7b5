//! Fast paths for the book's workloads: a fused trainer for ReLU and SiLU MLPs
//! (forward, hand-written backward and Adam on preallocated buffers, generic over `f32`/`f64`,
//! the batch optionally split across threads) and a tape-free batched forward for samplers.
//!
//! They compute the same functions as the tape path (`Mlp::loss_and_grad`, `Adam::step`,
//! `Mlp::forward`) up to the order of floating-point sums; `tests/fused.rs` checks that.
//!
//! Modules depend on each other in one direction: `trainer` → `batch` → `features`,
//! `likelihood_times`; `trainer`
//! → `elementwise`, `mlp`, `gemm`;
//! `infer` → `mlp`, `gemm`; `mlp` → `gemm`, `silu`; `gemm` → `dispatch`, `simd`, `simd512` → `tile` (the operands all use).
//! `dispatch` chooses the kernel family ([`Isa`]) once per process from the CPU's features.
mod batch;
mod dispatch;
mod elementwise;
mod features;
mod float;
mod gemm;
mod gemv;
pub mod infer;
mod likelihood_times;
mod mlp;
mod silu;
mod simd;
mod simd512;
mod tile;
mod trainer;

pub(crate) use batch::round_into;
pub use batch::{input_scale, DsmBuffers, FusedBatch, ResidualLoss, SdeEpsBuffers};
pub use dispatch::{Isa, ISA_ENV};
pub use features::TimeFeatures;
pub use float::Float;
#[doc(hidden)]
pub use gemm::{matmul, matmul_isa};
pub use likelihood_times::{likelihood_weight, LikelihoodTimes};
pub use mlp::FusedMlp;
pub use trainer::FusedTrainer;
