//! Oracles for the randomised defence (test-time Gaussian input noise) and APGD with EOT
//! (`eot_draws`), on fresh random inputs: one draw is exactly the deterministic APGD, the EOT
//! gradient is the mean of the per-draw gradients, the noise is N(0, σ²) and differentiable
//! through, points stay in the ball and the box, and the aa-rand sequence is never weaker than
//! either of its attacks alone.

use super::tests::vector_input;
use super::*;
use crate::batch::Batch;
use crate::jvp::Dual;
use crate::models::{InputSpec, ModelConfig, Normalize};

/// A model of `hidden` layers on [d] inputs with k classes, seeded.
fn model(d: usize, k: usize, hidden: &[usize], seed: u64) -> (Classifier, Device, InputSpec) {
    let device = Device::flex();
    device.seed(seed);
    crate::host_rng::seed(seed);
    let input = vector_input(d, k);
    (
        ModelConfig::mlp(hidden).init(&input, &device),
        device,
        input,
    )
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_gap<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// With `eot_draws` = 1 the EOT gradient is exactly `input_gradient` (so APGD is the
/// deterministic attack, bit for bit).
#[test]
fn one_draw_is_the_deterministic_apgd_bit_for_bit() {
    let (model, device, input) = model(10, 4, &[12], 3);
    let batch = Batch::random(6, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    let (g1, v1, l1) = input_gradient(&model, batch.x.clone(), &objective, Mode::Eval);
    let (g2, v2, l2) = eot_input_gradient(&model, batch.x, &objective, Mode::Eval, 1);
    assert_eq!(g1.into_data(), g2.into_data());
    assert_eq!(v1.into_data(), v2.into_data());
    assert_eq!(l1.into_data(), l2.into_data());
}

/// On a noisy model the EOT gradient and objective are the means of the per-draw ones computed
/// one by one from the same draws (the same seed), and the logits are the last draw's.
#[test]
fn eot_gradient_is_the_mean_of_the_per_draw_gradients() {
    let (mut model, device, input) = model(10, 4, &[24, 12], 5);
    model.set_input_noise(0.2);
    let batch = Batch::random(8, &input, &device);
    for objective in [
        Objective::CrossEntropy(batch.y.clone()),
        Objective::Dlr(batch.y.clone()),
    ] {
        let draws = 6;
        crate::host_rng::seed(77);
        let (g, v, l) = eot_input_gradient(&model, batch.x.clone(), &objective, Mode::Eval, draws);
        crate::host_rng::seed(77);
        let mut per_draw = Vec::new();
        for _ in 0..draws {
            per_draw.push(input_gradient(
                &model,
                batch.x.clone(),
                &objective,
                Mode::Eval,
            ));
        }
        let n = draws as f32;
        let g_mean = per_draw
            .iter()
            .map(|(g, _, _)| g.clone())
            .reduce(|a, b| a + b)
            .unwrap()
            .div_scalar(n);
        let v_mean = per_draw
            .iter()
            .map(|(_, v, _)| v.clone())
            .reduce(|a, b| a + b)
            .unwrap()
            .div_scalar(n);
        assert!(max_gap(g.clone(), g_mean) <= 1e-6, "{objective:?}");
        assert!(max_gap(v, v_mean) <= 1e-6, "{objective:?}");
        assert_eq!(l.into_data(), per_draw[draws - 1].2.clone().into_data());
        // The draws differ: the gradients of single draws are not all the same.
        assert!(max_gap(per_draw[0].0.clone(), per_draw[1].0.clone()) > 1e-4);
    }
}

/// A linear model's logit gap z_y − z_t has the same input gradient whatever the noise, so
/// the EOT gradient under noise equals the exact noise-free gradient, and the mean gap is the
/// noise-free gap plus a zero-mean term.
#[test]
fn eot_gradient_of_a_linear_gap_is_the_noise_free_gradient() {
    let (plain, device, input) = model(12, 5, &[], 9);
    let mut noisy = plain.clone();
    noisy.set_input_noise(0.3);
    let batch = Batch::random(10, &input, &device);
    let target = batch.y.clone().add_scalar(1).remainder_scalar(5);
    let objective = Objective::LogitGap {
        y: batch.y.clone(),
        target,
    };
    let (g0, v0, _) = input_gradient(&plain, batch.x.clone(), &objective, Mode::Eval);
    let (g, v, _) = eot_input_gradient(&noisy, batch.x.clone(), &objective, Mode::Eval, 20);
    let scale = g0.clone().abs().max().into_scalar::<f32>();
    assert!(max_gap(g, g0.clone()) <= 1e-5 * scale);
    // One draw moves example i's gap by σ·g0_i·n, of std σ‖g0_i‖: the mean of 400 draws stays
    // within 5 of its standard errors, σ‖g0_i‖/20, of the noise-free gap.
    let (_, v400, _) = eot_input_gradient(&noisy, batch.x, &objective, Mode::Eval, 400);
    let spread = floats(row_norms(g0).squeeze_dim::<1>(1));
    let (mean, exact) = (floats(v400), floats(v0.clone()));
    for i in 0..spread.len() {
        let bound = 5.0 * 0.3 * spread[i] / 20.0;
        assert!(
            (mean[i] - exact[i]).abs() < bound,
            "example {i}: mean gap {} vs noise-free {} (bound {bound})",
            mean[i],
            exact[i]
        );
    }
    assert!(max_gap(v, v0) > 0.0, "the noise reached the objective");
}

/// On a nonlinear model the EOT gradient converges to the expectation: its squared error
/// against a brute-force mean of 1 000 draws is well below a single draw's (≈ 1/20 of it).
#[test]
fn eot_gradient_converges_to_the_mean_over_many_draws() {
    let (mut model, device, input) = model(10, 4, &[32], 13);
    model.set_input_noise(0.3);
    let batch = Batch::random(8, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    let eot = |draws| eot_input_gradient(&model, batch.x.clone(), &objective, Mode::Eval, draws).0;
    let truth = eot(1000);
    let mse = |g: Tensor<2>| {
        (g - truth.clone())
            .powi_scalar(2)
            .mean()
            .into_scalar::<f32>()
    };
    let trials = 6;
    let single: f32 = (0..trials).map(|_| mse(eot(1))).sum::<f32>() / trials as f32;
    let twenty: f32 = (0..trials).map(|_| mse(eot(20))).sum::<f32>() / trials as f32;
    assert!(single > 0.0);
    assert!(
        twenty < single / 5.0,
        "EOT-20 error {twenty} vs one draw {single}"
    );
}

/// The noise is N(0, σ²) per coordinate, fresh at every forward, changes predictions, passes
/// the input gradient unchanged (∂(x + σn)/∂x = I) and leaves the tangent alone.
#[test]
fn input_noise_is_gaussian_fresh_and_differentiable_through() {
    let device = Device::flex();
    crate::host_rng::seed(21);
    let sigma = 0.15;
    let d = 400;
    let mut norm = Normalize::new(&[0.0], &[1.0], d, &device);
    let x = crate::host_rng::float(
        [64, d],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    assert_eq!(
        norm.forward_dual(Dual::constant(x.clone())).p.into_data(),
        x.clone().into_data(),
        "σ = 0 is the identity (mean 0, std 1)"
    );
    norm.set_input_noise(sigma);
    let a = norm.forward_dual(Dual::constant(x.clone())).p - x.clone();
    let b = norm.forward_dual(Dual::constant(x.clone())).p - x.clone();
    let n = (64 * d) as f64;
    let mean = a.clone().sum().into_scalar::<f32>() as f64 / n;
    let std = (a.clone().powi_scalar(2).sum().into_scalar::<f32>() as f64 / n - mean * mean).sqrt();
    assert!(mean.abs() < 4.0 * sigma / n.sqrt(), "mean {mean}");
    assert!((std / sigma - 1.0).abs() < 0.02, "std {std} vs σ {sigma}");
    assert!(max_gap(a, b) > 0.0, "two forwards drew the same noise");
    // Unclamped: noisy inputs leave [0, 1].
    let noisy = norm.forward_dual(Dual::constant(x.clone())).p;
    assert!(noisy.clone().min().into_scalar::<f32>() < 0.0);
    assert!(noisy.max().into_scalar::<f32>() > 1.0);
    // Gradient: d/dx Σ (x + σn) = 1 everywhere.
    let xt = x.clone().autodiff().require_grad();
    let grads = norm
        .forward_dual(Dual::constant(xt.clone()))
        .p
        .sum()
        .backward();
    let g = xt.grad(&grads).unwrap().inner();
    assert_eq!(g.clone().min().into_scalar::<f32>(), 1.0);
    assert_eq!(g.max().into_scalar::<f32>(), 1.0);
    // Tangent: unchanged (std 1 scales it by 1).
    let t = crate::host_rng::float(
        [64, d],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let out = norm.forward_dual(Dual {
        p: x,
        t: Some(t.clone()),
    });
    assert_eq!(out.t.unwrap().into_data(), t.into_data());

    // On a classifier: predictions change between forwards of the same inputs; σ = 0 does not.
    let (mut model, device, input) = model(20, 5, &[16], 23);
    let batch = Batch::random(200, &input, &device);
    let predict = |m: &Classifier| {
        m.forward(batch.x.clone(), Mode::Eval)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap()
    };
    assert_eq!(predict(&model), predict(&model));
    assert_eq!(model.input_noise(), 0.0);
    model.set_input_noise(0.3);
    assert_eq!(model.input_noise(), 0.3);
    let (p1, p2) = (predict(&model), predict(&model));
    let changed = p1.iter().zip(&p2).filter(|(a, b)| a != b).count();
    assert!(changed > 0, "σ = 0.3 changed no prediction of 200");
    // The same seed draws the same noise.
    crate::host_rng::seed(4);
    let q1 = predict(&model);
    crate::host_rng::seed(4);
    assert_eq!(q1, predict(&model));
}

/// APGD with EOT on a noisy model returns points of the ε-ball ∩ [0, 1] (ℓ∞ and ℓ2), and the
/// same seed returns the same points.
#[test]
fn eot_apgd_stays_in_the_ball_and_the_box_and_is_reproducible() {
    let (mut model, device, input) = model(20, 5, &[16], 31);
    model.set_input_noise(0.1);
    let batch = Batch::random(16, &input, &device);
    let objective = Objective::CrossEntropy(batch.y.clone());
    for (norm, eps) in [(Norm::Linf, 0.1), (Norm::L2, 0.8)] {
        for kind in [AttackKind::ApgdCe, AttackKind::ApgdDlr] {
            let cfg = AttackConfig {
                eot_draws: 4,
                ..AttackConfig::apgd(kind, norm, eps, 10, 1)
            };
            crate::host_rng::seed(8);
            let adv = attack(&model, batch.x.clone(), &objective, &cfg, Mode::Eval);
            let delta = adv.clone() - batch.x.clone();
            let size = match norm {
                Norm::Linf => delta.abs().max().into_scalar::<f32>(),
                Norm::L2 => row_norms(delta).max().into_scalar::<f32>(),
            };
            assert!(size <= eps as f32 * (1.0 + 1e-5), "{cfg:?}: ‖δ‖ = {size}");
            assert!(size > 0.0, "{cfg:?} did not move");
            assert!(adv.clone().min().into_scalar::<f32>() >= 0.0);
            assert!(adv.clone().max().into_scalar::<f32>() <= 1.0);
            crate::host_rng::seed(8);
            let again = attack(&model, batch.x.clone(), &objective, &cfg, Mode::Eval);
            assert_eq!(adv.into_data(), again.into_data(), "{cfg:?}");
        }
    }
    let bad = AttackConfig {
        eot_draws: 0,
        ..AttackConfig::apgd(AttackKind::ApgdCe, Norm::Linf, 0.1, 10, 1)
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("eot_draws")
    );
    assert_eq!(
        AttackConfig {
            eot_draws: 20,
            ..AttackConfig::apgd(AttackKind::ApgdCe, Norm::Linf, 0.1, 100, 1)
        }
        .describe(),
        "apgd-ce-100-eot20 linf eps=0.1"
    );
}

/// aa-rand (APGD-CE then APGD-DLR with EOT, in sequence) on a noisy linear model: its first
/// attack is the same run as APGD-CE alone (same rows, same seed, so the same draws), so the
/// sequence never leaves more examples robust than APGD-CE alone, and its running accuracies
/// fall. Against APGD-DLR alone the ordering holds only in distribution: in the sequence DLR
/// runs on the survivors only, so its random starts and noise draws differ, and a borderline
/// example (decided by one noisy forward) can go either way; that is not asserted.
#[test]
fn aa_rand_is_never_weaker_than_apgd_ce_alone() {
    let (mut model, device, input) = model(12, 5, &[], 17);
    model.set_input_noise(0.002);
    let mut batch = Batch::random(60, &input, &device);
    batch.x = crate::host_rng::float(
        [60, 12],
        burn::tensor::Distribution::Uniform(0.4, 0.6),
        &device,
    );
    // Labels: the noise-free predictions, so every example is clean-correct but borderline ones.
    let mut plain = model.clone();
    plain.set_input_noise(0.0);
    batch.y = plain
        .forward(batch.x.clone(), Mode::Eval)
        .argmax(1)
        .squeeze_dim::<1>(1);
    let eps = 0.05;
    let attacks: Vec<AttackConfig> = [AttackKind::ApgdCe, AttackKind::ApgdDlr]
        .into_iter()
        .map(|kind| AttackConfig {
            eot_draws: 20,
            ..AttackConfig::apgd(kind, Norm::Linf, eps, 20, 1)
        })
        .collect();
    let alone = batch_robustness_with(&model, &batch, &attacks, Schedule::Independent, 1, 0, None);
    let seq = batch_robustness_with(&model, &batch, &attacks, Schedule::Sequence, 1, 0, None);
    assert_eq!(alone.clean, seq.clean, "the clean draw is seeded");
    assert_eq!(
        seq.per_attack[0], alone.per_attack[0],
        "{alone:?} / {seq:?}"
    );
    assert!(
        seq.worst <= alone.per_attack[0],
        "aa-rand {} > APGD-CE alone {} ({alone:?} / {seq:?})",
        seq.worst,
        alone.per_attack[0]
    );
    assert!(seq.per_attack.windows(2).all(|w| w[1] <= w[0]));
    assert!(
        seq.worst < seq.clean && seq.worst > 0,
        "the test says nothing: {seq:?}"
    );
}
