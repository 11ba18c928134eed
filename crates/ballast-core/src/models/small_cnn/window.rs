//! The small CNN's forward on the host, re-evaluated only where an input window changed: for
//! random searches (Square) whose queries each change one small window of every example.
//!
//! A 4×4 stride-2 convolution output reads a 4×4 input patch, so a changed input box of s×s
//! pixels changes at most ⌊(s + 3)/2⌋ + 1 outputs per axis of the first convolution, and so on
//! up the stack; the first linear layer then needs only the change of its inputs:
//!
//! ```text
//! h' = h + W_fcᵀ·(a' − a)        over the entries of the last map that changed
//! ```
//!
//! [`Activations`] holds an example's normalised input and post-ReLU maps (zero-padded and
//! channels-last, so a patch is four contiguous runs and a box touches few cache lines) and the
//! first linear layer's pre-activation h at its current point. [`WindowedSmallCnn::try_points`] moves a batch of examples to new points,
//! each differing from its current one inside a box: it rewrites the boxes in place, runs each
//! layer's changed outputs as one matrix product over the batch (on the CPU device), and
//! returns the logits with a [`Trial`] per example that [`WindowedSmallCnn::undo`] reverts.
//! From [`WindowedSmallCnn::empty`] activations with the whole image as the box it is the
//! ordinary forward. Arithmetic is f32 as on the device; sums run in another order, so logits
//! agree to rounding (checked against the model's forward in the tests).

use super::{KERNEL, PADDING, STRIDE, SmallCnn};
use burn::prelude::*;
use std::ops::Range;

/// One convolution (kernel [`KERNEL`], stride [`STRIDE`], zero padding [`PADDING`]) and ReLU.
struct HostConv {
    c_in: usize,
    c_out: usize,
    /// Input and output spatial sizes (unpadded).
    size_in: [usize; 2],
    size_out: [usize; 2],
    /// [K·K·c_in, c_out]: the filters as columns, taps in the patches' order (row, column,
    /// channel), on the CPU device.
    weight: Tensor<2>,
    bias: Vec<f32>,
}

impl HostConv {
    /// The outputs along `axis` whose patch meets the input rows (or columns) `changed`.
    fn reach(&self, changed: &Range<usize>, axis: usize) -> Range<usize> {
        let (k, s, p) = (KERNEL as isize, STRIDE as isize, PADDING as isize);
        let (a, b) = (changed.start as isize, changed.end as isize);
        // Output o reads input rows s·o − p ..= s·o − p + k − 1.
        let first = ((a + p - k + 1).max(0) as usize).div_ceil(s as usize) as isize;
        let last = ((b - 1 + p) / s).min(self.size_out[axis] as isize - 1);
        first as usize..(last + 1).max(first) as usize
    }
}

/// The small CNN's parameters on the host, for windowed forwards.
pub(crate) struct WindowedSmallCnn {
    device: Device,
    /// [D] per-pixel mean and 1/std of the input normalisation.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    channels: usize,
    convs: Vec<HostConv>,
    /// [F_in, F] (Burn's layout: row i holds input i's weights).
    fc_weight: Vec<f32>,
    fc_bias: Vec<f32>,
    /// [F, K].
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
}

/// An example's state at its current point.
#[derive(Clone, Debug)]
pub(crate) struct Activations {
    /// planes[0]: the normalised input; planes[l + 1]: convolution l's post-ReLU output; each
    /// [H + 2·PADDING, W + 2·PADDING, C] with a zero border.
    planes: Vec<Vec<f32>>,
    /// [F] the first linear layer's pre-activation.
    hidden: Vec<f32>,
}

/// A move of [`WindowedSmallCnn::try_points`]: the example, its new point [C·H·W], and the box
/// (rows, columns) outside which the point is unchanged.
pub(crate) type Move<'a> = (usize, &'a [f32], (Range<usize>, Range<usize>));

/// The values a trial overwrote, to restore where its point is not kept.
#[derive(Debug)]
pub(crate) struct Trial {
    /// The boxes written, in order.
    saved: Vec<Saved>,
    hidden: Vec<f32>,
}

/// A box of a plane before a trial wrote it.
#[derive(Debug)]
struct Saved {
    plane: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    /// [rows, cols, C].
    old: Vec<f32>,
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 parameters")
}

fn bias_or_zeros(bias: Option<&burn::module::Param<Tensor<1>>>, n: usize) -> Vec<f32> {
    bias.map_or_else(|| vec![0.0; n], |b| values(b.val()))
}

/// A plane's spatial size [H, W] with its zero border.
fn padded(size: [usize; 2]) -> [usize; 2] {
    size.map(|s| s + 2 * PADDING)
}

