//! The fused training step allocates nothing once warm (its own test binary, so that the
//! global allocation count sees no other test).
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use score_sde::book::experiment::ve_seed::VeSeedConfig;
use score_sde::fast::{DsmBuffers, FusedTrainer};
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::Ve;

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
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(cfg.n_data, &mut rng);
    let net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng).unwrap();
    for threads in [1, 2] {
        let adam = Adam::new(cfg.lr).unwrap();
        let mut tr = FusedTrainer::<f64>::new(&net, &adam, data.nrows(), threads).unwrap();
        let mut bufs = DsmBuffers::<f64>::new(data.nrows(), 1);
        let mut step = |rng: &mut score_sde::rng::SeededRng| {
            bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, rng)
                .unwrap();
            tr.step(&bufs).unwrap()
        };
        for _ in 0..3 {
            step(&mut rng);
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..20 {
            step(&mut rng);
        }
        let n = ALLOCS.load(Ordering::SeqCst) - before;
        // This binary has no other test running, so the count is exactly ours.
        assert_eq!(n, 0, "threads {threads}: {n} allocations in 20 steps");
    }
}
