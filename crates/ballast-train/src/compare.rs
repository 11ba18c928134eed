//! Tables and plots across finished runs: group run directories by config keys and report the
//! mean ± standard deviation of a summary metric (e.g. test error vs majority proportion, one
//! column per method, over seeds).

use crate::error::{Context, Result, bail};
use crate::plot::{Curve, Figure};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Which number of `summary.json` to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Test accuracy at the end of training.
    FinalTest,
    /// Test accuracy at the evaluation with the best clean-validation accuracy.
    TestAtBestVal,
    /// Best test accuracy seen at any evaluation (an oracle, for reference only).
    BestTest,
    /// Training wall time in seconds.
    WallTime,
    /// Robust test accuracy (the run's per-epoch PGD) at the end of training.
    FinalRobust,
    /// Robust test accuracy of the best-by-validation model.
    RobustAtBestVal,
    /// Best robust test accuracy seen at any evaluation (an oracle).
    BestRobust,
}

impl Metric {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "final-test" => Self::FinalTest,
            "test-at-best-val" => Self::TestAtBestVal,
            "best-test" => Self::BestTest,
            "wall-time" => Self::WallTime,
            "final-robust" => Self::FinalRobust,
            "robust-at-best-val" => Self::RobustAtBestVal,
            "best-robust" => Self::BestRobust,
            other => bail!(
                "unknown metric {other:?}: expected final-test, test-at-best-val, best-test, wall-time, final-robust, robust-at-best-val or best-robust"
            ),
        })
    }

    fn is_accuracy(self) -> bool {
        self != Self::WallTime
    }

    fn label(self, error: bool) -> &'static str {
        match (self, error) {
            (Self::FinalTest, false) => "final test accuracy (%)",
            (Self::FinalTest, true) => "final test error (%)",
            (Self::TestAtBestVal, false) => "test accuracy at best validation (%)",
            (Self::TestAtBestVal, true) => "test error at best validation (%)",
            (Self::BestTest, false) => "best test accuracy (%)",
            (Self::BestTest, true) => "best test error (%)",
            (Self::WallTime, _) => "training wall time (s)",
            (Self::FinalRobust, false) => "final robust test accuracy (%)",
            (Self::FinalRobust, true) => "final robust test error (%)",
            (Self::RobustAtBestVal, false) => "robust test accuracy at best validation (%)",
            (Self::RobustAtBestVal, true) => "robust test error at best validation (%)",
            (Self::BestRobust, false) => "best robust test accuracy (%)",
            (Self::BestRobust, true) => "best robust test error (%)",
        }
    }
}

/// What to compare: rows by the config key `x`, columns by the config key `series` (several
/// comma-separated keys make one column per combination, e.g. `method,loss.kind`).
#[derive(Clone, Debug)]
pub struct CompareSpec {
    pub x: String,
    pub series: String,
    pub metric: Metric,
    /// Report 100 − accuracy instead of accuracy.
    pub error: bool,
}

/// One finished run: its row and column keys and the chosen number.
#[derive(Debug)]
struct RunPoint {
    x: String,
    series: String,
    value: f64,
}

