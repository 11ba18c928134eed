//! The page's engines on the CPU backend, through the same calls the JavaScript bindings
//! make: the shipped checkpoints and digits decode, the attack lab separates the standard and
//! the adversarially trained model, and the playground's L2RW down-weights flipped labels.

use ballast_core::attack::{AttackKind, Norm};
use ballast_core::manifest::Manifest;
use ballast_core::method::Method;
use ballast_web::attack_lab::{AttackLab, LabAttack, LabKind, LabSuite};
use ballast_web::playground::{
    DataKind, NoiseChoice, Playground, PlaygroundConfig, playground_methods,
};
use ballast_web::shipped::mnist_subset;
use burn::prelude::Device;
use std::path::Path;
use std::sync::Mutex;

/// The CPU device's random generator is shared by the test threads: tests that seed it and then
/// initialise models or draw random starts hold this lock, so each sees its own seeded stream.
static RNG: Mutex<()> = Mutex::new(());

fn assets() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"))
}

fn lab(names: &[&str]) -> AttackLab {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(assets().join("manifest.json")).unwrap()).unwrap();
    let files = names
        .iter()
        .map(|n| {
            let file = &manifest.model(n).unwrap().file;
            (n.to_string(), std::fs::read(assets().join(file)).unwrap())
        })
        .collect();
    let (_, test) = mnist_subset().unwrap();
    AttackLab::new(&Device::flex(), &manifest, files, test).unwrap()
}

#[test]
fn shipped_subset_is_real_mnist_sized_and_labelled() {
    let (train, test) = mnist_subset().unwrap();
    assert_eq!((train.len(), test.len()), (1000, 500));
    assert_eq!(train.example_shape, vec![1, 28, 28]);
    for d in [&train, &test] {
        let counts = d.class_counts();
        assert!(counts.iter().all(|&c| c > 20), "{counts:?}");
        // Digits: mostly black background, some bright strokes.
        let mean = d.feature_mean();
        assert!((0.08..0.2).contains(&mean), "{mean}");
    }
}

#[test]
fn pgd20_at_0_3_flips_the_standard_model_and_not_the_pgd_at_or_mart_models() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab(&["mnist-erm", "mnist-pgd-at", "mnist-mart"]);
    let attack = LabAttack::default();
    assert_eq!(
        (attack.kind, attack.norm, attack.eps, attack.steps),
        (LabKind::Single(AttackKind::Pgd), Norm::Linf, 0.3, 20)
    );
    let run = |m: usize| {
        pollster::block_on(lab.attack_batch(m, &attack, 0.3, 0, 40).unwrap().read()).unwrap()
    };
    let (erm, at, mart) = (run(0), run(1), run(2));
    println!("standard {erm:?}\nPGD-AT {at:?}\nMART {mart:?}");
    assert!(erm.clean_correct >= 38 && at.clean_correct >= 37 && mart.clean_correct >= 37);
    assert!(
        erm.flipped * 10 >= 8 * 40,
        "the standard model should fall: {erm:?}"
    );
    assert!(at.flipped * 4 <= 40, "PGD-AT should hold: {at:?}");
    assert!(mart.flipped * 4 <= 40, "MART should hold: {mart:?}");
    // ε = 0 changes nothing.
    let zero =
        pollster::block_on(lab.attack_batch(0, &attack, 0.0, 0, 40).unwrap().read()).unwrap();
    assert_eq!((zero.flipped, zero.robust_correct), (0, zero.clean_correct));
}

