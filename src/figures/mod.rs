//! Writes every figure and every quoted number of the book into one folder
//! (`book/src/generated/` by the book command). One file per chapter.
//!
//! Numbers are written as small text files (no trailing newline) that the chapters pull in
//! with `{{#include}}`, and as JSON; figures as SVG. Everything is a function of fixed seeds.
use std::path::Path;

use crate::error::{Error, Result};
use crate::progress::ProgressBar;

pub mod ddpm;
pub mod samplers;
pub mod ve_seed;

/// Runs every chapter's experiments and writes their assets under `out`.
pub fn write_all(out: &Path, progress: Option<ProgressBar>) -> Result<()> {
    ve_seed::write(&out.join("ve_seed"), progress.clone())?;
    samplers::write(&out.join("samplers"))?;
    ddpm::write(&out.join("ddpm"), progress)?;
    Ok(())
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })
}

/// Writes `text` to `path`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes each `(name, value)` as `dir/name.txt`, a number for inline quotes.
pub fn write_numbers(dir: &Path, numbers: &[(&str, String)]) -> Result<()> {
    for (name, value) in numbers {
        write_text(&dir.join(format!("{name}.txt")), value)?;
    }
    Ok(())
}
