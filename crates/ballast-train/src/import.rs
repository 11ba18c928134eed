//! Models trained elsewhere: a PyTorch `state_dict` (a `torch.save` file, read by burn-store's
//! PyTorch reader) or a safetensors file, loaded into one of Ballast's architectures so that
//! `ballast attack` can evaluate it. The normalisation the model was trained with is given
//! explicitly and placed inside the model, so attacks still work on inputs in [0, 1].
//!
//! Tensor names follow PyTorch's `state_dict` keys. Ballast's own safetensors export uses the
//! same names as the loader expects (`convs.0.weight`, `head.weight`, ...); other layouts are
//! mapped with regex renames, and tensors Ballast has no place for (normalisation buffers,
//! auxiliary heads) must be skipped by name: every tensor of the file is either loaded or
//! explicitly skipped, and every parameter of the model is loaded, or the import fails.

use crate::config::{DataConfig, DatasetName, RunConfig};
use crate::data::PreparedData;
use crate::error::{Result, TrainError, bail};
use ballast_core::Classifier;
use ballast_core::models::{InputSpec, ModelConfig};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::DType;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What to import and how to read it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportSpec {
    /// A `torch.save` file (`.pt`, `.pth`, `.bin`, ...) or a `.safetensors` file.
    pub path: PathBuf,
    /// Architecture and size (`arch`, `width`, `depth`, `widen`).
    pub model: ModelConfig,
    pub dataset: DatasetName,
    /// The normalisation the model was trained with, per channel (one value: every channel).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Key of the `state_dict` inside a `torch.save`d dictionary (e.g. `state_dict`,
    /// `model_state_dict`); none: the file is the `state_dict` itself.
    pub state_dict_key: Option<String>,
    /// (regex, replacement) renames applied to the file's keys in order (`$1` refers to groups).
    pub renames: Vec<(String, String)>,
    /// Regexes of the file's keys (after renaming) to leave out.
    pub skip: Vec<String>,
}

/// Where an imported model came from, for reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportRecord {
    /// `pytorch` (torch.save) or `safetensors`.
    pub format: String,
    pub sha256: String,
    /// The import as given, its normalisation expanded to one value per channel.
    #[serde(flatten)]
    pub spec: ImportSpec,
    /// Tensors the file holds that were left out (skipped, or BatchNorm's
    /// `num_batches_tracked`, which inference does not use).
    pub skipped_tensors: Vec<String>,
    /// Tensors loaded into the model.
    pub loaded_tensors: usize,
}

/// The format of `path`, by its extension.
fn format_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => "safetensors",
        _ => "pytorch",
    }
}

fn compile(patterns: &[String], what: &str) -> Result<Vec<Regex>> {
    patterns
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|e| TrainError::msg(format!("{what} `{p}` is not a regex: {e}")))
        })
        .collect()
}

impl ImportSpec {
    /// The run config an imported model is evaluated under: its dataset (test split as is,
    /// no validation split carved out) and its model.
    pub fn run_config(&self) -> Result<RunConfig> {
        let mut cfg = RunConfig::parse("method = \"erm\"", &[])?;
        cfg.data = DataConfig {
            dataset: self.dataset,
            val_size: 0,
            ..DataConfig::default()
        };
        cfg.model = self.model.clone();
        Ok(cfg)
    }

    /// The model's input: the dataset's shape and classes with the given normalisation
    /// (one value applies to every channel).
    fn input_spec(&self, data: &InputSpec) -> Result<InputSpec> {
        let channels = data.image_shape()[0];
        let per_channel = |v: &[f32], name: &str| -> Result<Vec<f32>> {
            match v.len() {
                1 => Ok(vec![v[0]; channels]),
                n if n == channels => Ok(v.to_vec()),
                n => bail!(
                    "--{name}: {} has {channels} channel(s); give one value or {channels}, not {n}",
                    format!("{:?}", self.dataset)
                ),
            }
        };
        let input = InputSpec {
            mean: per_channel(&self.mean, "mean")?,
            std: per_channel(&self.std, "std")?,
            ..data.clone()
        };
        input.validate(self.model.arch)?;
        Ok(input)
    }
}

