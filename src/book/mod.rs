//! The book's machinery: experiments, figures, plots, benchmarks and notebook helpers.
//!
//! Everything here *uses* the mathematics (`sde`, `mixture`, `score`, `sampling`, ...) to produce
//! what the book, the notebooks and the CLI show; nothing in the mathematics depends on it.
pub mod bench;
pub mod experiment;
pub mod figures;
pub mod notebook;
pub mod plot;
