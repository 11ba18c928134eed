//! `ballast attack` / `ballast eval --attack …`: robust accuracy of a checkpoint under a list
//! of attacks at one or more radii, as a JSON report that records every knob (dataset, split,
//! examples, norm, ε, steps, step size, restarts, seed, checkpoint and its sha256), plus a
//! robust-accuracy-vs-ε curve when several radii are given.

use crate::config::RunConfig;
use crate::data::PreparedData;
use crate::error::{Context, Result, TrainError, bail};
use crate::perturbation::load_cvae;
use crate::plot::{Curve, Figure};
use crate::robust_eval::{RobustResult, evaluate_robust, first_positions};
use ballast_core::Classifier;
use ballast_core::attack::{AttackConfig, AttackKind, Norm, Schedule};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which split to attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Test,
    Val,
    Train,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Val => "val",
            Split::Train => "train",
        }
    }
}

/// What to run; every field ends up in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttackSpec {
    pub attacks: Vec<AttackKind>,
    /// Independent runs, or a sequence (`aa-standard`: each attack on the examples every
    /// earlier one left robust).
    #[serde(default)]
    pub schedule: Schedule,
    pub norm: Norm,
    pub eps: Vec<f64>,
    /// PGD steps (FGSM: 1).
    pub steps: usize,
    /// APGD iterations.
    pub apgd_steps: usize,
    pub step_size: Option<f64>,
    /// PGD restarts.
    pub restarts: usize,
    /// APGD restarts (AutoAttack's standard APGD-CE runs once); APGD-T runs once per target.
    pub apgd_restarts: usize,
    /// Square's queries per example (AutoAttack: 5 000).
    #[serde(default = "square_queries")]
    pub square_queries: usize,
    /// Square's restarts (fresh random searches on the examples still robust; aa-plus: 5).
    #[serde(default = "one")]
    pub square_restarts: usize,
    /// APGD's forward + backward passes per iterate, averaged (EOT against a randomised model;
    /// aa-rand: 20; 1: the deterministic attack).
    #[serde(default = "one")]
    pub eot_draws: usize,
    /// σ of the Gaussian noise the model adds to every input at every forward (the randomised
    /// defence, `--input-noise`; 0: the model as trained). Clean accuracy and each attack's
    /// check then take one forward per example, as AutoAttack does.
    #[serde(default)]
    pub input_noise: f64,
    pub random_start: bool,
    pub early_stop: bool,
    pub split: Split,
    /// 0 = the whole split.
    pub examples: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// The CVAE run of `latent` attacks (default: the run's `perturbation.cvae`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvae: Option<PathBuf>,
}

fn square_queries() -> usize {
    AA_SQUARE_QUERIES
}

fn one() -> usize {
    1
}

/// AutoAttack's standard suite (Croce & Hein 2020), run as a sequence: APGD-CE, APGD-T (9
/// targets), FAB-T (9 targets), each 100 iterations, then Square.
pub const AA_STANDARD: [AttackKind; 4] = [
    AttackKind::ApgdCe,
    AttackKind::ApgdT,
    AttackKind::FabT,
    AttackKind::Square,
];
/// AutoAttack's "plus" suite, for careful checks: APGD-CE and APGD-DLR (5 restarts each),
/// untargeted FAB (5 restarts), Square (5 restarts), then APGD-T and FAB-T (9 targets each).
pub const AA_PLUS: [AttackKind; 6] = [
    AttackKind::ApgdCe,
    AttackKind::ApgdDlr,
    AttackKind::Fab,
    AttackKind::Square,
    AttackKind::ApgdT,
    AttackKind::FabT,
];
/// AutoAttack's version for randomised defences (`version='rand'`): APGD-CE then APGD-DLR, one
/// restart each, 100 iterations, each iterate's gradient averaged over [`AA_RAND_EOT_DRAWS`]
/// draws (EOT), run as a sequence.
pub const AA_RAND: [AttackKind; 2] = [AttackKind::ApgdCe, AttackKind::ApgdDlr];
/// aa-rand's EOT draws per APGD iterate.
pub const AA_RAND_EOT_DRAWS: usize = 20;
/// Restarts of aa-plus's APGD-CE / APGD-DLR, FAB and Square.
pub const AA_PLUS_RESTARTS: usize = 5;
/// AutoAttack's iterations per APGD / FAB run.
pub const AA_ITERATIONS: usize = 100;
/// AutoAttack's Square budget.
pub const AA_SQUARE_QUERIES: usize = 5_000;