impl WindowedSmallCnn {
    /// The model's parameters on the host; None when its input goes through a quantiser.
    pub(crate) fn new(model: &SmallCnn) -> Option<Self> {
        let (mean, inv_std) = model.norm.affine_host()?;
        let [c, h, w] = model.shape;
        let device = model.fc.weight.val().device().inner();
        let mut size = [h, w];
        let convs = model
            .convs
            .iter()
            .map(|conv| {
                let [c_out, c_in, kh, kw] = conv.weight.dims();
                assert_eq!([kh, kw], [KERNEL; 2], "the small CNN's kernel");
                let size_in = size;
                size = size.map(|s| (s + 2 * PADDING - KERNEL) / STRIDE + 1);
                HostConv {
                    c_in,
                    c_out,
                    size_in,
                    size_out: size,
                    weight: conv
                        .weight
                        .val()
                        .inner()
                        .permute([2, 3, 1, 0])
                        .reshape([kh * kw * c_in, c_out]),
                    bias: bias_or_zeros(conv.bias.as_ref(), c_out),
                }
            })
            .collect();
        let [_, hidden] = model.fc.weight.dims();
        let [_, k] = model.head.weight.dims();
        Some(Self {
            device,
            mean,
            inv_std,
            channels: c,
            convs,
            fc_weight: values(model.fc.weight.val().flatten(0, 1)),
            fc_bias: bias_or_zeros(model.fc.bias.as_ref(), hidden),
            head_weight: values(model.head.weight.val().flatten(0, 1)),
            head_bias: bias_or_zeros(model.head.bias.as_ref(), k),
        })
    }

    /// The image's spatial size [H, W].
    pub(crate) fn image_size(&self) -> [usize; 2] {
        self.convs[0].size_in
    }

    /// The state before any point: zero planes, h = the bias. Moving it to a point with the
    /// whole image as the box is the full forward.
    pub(crate) fn empty(&self) -> Activations {
        let [hp, wp] = padded(self.image_size());
        let mut planes = vec![vec![0.0; self.channels * hp * wp]];
        planes.extend(self.convs.iter().map(|c| {
            let [hp, wp] = padded(c.size_out);
            vec![0.0; c.c_out * hp * wp]
        }));
        Activations {
            planes,
            hidden: self.fc_bias.clone(),
        }
    }

    /// Moves each `moves[j] = (r, point, (rows, cols))` — example r of `acts` to `point`
    /// [C·H·W] in [0, 1], equal to its current point outside the box rows × cols — and returns
    /// the logits [moves.len()·K] there, with the trials that undo each move.
    pub(crate) fn try_points(
        &self,
        acts: &mut [Activations],
        moves: &[Move],
    ) -> (Vec<f32>, Vec<Trial>) {
        let mut trials: Vec<Trial> = moves
            .iter()
            .map(|&(r, _, _)| Trial {
                saved: Vec::new(),
                hidden: acts[r].hidden.clone(),
            })
            .collect();
        // The input box, normalised, into plane 0.
        let [h, w] = self.image_size();
        let [_, wp] = padded([h, w]);
        let mut boxes: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(moves.len());
        for ((r, point, (rows, cols)), trial) in moves.iter().zip(&mut trials) {
            let plane = &mut acts[*r].planes[0];
            let c = self.channels;
            let old = save(plane, c, wp, rows, cols);
            for y in rows.clone() {
                for x in cols.clone() {
                    for ch in 0..c {
                        let i = (ch * h + y) * w + x;
                        plane[((y + PADDING) * wp + x + PADDING) * c + ch] =
                            (point[i] - self.mean[i]) * self.inv_std[i];
                    }
                }
            }
            trial.saved.push(Saved {
                plane: 0,
                rows: rows.clone(),
                cols: cols.clone(),
                old,
            });
            boxes.push((rows.clone(), cols.clone()));
        }
        for (l, conv) in self.convs.iter().enumerate() {
            let taps = conv.c_in * KERNEL * KERNEL;
            let [_, jp] = padded(conv.size_in);
            let [_, oq] = padded(conv.size_out);
            let run = KERNEL * conv.c_in;
            // Every example's changed outputs, their patches as rows of one matrix.
            let reach: Vec<(Range<usize>, Range<usize>)> = boxes
                .iter()
                .map(|(rows, cols)| (conv.reach(rows, 0), conv.reach(cols, 1)))
                .collect();
            let positions: usize = reach.iter().map(|(a, b)| a.len() * b.len()).sum();
            let mut patches = vec![0.0f32; positions * taps];
            let mut runs = patches.chunks_exact_mut(run);
            for ((r, _, _), (rows, cols)) in moves.iter().zip(&reach) {
                let plane = &acts[*r].planes[l];
                for oy in rows.clone() {
                    for ox in cols.clone() {
                        // Kernel row ky: padded input row S·oy + ky, columns S·ox .. S·ox + K.
                        for ky in 0..KERNEL {
                            let at = ((STRIDE * oy + ky) * jp + STRIDE * ox) * conv.c_in;
                            let to = runs.next().expect("a run per kernel row");
                            to.copy_from_slice(&plane[at..at + run]);
                        }
                    }
                }
            }
            if positions == 0 {
                break;
            }
            let out =
                Tensor::<2>::from_data(TensorData::new(patches, [positions, taps]), &self.device)
                    .matmul(conv.weight.clone()); // [positions, c_out]
            let out: Vec<f32> = out.into_data().try_to_vec::<f32>().expect("f32 outputs");
            let mut next = 0;
            let last = l + 1 == self.convs.len();
            for (((r, _, _), (rows, cols)), trial) in moves.iter().zip(&reach).zip(&mut trials) {
                let act = &mut acts[*r];
                let plane = &mut act.planes[l + 1];
                let old = save(plane, conv.c_out, oq, rows, cols);
                for oy in rows.clone() {
                    for ox in cols.clone() {
                        let z = &out[next * conv.c_out..(next + 1) * conv.c_out];
                        next += 1;
                        for (co, (&zc, &bias)) in z.iter().zip(&conv.bias).enumerate() {
                            let at = ((oy + PADDING) * oq + ox + PADDING) * conv.c_out + co;
                            let v = (zc + bias).max(0.0);
                            if last {
                                // h += W_fcᵀ·(a' − a) for the entries that changed.
                                let delta = v - plane[at];
                                if delta != 0.0 {
                                    let [ho, wo] = conv.size_out;
                                    let i = (co * ho + oy) * wo + ox;
                                    let f = act.hidden.len();
                                    axpy(
                                        delta,
                                        &self.fc_weight[i * f..(i + 1) * f],
                                        &mut act.hidden,
                                    );
                                }
                            }
                            plane[at] = v;
                        }
                    }
                }
                trial.saved.push(Saved {
                    plane: l + 1,
                    rows: rows.clone(),
                    cols: cols.clone(),
                    old,
                });
            }
            boxes = reach;
        }
        let k = self.head_bias.len();
        let mut logits = Vec::with_capacity(moves.len() * k);
        for (r, _, _) in moves {
            let mut z = self.head_bias.clone();
            for (j, &h) in acts[*r].hidden.iter().enumerate() {
                if h > 0.0 {
                    axpy(h, &self.head_weight[j * k..(j + 1) * k], &mut z);
                }
            }
            logits.extend_from_slice(&z);
        }
        (logits, trials)
    }

