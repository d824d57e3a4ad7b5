//! Fast paths for the book's workloads: a fused, allocation-free trainer for ReLU MLPs
//! (forward, hand-written backward and Adam on preallocated buffers, generic over `f32`/`f64`,
//! the batch optionally split across threads) and a tape-free batched forward for samplers.
//!
//! They compute the same functions as the tape path (`Mlp::loss_and_grad`, `Adam::step`,
//! `Mlp::forward`) up to the order of floating-point sums; `tests/fused.rs` checks that.
pub mod dsm;
pub mod float;
pub(crate) mod gemm;
pub mod infer;
pub mod mlp;
mod simd;
mod tile;
pub mod trainer;

pub use dsm::DsmBuffers;
pub use float::Float;
pub use gemm::{fma_available, matmul};
pub use mlp::{FusedMlp, Layout};
pub use trainer::{FusedTrainer, ResidualLoss};