#[test]
fn single_digit_attack_stays_in_the_ball_and_reports_probabilities() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab(&["mnist-erm"]);
    let (x, y) = lab.digit(3).unwrap();
    let x = x.to_vec();
    for (norm, eps) in [(Norm::Linf, 0.2), (Norm::L2, 2.0)] {
        for kind in [
            LabKind::Single(AttackKind::Fgsm),
            LabKind::Single(AttackKind::Pgd),
            LabKind::Single(AttackKind::ApgdCe),
            LabKind::Single(AttackKind::ApgdDlr),
            LabKind::Single(AttackKind::ApgdT),
            LabKind::Single(AttackKind::FabT),
            LabKind::Single(AttackKind::Fab),
            LabKind::Single(AttackKind::Square),
            LabKind::Suite(LabSuite::AaStandard),
        ] {
            let attack = LabAttack {
                kind,
                norm,
                eps,
                steps: 5,
                queries: 50,
                ..LabAttack::default()
            };
            for label in [Some(y), None] {
                let out = pollster::block_on(lab.attack(0, &x, label, &attack).unwrap().read(&x))
                    .unwrap();
                let bound = if norm == Norm::Linf { out.linf } else { out.l2 };
                assert!(
                    bound <= eps as f32 + 1e-4,
                    "{kind:?} {norm:?}: {bound} > {eps}"
                );
                assert!(out.adv.iter().all(|v| (0.0..=1.0).contains(v)));
                for p in [&out.clean_probs, &out.adv_probs] {
                    assert_eq!(p.len(), 10);
                    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                }
                assert_eq!(
                    out.clean_pred, y as usize,
                    "the standard model knows digit 3"
                );
                // The attack never makes the model more confident in the label it attacks.
                assert!(out.adv_probs[y as usize] <= out.clean_probs[y as usize] + 1e-4);
            }
        }
    }
    // Bad input is refused with a message, not a panic.
    let bad = lab.attack(0, &x[..100], None, &LabAttack::default());
    assert!(bad.err().unwrap().contains("784"));
    let too_long = LabAttack {
        steps: 1000,
        ..LabAttack::default()
    };
    assert!(lab.attack(0, &x, None, &too_long).is_err());
    assert!(lab.attack(7, &x, None, &LabAttack::default()).is_err());
}

/// The shipped test digit the page shows as the gradient-free attack's lesson (web/js/attack.js,
/// `SQUARE_ONLY_DIGIT`).
const SQUARE_ONLY_DIGIT: usize = 76;

/// AutoAttack's standard suite in the lab: a mark per attack, in AutoAttack's order; the digit
/// shown is broken exactly when some attack broke it; on a batch the running robust count never
/// rises, ends at most at PGD's and the suite breaks the standard model everywhere.
#[test]
fn autoattack_in_the_lab_marks_each_attack_and_is_at_least_as_strong_as_pgd() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab(&["mnist-erm", "mnist-pgd-at"]);
    let aa = LabAttack {
        kind: LabKind::Suite(LabSuite::AaStandard),
        steps: 20,
        queries: 300,
        ..LabAttack::default()
    };
    let (x, y) = lab.digit(0).unwrap();
    let x = x.to_vec();
    for m in 0..2 {
        let out = pollster::block_on(lab.attack(m, &x, Some(y), &aa).unwrap().read(&x)).unwrap();
        let names: Vec<&str> = out.attacks.iter().map(|a| a.attack.as_str()).collect();
        assert_eq!(names, ["apgd-ce", "apgd-t", "fab-t", "square"]);
        let broken = out.attacks.iter().any(|a| a.broke);
        assert_eq!(broken, out.adv_pred != y as usize, "{out:?}");
        assert!(out.linf <= 0.3 + 1e-4);
    }
    let pgd = LabAttack::default();
    for m in 0..2 {
        let a = pollster::block_on(lab.attack_batch(m, &aa, 0.3, 0, 20).unwrap().read()).unwrap();
        let p = pollster::block_on(lab.attack_batch(m, &pgd, 0.3, 0, 20).unwrap().read()).unwrap();
        println!(
            "model {m}: AA {:?}, PGD-20 robust {}",
            a.running, p.robust_correct
        );
        assert_eq!(a.running.len(), 4);
        assert!(a.running.windows(2).all(|w| w[1].1 <= w[0].1));
        assert!(a.running[0].1 <= a.clean_correct);
        assert!(a.robust_correct <= p.robust_correct + 1, "{a:?} vs {p:?}");
        if m == 0 {
            assert_eq!(a.robust_correct, 0, "the standard model falls: {a:?}");
        }
    }
    // The page's example: shipped test digit 76 on the PGD-AT model at ℓ∞ 0.3 under AutoAttack's
    // full standard budgets: every gradient attack fails and Square's random search breaks it.
    let full = LabAttack {
        kind: LabKind::Suite(LabSuite::AaStandard),
        steps: 100,
        queries: 5_000,
        ..LabAttack::default()
    };
    let (x76, y76) = lab.digit(SQUARE_ONLY_DIGIT).unwrap();
    let x76 = x76.to_vec();
    let out =
        pollster::block_on(lab.attack(1, &x76, Some(y76), &full).unwrap().read(&x76)).unwrap();
    let broke: Vec<(&str, bool)> = out
        .attacks
        .iter()
        .map(|a| (a.attack.as_str(), a.broke))
        .collect();
    assert_eq!(
        broke,
        [
            ("apgd-ce", false),
            ("apgd-t", false),
            ("fab-t", false),
            ("square", true)
        ],
        "digit {SQUARE_ONLY_DIGIT} (label {y76}): {out:?}"
    );
    let parsed: Vec<LabKind> = ["\"pgd\"", "\"square\"", "\"aa-standard\""]
        .iter()
        .map(|k| serde_json::from_str(k).unwrap())
        .collect();
    assert_eq!(
        parsed,
        [
            LabKind::Single(AttackKind::Pgd),
            LabKind::Single(AttackKind::Square),
            LabKind::Suite(LabSuite::AaStandard)
        ]
    );
    let latent = LabAttack {
        kind: LabKind::Single(AttackKind::Latent),
        ..LabAttack::default()
    };
    assert!(
        lab.attack(0, &x, None, &latent)
            .err()
            .unwrap()
            .contains("latent")
    );
    let too_many = LabAttack {
        queries: 100_000,
        ..aa
    };
    assert!(
        lab.attack(0, &x, None, &too_many)
            .err()
            .unwrap()
            .contains("queries")
    );
}

