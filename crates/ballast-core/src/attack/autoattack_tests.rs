//! Oracles for APGD-T, FAB-T, Square and the attack sequence, on linear classifiers where the
//! minimal adversarial distance is known exactly: for logits z = Wx + b an example is
//! misclassified as soon as some z_t exceeds z_y, so away from the box's faces its minimal
//! distance is min_t (z_y − z_t)⁺ / ‖∇(z_y − z_t)‖_dual (ℓ1 for the ℓ∞ threat, ℓ2 for ℓ2).

use super::*;
use crate::batch::Batch;
use crate::models::{InputSpec, ModelConfig};
use burn::tensor::Distribution;

fn linear(d: usize, k: usize, seed: u64) -> (Classifier, Device) {
    linear_of_shape(vec![d], k, seed)
}

/// A linear classifier (an MLP without hidden layers) of inputs `shape`, inputs standardised
/// with mean 0.5 and std 0.3 per channel.
fn linear_of_shape(shape: Vec<usize>, k: usize, seed: u64) -> (Classifier, Device) {
    let device = Device::flex();
    device.seed(seed);
    crate::host_rng::seed(seed);
    let channels = if shape.len() == 3 { shape[0] } else { 1 };
    let input = InputSpec {
        shape,
        num_classes: k,
        mean: vec![0.5; channels],
        std: vec![0.3; channels],
    };
    (ModelConfig::mlp(&[]).init(&input, &device), device)
}

/// Inputs in [0.4, 0.6]^D: radii up to 0.1 never reach the box's faces.
fn middle(n: usize, d: usize, device: &Device) -> Tensor<2> {
    crate::host_rng::float([n, d], Distribution::Uniform(0.4, 0.6), device)
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.try_to_vec_as::<f32>().unwrap()
}

fn flags(t: Tensor<1, Bool>) -> Vec<bool> {
    t.into_data().try_to_vec().unwrap()
}

/// Exact minimal distance to misclassification of each example, per target class and overall
/// (0 for misclassified examples).
fn minimal_distances(
    model: &Classifier,
    x: &Tensor<2>,
    y: &Tensor<1, Int>,
    norm: Norm,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let [n, _] = x.dims();
    let k = model.forward(x.clone(), Mode::Eval).dims()[1];
    let mut per_target = vec![vec![f32::INFINITY; k]; n];
    for t in 0..k {
        let target = Tensor::<1, Int>::full([n], t as i64, &x.device());
        let objective = Objective::LogitGap {
            y: y.clone(),
            target,
        };
        let (g, gap, _) = input_gradient(model, x.clone(), &objective, Mode::Eval);
        let dual = match norm {
            Norm::Linf => g.abs().sum_dim(1).squeeze_dim::<1>(1),
            Norm::L2 => row_norms(g).squeeze_dim::<1>(1),
        };
        let gap = values(gap);
        let dual = values(dual);
        let labels: Vec<i64> = y.clone().into_data().convert::<i64>().try_to_vec().unwrap();
        for i in 0..n {
            if labels[i] != t as i64 {
                per_target[i][t] = (-gap[i]).max(0.0) / dual[i];
            }
        }
    }
    let overall = per_target
        .iter()
        .map(|r| r.iter().cloned().fold(f32::INFINITY, f32::min))
        .collect();
    (per_target, overall)
}

fn in_ball_and_box(x: &Tensor<2>, adv: &Tensor<2>, norm: Norm, eps: f64) {
    let delta = adv.clone() - x.clone();
    let size = match norm {
        Norm::Linf => delta.abs().max().into_scalar::<f32>(),
        Norm::L2 => row_norms(delta).max().into_scalar::<f32>(),
    };
    assert!(size <= eps as f32 * (1.0 + 1e-5), "‖δ‖ = {size} > {eps}");
    assert!(adv.clone().min().into_scalar::<f32>() >= 0.0);
    assert!(adv.clone().max().into_scalar::<f32>() <= 1.0);
}

