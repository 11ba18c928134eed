use super::ball::{project_ball, row_norms};
use super::elbo::terms_from;
use super::*;
use crate::attack::{AttackConfig, Objective};
use crate::models::{Classifier, InputSpec, Mode, ModelConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn host1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn tiny_cvae(latent: usize, device: &Device) -> (CvaeConfig, Cvae) {
    tiny_cvae_with(latent, GeneratorKind::Conv, device)
}

fn tiny_cvae_with(latent: usize, generator: GeneratorKind, device: &Device) -> (CvaeConfig, Cvae) {
    let cfg = CvaeConfig {
        shape: [1, 8, 8],
        latent,
        width: 0.25,
        likelihood: Likelihood::Bernoulli,
        generator,
    };
    cfg.validate().unwrap();
    let cvae = cfg.init(device);
    (cfg, cvae)
}

fn tiny_classifier(device: &Device) -> Classifier {
    let input = InputSpec {
        shape: vec![1, 8, 8],
        num_classes: 3,
        mean: vec![0.5],
        std: vec![0.3],
    };
    ModelConfig::mlp(&[16]).init(&input, device)
}

fn uniform(b: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::random([b, d], Distribution::Uniform(0.0, 1.0), device)
}

fn gaussian(b: usize, d: usize, scale: f64, device: &Device) -> Tensor<2> {
    Tensor::random([b, d], Distribution::Normal(0.0, scale), device)
}

#[test]
fn kl_matches_the_closed_form_for_scalar_gaussians() {
    let device = Device::flex();
    device.seed(11);
    crate::host_rng::seed(11);
    let q = Gaussian {
        mu: gaussian(5, 4, 1.0, &device),
        logvar: gaussian(5, 4, 0.7, &device),
    };
    let p = Gaussian {
        mu: gaussian(5, 4, 1.0, &device),
        logvar: gaussian(5, 4, 0.7, &device),
    };
    let ours = host1(kl_divergence(&q, &p));
    let (mq, lq, mp, lp) = (
        host(q.mu.clone()),
        host(q.logvar.clone()),
        host(p.mu.clone()),
        host(p.logvar.clone()),
    );
    for i in 0..5 {
        // KL(N(m1, s1²) ‖ N(m2, s2²)) = ln(s2 / s1) + (s1² + (m1 − m2)²) / (2 s2²) − ½, summed.
        let exact: f64 = (0..4)
            .map(|j| {
                let k = i * 4 + j;
                let (m1, m2) = (mq[k] as f64, mp[k] as f64);
                let (s1, s2) = ((0.5 * lq[k] as f64).exp(), (0.5 * lp[k] as f64).exp());
                (s2 / s1).ln() + (s1 * s1 + (m1 - m2).powi(2)) / (2.0 * s2 * s2) - 0.5
            })
            .sum();
        assert!(
            (ours[i] as f64 - exact).abs() < 1e-4 * (1.0 + exact),
            "{} vs {exact}",
            ours[i]
        );
    }
    let same = host1(kl_divergence(&q, &q));
    assert!(same.iter().all(|v| v.abs() < 1e-5), "{same:?}");
}

#[test]
fn reparameterisation_gradients_match_finite_differences() {
    reparameterisation_check(GeneratorKind::Conv);
}

#[test]
fn reparameterisation_gradients_through_the_affine_warp_match_finite_differences() {
    reparameterisation_check(GeneratorKind::Affine);
}

fn reparameterisation_check(generator: GeneratorKind) {
    let ad = Device::flex().autodiff();
    ad.seed(12);
    crate::host_rng::seed(12);
    let (cfg, cvae) = tiny_cvae_with(3, generator, &ad);
    let plain = cvae.valid();
    let dev = ad.clone().inner();
    let x = uniform(2, 64, &dev);
    let x_tilde = uniform(2, 64, &dev).round(); // binary targets
    let prior = plain.prior(x.clone());
    let posterior = plain.recognition(x.clone(), x_tilde.clone());
    let noise = gaussian(2, 3, 1.0, &dev);
    let beta = 0.7;
    let loss_at = |mu: Tensor<2>, logvar: Tensor<2>| -> f64 {
        let q = Gaussian { mu, logvar };
        let t = terms_from(
            &plain,
            x.clone(),
            x_tilde.clone(),
            &prior,
            &q,
            noise.clone(),
            cfg.likelihood,
        );
        t.loss(beta).into_scalar::<f32>() as f64
    };
    // Autodiff gradient with respect to μ_q and log σ²_q through z = μ + exp(½ log σ²)·ε.
    let mu = posterior.mu.clone().autodiff().require_grad();
    let logvar = posterior.logvar.clone().autodiff().require_grad();
    let q = Gaussian {
        mu: mu.clone(),
        logvar: logvar.clone(),
    };
    let t = terms_from(
        &plain,
        x.clone(),
        x_tilde.clone(),
        &prior,
        &q,
        noise.clone(),
        cfg.likelihood,
    );
    let grads = t.loss(beta).backward();
    let g_mu = host(mu.grad(&grads).unwrap().inner());
    let g_lv = host(logvar.grad(&grads).unwrap().inner());
    let h = 1e-2f32;
    for (which, g) in [(0, &g_mu), (1, &g_lv)] {
        for k in 0..6 {
            let bump = |sign: f32| {
                let mut e = vec![0f32; 6];
                e[k] = sign * h;
                let e = Tensor::<2>::from_data(TensorData::new(e, [2, 3]), &dev);
                if which == 0 {
                    loss_at(posterior.mu.clone() + e, posterior.logvar.clone())
                } else {
                    loss_at(posterior.mu.clone(), posterior.logvar.clone() + e)
                }
            };
            let fd = (bump(1.0) - bump(-1.0)) / (2.0 * h as f64);
            let ad = g[k] as f64;
            assert!(
                (fd - ad).abs() <= 2e-2 * (1.0 + fd.abs().max(ad.abs())),
                "{} coordinate {k}: autodiff {ad} vs finite difference {fd}",
                ["mu", "logvar"][which]
            );
        }
    }
}

#[test]
fn the_centre_of_the_set_is_the_decoded_prior_mean() {
    let device = Device::flex();
    device.seed(13);
    crate::host_rng::seed(13);
    let (_, cvae) = tiny_cvae(4, &device);
    let x = uniform(3, 64, &device);
    let centre = cvae.perturb(x.clone(), Tensor::zeros([3, 4], &device));
    let mean = cvae.generate(cvae.prior(x.clone()).mu, x.clone());
    let (a, b) = (host(centre), host(mean));
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-6));
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    // Log-variances stay within the scaled-tanh bounds even for extreme inputs.
    let lv = host(cvae.prior(x * 1e4).logvar);
    assert!(
        lv.iter()
            .all(|v| (cvae::LOGVAR_MIN as f32 - 1e-4..=cvae::LOGVAR_MAX as f32 + 1e-4).contains(v))
    );
}

