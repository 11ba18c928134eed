//! The CPU backend (flex) and wgpu, side by side: from the same seed every method's first
//! step, the attacks, the hypergradient primitive and a whole `ballast train` run agree.
//!
//! Needs a build with `--features wgpu` and a Vulkan, Metal or DX12 adapter; on a machine with
//! no GPU, Mesa's software Vulkan (`apt-get install mesa-vulkan-drivers`) is the real code
//! path, slowly. Run it with `scripts/backend-parity.sh` (release build: lavapipe runs the
//! kernels, the host side still matters), or
//! `cargo test --release --features wgpu --test backend_parity -- --test-threads 1`.
//!
//! Tolerances: parameters after a step within 1e-4 relative (L2 norm of the difference over
//! the norm of the parameters) and 1e-4 absolute per entry, losses and example weights within
//! 1e-4, the JVP against its reverse-mode oracle within 1e-5 relative on wgpu, attacks inside
//! their ball with the same predictions on at least 95 % of the points.

mod common;
use common::{TOY, ballast, ballast_ok, read_json, text};

use ballast_core::attack::{AttackConfig, Norm, Objective, attack};
use ballast_core::hypergrad::{
    Direction, DirectionalConfig, exact_directional_derivatives, loss_directional_derivatives,
};
use ballast_core::method::cvae_step;
use ballast_core::models::Mode;
use ballast_core::perturbation::{CvaeConfig, GeneratorKind, Likelihood};
use ballast_core::step::OptimizerConfig;
use ballast_core::{Backend, Batch, InputSpec, LossConfig, ModelConfig, host_rng, params};
use ballast_train::bench::{BenchSpec, FirstSteps, first_steps};
use ballast_train::config::{AdversarialConfig, Method};
use burn::prelude::*;
use std::path::Path;

/// Every method of the issue, each with the features it exercises.
const METHODS: [Method; 11] = [
    Method::Erm,
    Method::L2rw,
    Method::Mwn,
    Method::Teacher,
    Method::MetaLoss,
    Method::PgdAt,
    Method::FgsmRs,
    Method::Trades,
    Method::Ssds,
    Method::LatentAt,
    Method::Mart,
];

fn input() -> InputSpec {
    InputSpec {
        shape: vec![1, 12, 12],
        num_classes: 4,
        mean: vec![0.5],
        std: vec![0.25],
    }
}

fn spec<'a>(
    backend: Backend,
    methods: &'a [Method],
    model: &'a ModelConfig,
    input: &'a InputSpec,
    adversarial: &'a AdversarialConfig,
) -> BenchSpec<'a> {
    BenchSpec {
        methods,
        model,
        input,
        batch_size: 16,
        val_batch_size: 12,
        warmup: 0,
        steps: 1,
        backend,
        seed: 3,
        adversarial,
    }
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn compare(name: &str, cpu: &FirstSteps, gpu: &FirstSteps) {
    let (p_rel, p_abs) = (
        rel_l2(&gpu.params, &cpu.params),
        max_abs(&gpu.params, &cpu.params),
    );
    let l_abs = max_abs(&gpu.losses, &cpu.losses);
    let w_abs = match (&cpu.weights, &gpu.weights) {
        (Some(a), Some(b)) => Some(max_abs(b, a)),
        (None, None) => None,
        _ => panic!("{name}: one backend returned example weights, the other did not"),
    };
    assert_eq!(
        cpu.initial, gpu.initial,
        "{name}: the seed gave different initial weights"
    );
    let moved = max_abs(&cpu.params, &cpu.initial);
    assert!(moved > 1e-6, "{name}: the step did not move the parameters");
    println!(
        "{name:<10} moved {moved:.2e} | params rel {p_rel:.2e} max abs {p_abs:.2e} | losses max abs {l_abs:.2e} | weights max abs {}",
        w_abs.map_or("-".into(), |w| format!("{w:.2e}"))
    );
    assert!(p_rel <= 1e-4 && p_abs <= 1e-4, "{name}: parameters differ");
    assert!(l_abs <= 1e-4, "{name}: losses differ");
    assert!(w_abs.is_none_or(|w| w <= 1e-4), "{name}: weights differ");
}

#[test]
fn every_method_takes_the_same_first_step_on_cpu_and_wgpu() {
    let input = input();
    let mut model = ModelConfig::mlp(&[32]);
    model.width = 1.0;
    let adversarial = AdversarialConfig {
        eps: 0.1,
        ..Default::default()
    };
    for method in METHODS {
        let methods = [method];
        // SSDS's multiplier λ stays 0 for its first four steps with the reference constants
        // (λ0 = 4, t0 = 1, η = 2: t climbs to 7, then falls by η a step): θ first moves at
        // step 5.
        let steps = if method == Method::Ssds { 6 } else { 1 };
        let cpu = first_steps(
            &spec(Backend::Cpu, &methods, &model, &input, &adversarial),
            method,
            steps,
        )
        .unwrap_or_else(|e| panic!("{method} on the CPU: {e}"));
        let gpu = first_steps(
            &spec(Backend::Wgpu, &methods, &model, &input, &adversarial),
            method,
            steps,
        )
        .unwrap_or_else(|e| panic!("{method} on wgpu: {e}"));
        compare(method.name(), &cpu, &gpu);
    }
}

