//! 2-D convolution on the CPU for f32 NCHW tensors (groups = 1): forward, and the
//! vector-Jacobian products for the input, the weight and the bias.
//!
//! Each pass works on chunks of `nb` whole images. A chunk's patches are unrolled into a
//! column matrix cols [K, nb·P] (K = C_in·kh·kw rows in the weight's own order, P = H_out·W_out
//! output positions per image), so every pass is one matrix product per chunk:
//!
//! ```text
//! forward        Y_chunk  [C_out, nb·P] = W [C_out, K] · cols [K, nb·P]
//! input grad     dcols    [K, nb·P]     = Wᵀ [K, C_out] · dY_chunk [C_out, nb·P]   (then col2im)
//! weight grad    dW       [C_out, K]   += dY_chunk [C_out, nb·P] · colsᵀ [nb·P, K]
//! ```
//!
//! Chunks run in parallel (rayon); each product is single-threaded. The chunking depends on
//! the shapes only, never on the thread count, and the weight gradient sums its per-group
//! partials in a fixed order, so results are bit-identical at any thread count.

use rayon::prelude::*;

/// Shapes and hyper-parameters of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Zero rows above and columns left of the input (the end padding only shapes the output).
    pub pad_begin: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

/// Output positions a chunk aims for: enough columns for an efficient product.
const CHUNK_COLUMNS: usize = 512;
/// Partial weight gradients summed in a fixed order (the most parallelism the weight
/// gradient uses).
const WEIGHT_GRAD_GROUPS: usize = 16;

impl ConvGeometry {
    /// Rows of the column matrix: C_in·kh·kw.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image.
    pub fn p(&self) -> usize {
        self.out_h * self.out_w
    }

    fn image_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn image_out(&self) -> usize {
        self.c_out * self.p()
    }

    /// Images per chunk: about `CHUNK_COLUMNS` columns, and at least 8 chunks when the batch
    /// allows it (a function of the shapes only).
    fn images_per_chunk(&self) -> usize {
        let by_columns = CHUNK_COLUMNS.div_ceil(self.p().max(1));
        let by_spread = self.batch.div_ceil(8).max(1);
        by_columns.min(by_spread).max(1)
    }

    /// The padded plane [Hp, Wp] the windows read: the input with `pad_begin` zero rows and
    /// columns before it and as many after it as the last window reaches.
    fn padded(&self) -> (usize, usize) {
        let span = |out: usize, s: usize, k: usize, d: usize| (out - 1) * s + (k - 1) * d + 1;
        (
            span(self.out_h, self.stride[0], self.kh, self.dilation[0]),
            span(self.out_w, self.stride[1], self.kw, self.dilation[1]),
        )
    }

    /// The padded plane split by stride phase: phase (rh, rw) [Hq, Wq] holds padded rows
    /// rh, rh + sh, … and columns rw, rw + sw, …, so that every output row of every kernel
    /// tap reads one contiguous run (with stride 1 there is one phase, the padded plane).
    fn phases(&self) -> (usize, usize) {
        let (hp, wp) = self.padded();
        ((hp - 1) / self.stride[0] + 1, (wp - 1) / self.stride[1] + 1)
    }

    /// Where tap (ky, kx)'s run for output row 0 starts in the phased plane.
    fn tap_start(&self, ky: usize, kx: usize) -> usize {
        let (hq, wq) = self.phases();
        let ([sh, sw], [dh, dw]) = (self.stride, self.dilation);
        let (rh, qy) = ((ky * dh) % sh, (ky * dh) / sh);
        let (rw, qx) = ((kx * dw) % sw, (kx * dw) / sw);
        ((rh * sw + rw) * hq + qy) * wq + qx
    }

    /// The runs of input values in the phased plane: for every phase row that holds input
    /// row `y`, its phase columns `first..end`, where phase column qx holds input column
    /// qx·sw + rw − pl (every other position of the phased plane is padding).
    fn phase_rows(&self) -> Vec<PhaseRow> {
        let (hq, wq) = self.phases();
        let ([sh, sw], [pt, pl]) = (self.stride, self.pad_begin);
        let mut runs = Vec::new();
        for rh in 0..sh {
            for rw in 0..sw {
                let first = pl.saturating_sub(rw).div_ceil(sw);
                let end = if self.w + pl > rw {
                    ((self.w - 1 + pl - rw) / sw + 1).min(wq)
                } else {
                    0
                };
                if first >= end {
                    continue;
                }
                for qy in 0..hq {
                    let py = qy * sh + rh;
                    if py < pt || py - pt >= self.h {
                        continue;
                    }
                    runs.push(PhaseRow {
                        y: py - pt,
                        at: ((rh * sw + rw) * hq + qy) * wq,
                        first,
                        end,
                        x0: first * sw + rw - pl,
                    });
                }
            }
        }
        runs
    }
}

