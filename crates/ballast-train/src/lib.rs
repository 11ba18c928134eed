//! Native runner for Ballast: run configs, data preparation, the staged training loop
//! ([`trainer`]) with its classifier and CVAE tasks, checkpoints and resume, run logs,
//! metrics, plots, evaluation, attack reports, benchmarks and browser exports.

pub mod attack_report;
pub mod bench;
pub mod checkpoint;
pub mod classifier_task;
pub mod compare;
pub mod config;
pub mod cvae_quality;
pub mod cvae_task;
pub mod data;
pub mod data_parallel;
pub mod error;
pub mod eval;
pub mod export;
pub mod import;
pub mod masking;
pub mod metrics;
pub mod op_profile;
pub mod perturbation;
pub mod perturbation_report;
pub mod plot;
pub mod report;
pub mod robust_eval;
pub mod run_dir;
pub mod run_lock;
pub mod run_log;
pub mod staging;
pub mod trainer;
pub mod weights;

pub use config::RunConfig;
pub use error::{Result, TrainError};
pub use run_dir::RunOptions;

use classifier_task::ClassifierTask;
use config::Trains;
use cvae_task::{CvaeSummary, CvaeTask};
use metrics::Summary;

/// The Burn release every crate is pinned to (recorded in reports and the browser manifest).
pub const BURN_VERSION: &str = "0.22.1";
/// The git commit this build was made from (`build.rs`; "unknown" outside a git checkout).
pub const COMMIT: &str = env!("BALLAST_COMMIT");

/// A finished run's report (`summary.json`).
pub enum RunReport {
    Classifier(Summary),
    PerturbationSet(CvaeSummary),
}

impl RunReport {
    /// One line: steps, time and the run's main figures.
    pub fn headline(&self) -> String {
        let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a));
        match self {
            RunReport::Classifier(s) => {
                let selected = match &s.robust {
                    Some(_) => "best robust validation accuracy",
                    None => "best validation accuracy",
                };
                format!(
                    "done: {} steps in {:.1} s ({:.1} steps/s); test accuracy {}; {selected} {}",
                    s.steps,
                    s.wall_time_s,
                    s.steps_per_s,
                    pct(s.final_record.as_ref().map(|r| r.test_acc)),
                    pct(s.best_val_score),
                )
            }
            RunReport::PerturbationSet(s) => {
                let fin = s.final_record.as_ref();
                format!(
                    "done: {} steps in {:.1} s ({:.1} steps/s); test negative ELBO {}; approximation error {}",
                    s.steps,
                    s.wall_time_s,
                    s.steps_per_s,
                    fin.map_or("-".into(), |r| format!("{:.2}", r.test.neg_elbo)),
                    fin.map_or("-".into(), |r| r
                        .test
                        .per_eps
                        .iter()
                        .map(|q| format!("{:.4} at eps {}", q.approximation_error, q.eps))
                        .collect::<Vec<_>>()
                        .join(", ")),
                )
            }
        }
    }

    /// The files a user looks at next, relative to the run directory.
    pub fn files(&self) -> &'static [&'static str] {
        match self {
            RunReport::Classifier(_) => {
                &["summary.json", "metrics.jsonl", "loss.svg", "accuracy.svg"]
            }
            RunReport::PerturbationSet(_) => &["summary.json", cvae_task::CVAE_METRICS_FILE],
        }
    }
}

/// Trains the run of `cfg` in `opts.out`: a classifier or a perturbation set, by its method.
pub fn train(cfg: &RunConfig, opts: &RunOptions) -> Result<RunReport> {
    Ok(match cfg.method.info().trains {
        Trains::Classifier => RunReport::Classifier(trainer::train::<ClassifierTask>(cfg, opts)?),
        Trains::PerturbationSet => {
            RunReport::PerturbationSet(trainer::train::<CvaeTask>(cfg, opts)?)
        }
    })
}