/// The grouped result: `cells[(x, series)]` holds every run's value.
#[derive(Debug, Default)]
pub struct Comparison {
    pub xs: Vec<String>,
    pub series: Vec<String>,
    pub cells: BTreeMap<(String, String), Vec<f64>>,
    pub value_label: String,
    pub x_key: String,
    /// Run directories skipped because they had no summary.json (unfinished).
    pub unfinished: Vec<PathBuf>,
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Looks up a dotted key (`data.imbalance.majority_proportion`) in a run's config; `label`
/// falls back to the method.
fn config_value(config: &toml::Value, key: &str) -> Option<String> {
    if key == "label" && config.get("label").is_none() {
        return config_value(config, "method");
    }
    let mut node = config;
    for part in key.split('.') {
        node = node.get(part)?;
    }
    Some(match node {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn metric_value(summary: &serde_json::Value, metric: Metric, path: &Path) -> Result<f64> {
    let get = |v: &serde_json::Value, what: &str| -> Result<f64> {
        v.as_f64()
            .with_context(|| format!("{}: summary.json has no number {what}", path.display()))
    };
    match metric {
        Metric::FinalTest => get(
            &summary["final_record"]["test_acc"],
            "final_record.test_acc",
        ),
        Metric::TestAtBestVal => get(&summary["test_acc_at_best_val"], "test_acc_at_best_val"),
        Metric::WallTime => get(&summary["wall_time_s"], "wall_time_s"),
        Metric::FinalRobust => get(
            &summary["robust"]["final_test_robust"],
            "robust.final_test_robust (a run with robust evaluation)",
        ),
        Metric::RobustAtBestVal => get(
            &summary["robust"]["test_robust_at_best_val"],
            "robust.test_robust_at_best_val (a run with robust evaluation)",
        ),
        Metric::BestRobust => get(
            &summary["robust"]["best_test_robust"],
            "robust.best_test_robust (a run with robust evaluation)",
        ),
        Metric::BestTest => {
            let text = std::fs::read_to_string(path.join("metrics.jsonl"))
                .with_context(|| format!("reading {}/metrics.jsonl", path.display()))?;
            let best = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|r| r["test_acc"].as_f64())
                .fold(f64::NAN, f64::max);
            if best.is_nan() {
                bail!("{}: no test evaluation in metrics.jsonl", path.display());
            }
            Ok(best)
        }
    }
}

/// Reads every run directory and groups the metric by (`x`, `series`).
pub fn compare(runs: &[PathBuf], spec: &CompareSpec) -> Result<Comparison> {
    let mut points = Vec::new();
    let mut unfinished = Vec::new();
    for dir in runs {
        if !dir.is_dir() {
            continue;
        }
        let summary_path = dir.join("summary.json");
        if !summary_path.exists() {
            unfinished.push(dir.clone());
            continue;
        }
        let config_text = std::fs::read_to_string(dir.join("config.toml"))
            .with_context(|| format!("reading {}/config.toml", dir.display()))?;
        let config: toml::Value = toml::from_str(&config_text)
            .with_context(|| format!("parsing {}/config.toml", dir.display()))?;
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary_path)?)
                .with_context(|| format!("parsing {}", summary_path.display()))?;
        let key = |k: &str| {
            config_value(&config, k)
                .with_context(|| format!("{}: config.toml has no key {k}", dir.display()))
        };
        let mut value = metric_value(&summary, spec.metric, dir)?;
        if spec.metric.is_accuracy() {
            value *= 100.0;
            if spec.error {
                value = 100.0 - value;
            }
        }
        points.push(RunPoint {
            x: key(&spec.x)?,
            series: spec
                .series
                .split(',')
                .map(|k| key(k.trim()))
                .collect::<Result<Vec<_>>>()?
                .join(" / "),
            value,
        });
    }
    if points.is_empty() {
        bail!(
            "no finished run (a directory with summary.json) among the {} paths given",
            runs.len()
        );
    }
    let mut out = Comparison {
        value_label: spec.metric.label(spec.error).to_string(),
        x_key: spec.x.clone(),
        unfinished,
        ..Default::default()
    };
    for p in points {
        if !out.xs.contains(&p.x) {
            out.xs.push(p.x.clone());
        }
        if !out.series.contains(&p.series) {
            out.series.push(p.series.clone());
        }
        out.cells.entry((p.x, p.series)).or_default().push(p.value);
    }
    sort_keys(&mut out.xs);
    sort_keys(&mut out.series);
    Ok(out)
}

/// Numeric order when every key is a number, else text order.
fn sort_keys(keys: &mut [String]) {
    if keys.iter().all(|k| k.parse::<f64>().is_ok()) {
        keys.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap()
                .total_cmp(&b.parse::<f64>().unwrap())
        });
    } else {
        keys.sort();
    }
}

