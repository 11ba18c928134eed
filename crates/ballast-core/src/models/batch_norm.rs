//! BatchNorm with an explicit mode. Burn's own BatchNorm picks batch statistics only on an
//! autodiff device; the hypergradient needs batch statistics on plain devices too (the
//! ± passes of a directional derivative), without touching the running statistics.

use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::module::{batch_norm, batch_norm_train};

/// How normalisation layers (and dropout) behave in a forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, running statistics updated, dropout on: an optimisation step.
    Train,
    /// Batch statistics, running statistics untouched, dropout off: the extra forwards of
    /// a meta step (θ ± h·v), which must see the same function as the training forward.
    Probe,
    /// Running statistics, dropout off: evaluation and attacks.
    Eval,
}

#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

impl BatchNorm {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// x: [B, C, ...] -> same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, mode: Mode) -> Tensor<D> {
        match mode {
            Mode::Eval => {
                let device = x.device();
                batch_norm(
                    x,
                    self.gamma.val(),
                    self.beta.val(),
                    self.running_mean.value_sync().to_device(&device),
                    self.running_var.value_sync().to_device(&device),
                    self.epsilon,
                )
            }
            Mode::Train | Mode::Probe => {
                let out = batch_norm_train(x, self.gamma.val(), self.beta.val(), self.epsilon);
                if mode == Mode::Train {
                    let device = out.output.device();
                    let dims = out.output.dims();
                    // Running variance is unbiased, as in PyTorch, so checkpoints agree.
                    let count = dims.iter().product::<usize>() / dims[1];
                    let unbias = count as f64 / (count.max(2) - 1) as f64;
                    let m = self.momentum;
                    let mean = self.running_mean.value_sync().to_device(&device);
                    let var = self.running_var.value_sync().to_device(&device);
                    self.running_mean
                        .update((mean * (1.0 - m) + out.mean.detach() * m).detach());
                    self.running_var
                        .update((var * (1.0 - m) + out.variance.detach() * (m * unbias)).detach());
                }
                out.output
            }
        }
    }
}
