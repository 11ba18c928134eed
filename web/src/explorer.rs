//! The perturbation-set explorer: a learned MNIST-RTS perturbation set (the prior and
//! generator of a natively trained CVAE) on shipped test digits. Sliders move along the
//! set's leading latent directions, a grid shows random members of the ε-ball, and the
//! latent attack of the core crate searches the ball for the transformation that fools a
//! standard and a latent-adversarially trained classifier.
//!
//! Everything stays on the device until a `Pending*` value is read (async, as WebGPU needs).

use ballast_core::attack::{AttackConfig, Objective};
use ballast_core::manifest::{Manifest, PerturbationSetEntry, decode_set};
use ballast_core::models::Mode;
use ballast_core::perturbation::ball::{gaussian_in_ball, project_ball};
use ballast_core::perturbation::{PerturbationSet, latent_attack};
use ballast_data::Dataset;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Serialize;

use crate::attack_lab::LabModel;
use crate::read::read_f32;

/// At most this many attack steps and grid samples per call in the browser.
pub const MAX_STEPS: usize = 200;
pub const MAX_SAMPLES: usize = 64;

pub struct Explorer {
    pub device: Device,
    pub entry: PerturbationSetEntry,
    pub set: PerturbationSet,
    /// Classifiers linked to the set in the manifest (standard first, then latent-at).
    pub models: Vec<LabModel>,
    pub digits: Dataset,
}