#[test]
fn a_small_cnn_steps_alike_on_both_backends() {
    let input = input();
    let mut model = ModelConfig::of(ballast_core::models::Arch::SmallCnn);
    model.width = 0.25;
    let adversarial = AdversarialConfig::default();
    for method in [Method::Erm, Method::L2rw] {
        let methods = [method];
        let cpu = first_steps(
            &spec(Backend::Cpu, &methods, &model, &input, &adversarial),
            method,
            1,
        )
        .unwrap();
        let gpu = first_steps(
            &spec(Backend::Wgpu, &methods, &model, &input, &adversarial),
            method,
            1,
        )
        .unwrap();
        compare(&format!("cnn {}", method.name()), &cpu, &gpu);
    }
}

/// One CVAE step (the perturbation-set method) from the same weights and pairs.
#[test]
fn a_cvae_step_agrees() {
    let arch = CvaeConfig {
        shape: [1, 12, 12],
        latent: 4,
        width: 0.25,
        likelihood: Likelihood::Bernoulli,
        generator: GeneratorKind::Affine,
    };
    let run = |backend: Backend| {
        let device = backend.device().unwrap().autodiff();
        host_rng::seed_init(9, &device);
        let cvae = host_rng::init_on_host(&device, |d| arch.init(d));
        host_rng::seed(9);
        let x = host_rng::float(
            [8, 144],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let t = (x.clone()
            + host_rng::float_like(&x, burn::tensor::Distribution::Normal(0.0, 0.1)))
        .clamp(0.0, 1.0);
        let mut optim = OptimizerConfig::default().init();
        host_rng::seed(10);
        let out = cvae_step(cvae, &mut optim, x, t, arch.likelihood, 0.5, 1e-3);
        let read = |t: burn::Tensor<1>| t.into_scalar::<f32>() as f64;
        (
            params::flat_values(&out.cvae),
            read(out.reconstruction),
            read(out.kl),
        )
    };
    let (cpu, gpu) = (run(Backend::Cpu), run(Backend::Wgpu));
    let (rel, abs) = (rel_l2(&gpu.0, &cpu.0), max_abs(&gpu.0, &cpu.0));
    println!(
        "cvae       params rel {rel:.2e} max abs {abs:.2e} | reconstruction {:.6} vs {:.6}, KL {:.6} vs {:.6}",
        cpu.1, gpu.1, cpu.2, gpu.2
    );
    assert!(rel <= 1e-4 && abs <= 1e-4, "CVAE parameters differ");
    assert!(
        (cpu.1 - gpu.1).abs() <= 1e-4 * cpu.1.abs().max(1.0),
        "reconstruction differs"
    );
    assert!(
        (cpu.2 - gpu.2).abs() <= 1e-4 * cpu.2.abs().max(1.0),
        "KL differs"
    );
}

/// PGD-20 (ℓ∞ and ℓ2) from the same weights, batch and random start.
#[test]
fn attacks_stay_in_their_ball_and_agree() {
    let input = input();
    let model_cfg = ModelConfig::mlp(&[64]);
    for (norm, eps) in [(Norm::Linf, 0.1), (Norm::L2, 1.0)] {
        let run = |backend: Backend| {
            let device = backend.device().unwrap().autodiff();
            host_rng::seed_init(21, &device);
            let model = host_rng::init_on_host(&device, |d| model_cfg.init(&input, d)).valid();
            let plain = device.inner();
            host_rng::seed(21);
            let batch = Batch::random(200, &input, &plain);
            let cfg = AttackConfig::pgd(norm, eps, 20, 1);
            let adv = attack(
                &model,
                batch.x.clone(),
                &Objective::CrossEntropy(batch.y.clone()),
                &cfg,
                Mode::Eval,
            );
            let delta = adv.clone() - batch.x.clone();
            let size: Vec<f32> = match norm {
                Norm::Linf => delta.abs().max_dim(1),
                Norm::L2 => delta.powi_scalar(2).sum_dim(1).sqrt(),
            }
            .into_data()
            .try_to_vec()
            .unwrap();
            let pred: Vec<i32> = model
                .forward(adv, Mode::Eval)
                .argmax(1)
                .into_data()
                .convert::<i32>()
                .try_to_vec()
                .unwrap();
            (size, pred)
        };
        let (cpu, gpu) = (run(Backend::Cpu), run(Backend::Wgpu));
        for (who, (size, _)) in [("cpu", &cpu), ("wgpu", &gpu)] {
            let worst = size.iter().cloned().fold(0.0f32, f32::max) as f64;
            assert!(
                worst <= eps + 1e-5,
                "{norm:?} on {who}: a point left the ball ({worst})"
            );
        }
        let same = cpu.1.iter().zip(&gpu.1).filter(|(a, b)| a == b).count();
        let share = same as f64 / cpu.1.len() as f64;
        println!(
            "pgd-20 {norm:?} eps {eps}: same prediction on {:.1} % of 200 points",
            100.0 * share
        );
        assert!(
            share >= 0.95,
            "{norm:?}: predictions agree on only {share:.3}"
        );
    }
}

/// The forward-mode hypergradient against reverse mode, on wgpu itself.
#[test]
fn the_jvp_hypergradient_matches_its_oracle_on_wgpu() {
    let input = input();
    for (name, model_cfg) in [
        ("mlp", ModelConfig::mlp(&[32, 32])),
        ("small-cnn", {
            let mut m = ModelConfig::of(ballast_core::models::Arch::SmallCnn);
            m.width = 0.25;
            m
        }),
    ] {
        let device = Backend::Wgpu.device().unwrap().autodiff();
        host_rng::seed_init(31, &device);
        let model = host_rng::init_on_host(&device, |d| model_cfg.init(&input, d));
        host_rng::seed(31);
        let batch = Batch::random(10, &input, &device);
        let val = Batch::random(12, &input, &device);
        let loss = LossConfig::Ce {};
        let dir = Direction::gradient_of(
            loss.per_example(model.forward(val.x, Mode::Probe), val.y)
                .mean(),
            &model,
        );
        let oracle = exact_directional_derivatives(&model, &batch, &loss, &dir);
        let plain_batch = batch.to_device(&device.clone().inner());
        let jvp = loss_directional_derivatives(
            &model.valid(),
            &plain_batch,
            &loss,
            &dir,
            DirectionalConfig::default(),
            Mode::Probe,
        )
        .derivatives
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
        let num: f64 = jvp
            .iter()
            .zip(&oracle)
            .map(|(a, b)| (*a as f64 - b).powi(2))
            .sum();
        let den: f64 = oracle.iter().map(|b| b * b).sum();
        let err = (num / den).sqrt();
        println!("jvp {name} on wgpu: relative error {err:.2e} against reverse mode");
        assert!(err <= 1e-5, "{name}: JVP relative error {err:.3e}");
    }
}

fn eval(cwd: &Path, run: &Path, device: &str) -> (f64, f64) {
    let out = ballast(cwd, &["eval", run.to_str().unwrap(), "--device", device]);
    assert!(out.status.success(), "eval on {device}: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (
        v["accuracy"].as_f64().expect("accuracy"),
        v["loss"].as_f64().expect("loss"),
    )
}

/// A run started on one backend resumes on the other; its checkpoints evaluate alike on both.
#[test]
fn runs_move_between_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("toy.toml");
    std::fs::write(&cfg, TOY).unwrap();
    let cfg = cfg.to_str().unwrap();
    let train = |out: &Path, device: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            cfg,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--device",
            device,
        ];
        args.extend_from_slice(extra);
        ballast_ok(tmp.path(), &args);
    };
    let cpu_only = tmp.path().join("cpu");
    train(&cpu_only, "cpu", &[]);
    for (first, second) in [("wgpu", "cpu"), ("cpu", "wgpu")] {
        let run = tmp.path().join(format!("{first}-then-{second}"));
        train(&run, first, &["--stop-after", "30"]);
        let (a_cpu, l_cpu) = eval(tmp.path(), &run, "cpu");
        let (a_gpu, l_gpu) = eval(tmp.path(), &run, "wgpu");
        println!(
            "{first} 30 steps: accuracy {a_cpu} on cpu, {a_gpu} on wgpu; loss {l_cpu:.6} vs {l_gpu:.6}"
        );
        assert_eq!(
            a_cpu, a_gpu,
            "{first}: the checkpoint evaluates differently"
        );
        assert!((l_cpu - l_gpu).abs() <= 1e-4, "{first}: eval losses differ");
        train(&run, second, &["--resume"]);
        assert_eq!(read_json(&run.join("summary.json"))["steps"], 60);
        let (a_mixed, _) = eval(tmp.path(), &run, "cpu");
        let (a_ref, _) = eval(tmp.path(), &cpu_only, "cpu");
        println!("{first} then {second}: accuracy {a_mixed}; CPU throughout: {a_ref}");
        assert!(
            (a_mixed - a_ref).abs() <= 0.01,
            "{first} then {second}: accuracy {a_mixed} vs {a_ref}"
        );
    }
    // Asking for a backend the binary lacks is a clear error, not a fallback.
    let out = ballast(
        tmp.path(),
        &["eval", cpu_only.to_str().unwrap(), "--device", "cuda"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--features cuda"), "{}", text(&out));
}