/// Each attack breaks every example whose exact minimal distance is below 0.9·ε and none whose
/// minimal distance exceeds ε (which no attack can), and stays in the ball and the box.
#[test]
fn autoattack_components_break_exactly_the_breakable_examples_of_a_linear_model() {
    for (seed, norm) in [(3u64, Norm::Linf), (4, Norm::L2), (5, Norm::Linf)] {
        let (model, device) = linear(12, 5, seed);
        let x = middle(60, 12, &device);
        let y = model
            .forward(x.clone(), Mode::Eval)
            .argmax(1)
            .squeeze_dim::<1>(1);
        let (_, d_min) = minimal_distances(&model, &x, &y, norm);
        let mut sorted = d_min.clone();
        sorted.sort_by(f32::total_cmp);
        let eps = f64::from(sorted[sorted.len() / 2]); // about half the examples breakable
        let eps = match norm {
            Norm::Linf => eps.min(0.1),
            Norm::L2 => eps.min(0.1),
        };
        let mut attacks = vec![
            AttackConfig::apgd(AttackKind::ApgdT, norm, eps, 40, 1),
            AttackConfig::apgd(AttackKind::FabT, norm, eps, 40, 1),
        ];
        if norm == Norm::Linf {
            attacks.push(AttackConfig::square(norm, eps, 2_000));
        }
        let objective = Objective::CrossEntropy(y.clone());
        for cfg in attacks {
            let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
            in_ball_and_box(&x, &adv, norm, eps);
            let fooled = flags(objective.fooled(&model.forward(adv, Mode::Eval)));
            let mut checked = 0;
            for i in 0..d_min.len() {
                if d_min[i] < 0.9 * eps as f32 {
                    assert!(
                        fooled[i],
                        "{}: example {i} at distance {} < 0.9·{eps} survived",
                        cfg.describe(),
                        d_min[i]
                    );
                    checked += 1;
                }
                if d_min[i] > eps as f32 * 1.001 {
                    assert!(
                        !fooled[i],
                        "{}: example {i} at distance {} > {eps} broken",
                        cfg.describe(),
                        d_min[i]
                    );
                }
            }
            assert!(checked > 10, "too few breakable examples ({checked})");
        }
    }
}

/// FAB's closest misclassified point towards a target lies within 1 % of the exact distance to
/// that target's boundary, and never closer (it is a real misclassified point).
#[test]
fn fab_finds_the_minimal_distance_to_a_linear_boundary() {
    for (seed, norm) in [(11u64, Norm::Linf), (12, Norm::L2)] {
        let (model, device) = linear(10, 2, seed);
        let x = middle(40, 10, &device);
        let y = model
            .forward(x.clone(), Mode::Eval)
            .argmax(1)
            .squeeze_dim::<1>(1);
        let (per_target, _) = minimal_distances(&model, &x, &y, norm);
        let target = y.clone().neg().add_scalar(1); // the other class
        let cfg = AttackConfig::apgd(AttackKind::FabT, norm, 1.0, 100, 1);
        let (points, dist) = fab_minimal(&model, x.clone(), y.clone(), target, &cfg, Mode::Eval);
        let fooled =
            flags(Objective::CrossEntropy(y.clone()).fooled(&model.forward(points, Mode::Eval)));
        let labels: Vec<i64> = y.into_data().convert::<i64>().try_to_vec().unwrap();
        let mut within = 0;
        for i in 0..dist.len() {
            let exact = per_target[i][1 - labels[i] as usize];
            if exact > 0.39 {
                continue; // the box's faces (0.4 away or more) may bind
            }
            assert!(fooled[i], "{norm:?} example {i}: no misclassified point");
            assert!(
                dist[i] >= exact * (1.0 - 1e-4),
                "{norm:?} example {i}: {} below the exact {exact}",
                dist[i]
            );
            assert!(
                dist[i] <= exact * 1.01,
                "{norm:?} example {i}: {} vs exact {exact}",
                dist[i]
            );
            within += 1;
        }
        assert!(within > 10, "too few examples checked ({within})");
    }
}

