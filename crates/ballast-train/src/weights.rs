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