/// Loads the model `spec` names on `device`, with its run config and import record.
pub fn import_model(
    spec: &ImportSpec,
    data_dir: &Path,
    device: &Device,
) -> Result<(RunConfig, Classifier, ImportRecord)> {
    if !spec.path.is_file() {
        bail!("{} does not exist or is not a file", spec.path.display());
    }
    let cfg = spec.run_config()?;
    let data = PreparedData::prepare(&cfg, data_dir)?;
    let input = spec.input_spec(&data.input)?;
    let (model, record) = import_for_input(spec, &input, device)?;
    Ok((cfg, model, record))
}

/// Loads the model `spec` names for inputs `input` (shape, classes, normalisation).
pub fn import_for_input(
    spec: &ImportSpec,
    input: &InputSpec,
    device: &Device,
) -> Result<(Classifier, ImportRecord)> {
    let mut model = spec.model.init(input, device);
    let skip = compile(&spec.skip, "--skip")?;
    let remapper = KeyRemapper::from_patterns(spec.renames.clone())
        .map_err(|e| TrainError::msg(format!("--rename: not a regex: {e}")))?;
    let format = format_of(&spec.path);
    let result = match format {
        "safetensors" => {
            if spec.state_dict_key.is_some() {
                bail!("--state-dict-key applies to torch.save files, not safetensors");
            }
            let mut store = SafetensorsStore::from_file(&spec.path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .remap(remapper)
                .skip_enum_variants(true)
                .validate(false)
                .allow_partial(true);
            model.load_from(&mut store).map_err(|e| {
                TrainError::msg(format!(
                    "cannot read {} as safetensors: {e}",
                    spec.path.display()
                ))
            })?
        }
        _ => {
            // Keys stay the file's own (no renumbering of Sequential indices), so renames and
            // messages use the names `state_dict.keys()` shows in PyTorch.
            let mut store = PytorchStore::from_file(&spec.path)
                .map_indices_contiguous(false)
                .remap(remapper)
                .validate(false)
                .allow_partial(true);
            if let Some(key) = &spec.state_dict_key {
                store = store.with_top_level_key(key);
            }
            model.load_from(&mut store).map_err(|e| {
                TrainError::msg(format!(
                    "cannot read {} as a PyTorch checkpoint (a state_dict saved with torch.save): {e}",
                    spec.path.display()
                ))
            })?
        }
    };
    let skipped_tensors = check_complete(&result, &skip, spec, input)?;
    // Tensors keep the file's dtype (f16, bf16, f64 checkpoints); Ballast computes in f32.
    let model = model.map(&mut ToF32);
    let record = ImportRecord {
        format: format.to_string(),
        sha256: crate::checkpoint::file_sha256(&spec.path)?,
        spec: ImportSpec {
            mean: input.mean.clone(),
            std: input.std.clone(),
            ..spec.clone()
        },
        skipped_tensors,
        loaded_tensors: result.applied.len(),
    };
    Ok((model, record))
}

/// Casts every float tensor of a module (parameters and running statistics) to f32.
struct ToF32;

impl ModuleMapper for ToF32 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.val().dtype() == DType::F32 {
            return param;
        }
        param.map(|t| t.cast(DType::F32))
    }
}