#[test]
fn tampered_checkpoints_are_refused() {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(assets().join("manifest.json")).unwrap()).unwrap();
    let mut bytes = std::fs::read(assets().join("mnist-erm.bpk")).unwrap();
    bytes[1000] ^= 1;
    let (_, test) = mnist_subset().unwrap();
    let err = AttackLab::new(
        &Device::flex(),
        &manifest,
        vec![("mnist-erm".into(), bytes)],
        test.clone(),
    )
    .err()
    .unwrap();
    assert!(err.contains("sha256"), "{err}");
    let err = AttackLab::new(
        &Device::flex(),
        &manifest,
        vec![("nope".into(), vec![])],
        test,
    )
    .err()
    .unwrap();
    assert!(err.contains("not in the manifest"), "{err}");
}

#[test]
fn l2rw_gives_flipped_points_lower_weight_than_clean_ones_after_50_steps() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut ratios = Vec::new();
    for seed in 1..=5 {
        let cfg = PlaygroundConfig {
            dataset: DataKind::Moons,
            points: 300,
            noise_rate: 0.3,
            noise_kind: NoiseChoice::Symmetric,
            method: Method::L2rw,
            lr: 0.03,
            seed,
            ..PlaygroundConfig::default()
        };
        let mut pg = Playground::new(cfg, None, &Device::flex()).unwrap();
        let flipped = pg.data.noisy.iter().filter(|&&n| n).count();
        assert_eq!(flipped, 90, "30 % of 300 points");
        pg.step(50).unwrap();
        let view = pollster::block_on(pg.snapshot().read()).unwrap();
        let (erm, l2rw) = (&view.learners[0], &view.learners[1]);
        let (clean, noisy) = (l2rw.mean_weight_clean, l2rw.mean_weight_noisy.unwrap());
        println!(
            "seed {seed}: ERM acc {:.3}; L2RW acc {:.3}, mean weight clean {clean:.3} flipped {noisy:.3}",
            erm.test_acc, l2rw.test_acc
        );
        assert_eq!(view.step, 50);
        assert!(
            noisy < clean,
            "seed {seed}: flipped {noisy} vs clean {clean}"
        );
        ratios.push(noisy / clean);
        // ERM weighs everything uniformly.
        assert!(erm.weights.iter().all(|&w| w == 1.0));
        let heat = l2rw.heatmap.as_ref().unwrap();
        assert_eq!(heat.len(), 64 * 64 * 4);
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!(
        mean < 0.6,
        "flipped / clean weight ratio {mean:.3} over 5 seeds"
    );
}

