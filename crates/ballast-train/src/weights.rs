//! `weights.csv`: every example's weight as a meta-method saw it, so a user can list the
//! examples a method distrusts. One row per example per exported step:
//! `step,index,label,true_label,noisy,weight,loss` (index = position in the source dataset).

use crate::data::PreparedData;
use anyhow::{Context, Result};
use burn::prelude::*;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

const HEADER: &str = "step,index,label,true_label,noisy,weight,loss";

pub struct WeightLog {
    path: PathBuf,
}

impl WeightLog {
    /// Opens `weights.csv` in `run_dir`; on resume keeps only rows up to `resume_step`.
    pub fn open(run_dir: &Path, resume_step: Option<usize>) -> Result<Self> {
        let path = run_dir.join("weights.csv");
        let kept: Vec<String> = match resume_step {
            Some(step) if path.exists() => BufReader::new(File::open(&path)?)
                .lines()
                .skip(1)
                .filter_map(|l| l.ok())
                .filter(|l| {
                    l.split(',')
                        .next()
                        .and_then(|s| s.parse::<usize>().ok())
                        .is_some_and(|s| s <= step)
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut f = BufWriter::new(
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
        );
        writeln!(f, "{HEADER}")?;
        for l in kept {
            writeln!(f, "{l}")?;
        }
        f.flush()?;
        Ok(Self { path })
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
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let l = losses
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut f = BufWriter::new(OpenOptions::new().append(true).open(&self.path)?);
        for (k, &p) in positions.iter().enumerate() {
            let label = data.train.labels[p];
            let truth = data.true_train_labels[p];
            writeln!(
                f,
                "{step},{},{label},{truth},{},{},{}",
                data.train.index[p],
                u8::from(label != truth),
                w[k],
                l[k]
            )?;
        }
        f.flush()?;
        Ok(())
    }
}
