//! Batches staged ahead of their step: a staging thread gathers, augments and uploads the
//! inputs of step s + 1 to the run device ([`Task::stage`]) while step s computes, so a step
//! starts on inputs already on the device and the host's data work overlaps the device's.
//!
//! One request in flight at a time; a step that was not requested (the first one, the first
//! after a resume) is staged on the spot. Staging reads only the run ([`RunContext`]), and
//! every draw it makes is seeded by its step, so staged and unstaged inputs are identical.

use crate::error::Result;
use crate::trainer::{RunContext, StepAt, Task};
use std::sync::mpsc;
use std::thread::Scope;

/// A request: a [`StepAt`] that owns its positions.
struct Request {
    step: usize,
    lr: f64,
    seed: u64,
    positions: Vec<usize>,
    finetuning: bool,
}

/// The staging thread of a training loop and its one request in flight.
pub struct Stager<S> {
    requests: mpsc::Sender<Request>,
    staged: mpsc::Receiver<(usize, Result<S>)>,
    in_flight: Option<usize>,
}

impl<S: Send> Stager<S> {
    /// Starts the staging thread of `T` in `scope`; it ends when the stager is dropped.
    pub fn spawn<'scope, 'env, T>(scope: &'scope Scope<'scope, 'env>, run: &'env RunContext) -> Self
    where
        T: Task<Staged = S>,
        S: 'scope,
    {
        let (requests, inbox) = mpsc::channel::<Request>();
        let (outbox, staged) = mpsc::channel();
        scope.spawn(move || {
            while let Ok(r) = inbox.recv() {
                let at = StepAt {
                    step: r.step,
                    lr: r.lr,
                    seed: r.seed,
                    positions: &r.positions,
                    finetuning: r.finetuning,
                };
                if outbox.send((r.step, T::stage(run, &at))).is_err() {
                    break;
                }
            }
        });
        Self {
            requests,
            staged,
            in_flight: None,
        }
    }

    /// Asks for the inputs of the step at `at` to be built now, on the staging thread.
    pub fn request(&mut self, at: &StepAt) {
        let sent = self.requests.send(Request {
            step: at.step,
            lr: at.lr,
            seed: at.seed,
            positions: at.positions.to_vec(),
            finetuning: at.finetuning,
        });
        self.in_flight = sent.is_ok().then_some(at.step);
    }

    /// The inputs of the step at `at`: the staged ones when they were requested, otherwise
    /// built here.
    pub fn take<T: Task<Staged = S>>(&mut self, run: &RunContext, at: &StepAt) -> Result<S> {
        if let Some(requested) = self.in_flight.take() {
            // Always collect what was requested, so the channel never holds a stale step.
            if let Ok((step, staged)) = self.staged.recv() {
                if requested == at.step && step == at.step {
                    return staged;
                }
            }
        }
        T::stage(run, at)
    }
}