/// "Defaults that teach": on its teaching state, every playground method but the `random`
/// control beats ERM on clean test accuracy at the state's `steps`, by at least 2 points over
/// 5 seeds and on at least 4 of them.
#[test]
fn every_method_beats_erm_on_its_teaching_state_over_5_seeds() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    for info in playground_methods() {
        let method: Method = info.name.parse().unwrap();
        if method == Method::Random {
            continue;
        }
        let (mut erm, mut ours, mut wins) = (0.0, 0.0, 0);
        for seed in 1..=5 {
            let cfg = PlaygroundConfig {
                seed,
                ..PlaygroundConfig::teaching(method)
            };
            let steps = cfg.steps;
            let mut pg = Playground::new(cfg, None, &Device::flex()).unwrap();
            pg.step(steps).unwrap();
            let view = pollster::block_on(pg.snapshot().read()).unwrap();
            let (a, b) = (view.learners[0].test_acc, view.learners[1].test_acc);
            println!("{method} seed {seed} at step {steps}: ERM {a:.3}, {method} {b:.3}");
            erm += a / 5.0;
            ours += b / 5.0;
            wins += usize::from(b > a);
        }
        println!("{method}: ERM {erm:.3}, {method} {ours:.3}, {wins}/5 seeds");
        assert!(
            ours >= erm + 0.02 && wins >= 4,
            "{method}: {ours:.3} vs ERM {erm:.3}, {wins}/5 seeds"
        );
    }
}

/// The visitor's own data: placed points join the training set with their class, flipped
/// labels count as noisy, and L2RW weighs the flipped points below the clean ones.
#[test]
fn placed_points_and_flipped_labels_enter_the_training_set_and_the_weights() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let base = PlaygroundConfig {
        noise_rate: 0.0,
        ..PlaygroundConfig::teaching(Method::L2rw)
    };
    let plain = Playground::new(base.clone(), None, &Device::flex()).unwrap();
    let flips: Vec<usize> = (0..plain.data.train_labels.len())
        .filter(|&i| plain.data.train_labels[i] == 0)
        .take(30)
        .collect();
    let cfg = PlaygroundConfig {
        added: vec![[0.0, 0.25, 1.0], [1.0, -0.25, 0.0], [0.5, 0.0, 1.0]],
        flips: flips.clone(),
        ..base.clone()
    };
    let mut pg = Playground::new(cfg, None, &Device::flex()).unwrap();
    let n = plain.data.train_labels.len();
    assert_eq!(pg.data.train_labels.len(), n + 3);
    assert_eq!(&pg.data.true_labels[n..], &[1, 0, 1]);
    assert_eq!(&pg.train_x_of(n + 1), &[1.0, -0.25]);
    assert_eq!(pg.data.noisy.iter().filter(|&&b| b).count(), 30);
    assert!(
        flips
            .iter()
            .all(|&i| pg.data.train_labels[i] == 1 && pg.data.noisy[i])
    );
    pg.step(200).unwrap();
    let view = pollster::block_on(pg.snapshot().read()).unwrap();
    let l2rw = &view.learners[1];
    let (clean, noisy) = (l2rw.mean_weight_clean, l2rw.mean_weight_noisy.unwrap());
    assert!(noisy < 0.5 * clean, "flipped {noisy} vs clean {clean}");

    // Flipping a point twice on two classes gives its label back.
    let twice = PlaygroundConfig {
        flips: vec![flips[0], flips[0]],
        ..base.clone()
    };
    let pg = Playground::new(twice, None, &Device::flex()).unwrap();
    assert!(pg.data.noisy.iter().all(|&b| !b));
    // Bad edits are refused by name.
    for (cfg, needle) in [
        (
            PlaygroundConfig {
                added: vec![[0.0, 0.0, 2.0]],
                ..base.clone()
            },
            "class 2",
        ),
        (
            PlaygroundConfig {
                flips: vec![10_000],
                ..base.clone()
            },
            "position 10000",
        ),
        (
            PlaygroundConfig {
                added: vec![[f32::NAN, 0.0, 0.0]],
                ..base.clone()
            },
            "not finite",
        ),
    ] {
        let err = Playground::new(cfg, None, &Device::flex()).err().unwrap();
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn every_method_runs_on_every_data_set() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mnist = mnist_subset().unwrap();
    for dataset in [
        DataKind::Moons,
        DataKind::Spirals,
        DataKind::Blobs,
        DataKind::Mnist,
    ] {
        for info in playground_methods() {
            let method: Method = info.name.parse().unwrap();
            let cfg = PlaygroundConfig {
                dataset,
                method,
                imbalance: 0.5,
                noise_kind: NoiseChoice::Pair,
                ..PlaygroundConfig::default()
            };
            let mut pg = Playground::new(cfg, Some(&mnist), &Device::flex()).unwrap();
            pg.step(3).unwrap();
            let view = pollster::block_on(pg.snapshot().read()).unwrap();
            let right = &view.learners[1];
            assert!(right.loss.is_finite() && (0.0..=1.0).contains(&right.test_acc));
            assert_eq!(right.weights.len(), pg.data.train_labels.len());
            assert_eq!(right.heatmap.is_some(), dataset != DataKind::Mnist);
            assert_eq!(right.hyper.is_some(), info.uses.loss_hyper, "{method}");
            if let Some(q) = &right.hyper {
                assert!(q[0] > 0.0 && q[0] <= 1.0, "GCE q stays in range: {q:?}");
            }
            // Imbalance: class 0 keeps about half its examples.
            let counts = pg.data.true_labels.iter().filter(|&&l| l == 0).count();
            let others = pg.data.true_labels.iter().filter(|&&l| l == 1).count();
            assert!(
                counts * 10 <= others * 6,
                "{dataset:?}: {counts} vs {others}"
            );
        }
    }
}

