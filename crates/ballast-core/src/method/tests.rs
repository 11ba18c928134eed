//! The registry: names, labels and families are consistent; names parse back; the settings
//! checks name what is wrong; every classifier method steps and saves/restores its state.

use super::*;
use crate::Batch;
use crate::loss::LossConfig;
use crate::models::{InputSpec, ModelConfig};
use crate::step::OptimizerConfig;
use burn::prelude::*;
use std::collections::HashSet;
use std::path::Path;

#[test]
fn names_and_labels_are_unique_and_parse_back() {
    let names: HashSet<_> = Method::ALL.iter().map(|m| m.name()).collect();
    let labels: HashSet<_> = Method::ALL.iter().map(|m| m.label()).collect();
    assert_eq!(names.len(), Method::ALL.len());
    assert_eq!(labels.len(), Method::ALL.len());
    for &m in Method::ALL {
        assert_eq!(m.name().parse::<Method>().unwrap(), m);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, format!("\"{}\"", m.name()));
        assert_eq!(serde_json::from_str::<Method>(&json).unwrap(), m);
        assert!(m.info().summary.ends_with('.'), "{m}: {}", m.info().summary);
        assert!(
            m.name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{m}"
        );
    }
    let err = "magic".parse::<Method>().unwrap_err().to_string();
    assert!(err.contains("magic") && err.contains("l2rw"), "{err}");
}

#[test]
fn settings_checks_name_the_problem() {
    let cfg = MethodConfig::default();
    let err = Method::MetaLoss.resolve(&cfg).unwrap_err().to_string();
    assert!(err.contains("loss.kind"), "{err}");
    let mut mixup = MethodConfig::default();
    mixup.adversarial.mixup_alpha = 1.0;
    assert!(Method::PgdAt.resolve(&mixup).is_ok());
    let err = Method::Trades.resolve(&mixup).unwrap_err().to_string();
    assert!(
        err.contains("mixup_alpha") && err.contains("pgd-at"),
        "{err}"
    );
    let mut l2 = MethodConfig::default();
    l2.adversarial.norm = crate::attack::Norm::L2;
    let err = Method::Ssds.resolve(&l2).unwrap_err().to_string();
    assert!(err.contains("linf"), "{err}");
    let mut typo = MethodConfig::default();
    typo.options
        .insert("erm".into(), serde_json::json!({ "bogus": 1 }));
    let err = Method::Erm.resolve(&typo).unwrap_err().to_string();
    assert!(err.contains("bogus"), "{err}");
}

struct NoRuns;

impl TrainedRuns for NoRuns {
    fn classifier(&self, _dir: Option<&Path>) -> Result<crate::Classifier, CoreError> {
        Err(CoreError::config("no runs in this test"))
    }
}

/// Every method that trains a classifier without a perturbation set or another run takes
/// two steps on a tiny problem, with finite losses, and its saved state restores into a
/// fresh state that then takes the same step.
#[test]
fn every_classifier_method_steps_and_restores_its_state() {
    let device = Device::flex().autodiff();
    let input = InputSpec {
        shape: vec![1, 4, 4],
        num_classes: 3,
        mean: vec![0.5],
        std: vec![0.3],
    };
    let mut stepped = Vec::new();
    for &method in Method::ALL {
        let info = method.info();
        if info.trains != Trains::Classifier || info.uses.perturbation_set {
            continue;
        }
        device.seed(11);
        crate::host_rng::seed(11);
        let batch = Batch::random(8, &input, &device);
        let val = Batch::random(6, &input, &device);
        let mut cfg = MethodConfig::default();
        cfg.adversarial.eps = 0.1;
        cfg.adversarial.steps = 2;
        if info.uses.loss_hyper {
            cfg.loss = LossConfig::Gce { q: 0.7 };
        }
        method
            .resolve(&cfg)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let model = ModelConfig::mlp(&[8]).init(&input, &device);
        let probe = Batch {
            x: batch.x.clone().slice(0..1),
            y: batch.y.clone().slice(0..1),
        };
        let freq = [0.3f32, 0.3, 0.4];
        let setup = MethodSetup {
            model: &model,
            probe: &probe,
            input: &input,
            train_len: 8,
            class_freq: &freq,
            validation: Some(&val),
            perturbation_set: None,
            runs: &NoRuns,
            device: &device,
            seed: 11,
        };
        let mut state = match MethodState::new(method, &cfg, &setup) {
            Ok(s) => s,
            // Methods that build on another run's classifier (this test has none).
            Err(e) if e.to_string().contains("no runs in this test") => continue,
            Err(e) => panic!("{method}: {e}"),
        };
        let mut fresh = MethodState::new(method, &cfg, &setup).unwrap();
        let positions: Vec<usize> = (0..8).collect();
        let validation = || val.clone();
        let ctx = |step| StepContext {
            step,
            total: 4,
            steps_per_epoch: 2,
            lr: 0.05,
            seed: 3 + step as u64,
            positions: &positions,
            validation: Some(&validation),
        };
        let mut optim = OptimizerConfig::default().init();
        let mut model = model;
        for step in 0..2 {
            device.seed(3 + step as u64);
            crate::host_rng::seed(3 + step as u64);
            let out = state.step(model, &mut optim, &batch, &ctx(step)).unwrap();
            let loss = out.losses.mean().into_scalar::<f32>();
            assert!(loss.is_finite(), "{method}: loss {loss}");
            model = out.model;
        }
        let saved: Vec<(&str, Vec<u8>)> = state
            .save()
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.bytes))
            .collect();
        fresh
            .restore(&|name| saved.iter().find(|f| f.0 == name).map(|f| f.1.clone()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let again: Vec<(&str, Vec<u8>)> = fresh
            .save()
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.bytes))
            .collect();
        assert_eq!(
            saved.iter().map(|f| f.0).collect::<Vec<_>>(),
            again.iter().map(|f| f.0).collect::<Vec<_>>(),
            "{method}"
        );
        // The restored state takes the same next step as the original.
        let mut o1 = optim.clone();
        let mut o2 = optim;
        device.seed(9);
        crate::host_rng::seed(9);
        let a = state.step(model.clone(), &mut o1, &batch, &ctx(2)).unwrap();
        device.seed(9);
        crate::host_rng::seed(9);
        let b = fresh.step(model, &mut o2, &batch, &ctx(2)).unwrap();
        let a: Vec<f32> = a.losses.into_data().try_to_vec().unwrap();
        let b: Vec<f32> = b.losses.into_data().try_to_vec().unwrap();
        assert_eq!(a, b, "{method}");
        stepped.push(method.name());
    }
    assert!(stepped.len() >= 10, "{stepped:?}");
}