/// See [`ConvGeometry::phase_rows`]: phased[at + qx] holds input (y, x0 + (qx − first)·sw) for
/// qx in first..end.
struct PhaseRow {
    y: usize,
    at: usize,
    first: usize,
    end: usize,
    x0: usize,
}

/// Per-thread buffers reused across chunks and calls (a convolution allocates nothing per
/// chunk once they have grown).
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    side: Vec<f32>,
    plane: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// `buf` with exactly `len` elements (stale contents: callers overwrite them).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    &mut buf[..len]
}

/// Floats of a phased-plane buffer, with the slack im2col's block copies read past its end.
fn plane_len(g: &ConvGeometry) -> usize {
    let (hq, wq) = g.phases();
    g.stride[0] * g.stride[1] * hq * wq + BLOCK
}

/// plane [H, W] into its phased, zero-padded form.
fn pad_plane(g: &ConvGeometry, runs: &[PhaseRow], plane: &[f32], phased: &mut [f32]) {
    phased.fill(0.0);
    let sw = g.stride[1];
    for r in runs {
        let (dst, src) = (
            &mut phased[r.at + r.first..r.at + r.end],
            &plane[r.y * g.w + r.x0..],
        );
        if sw == 1 {
            dst.copy_from_slice(&src[..dst.len()]);
        } else {
            for (q, d) in dst.iter_mut().enumerate() {
                *d = src[q * sw];
            }
        }
    }
}

/// The input values of a phased plane back into plane [H, W] (the adjoint of [`pad_plane`] on
/// the positions it fills; the others are left alone).
fn unpad_plane(g: &ConvGeometry, runs: &[PhaseRow], phased: &[f32], plane: &mut [f32]) {
    let sw = g.stride[1];
    for r in runs {
        let (src, dst) = (
            &phased[r.at + r.first..r.at + r.end],
            &mut plane[r.y * g.w + r.x0..],
        );
        if sw == 1 {
            dst[..src.len()].copy_from_slice(src);
        } else {
            for (q, v) in src.iter().enumerate() {
                dst[q * sw] = *v;
            }
        }
    }
}

/// Floats of slack after each row of the column matrix and after the padded plane: im2col
/// copies output rows in whole blocks of `BLOCK` floats (fixed-size copies the compiler
/// inlines, where a short `copy_from_slice` is a library call), and a block's overhang is
/// overwritten by the next row, or lands in the slack.
const BLOCK: usize = 8;

/// Row stride of the column matrix for `n` columns.
fn cols_stride(n: usize) -> usize {
    n + BLOCK
}

/// Unrolls images `x` ([nb, C_in, H, W]) into cols [K, nb·P] (row stride `cols_stride`).
fn im2col(
    g: &ConvGeometry,
    runs: &[PhaseRow],
    x: &[f32],
    nb: usize,
    cols: &mut [f32],
    phased: &mut [f32],
) {
    let (p, ld) = (g.p(), cols_stride(nb * g.p()));
    let (_, wq) = g.phases();
    let wo = g.out_w;
    let blocks = wo.div_ceil(BLOCK);
    for j in 0..nb {
        for ci in 0..g.c_in {
            pad_plane(
                g,
                runs,
                &x[(j * g.c_in + ci) * g.h * g.w..][..g.h * g.w],
                phased,
            );
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = (ci * g.kh + ky) * g.kw + kx;
                    // Image j's segment of the row, and the row's slack after it.
                    let dst = &mut cols[row * ld + j * p..(row + 1) * ld];
                    let start = g.tap_start(ky, kx);
                    for oy in 0..g.out_h {
                        let src = &phased[start + oy * wq..];
                        let dst = &mut dst[oy * wo..];
                        for b in 0..blocks {
                            let block = b * BLOCK..(b + 1) * BLOCK;
                            dst[block.clone()].copy_from_slice(&src[block]);
                        }
                    }
                }
            }
        }
    }
}

