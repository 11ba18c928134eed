//! The `ballast` CLI end to end: configs, errors, checkpoints, resume, eval, bench.
//! Toy data keeps these fast; `real_data.rs` covers MNIST and Fashion-MNIST.

mod common;
use common::{TOY, ballast, ballast_ok, read_json, text};
use std::fs;
use std::path::Path;

/// (tensor entries of the header, data bytes) of a safetensors file.
fn safetensors(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header.as_object_mut().unwrap().remove("__metadata__");
    (header, bytes[8 + n..].to_vec())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn train_writes_a_complete_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    let out = tmp.path().join("run");
    let log = ballast_ok(
        tmp.path(),
        &["train", &cfg, "--out", out.to_str().unwrap(), "--quiet"],
    );
    assert!(log.contains("test accuracy"), "{log}");
    for f in [
        "config.toml",
        "input.json",
        "data.json",
        "metrics.jsonl",
        "summary.json",
        "loss.svg",
        "accuracy.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let lines = fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count(),
        3,
        "one record per evaluation:\n{lines}"
    );
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["steps"], 60);
    let acc = summary["final_record"]["test_acc"].as_f64().unwrap();
    assert!(acc > 0.8, "two moons should be learnt, got {acc}");
    let ckpt = summary["checkpoint"].as_str().unwrap();
    for f in [
        "model.bpk",
        "model.safetensors",
        "optimizer.bpk",
        "state.json",
    ] {
        assert!(Path::new(ckpt).join(f).is_file(), "missing {f} in {ckpt}");
    }
    // safetensors in PyTorch layout: `head.weight` is [out, in] = [2, 32].
    let (header, data) = safetensors(&Path::new(ckpt).join("model.safetensors"));
    assert_eq!(
        header["head.weight"]["shape"],
        serde_json::json!([2, 32]),
        "{header}"
    );
    assert_eq!(
        header["hidden.0.weight"]["shape"],
        serde_json::json!([32, 2]),
        "{header}"
    );
    assert_eq!(data.len(), 4 * (2 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2));
    // Older checkpoints are pruned; no temporary directories remain.
    let names: Vec<String> = fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    assert!(
        names.iter().filter(|n| n.starts_with("step-")).count() <= 2,
        "{names:?}"
    );

    // eval reproduces the final test accuracy from the run directory.
    let report = ballast_ok(tmp.path(), &["eval", out.to_str().unwrap()]);
    let report: serde_json::Value =
        serde_json::from_str(&report[report.find('{').unwrap()..]).unwrap();
    assert!(
        (report["accuracy"].as_f64().unwrap() - acc).abs() < 1e-9,
        "{report}"
    );
    assert!(
        report["checkpoint"]
            .as_str()
            .unwrap()
            .ends_with("model.bpk")
    );
}

#[test]
fn resume_is_bit_identical_to_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    let whole = tmp.path().join("whole");
    let split = tmp.path().join("split");
    ballast_ok(
        tmp.path(),
        &["train", &cfg, "--out", whole.to_str().unwrap(), "--quiet"],
    );
    ballast_ok(
        tmp.path(),
        &[
            "train",
            &cfg,
            "--out",
            split.to_str().unwrap(),
            "--quiet",
            "--stop-after",
            "30",
        ],
    );
    let partial = read_json(&split.join("summary.json"));
    assert_eq!(partial["steps"], 30);
    // Starting again without --resume must not clobber the run.
    let again = ballast(
        tmp.path(),
        &["train", &cfg, "--out", split.to_str().unwrap(), "--quiet"],
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("--resume"), "{}", text(&again));
    ballast_ok(
        tmp.path(),
        &[
            "train",
            &cfg,
            "--out",
            split.to_str().unwrap(),
            "--quiet",
            "--resume",
        ],
    );
    // Every tensor, bit for bit (the header's metadata map has no fixed key order).
    let model = |d: &Path| {
        let s = read_json(&d.join("summary.json"));
        safetensors(&Path::new(s["checkpoint"].as_str().unwrap()).join("model.safetensors"))
    };
    assert_eq!(read_json(&split.join("summary.json"))["steps"], 60);
    let (whole_header, whole_data) = model(&whole);
    let (split_header, split_data) = model(&split);
    assert_eq!(whole_header, split_header);
    assert!(
        whole_data == split_data,
        "resumed weights differ from the uninterrupted run"
    );
    assert_eq!(
        common::metrics_without_timing(&whole),
        common::metrics_without_timing(&split)
    );
}

