//! Learned perturbation sets end to end on real MNIST (small subsets, a narrow CVAE): train
//! the CVAE on RTS pairs, resume it exactly, report its quality, train `latent-at` and the
//! baselines against it, and evaluate with the latent attack (same report as the ℓp
//! attacks), under real random transforms and by latent randomized smoothing; plus the errors
//! a user meets first.

mod common;
use common::{ballast, ballast_ok, data_dir, fetch_mnist, read_json, repo_root, text};
use std::path::Path;

const SMALL_CVAE: &[&str] = &[
    "--set",
    "data.train_size=512",
    "--set",
    "data.test_size=200",
    "--set",
    "budget.batch_size=64",
    "--set",
    "budget.eval_every=4",
    "--set",
    "perturbation.width=0.25",
    "--set",
    "perturbation.latent=4",
    "--set",
    "perturbation.eval_examples=16",
    "--set",
    "perturbation.approx_steps=3",
    "--set",
    "perturbation.approx_samples=2",
    "--set",
    "perturbation.eval_eps=[0.5, 2.0]",
];

fn train_cvae(cwd: &Path, out: &Path, steps: usize, extra: &[&str]) -> String {
    let config = repo_root().join("configs/cvae-mnist-rts.toml");
    let data = format!("--data-dir={}", data_dir().display());
    let steps = format!("budget.steps={steps}");
    let mut args = vec![
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        data.as_str(),
        "--set",
        steps.as_str(),
    ];
    args.extend_from_slice(SMALL_CVAE);
    args.extend_from_slice(extra);
    ballast_ok(cwd, &args)
}

fn classifier(cwd: &Path, out: &Path, method: &str, cvae: &Path) -> serde_json::Value {
    let config = repo_root().join("configs/latent-at-mnist-rts.toml");
    let data = format!("--data-dir={}", data_dir().display());
    let method = format!("method={method}");
    let cvae = format!("perturbation.cvae={}", cvae.display());
    ballast_ok(
        cwd,
        &[
            "train",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            &data,
            "--set",
            &method,
            "--set",
            &cvae,
            "--set",
            "budget.steps=6",
            "--set",
            "budget.eval_every=6",
            "--set",
            "data.train_size=600",
            "--set",
            "data.val_size=100",
            "--set",
            "data.test_size=100",
            "--set",
            "perturbation.eval_steps=3",
            "--set",
            "perturbation.steps=2",
            "--set",
            "adversarial.eval_test_examples=50",
            "--set",
            "adversarial.eval_train_examples=50",
        ],
    );
    read_json(&out.join("summary.json"))
}