/// Images dx ([nb, C_in, H, W]) from cols [K, nb·P] (row stride `cols_stride`): the
/// adjoint of `im2col`.
fn col2im(
    g: &ConvGeometry,
    runs: &[PhaseRow],
    cols: &[f32],
    nb: usize,
    dx: &mut [f32],
    phased: &mut [f32],
) {
    let (p, ld) = (g.p(), cols_stride(nb * g.p()));
    let (_, wq) = g.phases();
    let wo = g.out_w;
    for j in 0..nb {
        for ci in 0..g.c_in {
            phased.fill(0.0);
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = (ci * g.kh + ky) * g.kw + kx;
                    let src = &cols[row * ld + j * p..][..p];
                    let start = g.tap_start(ky, kx);
                    for oy in 0..g.out_h {
                        let dst = &mut phased[start + oy * wq..][..wo];
                        for (d, s) in dst.iter_mut().zip(&src[oy * wo..][..wo]) {
                            *d += s;
                        }
                    }
                }
            }
            let plane = &mut dx[(j * g.c_in + ci) * g.h * g.w..][..g.h * g.w];
            unpad_plane(g, runs, phased, plane);
        }
    }
}

/// dst [m, n] (row stride `dst_rs`) = (accumulate ? dst : 0) + a · b, where a is [m, k] and b
/// is [k, n], each given by (row stride, column stride).
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
    };
    assert!(
        last(m, n, (dst_rs, 1)) < dst.len(),
        "matmul: destination too small"
    );
    if k > 0 {
        assert!(last(m, k, a_strides) < a.len(), "matmul: lhs too small");
        assert!(last(k, n, b_strides) < b.len(), "matmul: rhs too small");
    }
    // SAFETY: the asserts above bound every index the product touches by the slices'
    // lengths; `dst` is borrowed mutably and does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.as_ptr(),
            a_strides.1 as isize,
            a_strides.0 as isize,
            b.as_ptr(),
            b_strides.1 as isize,
            b_strides.0 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// side [C_out, nb·P] = the chunk's per-image [C_out, P] blocks of `images` side by side.
fn side_by_side(g: &ConvGeometry, nb: usize, images: &[f32], side: &mut [f32]) {
    let (p, n) = (g.p(), nb * g.p());
    for j in 0..nb {
        for c in 0..g.c_out {
            side[c * n + j * p..][..p].copy_from_slice(&images[(j * g.c_out + c) * p..][..p]);
        }
    }
}

/// The inverse of [`side_by_side`]: images [nb, C_out, P] from side [C_out, nb·P].
fn per_image(g: &ConvGeometry, nb: usize, side: &[f32], images: &mut [f32]) {
    let (p, n) = (g.p(), nb * g.p());
    for j in 0..nb {
        for c in 0..g.c_out {
            images[(j * g.c_out + c) * p..][..p].copy_from_slice(&side[c * n + j * p..][..p]);
        }
    }
}

/// y [B, C_out, H_out, W_out] = conv(x [B, C_in, H, W], weight [C_out, C_in, kh, kw]) + bias.
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.image_in(), "conv2d: input size");
    assert_eq!(weight.len(), g.c_out * g.k(), "conv2d: weight size");
    let nb = g.images_per_chunk();
    let (k, p) = (g.k(), g.p());
    let runs = g.phase_rows();
    let mut y = vec![0.0f32; g.batch * g.image_out()];
    y.par_chunks_mut(nb * g.image_out())
        .zip(x.par_chunks(nb * g.image_in()))
        .for_each(|(y, x)| {
            let nb = x.len() / g.image_in().max(1);
            let n = nb * p;
            with_scratch(|s| {
                let ld = cols_stride(n);
                let cols = sized(&mut s.cols, k * ld);
                im2col(g, &runs, x, nb, cols, sized(&mut s.plane, plane_len(g)));
                if nb == 1 {
                    matmul(g.c_out, k, n, y, n, false, weight, (k, 1), cols, (ld, 1));
                } else {
                    let side = sized(&mut s.side, g.c_out * n);
                    matmul(g.c_out, k, n, side, n, false, weight, (k, 1), cols, (ld, 1));
                    per_image(g, nb, side, y);
                }
            });
            if let Some(bias) = bias {
                for (i, plane) in y.chunks_mut(p).enumerate() {
                    let b = bias[i % g.c_out];
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        });
    y
}

/// Chunk `first..first + nb`'s output gradient as [C_out, nb·P]: `dy`'s own block for one
/// image, else the images' blocks copied side by side into `side`.
fn chunk_dy<'a>(
    g: &ConvGeometry,
    dy: &'a [f32],
    first: usize,
    nb: usize,
    side: &'a mut Vec<f32>,
) -> &'a [f32] {
    let own = &dy[first * g.image_out()..(first + nb) * g.image_out()];
    if nb == 1 {
        return own;
    }
    let side = sized(side, g.c_out * nb * g.p());
    side_by_side(g, nb, own, side);
    side
}