#[test]
fn bad_controls_are_refused_with_their_name() {
    for (json, needle) in [
        (r#"{"method":"erm"}"#, "method"),
        (r#"{"noise_rate":0.95}"#, "noise_rate"),
        (r#"{"imbalance":0}"#, "imbalance"),
        (r#"{"lr":-1}"#, "lr"),
        (r#"{"points":5}"#, "points"),
    ] {
        let cfg: PlaygroundConfig = serde_json::from_str(json).unwrap();
        let err = Playground::new(cfg, None, &Device::flex()).err().unwrap();
        assert!(err.contains(needle), "{json}: {err}");
    }
    assert!(serde_json::from_str::<PlaygroundConfig>(r#"{"colour":"red"}"#).is_err());
    let cfg = PlaygroundConfig {
        dataset: DataKind::Mnist,
        ..PlaygroundConfig::default()
    };
    assert!(
        Playground::new(cfg, None, &Device::flex())
            .err()
            .unwrap()
            .contains("MNIST")
    );
}

#[test]
fn javascript_entry_points_run_natively_on_the_cpu() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    use ballast_web::bindings::{PlaygroundHandle, defaults, palette};
    let d: serde_json::Value = serde_json::from_str(&defaults().unwrap()).unwrap();
    assert_eq!(d["attack"]["eps"], 0.3);
    assert_eq!(palette().len(), 30);
    let pg = PlaygroundHandle::new(&d["playground"].to_string()).unwrap();
    pg.step(3).unwrap();
    assert_eq!(pg.steps_done(), 3);
    let data: serde_json::Value = serde_json::from_str(&pg.data().unwrap()).unwrap();
    assert_eq!(
        data["train_labels"].as_array().unwrap().len() * 2,
        pg.train_x().len()
    );
}

fn explorer() -> ballast_web::explorer::Explorer {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(assets().join("manifest.json")).unwrap()).unwrap();
    let set = manifest
        .perturbation_set("mnist-rts")
        .expect("the explorer's set is shipped");
    let mut files = vec![(
        set.name.clone(),
        std::fs::read(assets().join(&set.file)).unwrap(),
    )];
    for m in manifest
        .models
        .iter()
        .filter(|m| m.perturbation_set.as_deref() == Some("mnist-rts"))
    {
        files.push((
            m.name.clone(),
            std::fs::read(assets().join(&m.file)).unwrap(),
        ));
    }
    let (_, test) = mnist_subset().unwrap();
    ballast_web::explorer::Explorer::new(&Device::flex(), &manifest, "mnist-rts", files, test)
        .unwrap()
}

#[test]
fn the_shipped_perturbation_set_decodes_with_a_standard_and_a_latent_at_classifier() {
    let ex = explorer();
    let methods: Vec<&str> = ex.models.iter().map(|m| m.entry.method.as_str()).collect();
    assert_eq!(methods, ["erm", "latent-at"], "standard first");
    assert_eq!(ex.entry.leading_dims.len(), ex.latent_dim());
    let e = &ex.entry.dim_effect;
    assert!(e[ex.entry.leading_dims[0]] >= e[ex.entry.leading_dims[1]]);
    // Tampered bytes are refused.
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(assets().join("manifest.json")).unwrap()).unwrap();
    let set = manifest.perturbation_set("mnist-rts").unwrap();
    let mut bytes = std::fs::read(assets().join(&set.file)).unwrap();
    bytes[100] ^= 1;
    let (_, test) = mnist_subset().unwrap();
    let err = ballast_web::explorer::Explorer::new(
        &Device::flex(),
        &manifest,
        "mnist-rts",
        vec![(set.name.clone(), bytes)],
        test,
    )
    .err()
    .unwrap();
    assert!(err.contains("sha256"), "{err}");
}

#[test]
fn explorer_samples_differ_from_the_digit_and_stay_digit_like_at_small_eps() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let ex = explorer();
    let x = ex.digits.example(3).to_vec();
    let out = pollster::block_on(ex.samples(&x, &[0.0; 4], 1.0, 9, 5).unwrap().read()).unwrap();
    assert_eq!(out.count, 9);
    for k in 1..9 {
        let img = &out.images[784 * k..784 * (k + 1)];
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
        let diff: f32 = img.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum::<f32>() / 784.0;
        assert!(diff > 0.005, "sample {k} is the digit itself ({diff})");
    }
    // The standard classifier still reads most small-ε samples correctly.
    let acc = pollster::block_on(ex.sample_accuracy(0, 0.5, 0, 100, 2, 1).unwrap().read()).unwrap();
    assert_eq!(acc.samples, 200);
    assert!(acc.correct as f64 >= 0.85 * 200.0, "{acc:?}");
    // Bad controls are named.
    assert!(
        ex.samples(&x, &[0.0; 4], -1.0, 9, 5)
            .err()
            .unwrap()
            .contains("eps")
    );
    assert!(
        ex.samples(&x, &[0.0; 4], 1.0, 0, 5)
            .err()
            .unwrap()
            .contains("count")
    );
    assert!(
        ex.attack(0, &x[..10], None, 1.0, 5, 0)
            .err()
            .unwrap()
            .contains("784")
    );
}

#[test]
fn the_explorer_attack_stays_in_the_ball_and_fools_the_standard_model_more() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let ex = explorer();
    let eps = 2.0;
    let mut fooled = [0usize; 2];
    for i in 0..20 {
        let (x, y) = (ex.digits.example(i).to_vec(), ex.digits.labels[i]);
        for (m, f) in fooled.iter_mut().enumerate() {
            let out =
                pollster::block_on(ex.attack(m, &x, Some(y), eps, 20, 0).unwrap().read()).unwrap();
            assert!(out.u_norm <= eps as f32 * (1.0 + 1e-4), "{}", out.u_norm);
            assert!(out.adv.iter().all(|v| (0.0..=1.0).contains(v)));
            *f += (out.adv_pred != y as usize) as usize;
        }
    }
    assert!(
        fooled[0] > fooled[1],
        "standard fooled on {} digits, latent-at on {}",
        fooled[0],
        fooled[1]
    );
}
