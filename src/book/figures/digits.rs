//! The digits chapter's figures and numbers: the data, and what the exact empirical score
//! samples (copies of training images), measured by nearest-neighbour distances.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::digits_bits::{self, BitsConfig, BitsReport};
use crate::book::experiment::digits_memorisation::{
    run, stack, MemorisationConfig, MemorisationReport,
};
use crate::book::experiment::digits_network::{
    run_keeping_networks, DigitsNetworkConfig, DigitsNetworkReport,
};
use crate::book::plot::{Chart, ImageGrid};
use crate::digits::{Digits, SIDE};
use crate::error::Result;

/// Writes the chapter's assets under `dir`.
pub fn write(dir: &Path) -> Result<MemorisationReport> {
    create_dir(dir)?;
    let digits = Digits::book()?;
    let first: Vec<Vec<f64>> = (0..32).map(|i| digits.train.row(i).to_vec()).collect();
    ImageGrid::new(stack(&first), SIDE, 16, (-1.0, 1.0))?.save(dir.join("train_grid"))?;
    write_text(
        &dir.join("description.txt"),
        crate::digits::DIGITS_DESCRIPTION,
    )?;
    write_numbers(
        dir,
        &[
            ("n_train", digits.train.nrows().to_string()),
            ("n_test", digits.test.nrows().to_string()),
        ],
    )?;

    let r = run(&MemorisationConfig::book())?;
    let mut t = String::from(
        "| training images | median distance, sample to nearest training image | median distance, test image to nearest training image | near-copies among samples | near-copies among test images | distinct training images copied | expected if drawn uniformly |\n|---|---|---|---|---|---|---|\n",
    );
    let mut chart = Chart::new("Test images: distance to the nearest training image")
        .x_label("Euclidean distance (pixels in [-1, 1])")
        .y_label("density");
    for row in &r.rows {
        t += &format!(
            "| {} | {:.1e} | {:.2} | {:.0}% | {:.0}% | {} | {:.1} |\n",
            row.n_train,
            row.sample_nn_median,
            row.test_nn_median,
            100.0 * row.sample_copies,
            100.0 * row.test_copies,
            row.distinct_copied,
            row.distinct_expected
        );
        chart = chart.histogram(
            format!("{} training images", row.n_train),
            row.test_nn.clone(),
            30,
            None,
        );
    }
    write_text(&dir.join("memorisation.md"), &t)?;
    chart
        .vline("near-copy threshold", r.threshold)
        .save_svg(dir.join("nn_distances.svg"), (900, 560))?;
    // Samples (top row) over their nearest training images (bottom row), 8 pairs per band.
    if !r.samples.is_empty() {
        let (top, bottom) = (stack(&r.samples), stack(&r.nearest_train));
        ImageGrid::pairs(top.view(), bottom.view(), SIDE, 8, (-1.0, 1.0))?
            .save(dir.join("oracle_pairs"))?;
    }
    let largest = r.rows.last();
    write_numbers(
        dir,
        &[
            ("mem_threshold", format!("{:.1}", r.threshold)),
            ("mem_samples", r.config.n_samples.to_string()),
            ("mem_steps", r.config.steps.to_string()),
            (
                "mem_copies_largest",
                largest.map_or(String::new(), |row| {
                    format!("{:.0}%", 100.0 * row.sample_copies)
                }),
            ),
        ],
    )?;
    write_text(
        &dir.join("memorisation.json"),
        &serde_json::to_string_pretty(&r)?,
    )?;
    Ok(r)
}

