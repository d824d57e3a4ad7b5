//! Real data: the UCI optical-recognition digits (8x8 images), their seeded train/test split,
//! and the distances that tell generation from memorisation.
mod data;
mod nearest;

pub use data::{Digits, DIGITS_DESCRIPTION, GREY_LEVELS, SIDE};
pub use nearest::{near_copy_fraction, nearest_neighbours, NearCopy};
