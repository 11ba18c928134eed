//! The JavaScript surface (wasm-bindgen). Thin: parse JSON controls, call the engines, hand
//! back JSON and typed arrays. The page loads a bundle in a Web Worker (web/js/engine-worker.js)
//! and calls these by message; device reads return Promises.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Promise, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::attack_lab::{AttackLab, LabAttack};
use crate::backend;
use crate::explorer::Explorer;
use crate::playground::{Playground, PlaygroundConfig};
use crate::shipped::mnist_subset;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, JsValue> {
    serde_json::to_string(v).map_err(js_err)
}

/// Turns Ballast's CPU kernels (convolution and max-pooling) on or off; off, the CPU backend
/// runs Burn's own operations (the page's `#cpu-kernels=off`, for side-by-side timing).
#[wasm_bindgen]
pub fn set_cpu_kernels(on: bool) {
    ballast_core::kernels::set_enabled(on);
}

/// Picks the compute backend ("auto", "webgpu" or "cpu"); resolves to its description (JSON).
#[wasm_bindgen]
pub async fn init_backend(choice: String) -> Result<String, JsValue> {
    json(&backend::select(&choice).await.map_err(js_err)?)
}

/// Default controls of both panels (JSON), so the page starts from the engines' defaults,
/// and the methods the playground trains (name, label, family, summary, from the core) with
/// each one's teaching state ([`PlaygroundConfig::teaching`]).
#[wasm_bindgen]
pub fn defaults() -> Result<String, JsValue> {
    json(&serde_json::json!({
        "playground": PlaygroundConfig::default(),
        "playground_methods": crate::playground::playground_methods()
            .iter()
            .map(|m| serde_json::json!({
                "name": m.name,
                "label": m.label,
                "family": m.family.label(),
                "summary": m.summary,
                "teaching": m.name.parse::<ballast_core::method::Method>()
                    .ok()
                    .map(PlaygroundConfig::teaching),
            }))
            .collect::<Vec<_>>(),
        "attack": LabAttack::default(),
    }))
}

/// The attack lab's models (`manifest`: the JSON of `assets/manifest.json`): JSON
/// `[{name, label}]`, in manifest order, each labelled by its training method's name in the
/// core registry (so a newly shipped model of any method appears with no page change).
#[wasm_bindgen]
pub fn attack_lab_models(manifest: &str) -> Result<String, JsValue> {
    let manifest: ballast_core::manifest::Manifest =
        serde_json::from_str(manifest).map_err(js_err)?;
    json(
        &manifest
            .attack_lab_models()
            .iter()
            .map(|m| {
                let label = m
                    .method
                    .parse::<ballast_core::Method>()
                    .map_or(m.method.as_str(), |method| method.label());
                serde_json::json!({ "name": m.name, "label": label })
            })
            .collect::<Vec<_>>(),
    )
}

/// Class colours (RGB triples), shared by the heatmaps and the page's legends.
#[wasm_bindgen]
pub fn palette() -> Vec<u8> {
    crate::render::PALETTE.iter().flatten().copied().collect()
}

#[wasm_bindgen]
pub struct PlaygroundHandle {
    inner: Rc<RefCell<Playground>>,
}

#[wasm_bindgen]
impl PlaygroundHandle {
    /// `config`: JSON of [`PlaygroundConfig`] (missing keys take defaults, unknown keys fail).
    #[wasm_bindgen(constructor)]
    pub fn new(config: &str) -> Result<PlaygroundHandle, JsValue> {
        let cfg: PlaygroundConfig = serde_json::from_str(config).map_err(js_err)?;
        let mnist = match cfg.dataset {
            crate::playground::DataKind::Mnist => Some(mnist_subset().map_err(js_err)?),
            _ => None,
        };
        let pg = Playground::new(cfg, mnist.as_ref(), &backend::device()).map_err(js_err)?;
        Ok(Self {
            inner: Rc::new(RefCell::new(pg)),
        })
    }

    /// `k` steps of both students.
    pub fn step(&self, k: usize) -> Result<(), JsValue> {
        self.inner
            .try_borrow_mut()
            .map_err(|_| js_err("the playground is busy"))?
            .step(k)
            .map_err(js_err)?;
        Ok(())
    }

