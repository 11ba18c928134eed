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
use burn::tensor::IndexingUpdateOp;

/// Checkpoint files: the per-example store and the globals.
pub const STORE_FILE: &str = "ssds_state.bin";
pub const GLOBALS_FILE: &str = "ssds.json";
const MAGIC: &[u8; 8] = b"BLSTSSD1";

/// The per-example state, kept on the device so a step moves nothing through the host: δ
/// [n, D] and v [n], rows indexed by position in the training split. Serialised as magic, n,
/// D, then δ (example after example) and v as little-endian f32.
#[derive(Clone, Debug)]
pub struct SsdsStore {
    pub delta: Tensor<2>,
    pub v: Tensor<1>,
}

impl SsdsStore {
    /// δ = 0 and v = v0 for `n` examples of `d` features, on `device` (plain).
    pub fn new(n: usize, d: usize, cfg: &SsdsConfig, device: &Device) -> Self {
        Self {
            delta: Tensor::zeros([n, d], device),
            v: Tensor::full([n], cfg.v0, device),
        }
    }

    /// The rows at `positions` (distinct, as in a batch): δ [B, D] and v [B].
    pub fn gather(&self, positions: &[usize]) -> (Tensor<2>, Tensor<1>) {
        let idx = self.indices(positions);
        (
            self.delta.clone().select(0, idx.clone()),
            self.v.clone().select(0, idx),
        )
    }

    /// Writes a batch's updated rows back (`positions` distinct, as in a batch).
    pub fn scatter(self, positions: &[usize], delta: Tensor<2>, v: Tensor<1>) -> Self {
        let idx = self.indices(positions);
        Self {
            delta: self
                .delta
                .select_assign(0, idx.clone(), delta, IndexingUpdateOp::Assign),
            v: self.v.select_assign(0, idx, v, IndexingUpdateOp::Assign),
        }
    }

    fn indices(&self, positions: &[usize]) -> Tensor<1, Int> {
        let p: Vec<i64> = positions.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(p, [positions.len()]), &self.v.device())
    }

    /// The checkpoint file (reads the store from the device).
    pub fn to_bytes(&self) -> Vec<u8> {
        let [n, d] = self.delta.dims();
        let read = |t: Tensor<1>| t.try_into_vec_as::<f32>().expect("the SSDS store is f32");
        let delta = read(self.delta.clone().reshape([n * d]));
        let v = read(self.v.clone());
        let mut out = Vec::with_capacity(24 + 4 * (delta.len() + v.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(n as u64).to_le_bytes());
        out.extend_from_slice(&(d as u64).to_le_bytes());
        for x in delta.iter().chain(&v) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// Reads a store of `n` examples of `d` features onto `device`; `what` names the file in
    /// errors.
    pub fn from_bytes(
        bytes: &[u8],
        n: usize,
        d: usize,
        what: &str,
        device: &Device,
    ) -> Result<Self, CoreError> {
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
        Ok(Self {
            delta: Tensor::from_data(TensorData::new(delta, [n, d]), device),
            v: Tensor::from_data(TensorData::new(v, [n]), device),
        })
    }
}

pub struct Ssds {
    adv: AdversarialConfig,
    /// Taken out for the length of a step (its tensors are updated in place when unshared).
    store: Option<SsdsStore>,
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
            store: Some(SsdsStore::new(
                setup.train_len,
                setup.input.features(),
                &adv.ssds,
                &setup.device.clone().inner(),
            )),
            globals: SsdsGlobals::new(&adv.ssds),
            adv,
        })
    }
}

impl Ssds {
    fn store(&self) -> &SsdsStore {
        self.store
            .as_ref()
            .expect("the SSDS store is back after every step")
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
        let store = self
            .store
            .take()
            .expect("the SSDS store is back after every step");
        let (delta, v) = store.gather(ctx.positions);
        let out = ssds_step(
            model,
            optim,
            batch,
            delta,
            v,
            &mut self.globals,
            &self.adv.ssds,
            if self.adv.ssds.eps_warmup {
                self.adv.training_eps(ctx.step, ctx.steps_per_epoch)
            } else {
                self.adv.eps
            },
            self.adv.ssds.eta_at(ctx.epoch()),
            ctx.lr,
        );
        self.store = Some(store.scatter(ctx.positions, out.delta, out.v));
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
                bytes: self.store().to_bytes(),
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
        let store = self.store();
        let [n, d] = store.delta.dims();
        self.store = Some(SsdsStore::from_bytes(
            &bytes,
            n,
            d,
            STORE_FILE,
            &store.v.device(),
        )?);
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
        let device = Device::flex();
        let s = SsdsStore::new(5, 3, &cfg, &device);
        let delta = Tensor::<2>::from_floats([[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]], &device);
        let v = Tensor::<1>::from_floats([0.5, 0.25], &device);
        let s = s.scatter(&[4, 1], delta, v);
        let (d, v) = s.gather(&[1, 4]);
        let d: Vec<f32> = d.into_data().try_to_vec().unwrap();
        let v: Vec<f32> = v.into_data().try_to_vec().unwrap();
        assert_eq!(d, vec![-0.1, -0.2, -0.3, 0.1, 0.2, 0.3]);
        assert_eq!(v, vec![0.25, 0.5]);
        let (_, untouched) = s.gather(&[0, 2, 3]);
        let untouched: Vec<f32> = untouched.into_data().try_to_vec().unwrap();
        assert_eq!(untouched, vec![cfg.v0 as f32; 3]);
        let bytes = s.to_bytes();
        let back = SsdsStore::from_bytes(&bytes, 5, 3, STORE_FILE, &device).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        let err = SsdsStore::from_bytes(&bytes, 6, 3, STORE_FILE, &device).unwrap_err();
        assert!(err.to_string().contains("6 of 3"), "{err}");
        assert!(SsdsStore::from_bytes(&bytes[..30], 5, 3, STORE_FILE, &device).is_err());
    }
}
