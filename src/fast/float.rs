//! The scalar type of the fused kernels: `f64` (the library's default) or `f32`.
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A floating-point scalar the fused network code is generic over (`f32` or `f64`).
pub trait Float:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// The smallest positive normal number.
    const MIN_POSITIVE: Self;
    /// Values per 256-bit vector register (8 for `f32`, 4 for `f64`): sets the kernel tile width.
    const LANES: usize;
    /// `"f32"` or `"f64"`, as printed by the benchmark.
    const NAME: &'static str;
    /// Rounds an `f64` to this type.
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// `√x`.
    fn sqrt(self) -> Self;
    /// `a·b + c` with one rounding (an FMA instruction where the kernels enable it).
    fn mul_add(a: Self, b: Self, c: Self) -> Self;
    /// `true` for finite values.
    fn is_finite(self) -> bool;

    /// `0` for a subnormal `x` (or `±0`), else `x` (Adam's moments are flushed: the doc of
    /// `nn::Adam` says why).
    #[inline(always)]
    fn flush_subnormal(self) -> Self {
        if self > -Self::MIN_POSITIVE && self < Self::MIN_POSITIVE {
            Self::ZERO
        } else {
            self
        }
    }
}

macro_rules! impl_float {
    ($t:ty, $lanes:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const LANES: usize = $lanes;
            const NAME: &'static str = stringify!($t);
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn mul_add(a: Self, b: Self, c: Self) -> Self {
                <$t>::mul_add(a, b, c)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

impl_float!(f32, 8);
impl_float!(f64, 4);

#[cfg(test)]
mod tests {
    use super::Float;

    /// The flush keeps the smallest normal numbers of either sign and zeroes everything
    /// strictly between them (the subnormals of both signs).
    fn flush_boundaries<F: Float>() {
        let min = F::MIN_POSITIVE.to_f64();
        for (x, kept) in [
            (min, true),
            (-min, true),
            (min / 2.0, false),
            (-min / 2.0, false),
            (0.0, false),
            (1.0, true),
        ] {
            let x = F::from_f64(x);
            let want = if kept { x } else { F::ZERO };
            assert_eq!(
                x.flush_subnormal().to_f64().to_bits(),
                want.to_f64().to_bits()
            );
        }
    }

    #[test]
    fn flush_subnormal_keeps_the_normals_and_zeroes_the_rest() {
        flush_boundaries::<f32>();
        flush_boundaries::<f64>();
    }
}