    /// Steps taken by both students so far.
    pub fn steps_done(&self) -> usize {
        self.inner.borrow().steps_done()
    }

    /// The data (labels, flipped flags, bounds…) as JSON.
    pub fn data(&self) -> Result<String, JsValue> {
        json(&self.inner.borrow().data)
    }

    /// Training inputs, rows flattened (2 values per point, 784 per digit).
    pub fn train_x(&self) -> Vec<f32> {
        self.inner.borrow().data.train_x.clone()
    }

    /// Resolves to [view JSON, heatmap of the left model, heatmap of the right model]
    /// (Uint8ClampedArray RGBA, or null on MNIST).
    pub fn view(&self) -> Promise {
        let pending = self.inner.borrow().snapshot();
        future_to_promise(async move {
            let view = pending.read().await.map_err(js_err)?;
            let out = Array::new();
            out.push(&JsValue::from_str(&json(&view)?));
            for l in &view.learners {
                match &l.heatmap {
                    Some(px) => out.push(&Uint8ClampedArray::from(px.as_slice()).into()),
                    None => out.push(&JsValue::NULL),
                };
            }
            Ok(out.into())
        })
    }
}

/// Names and bytes of the shipped files the page fetched (`names[i]` owns `files[i]`).
fn named_files(names: Array, files: Array) -> Result<Vec<(String, Vec<u8>)>, JsValue> {
    let mut pairs = Vec::new();
    for (name, file) in names.iter().zip(files.iter()) {
        let name = name
            .as_string()
            .ok_or_else(|| js_err("file names must be strings"))?;
        let bytes = file
            .dyn_into::<Uint8Array>()
            .map_err(|_| js_err("files must be Uint8Arrays"))?
            .to_vec();
        pairs.push((name, bytes));
    }
    Ok(pairs)
}

#[wasm_bindgen]
pub struct ExplorerHandle {
    explorer: Rc<Explorer>,
}

#[wasm_bindgen]
impl ExplorerHandle {
    /// `manifest`: web/assets/manifest.json; `set`: the perturbation set's name; `names[i]`
    /// names the set or a classifier whose bytes are `files[i]` (Uint8Array).
    #[wasm_bindgen(constructor)]
    pub fn new(
        manifest: &str,
        set: &str,
        names: Array,
        files: Array,
    ) -> Result<ExplorerHandle, JsValue> {
        let manifest = serde_json::from_str(manifest).map_err(js_err)?;
        let (_, test) = mnist_subset().map_err(js_err)?;
        let explorer = Explorer::new(
            &backend::device(),
            &manifest,
            set,
            named_files(names, files)?,
            test,
        )
        .map_err(js_err)?;
        Ok(Self {
            explorer: Rc::new(explorer),
        })
    }

    /// Names of the linked classifiers, in model-index order (JSON array).
    pub fn model_names(&self) -> Result<String, JsValue> {
        json(
            &self
                .explorer
                .models
                .iter()
                .map(|m| (&m.entry.name, &m.entry.method))
                .collect::<Vec<_>>(),
        )
    }

    /// The slider point and `count − 1` random members of the ε-ball of `pixels`; resolves to
    /// images and each model's predictions (JSON).
    pub fn samples(
        &self,
        pixels: Vec<f32>,
        sliders: Vec<f32>,
        eps: f64,
        count: usize,
        seed: u64,
    ) -> Result<Promise, JsValue> {
        let pending = self
            .explorer
            .samples(&pixels, &sliders, eps, count, seed)
            .map_err(js_err)?;
        Ok(future_to_promise(async move {
            Ok(JsValue::from_str(&json(
                &pending.read().await.map_err(js_err)?,
            )?))
        }))
    }

