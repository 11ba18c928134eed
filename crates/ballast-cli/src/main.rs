//! `ballast`: robust deep learning on Burn. See `ballast --help`.

use anyhow::{Context, Result};
use ballast_core::models::Arch;
use ballast_core::{Backend, ModelConfig};
use ballast_train::attack_report::parse_radius;
use ballast_train::bench::SyntheticShape;
use ballast_train::config::{Method, Trains};
use ballast_train::run_dir::{find_run_dir, fresh_run_dir, load_named_model, run_trains};
use ballast_train::{RunConfig, RunOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

/// The quick-start run: LeNet-style CNN on full MNIST (fetched on first use).
const QUICKSTART: &str = include_str!("../../../configs/quickstart.toml");

#[derive(Parser)]
#[command(
    name = "ballast",
    version,
    about = "Robust deep learning on Burn: reweighting, robust losses, adversarial training."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Compute backend: cpu, wgpu, cuda or ndarray (each but cpu needs its cargo feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Dataset cache folder [env: BALLAST_DATA_DIR, default ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Common {
    fn backend(&self) -> Result<Backend> {
        Ok(self.device.parse::<Backend>()?)
    }
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("BALLAST_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train the quick-start model (LeNet on MNIST: 99.17 % test accuracy) and report.
    Quickstart {
        /// Run directory [default: runs/quickstart, or a fresh sibling if taken].
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Train from a TOML config.
    Train {
        config: PathBuf,
        /// Override a config key, e.g. --set optimizer.lr=0.01 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run directory [default: runs/<config name>, or a fresh sibling if taken].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in --out from its last checkpoint.
        #[arg(long, requires = "out")]
        resume: bool,
        /// Write into --out even when it is a non-empty directory that is not a Ballast run.
        #[arg(long, requires = "out")]
        force: bool,
        /// Stop after this many steps in total (the schedule spans the full budget).
        #[arg(long)]
        stop_after: Option<usize>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Split each batch over this many devices of --device (data parallelism: gradients
        /// summed on the first, one optimiser step; method erm). On the CPU the replicas share
        /// the same cores: a correctness path, not a speed-up (docs/scale.md).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        devices: u16,
        #[command(flatten)]
        common: Common,
    },
    /// Evaluate a run directory (its newest checkpoint) on its test split; with --attack,
    /// its robust accuracy (the same report as `ballast attack`).
    Eval {
        /// A run directory, or a checkpoint directory / model.bpk inside one.
        path: PathBuf,
        #[command(flatten)]
        attack: AttackArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Robust accuracy of a checkpoint under attacks: AutoAttack's standard suite by default
    /// (`ballast attack runs/pgd-at --eps 0.3`), or those named, e.g.
    /// `--attack pgd,aa-lite --steps 40 --restarts 5`.
    /// Writes a JSON report with every knob; several --eps values add a curve.
    ///
    /// Models trained elsewhere: PATH is a PyTorch state_dict (torch.save) or a safetensors
    /// file, with --arch, --dataset, --mean and --std, e.g.
    /// `ballast attack model.pt --arch preact-resnet18 --dataset cifar10
    /// --mean 0.4914,0.4822,0.4465 --std 0.2471,0.2435,0.2616 --eps 8/255`.
    Attack {
        /// A run directory, or a checkpoint directory / model.bpk inside one; with --arch, a
        /// PyTorch or safetensors file.
        path: PathBuf,
        #[command(flatten)]
        import: ImportArgs,
        #[command(flatten)]
        attack: AttackArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Certified accuracy of a classifier against a learned perturbation set: randomized
    /// smoothing in the CVAE's standardised latent space (Cohen et al.'s CERTIFY), e.g.
    /// `ballast certify runs/latent-at --sigma 1 --n 1000 --examples 200`.
    Certify {
        /// A run directory, or a checkpoint directory / model.bpk inside one.
        path: PathBuf,
        /// The CVAE run [default: the run's perturbation.cvae].
        #[arg(long)]
        cvae: Option<PathBuf>,
        /// Noise level σ in latent units.
        #[arg(long, default_value_t = 1.0)]
        sigma: f64,
        #[arg(long, default_value_t = 100)]
        n0: usize,
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Failure probability of each certificate.
        #[arg(long, default_value_t = 0.001)]
        alpha: f64,
        /// Radii of the certified-accuracy curve (latent units).
        #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1,1.5,2")]
        radii: Vec<f64>,
        /// The first N test examples (0 = all).
        #[arg(long, default_value_t = 200)]
        examples: usize,
        /// Samples per forward pass.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        best: bool,
        /// Write the JSON report here (a summary is printed).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Every training method: config name, label, family, what it uses and a summary.
    Methods {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Time training steps on synthetic inputs and print JSON (ratios to ERM, same run).
    Bench {
        /// Methods to time (repeatable; config names, `ballast methods` lists them); ERM is
        /// always timed as the reference. With an adversarial method, PGD-10 throughput is
        /// timed too.
        #[arg(long, value_parser = parse_name::<Method>, default_values = ["erm"])]
        method: Vec<Method>,
        /// Clean validation batch of the meta-methods.
        #[arg(long, default_value_t = 100)]
        val_batch_size: usize,
        /// Model family (the config names: mlp, lenet, small-cnn, preact-resnet18,
        /// wide-resnet, resnet-cifar), default size.
        #[arg(long, value_parser = parse_name::<Arch>, default_value = "lenet")]
        model: Arch,
        /// Input shape of the synthetic data: mnist (1×28×28) or cifar10 (3×32×32).
        #[arg(long, value_parser = parse_name::<SyntheticShape>, default_value = "mnist")]
        shape: SyntheticShape,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 50)]
        steps: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Radius of the adversarial methods and of the PGD-10 timing (e.g. 0.3 or 8/255).
        #[arg(long, default_value = "0.3")]
        eps: String,
        /// Threat model of the adversarial methods: linf or l2.
        #[arg(long, default_value = "linf")]
        norm: String,
        /// Instead of methods, time each operation of one LeNet ERM step alone (conv2d,
        /// ReLU, max-pool, linear, cross-entropy; forward and forward + backward), the
        /// optimiser update and the whole step, at --batch-size on MNIST's shape.
        #[arg(long)]
        profile_ops: bool,
        /// Also write the JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Table (Markdown) and plot (SVG) of a metric across finished runs, grouped by config
    /// keys, e.g. test error vs majority proportion with one column per method over seeds.
    Compare {
        /// Run directories (unfinished ones are listed and skipped).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Config key of the rows / x axis, e.g. data.imbalance.majority_proportion.
        #[arg(long)]
        x: String,
        /// Config key(s) of the columns / curves, comma-separated, e.g. method,loss.kind.
        #[arg(long, default_value = "method")]
        series: String,
        /// final-test, test-at-best-val, best-test (oracle), wall-time, final-robust,
        /// robust-at-best-val or best-robust (oracle).
        #[arg(long, default_value = "final-test")]
        metric: String,
        /// Report error (100 - accuracy) instead of accuracy.
        #[arg(long)]
        error: bool,
        /// Write the Markdown table here (it is always printed).
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Write an SVG plot of the means here.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Plot title.
        #[arg(long, default_value = "")]
        title: String,
    },
    /// One self-contained HTML report of finished runs (inline SVG plots, no script): per run
    /// its results, curves, example-weight histogram, robust evaluations (the run directory's
    /// attack*.json) and config; with several runs a comparison table first, e.g.
    /// `ballast report runs/pgd-at runs/mixup --out report.html`.
    Report {
        /// Finished run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
        /// The report's title [default: the run, or "N runs"].
        #[arg(long)]
        title: Option<String>,
    },
    /// Copy a run's model into the browser assets folder (burnpack) and record it in the
    /// folder's manifest.json: architecture, training config, clean and robust accuracy
    /// (from the run's attack.json), Burn version, sha256. With --curves, export the run's
    /// per-epoch robust curves (<name>.curves.json) for the robust-overfitting panel instead.
    Export {
        /// A run directory.
        run: PathBuf,
        /// Name of the model in the manifest (the file is <name>.bpk).
        #[arg(long)]
        name: String,
        /// Assets folder.
        #[arg(long, default_value = "web/assets")]
        assets: PathBuf,
        /// Export the best-by-validation model (`best/model.bpk`) instead of the newest.
        #[arg(long, conflicts_with = "curves")]
        best: bool,
        /// Export the run's robust training curves instead of its model.
        #[arg(long)]
        curves: bool,
        /// Dataset cache (a CVAE run's test digits rank its latent dimensions).
        #[command(flatten)]
        common: Common,
    },
    /// Dataset commands.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Write a seeded random train / test subset of a fetched dataset as one small gzip file
    /// (the page's MNIST playground set and attack-lab digits).
    Subset {
        #[arg(value_enum)]
        dataset: FetchArg,
        /// Training examples.
        #[arg(long, default_value_t = 1000)]
        train: usize,
        /// Test examples.
        #[arg(long, default_value_t = 500)]
        test: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output file.
        #[arg(long, default_value = "web/assets/mnist-subset.bin.gz")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Fetch a dataset into the cache and verify the sha256 of every file. CIFAR-10,
    /// CIFAR-100 and SVHN come from their official sites (resumable downloads with a
    /// progress bar); see docs/data.md.
    Fetch {
        #[arg(value_enum)]
        dataset: FetchArg,
        /// A copy you already have, verified then copied into the cache: for MNIST /
        /// Fashion-MNIST a folder of the standard files (raw or .gz); for CIFAR the archive
        /// (or the folder holding it) or the unpacked folder; for SVHN the folder of .mat files.
        #[arg(long)]
        from: Option<PathBuf>,
        /// SVHN: also fetch the extra training split (extra_32x32.mat, 1.3 GB).
        #[arg(long)]
        extra: bool,
        /// Mirror / testing: fetch `<URL>/<file name>` instead of the official site.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Mirror / testing: a checksums file (`<name> <bytes> <sha256>` per line) whose
        /// entries replace the pinned official ones; only with --base-url.
        #[arg(long, value_name = "FILE", requires = "base_url")]
        checksums: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

/// Parses a value by its config (serde) name, so the CLI and configs share one spelling.
fn parse_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

#[derive(Args, Clone)]
struct AttackArgs {
    /// Attacks, comma-separated or repeated: aa-standard (AutoAttack's standard suite, run in
    /// sequence: apgd-ce, apgd-t, fab-t, square; the default of `ballast attack`), aa-plus
    /// (AutoAttack's suite for careful checks: apgd-ce, apgd-dlr, fab, square with 5 restarts
    /// each, then apgd-t, fab-t), aa-rand (AutoAttack's version for randomised defences:
    /// apgd-ce then apgd-dlr, 1 restart, 100 iterations, each gradient averaged over 20 draws
    /// (EOT); pair it with --input-noise), fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, fab-t, fab
    /// (untargeted), square, aa-lite (= apgd-ce,apgd-dlr), latent (PGD in a learned
    /// perturbation set: --cvae, ε in latent units). With aa-standard, aa-plus or aa-rand every
    /// attack named runs in sequence, each on the examples the earlier ones left robust;
    /// otherwise each runs on every clean-correct example.
    #[arg(long, value_delimiter = ',')]
    attack: Vec<String>,
    /// The CVAE run (`method = "cvae"`) of --attack latent [default: the run's
    /// perturbation.cvae].
    #[arg(long)]
    cvae: Option<PathBuf>,
    /// Accuracy under random real perturbations (the run's [perturbation] transforms or
    /// corruptions; with corruptions also the held-out kinds) instead of attacks.
    #[arg(long)]
    real: bool,
    /// Random draws per example of --real, and of the expected approximation error when
    /// evaluating a CVAE run.
    #[arg(long, default_value_t = 10)]
    draws: usize,
    /// Descent steps of the approximation error when evaluating a CVAE run (Wong & Kolter's
    /// `eval.py` takes 50) [default: the run's perturbation.approx_steps].
    #[arg(long)]
    approx_steps: Option<usize>,
    /// Threat model: linf or l2.
    #[arg(long, default_value = "linf")]
    norm: String,
    /// Radius (or radii, comma-separated) in [0, 1] pixel units; fractions like 8/255 work
    /// [default: 0.3]. Latent attacks and CVAE runs: standardised latent units [default for a
    /// CVAE run: its perturbation.eval_eps].
    #[arg(long, value_delimiter = ',')]
    eps: Vec<String>,
    /// PGD steps.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// APGD iterations.
    #[arg(long, default_value_t = 100)]
    apgd_steps: usize,
    /// PGD / FGSM step size [default: 2.5·eps/steps for PGD, eps for FGSM].
    #[arg(long)]
    step_size: Option<f64>,
    /// PGD restarts (each example keeps its worst case).
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// APGD-CE / APGD-DLR and untargeted FAB restarts [default: 1; 5 with aa-plus].
    #[arg(long)]
    apgd_restarts: Option<usize>,
    /// APGD's forward + backward passes per iterate, gradients and objectives averaged (EOT
    /// against a randomised model) [default: 1; 20 with aa-rand].
    #[arg(long)]
    eot_draws: Option<usize>,
    /// Evaluate the model as a randomised defence: Gaussian noise of std SIGMA added to every
    /// input (in [0, 1] pixel units, not clamped) before the model's normalisation, a fresh
    /// draw at every forward. The clean accuracy and each attack's check then take one
    /// forward per example (one noise draw), as AutoAttack does. Attack it with aa-rand.
    #[arg(
        long,
        value_name = "SIGMA",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    input_noise: f64,
    /// Square's queries per example.
    #[arg(long, default_value_t = ballast_train::attack_report::AA_SQUARE_QUERIES)]
    square_queries: usize,
    /// Square's restarts [default: 1; 5 with aa-plus].
    #[arg(long)]
    square_restarts: Option<usize>,
    /// PGD from the clean input instead of a random point of the ball.
    #[arg(long)]
    no_random_start: bool,
    /// Stop moving an example once it is misclassified.
    #[arg(long)]
    early_stop: bool,
    /// test, val or train.
    #[arg(long, default_value = "test")]
    split: String,
    /// Attack the first N examples of the split (0 = all).
    #[arg(long, default_value_t = 0)]
    examples: usize,
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Seed of the random starts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use the run's best-by-validation model (`best/model.bpk`) instead of its newest.
    #[arg(long)]
    best: bool,
    /// Write the JSON report here (it is always printed).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the robust-accuracy-vs-eps curve here (SVG) when several radii are given.
    #[arg(long)]
    curve: Option<PathBuf>,
}

/// A model trained elsewhere (`ballast attack FILE --arch ...`); the default imports nothing.
#[derive(Args, Clone, Default)]
struct ImportArgs {
    /// Evaluate a model trained elsewhere: PATH is a PyTorch state_dict saved with torch.save
    /// (.pt/.pth) or a .safetensors file holding this Ballast architecture: lenet, small-cnn,
    /// preact-resnet18, wide-resnet, resnet-cifar or mlp. Tensor names are PyTorch's (those of
    /// Ballast's own model.safetensors); see --rename and --skip for other layouts.
    #[arg(long, value_parser = parse_name::<Arch>)]
    arch: Option<Arch>,
    /// The dataset the model classifies (mnist, fashion-mnist, cifar10, cifar100, svhn); its
    /// test split is attacked.
    #[arg(long, requires = "arch", value_parser = parse_name::<ballast_train::config::DatasetName>)]
    dataset: Option<ballast_train::config::DatasetName>,
    /// The per-channel mean the model's inputs were normalised with, (x − mean) / std
    /// (comma-separated; one value for every channel). Ballast normalises inside the model,
    /// so attacks work on [0, 1] pixels. Use --mean 0 --std 1 for a model that normalises
    /// itself or not at all.
    #[arg(long, requires = "arch", value_delimiter = ',')]
    mean: Vec<f32>,
    /// The per-channel std of that normalisation.
    #[arg(long, requires = "arch", value_delimiter = ',')]
    std: Vec<f32>,
    /// Ballast's width multiplier of the architecture (1 = the published sizes).
    #[arg(long, requires = "arch", default_value_t = 1.0)]
    width: f64,
    /// WideResNet depth (6n + 4) or CIFAR ResNet depth (6n + 2) [default: 28 / 32].
    #[arg(long, requires = "arch", default_value_t = 0)]
    depth: usize,
    /// WideResNet widening factor.
    #[arg(long, requires = "arch", default_value_t = 10)]
    widen: usize,
    /// Key of the state_dict inside a torch.save'd dictionary, e.g. state_dict or
    /// model_state_dict [default: the file is the state_dict].
    #[arg(long, requires = "arch")]
    state_dict_key: Option<String>,
    /// Rename the file's tensors: REGEX=REPLACEMENT, repeatable, applied in order ($1 for a
    /// group), e.g. --rename '^module\.=' (DataParallel) or --rename '^linear\.=head.'.
    #[arg(long, requires = "arch", value_name = "REGEX=REPLACEMENT")]
    rename: Vec<String>,
    /// Leave out the file's tensors whose (renamed) key matches REGEX, repeatable (e.g.
    /// normalisation buffers). Every other tensor must fit the model.
    #[arg(long, requires = "arch", value_name = "REGEX")]
    skip: Vec<String>,
}

impl ImportArgs {
    /// The import `path` asks for, or none for a Ballast run.
    fn spec(&self, path: &Path) -> Result<Option<ballast_train::import::ImportSpec>> {
        let Some(arch) = self.arch else {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_file() && matches!(ext, "pt" | "pth" | "bin" | "safetensors") {
                anyhow::bail!(
                    "{} looks like a model trained elsewhere: name its architecture, dataset and \
                     normalisation with --arch, --dataset, --mean and --std",
                    path.display()
                );
            }
            return Ok(None);
        };
        let dataset = self
            .dataset
            .context("--arch: name the dataset the model classifies with --dataset")?;
        if self.mean.is_empty() || self.std.is_empty() {
            anyhow::bail!(
                "--arch: give the normalisation the model was trained with, --mean and --std \
                 (--mean 0 --std 1 if it normalises inside or not at all)"
            );
        }
        let renames = self
            .rename
            .iter()
            .map(|r| {
                r.split_once('=')
                    .map(|(from, to)| (from.to_string(), to.to_string()))
                    .with_context(|| format!("--rename {r}: expected REGEX=REPLACEMENT"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ballast_train::import::ImportSpec {
            path: path.to_path_buf(),
            model: ModelConfig {
                arch,
                width: self.width,
                depth: self.depth,
                widen: self.widen,
                ..ModelConfig::default()
            },
            dataset,
            mean: self.mean.clone(),
            std: self.std.clone(),
            state_dict_key: self.state_dict_key.clone(),
            renames,
            skip: self.skip.clone(),
        }))
    }
}

impl AttackArgs {
    /// What to run; with no --attack, `default` (e.g. aa-standard for `ballast attack`).
    fn spec(&self, default: &[&str]) -> Result<ballast_train::attack_report::AttackSpec> {
        use ballast_core::attack::{AttackKind, Schedule};
        use ballast_train::attack_report::{
            AA_PLUS, AA_PLUS_RESTARTS, AA_RAND, AA_RAND_EOT_DRAWS, AA_STANDARD,
        };
        if !(self.input_noise >= 0.0 && self.input_noise.is_finite()) {
            anyhow::bail!(
                "--input-noise must be a finite number >= 0 (the std of the Gaussian input noise), got {}",
                self.input_noise
            );
        }
        let named: Vec<&str> = if self.attack.is_empty() {
            default.to_vec()
        } else {
            self.attack.iter().map(|a| a.trim()).collect()
        };
        let mut attacks = Vec::new();
        let mut schedule = Schedule::Independent;
        let mut restarts = 1;
        let mut eot_draws = 1;
        for a in named {
            match a {
                "aa-lite" => attacks.extend([AttackKind::ApgdCe, AttackKind::ApgdDlr]),
                "aa-standard" => {
                    attacks.extend(AA_STANDARD);
                    schedule = Schedule::Sequence;
                }
                "aa-plus" => {
                    attacks.extend(AA_PLUS);
                    schedule = Schedule::Sequence;
                    restarts = AA_PLUS_RESTARTS;
                }
                "aa-rand" => {
                    attacks.extend(AA_RAND);
                    schedule = Schedule::Sequence;
                    eot_draws = AA_RAND_EOT_DRAWS;
                }
                other => attacks.push(other.parse::<AttackKind>().map_err(anyhow::Error::msg)?),
            }
        }
        let mut seen = Vec::new();
        attacks.retain(|a| {
            let new = !seen.contains(a);
            seen.push(*a);
            new
        });
        let mut eps = self.radii()?;
        if eps.is_empty() {
            eps.push(0.3);
        }
        Ok(ballast_train::attack_report::AttackSpec {
            attacks,
            schedule,
            square_queries: self.square_queries,
            square_restarts: self.square_restarts.unwrap_or(restarts),
            eot_draws: self.eot_draws.unwrap_or(eot_draws),
            input_noise: self.input_noise,
            norm: self.norm.parse().map_err(anyhow::Error::msg)?,
            eps,
            steps: self.steps,
            apgd_steps: self.apgd_steps,
            step_size: self.step_size,
            restarts: self.restarts,
            apgd_restarts: self.apgd_restarts.unwrap_or(restarts),
            random_start: !self.no_random_start,
            early_stop: self.early_stop,
            split: parse_name(&self.split).map_err(|_| {
                anyhow::anyhow!("--split must be test, val or train, got `{}`", self.split)
            })?,
            examples: self.examples,
            batch_size: self.batch_size,
            seed: self.seed,
            cvae: self.cvae.clone(),
        })
    }

    /// The --eps values given (none: the caller's default).
    fn radii(&self) -> Result<Vec<f64>> {
        self.eps
            .iter()
            .map(|e| parse_radius(e).context("--eps"))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FetchArg {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    Svhn,
}

impl FetchArg {
    /// The IDX sets (MNIST, Fashion-MNIST) or a full-scale set.
    fn source(self) -> Result<ballast_data::fetch::Source, ballast_data::FullScale> {
        use ballast_data::{FullScale, fetch::Source};
        match self {
            FetchArg::Mnist => Ok(Source::Mnist),
            FetchArg::FashionMnist => Ok(Source::FashionMnist),
            FetchArg::Cifar10 => Err(FullScale::Cifar10),
            FetchArg::Cifar100 => Err(FullScale::Cifar100),
            FetchArg::Svhn => Err(FullScale::Svhn),
        }
    }
}

/// Draws the fetcher's progress on standard error (hidden when it is not a terminal).
#[derive(Default)]
struct FetchBars {
    bar: Option<indicatif::ProgressBar>,
}

impl ballast_data::Progress for FetchBars {
    fn begin(&mut self, task: ballast_data::Task, item: &str, total: Option<u64>, done: u64) {
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("{} {item}", task.verb()));
        bar.set_position(done);
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}

fn main() {
    end_quietly_on_a_closed_stdout();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `ballast eval RUN | head`: a write to a stdout whose reader has gone ends the process by
/// SIGPIPE, as it ends a Unix tool. Rust starts programs with SIGPIPE ignored, so the write
/// would return an error that `println!` turns into a panic.
fn end_quietly_on_a_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal, at the start of main, before any
    // other thread exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run_training(
    cfg: RunConfig,
    out: PathBuf,
    (resume, force): (bool, bool),
    stop_after: Option<usize>,
    quiet: bool,
    devices: usize,
    common: &Common,
) -> Result<()> {
    let opts = RunOptions {
        out: out.clone(),
        backend: common.backend()?,
        resume,
        force,
        stop_after,
        progress: !quiet,
        data_dir: common.data_dir(),
        devices,
    };
    eprintln!("run directory: {}", out.display());
    let report = ballast_train::train(&cfg, &opts)?;
    println!("{}", report.headline());
    for f in report.files() {
        println!("{}", out.join(f).display());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Quickstart { out, set, common } => {
            let cfg = RunConfig::parse(QUICKSTART, &set).context("quickstart config")?;
            let out = out.unwrap_or_else(|| fresh_run_dir("quickstart"));
            run_training(cfg, out, (false, false), None, false, 1, &common)
        }
        Command::Train {
            config,
            set,
            out,
            resume,
            force,
            stop_after,
            quiet,
            devices,
            common,
        } => {
            let cfg = RunConfig::load(&config, &set)?;
            let name = config
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("run")
                .to_string();
            let out = out.unwrap_or_else(|| fresh_run_dir(&name));
            run_training(
                cfg,
                out,
                (resume, force),
                stop_after,
                quiet,
                devices as usize,
                &common,
            )
        }
        Command::Eval {
            path,
            attack,
            common,
        } => {
            let run_dir = find_run_dir(&path)?;
            if run_trains(&run_dir)? == Trains::PerturbationSet {
                cvae_eval(&run_dir, &attack, &common)
            } else if attack.approx_steps.is_some() {
                anyhow::bail!("--approx-steps applies to CVAE runs (method = \"cvae\") only")
            } else if attack.real {
                real_eval(&path, &attack, &common)
            } else if attack.attack.is_empty() {
                eval(&path, &attack, &common)
            } else {
                attack_command(&path, &ImportArgs::default(), &attack, &common)
            }
        }
        Command::Attack {
            path,
            import,
            attack,
            common,
        } => attack_command(&path, &import, &attack, &common),
        Command::Certify {
            path,
            cvae,
            sigma,
            n0,
            n,
            alpha,
            radii,
            examples,
            batch_size,
            seed,
            best,
            out,
            common,
        } => {
            let device = common.backend()?.device()?;
            let smoothing = ballast_core::perturbation::SmoothingConfig {
                sigma,
                n0,
                n,
                alpha,
                batch: batch_size,
            };
            let report = ballast_train::perturbation_report::certify_run(
                &path,
                best,
                cvae.as_deref(),
                &smoothing,
                &radii,
                examples,
                seed,
                &common.data_dir(),
                &device,
                &common.device,
            )?;
            if let Some(out) = &out {
                ballast_train::checkpoint::write_atomic(
                    out,
                    serde_json::to_string_pretty(&report)?.as_bytes(),
                )?;
                eprintln!("report: {}", out.display());
            }
            println!("{}", serde_json::to_string_pretty(&report.summary())?);
            Ok(())
        }
        Command::Methods { json } => {
            let infos: Vec<_> = Method::ALL.iter().map(|m| m.info()).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&infos)?);
            } else {
                for i in infos {
                    println!(
                        "{:<14} {:<28} {:<26} {}",
                        i.name,
                        i.label,
                        i.family.label(),
                        i.summary
                    );
                }
            }
            Ok(())
        }
        Command::Bench {
            method,
            val_batch_size,
            model,
            shape,
            batch_size,
            steps,
            warmup,
            eps,
            norm,
            profile_ops,
            out,
            common,
        } => {
            if profile_ops {
                let profile = ballast_train::op_profile::profile(
                    common.backend()?,
                    batch_size,
                    warmup,
                    steps,
                )?;
                let json = serde_json::to_string_pretty(&profile)?;
                println!("{json}");
                if let Some(path) = out {
                    ballast_train::checkpoint::write_atomic(&path, json.as_bytes())?;
                }
                return Ok(());
            }
            let adversarial = ballast_train::config::AdversarialConfig {
                eps: parse_radius(&eps).context("--eps")?,
                norm: norm.parse().map_err(anyhow::Error::msg)?,
                ..Default::default()
            };
            let input = shape.input_spec();
            let result = ballast_train::bench::bench(&ballast_train::bench::BenchSpec {
                methods: &method,
                model: &ModelConfig::of(model),
                input: &input,
                batch_size,
                val_batch_size,
                warmup,
                steps,
                backend: common.backend()?,
                seed: 1,
                adversarial: &adversarial,
            })?;
            let json = serde_json::to_string_pretty(&result)?;
            println!("{json}");
            if let Some(path) = out {
                ballast_train::checkpoint::write_atomic(&path, json.as_bytes())?;
            }
            Ok(())
        }
        Command::Report { runs, out, title } => {
            let html = ballast_train::report::html_report(&runs, title.as_deref())?;
            ballast_train::checkpoint::write_atomic(&out, html.as_bytes())?;
            eprintln!("report: {} ({} runs)", out.display(), runs.len());
            Ok(())
        }
        Command::Compare {
            runs,
            x,
            series,
            metric,
            error,
            markdown,
            plot,
            title,
        } => {
            use ballast_train::compare::{CompareSpec, Metric, compare};
            let spec = CompareSpec {
                x,
                series,
                metric: Metric::parse(&metric)?,
                error,
            };
            let result = compare(&runs, &spec)?;
            for dir in &result.unfinished {
                eprintln!("skipped (unfinished, no summary.json): {}", dir.display());
            }
            let table = result.markdown();
            print!("{table}");
            if let Some(path) = markdown {
                ballast_train::checkpoint::write_atomic(&path, table.as_bytes())?;
            }
            if let Some(path) = plot {
                result.plot(&path, &title)?;
                eprintln!("plot: {}", path.display());
            }
            Ok(())
        }
        Command::Export {
            run,
            name,
            assets,
            curves: true,
            ..
        } => {
            let entry = ballast_train::export::export_curves(&run, &name, &assets)?;
            println!(
                "{} recorded in {}",
                assets.join(&entry.file).display(),
                assets.join(ballast_train::export::MANIFEST_FILE).display()
            );
            Ok(())
        }
        Command::Export {
            run,
            name,
            assets,
            curves: false,
            common,
            ..
        } if run_trains(&run)? == Trains::PerturbationSet => {
            let cfg = RunConfig::load(&run.join(ballast_train::run_dir::CONFIG_FILE), &[])?;
            let data = ballast_train::data::PreparedData::prepare(&cfg, &common.data_dir())?;
            let entry =
                ballast_train::export::export_perturbation_set(&run, &name, &assets, &data.test)?;
            println!(
                "{} ({} bytes, sha256 {}; leading latent dimensions {:?}) recorded in {}",
                assets.join(&entry.file).display(),
                entry.bytes,
                entry.sha256,
                &entry.leading_dims[..entry.leading_dims.len().min(4)],
                assets.join(ballast_train::export::MANIFEST_FILE).display()
            );
            Ok(())
        }
        Command::Export {
            run,
            name,
            assets,
            best,
            curves: false,
            ..
        } => {
            let entry = ballast_train::export::export(&run, &name, &assets, best)?;
            println!(
                "{} ({} bytes, sha256 {}) recorded in {}",
                assets.join(&entry.file).display(),
                entry.bytes,
                entry.sha256,
                assets.join(ballast_train::export::MANIFEST_FILE).display()
            );
            Ok(())
        }
        Command::Data {
            command:
                DataCommand::Subset {
                    dataset,
                    train,
                    test,
                    seed,
                    out,
                    common,
                },
        } => {
            let source = dataset.source().map_err(|set| {
                anyhow::anyhow!(
                    "`data subset` writes MNIST-style subsets (mnist, fashion-mnist), not {}",
                    set.dir_name()
                )
            })?;
            let (full_train, full_test) = ballast_data::fetch::fetch_and_load(
                source,
                &common.data_dir(),
                &ballast_data::fetch::FetchOptions::default(),
            )?;
            let train_set = ballast_data::subsample_train(&full_train, train, seed)?;
            let test_set = ballast_data::subsample_train(&full_test, test, seed.wrapping_add(1))?;
            let bytes = ballast_train::export::export_subset(&train_set, &test_set, &out)?;
            println!(
                "{}: {train} training and {test} test examples of {} (seed {seed}), {bytes} bytes",
                out.display(),
                dataset_name(dataset)
            );
            Ok(())
        }
        Command::Data {
            command:
                DataCommand::Fetch {
                    dataset,
                    from,
                    extra,
                    base_url,
                    checksums,
                    common,
                },
        } => {
            if extra && dataset != FetchArg::Svhn {
                anyhow::bail!("--extra is SVHN's extra training split; it does not apply here");
            }
            let checksums = checksums
                .map(|path| ballast_data::Checksums::load(&path))
                .transpose()?;
            let dir = match dataset.source() {
                Ok(source) => {
                    if checksums.is_some() {
                        anyhow::bail!(
                            "--checksums applies to cifar10, cifar100 and svhn; MNIST and \
                             Fashion-MNIST files are always checked against their pinned hashes"
                        );
                    }
                    ballast_data::fetch::fetch(
                        source,
                        &common.data_dir(),
                        &ballast_data::fetch::FetchOptions {
                            data_dir: from,
                            verbose: true,
                            mirrors: base_url
                                .map(|b| vec![format!("{}/", b.trim_end_matches('/'))]),
                            ..Default::default()
                        },
                    )?
                }
                Err(set) => ballast_data::fetch_full_scale(
                    set,
                    &common.data_dir(),
                    &ballast_data::fetch::FetchOptions {
                        data_dir: from,
                        base_url,
                        checksums,
                        svhn_extra: extra,
                        ..Default::default()
                    },
                    &mut FetchBars::default(),
                )?,
            };
            println!(
                "{} ready in {} (sha256 verified)",
                dataset_name(dataset),
                dir.display()
            );
            Ok(())
        }
    }
}

fn dataset_name(d: FetchArg) -> &'static str {
    match d {
        FetchArg::Mnist => "MNIST",
        FetchArg::FashionMnist => "Fashion-MNIST",
        FetchArg::Cifar10 => "CIFAR-10",
        FetchArg::Cifar100 => "CIFAR-100",
        FetchArg::Svhn => "SVHN",
    }
}

fn attack_command(
    path: &Path,
    import: &ImportArgs,
    args: &AttackArgs,
    common: &Common,
) -> Result<()> {
    use ballast_train::attack_report::ModelSource;
    let spec = args.spec(&["aa-standard"])?;
    let device = common.backend()?.device()?;
    let (source, cfg, model, ckpt) = match import.spec(path)? {
        Some(import) => {
            if args.best {
                anyhow::bail!("--best names a run's best model; it does not apply to --arch");
            }
            let (cfg, model, record) =
                ballast_train::import::import_model(&import, &common.data_dir(), &device)?;
            eprintln!(
                "imported {} ({} tensors{})",
                path.display(),
                record.loaded_tensors,
                if record.skipped_tensors.is_empty() {
                    String::new()
                } else {
                    format!("; left out {}", record.skipped_tensors.join(", "))
                }
            );
            (
                ModelSource::Imported(record),
                cfg,
                model,
                path.to_path_buf(),
            )
        }
        None => {
            let (run_dir, cfg, model, ckpt) = load_named_model(path, args.best, &device)?;
            (ModelSource::Run(run_dir), cfg, model, ckpt)
        }
    };
    let report = ballast_train::attack_report::attack_report(
        &source,
        &cfg,
        &model,
        &ckpt,
        &spec,
        &common.data_dir(),
        &device,
        &common.device,
    )?;
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(out) = &args.out {
        ballast_train::checkpoint::write_atomic(out, json.as_bytes())?;
        eprintln!("report: {}", out.display());
    }
    if let Some(curve) = &args.curve {
        if report.results.len() < 2 {
            eprintln!("note: --curve needs several --eps values; no curve written");
        } else {
            report.plot_curve(curve)?;
            eprintln!("curve: {}", curve.display());
        }
    }
    Ok(())
}

/// Quality of a CVAE run's perturbation set on test pairs.
fn cvae_eval(run_dir: &Path, args: &AttackArgs, common: &Common) -> Result<()> {
    let device = common.backend()?.device()?;
    let cfg = RunConfig::load(&run_dir.join(ballast_train::run_dir::CONFIG_FILE), &[])?;
    let mut eps = args.radii()?;
    if eps.is_empty() {
        eps = cfg.perturbation.eval_eps.clone();
    }
    let report = ballast_train::perturbation_report::cvae_report(
        run_dir,
        &eps,
        args.examples,
        args.approx_steps.unwrap_or(cfg.perturbation.approx_steps),
        args.draws,
        args.seed,
        &common.data_dir(),
        &device,
        &common.device,
    )?;
    print_report(&report, args.out.as_deref())
}

/// Accuracy under random real perturbations.
fn real_eval(path: &Path, args: &AttackArgs, common: &Common) -> Result<()> {
    let device = common.backend()?.device()?;
    let (_run_dir, cfg, model, ckpt) = load_named_model(path, args.best, &device)?;
    let report = ballast_train::perturbation_report::real_perturbation_report(
        &cfg,
        &model,
        &ckpt,
        &cfg.perturbation,
        args.examples,
        args.draws,
        args.batch_size,
        args.seed,
        &common.data_dir(),
        &device,
        &common.device,
    )?;
    print_report(&report, args.out.as_deref())
}

fn print_report<T: serde::Serialize>(report: &T, out: Option<&Path>) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    println!("{json}");
    if let Some(out) = out {
        ballast_train::checkpoint::write_atomic(out, json.as_bytes())?;
        eprintln!("report: {}", out.display());
    }
    Ok(())
}

fn eval(path: &Path, args: &AttackArgs, common: &Common) -> Result<()> {
    let device = common.backend()?.device()?;
    let report = ballast_train::eval::test_report(
        path,
        args.best,
        &common.data_dir(),
        &device,
        &common.device,
    )?;
    print_report(&report, args.out.as_deref())
}
