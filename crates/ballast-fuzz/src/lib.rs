//! Fuzz targets for every parser and loader of Ballast that reads untrusted bytes.
//!
//! Each target is a plain function of the input bytes that must return normally on any input:
//! an error is a correct answer, a panic (or a broken invariant, checked with `assert!`) is a
//! bug. The same functions are driven three ways:
//!
//! - coverage-guided by AFL++ (`afl/`, its own Cargo workspace: one binary per target);
//! - by the seeded mutation harness of [`mutate`] (`cargo run -p ballast-fuzz --release --bin
//!   mutate -- --target idx --execs 1000000`), which needs no fuzzing engine;
//! - by `tests/corpus.rs` (a short run of each in `cargo test`): every committed corpus file,
//!   then a few thousand mutations of them.
//!
//! The seed corpora under `corpus/<target>/` are written by `cargo run -p ballast-fuzz --bin
//! make-corpus`. See docs/fuzzing.md.

pub mod mutate;

use std::cell::RefCell;
use std::path::PathBuf;

use ballast_core::manifest::{Manifest, ModelEntry, decode_model};
use ballast_core::models::{Arch, Classifier, InputSpec, Mode, ModelConfig};
use ballast_core::{Backend, Device};
use ballast_data::cifar100::Cifar100Labels;
use ballast_data::mat::{MatLimits, read_mat};
use ballast_data::{
    mnist_from_idx, parse_cifar10_bin, parse_cifar100_bin, parse_idx_with_limit, svhn_from_mat,
    write_cifar10_bin,
};
use ballast_train::import::{ImportSpec, import_for_input};
use burn::prelude::*;