impl AttackSpec {
    /// The attack configs at radius `eps`.
    pub fn configs(&self, eps: f64) -> Vec<AttackConfig> {
        self.attacks
            .iter()
            .map(|&kind| match kind {
                AttackKind::Fgsm => AttackConfig {
                    step_size: self.step_size,
                    random_start: false,
                    ..AttackConfig::fgsm(self.norm, eps)
                },
                AttackKind::Pgd => AttackConfig {
                    step_size: self.step_size,
                    random_start: self.random_start,
                    early_stop: self.early_stop,
                    ..AttackConfig::pgd(self.norm, eps, self.steps, self.restarts)
                },
                AttackKind::ApgdCe | AttackKind::ApgdDlr => AttackConfig {
                    eot_draws: self.eot_draws,
                    ..AttackConfig::apgd(kind, self.norm, eps, self.apgd_steps, self.apgd_restarts)
                },
                AttackKind::Fab => {
                    AttackConfig::apgd(kind, self.norm, eps, self.apgd_steps, self.apgd_restarts)
                }
                // One run per target (AutoAttack's standard and plus suites alike).
                AttackKind::ApgdT => AttackConfig {
                    eot_draws: self.eot_draws,
                    ..AttackConfig::apgd(kind, self.norm, eps, self.apgd_steps, 1)
                },
                AttackKind::FabT => AttackConfig::apgd(kind, self.norm, eps, self.apgd_steps, 1),
                AttackKind::Square => AttackConfig {
                    restarts: self.square_restarts,
                    ..AttackConfig::square(self.norm, eps, self.square_queries)
                },
                // ℓ2 in the standardised latent space whatever --norm says; ε in latent units.
                AttackKind::Latent => AttackConfig {
                    step_size: self.step_size,
                    random_start: self.random_start,
                    ..AttackConfig::latent(eps, self.steps, self.restarts)
                },
            })
            .collect()
    }

    /// The AutoAttack version this spec runs exactly ("standard", "plus" or "rand": its
    /// attacks, order, sequence and budgets), else None.
    pub fn autoattack_version(&self) -> Option<&'static str> {
        let rand = self.schedule == Schedule::Sequence
            && self.apgd_steps == AA_ITERATIONS
            && self.attacks == AA_RAND
            && self.apgd_restarts == 1
            && self.eot_draws == AA_RAND_EOT_DRAWS;
        if rand {
            return Some("rand");
        }
        let sequence = self.schedule == Schedule::Sequence
            && self.apgd_steps == AA_ITERATIONS
            && self.square_queries == AA_SQUARE_QUERIES
            && self.eot_draws == 1;
        if sequence && self.attacks == AA_STANDARD && self.apgd_restarts == 1 {
            Some("standard")
        } else if sequence
            && self.attacks == AA_PLUS
            && self.apgd_restarts == AA_PLUS_RESTARTS
            && self.square_restarts == AA_PLUS_RESTARTS
        {
            Some("plus")
        } else {
            None
        }
    }

    pub fn validate(&self, num_classes: usize) -> Result<()> {
        if self.attacks.is_empty() {
            bail!(
                "name at least one attack (--attack aa-standard, aa-plus, aa-rand, pgd, fgsm, apgd-ce, apgd-dlr, apgd-t, fab-t, fab, square or aa-lite)"
            );
        }
        if !(self.input_noise >= 0.0 && self.input_noise.is_finite()) {
            bail!(
                "--input-noise must be a finite number >= 0 (the std of the Gaussian input noise), got {}",
                self.input_noise
            );
        }
        if self.eot_draws == 0 {
            bail!("--eot-draws must be at least 1");
        }
        if self.eps.is_empty() {
            bail!("give at least one radius with --eps");
        }
        if self.attacks.contains(&AttackKind::ApgdDlr) && num_classes < 3 {
            bail!("apgd-dlr needs at least 3 classes; this model has {num_classes}");
        }
        if self.attacks.contains(&AttackKind::ApgdT) && num_classes < 4 {
            bail!(
                "apgd-t (its targeted DLR loss) needs at least 4 classes; this model has {num_classes}"
            );
        }
        for &e in &self.eps {
            for cfg in self.configs(e) {
                cfg.validate()?;
            }
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        Ok(())
    }
}

