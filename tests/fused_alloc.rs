//! The fused training steps (workloads A and D, every kernel family the CPU has) allocate
//! nothing once warm on one thread (its own test binary, so that the global allocation count
//! sees no other test). On several threads a step hands one job to the rayon pool
//! (`ThreadPool::install`), whose injector queue allocates a block for every 63 jobs it has
//! taken: at most one allocation per 63 steps, which the count over 200 steps allows.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use rand::RngExt;
use score_sde::book::experiment::ve_seed::VeSeedConfig;
use score_sde::fast::{DsmBuffers, Float, FusedTrainer, Isa, SdeEpsBuffers, TimeFeatures};
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::{Ve, Vp};

/// Counts heap allocations of this test binary, except those of the test harness's own
/// thread (the process's main thread, when the test runs on another one): on a busy machine
/// it sometimes allocates while the test is measuring.
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// The Linux thread id of the thread running the test (0 before it starts).
static TEST_TID: AtomicI32 = AtomicI32::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let tid = unsafe { libc::gettid() };
        let harness = tid == unsafe { libc::getpid() } && tid != TEST_TID.load(Ordering::Relaxed);
        if !harness {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn training_steps_allocate_nothing_in_steady_state() {
    TEST_TID.store(unsafe { libc::gettid() }, Ordering::SeqCst);
    // Every trainer is kept until the end: a dropped trainer's thread pool winds down on its
    // own threads, whose exit may allocate while the next measurement runs.
    // The digits' VE draw with the input scaling c_in(t).
    let features = TimeFeatures::fourier(vec![1.0, 2.0]).unwrap();
    let mut scaled = SdeEpsBuffers::<f64>::new(64, 64, features)
        .with_input_scaling(0.3)
        .unwrap();
    let ve = Ve::new(score_sde::sde::Geometric::new(0.01, 9.6).unwrap(), 1.0).unwrap();
    let data = ndarray::Array2::<f64>::from_elem((64, 64), 0.5);
    let mut rng = seeded(2);
    assert_no_allocation("VE draw with c_in", || {
        scaled.draw(&ve, data.view(), 1e-3, &mut rng).unwrap()
    });
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    for isa in Isa::supported() {
        for threads in [1, 2] {
            keep.push(Box::new(dsm_steps(isa, threads)));
            for classes in [0, 10] {
                keep.push(Box::new(d_steps::<f64>(
                    isa,
                    threads,
                    classes,
                    Activation::Relu,
                )));
                keep.push(Box::new(d_steps::<f32>(
                    isa,
                    threads,
                    classes,
                    Activation::Relu,
                )));
            }
            let silu = Activation::Silu;
            keep.push(Box::new(d_steps::<f64>(isa, threads, 0, silu)));
            keep.push(Box::new(d_steps::<f32>(isa, threads, 0, silu)));
        }
    }
    keep.push(Box::new(d_options_steps()));
}

/// Steps counted by [`assert_allocations`] (more than three blocks of the pool's queue).
const STEPS: usize = 200;

/// Counts the allocations of [`STEPS`] steps after 3 warm-up steps; asserts there are none on
/// one thread, and at most one per 63 steps (the pool's job queue) on several.
fn assert_allocations(what: &str, threads: usize, mut step: impl FnMut()) {
    for _ in 0..3 {
        step();
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..STEPS {
        step();
    }
    let n = ALLOCS.load(Ordering::SeqCst) - before;
    // This binary has no other test running, so the count is exactly ours.
    let allowed = if threads == 1 { 0 } else { STEPS.div_ceil(63) };
    assert!(
        n <= allowed,
        "{what}: {n} allocations in {STEPS} steps (allowed {allowed})"
    );
}

fn assert_no_allocation(what: &str, step: impl FnMut()) {
    assert_allocations(what, 1, step);
}

/// Workload A's step (the seed's DSM training).
fn dsm_steps(isa: Isa, threads: usize) -> FusedTrainer<f64> {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(cfg.n_data, &mut rng);
    let net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng).unwrap();
    let adam = Adam::new(cfg.lr).unwrap();
    let mut tr = FusedTrainer::<f64>::new(&net, &adam, data.nrows(), threads)
        .unwrap()
        .with_isa(isa)
        .unwrap();
    let mut bufs = DsmBuffers::<f64>::new(data.nrows(), 1);
    assert_allocations(&format!("A {isa:?} threads {threads}"), threads, || {
        bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut rng)
            .unwrap();
        tr.step(&bufs).unwrap();
    });
    tr
}

/// Workload D's step (eps loss, VP SDE, Fourier time features, 96-256-256-256-64); with
/// `classes > 0`, the class-conditional step (one-hot label columns, labels redrawn with
/// dropout each step into a kept buffer, as `train_conditional_digits` does); ReLU or SiLU.
fn d_steps<F: Float>(isa: Isa, threads: usize, classes: usize, act: Activation) -> FusedTrainer<F> {
    let mut rng = seeded(3);
    let data = ndarray::Array2::from_shape_simple_fn((64, 64), || rng.random_range(-1.0..1.0));
    let features = TimeFeatures::gaussian_fourier(16, 16.0, &mut rng).unwrap();
    let net = Mlp::new(&[96 + classes, 256, 256, 256, 64], act, &mut rng).unwrap();
    let adam = Adam::new(1e-3).unwrap();
    let mut tr = FusedTrainer::<F>::new(&net, &adam, 64, threads)
        .unwrap()
        .with_isa(isa)
        .unwrap();
    let mut bufs = SdeEpsBuffers::<F>::labelled(64, 64, features, classes);
    let mut labels = vec![None; 64];
    let sde = Vp::song();
    let what = format!(
        "D {} {act} {isa:?} threads {threads} classes {classes}",
        F::NAME
    );
    assert_allocations(&what, threads, || {
        if classes == 0 {
            bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
        } else {
            for (i, y) in labels.iter_mut().enumerate() {
                *y = (rng.random::<f64>() >= 0.2).then_some(i % classes);
            }
            bufs.draw_labelled(&sde, data.view(), &labels, 1e-3, &mut rng)
                .unwrap();
        }
        tr.step(&bufs).unwrap();
    });
    tr
}

/// Workload D's step with both options of `SdeEpsBuffers`: dequantised rows and the
/// likelihood weighting (the time table is built before the measurement, once).
fn d_options_steps() -> FusedTrainer<f64> {
    let mut rng = seeded(4);
    let data = ndarray::Array2::from_shape_simple_fn((64, 64), || rng.random_range(-1.0..1.0));
    let features = TimeFeatures::gaussian_fourier(16, 16.0, &mut rng).unwrap();
    let net = Mlp::new(&[96, 256, 256, 256, 64], Activation::Relu, &mut rng).unwrap();
    let mut tr = FusedTrainer::<f64>::new(&net, &Adam::new(1e-3).unwrap(), 64, 1).unwrap();
    let sde = Vp::song();
    let mut bufs = SdeEpsBuffers::<f64>::new(64, 64, features)
        .with_dequantisation(0.125)
        .unwrap()
        .with_likelihood_weighting(&sde, 1e-3)
        .unwrap();
    assert_no_allocation("D dequantised, likelihood-weighted", || {
        bufs.draw(&sde, data.view(), 1e-3, &mut rng).unwrap();
        tr.step(&bufs).unwrap();
    });
    tr
}
