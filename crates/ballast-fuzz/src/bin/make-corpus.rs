//! Writes the seed corpora (`crates/ballast-fuzz/corpus/<target>/`): small valid inputs of each
//! format, so that fuzzing starts from files the parsers accept.
//!
//! ```sh
//! cargo run -p ballast-fuzz --bin make-corpus
//! ```
//!
//! Model files (burnpack, safetensors, the manifest's model) hold freshly initialised weights,
//! so rerunning it changes their bytes but not their structure.

use std::io::Write;
use std::path::Path;

use ballast_core::manifest::{Manifest, ModelEntry};
use ballast_data::encode_idx;
use ballast_fuzz::{corpus_dir, fuzz_input, fuzz_model, fuzz_model_config};
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut written = 0usize;
    let mut put = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        written += bytes.len();
        Ok(())
    };

    // IDX: raw and gzip images and labels, and an images+labels pair for `mnist_from_idx`.
    let images = encode_idx(&[2, 3, 3], &(0..18).map(|i| i * 14).collect::<Vec<u8>>())?;
    let labels = encode_idx(&[2], &[3, 9])?;
    put("idx", "images-2x3x3.idx", &images)?;
    put("idx", "labels-2.idx", &labels)?;
    put("idx", "images-2x3x3.idx.gz", &gzip(&images)?)?;
    put("idx", "labels-2.idx.gz", &gzip(&labels)?)?;
    put("idx", "mnist-pair.bin", &mnist_pair(false)?)?;
    put("idx", "mnist-pair-gz.bin", &mnist_pair(true)?)?;

    // CIFAR: two CIFAR-10 records (label, 3072 pixels) and one CIFAR-100 record (coarse,
    // fine, pixels).
    let mut c10 = Vec::new();
    for (label, base) in [(3u8, 0u8), (9, 100)] {
        c10.push(label);
        c10.extend((0..3072u32).map(|i| base.wrapping_add((i % 251) as u8)));
    }
    put("cifar", "cifar10-2.bin", &c10)?;
    let mut c100 = vec![7u8, 42];
    c100.extend((0..3072u32).map(|i| (i % 253) as u8));
    put("cifar", "cifar100-1.bin", &c100)?;

    // SVHN: a MAT v5 file with X (uint8 32x32x3x1) and y (double 1x1), plain and compressed.
    let x: Vec<u8> = (0..3072u32).map(|i| (i % 256) as u8).collect();
    let vars = [
        matrix("X", 9, &[32, 32, 3, 1], 2, &x),
        matrix("y", 6, &[1, 1], 9, &10f64.to_le_bytes()),
    ];
    put("svhn", "svhn-1.mat", &mat_file(&vars, false)?)?;
    put("svhn", "svhn-1-compressed.mat", &mat_file(&vars, true)?)?;

    // Model files of the fuzz model.
    let model = fuzz_model();
    let bpk = ballast_core::record::module_bytes(&model)?;
    put("burnpack", "mlp-4-3-2.bpk", &bpk)?;
    put(
        "safetensors",
        "mlp-4-3-2.safetensors",
        &ballast_train::checkpoint::safetensors_bytes(&model)?,
    )?;

    // Manifest: the fuzz model's entry, a NUL, its burnpack file; and the shipped manifest.
    let entry = ModelEntry {
        name: "fuzz-mlp".into(),
        file: "fuzz-mlp.bpk".into(),
        sha256: ballast_data::sha256_hex(&bpk),
        content_digest: None,
        bytes: bpk.len() as u64,
        method: "erm".into(),
        model: fuzz_model_config(),
        input: fuzz_input(),
        dataset: "blobs".into(),
        training_config: "method = \"erm\"\n".into(),
        clean_test_accuracy: Some(0.5),
        clean_test_examples: Some(10),
        robust: Vec::new(),
        checkpoint: "best".into(),
        burn_version: "0.22.1".into(),
        ballast_version: "0.1.0".into(),
        perturbation_set: None,
    };
    let manifest = Manifest {
        models: vec![entry],
        ..Manifest::default()
    };
    let mut m = serde_json::to_vec_pretty(&manifest)?;
    m.push(0);
    m.extend_from_slice(&bpk);
    put("manifest", "fuzz-mlp.json+bpk", &m)?;
    put(
        "manifest",
        "web-assets-manifest.json",
        &std::fs::read(root.join("web/assets/manifest.json"))?,
    )?;

    // Run configs: every shipped config, and one with `--set` overrides after a NUL.
    let mut configs: Vec<_> = std::fs::read_dir(root.join("configs"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    configs.sort();
    for path in configs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.toml");
        put("toml_config", name, &std::fs::read(path)?)?;
    }
    let mut with_sets = std::fs::read(root.join("configs/quickstart.toml"))?;
    with_sets.extend_from_slice(b"\0model.width=0.5\ntrain.epochs=2\ndata.dataset=\"moons\"");
    put("toml_config", "quickstart-with-sets.bin", &with_sets)?;

    println!(
        "wrote {written} bytes of seeds under {}",
        corpus_dir("").display()
    );
    Ok(())
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes)?;
    e.finish()
}