/// RobustBench's summary of an AutoAttack evaluation at one radius (the fields of its model
/// cards; accuracies in %), for reports whose spec is exactly an AutoAttack version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustBenchSummary {
    /// The model's architecture and its checkpoint's sha256.
    pub model: String,
    pub checkpoint_sha256: String,
    pub dataset: String,
    /// The split and which of its examples: "test[0..2000]".
    pub split: String,
    /// "Linf" or "L2" (RobustBench's threat-model names).
    pub threat_model: String,
    pub norm: String,
    pub eps: f64,
    pub n_ex: usize,
    pub clean_acc: f64,
    pub autoattack_acc: f64,
    /// "standard" or "plus".
    pub version: String,
    /// The Ballast commit that ran the evaluation.
    pub commit: String,
}

/// Robust accuracy at one radius.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RadiusResult {
    pub eps: f64,
    #[serde(flatten)]
    pub result: RobustResult,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttackReport {
    pub checkpoint: PathBuf,
    /// sha256 of the checkpoint file: names the file.
    pub checkpoint_sha256: String,
    /// Content digest of a burnpack checkpoint (its tensors, whatever the file layout): names
    /// the weights ([`crate::checkpoint::content_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_content_digest: Option<String>,
    /// The run's config (models trained by Ballast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config: Option<PathBuf>,
    /// How a model trained elsewhere was imported (`ballast attack FILE --arch ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<crate::import::ImportRecord>,
    pub dataset: String,
    pub split: Split,
    pub examples: usize,
    pub model: String,
    pub mode: String,
    pub spec: AttackSpec,
    /// The perturbation set of latent attacks: its checkpoint and sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvae_checkpoint: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvae_checkpoint_sha256: Option<String>,
    pub clean_accuracy: f64,
    pub results: Vec<RadiusResult>,
    /// Signs of gradient masking ([`crate::masking`]); none on a sound report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::masking::MaskingWarning>,
    /// RobustBench-style summaries, one per radius, when the attacks are exactly an AutoAttack
    /// version (empty otherwise: other attack sets are not AutoAttack figures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustbench: Vec<RobustBenchSummary>,
    pub device: String,
    pub wall_time_s: f64,
    pub ballast_version: String,
    pub burn_version: String,
}

/// One [`RobustBenchSummary`] per radius when `spec` is exactly an AutoAttack version, else
/// none. The split's examples are the first `n_ex` of `spec.split`.
pub fn robustbench_summaries(
    spec: &AttackSpec,
    results: &[RadiusResult],
    model: &str,
    dataset: &str,
    checkpoint_sha256: &str,
) -> Vec<RobustBenchSummary> {
    let Some(version) = spec.autoattack_version() else {
        return Vec::new();
    };
    results
        .iter()
        .map(|r| RobustBenchSummary {
            model: model.into(),
            checkpoint_sha256: checkpoint_sha256.into(),
            dataset: dataset.into(),
            split: format!("{}[0..{}]", spec.split.name(), r.result.examples),
            threat_model: match spec.norm {
                Norm::Linf => "Linf",
                Norm::L2 => "L2",
            }
            .into(),
            norm: spec.norm.name().into(),
            eps: r.eps,
            n_ex: r.result.examples,
            clean_acc: percent(r.result.clean_accuracy),
            autoattack_acc: percent(r.result.worst_case_accuracy),
            version: version.into(),
            commit: crate::COMMIT.into(),
        })
        .collect()
}

/// How the model is run, for the report.
fn mode_description(input_noise: f64) -> String {
    let mut mode = "inference (running BatchNorm statistics, no dropout); inputs in [0, 1], projected onto the eps-ball and the box every step".to_string();
    if input_noise > 0.0 {
        mode.push_str(&format!(
            "; randomised: Gaussian noise of std {input_noise} added to every input at every forward (clean accuracy and each attack's check: one forward per example)"
        ));
    }
    mode
}

