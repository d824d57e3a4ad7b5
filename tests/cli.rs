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
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_gives_one_line_and_nonzero_exit() {
    let bad =
        std::env::temp_dir().join(format!("score-sde-bad-{}.safetensors", std::process::id()));
    std::fs::write(&bad, b"not a safetensors file at all").unwrap();
    for args in [
        vec!["run", "--sde", "ve-geometric:-1:3"],
        vec!["run", "--sde", "vp:0:20"],
        vec!["run", "--sde", "warp-drive"],
        vec!["run", "--steps", "0"],
        vec!["sample", "--weights", bad.to_str().unwrap()],
        vec!["sample", "--weights", "/nonexistent/w.safetensors"],
        vec!["run", "--bogus"],
    ] {
        let (code, _, err) = cli(&args);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    std::fs::remove_file(&bad).ok();
}