/// A named fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order the docs list them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "idx",
        run: idx,
    },
    Target {
        name: "cifar",
        run: cifar,
    },
    Target {
        name: "svhn",
        run: svhn,
    },
    Target {
        name: "burnpack",
        run: burnpack,
    },
    Target {
        name: "safetensors",
        run: safetensors,
    },
    Target {
        name: "manifest",
        run: manifest,
    },
    Target {
        name: "toml_config",
        run: toml_config,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

/// The committed seed corpus of `target` (`corpus/<target>/`).
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Element cap for the IDX target: keeps every allocation small while still exercising the
/// cap check.
const IDX_MAX_ELEMENTS: u64 = 1 << 24;

/// IDX (raw and gzip) through `parse_idx_with_limit`, and an images/labels pair through
/// `mnist_from_idx`: a parsed array holds the product of its dimensions, raw input that
/// parses re-encodes to itself, an MNIST set validates.
pub fn idx(data: &[u8]) {
    if let Ok(array) = parse_idx_with_limit(data, IDX_MAX_ELEMENTS) {
        assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        if !data.starts_with(&[0x1f, 0x8b]) {
            assert_eq!(array.to_bytes().expect("re-encode"), data);
        }
    }
    // The first byte cuts the rest into an images file and a labels file. Kept small so the
    // default 2^31 element cap of `mnist_from_idx` cannot be reached by actual payload bytes.
    if data.len() > 1 && data.len() < 1 << 16 {
        let cut = usize::from(data[0]) * data.len() / 256;
        let (images, labels) = data[1..].split_at(cut.min(data.len() - 1));
        if let Ok(ds) = mnist_from_idx(images, labels, "fuzz") {
            assert!(ds.validate().is_ok());
        }
    }
}

/// CIFAR-10 binary batches (`parse_cifar10_bin`: accepted input re-encodes to the same bytes)
/// and CIFAR-100 ones (`parse_cifar100_bin`, fine and coarse labels).
pub fn cifar(data: &[u8]) {
    if let Ok(ds) = parse_cifar10_bin(data) {
        assert!(ds.validate().is_ok());
        assert_eq!(write_cifar10_bin(&ds), data);
    }
    for labels in [Cifar100Labels::Fine, Cifar100Labels::Coarse] {
        if let Ok(ds) = parse_cifar100_bin(data, labels) {
            assert!(ds.validate().is_ok());
        }
    }
}

/// MAT v5 files (`read_mat`, plain and compressed elements, either byte order) and the SVHN
/// decoder (`svhn_from_mat`): decoded arrays match their dimensions, a decoded set validates.
pub fn svhn(data: &[u8]) {
    let limits = MatLimits {
        max_array_bytes: 1 << 20,
        ..MatLimits::default()
    };
    if let Ok(file) = read_mat(data, &limits) {
        for a in &file.arrays {
            assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
        if let Ok(ds) = svhn_from_mat(&file, "fuzz") {
            assert!(ds.validate().is_ok());
        }
    }
}

/// The input of the fuzz model: 4 features, 2 classes.
pub fn fuzz_input() -> InputSpec {
    InputSpec {
        shape: vec![4],
        num_classes: 2,
        mean: vec![0.5],
        std: vec![0.25],
    }
}

/// The fuzz model's architecture: an MLP 4 → 3 → 2 (a few tensors, so loads are fast).
pub fn fuzz_model_config() -> ModelConfig {
    ModelConfig::mlp(&[3])
}

/// The CPU device the loaders use.
pub fn device() -> Device {
    Backend::Cpu
        .device()
        .expect("the flex CPU backend is compiled in")
}

thread_local! {
    static FUZZ_MODEL: RefCell<Option<Classifier>> = const { RefCell::new(None) };
}

/// A fresh copy of the fuzz model (built once per thread, then cloned).
pub fn fuzz_model() -> Classifier {
    FUZZ_MODEL.with(|m| {
        m.borrow_mut()
            .get_or_insert_with(|| fuzz_model_config().init(&fuzz_input(), &device()))
            .clone()
    })
}

/// Runs a one-example forward and checks the logits' shape.
fn check_forward(model: &Classifier, input: &InputSpec) {
    let d = input.features();
    let x = Tensor::<2>::full([1, d], 0.5, &device());
    let logits = model.forward(x, Mode::Eval);
    assert_eq!(logits.dims(), [1, input.num_classes]);
}

/// Burnpack bytes loaded into the fuzz model with `ballast_core::record::load_model_bytes`
/// (what checkpoints, shipped assets and method states use); a model that loads runs a
/// forward.
pub fn burnpack(data: &[u8]) {
    if let Ok(model) = ballast_core::record::load_model_bytes(fuzz_model(), data, "fuzz.bpk") {
        check_forward(&model, &fuzz_input());
    }
}

thread_local! {
    static SAFETENSORS_PATH: PathBuf = std::env::temp_dir().join(format!(
        "ballast-fuzz-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ).replace(['(', ')'], ""));
}

/// Safetensors bytes imported into the fuzz model by `ballast_train::import::import_for_input`,
/// the path `ballast attack --import x.safetensors` takes (it reads a file: the input is
/// written to a per-thread temporary file first); a model that loads runs a forward.
pub fn safetensors(data: &[u8]) {
    SAFETENSORS_PATH.with(|path| {
        if std::fs::write(path, data).is_err() {
            return;
        }
        let spec = ImportSpec {
            path: path.clone(),
            model: fuzz_model_config(),
            dataset: ballast_train::config::DatasetName::Blobs,
            mean: vec![0.5],
            std: vec![0.25],
            state_dict_key: None,
            renames: Vec::new(),
            skip: Vec::new(),
        };
        let input = fuzz_input();
        if let Ok((model, record)) = import_for_input(&spec, &input, &device()) {
            assert_eq!(record.format, "safetensors");
            check_forward(&model, &input);
        }
    });
}

/// Whether building `entry`'s model is cheap enough for one fuzz execution: small inputs and
/// the small architectures only (the manifest is trusted to name models the page can hold; the
/// fuzzer checks parsing and loading, not memory exhaustion by a huge declared model).
fn cheap(entry: &ModelEntry) -> bool {
    let input = &entry.input;
    let Some(features) = input
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
    else {
        return false;
    };
    let image_ok = match input.shape.as_slice() {
        [c, h, w] => *c <= 3 && *h <= 32 && *w <= 32,
        [_] => true,
        _ => false,
    };
    let m = &entry.model;
    let arch_ok = match m.arch {
        Arch::Mlp => m.width <= 8.0 && m.hidden.len() <= 4 && m.hidden.iter().all(|&h| h <= 256),
        Arch::Lenet | Arch::SmallCnn => m.width <= 1.0,
        _ => false,
    };
    features <= 3 * 32 * 32
        && image_ok
        && input.num_classes <= 1000
        && input.mean.len() <= features
        && arch_ok
}

/// The web manifest (`web/assets/manifest.json`): the input up to its first NUL byte is the
/// JSON, the rest the bytes of a model file. A manifest that parses serialises again; every
/// (cheap) model entry is rebuilt with `decode_model` from the file bytes, and a
/// model that loads runs a forward.
pub fn manifest(data: &[u8]) {
    let (json, file) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(json) else {
        return;
    };
    // No round-trip check: serde_json may move a long decimal by one ulp on the way back, and
    // an out-of-range f32 (`1e39`) parses as infinity and is written as `null` (both found by
    // AFL++; neither is Ballast's, and the page never rewrites its manifest).
    serde_json::to_string(&manifest).expect("a parsed manifest serialises");
    let _ = manifest.attack_lab_models();
    for entry in manifest.models.iter().take(4) {
        assert!(manifest.model(&entry.name).is_some());
        if !cheap(entry) {
            continue;
        }
        // As the page loads it (the file's sha256 and content digest checked first), then
        // with the sha256 the file has, so that mutated files reach the decoder too.
        if let Ok(model) = decode_model(entry, file, &device()) {
            check_forward(&model, &entry.input);
        }
        let matching = ModelEntry {
            sha256: ballast_data::sha256_hex(file),
            ..entry.clone()
        };
        if let Ok(model) = decode_model(&matching, file, &device()) {
            check_forward(&model, &entry.input);
        }
    }
}

/// Run configs: the input (as UTF-8, lossily) up to its first NUL is the TOML text, each line
/// after it one `--set key=value` override, through `RunConfig::parse`.
pub fn toml_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (toml, overrides) = match text.split_once('\0') {
        Some((t, o)) => (t, o.lines().map(str::to_string).take(8).collect()),
        None => (text.as_ref(), Vec::new()),
    };
    let _ = ballast_train::RunConfig::parse(toml, &overrides);
}