/// Untargeted FAB on a five-class linear model finds the closest boundary of any class: its
/// point lies within 1 % of the exact minimal distance over all classes, and never closer.
#[test]
fn untargeted_fab_finds_the_closest_boundary_of_any_class() {
    for (seed, norm) in [(13u64, Norm::Linf), (14, Norm::L2)] {
        let (model, device) = linear(10, 5, seed);
        let x = middle(40, 10, &device);
        let y = model
            .forward(x.clone(), Mode::Eval)
            .argmax(1)
            .squeeze_dim::<1>(1);
        let (_, d_min) = minimal_distances(&model, &x, &y, norm);
        let cfg = AttackConfig::apgd(AttackKind::Fab, norm, 1.0, 100, 1);
        let adv = attack(
            &model,
            x.clone(),
            &Objective::CrossEntropy(y.clone()),
            &cfg,
            Mode::Eval,
        );
        in_ball_and_box(&x, &adv, norm, 1.0);
        let fooled = flags(
            Objective::CrossEntropy(y.clone()).fooled(&model.forward(adv.clone(), Mode::Eval)),
        );
        let delta = adv - x;
        let dist = values(match norm {
            Norm::Linf => delta.abs().max_dim(1).squeeze_dim::<1>(1),
            Norm::L2 => row_norms(delta).squeeze_dim::<1>(1),
        });
        let mut checked = 0;
        for i in 0..dist.len() {
            if d_min[i] > 0.39 {
                continue; // the box's faces may bind
            }
            assert!(fooled[i], "{norm:?} example {i}: no misclassified point");
            assert!(
                dist[i] >= d_min[i] * (1.0 - 1e-4),
                "{norm:?} {i}: {} < {}",
                dist[i],
                d_min[i]
            );
            assert!(
                dist[i] <= d_min[i] * 1.01,
                "{norm:?} {i}: {} vs exact {}",
                dist[i],
                d_min[i]
            );
            checked += 1;
        }
        assert!(checked > 10, "too few examples checked ({checked})");
    }
}

/// Square with restarts breaks at least what one search breaks (a restart only runs on the
/// examples still robust) and returns points in the ball and the box.
#[test]
fn square_restarts_only_add_breaks() {
    let (model, device) = linear_images([1, 6, 6], 4, 31);
    let x = middle(40, 36, &device);
    let y = model
        .forward(x.clone(), Mode::Eval)
        .argmax(1)
        .squeeze_dim::<1>(1);
    let objective = Objective::CrossEntropy(y);
    for norm in [Norm::Linf, Norm::L2] {
        let eps = if norm == Norm::Linf { 0.02 } else { 0.08 };
        let broken = |restarts: usize| {
            crate::host_rng::seed(3);
            let cfg = AttackConfig {
                restarts,
                ..AttackConfig::square(norm, eps, 60)
            };
            let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
            in_ball_and_box(&x, &adv, norm, eps);
            flags(objective.fooled(&model.forward(adv, Mode::Eval)))
        };
        let (once, thrice) = (broken(1), broken(3));
        assert!(
            once.iter().zip(&thrice).all(|(a, b)| !a || *b),
            "{norm:?}: a restart undid a break"
        );
        let (n1, n3) = (
            once.iter().filter(|&&b| b).count(),
            thrice.iter().filter(|&&b| b).count(),
        );
        assert!(
            n1 < 40 && n3 > n1,
            "{norm:?}: {n1} -> {n3}: the test says nothing"
        );
    }
}