/// Whether the attacks of `spec` match the model's randomness, one warning per radius when not:
/// a randomised model (input noise σ > 0) attacked without EOT (no APGD among the attacks, or
/// one draw per iterate) gets a single-draw gradient, a noisy estimate that overstates
/// robustness; EOT on a deterministic model averages identical gradients (wasted work).
pub fn randomness_warnings(spec: &AttackSpec) -> Vec<crate::masking::MaskingWarning> {
    use crate::masking::{MaskingSign, MaskingWarning};
    let uses_eot = spec.eot_draws > 1
        && spec.attacks.iter().any(|k| {
            matches!(
                k,
                AttackKind::ApgdCe | AttackKind::ApgdDlr | AttackKind::ApgdT
            )
        });
    let randomised = spec.input_noise > 0.0;
    if randomised == uses_eot {
        return Vec::new();
    }
    spec.eps
        .iter()
        .map(|&eps| {
            if randomised {
                MaskingWarning {
                    eps,
                    kind: MaskingSign::RandomisedWithoutEot,
                    message: format!(
                        "randomised model (input noise sigma {}) attacked without EOT at eps {eps}: each gradient comes from a single noise draw, which overstates robustness; use --attack aa-rand (APGD with EOT over {AA_RAND_EOT_DRAWS} draws) or --eot-draws",
                        spec.input_noise
                    ),
                }
            } else {
                MaskingWarning {
                    eps,
                    kind: MaskingSign::EotOnDeterministicModel,
                    message: format!(
                        "EOT over {} draws on a deterministic model (no --input-noise) at eps {eps}: every draw gives the same gradient, so APGD does {}x the work of one draw for the same result",
                        spec.eot_draws, spec.eot_draws
                    ),
                }
            }
        })
        .collect()
}

/// A fraction as a percentage rounded to 2 decimals (RobustBench's precision).
fn percent(fraction: f64) -> f64 {
    (fraction * 10_000.0).round() / 100.0
}

/// Attacks work in [0, 1] pixel space; data outside it (the raw 2-D toy sets) is an error.
pub fn check_pixel_range(set: &ballast_data::Dataset) -> Result<()> {
    let (lo, hi) = set
        .x
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if lo < 0.0 || hi > 1.0 {
        bail!(
            "attacks work on inputs in [0, 1] (images); {} spans [{lo}, {hi}]",
            set.name
        );
    }
    Ok(())
}

/// Where the attacked model comes from.
pub enum ModelSource {
    /// A Ballast run directory.
    Run(PathBuf),
    /// A model trained elsewhere ([`crate::import`]).
    Imported(crate::import::ImportRecord),
}

