//! The models shipped for the browser (`web/assets/`) still decode into the architectures
//! their manifest names, are the files the manifest hashes, and classify real MNIST digits
//! (the MNIST erm, pgd-at and ssds checkpoints of docs/results/adversarial.md).

mod common;
use ballast_core::Mode;
use ballast_train::export::load_manifest;
use burn::prelude::*;

#[test]
fn shipped_models_decode_into_their_architectures() {
    let assets = common::repo_root().join("web/assets");
    let manifest = load_manifest(&assets).unwrap();
    let names: Vec<&str> = manifest.models.iter().map(|m| m.name.as_str()).collect();
    for required in ["mnist-erm", "mnist-pgd-at", "mnist-ssds"] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    let device = ballast_core::Backend::Cpu.device().unwrap();
    for entry in &manifest.models {
        let path = assets.join(&entry.file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, entry.bytes, "{}", entry.name);
        assert!(bytes.len() < 2_000_000, "{} is not small", entry.name);
        let hash = ballast_train::checkpoint::file_sha256(&path).unwrap();
        assert_eq!(hash, entry.sha256, "{}", entry.name);
        assert_eq!(entry.burn_version, ballast_train::BURN_VERSION);
        let model = entry.model.init(&entry.input, &device);
        let model = ballast_train::checkpoint::load_model_bytes(model, &bytes, &path).unwrap();
        // The training config in the manifest parses and names the same architecture.
        let cfg = ballast_train::RunConfig::parse(&entry.training_config, &[]).unwrap();
        assert_eq!(cfg.model, entry.model, "{}", entry.name);
        // A forward pass on a blank and a bright image gives finite logits of the right shape.
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..2 * entry.input.features())
                    .map(|i| {
                        if i < entry.input.features() {
                            0.0f32
                        } else {
                            1.0
                        }
                    })
                    .collect::<Vec<_>>(),
                [2, entry.input.features()],
            ),
            &device,
        );
        let logits = model.forward(x, Mode::Eval);
        assert_eq!(logits.dims(), [2, entry.input.num_classes]);
        let v: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{}", entry.name);
        assert!(entry.clean_test_accuracy.unwrap() > 0.9, "{}", entry.name);
    }
}

/// The page's embedded MNIST subset is exactly what `ballast data subset mnist` writes from
/// the real data set (so it can be regenerated, and is real MNIST).
#[test]
fn shipped_mnist_subset_is_reproducible_from_real_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("subset.bin.gz");
    let run = common::ballast(
        dir.path(),
        &["data", "subset", "mnist", "--out", out.to_str().unwrap()],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let shipped =
        std::fs::read(common::repo_root().join("web/assets/mnist-subset.bin.gz")).unwrap();
    let fresh = std::fs::read(&out).unwrap();
    let (a, b) = (
        ballast_data::decode_subset(&shipped, "m").unwrap(),
        ballast_data::decode_subset(&fresh, "m").unwrap(),
    );
    assert_eq!(
        a, b,
        "web/assets/mnist-subset.bin.gz differs from a fresh export"
    );
    assert_eq!((a.0.len(), a.1.len()), (1000, 500));
}

/// The shipped robust-overfitting curves are complete and name an epoch they contain.
#[test]
fn shipped_curves_are_complete() {
    let assets = common::repo_root().join("web/assets");
    let manifest = load_manifest(&assets).unwrap();
    assert!(!manifest.curves.is_empty());
    for entry in &manifest.curves {
        let bytes = std::fs::read(assets.join(&entry.file)).unwrap();
        let c: ballast_train::export::Curves = serde_json::from_slice(&bytes).unwrap();
        assert!(c.points.len() >= 10, "{}", entry.name);
        assert!(c.points.iter().any(|p| p.epoch == c.selected_epoch));
        for p in &c.points {
            for v in [
                p.train_robust_acc,
                p.val_robust_acc,
                p.test_robust_acc,
                p.test_acc,
            ] {
                assert!((0.0..=1.0).contains(&v));
            }
        }
        // Robust overfitting is visible: the final robust train accuracy beats the selected one.
        let sel = c
            .points
            .iter()
            .find(|p| p.epoch == c.selected_epoch)
            .unwrap();
        assert!(
            c.points.last().unwrap().train_robust_acc > sel.train_robust_acc,
            "{}",
            entry.name
        );
    }
}

/// The shipped perturbation set (the explorer's) decodes into the architecture its manifest
/// names, is the file the manifest hashes, ranks its latent directions by effect, and its
/// classifiers are linked to it.
#[test]
fn shipped_perturbation_sets_decode_and_link_their_classifiers() {
    let assets = common::repo_root().join("web/assets");
    let manifest = load_manifest(&assets).unwrap();
    let set = manifest
        .perturbation_set("mnist-rts")
        .expect("mnist-rts is shipped");
    let path = assets.join(&set.file);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() < 2_000_000, "the shipped set is not small");
    assert_eq!(
        ballast_train::checkpoint::file_sha256(&path).unwrap(),
        set.sha256
    );
    let cfg = ballast_train::RunConfig::parse(&set.training_config, &[]).unwrap();
    assert_eq!(cfg.perturbation.latent, set.cvae.latent);
    let device = ballast_core::Backend::Cpu.device().unwrap();
    let decoded = ballast_core::manifest::decode_set(set, &bytes, &device).unwrap();
    let mut order = set.leading_dims.clone();
    order.sort();
    assert_eq!(order, (0..set.cvae.latent).collect::<Vec<_>>());
    assert!(
        set.leading_dims
            .windows(2)
            .all(|w| set.dim_effect[w[0]] >= set.dim_effect[w[1]])
    );
    // Members of the set are images.
    let x = Tensor::<2>::ones([2, set.cvae.features()], &device) * 0.5;
    let u = Tensor::<2>::ones([2, set.cvae.latent], &device);
    let img: Vec<f32> = decoded.perturb(x, u).into_data().try_to_vec().unwrap();
    assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
    let linked: Vec<&str> = manifest
        .models
        .iter()
        .filter(|m| m.perturbation_set.as_deref() == Some("mnist-rts"))
        .map(|m| m.method.as_str())
        .collect();
    assert!(
        linked.contains(&"erm") && linked.contains(&"latent-at"),
        "{linked:?}"
    );
}