/// The box-constrained projection onto a hyperplane satisfies w·δ = c (when the box allows
/// it), keeps x + δ in the box, and has the norm of a brute-force bisection's solution.
#[test]
fn hyperplane_projection_matches_a_bisection_reference() {
    let device = Device::flex();
    crate::host_rng::seed(21);
    let (n, d) = (30, 16);
    let w = crate::host_rng::float([n, d], Distribution::Normal(0.0, 1.0), &device);
    let x = crate::host_rng::float([n, d], Distribution::Uniform(0.0, 1.0), &device);
    let c = crate::host_rng::float([n], Distribution::Normal(0.0, 1.5), &device);
    for norm in [Norm::Linf, Norm::L2] {
        let delta = project_onto_hyperplane(w.clone(), c.clone(), x.clone(), norm);
        let moved = x.clone() + delta.clone();
        assert!(moved.clone().min().into_scalar::<f32>() >= -1e-6);
        assert!(moved.max().into_scalar::<f32>() <= 1.0 + 1e-6);
        let reached = values((w.clone() * delta.clone()).sum_dim(1).squeeze_dim::<1>(1));
        let size = values(match norm {
            Norm::Linf => delta.abs().max_dim(1).squeeze_dim::<1>(1),
            Norm::L2 => row_norms(delta).squeeze_dim::<1>(1),
        });
        let wv: Vec<f32> = w.clone().into_data().try_to_vec().unwrap();
        let xv: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
        let cv = values(c.clone());
        for i in 0..n {
            let (wi, xi, ci) = (
                &wv[i * d..(i + 1) * d],
                &xv[i * d..(i + 1) * d],
                cv[i] as f64,
            );
            // δ_j(τ) for the level τ, in f64, and the level reaching |c| by bisection.
            let step = |tau: f64| -> Vec<f64> {
                (0..d)
                    .map(|j| {
                        let s = (f64::from(wi[j]) * ci).signum();
                        let room = if s > 0.0 {
                            1.0 - f64::from(xi[j])
                        } else {
                            f64::from(xi[j])
                        };
                        let m = match norm {
                            Norm::Linf => tau,
                            Norm::L2 => tau * f64::from(wi[j]).abs(),
                        };
                        if wi[j] == 0.0 { 0.0 } else { s * m.min(room) }
                    })
                    .collect()
            };
            let value = |tau: f64| {
                step(tau)
                    .iter()
                    .zip(wi)
                    .map(|(a, b)| a * f64::from(*b))
                    .sum::<f64>()
                    .abs()
            };
            let (mut lo, mut hi) = (0.0f64, 1e6f64);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if value(mid) >= ci.abs() {
                    hi = mid
                } else {
                    lo = mid
                }
            }
            let reference = step(hi);
            let feasible = value(1e6) >= ci.abs();
            let ref_size = match norm {
                Norm::Linf => reference.iter().fold(0.0f64, |m, v| m.max(v.abs())),
                Norm::L2 => reference.iter().map(|v| v * v).sum::<f64>().sqrt(),
            };
            assert!(
                (f64::from(size[i]) - ref_size).abs() <= 1e-4 * (1.0 + ref_size),
                "{norm:?} row {i}: ‖δ‖ {} vs reference {ref_size}",
                size[i]
            );
            if feasible {
                assert!(
                    (f64::from(reached[i]) - ci).abs() <= 1e-4 * (1.0 + ci.abs()),
                    "{norm:?} row {i}: w·δ {} vs c {ci}",
                    reached[i]
                );
            }
        }
    }
}

/// The sequence never reports a higher robust accuracy than any of its attacks alone, and its
/// per-attack breaks add up.
#[test]
fn the_sequence_is_at_least_as_strong_as_each_attack_alone() {
    let (model, device) = linear(12, 5, 17);
    let input = InputSpec {
        shape: vec![12],
        num_classes: 5,
        mean: vec![0.5],
        std: vec![0.3],
    };
    let mut batch = Batch::random(50, &input, &device);
    batch.x = middle(50, 12, &device);
    let eps = 0.03;
    let attacks = vec![
        AttackConfig::apgd(AttackKind::ApgdCe, Norm::Linf, eps, 20, 1),
        AttackConfig::apgd(AttackKind::ApgdT, Norm::Linf, eps, 20, 1),
        AttackConfig::apgd(AttackKind::FabT, Norm::Linf, eps, 20, 1),
        AttackConfig::square(Norm::Linf, eps, 300),
    ];
    let alone = batch_robustness_with(&model, &batch, &attacks, Schedule::Independent, 1, 0, None);
    let seq = batch_robustness_with(&model, &batch, &attacks, Schedule::Sequence, 1, 0, None);
    assert_eq!(alone.clean, seq.clean);
    for (a, &k) in alone.per_attack.iter().enumerate() {
        assert!(
            seq.worst <= k,
            "sequence {} > attack {a} alone {k}",
            seq.worst
        );
    }
    // Cumulative accuracies fall monotonically and end at the worst case.
    assert!(seq.per_attack.windows(2).all(|w| w[1] <= w[0]));
    assert_eq!(*seq.per_attack.last().unwrap(), seq.worst);
    assert_eq!(seq.clean - seq.only.iter().sum::<usize>(), seq.worst);
    assert!(
        seq.worst < seq.clean,
        "nothing broken: the test says nothing"
    );
}