/// A byte whose cut (`b * len / 256`, see `ballast_fuzz::idx`) splits the rest of the input into
/// an images file and a labels file, followed by the two (each gzip'd if asked).
fn mnist_pair(gz: bool) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    for n in 1..64usize {
        let pixels: Vec<u8> = (0..n * 4).map(|i| (i * 37 % 256) as u8).collect();
        let mut images = encode_idx(&[n, 2, 2], &pixels)?;
        let mut labels = encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>())?;
        if gz {
            images = gzip(&images)?;
            labels = gzip(&labels)?;
        }
        let total = 1 + images.len() + labels.len();
        if let Some(b) = (0..=255u8).find(|&b| usize::from(b) * total / 256 == images.len()) {
            let mut out = vec![b];
            out.extend_from_slice(&images);
            out.extend_from_slice(&labels);
            return Ok(out);
        }
    }
    Err("no cut byte splits an MNIST pair".into())
}

/// A little-endian MAT v5 data element: tag (type, size), data, padding to 8 bytes.
fn element(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len() + 7);
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(8), 0);
    out
}

/// A miMATRIX element: a real array of MATLAB class `class`, its values stored as MAT type
/// `data_type` (raw little-endian bytes).
fn matrix(name: &str, class: u8, dims: &[i32], data_type: u32, values: &[u8]) -> Vec<u8> {
    const MI_INT8: u32 = 1;
    const MI_INT32: u32 = 5;
    const MI_UINT32: u32 = 6;
    const MI_MATRIX: u32 = 14;
    let mut body = element(MI_UINT32, &[class, 0, 0, 0, 0, 0, 0, 0]);
    let dims: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
    body.extend(element(MI_INT32, &dims));
    body.extend(element(MI_INT8, name.as_bytes()));
    body.extend(element(data_type, values));
    element(MI_MATRIX, &body)
}

/// A MAT v5 file: a 128-byte header ("IM": little-endian), then the elements, each wrapped in
/// a miCOMPRESSED (zlib) element if asked.
fn mat_file(elements: &[Vec<u8>], compressed: bool) -> std::io::Result<Vec<u8>> {
    const MI_COMPRESSED: u32 = 15;
    let mut header = b"MATLAB 5.0 MAT-file, written by ballast-fuzz make-corpus".to_vec();
    header.resize(116, b' ');
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&[0x00, 0x01, b'I', b'M']);
    for e in elements {
        if compressed {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
            z.write_all(e)?;
            let z = z.finish()?;
            // Compressed elements are not padded.
            header.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
            header.extend_from_slice(&(z.len() as u32).to_le_bytes());
            header.extend_from_slice(&z);
        } else {
            header.extend_from_slice(e);
        }
    }
    Ok(header)
}