#[test]
fn the_perturbation_set_workflow_runs_end_to_end_and_reports_every_knob() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let cvae = tmp.path().join("cvae");
    train_cvae(tmp.path(), &cvae, 8, &[]);
    for f in [
        "cvae.json",
        "cvae_metrics.jsonl",
        "summary.json",
        "config.toml",
    ] {
        assert!(cvae.join(f).is_file(), "missing {f}");
    }
    let summary = read_json(&cvae.join("summary.json"));
    assert_eq!(summary["method"], "cvae");
    assert_eq!(summary["steps"], 8);
    let fin = &summary["final_record"]["test"];
    assert_eq!(fin["examples"], 16);
    for q in fin["per_eps"].as_array().unwrap() {
        let (enc, ae) = (
            q["encoding_error"].as_f64().unwrap(),
            q["approximation_error"].as_f64().unwrap(),
        );
        assert!(ae <= enc + 1e-9, "descent never ends above its start: {q}");
    }

    // The quality report of the CVAE run (`ballast eval` on a CVAE run).
    let data = format!("--data-dir={}", data_dir().display());
    let report = tmp.path().join("cvae-report.json");
    ballast_ok(
        tmp.path(),
        &[
            "eval",
            cvae.to_str().unwrap(),
            &data,
            "--eps",
            "1,3",
            "--examples",
            "10",
            "--draws",
            "2",
            "--approx-steps",
            "4",
            "--out",
            report.to_str().unwrap(),
        ],
    );
    let r = read_json(&report);
    assert_eq!(r["in_distribution"]["examples"], 10);
    assert_eq!(r["in_distribution"]["approx_steps"], 4);
    assert_eq!(r["in_distribution"]["per_eps"][1]["eps"], 3.0);
    // Both protocols: Ballast's MSE and the reference's BCE (a Bernoulli generator), whose
    // last iterate can sit above the best one but never below it.
    for q in r["in_distribution"]["per_eps"].as_array().unwrap() {
        let reference = &q["reference"];
        assert_eq!(reference["error"], "bce", "{q}");
        for key in [
            "encoding_error",
            "approximation_error",
            "expected_approximation_error",
        ] {
            assert!(reference[key].as_f64().unwrap() > 0.0, "{key}: {q}");
        }
    }
    assert_eq!(r["pairs"], "rts");
    assert!(
        r["held_out"].is_null(),
        "RTS sets have no held-out corruptions"
    );
    assert_eq!(r["checkpoint_sha256"].as_str().unwrap().len(), 64);

    // A corruption set reports the held-out corruptions as out-of-distribution pairs.
    let corr = tmp.path().join("cvae-corruptions");
    train_cvae(
        tmp.path(),
        &corr,
        2,
        &["--set", "perturbation.pairs=corruptions"],
    );
    let report = tmp.path().join("corr-report.json");
    ballast_ok(
        tmp.path(),
        &[
            "eval",
            corr.to_str().unwrap(),
            &data,
            "--eps",
            "1",
            "--examples",
            "6",
            "--draws",
            "2",
            "--out",
            report.to_str().unwrap(),
        ],
    );
    let r = read_json(&report);
    assert_eq!(r["pairs"], "corruptions");
    assert_eq!(r["held_out"]["examples"], 6);
    let held: Vec<&str> = r["perturbation"]["held_out"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let train: Vec<&str> = r["perturbation"]["corruptions"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        !held.is_empty() && held.iter().all(|k| !train.contains(k)),
        "held out {held:?} vs {train:?}"
    );

    // Classifiers against the set: every method trains and records the latent evaluation.
    for method in ["latent-at", "cvae-aug", "transform-aug"] {
        let run = tmp.path().join(method);
        let s = classifier(tmp.path(), &run, method, &cvae);
        assert_eq!(s["method"], method);
        assert_eq!(
            s["robust"]["attack"]["kind"], "latent",
            "{method}: {}",
            s["robust"]
        );
        assert!(s["robust"]["final_test_robust"].as_f64().is_some());
    }
    let at = tmp.path().join("latent-at");
    let out = ballast(
        tmp.path(),
        &["eval", at.to_str().unwrap(), &data, "--approx-steps", "3"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--approx-steps applies to CVAE runs"),
        "{}",
        text(&out)
    );

    // The latent attack through the ordinary attack report.
    let attack = tmp.path().join("latent.json");
    ballast_ok(
        tmp.path(),
        &[
            "eval",
            at.to_str().unwrap(),
            &data,
            "--attack",
            "latent",
            "--eps",
            "0,1,4",
            "--steps",
            "3",
            "--examples",
            "30",
            "--out",
            attack.to_str().unwrap(),
        ],
    );
    let r = read_json(&attack);
    assert_eq!(r["results"].as_array().unwrap().len(), 3);
    let acc: Vec<f64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["worst_case_accuracy"].as_f64().unwrap())
        .collect();
    assert!(
        acc[2] <= acc[0] + 1e-9,
        "a larger latent ball never helps the model: {acc:?}"
    );
    let a = &r["results"][1]["per_attack"][0]["attack"];
    assert_eq!(a["kind"], "latent");
    assert_eq!(a["norm"], "l2");
    assert_eq!(a["early_stop"], true);
    assert_eq!(r["cvae_checkpoint_sha256"].as_str().unwrap().len(), 64);

    // Real random transforms.
    let real = tmp.path().join("real.json");
    ballast_ok(
        tmp.path(),
        &[
            "eval",
            at.to_str().unwrap(),
            &data,
            "--real",
            "--draws",
            "2",
            "--examples",
            "40",
            "--out",
            real.to_str().unwrap(),
        ],
    );
    let r = read_json(&real);
    assert_eq!(r["draws"], 2);
    let res = &r["results"][0];
    assert_eq!(res["name"], "rts");
    assert!(
        res["all_draws_accuracy"].as_f64().unwrap() <= res["accuracy"].as_f64().unwrap() + 1e-9
    );

    // Certification by latent randomized smoothing.
    let cert = tmp.path().join("cert.json");
    let out = ballast_ok(
        tmp.path(),
        &[
            "certify",
            at.to_str().unwrap(),
            &data,
            "--n0",
            "10",
            "--n",
            "60",
            "--examples",
            "6",
            "--radii",
            "0,0.5,100",
            "--out",
            cert.to_str().unwrap(),
        ],
    );
    let r = read_json(&cert);
    assert_eq!(r["examples"], 6, "{out}");
    let curve: Vec<f64> = r["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certified_accuracy"].as_f64().unwrap())
        .collect();
    assert!(
        curve.windows(2).all(|w| w[1] <= w[0]),
        "certified accuracy falls with the radius: {curve:?}"
    );
    // With n = 60 and α = 0.001 no radius beyond σ·Φ⁻¹(0.001^(1/60)) ≈ 1.6σ can be certified.
    assert_eq!(curve[2], 0.0);
    assert_eq!(r["smoothing"]["n"], 60);
    for c in r["certificates"].as_array().unwrap() {
        if c[1]["outcome"] == "abstain" {
            assert!(c[1]["p_lower"].as_f64().unwrap() <= 0.5);
        }
    }
}

