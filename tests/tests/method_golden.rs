//! Every training method, bit for bit against a recorded reference: a few steps of each method
//! (and of the loop features that change what a step sees: fine-tuning, augmentation,
//! dropout, BatchNorm attacks, mixup, robust and latent evaluation) on real MNIST, compared
//! with `tests/golden/methods.json` — the evaluation records (every metric, as written) and a
//! digest of the trained parameters' bits.
//!
//! The reference was recorded before the method abstraction moved every step into the core
//! crate, so this test is what shows a refactor left results unchanged. It is exact on the
//! CPU backend for a given SIMD level of the CPU (Burn's flex backend dispatches to AVX-512
//! code where the CPU has it, and those sums run in another order), so the reference holds one
//! record per level: a run is compared bit for bit with this CPU's level's record, or within a
//! relative 1e-4 with another level's record where this level has none for it. A deliberate change of results re-records
//! this CPU's level: `BALLAST_BLESS_GOLDEN=1 cargo test --workspace --test method_golden`,
//! with the reason in the commit.

mod common;
use common::{ballast_ok, data_dir, fetch_mnist, params_digest, repo_root};
use serde_json::{Map, Value, json};
use std::path::Path;

/// The shared config: small CNN, 256 training digits (4 steps an epoch), a 100-digit clean
/// validation split read in batches of 50, short attacks.
const BASE: &str = r#"
method = "erm"
seed = 7

[data]
dataset = "mnist"
train_size = 256
val_size = 100
val_balanced = true
test_size = 200

[model]
arch = "small-cnn"

[optimizer]
kind = "sgd"
lr = 0.05
momentum = 0.9

[schedule]
kind = "cosine"

[budget]
steps = 6
batch_size = 64
eval_every = 3
eval_batch_size = 100

[meta]
val_batch_size = 50

[adversarial]
eps = 0.3
steps = 3
eval_steps = 3
eval_test_examples = 40
eval_train_examples = 40

[perturbation]
latent = 4
width = 0.25
eval_eps = [1.0]
eval_examples = 20
approx_steps = 3
approx_samples = 2
steps = 2
eval_steps = 2
"#;

const NOISY: &[&str] = &["data.noise.kind=flip", "data.noise.rate=0.4"];

/// (name, overrides). `{cvae}` stands for the CVAE run trained first.
fn cases() -> Vec<(&'static str, Vec<&'static str>)> {
    let with = |extra: &[&'static str], more: &[&'static str]| -> Vec<&'static str> {
        extra.iter().chain(more).copied().collect()
    };
    vec![
        ("erm", vec![]),
        ("erm-finetune", vec!["budget.finetune_steps=2"]),
        (
            "erm-augment",
            vec!["data.augment=crop-flip", "data.cutout=6"],
        ),
        (
            "erm-wrn-dropout",
            vec![
                "model.arch=wide-resnet",
                "model.depth=10",
                "model.widen=1",
                "model.width=0.25",
                "model.dropout=0.3",
            ],
        ),
        ("erm-robust-eval", vec!["adversarial.eval=true"]),
        ("erm-latent-eval", vec!["perturbation.cvae={cvae}"]),
        ("random", with(NOISY, &["method=random"])),
        ("class-ratio", with(NOISY, &["method=class-ratio"])),
        (
            "l2rw",
            with(NOISY, &["method=l2rw", "meta.export_weights_every=2"]),
        ),
        (
            "l2rw-central",
            with(NOISY, &["method=l2rw", "hypergrad.scheme=central"]),
        ),
        ("mwn", with(NOISY, &["method=mwn"])),
        ("teacher", with(NOISY, &["method=teacher"])),
        (
            "teacher-surface",
            with(
                NOISY,
                &[
                    "method=teacher",
                    "meta.teacher_states=[\"probs\",\"loss\",\"label\",\"margin\",\"progress\"]",
                ],
            ),
        ),
        (
            "meta-loss",
            with(
                NOISY,
                &["method=meta-loss", "loss.kind=gce", "meta.meta_every=2"],
            ),
        ),
        ("pgd-at", vec!["method=pgd-at"]),
        (
            "pgd-at-warmup-l2",
            vec![
                "method=pgd-at",
                "adversarial.norm=l2",
                "adversarial.eps=1.5",
                "adversarial.eps_warmup_epochs=1.0",
            ],
        ),
        (
            "pgd-at-mixup-l1",
            vec![
                "method=pgd-at",
                "adversarial.mixup_alpha=1.0",
                "adversarial.l1=0.00001",
            ],
        ),
        (
            "pgd-at-batchnorm",
            vec![
                "method=pgd-at",
                "model.arch=resnet-cifar",
                "model.depth=8",
                "model.width=0.25",
                "adversarial.attack_bn=train",
            ],
        ),
        ("fgsm-rs", vec!["method=fgsm-rs", "budget.steps=9"]),
        ("trades", vec!["method=trades"]),
        ("ssds", vec!["method=ssds", "adversarial.ssds.noise=true"]),
        (
            "ssds-nolam",
            vec!["method=ssds", "adversarial.ssds.variant=nolam"],
        ),
        (
            "latent-at",
            vec!["method=latent-at", "perturbation.cvae={cvae}"],
        ),
        (
            "cvae-aug",
            vec!["method=cvae-aug", "perturbation.cvae={cvae}"],
        ),
        ("transform-aug", vec!["method=transform-aug"]),
    ]
}

