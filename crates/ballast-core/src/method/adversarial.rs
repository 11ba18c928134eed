//! Adversarial training against the ℓp threat model of `[adversarial]`: PGD-AT (`pgd-at`,
//! Madry et al. 2018 with Rice et al.'s settings), fast adversarial training (`fgsm-rs`, Wong
//! et al. 2020, with its catastrophic-overfitting check) and TRADES (`trades`, Zhang et al.
//! 2019). The maths is in [`crate::adversarial`]; SSDS has its own file.

use super::{
    AdversarialConfig, EpochCheck, EpochVerdict, Family, MethodConfig, MethodDef, MethodInfo,
    MethodSetup, MethodStep, NoOptions, StateFile, StepContext, StepOutput, Trains, Uses,
};
use crate::adversarial::{Mixup, Regularizers, pgd_at_step, trades_step};
use crate::attack::{AttackConfig, AttackKind, batch_robustness};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::models::Classifier;
use crate::record::{load_module, module_bytes};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

/// The training attack of `pgd-at` and `trades` at full ε: `adversarial.steps` PGD steps from
/// a random start, step size `adversarial.step_size` (default 2.5·ε/steps).
pub fn pgd_attack(adv: &AdversarialConfig) -> AttackConfig {
    AttackConfig {
        step_size: adv.step_size,
        ..AttackConfig::pgd(adv.norm, adv.eps, adv.steps, 1)
    }
}

/// The training attack of `fgsm-rs` at full ε: one FGSM step of α = 1.25·ε (or
/// `adversarial.step_size`) from a uniform random start.
pub fn fgsm_rs_attack(adv: &AdversarialConfig) -> AttackConfig {
    AttackConfig {
        kind: AttackKind::Fgsm,
        step_size: Some(adv.step_size.unwrap_or(1.25 * adv.eps)),
        random_start: true,
        ..AttackConfig::pgd(adv.norm, adv.eps, 1, 1)
    }
}

/// Mixup partner permutation and λ ~ Beta(α, α) of a step, from its own seed.
fn mixup_for(alpha: f64, seed: u64, n: usize, device: &Device) -> Mixup {
    let mut rng = ballast_data::SeededRng::new(seed, 0);
    let lam = rng.beta(alpha, alpha);
    let perm: Vec<i32> = rng.permutation(n).into_iter().map(|i| i as i32).collect();
    Mixup {
        perm: Tensor::from_data(TensorData::new(perm, [n]), device),
        lam,
    }
}

/// One PGD-AT step with the attack `full` (at full ε), ramped and mixed as configured.
fn pgd_at(
    adv: &AdversarialConfig,
    full: &AttackConfig,
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    ctx: &StepContext,
) -> StepOutput {
    let attack = adv.ramped(full.clone(), ctx.step, ctx.steps_per_epoch);
    let mixup = (adv.mixup_alpha > 0.0).then(|| {
        mixup_for(
            adv.mixup_alpha,
            ctx.seed ^ 0x3170,
            batch.len(),
            &batch.x.device(),
        )
    });
    let regs = Regularizers { l1: adv.l1 };
    StepOutput::from(pgd_at_step(
        model,
        optim,
        batch,
        &attack,
        adv.attack_bn,
        &regs,
        mixup.as_ref(),
        ctx.lr,
    ))
}

const ATTACK_USES: Uses = Uses {
    attack: true,
    images: true,
    ..Uses::NOTHING
};

/// PGD adversarial training.
pub struct PgdAt {
    adv: AdversarialConfig,
}

impl MethodDef for PgdAt {
    const INFO: MethodInfo = MethodInfo {
        name: "pgd-at",
        label: "PGD-AT",
        family: Family::Adversarial,
        summary: "PGD adversarial training (Madry et al. 2018; Rice et al. 2020's settings): \
                  each step trains on the batch's PGD adversarial examples.",
        trains: Trains::Classifier,
        uses: Uses {
            mixup: true,
            ..ATTACK_USES
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            adv: cfg.adversarial.clone(),
        })
    }
}

impl MethodStep for PgdAt {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let attack = pgd_attack(&self.adv);
        Ok(pgd_at(&self.adv, &attack, model, optim, batch, ctx))
    }
}

/// Checkpoint files of the fgsm-rs check.
const CHECK_FILE: &str = "fgsm_check.json";
const CHECKED_MODEL_FILE: &str = "fgsm_checked_model.bpk";

