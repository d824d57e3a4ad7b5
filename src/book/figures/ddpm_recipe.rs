//! The DDPM chapter's recipe table: the seed's example trained from several seeds, with and
//! without `k/K` and the EMA, each network's exact-law W1 against the exact `eps*`'s.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::ddpm_recipe::{run, DdpmRecipeConfig, DdpmRecipeReport};
use crate::error::{Error, Result};

/// Writes `recipe.md`, its numbers and `recipe.json` under `dir` (the ddpm folder).
pub fn write(dir: &Path) -> Result<DdpmRecipeReport> {
    create_dir(dir)?;
    let r = run(&DdpmRecipeConfig::book())?;
    let n = r.config.seeds.len();
    let mut t = format!(
        "| step input, weights | exact-law W1 per seed (seed 4004 first) | median of W1 / W1(eps*) | seeds within 2x |\n|---|---|---|---|\n| exact eps* | {:.3} | 1 | - |\n",
        r.exact_w1
    );
    for row in &r.rows {
        let w: Vec<String> = row.w1.iter().map(|w| format!("{w:.3}")).collect();
        t += &format!(
            "| {} | {} | {:.2} | {} of {n} |\n",
            row.variant,
            w.join(" "),
            row.median_ratio,
            row.within_2x
        );
    }
    write_text(&dir.join("recipe.md"), &t)?;
    let get = |v: &str| {
        r.rows
            .iter()
            .find(|row| row.variant == v)
            .ok_or_else(|| Error::param("recipe", format!("no row {v}")))
    };
    let (seed, best) = (get("raw k, raw weights")?, get("k / K, EMA weights")?);
    let (raw_ema, scaled_raw) = (get("raw k, EMA weights")?, get("k / K, raw weights")?);
    let ratios: Vec<f64> = seed.w1.iter().map(|w| w / r.exact_w1).collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    // The chapter's sentences: the seed's runs range from within 2x to over 3x; the recipe's
    // median is within 2x, the seed's is not, and the recipe is within 2x on more seeds; the
    // EMA lowers the median for either step input.
    if !(lo <= 2.0
        && hi >= 3.0
        && best.median_ratio <= 2.0
        && seed.median_ratio > 2.0
        && best.within_2x > seed.within_2x
        && raw_ema.median_ratio < seed.median_ratio
        && best.median_ratio < scaled_raw.median_ratio)
    {
        return Err(Error::param(
            "ddpm chapter",
            "the claim 'the recipe brings the median within 2x' no longer holds: rewrite the prose",
        ));
    }
    write_numbers(
        dir,
        &[
            ("recipe_seeds", n.to_string()),
            ("recipe_exact_w1", format!("{:.3}", r.exact_w1)),
            ("recipe_seed_median", format!("{:.1}", seed.median_ratio)),
            ("recipe_best_median", format!("{:.1}", best.median_ratio)),
            ("recipe_best_within", best.within_2x.to_string()),
            ("recipe_ema", format!("{}", r.config.ema_decay)),
        ],
    )?;
    write_text(&dir.join("recipe.json"), &serde_json::to_string_pretty(&r)?)?;
    Ok(r)
}
