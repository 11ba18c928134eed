//! `ssds`: the saddle-point dynamical system of Esfandiari et al. (arXiv 1910.08623). Each
//! training example keeps a perturbation δ_i and a dual v_i across epochs ([`SsdsStore`],
//! indexed by position in the training split); λ and t are global. The step's maths is in
//! [`crate::ssds`].

use super::{
    AdversarialConfig, Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep,
    NoOptions, StateFile, StepContext, StepOutput, Trains, Uses,
};
use crate::attack::Norm;
use crate::batch::Batch;
use crate::error::CoreError;
use crate::models::Classifier;
use crate::ssds::{SsdsConfig, SsdsGlobals, ssds_step};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

/// Checkpoint files: the per-example store and the globals.
pub const STORE_FILE: &str = "ssds_state.bin";
pub const GLOBALS_FILE: &str = "ssds.json";
const MAGIC: &[u8; 8] = b"BLSTSSD1";

/// The per-example state: δ ([n, D], example after example) and v ([n]), on the host.
/// Serialised as magic, n, D, then δ and v as little-endian f32.
#[derive(Clone, Debug, PartialEq)]
pub struct SsdsStore {
    pub n: usize,
    pub d: usize,
    pub delta: Vec<f32>,
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

    /// Reads a store of `n` examples of `d` features; `what` names the file in errors.
    pub fn from_bytes(bytes: &[u8], n: usize, d: usize, what: &str) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::Decode {
            what: what.into(),
            reason,
        };
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(bad("not an SSDS state file".into()));
        }
        let read_u64 =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize;
        let (fn_, fd) = (read_u64(8), read_u64(16));
        if (fn_, fd) != (n, d) {
            return Err(bad(format!(
                "holds {fn_} examples of {fd} features, the run has {n} of {d}"
            )));
        }
        let floats = n * d + n;
        if bytes.len() != 24 + 4 * floats {
            return Err(bad("truncated".into()));
        }
        let mut all = bytes[24..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
        let delta: Vec<f32> = all.by_ref().take(n * d).collect();
        let v: Vec<f32> = all.collect();
        Ok(Self { n, d, delta, v })
    }
}

pub struct Ssds {
    adv: AdversarialConfig,
    store: SsdsStore,
    globals: SsdsGlobals,
}

impl MethodDef for Ssds {
    const INFO: MethodInfo = MethodInfo {
        name: "ssds",
        label: "SSDS",
        family: Family::Adversarial,
        summary: "SSDS (Esfandiari et al.): alternating descent–ascent with persistent \
                  per-example perturbations and dual variables ([adversarial.ssds]).",
        trains: Trains::Classifier,
        uses: Uses {
            attack: true,
            images: true,
            ..Uses::NOTHING
        },
    };
    type Options = NoOptions;

    fn check(cfg: &MethodConfig) -> Result<(), CoreError> {
        if cfg.adversarial.norm != Norm::Linf {
            return Err(CoreError::config(
                "ssds is implemented for the linf threat model (adversarial.norm = \"linf\")",
            ));
        }
        Ok(())
    }

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        let adv = cfg.adversarial.clone();
        Ok(Self {
            store: SsdsStore::new(setup.train_len, setup.input.features(), &adv.ssds),
            globals: SsdsGlobals::new(&adv.ssds),
            adv,
        })
    }
}

impl MethodStep for Ssds {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let (delta, v) = self.store.gather(ctx.positions, &batch.x.device().inner());
        let out = ssds_step(
            model,
            optim,
            batch,
            delta,
            v,
            &mut self.globals,
            &self.adv.ssds,
            self.adv.training_eps(ctx.step, ctx.steps_per_epoch),
            self.adv.ssds.eta_at(ctx.epoch()),
            ctx.lr,
        );
        self.store.scatter(ctx.positions, out.delta, out.v);
        Ok(StepOutput {
            model: out.model,
            losses: out.losses,
            weights: None,
            robust_correct: Some(out.robust_correct),
        })
    }

    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        Ok(vec![
            StateFile {
                name: STORE_FILE,
                bytes: self.store.to_bytes(),
            },
            StateFile {
                name: GLOBALS_FILE,
                bytes: serde_json::to_vec(&self.globals).expect("JSON"),
            },
        ])
    }

    fn restore(&mut self, file: &dyn Fn(&'static str) -> Option<Vec<u8>>) -> Result<(), CoreError> {
        let missing = |name: &str| CoreError::Decode {
            what: name.into(),
            reason: "missing from the checkpoint".into(),
        };
        let bytes = file(STORE_FILE).ok_or_else(|| missing(STORE_FILE))?;
        self.store = SsdsStore::from_bytes(&bytes, self.store.n, self.store.d, STORE_FILE)?;
        let bytes = file(GLOBALS_FILE).ok_or_else(|| missing(GLOBALS_FILE))?;
        self.globals = serde_json::from_slice(&bytes).map_err(|e| CoreError::Decode {
            what: GLOBALS_FILE.into(),
            reason: e.to_string(),
        })?;
        Ok(())
    }

    fn report(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "lambda": self.globals.lambda, "t": self.globals.t }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trips_and_rejects_a_mismatch() {
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
        let back = SsdsStore::from_bytes(&s.to_bytes(), 5, 3, STORE_FILE).unwrap();
        assert_eq!(back, s);
        let err = SsdsStore::from_bytes(&s.to_bytes(), 6, 3, STORE_FILE).unwrap_err();
        assert!(err.to_string().contains("6 of 3"), "{err}");
        assert!(SsdsStore::from_bytes(&s.to_bytes()[..30], 5, 3, STORE_FILE).is_err());
    }
}