/// Writes the network half of the chapter under `dir` (trains three networks: a minute or two
/// on two cores).
pub fn write_network(dir: &Path) -> Result<DigitsNetworkReport> {
    create_dir(dir)?;
    let t0 = std::time::Instant::now();
    let (r, networks) = run_keeping_networks(&DigitsNetworkConfig::book(), None)?;
    let seconds = t0.elapsed().as_secs_f64();
    write_bits(dir, &networks)?;
    super::digits_clipping::write(
        dir,
        &networks,
        (
            floor_of(&r.real),
            r.real
                .first()
                .map_or(f64::NAN, |q| q.classes.mean_confidence),
        ),
    )?;
    let mut t = String::from(
        "| training images | time input | sampler | weights | median distance to nearest training image | same for test images | near-copies | pixel range |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in &r.rows {
        t += &format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.0}% | [{:.1}, {:.1}] |\n",
            row.n_train,
            row.time_input,
            row.sampler,
            row.weights,
            row.sample_nn_median,
            row.test_nn_median,
            100.0 * row.copies,
            row.pixel_range.0,
            row.pixel_range.1
        );
    }
    write_text(&dir.join("network.md"), &t)?;
    write_text(&dir.join("quality.md"), &quality_table(&r))?;
    let z = quality_claims(&r)?;
    for (n, samples, nearest) in &r.grids {
        let top = stack(samples).mapv(|p| p.clamp(-1.0, 1.0));
        ImageGrid::pairs(top.view(), stack(nearest).view(), SIDE, 8, (-1.0, 1.0))?
            .save(dir.join(format!("network_pairs_{n}")))?;
    }
    let c = &r.config;
    let mut numbers = vec![
        ("net_steps".to_string(), c.train.steps.to_string()),
        ("net_batch".to_string(), c.train.batch.to_string()),
        ("net_lr".to_string(), format!("{}", c.train.lr)),
        ("net_ema".to_string(), format!("{}", c.train.ema_decay)),
        ("net_hidden".to_string(), format!("{:?}", c.train.hidden)),
        (
            "net_frequencies".to_string(),
            c.train.frequencies.to_string(),
        ),
        ("net_scale".to_string(), format!("{}", c.train.scale)),
        ("net_samples".to_string(), c.n_samples.to_string()),
        ("net_seconds".to_string(), format!("{seconds:.0}")),
        (
            "clf_accuracy".to_string(),
            format!("{:.1}%", 100.0 * r.classifier_accuracy),
        ),
        (
            "clf_hidden".to_string(),
            format!("{:?}", c.classifier.hidden),
        ),
        ("clf_steps".to_string(), c.classifier.steps.to_string()),
    ];
    for (name, v) in z {
        numbers.push((name, format!("{v:.1}")));
    }
    for (n, l) in &r.final_loss {
        numbers.push((format!("net_loss_{n}"), format!("{l:.3}")));
    }
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("network.json"),
        &serde_json::to_string_pretty(&r)?,
    )?;
    Ok(r)
}

