//! Hygiene and oracle checks of the attacks on fresh random inputs.

use super::*;
use crate::batch::Batch;
use crate::models::{InputSpec, ModelConfig};
use crate::step::correct;

pub(super) fn vector_input(d: usize, k: usize) -> InputSpec {
    InputSpec {
        shape: vec![d],
        num_classes: k,
        mean: vec![0.5],
        std: vec![0.3],
    }
}

fn every_attack(norm: Norm, eps: f64) -> Vec<AttackConfig> {
    let mut with_early_stop = AttackConfig::pgd(norm, eps, 7, 2);
    with_early_stop.early_stop = true;
    vec![
        AttackConfig::fgsm(norm, eps),
        AttackConfig::pgd(norm, eps, 5, 1),
        with_early_stop,
        AttackConfig::apgd(AttackKind::ApgdCe, norm, eps, 12, 2),
        AttackConfig::apgd(AttackKind::ApgdDlr, norm, eps, 12, 1),
    ]
}

fn max_abs(t: Tensor<2>) -> f32 {
    t.abs().max().into_scalar::<f32>()
}

#[test]
fn perturbations_stay_in_the_ball_and_the_box() {
    let device = Device::flex();
    for seed in 0..3u64 {
        device.seed(100 + seed);
        crate::host_rng::seed(100 + seed);
        let input = vector_input(20, 5);
        let model = ModelConfig::mlp(&[16]).init(&input, &device);
        let batch = Batch::random(24, &input, &device);
        let objective = Objective::CrossEntropy(batch.y.clone());
        for norm in [Norm::Linf, Norm::L2] {
            let eps = if norm == Norm::Linf { 0.1 } else { 0.8 };
            for cfg in every_attack(norm, eps) {
                let adv = attack(&model, batch.x.clone(), &objective, &cfg, Mode::Eval);
                let delta = adv.clone() - batch.x.clone();
                let size = match norm {
                    Norm::Linf => max_abs(delta),
                    Norm::L2 => row_norms(delta).max().into_scalar::<f32>(),
                };
                assert!(size <= eps as f32 * (1.0 + 1e-5), "{cfg:?}: ‖δ‖ = {size}");
                assert!(size > 0.0, "{cfg:?} did not move");
                let lo = adv.clone().min().into_scalar::<f32>();
                let hi = adv.max().into_scalar::<f32>();
                assert!(lo >= 0.0 && hi <= 1.0, "{cfg:?}: range [{lo}, {hi}]");
            }
        }
    }
}

