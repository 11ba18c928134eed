//! The adversarial family end to end on real MNIST (small subsets): training with the
//! per-epoch robust evaluation and the best-by-validation model, the attack report with
//! every knob, SSDS's persistent state across resume, and clear errors.

mod common;
use common::{ballast, ballast_ok, data_dir, fetch_mnist, metrics_without_timing, read_json, text};
use std::path::Path;

/// A short run of `configs/adv-mnist.toml` with `method`.
fn short_run(cwd: &Path, out: &Path, method: &str, steps: usize, extra: &[&str]) -> String {
    let config = common::repo_root().join("configs/adv-mnist.toml");
    let method = format!("method={method}");
    let steps = format!("budget.steps={steps}");
    let data = format!("--data-dir={}", data_dir().display());
    let mut args = vec![
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        data.as_str(),
        "--set",
        &method,
        "--set",
        &steps,
        "--set",
        "data.train_size=2000",
        "--set",
        "data.val_size=200",
        "--set",
        "data.test_size=500",
        "--set",
        "budget.eval_every=20",
        "--set",
        "adversarial.eval_test_examples=100",
        "--set",
        "adversarial.eval_train_examples=100",
        "--set",
        "adversarial.eps_warmup_epochs=0.5",
    ];
    args.extend_from_slice(extra);
    ballast_ok(cwd, &args)
}

