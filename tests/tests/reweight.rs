//! Reweighting methods end to end on a 2-D toy set with flipped labels.

mod common;
use common::{ballast_ok, read_json};
use std::fs;

const NOISY_MOONS: &str = r#"
method = "l2rw"
seed = 3
[data]
dataset = "moons"
toy_points = 1000
toy_noise = 0.1
val_size = 100
[data.noise]
kind = "symmetric_exact"
rate = 0.4
[model]
arch = "mlp"
hidden = [32, 32]
[optimizer]
kind = "sgd"
lr = 0.1
momentum = 0.9
[budget]
steps = 300
batch_size = 100
eval_every = 100
[meta]
val_batch_size = 100
export_weights_every = 1
"#;

/// (mean weight of flipped examples, mean weight of clean ones) over the second half.
fn mean_weights(csv: &str, from_step: usize) -> (f64, f64) {
    let (mut noisy, mut clean) = ((0.0, 0usize), (0.0, 0usize));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,index,label,true_label,noisy,weight,loss"
    );
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[0].parse::<usize>().unwrap() < from_step {
            continue;
        }
        let w: f64 = f[5].parse().unwrap();
        let slot = if f[4] == "1" { &mut noisy } else { &mut clean };
        slot.0 += w;
        slot.1 += 1;
    }
    assert!(noisy.1 > 0 && clean.1 > 0);
    (noisy.0 / noisy.1 as f64, clean.0 / clean.1 as f64)
}

#[test]
fn l2rw_distrusts_flipped_labels_on_noisy_moons() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("l2rw.toml"), NOISY_MOONS).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            "l2rw.toml",
            "--out",
            run.to_str().unwrap(),
            "--quiet",
        ],
    );
    let csv = fs::read_to_string(run.join("weights.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 300 * 100,
        "one row per example per step"
    );
    let (noisy, clean) = mean_weights(&csv, 150);
    println!("mean weight: flipped {noisy:.5}, clean {clean:.5}");
    assert!(noisy < 0.5 * clean, "flipped {noisy} vs clean {clean}");
    let summary = read_json(&run.join("summary.json"));
    assert_eq!(summary["label_noise"]["noisy_examples"], 360);
    assert!(
        summary["final_record"]["test_acc"].as_f64().unwrap() > 0.8,
        "{summary}"
    );
}

/// Per exported step: the (label, noisy flag, weight) of every row of `weights.csv`.
fn weight_rows(csv: &str) -> Vec<(usize, Vec<(u32, bool, f64)>)> {
    let mut steps: Vec<(usize, Vec<(u32, bool, f64)>)> = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let step: usize = f[0].parse().unwrap();
        let row = (f[2].parse().unwrap(), f[4] == "1", f[5].parse().unwrap());
        match steps.last_mut() {
            Some((s, rows)) if *s == step => rows.push(row),
            _ => steps.push((step, vec![row])),
        }
    }
    steps
}