#[test]
fn ball_projection_keeps_points_inside_and_leaves_inner_points() {
    let device = Device::flex();
    device.seed(14);
    crate::host_rng::seed(14);
    let u = gaussian(50, 6, 2.0, &device);
    let eps = 1.5;
    let p = project_ball(u.clone(), eps);
    let (before, after) = (host(row_norms(u.clone())), host(row_norms(p.clone())));
    let (ur, pr) = (host(u), host(p));
    for i in 0..50 {
        assert!(after[i] <= eps as f32 * (1.0 + 1e-5));
        if before[i] <= eps as f32 {
            assert!((0..6).all(|j| (ur[i * 6 + j] - pr[i * 6 + j]).abs() < 1e-6));
        }
    }
}

#[test]
fn latent_attack_stays_in_the_ball_and_finds_the_brute_force_maximum() {
    let device = Device::flex();
    device.seed(15);
    crate::host_rng::seed(15);
    let (_, cvae) = tiny_cvae(2, &device);
    let model = tiny_classifier(&device);
    let b = 6;
    let x = uniform(b, 64, &device);
    // Labels: the predictions at the centre of the set, so the attack starts unfooled.
    let centre = cvae.perturb(x.clone(), Tensor::zeros([b, 2], &device));
    let y = model.forward(centre, Mode::Eval).argmax(1).reshape([b]);
    let objective = Objective::CrossEntropy(y);
    // A wide ball, so the untrained generator's output (and the loss) varies across it.
    let eps = 20.0;
    let cfg = AttackConfig {
        early_stop: false,
        step_size: Some(0.5),
        ..AttackConfig::latent(eps, 60, 50)
    };
    cfg.validate().unwrap();
    let adv = latent_attack(&model, &cvae.set, x.clone(), &objective, &cfg, Mode::Eval);
    let norms = host(row_norms(adv.u.clone()));
    assert!(
        norms.iter().all(|n| *n <= eps as f32 * (1.0 + 1e-5)),
        "{norms:?}"
    );
    // The adversarial images are the set's points at the returned u.
    let again = host(cvae.perturb(x.clone(), adv.u.clone()));
    assert!(
        host(adv.x_adv.clone())
            .iter()
            .zip(&again)
            .all(|(a, b)| (a - b).abs() < 1e-5)
    );
    let logits = model.forward(adv.x_adv, Mode::Eval);
    let attacked = host1(objective.per_example(logits.clone()));
    // Restarts prefer a misclassified point to a higher loss (the attack's goal).
    let fooled: Vec<bool> = objective.fooled(&logits).into_data().try_to_vec().unwrap();
    // Brute force: the loss on a polar grid over the disc.
    let (mut best, mut worst) = (vec![f32::MIN; b], vec![f32::MAX; b]);
    for r in 0..=12 {
        for a in 0..48 {
            let (rad, ang) = (
                eps * r as f64 / 12.0,
                std::f64::consts::TAU * a as f64 / 48.0,
            );
            let u = Tensor::<2>::from_data(
                TensorData::new(
                    vec![(rad * ang.cos()) as f32, (rad * ang.sin()) as f32],
                    [1, 2],
                ),
                &device,
            )
            .expand([b, 2]);
            let loss =
                host1(objective.per_example(model.forward(cvae.perturb(x.clone(), u), Mode::Eval)));
            for i in 0..b {
                best[i] = best[i].max(loss[i]);
                worst[i] = worst[i].min(loss[i]);
            }
        }
    }
    assert!(
        fooled.iter().filter(|f| **f).count() < b,
        "every example fooled: the check below is vacuous"
    );
    for i in 0..b {
        let range = (best[i] - worst[i]).max(1e-6);
        assert!(
            fooled[i] || attacked[i] >= best[i] - 0.05 * range,
            "example {i}: attack loss {} vs grid max {} (min {})",
            attacked[i],
            best[i],
            worst[i]
        );
    }
}