/// The teacher's learned input scale: set from the first batch (each input at unit spread),
/// meta-learned, saved and restored (the restored state takes the same step), and it changes
/// the weights the teacher gives.
#[test]
fn the_teachers_learned_input_scale_trains_and_restores() {
    let device = Device::flex().autodiff();
    let input = InputSpec {
        shape: vec![1, 4, 4],
        num_classes: 3,
        mean: vec![0.5],
        std: vec![0.3],
    };
    device.seed(13);
    crate::host_rng::seed(13);
    let batch = Batch::random(8, &input, &device);
    let val = Batch::random(6, &input, &device);
    let model = ModelConfig::mlp(&[8]).init(&input, &device);
    let probe = Batch {
        x: batch.x.clone().slice(0..1),
        y: batch.y.clone().slice(0..1),
    };
    let freq = [0.3f32, 0.3, 0.4];
    let setup = MethodSetup {
        model: &model,
        probe: &probe,
        input: &input,
        train_len: 8,
        class_freq: &freq,
        validation: Some(&val),
        perturbation_set: None,
        runs: &NoRuns,
        device: &device,
        seed: 13,
    };
    let positions: Vec<usize> = (0..8).collect();
    let validation = || val.clone();
    let ctx = |step| StepContext {
        step,
        total: 4,
        steps_per_epoch: 2,
        lr: 0.05,
        seed: 3 + step as u64,
        positions: &positions,
        validation: Some(&validation),
    };
    let weights_after_two = |scale: InputScale| {
        let mut cfg = MethodConfig::default();
        cfg.meta.input_scale = scale;
        cfg.meta.meta_lr = 0.05;
        let mut state = MethodState::new(Method::Teacher, &cfg, &setup).unwrap();
        let mut optim = OptimizerConfig::default().init();
        let mut m = model.clone();
        let mut last = None;
        for step in 0..2 {
            let out = state.step(m, &mut optim, &batch, &ctx(step)).unwrap();
            m = out.model;
            last = out.weights;
        }
        let w: Vec<f32> = last.unwrap().into_data().try_to_vec().unwrap();
        (state, optim, m, w, cfg)
    };
    let (_, _, _, plain, _) = weights_after_two(InputScale::None);
    let (mut state, optim, m, learned, cfg) = weights_after_two(InputScale::Learned);
    assert_ne!(plain, learned, "the scale changes the teacher's weights");
    let saved: Vec<(&str, Vec<u8>)> = state
        .save()
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.bytes))
        .collect();
    let mut fresh = MethodState::new(Method::Teacher, &cfg, &setup).unwrap();
    fresh
        .restore(&|name| saved.iter().find(|f| f.0 == name).map(|f| f.1.clone()))
        .unwrap();
    let (mut o1, mut o2) = (optim.clone(), optim);
    let a = state.step(m.clone(), &mut o1, &batch, &ctx(2)).unwrap();
    let b = fresh.step(m, &mut o2, &batch, &ctx(2)).unwrap();
    let a: Vec<f32> = a.weights.unwrap().into_data().try_to_vec().unwrap();
    let b: Vec<f32> = b.weights.unwrap().into_data().try_to_vec().unwrap();
    assert_eq!(
        a, b,
        "the restored scale is the learned one, not a fresh start"
    );
}
