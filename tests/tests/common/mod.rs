//! Helpers of the end-to-end tests (a module of each test target, which `ballast-cli` declares
//! so that Cargo builds the `ballast` binary for them): run the binary, locate the shared
//! dataset cache and the repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `ballast` executable Cargo built for these tests.
pub fn ballast_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ballast"))
}

/// Dataset cache shared by all tests: $BALLAST_DATA_DIR or <workspace>/data.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BALLAST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("data"))
}

/// The repository root (the tests are targets of `crates/ballast-cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `ballast <args>` in `cwd`, with the shared data cache.
pub fn ballast(cwd: &Path, args: &[&str]) -> Output {
    Command::new(ballast_bin())
        .args(args)
        .current_dir(cwd)
        .env("BALLAST_DATA_DIR", data_dir())
        .output()
        .expect("ballast runs")
}

/// stdout + stderr as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs and asserts success, returning the combined output.
pub fn ballast_ok(cwd: &Path, args: &[&str]) -> String {
    let out = ballast(cwd, args);
    let t = text(&out);
    assert!(out.status.success(), "ballast {args:?} failed:\n{t}");
    t
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A run's `metrics.jsonl` records without the wall-clock fields (for exact comparisons).
pub fn metrics_without_timing(run_dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON record");
            let o = v.as_object_mut().expect("an object");
            o.remove("elapsed_s");
            o.remove("steps_per_s");
            v
        })
        .collect()
}

/// Fetches MNIST into the shared cache (a no-op once it is there).
pub fn fetch_mnist() {
    ballast_ok(
        Path::new("."),
        &[
            "data",
            "fetch",
            "mnist",
            "--data-dir",
            data_dir().to_str().unwrap(),
        ],
    );
}

/// sha256 over every tensor of a module (parameters and running statistics), in name order:
/// name, shape and the little-endian bytes of each. Two modules with the same digest hold the
/// same bits.
pub fn params_digest<M: burn::module::Module>(module: &M) -> String {
    use burn::store::ModuleSnapshot;
    use sha2::{Digest, Sha256};
    let mut tensors = module.collect(None, None, false);
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for t in &tensors {
        h.update(t.name.as_bytes());
        h.update(format!("{:?}", t.shape).as_bytes());
        let bytes = t.to_bytes().expect("tensor bytes");
        h.update(&bytes[..]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A 60-step ERM run of an MLP on two moons (no BatchNorm, checkpoints every 10 steps): the
/// end-to-end tests' run that takes a second.
pub const TOY: &str = r#"
method = "erm"
seed = 5
[data]
dataset = "moons"
toy_points = 600
toy_noise = 0.15
val_size = 100
[model]
arch = "mlp"
hidden = [32, 32]
[optimizer]
kind = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 0.0005
[schedule]
kind = "cosine"
[budget]
steps = 60
batch_size = 32
eval_every = 20
checkpoint_every = 10
"#;