#[test]
fn the_latent_attack_is_reachable_through_the_attack_api() {
    let device = Device::flex();
    device.seed(16);
    crate::host_rng::seed(16);
    let (_, cvae) = tiny_cvae(3, &device);
    let model = tiny_classifier(&device);
    let x = uniform(4, 64, &device);
    let y = model.forward(x.clone(), Mode::Eval).argmax(1).reshape([4]);
    let objective = Objective::CrossEntropy(y);
    let cfg = AttackConfig::latent(1.0, 5, 1);
    device.seed(3);
    crate::host_rng::seed(3);
    let a = host(crate::attack::attack_with(
        &model,
        x.clone(),
        &objective,
        &cfg,
        Mode::Eval,
        Some(&cvae.set),
    ));
    device.seed(3);
    crate::host_rng::seed(3);
    let b = host(latent_attack(&model, &cvae.set, x, &objective, &cfg, Mode::Eval).x_adv);
    assert_eq!(a, b);
    let bad = AttackConfig {
        norm: crate::attack::Norm::Linf,
        ..cfg
    };
    assert!(bad.validate().unwrap_err().to_string().contains("l2"));
}

#[test]
fn approximation_error_recovers_a_point_of_the_set() {
    let device = Device::flex();
    device.seed(17);
    crate::host_rng::seed(17);
    let (_, cvae) = tiny_cvae(3, &device);
    let b = 8;
    let x = uniform(b, 64, &device);
    let eps = 2.0;
    // Observed perturbations that lie in the set: x̃ = g(x, u*) with ‖u*‖ < ε.
    let u_star = project_ball(gaussian(b, 3, 1.0, &device), 0.8 * eps);
    let x_tilde = cvae.perturb(x.clone(), u_star);
    let ours = ErrorProtocol::BALLAST;
    let approx = approximation_error(&cvae, x.clone(), x_tilde.clone(), eps, 100, 0.05, ours);
    let expected = host1(expected_approximation_error(
        &cvae,
        x.clone(),
        x_tilde.clone(),
        eps,
        20,
        ours,
    ));
    let (enc, ae) = (
        host1(approx.encoding_error),
        host1(approx.approximation_error),
    );
    for i in 0..b {
        assert!(ae[i] <= enc[i] + 1e-7, "descent made example {i} worse");
        assert!(
            ae[i] < 0.1 * expected[i],
            "example {i}: approximation {} vs expected {}",
            ae[i],
            expected[i]
        );
    }
    assert!(
        host(row_norms(approx.u))
            .iter()
            .all(|n| *n <= eps as f32 * (1.0 + 1e-5))
    );
}