    /// The latent attack on model `m` (`label` < 0: its own prediction); resolves to the
    /// transformed digit, u and the probabilities (JSON).
    pub fn attack(
        &self,
        m: usize,
        pixels: Vec<f32>,
        label: i32,
        eps: f64,
        steps: usize,
        seed: u64,
    ) -> Result<Promise, JsValue> {
        let label = (label >= 0).then_some(label as u32);
        let pending = self
            .explorer
            .attack(m, &pixels, label, eps, steps, seed)
            .map_err(js_err)?;
        Ok(future_to_promise(async move {
            Ok(JsValue::from_str(&json(
                &pending.read().await.map_err(js_err)?,
            )?))
        }))
    }

    /// Model `m`'s accuracy on random ε-ball members of shipped test digits (JSON).
    pub fn sample_accuracy(
        &self,
        m: usize,
        eps: f64,
        start: usize,
        count: usize,
        draws: usize,
        seed: u64,
    ) -> Result<Promise, JsValue> {
        let pending = self
            .explorer
            .sample_accuracy(m, eps, start, count, draws, seed)
            .map_err(js_err)?;
        Ok(future_to_promise(async move {
            Ok(JsValue::from_str(&json(
                &pending.read().await.map_err(js_err)?,
            )?))
        }))
    }
}

#[wasm_bindgen]
pub struct AttackLabHandle {
    lab: Rc<AttackLab>,
}

#[wasm_bindgen]
impl AttackLabHandle {
    /// `manifest`: web/assets/manifest.json; `names[i]` names the model whose bytes are
    /// `files[i]` (Uint8Array).
    #[wasm_bindgen(constructor)]
    pub fn new(manifest: &str, names: Array, files: Array) -> Result<AttackLabHandle, JsValue> {
        let manifest = serde_json::from_str(manifest).map_err(js_err)?;
        let mut pairs = Vec::new();
        for (name, file) in names.iter().zip(files.iter()) {
            let name = name
                .as_string()
                .ok_or_else(|| js_err("model names must be strings"))?;
            let bytes = file
                .dyn_into::<Uint8Array>()
                .map_err(|_| js_err("model files must be Uint8Arrays"))?
                .to_vec();
            pairs.push((name, bytes));
        }
        let (_, test) = mnist_subset().map_err(js_err)?;
        let lab = AttackLab::new(&backend::device(), &manifest, pairs, test).map_err(js_err)?;
        Ok(Self { lab: Rc::new(lab) })
    }

    /// Every shipped test digit, rows of 784 values in [0, 1] one after the other (the page
    /// keeps them, so picking a digit needs no call into the engine).
    pub fn all_digits(&self) -> Vec<f32> {
        self.lab.digits.x.clone()
    }

    /// The shipped test digits' labels, in order.
    pub fn all_labels(&self) -> Vec<u32> {
        self.lab.digits.labels.clone()
    }

    /// Attacks model `m` on `pixels` (784 values in [0, 1]); `label` < 0 attacks the model's
    /// own prediction. `attack`: JSON of [`LabAttack`]. Resolves to the outcome (JSON).
    pub fn attack(
        &self,
        m: usize,
        pixels: Vec<f32>,
        label: i32,
        attack: &str,
    ) -> Result<Promise, JsValue> {
        let lab_attack: LabAttack = serde_json::from_str(attack).map_err(js_err)?;
        let label = (label >= 0).then_some(label as u32);
        let pending = self
            .lab
            .attack(m, &pixels, label, &lab_attack)
            .map_err(js_err)?;
        Ok(future_to_promise(async move {
            let out = pending.read(&pixels).await.map_err(js_err)?;
            Ok(JsValue::from_str(&json(&out)?))
        }))
    }

    /// Attacks model `m` on shipped digits `start..start + count` at radius `eps`; resolves to
    /// clean / robust / flipped counts (JSON).
    pub fn attack_batch(
        &self,
        m: usize,
        attack: &str,
        eps: f64,
        start: usize,
        count: usize,
    ) -> Result<Promise, JsValue> {
        let lab_attack: LabAttack = serde_json::from_str(attack).map_err(js_err)?;
        let pending = self
            .lab
            .attack_batch(m, &lab_attack, eps, start, count)
            .map_err(js_err)?;
        Ok(future_to_promise(async move {
            let out = pending.read().await.map_err(js_err)?;
            Ok(JsValue::from_str(&json(&out)?))
        }))
    }
}