impl Comparison {
    /// A Markdown table: one row per `x`, one column per series, "mean ± std (n)".
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "| {} |", self.x_key);
        for series in &self.series {
            let _ = write!(s, " {series} |");
        }
        s.push_str("\n|---|");
        for _ in &self.series {
            s.push_str("---|");
        }
        s.push('\n');
        for x in &self.xs {
            let _ = write!(s, "| {x} |");
            for series in &self.series {
                match self.cells.get(&(x.clone(), series.clone())) {
                    Some(v) => {
                        let (mean, std) = mean_std(v);
                        let _ = write!(s, " {mean:.2} ± {std:.2} ({}) |", v.len());
                    }
                    None => s.push_str(" – |"),
                }
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "\n{}; mean ± sample std (number of runs).",
            self.value_label
        );
        s
    }

    /// An SVG plot of the series means against `x` (numeric `x` on a linear axis, else by
    /// position).
    pub fn figure(&self, title: &str) -> Figure {
        let numeric = self.xs.iter().all(|k| k.parse::<f64>().is_ok());
        let curves: Vec<Curve> = self
            .series
            .iter()
            .map(|series| Curve {
                name: series.clone(),
                points: self
                    .xs
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| {
                        let v = self.cells.get(&(x.clone(), series.clone()))?;
                        let pos = if numeric {
                            x.parse().unwrap()
                        } else {
                            i as f64
                        };
                        Some((pos, mean_std(v).0))
                    })
                    .collect(),
            })
            .collect();
        Figure::new(title, &self.x_key, &self.value_label, curves)
    }

    /// Writes [`Self::figure`] to `path`.
    pub fn plot(&self, path: &Path, title: &str) -> Result<()> {
        self.figure(title).write(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_run(root: &Path, name: &str, method: &str, prop: f64, acc: f64) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!("method = \"{method}\"\n[data.imbalance]\nmajority_proportion = {prop}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("summary.json"),
            format!(
                r#"{{"final_record": {{"test_acc": {acc}}}, "test_acc_at_best_val": {acc}, "wall_time_s": 1.0}}"#
            ),
        )
        .unwrap();
        dir
    }

    #[test]
    fn groups_by_keys_and_averages_seeds() {
        let tmp = tempfile::tempdir().unwrap();
        let mut runs = vec![
            fake_run(tmp.path(), "a", "erm", 0.99, 0.80),
            fake_run(tmp.path(), "b", "erm", 0.99, 0.60),
            fake_run(tmp.path(), "c", "l2rw", 0.99, 0.97),
            fake_run(tmp.path(), "d", "erm", 0.9, 0.95),
        ];
        let unfinished = tmp.path().join("e");
        std::fs::create_dir_all(&unfinished).unwrap();
        runs.push(unfinished.clone());
        let spec = CompareSpec {
            x: "data.imbalance.majority_proportion".into(),
            series: "method".into(),
            metric: Metric::FinalTest,
            error: true,
        };
        let c = compare(&runs, &spec).unwrap();
        assert_eq!(c.xs, vec!["0.9", "0.99"]);
        assert_eq!(c.series, vec!["erm", "l2rw"]);
        let erm = &c.cells[&("0.99".to_string(), "erm".to_string())];
        let (mean, std) = mean_std(erm);
        assert!((mean - 30.0).abs() < 1e-9, "{mean}");
        assert!((std - 200f64.sqrt()).abs() < 1e-9, "{std}");
        assert_eq!(c.unfinished, vec![unfinished]);
        let table = c.markdown();
        assert!(
            table.contains("| 0.99 | 30.00 ± 14.14 (2) | 3.00 ± 0.00 (1) |"),
            "{table}"
        );
        assert!(table.contains("| 0.9 | 5.00 ± 0.00 (1) | – |"), "{table}");
        let svg = tmp.path().join("plot.svg");
        c.plot(&svg, "test").unwrap();
        assert!(std::fs::read_to_string(svg).unwrap().contains("<svg"));
    }

    #[test]
    fn missing_key_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = vec![fake_run(tmp.path(), "a", "erm", 0.99, 0.8)];
        let spec = CompareSpec {
            x: "data.noise.rate".into(),
            series: "method".into(),
            metric: Metric::FinalTest,
            error: false,
        };
        let err = compare(&runs, &spec).unwrap_err().report();
        assert!(err.contains("data.noise.rate"), "{err}");
    }
}
