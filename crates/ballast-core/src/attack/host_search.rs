//! The host side of Square's random search (ℓ∞ and ℓ2): the inputs, labels, each example's
//! lowest-margin point and its margin, and the examples still robust. A query changes a few
//! windows per example, which is cheap on the host; the device runs one forward per query on
//! the examples still robust. On the CPU, a model with a windowed host forward (the small CNN)
//! is instead re-evaluated on the host only inside the box where a proposal differs from the
//! example's best point, from that point's cached activations.

use crate::models::{Activations, Classifier, Mode, WindowedSmallCnn};
use burn::prelude::*;
use std::ops::Range;

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
    /// The windowed host forward and each example's activations at its best point, where the
    /// model has one and runs on the CPU anyway.
    windowed: Option<(WindowedSmallCnn, Vec<Activations>)>,
}

// Test hook: while set on a thread, searches there use the device forward even where a
// windowed one exists (to compare the two).
#[cfg(test)]
thread_local! {
    pub(crate) static WINDOWED_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `device` is the CPU, where a host forward costs what the device's would.
fn is_host(device: &Device) -> bool {
    #[cfg(test)]
    if WINDOWED_OFF.get() {
        return false;
    }
    #[cfg(feature = "flex")]
    {
        *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// z_y − max_{j≠y} z_j of one example's logits.
fn margin_of(z: &[f32], y: usize) -> f32 {
    let other = z
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != y)
        .map(|(_, &v)| v)
        .fold(f32::NEG_INFINITY, f32::max);
    z[y] - other
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
            windowed: None,
        };
        let windowed = model.windowed_forward().filter(|_| is_host(&search.device));
        search.margin = match windowed {
            Some(net) => {
                // The full forward: empty activations, the whole image as the box.
                let [h, w] = net.image_size();
                let mut acts = vec![net.empty(); b];
                let moves: Vec<_> = best
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(r, point)| (r, point, (0..h, 0..w)))
                    .collect();
                let (logits, _) = net.try_points(&mut acts, &moves);
                search.windowed = Some((net, acts));
                search.margins_of(&logits, &(0..b).collect::<Vec<_>>())
            }
            None => search.margins(best.clone()),
        };
        search.best = best;
        search.active.retain(|&r| search.margin[r] > 0.0);
        search
    }

    /// One query: `proposals` holds a point per active example ([active.len()·D], in the
    /// order of `active`); each example whose margin falls keeps its proposal, and examples
    /// that break (margin ≤ 0) leave `active`.
    pub fn query(&mut self, proposals: Vec<f32>) {
        let d = self.d;
        if let Some((net, acts)) = &mut self.windowed {
            let [h, w] = net.image_size();
            let moves: Vec<_> = self
                .active
                .iter()
                .enumerate()
                .filter_map(|(j, &r)| {
                    let point = &proposals[j * d..(j + 1) * d];
                    let changed = changed_box(point, &self.best[r * d..(r + 1) * d], h, w)?;
                    Some((r, point, changed))
                })
                .collect();
            let (logits, trials) = net.try_points(acts, &moves);
            let k = logits.len() / moves.len().max(1);
            for (((r, point, _), trial), z) in
                moves.iter().zip(trials).zip(logits.chunks_exact(k.max(1)))
            {
                let proposed = margin_of(z, self.labels[*r] as usize);
                if proposed < self.margin[*r] {
                    self.margin[*r] = proposed;
                    self.best[r * d..(r + 1) * d].copy_from_slice(point);
                } else {
                    net.undo(&mut acts[*r], trial);
                }
            }
        } else {
            let proposed = self.margins(proposals.clone());
            for (j, &r) in self.active.iter().enumerate() {
                if proposed[j] < self.margin[r] {
                    self.margin[r] = proposed[j];
                    self.best[r * d..(r + 1) * d].copy_from_slice(&proposals[j * d..(j + 1) * d]);
                }
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
        let logits: Vec<f32> = logits.try_to_vec_as::<f32>().expect("f32 logits");
        self.margins_of(&logits, &self.active)
    }

    /// Margins of `logits` [rows.len()·K], row j for example rows[j].
    fn margins_of(&self, logits: &[f32], rows: &[usize]) -> Vec<f32> {
        let k = logits.len() / rows.len().max(1);
        rows.iter()
            .zip(logits.chunks_exact(k.max(1)))
            .map(|(&r, z)| margin_of(z, self.labels[r] as usize))
            .collect()
    }
}

/// The rows × columns box of the pixels where `a` and `b` ([C·H·W]) differ, in any channel;
/// None where they are equal.
fn changed_box(a: &[f32], b: &[f32], h: usize, w: usize) -> Option<(Range<usize>, Range<usize>)> {
    let (mut rows, mut cols) = ((usize::MAX, 0), (usize::MAX, 0));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            let (r, c) = ((i / w) % h, i % w);
            rows = (rows.0.min(r), rows.1.max(r + 1));
            cols = (cols.0.min(c), cols.1.max(c + 1));
        }
    }
    (rows.1 > 0).then_some((rows.0..rows.1, cols.0..cols.1))
}
