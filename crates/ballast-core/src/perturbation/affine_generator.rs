//! The spatial-transformer generator of geometric perturbation sets (Wong & Kolter 2021 use
//! one for MNIST rotation / scale / translation): z -> an affine map θ = (A, t) by a small
//! MLP that starts at the identity, and the image is x resampled at A·(p − c) + c + t for
//! every output pixel p (c the image centre; bilinear, zero outside). Written with gathers and
//! elementwise ops so autodiff carries gradients to θ through the bilinear weights.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Probabilities are clamped to [P_MIN, 1 − P_MIN] before they become logits.
const P_MIN: f64 = 1e-4;

#[derive(Module, Debug)]
pub struct AffineGenerator {
    hidden: Linear,
    /// 6 outputs: ΔA (4, row-major) and t (2, in half-image units); zero-initialised.
    out: Linear,
    shape: [usize; 3],
}

impl AffineGenerator {
    pub fn new(shape: [usize; 3], latent: usize, hidden: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(latent, hidden).init(device),
            out: LinearConfig::new(hidden, 6)
                .with_initializer(Initializer::Zeros)
                .init(device),
            shape,
        }
    }

    /// The affine map of each latent, [B, L] -> [B, 6]: (a11, a12, a21, a22, tx, ty), t in
    /// pixels.
    pub fn theta(&self, z: Tensor<2>) -> Tensor<2> {
        let [b, _] = z.dims();
        let [_, h, w] = self.shape;
        let raw = self.out.forward(relu(self.hidden.forward(z))); // [B, 6]
        let device = raw.device();
        let identity = Tensor::<2>::from_data(
            TensorData::new(vec![1f32, 0., 0., 1., 0., 0.], [1, 6]),
            &device,
        );
        let scale = Tensor::<2>::from_data(
            TensorData::new(
                vec![1f32, 1., 1., 1., w as f32 / 2.0, h as f32 / 2.0],
                [1, 6],
            ),
            &device,
        );
        raw * scale.expand([b, 6]) + identity.expand([b, 6])
    }

    /// z: [B, L], x: [B, C·H·W] -> logits [B, C·H·W] of the warped image (clamped to
    /// [1e-4, 1 − 1e-4] first, so their sigmoid is the image up to 1e-4).
    pub fn forward(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        let p = affine_warp(x, self.theta(z), self.shape).clamp(P_MIN, 1.0 - P_MIN);
        p.clone().log() - (p.neg() + 1.0).log()
    }
}

/// Resamples images x [B, C·H·W] at A·(p − c) + c + t for θ = (a11, a12, a21, a22, tx, ty)
/// [B, 6] (pixels; c = ((W − 1)/2, (H − 1)/2)), bilinearly with zeros outside.
pub fn affine_warp(x: Tensor<2>, theta: Tensor<2>, shape: [usize; 3]) -> Tensor<2> {
    let [b, _] = x.dims();
    let [c, h, w] = shape;
    let n = h * w;
    let device = x.device();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let gx: Vec<f32> = (0..n).map(|k| (k % w) as f32 - cx).collect();
    let gy: Vec<f32> = (0..n).map(|k| (k / w) as f32 - cy).collect();
    let gx = Tensor::<2>::from_data(TensorData::new(gx, [1, n]), &device).expand([b, n]);
    let gy = Tensor::<2>::from_data(TensorData::new(gy, [1, n]), &device).expand([b, n]);
    let col = |k: usize| theta.clone().slice([0..b, k..k + 1]).expand([b, n]); // [B, n]
    let sx = col(0) * gx.clone() + col(1) * gy.clone() + col(4) + cx as f64; // [B, n]
    let sy = col(2) * gx + col(3) * gy + col(5) + cy as f64;
    let x0 = sx.clone().detach().floor();
    let y0 = sy.clone().detach().floor();
    let wx = sx - x0.clone(); // [B, n], carries the gradient to θ
    let wy = sy - y0.clone();
    let image = x.reshape([b, c, n]);
    let corner = |dx: f64, dy: f64| -> Tensor<3> {
        let xi = x0.clone() + dx;
        let yi = y0.clone() + dy;
        let inside = xi
            .clone()
            .greater_equal_elem(0.0)
            .bool_and(xi.clone().lower_equal_elem(w as f64 - 1.0))
            .bool_and(yi.clone().greater_equal_elem(0.0))
            .bool_and(yi.clone().lower_equal_elem(h as f64 - 1.0))
            .float(); // [B, n]
        let index = (yi.clamp(0.0, h as f64 - 1.0) * w as f64 + xi.clamp(0.0, w as f64 - 1.0))
            .int()
            .unsqueeze_dim::<3>(1)
            .expand([b, c, n]);
        image.clone().gather(2, index) * inside.unsqueeze_dim::<3>(1) // [B, C, n]
    };
    let (ux, uy) = (wx.unsqueeze_dim::<3>(1), wy.unsqueeze_dim::<3>(1)); // [B, 1, n]
    let (vx, vy) = (ux.clone().neg() + 1.0, uy.clone().neg() + 1.0);
    let out = corner(0.0, 0.0) * vx.clone() * vy.clone()
        + corner(1.0, 0.0) * ux.clone() * vy
        + corner(0.0, 1.0) * vx * uy.clone()
        + corner(1.0, 1.0) * ux * uy; // [B, C, n]
    out.reshape([b, c * n])
}
