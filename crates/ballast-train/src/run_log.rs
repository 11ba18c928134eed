//! The append-only logs of a run directory (`metrics.jsonl`, `cvae_metrics.jsonl`,
//! `weights.csv`): one line per record, each carrying the step it was written at. A fresh run
//! starts an empty log; a resumed run keeps, byte for byte, the lines up to its checkpoint's
//! step (the rest were written after it and will be written again), and the shortened file
//! replaces the old one atomically, so an interrupted resume loses nothing.

use crate::checkpoint::write_atomic;
use crate::error::{Context, Result};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How a log's lines say which step they belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// JSON objects with a `step` field.
    JsonRecords,
    /// CSV under a header line, the step in the first column.
    Csv { header: &'static str },
}

impl LineFormat {
    fn step_of(self, line: &str) -> Option<usize> {
        match self {
            LineFormat::JsonRecords => {
                #[derive(serde::Deserialize)]
                struct Step {
                    step: usize,
                }
                serde_json::from_str::<Step>(line).ok().map(|s| s.step)
            }
            LineFormat::Csv { .. } => line.split(',').next()?.parse().ok(),
        }
    }

    fn header(self) -> Option<&'static str> {
        match self {
            LineFormat::JsonRecords => None,
            LineFormat::Csv { header } => Some(header),
        }
    }
}

pub struct RunLog {
    path: PathBuf,
    file: File,
}

impl RunLog {
    /// Opens the log at `path`: empty for a fresh run (`resume_step` None), or cut back to the
    /// lines of steps ≤ `resume_step`.
    pub fn open(path: &Path, format: LineFormat, resume_step: Option<usize>) -> Result<Self> {
        let mut kept = String::new();
        if let Some(h) = format.header() {
            kept.push_str(h);
            kept.push('\n');
        }
        if let (Some(step), true) = (resume_step, path.exists()) {
            let old = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for line in old.lines().filter(|l| !l.trim().is_empty()) {
                if format.step_of(line).is_some_and(|s| s <= step) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        write_atomic(path, kept.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot append to {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one line (without its newline) and flushes it.
    pub fn append_line(&mut self, line: &str) -> Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }

    /// Appends a record as one JSON line.
    pub fn append_json<T: Serialize>(&mut self, record: &T) -> Result<()> {
        self.append_line(&serde_json::to_string(record)?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_keeps_earlier_lines_verbatim_and_drops_later_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut log = RunLog::open(&path, LineFormat::JsonRecords, None).unwrap();
        for step in [10, 20, 30] {
            log.append_line(&format!("{{\"step\":{step},\"x\":0.1000000000000000055}}"))
                .unwrap();
        }
        drop(log);
        let mut log = RunLog::open(&path, LineFormat::JsonRecords, Some(20)).unwrap();
        log.append_json(&serde_json::json!({ "step": 30, "x": 2 }))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"step\":10,\"x\":0.1000000000000000055}\n{\"step\":20,\"x\":0.1000000000000000055}\n{\"step\":30,\"x\":2}\n"
        );
        // A fresh run starts empty.
        RunLog::open(&path, LineFormat::JsonRecords, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn csv_logs_keep_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.csv");
        let format = LineFormat::Csv { header: "step,w" };
        let mut log = RunLog::open(&path, format, None).unwrap();
        log.append_line("1,0.5").unwrap();
        log.append_line("5,0.25").unwrap();
        drop(log);
        RunLog::open(&path, format, Some(3)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step,w\n1,0.5\n");
    }
}