/// Which vector-Jacobian products [`backward`] computes.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub x: bool,
    pub weight: bool,
    pub bias: bool,
}

/// The vector-Jacobian products of a convolution, each present when it was wanted.
#[derive(Debug, Default)]
pub struct ConvGrads {
    /// [B, C_in, H, W]
    pub x: Option<Vec<f32>>,
    /// [C_out, C_in, kh, kw]
    pub weight: Option<Vec<f32>>,
    /// [C_out]
    pub bias: Option<Vec<f32>>,
}

/// The vector-Jacobian products of [`forward`] for the output gradient dy.
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    wanted: Wanted,
) -> ConvGrads {
    assert_eq!(
        x.len(),
        g.batch * g.image_in(),
        "conv2d backward: input size"
    );
    assert_eq!(
        dy.len(),
        g.batch * g.image_out(),
        "conv2d backward: gradient size"
    );
    let nb = g.images_per_chunk();
    let (k, p) = (g.k(), g.p());
    let chunks = g.batch.div_ceil(nb);
    let runs = g.phase_rows();
    // Chunk c's first image and image count.
    let images = |c: usize| (c * nb, nb.min(g.batch - c * nb));

    let dx = wanted.x.then(|| {
        let mut dx = vec![0.0f32; x.len()];
        dx.par_chunks_mut(nb * g.image_in())
            .enumerate()
            .for_each(|(c, dx)| {
                let (first, nb) = images(c);
                let n = nb * p;
                with_scratch(|s| {
                    let dy = chunk_dy(g, dy, first, nb, &mut s.side);
                    // dcols [K, n] = Wᵀ [K, C_out] · dy [C_out, n]
                    let ld = cols_stride(n);
                    let cols = sized(&mut s.cols, k * ld);
                    matmul(k, g.c_out, n, cols, ld, false, weight, (1, k), dy, (n, 1));
                    col2im(g, &runs, cols, nb, dx, sized(&mut s.plane, plane_len(g)));
                });
            });
        dx
    });
    let dw = wanted.weight.then(|| {
        // dWᵀ [K, C_out] = Σ_chunks cols [K, n] · dyᵀ [n, C_out]. Chunks are split into at most
        // WEIGHT_GRAD_GROUPS consecutive groups; each group sums its chunks in order, then
        // the groups are summed in order.
        let groups = chunks.min(WEIGHT_GRAD_GROUPS);
        let per_group = chunks.div_ceil(groups.max(1));
        let partials: Vec<Vec<f32>> = (0..groups)
            .into_par_iter()
            .map(|grp| {
                let mut dwt = vec![0.0f32; k * g.c_out];
                for c in grp * per_group..((grp + 1) * per_group).min(chunks) {
                    let (first, nb) = images(c);
                    let n = nb * p;
                    with_scratch(|s| {
                        let dy = chunk_dy(g, dy, first, nb, &mut s.side);
                        let x = &x[first * g.image_in()..(first + nb) * g.image_in()];
                        let ld = cols_stride(n);
                        let cols = sized(&mut s.cols, k * ld);
                        im2col(g, &runs, x, nb, cols, sized(&mut s.plane, plane_len(g)));
                        let dwt = &mut dwt[..];
                        matmul(k, n, g.c_out, dwt, g.c_out, true, cols, (ld, 1), dy, (1, n));
                    });
                }
                dwt
            })
            .collect();
        let mut dwt = vec![0.0f32; k * g.c_out];
        for part in partials {
            dwt.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        let mut dw = vec![0.0f32; g.c_out * k];
        for (r, row) in dwt.chunks(g.c_out).enumerate() {
            for (c, v) in row.iter().enumerate() {
                dw[c * k + r] = *v;
            }
        }
        dw
    });
    let db = wanted.bias.then(|| {
        let mut db = vec![0.0f32; g.c_out];
        for image in dy.chunks(g.image_out()) {
            for (c, plane) in image.chunks(p).enumerate() {
                db[c] += plane.iter().sum::<f32>();
            }
        }
        db
    });
    ConvGrads {
        x: dx,
        weight: dw,
        bias: db,
    }
}