#[test]
fn cvae_training_resumes_bit_identically() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let split = tmp.path().join("split");
    train_cvae(tmp.path(), &whole, 8, &[]);
    train_cvae(tmp.path(), &split, 8, &["--stop-after", "4"]);
    train_cvae(tmp.path(), &split, 8, &["--resume"]);
    let strip = |dir: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("cvae_metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("elapsed_s");
                o.remove("steps_per_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(&whole), strip(&split));
    // Same weights: the quality reports of both final checkpoints agree exactly.
    let data = format!("--data-dir={}", data_dir().display());
    let report = |dir: &Path| {
        let out = tmp.path().join(format!(
            "{}.json",
            dir.file_name().unwrap().to_str().unwrap()
        ));
        ballast_ok(
            tmp.path(),
            &[
                "eval",
                dir.to_str().unwrap(),
                &data,
                "--eps",
                "1",
                "--examples",
                "8",
                "--draws",
                "2",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        read_json(&out)["in_distribution"].clone()
    };
    assert_eq!(report(&whole), report(&split));
}

#[test]
fn missing_or_wrong_perturbation_sets_are_named() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/latent-at-mnist-rts.toml");
    let data = format!("--data-dir={}", data_dir().display());
    // latent-at without a CVAE.
    let out = ballast(
        tmp.path(),
        &[
            "train",
            config.to_str().unwrap(),
            "--out",
            "x",
            &data,
            "--set",
            "perturbation.cvae=nowhere",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("nowhere"), "{}", text(&out));
    // A run that is not a CVAE run.
    let erm = tmp.path().join("erm");
    let plain = repo_root().join("configs/adv-mnist.toml");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            plain.to_str().unwrap(),
            "--out",
            erm.to_str().unwrap(),
            "--quiet",
            &data,
            "--set",
            "method=erm",
            "--set",
            "budget.steps=2",
            "--set",
            "data.train_size=200",
            "--set",
            "data.val_size=50",
            "--set",
            "data.test_size=50",
        ],
    );
    let out = ballast(
        tmp.path(),
        &[
            "eval",
            erm.to_str().unwrap(),
            &data,
            "--attack",
            "latent",
            "--cvae",
            erm.to_str().unwrap(),
            "--examples",
            "5",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("cvae.json"), "{}", text(&out));
    let out = ballast(
        tmp.path(),
        &["certify", erm.to_str().unwrap(), &data, "--examples", "2"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--cvae"), "{}", text(&out));
    // A bad β schedule is named.
    let cvae_cfg = repo_root().join("configs/cvae-mnist-rts.toml");
    let out = ballast(
        tmp.path(),
        &[
            "train",
            cvae_cfg.to_str().unwrap(),
            "--out",
            "y",
            &data,
            "--set",
            "perturbation.beta=[[2.0, 0.0], [1.0, 1.0]]",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("perturbation.beta"), "{}", text(&out));
}