#[test]
fn adversarial_training_keeps_the_best_model_and_attacks_report_every_knob() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("pgd-at");
    short_run(tmp.path(), &run, "pgd-at", 40, &[]);
    let summary = read_json(&run.join("summary.json"));
    assert_eq!(summary["method"], "pgd-at");
    let robust = &summary["robust"];
    assert_eq!(robust["test_examples"], 100);
    assert_eq!(robust["attack"]["steps"], 10);
    assert!(robust["final_test_robust"].as_f64().is_some(), "{robust}");
    let best = robust["best_test_robust"].as_f64().unwrap();
    let selected = robust["test_robust_at_best_val"].as_f64().unwrap();
    assert!(best >= selected, "{robust}");
    for f in ["best/model.bpk", "best/info.json", "robust.svg"] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let records = metrics_without_timing(&run);
    assert_eq!(records.len(), 2);
    for r in &records {
        for key in [
            "train_adv_acc",
            "train_acc",
            "train_robust_acc",
            "val_robust_acc",
            "test_robust_acc",
        ] {
            assert!(r[key].as_f64().is_some(), "{key} missing in {r}");
        }
    }

    // The attack report: three radii, PGD with restarts, FGSM and AA-lite.
    let report_path = tmp.path().join("report.json");
    let curve = tmp.path().join("curve.svg");
    let data = format!("--data-dir={}", data_dir().display());
    ballast_ok(
        tmp.path(),
        &[
            "attack",
            run.to_str().unwrap(),
            &data,
            "--attack",
            "pgd,fgsm,aa-lite",
            "--eps",
            "0,0.1,0.3",
            "--steps",
            "5",
            "--apgd-steps",
            "5",
            "--restarts",
            "2",
            "--examples",
            "60",
            "--seed",
            "7",
            "--best",
            "--out",
            report_path.to_str().unwrap(),
            "--curve",
            curve.to_str().unwrap(),
        ],
    );
    let report = read_json(&report_path);
    assert_eq!(report["examples"], 60);
    assert_eq!(report["split"], "test");
    assert_eq!(report["dataset"], "Mnist");
    assert_eq!(report["spec"]["restarts"], 2);
    assert_eq!(report["spec"]["seed"], 7);
    assert_eq!(report["spec"]["norm"], "linf");
    assert!(
        report["checkpoint"]
            .as_str()
            .unwrap()
            .ends_with("best/model.bpk")
    );
    let hash = report["checkpoint_sha256"].as_str().unwrap();
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()));
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let clean = report["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.15, "clean accuracy {clean} (chance: 0.1)");
    // ε = 0: every attack leaves the accuracy at the clean one.
    for a in results[0]["per_attack"].as_array().unwrap() {
        assert_eq!(a["robust_accuracy"].as_f64().unwrap(), clean, "{a}");
    }
    let names: Vec<&str> = results[1]["per_attack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attack"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pgd", "fgsm", "apgd-ce", "apgd-dlr"]);
    // The step sizes used: 2.5·ε/steps for PGD, ε for FGSM, adaptive (none) for APGD.
    let steps: Vec<Option<f64>> = results[1]["per_attack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["effective_step_size"].as_f64())
        .collect();
    assert!(
        (steps[0].unwrap() - 2.5 * 0.1 / 5.0).abs() < 1e-12,
        "{steps:?}"
    );
    assert!((steps[1].unwrap() - 0.1).abs() < 1e-12, "{steps:?}");
    assert_eq!(steps[2..], [None, None]);
    for r in results {
        let worst = r["worst_case_accuracy"].as_f64().unwrap();
        for a in r["per_attack"].as_array().unwrap() {
            let step = a["attack"]["step_size"].clone();
            let acc = a["robust_accuracy"].as_f64().unwrap();
            assert!(worst <= acc, "worst case {worst} above {acc} ({step})");
        }
    }
    assert!(curve.is_file());

    // `eval --attack` gives the same report.
    let log = ballast_ok(
        tmp.path(),
        &[
            "eval",
            run.to_str().unwrap(),
            &data,
            "--attack",
            "pgd",
            "--eps",
            "8/255",
            "--steps",
            "3",
            "--examples",
            "20",
        ],
    );
    assert!(log.contains("checkpoint_sha256"), "{log}");
    assert!(log.contains("0.0313725"), "{log}");

    // Without --attack: AutoAttack's standard suite, in sequence (small budgets here).
    let aa_path = tmp.path().join("aa.json");
    ballast_ok(
        tmp.path(),
        &[
            "attack",
            run.to_str().unwrap(),
            &data,
            "--eps",
            "0.3",
            "--apgd-steps",
            "3",
            "--square-queries",
            "30",
            "--examples",
            "30",
            "--out",
            aa_path.to_str().unwrap(),
        ],
    );
    let aa = read_json(&aa_path);
    assert_eq!(aa["spec"]["schedule"], "sequence", "{aa}");
    let r = &aa["results"][0];
    let per_attack = r["per_attack"].as_array().unwrap();
    let kinds: Vec<&str> = per_attack
        .iter()
        .map(|a| a["attack"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["apgd-ce", "apgd-t", "fab-t", "square"]);
    assert_eq!(per_attack[3]["attack"]["steps"], 30);
    let running: Vec<f64> = per_attack
        .iter()
        .map(|a| a["robust_accuracy"].as_f64().unwrap())
        .collect();
    assert!(running.windows(2).all(|w| w[1] <= w[0]), "{running:?}");
    let worst = r["worst_case_accuracy"].as_f64().unwrap();
    assert_eq!(running[3], worst);
    let broke: u64 = per_attack
        .iter()
        .map(|a| a["only_this_attack_broke"].as_u64().unwrap())
        .sum();
    let clean = r["clean_accuracy"].as_f64().unwrap();
    assert!(((clean - worst) * 30.0 - broke as f64).abs() < 1e-9, "{r}");
    // Small budgets are not AutoAttack: no RobustBench summary.
    assert!(aa.get("robustbench").is_none(), "{aa}");

    // aa-plus at l2: its six attacks in order, the restarts where AutoAttack puts them.
    let plus_path = tmp.path().join("plus.json");
    ballast_ok(
        tmp.path(),
        &[
            "attack",
            run.to_str().unwrap(),
            &data,
            "--attack",
            "aa-plus",
            "--norm",
            "l2",
            "--eps",
            "1.5",
            "--apgd-steps",
            "3",
            "--square-queries",
            "20",
            "--examples",
            "20",
            "--out",
            plus_path.to_str().unwrap(),
        ],
    );
    let plus = read_json(&plus_path);
    assert_eq!(plus["spec"]["schedule"], "sequence", "{plus}");
    let per_attack = plus["results"][0]["per_attack"].as_array().unwrap();
    let kinds_restarts: Vec<(&str, u64)> = per_attack
        .iter()
        .map(|a| {
            (
                a["attack"]["kind"].as_str().unwrap(),
                a["attack"]["restarts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds_restarts,
        [
            ("apgd-ce", 5),
            ("apgd-dlr", 5),
            ("fab", 5),
            ("square", 5),
            ("apgd-t", 1),
            ("fab-t", 1)
        ]
    );
    assert!(per_attack.iter().all(|a| a["attack"]["norm"] == "l2"));
    let running: Vec<f64> = per_attack
        .iter()
        .map(|a| a["robust_accuracy"].as_f64().unwrap())
        .collect();
    assert!(running.windows(2).all(|w| w[1] <= w[0]), "{running:?}");

    // Bad requests are errors that say what is wrong.
    for (args, needle) in [
        (vec!["--attack", "nope"], "nope"),
        (vec!["--attack", "pgd", "--eps=-1"], "eps"),
        (vec!["--attack", "pgd", "--norm", "l3"], "l3"),
        (vec!["--attack", "pgd", "--split", "val2"], "val2"),
        (vec!["--attack", "pgd", "--restarts", "0"], "restarts"),
        (vec!["--attack", "square", "--examples", "x"], "examples"),
    ] {
        let mut all = vec!["attack", run.to_str().unwrap(), data.as_str()];
        all.extend(args);
        let out = ballast(tmp.path(), &all);
        assert!(!out.status.success(), "{all:?} should fail");
        assert!(text(&out).contains(needle), "{all:?}: {}", text(&out));
    }
}

#[test]
fn ssds_state_survives_resume_exactly() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    short_run(tmp.path(), &whole, "ssds", 40, &[]);
    let split = tmp.path().join("split");
    short_run(tmp.path(), &split, "ssds", 40, &["--stop-after", "20"]);
    short_run(tmp.path(), &split, "ssds", 40, &["--resume"]);
    assert_eq!(
        metrics_without_timing(&whole),
        metrics_without_timing(&split)
    );
    let state = |run: &Path| {
        let latest = std::fs::read_to_string(run.join("checkpoints/LATEST")).unwrap();
        std::fs::read(
            run.join("checkpoints")
                .join(latest.trim())
                .join("ssds_state.bin"),
        )
        .unwrap()
    };
    let (a, b) = (state(&whole), state(&split));
    // 24-byte header, then n·D perturbations and n duals (n = 2000, D = 784).
    assert_eq!(a.len(), 24 + 4 * (2000 * 784 + 2000));
    assert_eq!(a, b);
    // Some perturbations moved, and none beyond ε = 0.3.
    let floats: Vec<f32> = a[24..]
        .chunks_exact(4)
        .take(2000 * 784)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert!(floats.iter().any(|v| *v != 0.0));
    assert!(floats.iter().all(|v| v.abs() <= 0.3 + 1e-6));
}

/// The masking warning end to end: the same short ERM recipe trained behind a 4-level input
/// quantiser (a step function: zero input gradients) leaves APGD-CE stalled and Square breaking
/// what it could not, so the report warns (JSON and stderr); without the quantiser APGD-CE
/// breaks the model and the report is silent.
#[test]
fn masking_warning_fires_behind_an_input_quantiser_and_not_without() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", data_dir().display());
    let mut reports = Vec::new();
    for (name, extra) in [
        ("plain", vec![]),
        ("quantised", vec!["--set", "model.input_levels=4"]),
    ] {
        let run = tmp.path().join(name);
        short_run(tmp.path(), &run, "erm", 60, &extra);
        let report = tmp.path().join(format!("{name}.json"));
        let out = ballast(
            tmp.path(),
            &[
                "attack",
                run.to_str().unwrap(),
                &data,
                "--attack",
                "apgd-ce,square",
                "--eps",
                "0.3",
                "--apgd-steps",
                "20",
                "--square-queries",
                "300",
                "--examples",
                "60",
                "--out",
                report.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        reports.push((read_json(&report), text(&out)));
    }
    let (plain, plain_log) = &reports[0];
    assert!(plain.get("warnings").is_none(), "{plain}"); // written only when there are some
    assert!(!plain_log.contains("gradient masking"), "{plain_log}");
    let (masked, masked_log) = &reports[1];
    let per_attack = masked["results"][0]["per_attack"].as_array().unwrap();
    let clean = masked["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.6, "the quantised model did not learn: {clean}");
    // APGD-CE sees zero gradients: only its random start breaks a few digits; Square breaks
    // most of what it left.
    let after_apgd = per_attack[0]["robust_accuracy"].as_f64().unwrap();
    assert!(after_apgd >= clean - 0.1, "{masked}");
    assert!(
        per_attack[1]["only_this_attack_broke"].as_u64().unwrap() >= 20,
        "{masked}"
    );
    let warnings = masked["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["kind"] == "gradient-free-breaks-more"),
        "{masked}"
    );
    assert!(masked_log.contains("gradient masking"), "{masked_log}");
}

#[test]
fn adversarial_methods_refuse_toy_coordinates_and_a_zero_radius() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("toy.toml");
    std::fs::write(
        &cfg,
        "method = \"pgd-at\"\n[data]\ndataset = \"moons\"\n[model]\narch = \"mlp\"\n[adversarial]\neps = 0.1\n",
    )
    .unwrap();
    let out = ballast(tmp.path(), &["train", cfg.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("toy"), "{}", text(&out));
    let out = ballast(
        tmp.path(),
        &[
            "train",
            cfg.to_str().unwrap(),
            "--quiet",
            "--set",
            "data.dataset=mnist",
            "--set",
            "adversarial.eps=0",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("eps"), "{}", text(&out));
}

/// A model trained by PyTorch (`tests/fixtures/pytorch/make.py`) evaluated by `ballast attack`:
/// the same clean accuracy on the same 200 test digits, the import recorded in the report,
/// and clear errors for a missing normalisation and for tensors the model has no place for.
#[test]
fn a_pytorch_checkpoint_is_attacked_with_its_clean_accuracy_reproduced() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = common::repo_root().join("tests/fixtures/pytorch");
    let expected = read_json(&fixtures.join("small-cnn-w025.json"));
    let data = format!("--data-dir={}", data_dir().display());
    let report_path = tmp.path().join("report.json");
    let pt = fixtures.join("small-cnn-w025.pt");
    let common_args = [
        "--arch",
        "small-cnn",
        "--width",
        "0.25",
        "--dataset",
        "mnist",
        "--examples",
        "200",
        "--eps",
        "0.1",
    ];
    let mut args = vec!["attack", pt.to_str().unwrap()];
    args.extend_from_slice(&common_args);
    args.extend_from_slice(&[
        "--mean",
        "0.1307",
        "--std",
        "0.3081",
        "--state-dict-key",
        "state_dict",
        "--rename",
        "^0\\.=convs.0.",
        "--rename",
        "^2\\.=convs.1.",
        "--rename",
        "^5\\.=fc.",
        "--rename",
        "^7\\.=head.",
        "--attack",
        "apgd-ce",
        "--apgd-steps",
        "20",
        data.as_str(),
        "--out",
        report_path.to_str().unwrap(),
    ]);
    let log = ballast_ok(tmp.path(), &args);
    assert!(
        log.contains("imported") && log.contains("8 tensors"),
        "{log}"
    );
    let report = read_json(&report_path);
    let clean = report["clean_accuracy"].as_f64().unwrap();
    let torch = expected["test_accuracy"].as_f64().unwrap();
    assert!(
        (clean - torch).abs() < 1e-6,
        "Ballast {clean}, PyTorch {torch}"
    );
    assert!(report.get("run_config").is_none(), "{report}");
    let imported = &report["imported"];
    assert_eq!(imported["format"], "pytorch");
    assert_eq!(imported["model"]["arch"], "small-cnn");
    assert_eq!(imported["mean"], serde_json::json!([0.1307]));
    assert_eq!(imported["sha256"], report["checkpoint_sha256"]);
    let robust = report["results"][0]["worst_case_accuracy"]
        .as_f64()
        .unwrap();
    assert!(robust < clean, "{report}");

    // No normalisation given: refused with the flags named.
    let mut args = vec!["attack", pt.to_str().unwrap()];
    args.extend_from_slice(&common_args);
    args.push(data.as_str());
    let out = ballast(tmp.path(), &args);
    assert!(!out.status.success());
    assert!(text(&out).contains("--mean and --std"), "{}", text(&out));

    // The safetensors fixture carries normalisation buffers: named unless skipped.
    let st = fixtures.join("small-cnn-w025.safetensors");
    let mut args = vec!["attack", st.to_str().unwrap()];
    args.extend_from_slice(&common_args);
    args.extend_from_slice(&[
        "--mean",
        "0.1307",
        "--std",
        "0.3081",
        "--attack",
        "fgsm",
        data.as_str(),
    ]);
    let out = ballast(tmp.path(), &args);
    assert!(!out.status.success());
    assert!(text(&out).contains("norm.mean, norm.std"), "{}", text(&out));
    args.extend_from_slice(&["--skip", "^norm\\.", "--out", report_path.to_str().unwrap()]);
    ballast_ok(tmp.path(), &args);
    let report = read_json(&report_path);
    assert_eq!(report["clean_accuracy"].as_f64().unwrap(), clean);
    assert_eq!(
        report["imported"]["skipped_tensors"],
        serde_json::json!(["norm.mean", "norm.std"])
    );

    // A PyTorch file without --arch: told what to add.
    let out = ballast(tmp.path(), &["attack", pt.to_str().unwrap(), data.as_str()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--arch, --dataset, --mean and --std"),
        "{}",
        text(&out)
    );
}

/// A randomised defence (test-time Gaussian input noise) attacked with aa-rand: the report
/// records the noise and the EOT draws, runs APGD-CE then APGD-DLR with 20 draws in sequence,
/// warns when the randomness and the attacks' EOT do not match, and bad noise levels are
/// errors naming the flag.
#[test]
fn aa_rand_attacks_a_randomised_defence_and_records_its_knobs() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("erm");
    short_run(tmp.path(), &run, "erm", 20, &[]);
    let data = format!("--data-dir={}", data_dir().display());
    let attack = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "attack",
            run.to_str().unwrap(),
            data.as_str(),
            "--eps",
            "0.1",
            "--apgd-steps",
            "3",
            "--examples",
            "20",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let printed = ballast_ok(tmp.path(), &args);
        (printed, read_json(out))
    };
    let warning_kinds = |report: &serde_json::Value| -> Vec<String> {
        report["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .map(|w| w["kind"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };

    let (_, rand) = attack(
        &["--attack", "aa-rand", "--input-noise", "0.1"],
        &tmp.path().join("rand.json"),
    );
    assert_eq!(rand["spec"]["input_noise"], 0.1, "{rand}");
    assert_eq!(rand["spec"]["eot_draws"], 20, "{rand}");
    assert_eq!(rand["spec"]["schedule"], "sequence", "{rand}");
    assert!(rand["mode"].as_str().unwrap().contains("noise"), "{rand}");
    let per_attack = rand["results"][0]["per_attack"].as_array().unwrap();
    let attacks: Vec<(&str, u64, u64)> = per_attack
        .iter()
        .map(|a| {
            (
                a["attack"]["kind"].as_str().unwrap(),
                a["attack"]["eot_draws"].as_u64().unwrap(),
                a["attack"]["restarts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(attacks, [("apgd-ce", 20, 1), ("apgd-dlr", 20, 1)]);
    let running: Vec<f64> = per_attack
        .iter()
        .map(|a| a["robust_accuracy"].as_f64().unwrap())
        .collect();
    assert!(running.windows(2).all(|w| w[1] <= w[0]), "{running:?}");
    assert!(warning_kinds(&rand).is_empty(), "{rand}");
    // 3 iterations are not AutoAttack's 100: no RobustBench summary.
    assert!(rand.get("robustbench").is_none(), "{rand}");

    // A noisy model without EOT, and EOT on a deterministic model, warn (stdout and JSON).
    let (printed, no_eot) = attack(
        &["--attack", "apgd-ce", "--input-noise", "0.1"],
        &tmp.path().join("no-eot.json"),
    );
    assert_eq!(
        warning_kinds(&no_eot),
        ["randomised-without-eot"],
        "{no_eot}"
    );
    assert!(printed.contains("without EOT"), "{printed}");
    let (_, wasted) = attack(&["--attack", "aa-rand"], &tmp.path().join("wasted.json"));
    assert_eq!(wasted["spec"]["input_noise"], 0.0, "{wasted}");
    assert_eq!(
        warning_kinds(&wasted),
        ["eot-on-deterministic-model"],
        "{wasted}"
    );

    for bad in [
        "--input-noise=-0.1",
        "--input-noise=NaN",
        "--input-noise=abc",
    ] {
        let all = [
            "attack",
            run.to_str().unwrap(),
            data.as_str(),
            "--attack",
            "aa-rand",
            bad,
        ];
        let out = ballast(tmp.path(), &all);
        assert!(!out.status.success(), "{all:?} should fail");
        assert!(
            text(&out).contains("--input-noise"),
            "{all:?}: {}",
            text(&out)
        );
    }
    let out = ballast(
        tmp.path(),
        &[
            "attack",
            run.to_str().unwrap(),
            data.as_str(),
            "--attack",
            "aa-rand",
            "--eot-draws",
            "0",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("eot-draws"), "{}", text(&out));
}