/// The classifier's verdict on each set of samples, with real images as the reference rows.
fn quality_table(r: &DigitsNetworkReport) -> String {
    let counts = |h: &[usize]| {
        h.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut t = String::from(
        "| images | count per class, 0 to 9 | mean confidence | Fréchet², pixels | Fréchet², features |\n|---|---|---|---|---|\n",
    );
    t += &format!(
        "| the {} test images | `{}` | {:.3} | 0 | 0 |\n",
        r.test_classes.histogram.iter().sum::<usize>(),
        counts(&r.test_classes.histogram),
        r.test_classes.mean_confidence
    );
    let q = &r.real[0];
    let (px, ft) = floor(r);
    t += &format!(
        "| {} real training images (the floor: mean ± sd over {} draws) | `{}` | {:.3} | {:.2} ± {:.2} | {:.2} ± {:.2} |\n",
        q.classes.histogram.iter().sum::<usize>(),
        r.real.len(),
        counts(&q.classes.histogram),
        q.classes.mean_confidence,
        px.0,
        px.1,
        ft.0,
        ft.1
    );
    for row in &r.rows {
        let q = &row.quality;
        t += &format!(
            "| network on {} images ({}), {}, {} | `{}` | {:.3} | {:.2} | {:.2} |\n",
            row.n_train,
            row.time_input,
            row.sampler,
            row.weights,
            counts(&q.classes.histogram),
            q.classes.mean_confidence,
            q.fd_pixels,
            q.fd_features
        );
    }
    t
}

/// Mean and sample standard deviation of the floor's Fréchet distances (pixels, features).
fn floor(r: &DigitsNetworkReport) -> ((f64, f64), (f64, f64)) {
    floor_of(&r.real)
}

/// Mean and sample standard deviation of the Fréchet distances of real-image draws, in pixels
/// and in features: the floor a sample's distance is read against.
pub(crate) fn floor_of(
    real: &[crate::book::experiment::digits_network::Quality],
) -> ((f64, f64), (f64, f64)) {
    let stats = |v: Vec<f64>| {
        let (m, se) = crate::metrics::mean_se(&v);
        (m, se * (v.len() as f64).sqrt())
    };
    (
        stats(real.iter().map(|q| q.fd_pixels).collect()),
        stats(real.iter().map(|q| q.fd_features).collect()),
    )
}

/// Checks the sentences of "What the classifier shows" against the run and returns the EMA
/// comparison in floor spreads, `(fd - floor mean) / floor sd`, for the ancestral samples of
/// the network trained on the largest set (`ema_z_{px,ft}_{raw,ema}`). An error names the
/// sentence that no longer holds.
fn quality_claims(r: &DigitsNetworkReport) -> Result<Vec<(String, f64)>> {
    let claim = |ok: bool, what: &str| super::claim("digits chapter", ok, what);
    let ((px, px_sd), (ft, ft_sd)) = floor(r);
    let real_conf = r.real[0].classes.mean_confidence;
    let largest = r.rows.iter().map(|row| row.n_train).max().unwrap_or(0);
    let mut z = vec![];
    for row in r.rows.iter().filter(|row| row.time_input == "Fourier") {
        let q = &row.quality;
        if row.sampler.starts_with("ancestral") {
            claim(q.classes.histogram.iter().all(|&c| c > 0), "every class")?;
            claim(q.classes.mean_confidence < real_conf, "less confident")?;
            if row.n_train == largest {
                let w = row.weights.to_lowercase();
                z.push((format!("ema_z_px_{w}"), (q.fd_pixels - px) / px_sd));
                z.push((format!("ema_z_ft_{w}"), (q.fd_features - ft) / ft_sd));
            }
        } else {
            claim(
                q.fd_pixels > 10.0 * px && q.fd_features > 10.0 * ft,
                "far off by an order of magnitude",
            )?;
        }
    }
    // Raw t against Fourier features: the EMA ancestral samples of the largest set are
    // closer to the test images with Fourier features, in both spaces; the deterministic
    // sampler is far off with either time input.
    let ema_ancestral = |input: &str| {
        r.rows.iter().find(|row| {
            row.time_input == input
                && row.n_train == largest
                && row.weights == "EMA"
                && row.sampler.starts_with("ancestral")
        })
    };
    if let (Some(f), Some(raw)) = (ema_ancestral("Fourier"), ema_ancestral("raw t")) {
        claim(
            f.quality.fd_pixels < raw.quality.fd_pixels
                && f.quality.fd_features < raw.quality.fd_features,
            "Fourier features closer than raw t",
        )?;
    }
    for row in r
        .rows
        .iter()
        .filter(|row| !row.sampler.starts_with("ancestral"))
    {
        claim(
            row.quality.fd_pixels > 10.0 * px && row.quality.fd_features > 10.0 * ft,
            "far off with either time input",
        )?;
    }
    let get = |k: &str| z.iter().find(|(n, _)| n == k).map_or(f64::NAN, |p| p.1);
    claim(
        get("ema_z_px_raw") > get("ema_z_px_ema") + 3.0
            && get("ema_z_ft_raw") > get("ema_z_ft_ema") + 3.0,
        "EMA matters here",
    )?;
    Ok(z)
}

/// The starting times of the flow in the bits-per-dimension sweep (the first is the book's).
const BITS_T_MINS: [f64; 4] = [1e-3, 1e-2, 3e-2, 1e-1];

/// Test bits per dimension of the network trained on the largest set (raw and EMA weights)
/// beside the baselines: `bits.md`, the network's ODE cost, `bits.json`.
fn write_bits(dir: &Path, networks: &[(usize, crate::digits::Trained)]) -> Result<BitsReport> {
    let sde = crate::sde::Vp::song();
    let (n, trained) = networks
        .iter()
        .max_by_key(|(n, _)| *n)
        .ok_or_else(|| crate::Error::param("networks", "none trained"))?;
    let model = |net: &crate::nn::Mlp| trained.model(net, &sde);
    let (raw, ema) = (model(&trained.net), model(&trained.ema));
    let (raw_name, ema_name) = (
        format!("network on {n} images, raw weights"),
        format!("network on {n} images, EMA weights"),
    );
    let config = BitsConfig::book();
    let digits = Digits::book()?;
    let r = digits_bits::run(
        &[(raw_name.as_str(), &raw), (ema_name.as_str(), &ema)],
        &sde,
        &digits,
        &config,
    )?;
    let mut t = String::from("| model | test bits per dimension |\n|---|---|\n");
    for row in &r.rows {
        t += &format!("| {} | {:.3} ± {:.3} |\n", row.model, row.bpd, row.se);
    }
    write_text(&dir.join("bits.md"), &t)?;
    // The same networks' densities at later times of the forward process: each p_t is a
    // density on the dequantised images, so each gives a valid bound.
    let mut sweep = String::from(
        "| flow starts at t | zeta(t) | raw weights | EMA weights |\n|---|---|---|---|\n",
    );
    let mut by_t = vec![];
    for t in BITS_T_MINS {
        let c = BitsConfig {
            t_min: t,
            ..config.clone()
        };
        let rt = if t == config.t_min {
            r.clone()
        } else {
            digits_bits::run(
                &[(raw_name.as_str(), &raw), (ema_name.as_str(), &ema)],
                &sde,
                &digits,
                &c,
            )?
        };
        let (a, b) = (&rt.rows[3], &rt.rows[4]);
        sweep += &format!(
            "| {t} | {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} |\n",
            crate::sde::LinearSde::kernel_std(&sde, t),
            a.bpd,
            a.se,
            b.bpd,
            b.se
        );
        by_t.push((a.bpd, a.se, b.bpd, b.se));
    }
    write_text(&dir.join("bits_t_min.md"), &sweep)?;
    bits_claims(&r, &by_t)?;
    let nfe = r
        .network_nfe
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>();
    let secs = r
        .network_seconds
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>();
    write_numbers(
        dir,
        &[
            ("bits_nfe", nfe.join(" and ")),
            ("bits_seconds", secs.join(" and ")),
            ("bits_n_test", r.n_test.to_string()),
            ("bits_t_min", format!("{}", config.t_min)),
            ("bits_rtol", format!("{}", config.rtol)),
            ("bits_ridge", format!("{}", config.class_ridge)),
        ],
    )?;
    write_text(&dir.join("bits.json"), &serde_json::to_string_pretty(&r)?)?;
    Ok(r)
}

/// Checks the sentences of the bits-per-dimension section against `by_t` (per starting
/// time: raw bpd, se, EMA bpd, se): at every starting time the network's bound is above the
/// single Gaussian's and below the uniform code, and the EMA weights beat the raw ones; the
/// raw weights' standard error at the book's `t_min` is at least five times that at the
/// largest `t` (a tail of images, not a shift of all).
fn bits_claims(r: &BitsReport, by_t: &[(f64, f64, f64, f64)]) -> Result<()> {
    let fail = |what: &str| super::claim("digits chapter", false, what);
    let (uniform, gauss) = (r.rows[0].bpd, r.rows[1].bpd);
    if !by_t
        .iter()
        .all(|&(raw, _, ema, _)| ema > gauss && ema < raw && ema < uniform)
    {
        return fail("above the Gaussian, below the uniform code, EMA below raw");
    }
    let (first, last) = (by_t[0], by_t[by_t.len() - 1]);
    if first.1 < 5.0 * last.1 {
        return fail("a tail of images");
    }
    Ok(())
}