#[test]
fn square_window_schedule_follows_the_paper() {
    assert_eq!(window_fraction(0.8, 0, 10_000), 0.8);
    assert_eq!(window_fraction(0.8, 10, 10_000), 0.8);
    assert_eq!(window_fraction(0.8, 11, 10_000), 0.4);
    assert_eq!(window_fraction(0.8, 501, 10_000), 0.05);
    assert_eq!(window_fraction(0.8, 9_999, 10_000), 0.8 / 512.0);
    assert_eq!(window_fraction(0.8, 1_000, 5_000), 0.8 / 32.0); // 2 000 of 10 000
    assert_eq!(window_side(0.8, 28, 28), 25);
    assert_eq!(window_side(0.8 / 512.0, 28, 28), 1);
    assert_eq!(window_side(0.8, 32, 32), 29);
    assert_eq!(window_side(0.9, 28, 28), 27); // never the whole side
    assert_eq!(window_side(0.5, 1, 20), 3);
}

/// A linear classifier of [C, H, W] images (so Square ℓ2 has real windows to move mass between).
fn linear_images(shape: [usize; 3], k: usize, seed: u64) -> (Classifier, Device) {
    linear_of_shape(shape.to_vec(), k, seed)
}

/// Square ℓ2 on 8×8 two-channel images of a linear model: every example whose exact minimal ℓ2
/// distance is below 0.75·ε is broken within AutoAttack's 5 000 queries, none beyond ε is, and
/// every point lies in the ball and the box. Random search over windows is not exact: on this
/// model's white-noise weights it breaks examples up to about 0.84·ε (1 000 queries: 0.67·ε).
#[test]
fn square_l2_breaks_the_breakable_examples_of_a_linear_model() {
    let (model, device) = linear_images([2, 8, 8], 4, 21);
    let d = 2 * 8 * 8;
    let x = middle(60, d, &device);
    let y = model
        .forward(x.clone(), Mode::Eval)
        .argmax(1)
        .squeeze_dim::<1>(1);
    let (_, d_min) = minimal_distances(&model, &x, &y, Norm::L2);
    let mut sorted = d_min.clone();
    sorted.sort_by(f32::total_cmp);
    let eps = f64::from(sorted[sorted.len() / 2]).min(0.1);
    let cfg = AttackConfig::square(Norm::L2, eps, 5000);
    let objective = Objective::CrossEntropy(y.clone());
    let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
    in_ball_and_box(&x, &adv, Norm::L2, eps);
    let fooled = flags(objective.fooled(&model.forward(adv, Mode::Eval)));
    let mut checked = 0;
    for i in 0..d_min.len() {
        if d_min[i] < 0.75 * eps as f32 {
            assert!(
                fooled[i],
                "example {i} at distance {} < 0.75·{eps} survived",
                d_min[i]
            );
            checked += 1;
        }
        if d_min[i] > eps as f32 * 1.001 {
            assert!(!fooled[i], "example {i} at {} > {eps} broken", d_min[i]);
        }
    }
    assert!(checked > 10, "too few breakable examples ({checked})");
}

/// Square never differentiates the model, in either norm: with forwards of differentiable
/// inputs forbidden it runs to completion, while APGD-CE under the same ban panics (so the ban
/// does catch gradient use).
#[test]
fn square_never_uses_gradients() {
    use crate::models::forbid_differentiable_forwards::ON;
    let (model, device) = linear_images([1, 6, 6], 3, 8);
    let x = middle(12, 36, &device);
    let y = model
        .forward(x.clone(), Mode::Eval)
        .argmax(1)
        .squeeze_dim::<1>(1);
    let objective = Objective::CrossEntropy(y);
    ON.set(true);
    for norm in [Norm::Linf, Norm::L2] {
        let cfg = AttackConfig::square(norm, 0.1, 50);
        let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
        assert_eq!(adv.dims(), [12, 36]);
    }
    let gradient = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cfg = AttackConfig::apgd(AttackKind::ApgdCe, Norm::Linf, 0.1, 5, 1);
        attack(&model, x.clone(), &objective, &cfg, Mode::Eval)
    }));
    ON.set(false);
    assert!(
        gradient.is_err(),
        "APGD ran under the ban: the test cannot fail"
    );
}

