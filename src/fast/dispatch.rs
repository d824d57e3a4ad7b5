//! Which vector kernels the fused path runs, chosen at run time from the CPU's features.
//!
//! [`Isa`] names the three kernel families: AVX-512 (`avx512f`, 32 registers of 512 bits),
//! AVX2 + FMA (16 registers of 256 bits) and portable Rust. [`Isa::detected`] is the best the
//! CPU has (asked once per process, then cached); [`Isa::active`] is what the fused trainer and
//! `infer` use by default: the detected one, or the `SCORE_SDE_ISA` environment variable
//! (`avx512`, `avx2`, `portable`) when it names a family the CPU has, so that a benchmark can
//! compare the paths on one machine. A trainer can also be given one with
//! [`FusedTrainer::with_isa`](super::FusedTrainer::with_isa).
//!
//! Every path sums each product in increasing order of the reduction index; the AVX-512 and
//! AVX2 paths use one fused multiply-add per product and give the same bits, the portable one a
//! multiply then an add (`tests` in `gemm` checks this).
//!
//! [`run`] is the one place that calls a kernel compiled for a feature set: it runs a
//! [`Kernel`] body monomorphised for the chosen family inside a `#[target_feature]` function,
//! and never for a family the CPU lacks (it falls back to the detected one).
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A family of vector kernels, ordered: each one's CPU features include the previous one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, a multiply then an add per product (any CPU).
    Portable,
    /// AVX2 + FMA tiles (`x86-64-v3`).
    Avx2Fma,
    /// AVX-512F tiles, with the AVX2 tiles for leftover columns.
    Avx512,
}

/// `Isa` as the const parameter of the kernels.
pub(crate) const PORTABLE: u8 = 0;
pub(crate) const AVX2: u8 = 1;
pub(crate) const AVX512: u8 = 2;

/// The environment variable read by [`Isa::active`].
pub const ISA_ENV: &str = "SCORE_SDE_ISA";

impl Isa {
    /// Every family, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2Fma, Isa::Avx512];

    /// `"portable"`, `"avx2"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The family named `s` (as [`name`](Self::name) writes it); errors on another name.
    pub fn parse(s: &str) -> Result<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim())
            .ok_or_else(|| {
                Error::param(
                    "isa",
                    format!("expected portable, avx2 or avx512, got {s:?}"),
                )
            })
    }

    /// The best family this CPU has (detected once per process).
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(detect)
    }

    /// True when the CPU has this family's features.
    pub fn is_supported(self) -> bool {
        self <= Isa::detected()
    }

    /// Every family this CPU has, slowest first (the kernel tests run them all).
    pub fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported())
    }

    /// This family if the CPU has it; errors otherwise.
    pub fn checked(self) -> Result<Isa> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(Error::param(
                "isa",
                format!(
                    "{} is not available on this CPU (best: {})",
                    self.name(),
                    Isa::detected().name()
                ),
            ))
        }
    }

    /// The family the fused path uses by default: [`ISA_ENV`] when set, else the detected
    /// one. Errors when the variable names an unknown family or one the CPU lacks.
    pub fn active() -> Result<Isa> {
        static ACTIVE: OnceLock<std::result::Result<Isa, String>> = OnceLock::new();
        ACTIVE
            .get_or_init(|| match std::env::var(ISA_ENV) {
                Ok(v) => Isa::parse(&v)
                    .and_then(Isa::checked)
                    .map_err(|e| format!("{ISA_ENV}: {e}")),
                Err(_) => Ok(Isa::detected()),
            })
            .clone()
            .map_err(|e| Error::param("isa", e))
    }
}

fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            if has!("avx512f") {
                return Isa::Avx512;
            }
            return Isa::Avx2Fma;
        }
    }
    Isa::Portable
}

/// A kernel body, monomorphised for one family (`ISA` is [`PORTABLE`], [`AVX2`] or
/// [`AVX512`]) and run by [`run`]. Implementations mark `run` `#[inline(always)]`, so that it
/// is compiled inside the `#[target_feature]` function of its family.
pub(crate) trait Kernel {
    type Out;
    fn run<const ISA: u8>(self) -> Self::Out;
}

/// Runs `k` with the kernels of `isa`, or of the best family the CPU has if it lacks `isa`.
#[inline]
pub(crate) fn run<K: Kernel>(isa: Isa, k: K) -> K::Out {
    match isa.min(Isa::detected()) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::detected()` is at least `Avx512`: the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { run_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::detected()` is at least `Avx2Fma`: the CPU has AVX2 and FMA.
        Isa::Avx2Fma => unsafe { run_avx2(k) },
        _ => k.run::<PORTABLE>(),
    }
}

/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<K: Kernel>(k: K) -> K::Out {
    k.run::<AVX512>()
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: Kernel>(k: K) -> K::Out {
    k.run::<AVX2>()
}
