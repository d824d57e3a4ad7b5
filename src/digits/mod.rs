//! Real data: the UCI optical-recognition digits (8x8 images), their seeded train/test split,
//! the network trained on them (also class-conditional, for guidance), the distances that tell
//! generation from memorisation, and the time its trainer takes per step.
mod bits;
mod classifier;
mod conditional;
mod data;
mod model;
mod nearest;
mod step_timing;

pub use bits::{
    bits_per_dim, dequantise, flow_log_p, offset_bits, ClassMixtureBaseline, FlowLogP,
    GaussianBaseline, CLASS_RIDGE, DELTA, LATTICE_TOL,
};
pub use classifier::{ClassReport, ClassifierConfig, DigitClassifier, CLASSES};
pub use conditional::{
    train_conditional_digits, ConditionalDigitsModel, LabelledScore, Labels, LABEL_DROPOUT,
};
pub use data::{Digits, DIGITS_DESCRIPTION, GREY_LEVELS, SIDE};
pub use model::{
    mean_pixel_variance, pixel_range, train_digits, DigitsModel, DigitsTrainConfig, Precision,
    Trained,
};
pub use nearest::{largest_pairwise_distance, near_copy_fraction, nearest_neighbours, NearCopy};
pub use step_timing::{time_steps, StepTimes};
