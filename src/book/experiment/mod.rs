//! The book's experiments: each takes a serialisable config (with its seed) and returns
//! everything its chapter shows, so the same numbers feed figures, JSON and the prose.
pub mod ddpm_exact;
pub mod ddpm_recipe;
pub mod ddpm_seed;
pub mod digits_activation;
pub mod digits_bits;
pub mod digits_clipping;
pub mod digits_guidance;
pub mod digits_inpainting;
pub mod digits_likelihood;
pub mod digits_long_training;
pub mod digits_memorisation;
pub mod digits_network;
pub mod digits_run;
pub mod digits_step_time;
pub mod digits_ve;
pub mod fast_samplers;
pub mod guidance;
pub mod guidance_2d;
pub mod guidance_flow;
pub mod guidance_network;
pub mod imputation;
pub mod likelihood_models;
pub mod smld_seed;
pub mod vb_limit;
pub mod ve_seed;