/// Every parameter loaded, every tensor of the file used or skipped, shapes right; returns
/// the skipped tensors.
fn check_complete(
    result: &ApplyResult,
    skip: &[Regex],
    spec: &ImportSpec,
    input: &InputSpec,
) -> Result<Vec<String>> {
    let file = spec.path.display();
    let name = |v: serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let arch = name(serde_json::to_value(spec.model.arch)?);
    let dataset = name(serde_json::to_value(spec.dataset)?);
    if !result.errors.is_empty() {
        let list: Vec<String> = result.errors.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "{file} does not fit Ballast's {arch} of width {} for {dataset} ({} classes; shapes \
             in Burn's layout, Linear weights [in, out]):\n{}\ncheck --arch, --width, --depth, \
             --widen and --dataset",
            spec.model.width,
            input.num_classes,
            list.join("\n")
        );
    }
    let (skipped, unused): (Vec<&String>, Vec<&String>) = result
        .unused
        .iter()
        .partition(|k| k.ends_with("num_batches_tracked") || skip.iter().any(|r| r.is_match(k)));
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        let list: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        problems.push(format!(
            "Ballast's {arch} needs tensors {file} does not have: {}",
            list.join(", ")
        ));
    }
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        problems.push(format!(
            "{file} has tensors Ballast's {arch} has no place for: {}",
            list.join(", ")
        ));
    }
    if !problems.is_empty() {
        let mut hint = String::from(
            "map the file's names onto Ballast's with --rename 'REGEX=REPLACEMENT' (repeatable, e.g. \
             --rename '^module\\.=' for a DataParallel model) and leave out tensors the model does \
             not use with --skip REGEX",
        );
        if spec.state_dict_key.is_none() && !unused.is_empty() {
            let firsts: std::collections::BTreeSet<&str> =
                unused.iter().filter_map(|k| k.split('.').next()).collect();
            let nested = firsts.len() == 1 && firsts.iter().all(|f| f.parse::<usize>().is_err());
            if nested && result.applied.is_empty() {
                hint.push_str(&format!(
                    "; every key starts with `{}.`: is the state_dict stored under that key? (--state-dict-key {})",
                    firsts.first().unwrap(),
                    firsts.first().unwrap()
                ));
            }
        }
        bail!("{}\n{hint}", problems.join("\n"));
    }
    Ok(skipped.into_iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::models::{Arch, Mode};
    use burn::prelude::*;

    /// The fixtures of `tests/fixtures/pytorch/make.py`: a quarter-width small CNN trained by
    /// PyTorch, and its logits on four synthetic inputs.
    fn fixture(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/pytorch")
            .join(file)
    }

    fn mnist_input() -> InputSpec {
        InputSpec {
            shape: vec![1, 28, 28],
            num_classes: 10,
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    fn small_cnn_spec(file: &str) -> ImportSpec {
        ImportSpec {
            path: fixture(file),
            model: ModelConfig {
                arch: Arch::SmallCnn,
                width: 0.25,
                ..ModelConfig::default()
            },
            dataset: DatasetName::Mnist,
            mean: vec![0.1307],
            std: vec![0.3081],
            state_dict_key: None,
            renames: vec![],
            skip: vec![],
        }
    }

    /// The `nn.Sequential` layout of the paper's code onto Ballast's names.
    fn sequential_renames() -> Vec<(String, String)> {
        [
            ("^0\\.", "convs.0."),
            ("^2\\.", "convs.1."),
            ("^5\\.", "fc."),
            ("^7\\.", "head."),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    /// Logits of `model` on the fixture's synthetic inputs against PyTorch's, to `rel`.
    fn assert_pytorch_logits(model: &Classifier, device: &Device) {
        assert_pytorch_logits_within(model, device, 1e-4);
    }

    fn assert_pytorch_logits_within(model: &Classifier, device: &Device, rel: f64) {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("small-cnn-w025.json")).unwrap())
                .unwrap();
        let expected: Vec<Vec<f64>> =
            serde_json::from_value(record["synthetic_logits"].clone()).unwrap();
        let pixels: Vec<f32> = (0..expected.len())
            .flat_map(|k| (0..784).map(move |i| ((37 * i + 101 * k) % 256) as f32 / 255.0))
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(pixels, [expected.len(), 784]), device);
        let got = model
            .forward(x, Mode::Eval)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (k, row) in expected.iter().enumerate() {
            for (j, &want) in row.iter().enumerate() {
                let have = got[k * 10 + j] as f64;
                assert!(
                    (have - want).abs() <= rel * (1.0 + want.abs()),
                    "input {k}, class {j}: Ballast {have}, PyTorch {want}"
                );
            }
        }
    }

    #[test]
    fn a_torch_save_state_dict_gives_pytorchs_logits() {
        let device = Device::flex();
        let spec = ImportSpec {
            state_dict_key: Some("state_dict".into()),
            renames: sequential_renames(),
            ..small_cnn_spec("small-cnn-w025.pt")
        };
        let (model, record) = import_for_input(&spec, &mnist_input(), &device).unwrap();
        assert_eq!(record.format, "pytorch");
        assert_eq!(record.loaded_tensors, 8);
        assert!(record.skipped_tensors.is_empty());
        assert_pytorch_logits(&model, &device);
    }

    #[test]
    fn a_safetensors_file_gives_pytorchs_logits_with_its_buffers_skipped() {
        let device = Device::flex();
        let spec = ImportSpec {
            skip: vec!["^norm\\.".into()],
            ..small_cnn_spec("small-cnn-w025.safetensors")
        };
        let (model, record) = import_for_input(&spec, &mnist_input(), &device).unwrap();
        assert_eq!(record.format, "safetensors");
        assert_eq!(record.skipped_tensors, vec!["norm.mean", "norm.std"]);
        assert_pytorch_logits(&model, &device);
    }

    /// A half-precision checkpoint loads into the f32 model (its tensors cast on load) and
    /// gives PyTorch's f32 logits up to f16 rounding of the weights.
    #[test]
    fn a_half_precision_checkpoint_is_cast_to_f32() {
        let device = Device::flex();
        let spec = ImportSpec {
            state_dict_key: Some("state_dict".into()),
            renames: sequential_renames(),
            ..small_cnn_spec("small-cnn-w025-f16.pt")
        };
        let (model, _) = import_for_input(&spec, &mnist_input(), &device).unwrap();
        struct Dtypes(Vec<DType>);
        impl burn::module::ModuleVisitor for Dtypes {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(param.val().dtype());
            }
        }
        let mut dtypes = Dtypes(Vec::new());
        model.visit(&mut dtypes);
        assert!(
            !dtypes.0.is_empty() && dtypes.0.iter().all(|&d| d == DType::F32),
            "{:?}",
            dtypes.0
        );
        assert_pytorch_logits_within(&model, &device, 2e-2);
    }

    #[test]
    fn unplaced_missing_and_misshapen_tensors_are_named() {
        let device = Device::flex();
        let input = mnist_input();
        let err = |spec: ImportSpec| {
            import_for_input(&spec, &input, &device)
                .unwrap_err()
                .to_string()
        };
        // Buffers Ballast has no place for, unless skipped.
        let e = err(small_cnn_spec("small-cnn-w025.safetensors"));
        assert!(
            e.contains("no place for: norm.mean, norm.std") && e.contains("--skip"),
            "{e}"
        );
        // The nested state_dict without its key: every Ballast tensor missing, and a hint.
        let e = err(small_cnn_spec("small-cnn-w025.pt"));
        assert!(
            e.contains("needs tensors")
                && e.contains("convs.0.weight")
                && e.contains("--state-dict-key state_dict"),
            "{e}"
        );
        // A renamed layout that leaves one layer unmapped.
        let e = err(ImportSpec {
            state_dict_key: Some("state_dict".into()),
            renames: sequential_renames()[..3].to_vec(),
            ..small_cnn_spec("small-cnn-w025.pt")
        });
        assert!(e.contains("head.weight") && e.contains("7.weight"), "{e}");
        // The wrong width: every shape named.
        let e = err(ImportSpec {
            model: ModelConfig::of(Arch::SmallCnn),
            skip: vec!["^norm\\.".into()],
            ..small_cnn_spec("small-cnn-w025.safetensors")
        });
        assert!(
            e.contains("does not fit") && e.contains("convs.0.weight") && e.contains("--width"),
            "{e}"
        );
        // Not a checkpoint at all.
        let e = err(ImportSpec {
            path: fixture("make.py"),
            ..small_cnn_spec("make.py")
        });
        assert!(e.contains("cannot read") && e.contains("make.py"), "{e}");
        // A bad regex.
        let e = err(ImportSpec {
            skip: vec!["(".into()],
            ..small_cnn_spec("small-cnn-w025.safetensors")
        });
        assert!(e.contains("--skip `(`"), "{e}");
    }

    #[test]
    fn one_normalisation_value_covers_every_channel_and_wrong_counts_are_named() {
        let spec = ImportSpec {
            path: PathBuf::from("x.pt"),
            model: ModelConfig {
                arch: Arch::PreactResnet18,
                ..ModelConfig::default()
            },
            dataset: DatasetName::Cifar10,
            mean: vec![0.5],
            std: vec![0.25],
            state_dict_key: None,
            renames: vec![],
            skip: vec![],
        };
        let data = InputSpec {
            shape: vec![3, 32, 32],
            num_classes: 10,
            mean: vec![0.4, 0.4, 0.4],
            std: vec![0.2, 0.2, 0.2],
        };
        let input = spec.input_spec(&data).unwrap();
        assert_eq!(input.mean, vec![0.5; 3]);
        assert_eq!(input.std, vec![0.25; 3]);
        let two = ImportSpec {
            mean: vec![0.5, 0.5],
            ..spec.clone()
        };
        let err = two.input_spec(&data).unwrap_err().to_string();
        assert!(err.contains("--mean") && err.contains("3 channel"), "{err}");
        let zero_std = ImportSpec {
            std: vec![0.0],
            ..spec
        };
        assert!(zero_std.input_spec(&data).is_err());
    }
}
