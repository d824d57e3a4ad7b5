//! The command line: outputs on success, one readable line and a non-zero exit on bad input.
use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_score-sde"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn run_writes_metrics_and_loadable_weights() {
    let dir = std::env::temp_dir().join(format!("score-sde-cli-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let (code, out, err) = cli(&["run", "--steps", "20", "--paths", "32", "--out", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("W1="), "{out}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    assert!(m["seed_paths"]["w1"].as_f64().unwrap() > 0.0);
    let w = dir.join("weights.safetensors");
    let (code, out, err) = cli(&["sample", "--weights", w.to_str().unwrap(), "--paths", "16"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("W1="));
    // Every sampler by name, on both schedules, with its NFE printed.
    let mut names: Vec<&str> = score_sde::sampling::SAMPLER_NAMES.to_vec();
    names.push("dopri5");
    for name in names {
        for schedule in ["karras", "uniform"] {
            let args = [
                "sample",
                "--weights",
                w.to_str().unwrap(),
                "--paths",
                "16",
                "--sampler",
                name,
                "--steps",
                "4",
                "--schedule",
                schedule,
            ];
            let (code, out, err) = cli(&args);
            assert_eq!(code, 0, "{name} {schedule}: {err}");
            assert!(out.contains("nfe=") && out.contains("W1="), "{name}: {out}");
        }
    }
    // Classifier guidance towards each class, with the default sampler and a fast one.
    for (class, extra) in [
        ("0", vec![]),
        ("1", vec!["--sampler", "heun", "--steps", "8"]),
    ] {
        let mut args = vec![
            "sample",
            "--weights",
            w.to_str().unwrap(),
            "--paths",
            "16",
            "--class",
            class,
            "--guidance",
            "2",
        ];
        args.extend(extra);
        let (code, out, err) = cli(&args);
        assert_eq!(code, 0, "class {class}: {err}");
        assert!(
            out.contains(&format!("class {class} scale 2")) && out.contains("W1="),
            "{out}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `digits` on a tiny run (first 100 images, 30 steps, 16 samples): every output file, and a
/// metrics file whose histogram counts every sample.
#[test]
fn digits_writes_metrics_weights_and_grids() {
    let dir = std::env::temp_dir().join(format!("score-sde-digits-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let args = [
        "digits",
        "--train-size",
        "100",
        "--steps",
        "30",
        "--samples",
        "16",
        "--sampler-steps",
        "20",
        "--threads",
        "1",
        "--impute",
        "--out",
        d,
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Fréchet"), "{out}");
    assert!(
        out.contains("inpainting, lower half from replacement"),
        "{out}"
    );
    for f in [
        "metrics.json",
        "weights_ema.safetensors",
        "time_features.json",
        "samples.png",
        "samples.svg",
        "nearest_pairs.png",
        "nearest_pairs.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let hist = m["samples"]["classes"]["histogram"].as_array().unwrap();
    assert_eq!(hist.iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 16);
    // --impute: one verdict per method, the test images first (the classifier's accuracy on
    // the first 16 test images, with zero error).
    let rows = m["inpainting"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0]["rmse_lower"].as_f64().unwrap(), 0.0);
    let net = score_sde::nn::weights_io::load(dir.join("weights_ema.safetensors")).unwrap();
    assert_eq!(net.sizes(), vec![96, 256, 256, 256, 64]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `digits --class 3 --guidance 2` on a tiny run: the conditional network (64 + 32 Fourier
/// features + 10 label columns in) and the guided class's accuracy and confidence in
/// metrics.json, within [0, 1] and counted over every sample.
#[test]
fn digits_with_a_class_writes_guided_metrics() {
    let dir = std::env::temp_dir().join(format!("score-sde-digits-cfg-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let args = [
        "digits",
        "--train-size",
        "100",
        "--steps",
        "30",
        "--samples",
        "16",
        "--sampler-steps",
        "20",
        "--threads",
        "1",
        "--class",
        "3",
        "--guidance",
        "2",
        "--out",
        d,
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("class 3 at guidance w = 2"), "{out}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let g = &m["guided"];
    assert_eq!(g["class"], 3);
    assert_eq!(g["guidance"], 2.0);
    for key in ["accuracy", "confidence"] {
        let v = g[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} {v}");
    }
    let hist = m["samples"]["classes"]["histogram"].as_array().unwrap();
    let n3 = hist[3].as_u64().unwrap() as f64;
    assert_eq!(g["accuracy"].as_f64().unwrap(), n3 / 16.0);
    let net = score_sde::nn::weights_io::load(dir.join("weights_ema.safetensors")).unwrap();
    assert_eq!(net.sizes(), vec![106, 256, 256, 256, 64]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A table of hostile arguments: huge, negative, NaN, infinite, empty, unknown, missing files,
/// corrupt, truncated and empty weights, weights of another shape. Each must exit non-zero with
/// exactly one line on stderr that starts with `error:`, no panic, and write nothing.
#[test]
fn hostile_arguments_give_one_error_line_and_write_nothing() {
    let tmp = std::env::temp_dir().join(format!("score-sde-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let corrupt = file("corrupt.safetensors", b"not a safetensors file at all");
    let empty = file("empty.safetensors", b"");
    // A valid file of a network with 3 inputs (not a 1-D score network), and the same truncated.
    let mut rng = score_sde::rng::seeded(1);
    let other =
        score_sde::nn::Mlp::new(&[3, 8, 1], score_sde::nn::Activation::Relu, &mut rng).unwrap();
    let other_path = tmp.join("other.safetensors");
    score_sde::nn::weights_io::save(&other, &other_path).unwrap();
    let bytes = std::fs::read(&other_path).unwrap();
    let truncated = file("truncated.safetensors", &bytes[..bytes.len() / 2]);
    let other_path = other_path.to_str().unwrap().to_string();
    // A valid 1-D score network, so that the sampler arguments are what fails.
    let good =
        score_sde::nn::Mlp::new(&[2, 8, 1], score_sde::nn::Activation::Relu, &mut rng).unwrap();
    let good_path = tmp.join("good.safetensors");
    score_sde::nn::weights_io::save(&good, &good_path).unwrap();
    let g = good_path.to_str().unwrap().to_string();
    let out = tmp.join("never-written");
    let o = out.to_str().unwrap();
    let huge = "18446744073709551615";
    let cases: Vec<Vec<&str>> = vec![
        vec!["digits", "--out", o, "--train-size", "0"],
        vec!["digits", "--out", o, "--train-size", "1501"],
        vec!["digits", "--out", o, "--steps", huge],
        vec!["digits", "--out", o, "--samples", "1"],
        vec!["digits", "--out", o, "--samples", "-5"],
        vec!["digits", "--out", o, "--sampler", "warp", "--steps", "1"],
        vec!["digits", "--out", o, "--schedule", "cosine", "--steps", "1"],
        vec!["digits", "--out", o, "--sampler-steps", "0"],
        vec!["digits", "--out", o, "--threads", "0"],
        vec!["digits", "--out", o, "--class", "10"],
        vec!["digits", "--out", o, "--class", "-1"],
        vec!["digits", "--out", o, "--class", "3", "--guidance", "-1"],
        vec!["digits", "--out", o, "--class", "3", "--guidance=-0.5"],
        vec!["digits", "--out", o, "--class", "3", "--guidance", "NaN"],
        vec!["digits", "--out", o, "--class", "3", "--guidance", "inf"],
        vec!["digits", "--out", o, "--class", "3", "--guidance", ""],
        vec!["digits", "--out", o, "--guidance", "2"],
        vec!["run", "--out", o, "--steps", huge],
        vec!["run", "--out", o, "--steps", "-1"],
        vec!["run", "--out", o, "--steps", "0"],
        vec!["run", "--out", o, "--steps", "NaN"],
        vec!["run", "--out", o, "--steps", ""],
        vec!["run", "--out", o, "--steps", "1e3"],
        vec!["run", "--out", o, "--paths", "4611686018427387904"],
        vec!["run", "--out", o, "--paths", "1"],
        vec!["run", "--out", o, "--seed", "-3"],
        vec!["run", "--out", o, "--sde", "ve-geometric:-1:3"],
        vec!["run", "--out", o, "--sde", "ve-sqrt:nan"],
        vec!["run", "--out", o, "--sde", "ve-sqrt:inf"],
        vec!["run", "--out", o, "--sde", "ve-sqrt:-2"],
        vec!["run", "--out", o, "--sde", "vp:0:20"],
        vec!["run", "--out", o, "--sde", "ve-sqrt:1e300"],
        vec!["run", "--out", o, "--sde", "vp:0.1:1e4", "--steps", "20"],
        vec!["run", "--out", o, "--sde", "ve-geometric:0.01:1e9"],
        vec!["run", "--out", o, "--sde", "vp:1:2:3"],
        vec!["run", "--out", o, "--sde", "warp-drive"],
        vec!["run", "--out", o, "--sde", ""],
        vec!["run", "--out", o, "--prior", "uniform"],
        vec!["run", "--out", o, "--weighting", "none"],
        vec!["run", "--out", o, "--bogus"],
        vec![
            "sample",
            "--paths",
            "4611686018427387904",
            "--weights",
            &other_path,
        ],
        vec!["sample", "--paths", "1", "--weights", &other_path],
        vec!["sample", "--paths", "0", "--weights", &other_path],
        vec!["sample", "--time-points", "1", "--weights", &other_path],
        vec!["sample", "--time-points", huge, "--weights", &other_path],
        vec!["sample", "--weights", &corrupt],
        vec!["sample", "--weights", &empty],
        vec!["sample", "--weights", &truncated],
        vec!["sample", "--weights", &other_path],
        vec!["sample", "--weights", "/nonexistent/w.safetensors"],
        vec!["sample", "--weights", tmp.to_str().unwrap()],
        vec!["sample"],
        vec!["sample", "--weights", &corrupt, "--sde", "vp:nan:1"],
        vec!["digits", "--out", o, "--impute", "--samples", "298"],
        vec!["sample", "--weights", &g, "--guidance", "1"],
        vec!["sample", "--weights", &g, "--class", "2"],
        vec!["sample", "--weights", &g, "--class", "-1"],
        vec![
            "sample",
            "--weights",
            &g,
            "--class",
            "0",
            "--guidance",
            "nan",
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--class",
            "0",
            "--guidance",
            "inf",
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--class",
            "0",
            "--guidance",
            "-1",
        ],
        vec!["sample", "--weights", &g, "--sampler", "warp"],
        vec!["sample", "--weights", &g, "--sampler", ""],
        vec!["sample", "--weights", &g, "--sampler", "dpm-solver-4"],
        vec![
            "sample",
            "--weights",
            &g,
            "--sampler",
            "heun",
            "--steps",
            "0",
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--sampler",
            "heun",
            "--steps",
            "-2",
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--sampler",
            "heun",
            "--steps",
            huge,
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--sampler",
            "heun",
            "--steps",
            "NaN",
        ],
        vec![
            "sample",
            "--weights",
            &g,
            "--sampler",
            "heun",
            "--schedule",
            "cosine",
        ],
        vec![
            "sample",
            "--weights",
            &corrupt,
            "--sampler",
            "heun",
            "--steps",
            "3",
        ],
        vec![
            "sample",
            "--weights",
            &other_path,
            "--sampler",
            "ddim",
            "--steps",
            "3",
        ],
        vec!["sample", "--sampler", "heun", "--steps", "3"],
        vec!["warp"],
        vec![],
    ];
    for args in &cases {
        let (code, stdout, err) = cli(args);
        assert_ne!(code, 0, "{args:?} exited 0: {stdout}");
        let lines: Vec<&str> = err.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
        assert!(lines[0].starts_with("error:"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    std::fs::remove_dir_all(&tmp).ok();
}