/// On the small CNN (CPU) Square re-evaluates only the changed window from cached activations.
/// ℓ∞: the search is the one the full device forward makes, point for point (its moves of ±2ε
/// change margins far beyond rounding). ℓ2 moves can be small enough that a margin comparison
/// falls within rounding and the two searches part ways, so there the windowed search must
/// break as many examples (±2) inside the ball.
#[test]
fn square_on_the_windowed_forward_finds_what_the_full_forward_finds() {
    use super::host_search::WINDOWED_OFF;
    let device = Device::flex();
    crate::host_rng::seed(14);
    let mut cfg = ModelConfig::of(crate::models::Arch::SmallCnn);
    cfg.width = 0.5;
    let input = InputSpec {
        shape: vec![1, 16, 16],
        num_classes: 10,
        mean: vec![0.5],
        std: vec![0.3],
    };
    let model = cfg.init(&input, &device);
    assert!(model.windowed_forward().is_some());
    let x = crate::host_rng::float([24, 256], Distribution::Uniform(0.0, 1.0), &device);
    let y = model
        .forward(x.clone(), Mode::Eval)
        .argmax(1)
        .squeeze_dim::<1>(1);
    let objective = Objective::CrossEntropy(y.clone());
    for (norm, eps) in [(Norm::Linf, 0.05), (Norm::L2, 0.5)] {
        let cfg = AttackConfig::square(norm, eps, 200);
        let run = |off: bool| {
            WINDOWED_OFF.set(off);
            crate::host_rng::seed(3);
            let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
            WINDOWED_OFF.set(false);
            adv
        };
        let (windowed, full) = (run(false), run(true));
        let broken = |adv: Tensor<2>| {
            let correct = correct_flags(model.forward(adv, Mode::Eval), &y);
            correct.iter().filter(|&&c| !c).count()
        };
        let (w, f) = (broken(windowed.clone()), broken(full.clone()));
        assert!(
            (3..24).contains(&f),
            "{norm:?}: {f} of 24 broken: the test says little"
        );
        let delta = windowed.clone() - x.clone();
        let size = match norm {
            Norm::Linf => delta.abs().max_dim(1),
            Norm::L2 => row_norms(delta),
        };
        assert!(size.max().into_scalar::<f32>() <= eps as f32 * (1.0 + 1e-5));
        match norm {
            Norm::Linf => assert_eq!(
                windowed.into_data().try_to_vec::<f32>().unwrap(),
                full.into_data().try_to_vec::<f32>().unwrap()
            ),
            Norm::L2 => assert!(w.abs_diff(f) <= 2, "l2: {w} vs {f} broken"),
        }
    }
}

/// The pseudo-Gaussian tile: unit norm, positive upper half, negative lower half, peaked at the
/// centre of each half, and its transpose when asked.
#[test]
fn pseudo_gaussian_tile_has_the_papers_shape() {
    for s in [3usize, 5, 7, 25] {
        let p = pseudo_gaussian(s, false);
        let n: f32 = p.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        let top = s / 2;
        assert!(p[..top * s].iter().all(|&v| v > 0.0));
        assert!(p[top * s..].iter().all(|&v| v < 0.0));
        let peak = p[(top / 2) * s + s / 2];
        assert!(p[..top * s].iter().all(|&v| v <= peak + 1e-7));
        let t = pseudo_gaussian(s, true);
        for r in 0..s {
            for c in 0..s {
                assert_eq!(t[c * s + r], p[r * s + c]);
            }
        }
    }
    assert_eq!(l2_window_side(0.8, 28, 28), 25);
    assert_eq!(l2_window_side(0.8 / 512.0, 28, 28), 3);
    assert_eq!(l2_window_side(0.05, 28, 28), 7); // √39.2 = 6.26 -> 6 -> odd 7
    assert_eq!(l2_window_side(0.8, 2, 2), 2);
}
