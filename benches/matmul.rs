//! Which matrix-multiply backend for the fused trainer? Times `C = A·B` at the shapes of one
//! training step of workload A (and its width-128 variant) with
//! - `ndarray`'s `dot` (the `matrixmultiply` crate, what the tape uses),
//! - the `gemm` crate (runtime-dispatched AVX2/AVX-512 kernels),
//! - `score_sde::fast::matmul` (the register-tiled kernel of `src/fast/gemm.rs`),
//!
//! in GFLOP/s of thread CPU time (robust to other work on a shared machine), median of 7.
//! Run: `cargo bench --bench matmul`.
use ndarray::Array2;
use score_sde::book::bench::thread_cpu_secs;
use std::time::Instant;

fn secs() -> f64 {
    thread_cpu_secs().unwrap_or_else(|| {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_secs_f64()
    })
}

/// Median GFLOP/s of `f` (one product of `flops`), repeated to fill ~150 ms per sample (the CPU clock ticks every few ms).
fn gflops(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let reps = ((0.15 * 20e9 / flops) as usize).max(1);
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = secs();
            for _ in 0..reps {
                f();
            }
            flops * reps as f64 / (secs() - t) / 1e9
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[3]
}

fn run<T>(m: usize, k: usize, n: usize, name: &str)
where
    T: score_sde::fast::Float + ndarray::LinalgScalar,
{
    let a = Array2::<T>::from_shape_fn((m, k), |(i, j)| {
        T::from_f64(((i * 7 + j * 3) % 11) as f64 * 0.1 - 0.5)
    });
    let b = Array2::<T>::from_shape_fn((k, n), |(i, j)| {
        T::from_f64(((i * 5 + j) % 13) as f64 * 0.1 - 0.6)
    });
    let mut c = Array2::<T>::zeros((m, n));
    let flops = 2.0 * (m * k * n) as f64;
    let nd = gflops(flops, || {
        c = a.dot(&b);
    });
    let (sa, sb) = (a.as_slice().unwrap(), b.as_slice().unwrap());
    let mut out = vec![T::ZERO; m * n];
    let ge = gflops(flops, || unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            sa.as_ptr(),
            1,
            k as isize,
            sb.as_ptr(),
            1,
            n as isize,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    let mut out2 = vec![T::ZERO; m * n];
    let fu = gflops(flops, || {
        score_sde::fast::matmul(m, k, n, sa, sb, &mut out2).unwrap();
    });
    let diff = out
        .iter()
        .zip(&out2)
        .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
        .fold(0.0, f64::max);
    println!(
        "matmul {name} dtype={} m={m} k={k} n={n} ndarray_gflops={nd:.1} gemm_gflops={ge:.1} fused_gflops={fu:.1} max_diff={diff:.1e}",
        T::NAME
    );
}

fn main() {
    let shapes = [
        (1024, 2, 64, "A-layer1"),
        (1024, 64, 64, "A-layer2"),
        (1024, 64, 1, "A-layer3"),
        (64, 1024, 64, "A-dW2(AtB)"),
        (256, 64, 64, "C-layer2"),
        (1024, 128, 128, "A128-layer2"),
        (1024, 32, 32, "B-layer2"),
    ];
    for (m, k, n, name) in shapes {
        run::<f64>(m, k, n, name);
    }
    for (m, k, n, name) in shapes {
        run::<f32>(m, k, n, name);
    }
}