/// A file's JSON-lines records without the wall-clock fields.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("a JSON record");
            let o = v.as_object_mut().expect("an object");
            o.remove("elapsed_s");
            o.remove("steps_per_s");
            v
        })
        .collect()
}

fn train(cwd: &Path, config: &Path, out: &Path, overrides: &[String]) {
    let data = format!("--data-dir={}", data_dir().display());
    let mut args = vec![
        "train".to_string(),
        config.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
        data,
    ];
    for o in overrides {
        args.push("--set".into());
        args.push(o.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ballast_ok(cwd, &args);
}

/// What a run is compared on.
fn fingerprint(run: &Path, cvae: bool) -> Value {
    let device = ballast_core::Device::flex();
    let mut f = Map::new();
    if cvae {
        f.insert(
            "records".into(),
            Value::Array(records(&run.join("cvae_metrics.jsonl"))),
        );
        let loaded = ballast_train::perturbation::load_cvae(run, &device).unwrap();
        f.insert("params".into(), json!(params_digest(&loaded.cvae)));
    } else {
        f.insert(
            "records".into(),
            Value::Array(records(&run.join("metrics.jsonl"))),
        );
        let (_, _, model, _) = ballast_train::run_dir::load_run_model(run, &device).unwrap();
        f.insert("params".into(), json!(params_digest(&model)));
        let weights = run.join("weights.csv");
        if weights.is_file() {
            f.insert(
                "weights_csv".into(),
                json!(std::fs::read_to_string(weights).unwrap()),
            );
        }
        let summary = common::read_json(&run.join("summary.json"));
        for key in ["best_val_score", "best_step", "stopped_early"] {
            f.insert(key.into(), summary[key].clone());
        }
    }
    Value::Object(f)
}

#[test]
fn every_method_reproduces_its_recorded_steps_bit_for_bit() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("golden.toml");
    std::fs::write(&config, BASE).unwrap();
    let mut got = Map::new();

    let cvae_dir = tmp.path().join("cvae");
    train(tmp.path(), &config, &cvae_dir, &["method=cvae".to_string()]);
    got.insert("cvae".into(), fingerprint(&cvae_dir, true));
    let cvae_path = cvae_dir.display().to_string();

    for (name, overrides) in cases() {
        let overrides: Vec<String> = overrides
            .iter()
            .map(|o| o.replace("{cvae}", &cvae_path))
            .collect();
        let out = tmp.path().join(name);
        train(tmp.path(), &config, &out, &overrides);
        got.insert(name.into(), fingerprint(&out, false));
    }

    let golden_path = repo_root().join("tests/golden/methods.json");
    let mut golden = if golden_path.is_file() {
        common::read_json(&golden_path)
    } else {
        json!({})
    };
    let level = simd_level();
    if std::env::var_os("BALLAST_BLESS_GOLDEN").is_some() {
        golden[level] = Value::Object(got);
        let text = serde_json::to_string_pretty(&golden).unwrap();
        std::fs::create_dir_all(golden_path.parent().unwrap()).unwrap();
        std::fs::write(&golden_path, text + "\n").unwrap();
        eprintln!("recorded {} [{level}]", golden_path.display());
        return;
    }
    let levels = golden.as_object().expect("a JSON object");
    let here = levels.get(level).and_then(Value::as_object);
    let mut differ = Vec::new();
    let mut approximate = Vec::new();
    for (name, have) in &got {
        // This level's record, bit for bit; else another level's, within float tolerance.
        if let Some(want) = here.and_then(|runs| runs.get(name)) {
            if have != want {
                differ.push(format!(
                    "{name} [{level}]:\n  recorded {want}\n  now      {have}"
                ));
            }
            continue;
        }
        let other = levels
            .iter()
            .find_map(|(l, runs)| runs.get(name).map(|want| (l, want)));
        match other {
            Some((l, want)) if close(have, want) => approximate.push(format!("{name} ({l})")),
            Some((l, want)) => differ.push(format!(
                "{name} [{l}, within 1e-4]:\n  recorded {want}\n  now      {have}"
            )),
            None => differ.push(format!(
                "{name}: run but not recorded (re-record the reference)"
            )),
        }
    }
    let recorded: std::collections::BTreeSet<&String> = levels
        .values()
        .filter_map(Value::as_object)
        .flat_map(|runs| runs.keys())
        .collect();
    for name in recorded.into_iter().filter(|n| !got.contains_key(*n)) {
        differ.push(format!("{name}: recorded but no longer run"));
    }
    if !approximate.is_empty() {
        eprintln!(
            "no golden record at SIMD level {level} for {}: compared within 1e-4 \
             (record this level with BALLAST_BLESS_GOLDEN=1)",
            approximate.join(", ")
        );
    }
    assert!(
        differ.is_empty(),
        "{} of {} runs differ from tests/golden/methods.json:\n{}",
        differ.len(),
        got.len(),
        differ.join("\n")
    );
}

/// The SIMD level the CPU kernels dispatch to at run time (Burn's flex backend picks AVX-512
/// code paths where the CPU has them, and their sums run in another order): results are bit
/// for bit per level, and the reference holds one record per level.
fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "x86_64-avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "x86_64-avx2";
        }
    }
    std::env::consts::ARCH
}

/// Equal up to a relative 1e-4 in every number, except the parameters' bit digest.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-4 * x.abs().max(y.abs()).max(1e-3)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    k == "params" || k == "weights_csv" || y.get(k).is_some_and(|w| close(v, w))
                })
        }
        _ => a == b,
    }
}
