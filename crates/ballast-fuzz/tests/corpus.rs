//! A short fuzzing run of every target in `cargo test`: each committed corpus file must go
//! through its target without a panic, then a few thousand seeded mutants of them must too.
//! A failure names the target and shows the input (hex dump, and a file under the test's
//! temporary directory). The long runs are AFL++'s (docs/fuzzing.md).

use std::path::PathBuf;
use std::sync::Mutex;

use ballast_fuzz::mutate::{self, read_corpus};
use ballast_fuzz::{TARGETS, corpus_dir, target};

/// Mutants per target. Kept small for a debug build; `--bin mutate` runs millions.
const EXECS: u64 = 5_000;

/// The panic hook is process-wide: one target at a time swaps it.
static SERIAL: Mutex<()> = Mutex::new(());

fn save_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures")
}

fn short_run(name: &str, seed: u64) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = target(name).expect("a known target");
    let corpus = read_corpus(&corpus_dir(name)).expect("the committed corpus is readable");
    assert!(!corpus.is_empty(), "{name}: the corpus is empty");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let replay: Vec<_> = corpus
        .iter()
        .filter_map(|(path, data)| {
            mutate::run_one(t, data, Some(&save_dir()))
                .err()
                .map(|f| format!("corpus file {}:\n{f}", path.display()))
        })
        .collect();
    std::panic::set_hook(hook);
    assert!(replay.is_empty(), "{}", replay.join("\n"));
    let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, d)| d).collect();
    if let Err(f) = mutate::run(t, &inputs, EXECS, seed, Some(&save_dir())) {
        panic!("{f}");
    }
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let tested = [
        "idx",
        "cifar",
        "svhn",
        "burnpack",
        "safetensors",
        "manifest",
        "toml_config",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, tested);
    let total: u64 = tested
        .iter()
        .flat_map(|t| read_corpus(&corpus_dir(t)).expect("corpus"))
        .map(|(_, d)| d.len() as u64)
        .sum();
    assert!(total < 1 << 20, "the committed corpus holds {total} bytes");
}

#[test]
fn idx() {
    short_run("idx", 1);
}

#[test]
fn cifar() {
    short_run("cifar", 2);
}

#[test]
fn svhn() {
    short_run("svhn", 3);
}

#[test]
fn burnpack() {
    short_run("burnpack", 4);
}

#[test]
fn safetensors() {
    short_run("safetensors", 5);
}

#[test]
fn manifest() {
    short_run("manifest", 6);
}

#[test]
fn toml_config() {
    short_run("toml_config", 7);
}

/// The seeds are valid: each target accepts its model files (guards against a corpus that
/// only exercises error paths after a format change).
#[test]
fn model_seeds_load() {
    let device = ballast_fuzz::device();
    let bytes = std::fs::read(corpus_dir("burnpack").join("mlp-4-3-2.bpk")).expect("seed");
    ballast_core::record::load_model_bytes(ballast_fuzz::fuzz_model(), &bytes, "seed")
        .expect("the burnpack seed loads");
    // The regression inputs (bugs fuzzing found) are refused, not loaded.
    for name in ["regression-i32-bias.bpk", "regression-unaligned.bpk"] {
        let bytes = std::fs::read(corpus_dir("burnpack").join(name)).expect("regression input");
        ballast_core::record::load_model_bytes(ballast_fuzz::fuzz_model(), &bytes, name)
            .expect_err("a regression input is refused");
    }
    let (json, file) = {
        let data = std::fs::read(corpus_dir("manifest").join("fuzz-mlp.json+bpk")).expect("seed");
        let i = data.iter().position(|&b| b == 0).expect("a NUL");
        (data[..i].to_vec(), data[i + 1..].to_vec())
    };
    let m: ballast_core::manifest::Manifest = serde_json::from_slice(&json).expect("manifest");
    ballast_core::manifest::decode_model(&m.models[0], &file, &device)
        .expect("the manifest seed's model loads");
}
