//! A mini-batch on a device: flattened inputs in [0, 1] and integer labels.

use burn::prelude::*;

#[derive(Clone, Debug)]
pub struct Batch {
    /// [B, D] inputs, each row one example flattened (C·H·W for images).
    pub x: Tensor<2>,
    /// [B] class labels.
    pub y: Tensor<1, Int>,
}

impl Batch {
    /// Builds a batch from host memory. `x.len()` must be `labels.len() * example_len`.
    pub fn from_host(x: &[f32], labels: &[u32], device: &Device) -> Self {
        let n = labels.len();
        assert!(n > 0, "empty batch");
        assert_eq!(x.len() % n, 0, "inputs do not split into {n} examples");
        let d = x.len() / n;
        let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), device);
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i32).collect::<Vec<_>>(), [n]),
            device,
        );
        Self { x, y }
    }

    /// Uniform inputs in [0, 1] and uniform labels for `input` (tests and benchmarks), drawn on
    /// the host ([`crate::host_rng`]) so every backend gets the same batch.
    pub fn random(n: usize, input: &crate::models::InputSpec, device: &Device) -> Self {
        use burn::tensor::Distribution;
        Self {
            x: crate::host_rng::float(
                [n, input.features()],
                Distribution::Uniform(0.0, 1.0),
                device,
            ),
            y: crate::host_rng::int(
                [n],
                Distribution::Uniform(0.0, input.num_classes as f64),
                device,
            ),
        }
    }

    pub fn len(&self) -> usize {
        self.y.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_device(self, device: &Device) -> Self {
        Self {
            x: self.x.to_device(device),
            y: self.y.to_device(device),
        }
    }
}