    /// Returns example `acts` to the point it held before `trial`.
    pub(crate) fn undo(&self, acts: &mut Activations, trial: Trial) {
        for Saved {
            plane: l,
            rows,
            cols,
            old,
        } in trial.saved.into_iter().rev()
        {
            let (channels, size) = if l == 0 {
                (self.channels, self.image_size())
            } else {
                (self.convs[l - 1].c_out, self.convs[l - 1].size_out)
            };
            restore(
                &mut acts.planes[l],
                channels,
                padded(size)[1],
                &rows,
                &cols,
                &old,
            );
        }
        acts.hidden = trial.hidden;
    }
}

/// The values of a padded channels-last plane [hp, wp, channels] in the unpadded box
/// rows × cols, [rows, cols, channels].
fn save(
    plane: &[f32],
    channels: usize,
    wp: usize,
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> Vec<f32> {
    let run = cols.len() * channels;
    let mut old = Vec::with_capacity(rows.len() * run);
    for y in rows.clone() {
        let at = ((y + PADDING) * wp + cols.start + PADDING) * channels;
        old.extend_from_slice(&plane[at..at + run]);
    }
    old
}

/// Writes back what [`save`] took.
fn restore(
    plane: &mut [f32],
    channels: usize,
    wp: usize,
    rows: &Range<usize>,
    cols: &Range<usize>,
    old: &[f32],
) {
    let run = cols.len() * channels;
    for (y, from) in rows.clone().zip(old.chunks_exact(run.max(1))) {
        let at = ((y + PADDING) * wp + cols.start + PADDING) * channels;
        plane[at..at + run].copy_from_slice(from);
    }
}

/// y += α·x.
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, Classifier, InputSpec, Mode, ModelConfig};
    use burn::tensor::Distribution;

    fn small_cnn(shape: [usize; 3], width: f64, device: &Device) -> (Classifier, WindowedSmallCnn) {
        let mut cfg = ModelConfig::of(Arch::SmallCnn);
        cfg.width = width;
        let input = InputSpec {
            shape: shape.to_vec(),
            num_classes: 10,
            mean: vec![0.3; shape[0]],
            std: vec![0.4; shape[0]],
        };
        let model = cfg.init(&input, device);
        let Classifier::SmallCnn(m) = &model else {
            panic!("a small CNN")
        };
        let net = WindowedSmallCnn::new(m).expect("no quantiser");
        (model, net)
    }

    fn forward(model: &Classifier, points: &[f32], d: usize, device: &Device) -> Vec<f32> {
        let n = points.len() / d;
        let x = Tensor::<2>::from_data(TensorData::new(points.to_vec(), [n, d]), device);
        model
            .forward(x, Mode::Eval)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    fn assert_close(got: &[f32], expected: &[f32], what: &str) {
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= 1e-4 * e.abs().max(1.0),
                "{what}: {g} vs {e}"
            );
        }
    }

    /// From empty activations with the whole image as the box, the logits are the model's; then
    /// random boxes (kept or undone at random, as a search does) keep giving the model's logits
    /// of the moved points, and an undone move leaves the state bit for bit as it was.
    #[test]
    fn windowed_logits_follow_the_models_forward_through_kept_and_undone_moves() {
        let device = Device::flex();
        crate::host_rng::seed(5);
        for (shape, width) in [([1, 28, 28], 1.0), ([3, 32, 32], 0.5), ([1, 12, 9], 0.25)] {
            let (model, net) = small_cnn(shape, width, &device);
            let [c, h, w] = shape;
            let (n, d) = (4, c * h * w);
            let mut points = crate::host_rng::host_floats(n * d, Distribution::Uniform(0.0, 1.0));
            let mut acts = vec![net.empty(); n];
            let moves: Vec<_> = points
                .chunks_exact(d)
                .enumerate()
                .map(|(r, p)| (r, p, (0..h, 0..w)))
                .collect();
            let (logits, _) = net.try_points(&mut acts, &moves);
            assert_close(
                &logits,
                &forward(&model, &points, d, &device),
                "full forward",
            );
            for round in 0..40 {
                // One box per example: random corner and size (1 pixel up to the whole image).
                let u = crate::host_rng::host_floats(5 * n, Distribution::Uniform(0.0, 1.0));
                let mut moved = points.clone();
                let mut boxes = Vec::new();
                for r in 0..n {
                    let pick = |v: f32, m: usize| ((v * m as f32) as usize).min(m - 1);
                    let (top, left) = (pick(u[5 * r], h), pick(u[5 * r + 1], w));
                    let (rows, cols) = (
                        top..top + 1 + pick(u[5 * r + 2], h - top),
                        left..left + 1 + pick(u[5 * r + 3], w - left),
                    );
                    for ch in 0..c {
                        for y in rows.clone() {
                            for x in cols.clone() {
                                let i = r * d + (ch * h + y) * w + x;
                                moved[i] = (moved[i] + 0.3 * (u[5 * r + 4] - 0.5)).clamp(0.0, 1.0);
                            }
                        }
                    }
                    boxes.push((rows, cols));
                }
                let before = acts.clone();
                let moves: Vec<_> = (0..n)
                    .map(|r| (r, &moved[r * d..(r + 1) * d], boxes[r].clone()))
                    .collect();
                let (logits, trials) = net.try_points(&mut acts, &moves);
                assert_close(
                    &logits,
                    &forward(&model, &moved, d, &device),
                    "moved points",
                );
                for (r, trial) in trials.into_iter().enumerate() {
                    if (round + r) % 3 == 0 {
                        points[r * d..(r + 1) * d].copy_from_slice(&moved[r * d..(r + 1) * d]);
                    } else {
                        net.undo(&mut acts[r], trial);
                        assert_eq!(acts[r].planes, before[r].planes, "undo restores the planes");
                        assert_eq!(acts[r].hidden, before[r].hidden, "undo restores h");
                    }
                }
            }
            // After 40 rounds of updates h has not drifted from a fresh forward.
            let fresh: Vec<_> = points
                .chunks_exact(d)
                .enumerate()
                .map(|(r, p)| (r, p, (0..h, 0..w)))
                .collect();
            let mut again = vec![net.empty(); n];
            let (logits, _) = net.try_points(&mut again, &fresh);
            assert_close(
                &logits,
                &forward(&model, &points, d, &device),
                "after the rounds",
            );
            for (a, b) in acts.iter().zip(&again) {
                assert_close(&a.hidden, &b.hidden, "h after the rounds");
            }
        }
    }

    /// A quantised input is not affine, a noisy one not deterministic: no windowed forward.
    #[test]
    fn a_quantised_or_noisy_input_has_no_windowed_forward() {
        let device = Device::flex();
        let (model, _) = small_cnn([1, 28, 28], 0.25, &device);
        let mut quantised = model.clone();
        quantised.input_normalize_mut().set_levels(4);
        assert!(quantised.windowed_forward().is_none());
        let mut noisy = model.clone();
        noisy.set_input_noise(0.1);
        assert!(noisy.windowed_forward().is_none());
        assert!(model.windowed_forward().is_some());
    }
}