#[test]
fn clopper_pearson_and_the_certified_radius_have_known_values() {
    // k = n: the one-sided bound is α^(1/n).
    let p = lower_confidence_bound(100, 100, 0.001);
    assert!((p - 0.001f64.powf(0.01)).abs() < 1e-9, "{p}");
    assert_eq!(lower_confidence_bound(0, 10, 0.05), 0.0);
    // Φ⁻¹(0.975) = 1.959964: k = n with α = 0.975^n.
    let n = 50u64;
    let alpha = 0.975f64.powi(n as i32);
    match certify_from_counts(2, n, n, 0.5, alpha) {
        Certificate::Certified { class, radius, .. } => {
            assert_eq!(class, 2);
            assert!((radius - 0.5 * 1.959_964).abs() < 1e-5, "{radius}");
        }
        other => panic!("{other:?}"),
    }
}

proptest::proptest! {
    #[test]
    fn certification_never_certifies_when_the_smoothed_prediction_abstains(
        n in 1u64..2000, frac in 0.0f64..=1.0, alpha in 0.0001f64..0.2, sigma in 0.01f64..5.0,
    ) {
        let k = ((n as f64) * frac).round() as u64;
        let c = certify_from_counts(1, k, n, sigma, alpha);
        let p = lower_confidence_bound(k, n, alpha);
        proptest::prop_assert!(p <= k as f64 / n as f64 + 1e-12);
        match c {
            Certificate::Abstain { p_lower } => {
                proptest::prop_assert!(p_lower <= 0.5);
                proptest::prop_assert_eq!(c.radius_for(1), 0.0);
                proptest::prop_assert!(!c.predicts(1));
            }
            Certificate::Certified { radius, p_lower, .. } => {
                proptest::prop_assert!(p_lower > 0.5 && radius > 0.0);
                proptest::prop_assert!(2 * k > n, "certified with k = {} of n = {}", k, n);
                proptest::prop_assert_eq!(c.radius_for(0), 0.0);
            }
        }
        // More agreeing samples never shrink the radius.
        if k < n {
            let more = certify_from_counts(1, k + 1, n, sigma, alpha);
            proptest::prop_assert!(more.radius_for(1) >= c.radius_for(1));
        }
    }
}

#[test]
fn certify_counts_every_sample_and_reports_a_consistent_radius() {
    let device = Device::flex();
    device.seed(18);
    crate::host_rng::seed(18);
    let (_, cvae) = tiny_cvae(3, &device);
    let model = tiny_classifier(&device);
    let x = uniform(1, 64, &device);
    let counts = smoothing::smoothed_counts(&model, &cvae.set, &x, 3, 0.5, 37, 10);
    assert_eq!(counts.iter().sum::<u64>(), 37);
    let cfg = SmoothingConfig {
        sigma: 0.5,
        n0: 20,
        n: 200,
        alpha: 0.001,
        batch: 64,
    };
    cfg.validate().unwrap();
    match certify(&model, &cvae.set, &x, 3, &cfg) {
        Certificate::Certified {
            radius, p_lower, ..
        } => {
            use statrs::distribution::{ContinuousCDF, Normal};
            let phi = Normal::standard().cdf(radius / cfg.sigma);
            assert!((phi - p_lower).abs() < 1e-6);
        }
        Certificate::Abstain { p_lower } => assert!(p_lower <= 0.5),
    }
}