#[test]
fn unknown_and_ill_typed_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "bad.toml",
        &TOY.replace("batch_size = 32", "batch_sise = 32"),
    );
    let out = ballast(tmp.path(), &["train", &cfg, "--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("batch_sise"), "{}", text(&out));

    let cfg = write(tmp.path(), "toy.toml", TOY);
    let out = ballast(
        tmp.path(),
        &["train", &cfg, "--quiet", "--set", "optimizer.lr=fast"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("lr"), "{}", text(&out));

    let out = ballast(tmp.path(), &["train", "missing.toml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));
}

#[test]
fn exploding_loss_stops_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // The learning rate jumps by 1e30 at step 20: the loss overflows right after.
    let cfg = TOY.replace(
        "kind = \"cosine\"",
        "kind = \"step\"\nmilestones = [20]\ngamma = 1e30",
    );
    let cfg = write(tmp.path(), "nan.toml", &cfg);
    let run = tmp.path().join("run");
    let out = ballast(
        tmp.path(),
        &["train", &cfg, "--out", run.to_str().unwrap(), "--quiet"],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("training loss became"), "{t}");
    assert!(t.contains("last good checkpoint"), "{t}");
    let latest = fs::read_to_string(run.join("checkpoints/LATEST")).unwrap();
    assert_eq!(latest.trim(), "step-00000020");
    assert!(run.join("checkpoints/step-00000020/model.bpk").is_file());
}

#[test]
fn a_backend_that_is_not_compiled_in_names_its_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ballast(tmp.path(), &["bench", "--device", "cuda", "--steps", "1"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--features cuda"), "{}", text(&out));
    let out = ballast(tmp.path(), &["bench", "--device", "tpu"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown device"), "{}", text(&out));
}

#[test]
fn bench_reports_throughput_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let args = "bench --model mlp --batch-size 64 --steps 5 --warmup 1 --method erm --method l2rw --out b.json";
    let json = ballast_ok(tmp.path(), &args.split(' ').collect::<Vec<_>>());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["batch_size"], 64);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v}");
    assert_eq!(results[0]["method"], "erm");
    assert_eq!(results[0]["ratio_to_erm"], 1.0);
    assert_eq!(results[1]["method"], "l2rw");
    assert!(results[1]["ratio_to_erm"].as_f64().unwrap() > 1.0, "{v}");
    assert!(results[1]["steps_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(read_json(&tmp.path().join("b.json"))["steps"], 5);
}

/// Every classifier method of the registry steps in the benchmark (each in its own run, so
/// a failure names the method), the newest ones included.
#[test]
fn bench_times_every_classifier_method() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bench",
        "--model",
        "small-cnn",
        "--batch-size",
        "16",
        "--steps",
        "1",
        "--warmup",
        "0",
    ];
    let methods: Vec<&str> = ballast_core::Method::ALL
        .iter()
        .filter(|m| m.info().trains == ballast_core::method::Trains::Classifier)
        .map(|m| m.name())
        .collect();
    for m in &methods {
        args.extend(["--method", m]);
    }
    let json = ballast_ok(tmp.path(), &args);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let timed: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(timed, methods, "{v}");
    for name in ["mart", "glc"] {
        assert!(timed.contains(&name), "{timed:?}");
    }
}

#[test]
fn shipped_configs_parse_and_validate() {
    let dir = common::repo_root().join("configs");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = ballast_train::RunConfig::load(&p, &[]) {
                panic!("{}: {e:#}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 1, "no configs found in {}", dir.display());
}

#[test]
fn compare_tabulates_finished_runs_by_config_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    let mut dirs = Vec::new();
    for (label, seed) in [("plain", "1"), ("plain", "2"), ("wide", "1")] {
        let out = tmp.path().join(format!("{label}-{seed}"));
        let hidden = if label == "wide" {
            "[64, 64]"
        } else {
            "[32, 32]"
        };
        ballast_ok(
            tmp.path(),
            &[
                "train",
                &cfg,
                "--out",
                out.to_str().unwrap(),
                "--quiet",
                "--set",
                &format!("label={label}"),
                "--set",
                &format!("seed={seed}"),
                "--set",
                &format!("model.hidden={hidden}"),
            ],
        );
        dirs.push(out.to_string_lossy().into_owned());
    }
    // An unfinished run directory is skipped and named.
    let unfinished = tmp.path().join("unfinished");
    fs::create_dir_all(&unfinished).unwrap();
    dirs.push(unfinished.to_string_lossy().into_owned());
    let plot = tmp.path().join("cmp.svg");
    let table = tmp.path().join("cmp.md");
    let mut args = vec!["compare"];
    args.extend(dirs.iter().map(String::as_str));
    args.extend([
        "--x",
        "data.dataset",
        "--series",
        "label",
        "--error",
        "--plot",
        plot.to_str().unwrap(),
        "--markdown",
        table.to_str().unwrap(),
    ]);
    let out = ballast(tmp.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("| data.dataset | plain | wide |"),
        "{printed}"
    );
    assert!(printed.contains("(2) |"), "two seeds of plain: {printed}");
    assert!(printed.contains("skipped (unfinished"), "{printed}");
    assert_eq!(fs::read_to_string(&table).unwrap().lines().count(), 5);
    assert!(fs::read_to_string(&plot).unwrap().contains("<svg"));
    // Each cell is 100 − the run's final test accuracy.
    let summary = read_json(&tmp.path().join("wide-1").join("summary.json"));
    let err = 100.0 - 100.0 * summary["final_record"]["test_acc"].as_f64().unwrap();
    assert!(
        printed.contains(&format!("{err:.2} ± 0.00 (1)")),
        "{printed}"
    );

    let bad = ballast(tmp.path(), &["compare", &dirs[0], "--x", "data.nosuchkey"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("data.nosuchkey"), "{}", text(&bad));
}

/// `--devices 2` splits every batch over two replicas (data parallelism); without BatchNorm
/// it trains the weights a single device trains, and methods other than erm are refused.
#[test]
fn two_devices_train_what_one_device_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    ballast_ok(
        tmp.path(),
        &["train", &cfg, "--out", one.to_str().unwrap(), "--quiet"],
    );
    ballast_ok(
        tmp.path(),
        &[
            "train",
            &cfg,
            "--out",
            two.to_str().unwrap(),
            "--quiet",
            "--devices",
            "2",
        ],
    );
    let weights = |d: &Path| -> (serde_json::Value, Vec<f32>) {
        let s = read_json(&d.join("summary.json"));
        let (header, data) =
            safetensors(&Path::new(s["checkpoint"].as_str().unwrap()).join("model.safetensors"));
        let values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (header, values)
    };
    let ((h1, w1), (h2, w2)) = (weights(&one), weights(&two));
    assert_eq!(h1, h2);
    let worst = w1
        .iter()
        .zip(&w2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "60 steps on two devices differ by {worst}");
    let refused = ballast(
        tmp.path(),
        &[
            "train",
            &cfg,
            "--out",
            tmp.path().join("l2rw").to_str().unwrap(),
            "--quiet",
            "--devices",
            "2",
            "--set",
            "method=\"l2rw\"",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("supports method erm"),
        "{}",
        text(&refused)
    );
}

/// A reader that leaves before the output ends (`ballast eval RUN | head`) ends the command the
/// way it ends a Unix tool, by SIGPIPE, not with a panic on the broken pipe (exit 101).
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // every write to stdout now meets a closed pipe
    let out = std::process::Command::new(common::ballast_bin())
        .arg("methods")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "{:?}: {stderr}", out.status);
}

#[test]
fn without_a_validation_split_no_model_is_selected_on_test_data() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "noval.toml",
        &TOY.replace("val_size = 100", "val_size = 0"),
    );
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &["train", &cfg, "--out", run.to_str().unwrap(), "--quiet"],
    );
    let summary = read_json(&run.join("summary.json"));
    assert!(summary["final_record"]["test_acc"].as_f64().is_some());
    for key in ["best_val_score", "best_step", "test_acc_at_best_val"] {
        assert!(
            summary[key].is_null(),
            "{key} chosen without validation: {summary}"
        );
    }
    let out = ballast(tmp.path(), &["eval", run.to_str().unwrap(), "--best"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("data.val_size = 0"), "{}", text(&out));
}