#[allow(clippy::too_many_arguments)]
pub fn attack_report(
    source: &ModelSource,
    cfg: &RunConfig,
    model: &Classifier,
    checkpoint: &Path,
    spec: &AttackSpec,
    data_dir: &Path,
    device: &Device,
    device_name: &str,
) -> Result<AttackReport> {
    let data = PreparedData::prepare(cfg, data_dir)?;
    spec.validate(data.input.num_classes)?;
    let set = match spec.split {
        Split::Test => &data.test,
        Split::Train => &data.train,
        Split::Val => data
            .val
            .as_ref()
            .context("--split val: this run has no validation split (data.val_size = 0)")?,
    };
    check_pixel_range(set)?;
    let cvae = if spec.attacks.contains(&AttackKind::Latent) {
        let dir = spec.cvae.as_ref().or(cfg.perturbation.cvae.as_ref()).context(
            "--attack latent needs a learned perturbation set: pass --cvae <run directory of a `method = \"cvae\"` run>",
        )?;
        let loaded = load_cvae(dir, device)?;
        if loaded.config.shape.iter().product::<usize>() != data.input.features() {
            bail!(
                "the CVAE of {} models images {:?}; the model's inputs are {:?}",
                dir.display(),
                loaded.config.shape,
                data.input.shape
            );
        }
        Some(loaded)
    } else {
        None
    };
    // The randomised defence, switched on for this evaluation only.
    let mut model = model.clone();
    model.set_input_noise(spec.input_noise);
    let model = &model;
    let positions = first_positions(set.len(), spec.examples);
    let started = Instant::now();
    let mut results = Vec::new();
    for &eps in &spec.eps {
        let attacks = spec.configs(eps);
        let r = evaluate_robust(
            model,
            set,
            &positions,
            &attacks,
            spec.schedule,
            spec.batch_size,
            spec.seed,
            device,
            cvae.as_ref().map(|c| &c.cvae.set),
        );
        eprintln!(
            "eps {eps}: clean {:.2}%  {}  worst case {:.2}%",
            100.0 * r.clean_accuracy,
            r.per_attack
                .iter()
                .map(|a| format!(
                    "{} {:.2}% ({:.1} s)",
                    a.name,
                    100.0 * a.robust_accuracy,
                    a.wall_time_s
                ))
                .collect::<Vec<_>>()
                .join("  "),
            100.0 * r.worst_case_accuracy
        );
        results.push(RadiusResult { eps, result: r });
    }
    let mut warnings = crate::masking::report_warnings(&results);
    warnings.extend(randomness_warnings(spec));
    if !spec.attacks.contains(&AttackKind::Latent) {
        let labels: Vec<u32> = positions.iter().map(|&p| set.labels[p]).collect();
        warnings.extend(crate::masking::uniform_image_warnings(
            model,
            spec.norm,
            &labels,
            data.input.features(),
            &results,
            device,
        ));
    }
    for w in &warnings {
        eprintln!("warning: {}", w.message);
    }
    let checkpoint_sha256 = crate::checkpoint::file_sha256(checkpoint)?;
    let robustbench = robustbench_summaries(
        spec,
        &results,
        &format!("{:?}", cfg.model.arch),
        &format!("{:?}", cfg.data.dataset),
        &checkpoint_sha256,
    );
    for s in &robustbench {
        eprintln!(
            "AutoAttack ({}), {} eps {} on {} {}: clean {:.2} %, robust {:.2} % (commit {})",
            s.version,
            s.threat_model,
            s.eps,
            s.dataset,
            s.split,
            s.clean_acc,
            s.autoattack_acc,
            s.commit
        );
    }
    let (run_config, imported) = match source {
        ModelSource::Run(run_dir) => (Some(run_dir.join(crate::run_dir::CONFIG_FILE)), None),
        ModelSource::Imported(record) => (None, Some(record.clone())),
    };
    let checkpoint_content_digest = match source {
        ModelSource::Run(_) => Some(crate::checkpoint::content_digest(
            &crate::checkpoint::read_model(checkpoint)?,
            checkpoint,
        )?),
        ModelSource::Imported(_) => None,
    };
    Ok(AttackReport {
        checkpoint: checkpoint.to_path_buf(),
        checkpoint_sha256,
        checkpoint_content_digest,
        run_config,
        imported,
        dataset: format!("{:?}", cfg.data.dataset),
        split: spec.split,
        examples: positions.len(),
        model: format!("{:?}", cfg.model.arch),
        mode: mode_description(spec.input_noise),
        spec: spec.clone(),
        cvae_checkpoint: cvae.as_ref().map(|c| c.checkpoint.clone()),
        cvae_checkpoint_sha256: cvae
            .as_ref()
            .map(|c| crate::checkpoint::file_sha256(&c.checkpoint))
            .transpose()?,
        clean_accuracy: results
            .first()
            .map(|r| r.result.clean_accuracy)
            .unwrap_or(0.0),
        results,
        warnings,
        robustbench,
        device: device_name.to_string(),
        wall_time_s: started.elapsed().as_secs_f64(),
        ballast_version: env!("CARGO_PKG_VERSION").to_string(),
        burn_version: crate::BURN_VERSION.to_string(),
    })
}

