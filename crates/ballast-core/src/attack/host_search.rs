//! The host side of Square's random search (ℓ∞ and ℓ2): the inputs, labels, each example's
//! lowest-margin point and its margin, and the examples still robust. A query changes a few
//! windows per example, which is cheap on the host; the device runs one forward per query on
//! the examples still robust.

use crate::models::{Classifier, Mode};
use burn::prelude::*;

pub(crate) struct HostSearch<'a> {
    model: &'a Classifier,
    mode: Mode,
    device: Device,
    labels: Vec<i64>,
    /// Features per example (C·H·W).
    pub d: usize,
    /// [B·D] the inputs.
    pub xs: Vec<f32>,
    /// [B·D] each example's lowest-margin point so far.
    pub best: Vec<f32>,
    /// [B] its margin z_y − max_{j≠y} z_j.
    margin: Vec<f32>,
    /// The examples still robust (margin > 0), in batch order.
    pub active: Vec<usize>,
}

impl<'a> HostSearch<'a> {
    /// A search on x [B, D] with labels [B] from the points `start` makes of the inputs
    /// ([B·D] -> [B·D]): their margins measured, the misclassified ones already done.
    pub fn start(
        model: &'a Classifier,
        x: Tensor<2>,
        labels: Tensor<1, Int>,
        mode: Mode,
        start: impl FnOnce(&[f32]) -> Vec<f32>,
    ) -> Self {
        let x = x.detach().inner();
        let device = x.device();
        let [b, d] = x.dims();
        let xs: Vec<f32> = x.try_to_vec_as::<f32>().expect("f32 inputs");
        let best = start(&xs);
        let mut search = Self {
            model,
            mode,
            device,
            labels: labels.try_to_vec_as::<i64>().expect("int labels"),
            d,
            xs,
            best: Vec::new(),
            margin: Vec::new(),
            active: (0..b).collect(),
        };
        search.margin = search.margins(best.clone());
        search.best = best;
        search.active.retain(|&r| search.margin[r] > 0.0);
        search
    }

    /// One query: `proposals` holds a point per active example ([active.len()·D], in the
    /// order of `active`); each example whose margin falls keeps its proposal, and examples
    /// that break (margin ≤ 0) leave `active`.
    pub fn query(&mut self, proposals: Vec<f32>) {
        let d = self.d;
        let proposed = self.margins(proposals.clone());
        for (j, &r) in self.active.iter().enumerate() {
            if proposed[j] < self.margin[r] {
                self.margin[r] = proposed[j];
                self.best[r * d..(r + 1) * d].copy_from_slice(&proposals[j * d..(j + 1) * d]);
            }
        }
        let margin = &self.margin;
        self.active.retain(|&r| margin[r] > 0.0);
    }

    /// The best points [B, D].
    pub fn finish(self) -> Tensor<2> {
        let b = self.best.len() / self.d.max(1);
        Tensor::from_data(TensorData::new(self.best, [b, self.d]), &self.device)
    }

    /// Margins of `points`, one row per active example: one forward on the device, the
    /// rest on the host.
    fn margins(&self, points: Vec<f32>) -> Vec<f32> {
        let n = self.active.len();
        let points = Tensor::<2>::from_data(TensorData::new(points, [n, self.d]), &self.device);
        let logits = self.model.forward(points, self.mode).detach().inner();
        let [_, k] = logits.dims();
        let logits: Vec<f32> = logits.try_to_vec_as::<f32>().expect("f32 logits");
        self.active
            .iter()
            .zip(logits.chunks_exact(k))
            .map(|(&r, z)| {
                let y = self.labels[r] as usize;
                let other = z
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != y)
                    .map(|(_, &v)| v)
                    .fold(f32::NEG_INFINITY, f32::max);
                z[y] - other
            })
            .collect()
    }
}