/// Fast adversarial training, with Wong et al.'s catastrophic-overfitting check: after each
/// epoch, PGD-5 on the first training batch; a fall of more than `adversarial.overfit_drop`
/// since the previous check restores the weights of that check and ends training.
pub struct FgsmRs {
    adv: AdversarialConfig,
    /// Robust accuracy at the previous check, and the weights then.
    reference: Option<f64>,
    checked: Option<Classifier>,
    /// The architecture a saved checked model is loaded into.
    template: Classifier,
}

impl MethodDef for FgsmRs {
    const INFO: MethodInfo = MethodInfo {
        name: "fgsm-rs",
        label: "FGSM-RS (fast AT)",
        family: Family::Adversarial,
        summary: "Fast adversarial training (Wong et al. 2020): one random-start FGSM step per \
                  batch, with the catastrophic-overfitting check after every epoch.",
        trains: Trains::Classifier,
        uses: Uses {
            mixup: true,
            ..ATTACK_USES
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            adv: cfg.adversarial.clone(),
            reference: None,
            checked: None,
            template: setup.model.clone(),
        })
    }
}

/// The check's robust accuracy fell by more than `drop` since the previous check.
pub fn catastrophic(previous: f64, now: f64, drop: f64) -> bool {
    now < previous - drop
}

impl MethodStep for FgsmRs {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let attack = fgsm_rs_attack(&self.adv);
        Ok(pgd_at(&self.adv, &attack, model, optim, batch, ctx))
    }

    fn end_of_epoch(&mut self, model: Classifier, check: &EpochCheck) -> EpochVerdict {
        if !self.adv.overfit_check {
            return EpochVerdict::Continue(model);
        }
        let pgd5 = AttackConfig {
            step_size: Some(self.adv.eps / 4.0),
            ..AttackConfig::pgd(self.adv.norm, self.adv.eps, 5, 1)
        };
        let r = batch_robustness(
            &model.valid(),
            check.first_batch,
            std::slice::from_ref(&pgd5),
            check.seed ^ 0xC4EC,
            0,
            None,
        );
        let now = r.worst as f64 / r.examples.max(1) as f64;
        match self.reference {
            Some(prev) if catastrophic(prev, now, self.adv.overfit_drop) => {
                let reason = format!(
                    "catastrophic overfitting after epoch {}: PGD-5 accuracy on the first training batch fell from {:.1}% to {:.1}%; kept the weights of epoch {}",
                    check.epoch,
                    100.0 * prev,
                    100.0 * now,
                    check.epoch - 1
                );
                let model = self.checked.take().unwrap_or(model);
                EpochVerdict::Stop { model, reason }
            }
            _ => {
                self.reference = Some(now);
                self.checked = Some(model.clone());
                EpochVerdict::Continue(model)
            }
        }
    }

    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        let mut files = vec![StateFile {
            name: CHECK_FILE,
            bytes: serde_json::to_vec(&serde_json::json!({ "overfit_reference": self.reference }))
                .expect("JSON"),
        }];
        if let Some(m) = &self.checked {
            files.push(StateFile {
                name: CHECKED_MODEL_FILE,
                bytes: module_bytes(m)?,
            });
        }
        Ok(files)
    }

    fn restore(&mut self, file: &dyn Fn(&'static str) -> Option<Vec<u8>>) -> Result<(), CoreError> {
        if let Some(bytes) = file(CHECK_FILE) {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| CoreError::Decode {
                    what: CHECK_FILE.into(),
                    reason: e.to_string(),
                })?;
            self.reference = v["overfit_reference"].as_f64();
        }
        if file(CHECKED_MODEL_FILE).is_some() {
            let template = self.template.clone();
            self.checked = Some(load_module(template, CHECKED_MODEL_FILE, file)?);
        }
        Ok(())
    }
}

/// TRADES.
pub struct Trades {
    adv: AdversarialConfig,
}

impl MethodDef for Trades {
    const INFO: MethodInfo = MethodInfo {
        name: "trades",
        label: "TRADES",
        family: Family::Adversarial,
        summary: "TRADES (Zhang et al. 2019): cross-entropy plus β times the KL divergence to \
                  the KL-maximising point of the ε-ball.",
        trains: Trains::Classifier,
        uses: ATTACK_USES,
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            adv: cfg.adversarial.clone(),
        })
    }
}

impl MethodStep for Trades {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let attack = self
            .adv
            .ramped(pgd_attack(&self.adv), ctx.step, ctx.steps_per_epoch);
        let regs = Regularizers { l1: self.adv.l1 };
        Ok(StepOutput::from(trades_step(
            model,
            optim,
            batch,
            &attack,
            self.adv.attack_bn,
            self.adv.trades_beta,
            &regs,
            ctx.lr,
        )))
    }
}
