//! Writes every figure and every quoted number of the book into one folder
//! (`book/src/generated/` by the book command). One file per chapter.
//!
//! Numbers are written as small text files (no trailing newline) that the chapters pull in
//! with `{{#include}}`, and as JSON; figures as SVG. Everything is a function of fixed seeds.
use std::path::Path;

use crate::error::{Error, Result};
use crate::progress::ProgressBar;

pub mod ddpm;
pub mod ddpm_recipe;
pub mod digits;
pub mod digits_activation;
pub mod digits_clipping;
pub mod digits_guidance;
pub mod digits_likelihood;
pub mod digits_long_training;
pub mod digits_step_time;
pub mod digits_ve;
pub mod fast_samplers;
pub mod guidance;
pub mod guidance_2d;
pub mod guidance_cfg;
pub mod imputation;
pub mod likelihood_models;
pub mod samplers;
pub mod ve_seed;

/// Runs every chapter's experiments and writes their assets under `out`.
///
/// The chapters are independent, each a function of its own seeds, so they run on parallel
/// threads (the results do not depend on the scheduling); `progress` follows the longest one.
/// The digits chapter's step times run after them, on an otherwise idle process.
pub fn write_all(out: &Path, progress: Option<ProgressBar>) -> Result<()> {
    let joined = |r: std::thread::Result<Result<()>>| {
        r.unwrap_or_else(|_| {
            Err(Error::param(
                "book-assets",
                "a chapter's experiment thread panicked",
            ))
        })
    };
    std::thread::scope(|scope| {
        let ve = scope.spawn(|| ve_seed::write(&out.join("ve_seed"), progress).map(|_| ()));
        let dd = scope.spawn(|| {
            ddpm::write(&out.join("ddpm"), None)?;
            ddpm_recipe::write(&out.join("ddpm"))?;
            digits::write(&out.join("digits")).map(|_| ())
        });
        let fs = scope.spawn(|| {
            fast_samplers::write_parameterisations(&out.join("parameterisations"))?;
            fast_samplers::write_fast_samplers(&out.join("fast_samplers")).map(|_| ())
        });
        let dv = scope.spawn(|| {
            crate::book::experiment::digits_ve::run(
                &crate::book::experiment::digits_ve::DigitsVeConfig::book(),
            )
        });
        let dn = scope.spawn(move || {
            let network = digits::write_network(&out.join("digits"))?;
            let ve = dv
                .join()
                .map_err(|_| Error::param("book-assets", "the VE digits thread panicked"))??;
            digits_ve::write(&out.join("digits"), &ve, &network)?;
            digits_activation::write(&out.join("digits"), &ve, &network).map(|_| ())
        });
        let dg = scope.spawn(|| digits_guidance::write(&out.join("guidance")).map(|_| ()));
        let lt = scope.spawn(|| digits_long_training::write(&out.join("digits")).map(|_| ()));
        let dl = scope.spawn(|| digits_likelihood::write(&out.join("digits")).map(|_| ()));
        let sa = samplers::write(&out.join("samplers"));
        let gu = guidance::write(&out.join("guidance"))
            .and_then(|_| guidance_2d::write(&out.join("guidance_2d")))
            .and_then(|_| imputation::write(&out.join("imputation")))
            .and_then(|_| likelihood_models::write(&out.join("likelihood_models")).map(|_| ()));
        joined(ve.join())?;
        joined(dd.join())?;
        joined(fs.join())?;
        joined(dn.join())?;
        joined(dg.join())?;
        joined(lt.join())?;
        joined(dl.join())?;
        sa?;
        gu
    })?;
    // Last and alone: the step times measure the machine as well as the trainer.
    digits_step_time::write(&out.join("digits")).map(|_| ())
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
pub fn write_numbers<K: AsRef<str>>(dir: &Path, numbers: &[(K, String)]) -> Result<()> {
    for (name, value) in numbers {
        write_text(&dir.join(format!("{}.txt", name.as_ref())), value)?;
    }
    Ok(())
}

/// A sentence of a chapter's prose, checked against the run that the chapter quotes: an error
/// naming the sentence and its `section` when `ok` is false, so the book does not build with
/// prose its numbers no longer support.
pub fn claim(section: &str, ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "book prose",
            reason: format!("{section}: the claim '{what}' no longer holds: rewrite the prose"),
        })
    }
}