#[test]
fn the_affine_warp_matches_the_data_crates_rts_transform() {
    use ballast_data::transform::{Affine, apply_affine};
    let device = Device::flex();
    device.seed(19);
    crate::host_rng::seed(19);
    let shape = [2, 9, 11];
    let d = 2 * 9 * 11;
    let x = uniform(1, d, &device);
    let host_x = host(x.clone());
    for (rot, scale, tx, ty) in [
        (0.0f32, 1.0f32, 0.0f32, 0.0f32),
        (30.0, 1.2, 1.5, -2.0),
        (-45.0, 0.7, -3.25, 0.5),
        (90.0, 1.0, 0.0, 0.0),
    ] {
        let a = Affine {
            rotation_deg: rot,
            scale,
            tx,
            ty,
        };
        let want = apply_affine(&host_x, shape, &a);
        // The data crate maps p -> c + s·R(p − c) + t; the warp samples the inverse map:
        // source = A·(p − c) + c + t' with A = R⁻¹ / s, t' = −A·t.
        let (s_, c_) = (rot.to_radians().sin(), rot.to_radians().cos());
        // Image y grows downwards; the data crate's positive angle turns counter-clockwise
        // as displayed, i.e. R = [[c, s], [−s, c]] in (x, y-down) coordinates.
        let r = [[c_, s_], [-s_, c_]];
        let inv = [
            [r[1][1] / scale, -r[0][1] / scale],
            [-r[1][0] / scale, r[0][0] / scale],
        ];
        let det = r[0][0] * r[1][1] - r[0][1] * r[1][0];
        let a_ = [
            [inv[0][0] / det, inv[0][1] / det],
            [inv[1][0] / det, inv[1][1] / det],
        ];
        let t_ = [
            -(a_[0][0] * tx + a_[0][1] * ty),
            -(a_[1][0] * tx + a_[1][1] * ty),
        ];
        let theta = Tensor::<2>::from_data(
            TensorData::new(
                vec![a_[0][0], a_[0][1], a_[1][0], a_[1][1], t_[0], t_[1]],
                [1, 6],
            ),
            &device,
        );
        let got = host(affine_generator::affine_warp(x.clone(), theta, shape));
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            err < 1e-4,
            "rotation {rot}, scale {scale}, shift ({tx}, {ty}): max error {err}"
        );
    }
}

#[test]
fn the_affine_generator_starts_at_the_identity() {
    let device = Device::flex();
    device.seed(20);
    crate::host_rng::seed(20);
    let (_, cvae) = tiny_cvae_with(3, GeneratorKind::Affine, &device);
    let x = uniform(4, 64, &device).clamp(0.01, 0.99);
    let out = host(cvae.generate(gaussian(4, 3, 1.0, &device), x.clone()));
    let err = out
        .iter()
        .zip(&host(x))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err < 1e-4, "{err}");
}

#[test]
fn rgb_32x32_cvaes_of_both_generators_give_finite_gaussian_elbos() {
    let ad = Device::flex().autodiff();
    ad.seed(21);
    crate::host_rng::seed(21);
    for generator in [GeneratorKind::Conv, GeneratorKind::Affine] {
        let cfg = CvaeConfig {
            shape: [3, 32, 32],
            latent: 6,
            width: 0.25,
            likelihood: Likelihood::Gaussian,
            generator,
        };
        cfg.validate().unwrap();
        let cvae = cfg.init(&ad);
        let d = cfg.features();
        let (x, t) = (uniform(2, d, &ad), uniform(2, d, &ad));
        let terms = elbo_terms(&cvae, x.clone(), t, cfg.likelihood);
        assert_eq!(terms.reconstruction.dims(), [2]);
        let loss = terms.loss(0.5);
        assert!(loss.into_scalar::<f32>().is_finite(), "{generator:?}");
        assert_eq!(cvae.generate(Tensor::zeros([2, 6], &ad), x).dims(), [2, d]);
    }
    let bad = CvaeConfig {
        shape: [3, 30, 30],
        latent: 6,
        width: 1.0,
        likelihood: Likelihood::Gaussian,
        generator: GeneratorKind::Conv,
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("multiples of 4")
    );
}

/// PyTorch's `binary_cross_entropy` on a known pair: σ(0) = 0.5 against 1, σ(ln 3) = 0.75
/// against 0.25.
#[test]
fn bce_error_matches_the_closed_form_on_a_known_pair() {
    let device = Device::flex();
    let logits = Tensor::<2>::from_floats([[0.0, 3f32.ln()]], &device);
    let target = Tensor::<2>::from_floats([[1.0, 0.25]], &device);
    let bce = |p: f64, t: f64| -(t * p.ln() + (1.0 - t) * (1.0 - p).ln());
    let want = (bce(0.5, 1.0) + bce(0.75, 0.25)) / 2.0;
    let got = host1(PixelError::Bce.per_example(logits.clone(), target.clone()))[0] as f64;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let mse = host1(PixelError::Mse.per_example(logits, target))[0] as f64;
    assert!((mse - (0.25 + 0.25) / 2.0).abs() < 1e-6, "{mse}");
    assert_eq!(PixelError::of(Likelihood::Bernoulli), PixelError::Bce);
    assert_eq!(PixelError::of(Likelihood::Gaussian), PixelError::Mse);
}

