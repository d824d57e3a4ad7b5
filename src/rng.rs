//! Seeded, portable random numbers: every experiment takes an explicit seed.
pub use rand::rngs::Xoshiro256PlusPlus as SeededRng;
use rand::SeedableRng;

/// A generator whose stream depends only on `seed` (Xoshiro256++, stable across platforms).
pub fn seeded(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}