impl AttackReport {
    /// Robust accuracy (%) against ε: one curve per attack and the worst case.
    pub fn curve_figure(&self) -> Figure {
        let names: Vec<String> = self
            .results
            .first()
            .map(|first| {
                first
                    .result
                    .per_attack
                    .iter()
                    .map(|a| {
                        a.attack
                            .describe()
                            .split(' ')
                            .next()
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut curves: Vec<Curve> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Curve::new(
                    name.clone(),
                    self.results
                        .iter()
                        .filter_map(|r| {
                            let a = r.result.per_attack.get(i)?;
                            Some((r.eps, 100.0 * a.robust_accuracy))
                        })
                        .collect(),
                )
            })
            .collect();
        if names.len() > 1 {
            curves.push(Curve::new(
                "worst case",
                self.results
                    .iter()
                    .map(|r| (r.eps, 100.0 * r.result.worst_case_accuracy))
                    .collect(),
            ));
        }
        Figure::new(
            &format!(
                "Robust accuracy vs eps ({}, {} {} examples)",
                self.spec.norm.name(),
                self.dataset,
                self.examples
            ),
            "eps",
            "accuracy (%)",
            curves,
        )
    }

    /// Writes [`Self::curve_figure`] to `path`.
    pub fn plot_curve(&self, path: &Path) -> Result<()> {
        self.curve_figure().write(path)
    }
}

/// A radius as written on the command line: `0.3` or a fraction such as `8/255`.
pub fn parse_radius(s: &str) -> Result<f64> {
    let s = s.trim();
    let number = |t: &str| {
        t.trim()
            .parse::<f64>()
            .map_err(|_| TrainError::msg(format!("`{s}` is not a number or a fraction like 8/255")))
    };
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if b == 0.0 {
                bail!("`{s}` divides by zero");
            }
            a / b
        }
        None => number(s)?,
    };
    if !(v >= 0.0 && v.is_finite()) {
        bail!("a radius must be a finite number >= 0, got {s}");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(attacks: &[AttackKind], schedule: Schedule, restarts: usize) -> AttackSpec {
        AttackSpec {
            attacks: attacks.to_vec(),
            schedule,
            norm: Norm::Linf,
            eps: vec![0.3],
            steps: 40,
            apgd_steps: AA_ITERATIONS,
            step_size: None,
            restarts: 1,
            apgd_restarts: restarts,
            square_queries: AA_SQUARE_QUERIES,
            square_restarts: restarts,
            eot_draws: 1,
            input_noise: 0.0,
            random_start: true,
            early_stop: false,
            split: Split::Test,
            examples: 2000,
            batch_size: 500,
            seed: 0,
            cvae: None,
        }
    }

    /// Only the exact suites (attacks, order, sequence, budgets) are AutoAttack figures.
    #[test]
    fn autoattack_versions_are_recognised_exactly() {
        let standard = spec(&AA_STANDARD, Schedule::Sequence, 1);
        assert_eq!(standard.autoattack_version(), Some("standard"));
        let plus = spec(&AA_PLUS, Schedule::Sequence, AA_PLUS_RESTARTS);
        assert_eq!(plus.autoattack_version(), Some("plus"));
        for not in [
            spec(&AA_STANDARD, Schedule::Independent, 1),
            spec(&AA_STANDARD[..3], Schedule::Sequence, 1),
            spec(&AA_PLUS, Schedule::Sequence, 1),
            AttackSpec {
                square_queries: 1000,
                ..spec(&AA_STANDARD, Schedule::Sequence, 1)
            },
            AttackSpec {
                apgd_steps: 50,
                ..spec(&AA_STANDARD, Schedule::Sequence, 1)
            },
        ] {
            assert_eq!(not.autoattack_version(), None, "{not:?}");
        }
    }

    /// aa-rand is AutoAttack's `rand` version only with its 20 EOT draws, one restart and 100
    /// iterations in sequence; EOT makes the other suites something else.
    #[test]
    fn aa_rand_is_recognised_with_its_eot_draws() {
        let rand = AttackSpec {
            eot_draws: AA_RAND_EOT_DRAWS,
            ..spec(&AA_RAND, Schedule::Sequence, 1)
        };
        assert_eq!(rand.autoattack_version(), Some("rand"));
        let configs = rand.configs(0.3);
        assert_eq!(configs.len(), 2);
        assert!(configs.iter().all(|c| c.eot_draws == AA_RAND_EOT_DRAWS
            && c.restarts == 1
            && c.steps == AA_ITERATIONS));
        for not in [
            spec(&AA_RAND, Schedule::Sequence, 1),
            AttackSpec {
                eot_draws: AA_RAND_EOT_DRAWS,
                ..spec(&AA_RAND, Schedule::Independent, 1)
            },
            AttackSpec {
                eot_draws: AA_RAND_EOT_DRAWS,
                ..spec(&AA_STANDARD, Schedule::Sequence, 1)
            },
            AttackSpec {
                eot_draws: 2,
                ..spec(&AA_STANDARD, Schedule::Sequence, 1)
            },
        ] {
            assert_eq!(not.autoattack_version(), None, "{not:?}");
        }
        // EOT reaches every APGD and nothing else.
        let mixed = AttackSpec {
            eot_draws: 5,
            ..spec(
                &[AttackKind::Pgd, AttackKind::ApgdT, AttackKind::Fab],
                Schedule::Independent,
                1,
            )
        };
        let draws: Vec<usize> = mixed.configs(0.1).iter().map(|c| c.eot_draws).collect();
        assert_eq!(draws, [1, 5, 1]);
    }

    /// A noisy model without EOT, and EOT on a deterministic model, each warn once per radius;
    /// the matched pairs do not; bad noise levels and zero draws are errors naming the flag.
    #[test]
    fn randomness_and_eot_must_match() {
        use crate::masking::MaskingSign;
        let rand = AttackSpec {
            eot_draws: AA_RAND_EOT_DRAWS,
            eps: vec![0.1, 0.3],
            ..spec(&AA_RAND, Schedule::Sequence, 1)
        };
        let noisy = |s: &AttackSpec| AttackSpec {
            input_noise: 0.1,
            ..s.clone()
        };
        assert!(randomness_warnings(&noisy(&rand)).is_empty());
        let wasted = randomness_warnings(&rand);
        assert_eq!(wasted.len(), 2);
        assert!(
            wasted
                .iter()
                .all(|w| w.kind == MaskingSign::EotOnDeterministicModel)
        );
        let standard = spec(&AA_STANDARD, Schedule::Sequence, 1);
        assert!(randomness_warnings(&standard).is_empty());
        let unmatched = randomness_warnings(&noisy(&standard));
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].kind, MaskingSign::RandomisedWithoutEot);
        assert!(unmatched[0].message.contains("aa-rand"));
        // EOT on attacks that ignore it is no EOT.
        let pgd = AttackSpec {
            eot_draws: 20,
            ..noisy(&spec(&[AttackKind::Pgd], Schedule::Independent, 1))
        };
        assert_eq!(
            randomness_warnings(&pgd)[0].kind,
            MaskingSign::RandomisedWithoutEot
        );
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            let s = AttackSpec {
                input_noise: bad,
                ..standard.clone()
            };
            assert!(
                s.validate(10)
                    .unwrap_err()
                    .to_string()
                    .contains("--input-noise")
            );
        }
        let zero = AttackSpec {
            eot_draws: 0,
            ..standard.clone()
        };
        assert!(
            zero.validate(10)
                .unwrap_err()
                .to_string()
                .contains("--eot-draws")
        );
    }

    /// The summary of an aa-standard report: one entry per radius, accuracies in % at 2
    /// decimals, the split's examples and the build's commit; none for other attack sets.
    #[test]
    fn robustbench_summary_per_radius_of_an_autoattack_report() {
        let result = |eps: f64, clean: f64, worst: f64| RadiusResult {
            eps,
            result: RobustResult {
                examples: 2000,
                schedule: Schedule::Sequence,
                clean_accuracy: clean,
                per_attack: Vec::new(),
                worst_case_accuracy: worst,
            },
        };
        let results = [result(0.1, 0.9855, 0.97), result(0.3, 0.9855, 0.87554)];
        let standard = spec(&AA_STANDARD, Schedule::Sequence, 1);
        let s = robustbench_summaries(&standard, &results, "SmallCnn", "Mnist", "abc");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].split, "test[0..2000]");
        assert_eq!(
            (s[1].threat_model.as_str(), s[1].eps, s[1].n_ex),
            ("Linf", 0.3, 2000)
        );
        assert_eq!((s[1].clean_acc, s[1].autoattack_acc), (98.55, 87.55));
        assert_eq!(s[1].version, "standard");
        assert_eq!(s[1].commit, crate::COMMIT);
        let custom = spec(&[AttackKind::Pgd], Schedule::Independent, 1);
        assert!(robustbench_summaries(&custom, &results, "SmallCnn", "Mnist", "abc").is_empty());
    }
}