/// The reference protocol scores BCE at the clipped encoding, then reports the last iterate;
/// Ballast's best iterate is never above its start or its last point.
#[test]
fn the_reference_protocol_reports_the_last_iterate_in_bce() {
    let device = Device::flex();
    device.seed(19);
    crate::host_rng::seed(19);
    let (_, cvae) = tiny_cvae(3, &device);
    let b = 6;
    let x = uniform(b, 64, &device);
    let x_tilde = uniform(b, 64, &device);
    let eps = 1.5;
    let reference = ErrorProtocol::reference(Likelihood::Bernoulli);
    assert_eq!(reference.error, PixelError::Bce);
    // The encoding error, by hand: BCE per pixel of g at Π((μ_q − μ_p)/σ_p) against x̃.
    let prior = cvae.prior(x.clone());
    let u0 = super::quality::encoding(&cvae, &x, &x_tilde, &prior, eps);
    let p = host(cvae.perturb(x.clone(), u0));
    let t = host(x_tilde.clone());
    let zero = approximation_error(&cvae, x.clone(), x_tilde.clone(), eps, 0, 0.1, reference);
    let enc = host1(zero.encoding_error);
    for i in 0..b {
        let by_hand = (0..64)
            .map(|j| {
                let (p, t) = (p[i * 64 + j] as f64, t[i * 64 + j] as f64);
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / 64.0;
        assert!(
            (enc[i] as f64 - by_hand).abs() < 1e-4,
            "{} vs {by_hand}",
            enc[i]
        );
    }
    assert_eq!(
        host1(zero.approximation_error),
        enc,
        "no step: the last iterate is the start"
    );
    // Many large steps: the last point is where the descent stopped, the best is the minimum.
    let last = approximation_error(&cvae, x.clone(), x_tilde.clone(), eps, 7, 0.9, reference);
    let best_protocol = ErrorProtocol {
        iterate: Iterate::Best,
        ..reference
    };
    let best = approximation_error(
        &cvae,
        x.clone(),
        x_tilde.clone(),
        eps,
        7,
        0.9,
        best_protocol,
    );
    let (l, bst) = (
        host1(last.approximation_error),
        host1(best.approximation_error),
    );
    let at_last = host1(PixelError::Bce.per_example(
        cvae.generate_logits(prior.latent(last.u), x.clone()),
        x_tilde,
    ));
    for i in 0..b {
        assert!(
            bst[i] <= l[i] + 1e-7 && bst[i] <= enc[i] + 1e-7,
            "example {i}"
        );
        assert!(
            (l[i] - at_last[i]).abs() < 1e-6,
            "example {i}: {} vs {}",
            l[i],
            at_last[i]
        );
    }
}

/// Truncated per coordinate: every coordinate within the bound, with the variance of the
/// truncated normal (1 − 2aφ(a)/(2Φ(a) − 1) ≈ 0.0806 at a = 0.5). The reference's draws for a
/// 64-dimensional latent at ε = 2 leave the ball; Ballast's stay inside.
#[test]
fn the_reference_draws_truncate_each_coordinate_and_leave_the_ball() {
    let device = Device::flex();
    crate::host_rng::seed(23);
    let u = host(super::quality::truncated_gaussian(100, 40, 0.5, &device));
    assert!(u.iter().all(|v| v.abs() <= 0.5));
    let var = u.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / u.len() as f64;
    assert!((var - 0.0806).abs() < 0.006, "variance {var}");
    let draw = |sampling| {
        host(row_norms(super::quality::latent_draw(
            sampling, 50, 64, 2.0, &device,
        )))
    };
    let reference = draw(LatentSampling::TruncatedPerCoordinate);
    assert!(reference.iter().all(|n| *n > 2.0), "{reference:?}");
    let ball = draw(LatentSampling::Ball);
    assert!(ball.iter().all(|n| *n <= 2.0 * (1.0 + 1e-5)), "{ball:?}");
    // Radius 0 (`ballast eval CVAE --eps 0`): the draw is the centre, not an endless redraw.
    let at_zero = host(super::quality::truncated_gaussian(3, 4, 0.0, &device));
    assert_eq!(at_zero, vec![0.0; 12]);
}
