//! `weights.csv`: every example's weight as a meta-method saw it, so a user can list the
//! examples a method distrusts. One row per example per exported step:
//! `step,index,label,true_label,noisy,weight,loss` (index = position in the source dataset).

use crate::data::PreparedData;
use crate::error::{Result, TrainError};
use crate::run_log::{LineFormat, RunLog};
use burn::prelude::*;
use std::path::Path;

pub const WEIGHTS_FILE: &str = "weights.csv";
const HEADER: &str = "step,index,label,true_label,noisy,weight,loss";

pub struct WeightLog {
    log: RunLog,
}

impl WeightLog {
    /// Opens `weights.csv` in `run_dir`; on resume keeps only rows up to `resume_step`.
    pub fn open(run_dir: &Path, resume_step: Option<usize>) -> Result<Self> {
        Ok(Self {
            log: RunLog::open(
                &run_dir.join(WEIGHTS_FILE),
                LineFormat::Csv { header: HEADER },
                resume_step,
            )?,
        })
    }

    /// Appends the batch at training `positions` with its weights and losses ([n] each).
    pub fn append(
        &mut self,
        step: usize,
        data: &PreparedData,
        positions: &[usize],
        weights: Tensor<1>,
        losses: Tensor<1>,
    ) -> Result<()> {
        let w = weights
            .try_into_vec_as::<f32>()
            .map_err(|e| TrainError::msg(format!("{e:?}")))?;
        let l = losses
            .try_into_vec_as::<f32>()
            .map_err(|e| TrainError::msg(format!("{e:?}")))?;
        let rows: Vec<String> = positions
            .iter()
            .enumerate()
            .map(|(k, &p)| {
                let label = data.train.labels[p];
                let truth = data.true_train_labels[p];
                format!(
                    "{step},{},{label},{truth},{},{},{}",
                    data.train.index[p],
                    u8::from(label != truth),
                    w[k],
                    l[k]
                )
            })
            .collect();
        self.log.append_line(&rows.join("\n"))
    }
}

/// One group of examples' weights, each as n·w_i (1 = the uniform weight 1/n).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightGroup {
    /// "flipped label" / "clean label" for noisy labels, else "class {label}".
    pub name: String,
    pub values: Vec<f64>,
}

impl WeightGroup {
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len().max(1) as f64
    }

    /// Fraction of the group's weights that are exactly zero.
    pub fn zero_fraction(&self) -> f64 {
        self.values.iter().filter(|v| **v == 0.0).count() as f64 / self.values.len().max(1) as f64
    }
}

/// The weights of `weights.csv` over the second half of the exported steps (steps s with
/// 2s > the last), grouped by flipped vs clean label when any label is flipped, else by class;
/// groups in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightGroups {
    pub groups: Vec<WeightGroup>,
    /// The exported steps the groups cover: (first, last).
    pub steps: (usize, usize),
}

impl WeightGroups {
    /// Reads `run_dir/weights.csv` (batches of `batch_size`); None when the run has none or
    /// it holds no row.
    pub fn read(run_dir: &Path, batch_size: usize) -> Result<Option<Self>> {
        let path = run_dir.join(WEIGHTS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let csv = std::fs::read_to_string(&path)
            .map_err(|e| TrainError::msg(format!("reading {}: {e}", path.display())))?;
        Ok(Self::parse(&csv, batch_size))
    }

    /// [`Self::read`] on the file's text; malformed rows are skipped.
    pub fn parse(csv: &str, batch_size: usize) -> Option<Self> {
        let rows: Vec<(usize, u32, bool, f64)> = csv
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Some((
                    f.first()?.parse().ok()?,
                    f.get(2)?.parse().ok()?,
                    *f.get(4)? == "1",
                    f.get(5)?.parse().ok()?,
                ))
            })
            .collect();
        let last = rows.iter().map(|r| r.0).max()?;
        let recent: Vec<_> = rows.iter().filter(|r| r.0 * 2 > last).collect();
        let first = recent.iter().map(|r| r.0).min()?;
        let any_noisy = recent.iter().any(|r| r.2);
        let mut groups: Vec<WeightGroup> = Vec::new();
        for r in &recent {
            let name = match (any_noisy, r.2) {
                (true, true) => "flipped label".to_string(),
                (true, false) => "clean label".to_string(),
                (false, _) => format!("class {}", r.1),
            };
            let v = r.3 * batch_size as f64;
            match groups.iter_mut().find(|g| g.name == name) {
                Some(g) => g.values.push(v),
                None => groups.push(WeightGroup {
                    name,
                    values: vec![v],
                }),
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Some(Self {
            groups,
            steps: (first, last),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_the_second_half_by_flipped_label() {
        let csv = "step,index,label,true_label,noisy,weight,loss\n\
                   0,1,0,0,0,0.5,1.0\n\
                   12,2,1,0,1,0.0,2.0\n\
                   12,3,1,1,0,0.02,0.1\n\
                   20,4,0,0,0,0.04,0.1\n\
                   bad row\n";
        let g = WeightGroups::parse(csv, 100).unwrap();
        assert_eq!(g.steps, (12, 20));
        let names: Vec<&str> = g.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["clean label", "flipped label"]);
        assert_eq!(g.groups[0].values, [2.0, 4.0]);
        assert_eq!(g.groups[0].mean(), 3.0);
        assert_eq!(g.groups[1].zero_fraction(), 1.0);
    }

    #[test]
    fn without_flipped_labels_groups_are_classes() {
        let csv =
            "step,index,label,true_label,noisy,weight,loss\n5,1,1,1,0,0.01,0\n5,2,0,0,0,0.03,0\n";
        let g = WeightGroups::parse(csv, 10).unwrap();
        let names: Vec<&str> = g.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["class 0", "class 1"]);
        assert!(WeightGroups::parse("step,index\n", 10).is_none());
    }
}
