//! Reweighting methods end to end on a 2-D toy set with flipped labels.

use ballast_e2e::{ballast_ok, read_json};
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

#[test]
fn baselines_train_with_the_same_schedule() {
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
    let out = ballast_e2e::ballast(tmp.path(), &["train", "bad.toml", "--quiet"]);
    assert!(!out.status.success());
    assert!(
        ballast_e2e::text(&out).contains("feelings"),
        "{}",
        ballast_e2e::text(&out)
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
        ballast_e2e::metrics_without_timing(&run),
        ballast_e2e::metrics_without_timing(&split)
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