#[test]
fn zero_radius_leaves_inputs_and_accuracy_unchanged() {
    let device = Device::flex();
    device.seed(7);
    crate::host_rng::seed(7);
    let input = vector_input(12, 4);
    let model = ModelConfig::mlp(&[16]).init(&input, &device);
    let batch = Batch::random(40, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    let clean = correct(model.forward(batch.x.clone(), Mode::Eval), batch.y.clone());
    for norm in [Norm::Linf, Norm::L2] {
        for cfg in every_attack(norm, 0.0) {
            let adv = attack(&model, batch.x.clone(), &objective, &cfg, Mode::Eval);
            assert_eq!(max_abs(adv.clone() - batch.x.clone()), 0.0, "{cfg:?}");
            let robust = correct(model.forward(adv, Mode::Eval), batch.y.clone());
            assert_eq!(robust, clean, "{cfg:?}");
        }
    }
}

#[test]
fn restarts_are_never_weaker_per_example() {
    let device = Device::flex();
    device.seed(11);
    crate::host_rng::seed(11);
    let input = vector_input(16, 3);
    let model = ModelConfig::mlp(&[32]).init(&input, &device);
    let batch = Batch::random(64, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    for kind in [AttackKind::Pgd, AttackKind::ApgdCe] {
        let one = AttackConfig {
            kind,
            ..AttackConfig::pgd(Norm::Linf, 0.05, 3, 1)
        };
        let many = AttackConfig {
            restarts: 5,
            ..one.clone()
        };
        // Same seed: the first restart of `many` is the single run of `one`.
        device.seed(12);
        crate::host_rng::seed(12);
        let a = attack(&model, batch.x.clone(), &objective, &one, Mode::Eval);
        device.seed(12);
        crate::host_rng::seed(12);
        let b = attack(&model, batch.x.clone(), &objective, &many, Mode::Eval);
        let (fooled_a, loss_a) = score(&model, a, &objective, Mode::Eval);
        let (fooled_b, loss_b) = score(&model, b, &objective, Mode::Eval);
        let fa: Vec<bool> = fooled_a.into_data().try_to_vec().unwrap();
        let fb: Vec<bool> = fooled_b.into_data().try_to_vec().unwrap();
        let la: Vec<f32> = loss_a.into_data().try_to_vec().unwrap();
        let lb: Vec<f32> = loss_b.into_data().try_to_vec().unwrap();
        for i in 0..fa.len() {
            assert!(
                fb[i] || !fa[i],
                "{kind:?} example {i}: fooled once, not with restarts"
            );
            if fa[i] == fb[i] {
                assert!(
                    lb[i] >= la[i] - 1e-5,
                    "{kind:?} example {i}: {} < {}",
                    lb[i],
                    la[i]
                );
            }
        }
    }
}

#[test]
fn attacks_in_eval_mode_leave_batch_norm_statistics_unchanged() {
    let device = Device::flex().autodiff();
    device.seed(5);
    crate::host_rng::seed(5);
    let input = InputSpec {
        shape: vec![3, 8, 8],
        num_classes: 4,
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
    };
    let mut cfg = ModelConfig::of(crate::models::Arch::ResnetCifar);
    cfg.depth = 8;
    cfg.width = 0.25;
    let model = cfg.init(&input, &device);
    let batch = Batch::random(6, &input, &device);
    // Give the running statistics non-default values first.
    let _ = model.forward(batch.x.clone(), Mode::Train);
    let probe = Batch::random(6, &input, &device.clone().inner());
    let before = model
        .valid()
        .forward(probe.x.clone(), Mode::Eval)
        .into_data();
    let objective = Objective::CrossEntropy(batch.y.clone().inner());
    // Both the training model itself and its plain copy.
    for m in [model.clone(), model.valid()] {
        for cfg in every_attack(Norm::Linf, 0.03) {
            let _ = attack(&m, batch.x.clone().inner(), &objective, &cfg, Mode::Eval);
        }
    }
    let after = model.valid().forward(probe.x, Mode::Eval).into_data();
    assert_eq!(before, after, "an attack moved the running statistics");
}

#[test]
fn input_gradient_matches_finite_differences() {
    let device = Device::flex();
    for seed in 0..3u64 {
        device.seed(20 + seed);
        crate::host_rng::seed(20 + seed);
        let input = vector_input(10, 4);
        let model = ModelConfig::mlp(&[24, 12]).init(&input, &device);
        let batch = Batch::random(8, &input, &device);
        for objective in [
            Objective::CrossEntropy(batch.y.clone()),
            Objective::Dlr(batch.y.clone()),
            Objective::trades(model.forward(batch.x.clone() * 0.9, Mode::Eval)),
        ] {
            let (g, _, _) = input_gradient(&model, batch.x.clone(), &objective, Mode::Eval);
            // Directional derivative along a random unit direction, per example, where the
            // function is linear at the scale of h (ReLU kinks away: small second difference).
            let v = Tensor::<2>::random(
                batch.x.dims(),
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let v = v.clone() / row_norms(v);
            let h = 1e-3;
            let f = |x: Tensor<2>| -> Vec<f32> {
                objective
                    .per_example(model.forward(x, Mode::Eval))
                    .into_data()
                    .try_to_vec()
                    .unwrap()
            };
            let plus = f(batch.x.clone() + v.clone() * h);
            let zero = f(batch.x.clone());
            let minus = f(batch.x.clone() - v.clone() * h);
            let ad: Vec<f32> = (g * v).sum_dim(1).into_data().try_to_vec().unwrap();
            let mut checked = 0;
            for i in 0..ad.len() {
                let fd = (plus[i] - minus[i]) / (2.0 * h as f32);
                let one_sided = (plus[i] - zero[i]) / h as f32;
                if (one_sided - fd).abs() > 1e-2 * fd.abs().max(0.05) {
                    continue; // a kink between x − hv and x + hv
                }
                checked += 1;
                assert!(
                    (ad[i] - fd).abs() <= 1e-2 * fd.abs().max(0.05),
                    "{objective:?}: autodiff {} vs finite difference {fd}",
                    ad[i]
                );
            }
            assert!(checked >= ad.len() / 2, "only {checked} smooth examples");
        }
    }
}

/// On a two-class linear model the CE gradient's direction is the same everywhere, so the
/// ℓ∞ optimum over ball ∩ box is x_j + ε·sign(c_j) clamped, and the ℓ2 optimum (inputs away
/// from the box faces) is x + ε·c/‖c‖: PGD must reach both.
#[test]
fn pgd_reaches_the_exact_optimum_on_a_linear_model() {
    let device = Device::flex();
    device.seed(31);
    crate::host_rng::seed(31);
    let input = vector_input(10, 2);
    let model = ModelConfig::mlp(&[]).init(&input, &device);
    let batch = Batch::random(16, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    let (g, _, _) = input_gradient(&model, batch.x.clone(), &objective, Mode::Eval);
    // ℓ∞
    let eps = 0.2;
    let oracle = (batch.x.clone() + g.clone().sign() * eps).clamp(0.0, 1.0);
    let adv = pgd(
        &model,
        batch.x.clone(),
        &objective,
        &AttackConfig::pgd(Norm::Linf, eps, 10, 1),
        Mode::Eval,
    );
    assert!(max_abs(adv - oracle.clone()) < 1e-5);
    let fgsm = pgd(
        &model,
        batch.x.clone(),
        &objective,
        &AttackConfig::fgsm(Norm::Linf, eps),
        Mode::Eval,
    );
    assert!(max_abs(fgsm - oracle) < 1e-5);
    // ℓ2, with inputs in the middle of the box.
    let x = batch.x.clone() * 0.4 + 0.3;
    let (g, _, _) = input_gradient(&model, x.clone(), &objective, Mode::Eval);
    let eps = 0.25;
    let oracle = x.clone() + g.clone() / row_norms(g) * eps;
    let cfg = AttackConfig {
        step_size: Some(eps / 2.0),
        ..AttackConfig::pgd(Norm::L2, eps, 30, 1)
    };
    let adv = pgd(&model, x.clone(), &objective, &cfg, Mode::Eval);
    let err = max_abs(adv - oracle.clone());
    assert!(err < 2e-3, "PGD l2: {err}");
    // APGD returns the first misclassifying point of a fooled example: it must fool exactly
    // the examples the optimum fools (two classes: fooled iff loss > log 2), and reach the
    // optimal loss on the others.
    let cfg = AttackConfig::apgd(AttackKind::ApgdCe, Norm::L2, eps, 30, 1);
    let adv = apgd(&model, x.clone(), &objective, &cfg, Mode::Eval);
    let (fooled, loss) = score(&model, adv, &objective, Mode::Eval);
    let (fooled_opt, loss_opt) = score(&model, oracle, &objective, Mode::Eval);
    let fooled: Vec<bool> = fooled.into_data().try_to_vec().unwrap();
    let fooled_opt: Vec<bool> = fooled_opt.into_data().try_to_vec().unwrap();
    let loss: Vec<f32> = loss.into_data().try_to_vec().unwrap();
    let loss_opt: Vec<f32> = loss_opt.into_data().try_to_vec().unwrap();
    assert_eq!(fooled, fooled_opt);
    for i in 0..loss.len() {
        assert!(
            fooled[i] || loss[i] >= loss_opt[i] - 1e-4,
            "APGD {i}: {} < {}",
            loss[i],
            loss_opt[i]
        );
    }
}

#[test]
fn dlr_is_shift_and_scale_invariant_and_matches_its_definition() {
    let device = Device::flex();
    let logits = Tensor::<2>::from_floats([[3.0, 1.0, 0.0, -1.0], [0.5, 2.0, 1.0, 0.0]], &device);
    let y = Tensor::<1, Int>::from_ints([0, 0], &device);
    let v: Vec<f32> = dlr_loss(logits.clone(), y.clone())
        .into_data()
        .try_to_vec()
        .unwrap();
    // Row 0: −(3 − 1)/(3 − 0) ; row 1: −(0.5 − 2)/(2 − 0.5).
    assert!((v[0] + 2.0 / 3.0).abs() < 1e-6, "{v:?}");
    assert!((v[1] - 1.0).abs() < 1e-6, "{v:?}");
    let w: Vec<f32> = dlr_loss(logits * 3.0 + 7.0, y)
        .into_data()
        .try_to_vec()
        .unwrap();
    assert!((v[0] - w[0]).abs() < 1e-5 && (v[1] - w[1]).abs() < 1e-5);
}

#[test]
fn apgd_checkpoints_follow_the_paper() {
    assert_eq!(apgd::checkpoints(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
    assert_eq!(apgd::checkpoints(1), vec![1]);
}

#[test]
fn pgd_beats_the_clean_accuracy_of_a_trained_model() {
    use crate::loss::LossConfig;
    use crate::step::{OptimizerConfig, OptimizerKind, erm_step};
    let ad = Device::flex().autodiff();
    ad.seed(41);
    crate::host_rng::seed(41);
    let input = vector_input(8, 3);
    let mut model = ModelConfig::mlp(&[32]).init(&input, &ad);
    // A learnable rule: the class is the argmax of three input coordinates.
    let x = Tensor::<2>::random([256, 8], burn::tensor::Distribution::Uniform(0.0, 1.0), &ad);
    let y = x.clone().narrow(1, 0, 3).argmax(1).squeeze_dim::<1>(1);
    let batch = Batch { x, y };
    let mut optim = OptimizerConfig {
        kind: OptimizerKind::Adam,
        lr: 1e-2,
        ..Default::default()
    }
    .init();
    for _ in 0..300 {
        model = erm_step(model, &mut optim, &batch, &LossConfig::Ce {}, 1e-2).0;
    }
    let plain = model.valid();
    let (x, y) = (batch.x.inner(), batch.y.inner());
    let objective = Objective::CrossEntropy(y.clone());
    let clean = correct(plain.forward(x.clone(), Mode::Eval), y.clone());
    assert!(clean > 200, "the model should fit: {clean}/256");
    let robust = |cfg: AttackConfig| {
        let adv = attack(&plain, x.clone(), &objective, &cfg, Mode::Eval);
        correct(plain.forward(adv, Mode::Eval), y.clone())
    };
    let fgsm = robust(AttackConfig::fgsm(Norm::Linf, 0.1));
    let pgd = robust(AttackConfig::pgd(Norm::Linf, 0.1, 10, 1));
    assert!(fgsm < clean, "FGSM {fgsm} vs clean {clean}");
    assert!(pgd <= fgsm, "PGD {pgd} vs FGSM {fgsm}");
}