/// Images [n, D] queued on the device.
pub struct PendingImages {
    images: Tensor<2>,
    /// Predictions of each model on the images, [n] each.
    preds: Vec<Tensor<2>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImagesOutcome {
    pub count: usize,
    /// [n · D] in [0, 1].
    pub images: Vec<f32>,
    /// Per model, the predicted class of each image.
    pub predictions: Vec<Vec<usize>>,
}

pub struct PendingLatentAttack {
    adv: Tensor<2>,
    u: Tensor<2>,
    clean_probs: Tensor<2>,
    adv_probs: Tensor<2>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatentAttackOutcome {
    /// [D] the transformed digit the attack found.
    pub adv: Vec<f32>,
    /// Its latent coordinates u and their norm (≤ ε).
    pub u: Vec<f32>,
    pub u_norm: f32,
    pub clean_probs: Vec<f32>,
    pub adv_probs: Vec<f32>,
    pub clean_pred: usize,
    pub adv_pred: usize,
}

/// Counts of a model's correct predictions on ε-ball samples of shipped digits.
pub struct PendingSampleAccuracy {
    eps: f64,
    samples: usize,
    correct: Tensor<1>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SampleAccuracy {
    pub eps: f64,
    pub samples: usize,
    pub correct: usize,
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

impl Explorer {
    /// Decodes the set `name` and its linked classifiers from their file bytes (`files`:
    /// manifest name -> bytes; size and sha256 checked).
    pub fn new(
        device: &Device,
        manifest: &Manifest,
        name: &str,
        files: Vec<(String, Vec<u8>)>,
        digits: Dataset,
    ) -> Result<Self, String> {
        let entry = manifest
            .perturbation_set(name)
            .ok_or_else(|| format!("perturbation set `{name}` is not in the manifest"))?
            .clone();
        let mut set = None;
        let mut models = Vec::new();
        for (file_name, bytes) in files {
            let hash = ballast_data::sha256_hex(&bytes);
            if file_name == entry.name {
                if hash != entry.sha256 {
                    return Err(format!(
                        "{}: sha256 {hash} does not match the manifest",
                        entry.file
                    ));
                }
                set = Some(decode_set(&entry, &bytes, device).map_err(|e| e.to_string())?);
                continue;
            }
            let m = manifest
                .model(&file_name)
                .ok_or_else(|| format!("model `{file_name}` is not in the manifest"))?;
            if hash != m.sha256 {
                return Err(format!(
                    "{}: sha256 {hash} does not match the manifest",
                    m.file
                ));
            }
            models.push(LabModel {
                entry: m.clone(),
                model: ballast_core::manifest::decode_model(m, &bytes, device)
                    .map_err(|e| e.to_string())?,
            });
        }
        let set = set.ok_or_else(|| format!("the bytes of `{}` were not given", entry.name))?;
        if entry.cvae.features() != digits.example_len() {
            return Err(format!(
                "{} models {} pixels, the shipped digits have {}",
                entry.name,
                entry.cvae.features(),
                digits.example_len()
            ));
        }
        // Standard model first, then the rest by name.
        models.sort_by_key(|m| (m.entry.method != "erm", m.entry.name.clone()));
        Ok(Self {
            device: device.clone(),
            entry,
            set,
            models,
            digits,
        })
    }

    pub fn latent_dim(&self) -> usize {
        self.entry.cvae.latent
    }

    fn image(&self, x: &[f32]) -> Result<Tensor<2>, String> {
        let d = self.digits.example_len();
        if x.len() != d || x.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(format!("an image must be {d} values in [0, 1]"));
        }
        Ok(Tensor::from_data(
            TensorData::new(x.to_vec(), [1, d]),
            &self.device,
        ))
    }

    /// The standardised latent point of the sliders: value `sliders[k]` along leading
    /// dimension k (the rest 0), projected onto the ball of radius ε. [1, L]
    pub fn slider_point(&self, sliders: &[f32], eps: f64) -> Result<Tensor<2>, String> {
        let l = self.latent_dim();
        if sliders.len() > l || sliders.iter().any(|s| !s.is_finite()) {
            return Err(format!("at most {l} finite slider values"));
        }
        let mut u = vec![0f32; l];
        for (k, &s) in sliders.iter().enumerate() {
            u[self.entry.leading_dims[k]] = s;
        }
        Ok(project_ball(
            Tensor::from_data(TensorData::new(u, [1, l]), &self.device),
            eps,
        ))
    }

    fn check_eps(eps: f64) -> Result<(), String> {
        if !(eps >= 0.0 && eps <= 100.0) {
            return Err(format!("eps must be in [0, 100], got {eps}"));
        }
        Ok(())
    }

    /// The slider point of the set for `x` followed by `count − 1` random members of its
    /// ε-ball (N(0, I) draws projected onto the ball; `seed` fixes them), with each model's
    /// predictions.
    pub fn samples(
        &self,
        x: &[f32],
        sliders: &[f32],
        eps: f64,
        count: usize,
        seed: u64,
    ) -> Result<PendingImages, String> {
        Self::check_eps(eps)?;
        if count == 0 || count > MAX_SAMPLES {
            return Err(format!("count must be in 1..={MAX_SAMPLES}, got {count}"));
        }
        let x = self.image(x)?;
        let [_, d] = x.dims();
        let l = self.latent_dim();
        let mut u = self.slider_point(sliders, eps)?;
        if count > 1 {
            ballast_core::host_rng::seed(seed);
            u = Tensor::cat(
                vec![u, gaussian_in_ball(count - 1, l, eps, &self.device)],
                0,
            );
        }
        let images = self.set.perturb(x.expand([count, d]), u); // [n, D]
        let preds = self
            .models
            .iter()
            .map(|m| m.model.forward(images.clone(), Mode::Eval))
            .collect();
        Ok(PendingImages { images, preds })
    }

    /// The latent attack on model `m` for `x` (label None: the model's own prediction).
    pub fn attack(
        &self,
        m: usize,
        x: &[f32],
        label: Option<u32>,
        eps: f64,
        steps: usize,
        seed: u64,
    ) -> Result<PendingLatentAttack, String> {
        Self::check_eps(eps)?;
        if steps == 0 || steps > MAX_STEPS {
            return Err(format!("steps must be in 1..={MAX_STEPS}, got {steps}"));
        }
        let model = &self
            .models
            .get(m)
            .ok_or_else(|| format!("no model {m}"))?
            .model;
        let x = self.image(x)?;
        let clean_logits = model.forward(x.clone(), Mode::Eval); // [1, K]
        let y = match label {
            Some(l) => {
                Tensor::<1, Int>::from_data(TensorData::new(vec![l as i32], [1]), &self.device)
            }
            None => clean_logits.clone().argmax(1).reshape([1]),
        };
        ballast_core::host_rng::seed(seed);
        let cfg = AttackConfig::latent(eps, steps, 1);
        cfg.validate().map_err(|e| e.to_string())?;
        let adv = latent_attack(
            model,
            &self.set,
            x,
            &Objective::CrossEntropy(y),
            &cfg,
            Mode::Eval,
        );
        let adv_logits = model.forward(adv.x_adv.clone(), Mode::Eval);
        Ok(PendingLatentAttack {
            adv: adv.x_adv,
            u: adv.u,
            clean_probs: softmax(clean_logits, 1),
            adv_probs: softmax(adv_logits, 1),
        })
    }

    /// Model `m`'s accuracy on `draws` random ε-ball members of each shipped test digit in
    /// `start..start + count` (their true labels).
    pub fn sample_accuracy(
        &self,
        m: usize,
        eps: f64,
        start: usize,
        count: usize,
        draws: usize,
        seed: u64,
    ) -> Result<PendingSampleAccuracy, String> {
        Self::check_eps(eps)?;
        let model = &self
            .models
            .get(m)
            .ok_or_else(|| format!("no model {m}"))?
            .model;
        let end = (start + count).min(self.digits.len());
        if start >= end || draws == 0 || (end - start) * draws > 1000 {
            return Err(format!(
                "digits {start}..{end} × {draws} draws: need 1 to 1000 samples"
            ));
        }
        let d = self.digits.example_len();
        let n = (end - start) * draws;
        let x = Tensor::<2>::from_data(
            TensorData::new(self.digits.x[start * d..end * d].to_vec(), [end - start, d]),
            &self.device,
        );
        // Each digit repeated `draws` times: [n, D].
        let x = x
            .unsqueeze_dim::<3>(1)
            .expand([end - start, draws, d])
            .reshape([n, d]);
        let labels: Vec<i32> = self.digits.labels[start..end]
            .iter()
            .flat_map(|&l| std::iter::repeat_n(l as i32, draws))
            .collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &self.device);
        ballast_core::host_rng::seed(seed);
        let u = gaussian_in_ball(n, self.latent_dim(), eps, &self.device);
        let images = self.set.perturb(x, u);
        let pred = model.forward(images, Mode::Eval).argmax(1).reshape([n]);
        Ok(PendingSampleAccuracy {
            eps,
            samples: n,
            correct: pred.equal(y).float().sum(),
        })
    }
}

impl PendingImages {
    pub async fn read(self) -> Result<ImagesOutcome, String> {
        let [n, _] = self.images.dims();
        let images = read_f32(self.images).await?;
        let mut predictions = Vec::new();
        for p in self.preds {
            let probs = read_f32(p).await?;
            let k = probs.len() / n.max(1);
            predictions.push(probs.chunks(k.max(1)).map(argmax).collect());
        }
        Ok(ImagesOutcome {
            count: n,
            images,
            predictions,
        })
    }
}

impl PendingLatentAttack {
    pub async fn read(self) -> Result<LatentAttackOutcome, String> {
        let adv = read_f32(self.adv).await?;
        let u = read_f32(self.u).await?;
        let clean_probs = read_f32(self.clean_probs).await?;
        let adv_probs = read_f32(self.adv_probs).await?;
        Ok(LatentAttackOutcome {
            u_norm: u.iter().map(|v| v * v).sum::<f32>().sqrt(),
            clean_pred: argmax(&clean_probs),
            adv_pred: argmax(&adv_probs),
            adv,
            u,
            clean_probs,
            adv_probs,
        })
    }
}

impl PendingSampleAccuracy {
    pub async fn read(self) -> Result<SampleAccuracy, String> {
        let c = read_f32(self.correct).await?;
        Ok(SampleAccuracy {
            eps: self.eps,
            samples: self.samples,
            correct: c.first().copied().unwrap_or(0.0).round() as usize,
        })
    }
}
