//! SSDS's persistent per-example state, addressed by training-set index: the perturbation
//! δ_i ([D] each) and the dual v_i. Saved beside each checkpoint as `ssds_state.bin`
//! (magic, n, D, then δ and v as little-endian f32), so a resumed run continues exactly.

use anyhow::{Context, Result, bail};
use ballast_core::ssds::SsdsConfig;
use burn::prelude::*;
use std::path::Path;

pub const SSDS_FILE: &str = "ssds_state.bin";
const MAGIC: &[u8; 8] = b"BLSTSSD1";

#[derive(Clone, Debug, PartialEq)]
pub struct SsdsStore {
    pub n: usize,
    pub d: usize,
    /// [n·D] perturbations, example after example.
    pub delta: Vec<f32>,
    /// [n] duals.
    pub v: Vec<f32>,
}

impl SsdsStore {
    pub fn new(n: usize, d: usize, cfg: &SsdsConfig) -> Self {
        Self {
            n,
            d,
            delta: vec![0.0; n * d],
            v: vec![cfg.v0 as f32; n],
        }
    }

    /// The batch's δ [B, D] and v [B] on `device`.
    pub fn gather(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1>) {
        let mut delta = Vec::with_capacity(indices.len() * self.d);
        for &i in indices {
            delta.extend_from_slice(&self.delta[i * self.d..(i + 1) * self.d]);
        }
        let v: Vec<f32> = indices.iter().map(|&i| self.v[i]).collect();
        (
            Tensor::from_data(TensorData::new(delta, [indices.len(), self.d]), device),
            Tensor::from_data(TensorData::new(v, [indices.len()]), device),
        )
    }

    /// Writes a batch's updated state back.
    pub fn scatter(&mut self, indices: &[usize], delta: Tensor<2>, v: Tensor<1>) {
        let delta: Vec<f32> = delta
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32");
        let v: Vec<f32> = v.into_data().convert::<f32>().try_to_vec().expect("f32");
        for (k, &i) in indices.iter().enumerate() {
            self.delta[i * self.d..(i + 1) * self.d]
                .copy_from_slice(&delta[k * self.d..(k + 1) * self.d]);
            self.v[i] = v[k];
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 4 * (self.delta.len() + self.v.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.n as u64).to_le_bytes());
        out.extend_from_slice(&(self.d as u64).to_le_bytes());
        for x in self.delta.iter().chain(&self.v) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8], n: usize, d: usize, what: &Path) -> Result<Self> {
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            bail!("{} is not an SSDS state file", what.display());
        }
        let read_u64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let (fn_, fd) = (read_u64(8) as usize, read_u64(16) as usize);
        if (fn_, fd) != (n, d) {
            bail!(
                "{} holds {fn_} examples of {fd} features, the run has {n} of {d}",
                what.display()
            );
        }
        let floats = n * d + n;
        if bytes.len() != 24 + 4 * floats {
            bail!("{} is truncated", what.display());
        }
        let mut all = bytes[24..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()));
        let delta: Vec<f32> = all.by_ref().take(n * d).collect();
        let v: Vec<f32> = all.collect();
        Ok(Self { n, d, delta, v })
    }

    pub fn load(dir: &Path, n: usize, d: usize) -> Result<Self> {
        let path = dir.join(SSDS_FILE);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the SSDS state {}", path.display()))?;
        Self::from_bytes(&bytes, n, d, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_a_mismatch() {
        let cfg = SsdsConfig::default();
        let mut s = SsdsStore::new(5, 3, &cfg);
        let device = Device::flex();
        let delta = Tensor::<2>::from_floats([[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]], &device);
        let v = Tensor::<1>::from_floats([0.5, 0.25], &device);
        s.scatter(&[4, 1], delta, v);
        let (d, v) = s.gather(&[1, 4], &device);
        let d: Vec<f32> = d.into_data().try_to_vec().unwrap();
        let v: Vec<f32> = v.into_data().try_to_vec().unwrap();
        assert_eq!(d, vec![-0.1, -0.2, -0.3, 0.1, 0.2, 0.3]);
        assert_eq!(v, vec![0.25, 0.5]);
        let path = Path::new("ssds_state.bin");
        let back = SsdsStore::from_bytes(&s.to_bytes(), 5, 3, path).unwrap();
        assert_eq!(back, s);
        let err = SsdsStore::from_bytes(&s.to_bytes(), 6, 3, path).unwrap_err();
        assert!(err.to_string().contains("6 of 3"), "{err}");
        assert!(SsdsStore::from_bytes(&s.to_bytes()[..30], 5, 3, path).is_err());
    }
}