#[test]
fn baselines_train_with_the_same_schedule_and_weigh_as_defined() {
    let tmp = tempfile::tempdir().unwrap();
    for method in ["erm", "random", "class-ratio"] {
        let cfg = NOISY_MOONS.replace("method = \"l2rw\"", &format!("method = \"{method}\""));
        fs::write(tmp.path().join("c.toml"), cfg).unwrap();
        let run = tmp.path().join(method);
        ballast_ok(
            tmp.path(),
            &["train", "c.toml", "--out", run.to_str().unwrap(), "--quiet"],
        );
        let summary = read_json(&run.join("summary.json"));
        assert_eq!(summary["steps"], 300, "{method}");
        assert_eq!(summary["method"], method, "{method}");
        let steps = weight_rows(&fs::read_to_string(run.join("weights.csv")).unwrap());
        match method {
            // ERM has no weights to log.
            "erm" => assert!(steps.is_empty()),
            // max(N(0, 1), 0), normalised: each step's weights sum to 1, about half are 0,
            // and they know nothing of the flipped labels.
            "random" => {
                assert_eq!(steps.len(), 300);
                let (mut zeros, mut all) = (0, 0);
                let (mut flipped, mut clean) = ((0.0, 0), (0.0, 0));
                for (_, rows) in &steps {
                    let sum: f64 = rows.iter().map(|r| r.2).sum();
                    assert!((sum - 1.0).abs() < 1e-4, "weights sum to {sum}");
                    zeros += rows.iter().filter(|r| r.2 == 0.0).count();
                    all += rows.len();
                    for r in rows {
                        let slot = if r.1 { &mut flipped } else { &mut clean };
                        slot.0 += r.2;
                        slot.1 += 1;
                    }
                }
                let zero_share = zeros as f64 / all as f64;
                assert!((0.45..0.55).contains(&zero_share), "{zero_share}");
                let ratio = (flipped.0 / flipped.1 as f64) / (clean.0 / clean.1 as f64);
                assert!(
                    (0.9..1.1).contains(&ratio),
                    "flipped / clean weight {ratio}"
                );
            }
            // w_i ∝ 1 / f(y_i), f the frequency of the observed labels in the training split,
            // normalised over the batch.
            "class-ratio" => {
                let data = read_json(&run.join("data.json"));
                let counts: Vec<f64> = data["train"]["class_counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_f64().unwrap())
                    .collect();
                let n: f64 = counts.iter().sum();
                let inv = |y: u32| n / counts[y as usize];
                assert_eq!(steps.len(), 300);
                for (step, rows) in &steps {
                    let norm: f64 = rows.iter().map(|r| inv(r.0)).sum();
                    for r in rows {
                        let want = inv(r.0) / norm;
                        assert!(
                            (r.2 - want).abs() < 1e-5 * want.max(1e-3),
                            "step {step}: weight {} for label {}, want {want}",
                            r.2,
                            r.0
                        );
                    }
                }
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn meta_weight_net_distrusts_flipped_labels_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = NOISY_MOONS
        .replace("method = \"l2rw\"", "method = \"mwn\"")
        .replace(
            "export_weights_every = 1",
            "export_weights_every = 1\nmeta_lr = 0.01\nhidden = 16",
        );
    fs::write(tmp.path().join("mwn.toml"), &cfg).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            "mwn.toml",
            "--out",
            run.to_str().unwrap(),
            "--quiet",
        ],
    );
    let csv = fs::read_to_string(run.join("weights.csv")).unwrap();
    let (noisy, clean) = mean_weights(&csv, 150);
    println!("mwn mean weight: flipped {noisy:.5}, clean {clean:.5}");
    assert!(noisy < clean, "flipped {noisy} vs clean {clean}");
    assert!(run.join("weights.svg").is_file());
    let ckpt = read_json(&run.join("summary.json"))["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&ckpt).join("meta.bpk").is_file());

    // Interrupted at step 120 and resumed: the same weights for every example afterwards.
    let split = tmp.path().join("split");
    let args = [
        "train",
        "mwn.toml",
        "--out",
        split.to_str().unwrap(),
        "--quiet",
    ];
    ballast_ok(tmp.path(), &[&args[..], &["--stop-after", "120"]].concat());
    ballast_ok(tmp.path(), &[&args[..], &["--resume"]].concat());
    let resumed = fs::read_to_string(split.join("weights.csv")).unwrap();
    assert!(
        resumed == csv,
        "weights after resume differ from the uninterrupted run"
    );
}

#[test]
fn teacher_reads_internal_or_surface_states_by_one_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let base = NOISY_MOONS
        .replace("method = \"l2rw\"", "method = \"teacher\"")
        .replace(
            "export_weights_every = 1",
            "export_weights_every = 1\nmeta_lr = 0.01\nhidden = 16",
        );
    for (name, states) in [
        (
            "internal",
            "[\"features\", \"probs\", \"loss\", \"label\", \"progress\"]",
        ),
        (
            "surface",
            "[\"probs\", \"loss\", \"label\", \"margin\", \"progress\"]",
        ),
    ] {
        let cfg = format!("{base}teacher_states = {states}\n");
        fs::write(tmp.path().join("t.toml"), cfg).unwrap();
        let run = tmp.path().join(name);
        ballast_ok(
            tmp.path(),
            &["train", "t.toml", "--out", run.to_str().unwrap(), "--quiet"],
        );
        let (noisy, clean) =
            mean_weights(&fs::read_to_string(run.join("weights.csv")).unwrap(), 150);
        println!("teacher ({name}) mean weight: flipped {noisy:.5}, clean {clean:.5}");
        assert!(noisy < clean, "{name}: flipped {noisy} vs clean {clean}");
        let saved = fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(saved.contains("teacher_states"), "{saved}");
    }
    // A bad state name is an error that names it.
    let cfg = format!("{base}teacher_states = [\"feelings\"]\n");
    fs::write(tmp.path().join("bad.toml"), cfg).unwrap();
    let out = common::ballast(tmp.path(), &["train", "bad.toml", "--quiet"]);
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("feelings"),
        "{}",
        common::text(&out)
    );
}

#[test]
fn meta_loss_learns_the_gce_exponent_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = NOISY_MOONS
        .replace("method = \"l2rw\"", "method = \"meta-loss\"")
        .replace("export_weights_every = 1", "meta_lr = 0.01\nmeta_every = 2");
    let cfg = format!("{cfg}[loss]\nkind = \"gce\"\nq = 0.5\n");
    fs::write(tmp.path().join("ml.toml"), &cfg).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            "ml.toml",
            "--out",
            run.to_str().unwrap(),
            "--quiet",
        ],
    );
    let metrics = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let qs: Vec<f64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss_hyper"][0]
                .as_f64()
                .unwrap()
        })
        .collect();
    println!("GCE q trajectory: {qs:?}");
    assert_eq!(qs.len(), 3);
    assert!(qs.iter().all(|q| (0.01..=1.0).contains(q)), "{qs:?}");
    assert!((qs[2] - 0.5).abs() > 1e-3, "q should move from 0.5: {qs:?}");
    assert!(run.join("hyperparameters.svg").is_file());

    let split = tmp.path().join("split");
    let args = [
        "train",
        "ml.toml",
        "--out",
        split.to_str().unwrap(),
        "--quiet",
    ];
    ballast_ok(tmp.path(), &[&args[..], &["--stop-after", "150"]].concat());
    ballast_ok(tmp.path(), &[&args[..], &["--resume"]].concat());
    assert_eq!(
        common::metrics_without_timing(&run),
        common::metrics_without_timing(&split)
    );
}

#[test]
fn finetuning_on_the_clean_split_extends_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = NOISY_MOONS
        .replace("method = \"l2rw\"", "method = \"erm\"")
        .replace(
            "eval_every = 100",
            "eval_every = 100\nfinetune_steps = 50\nfinetune_lr = 0.01",
        );
    fs::write(tmp.path().join("ft.toml"), cfg).unwrap();
    let run = tmp.path().join("run");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            "ft.toml",
            "--out",
            run.to_str().unwrap(),
            "--quiet",
        ],
    );
    let summary = read_json(&run.join("summary.json"));
    assert_eq!(summary["steps"], 350);
    assert_eq!(summary["final_record"]["lr"], 0.01);
    // Fine-tuning steps export no weights.
    let csv = fs::read_to_string(run.join("weights.csv")).unwrap_or_default();
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').next().unwrap().parse::<usize>().unwrap() <= 300)
    );
}
