//! Checks against the real MNIST and Fashion-MNIST files.
//!
//! Runs only when `BALLAST_DATA_DIR` names a cache folder that holds the
//! fetched data (`<dir>/mnist/`, `<dir>/fashion-mnist/`), e.g. after
//! `cargo run -p ballast-data --example fetch -- /tmp/ballast-data-cache`:
//!
//! ```text
//! BALLAST_DATA_DIR=/tmp/ballast-data-cache cargo test -p ballast-data --test real_data
//! ```
//!
//! Without it (or for a data set that folder lacks) the test prints a skip
//! note and passes, so offline CI stays green. It never downloads: fetch runs
//! with the registry and HTTP routes disabled and must find the files locally.
#![cfg(feature = "fetch")]

use std::io::Write;
use std::path::{Path, PathBuf};

use ballast_data::fetch::IDX_FILES;
use ballast_data::{Dataset, FetchOptions, Source, fetch, load};
use flate2::{Compression, write::GzEncoder};

fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("BALLAST_DATA_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipping real-data checks: BALLAST_DATA_DIR is not set");
            None
        }
    }
}

fn local_only(data_dir: Option<&Path>) -> FetchOptions {
    FetchOptions {
        data_dir: data_dir.map(Path::to_path_buf),
        registry: false,
        http: false,
        ..FetchOptions::default()
    }
}

/// Fetches `source` from the local cache and loads it, or `None` (with a note)
/// when the cache does not hold it.
fn fetch_local(source: Source, root: &Path) -> Option<(Dataset, Dataset)> {
    if !root.join(source.dir_name()).is_dir() {
        eprintln!(
            "skipping {source}: {} does not exist",
            root.join(source.dir_name()).display()
        );
        return None;
    }
    let dir = fetch(source, root, &local_only(None)).expect("fetch from the local cache");
    Some(load(source, &dir).expect("load"))
}

#[test]
fn real_mnist_sanity_facts() {
    let Some(root) = data_dir() else { return };
    let Some((train, test)) = fetch_local(Source::Mnist, &root) else {
        return;
    };
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.example_shape, vec![1, 28, 28]);
    assert_eq!(train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(
        train.class_counts(),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let mean = train.feature_mean();
    assert!((mean - 0.1307).abs() < 5e-5, "mean {mean}");
    assert!(train.x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(train.name, "mnist-train");

    // The gzip local-folder route reproduces the same verified files.
    let gz_dir = tempfile::tempdir().unwrap();
    for name in IDX_FILES {
        let raw = std::fs::read(root.join("mnist").join(name)).unwrap();
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&raw).unwrap();
        std::fs::write(
            gz_dir.path().join(format!("{name}.gz")),
            e.finish().unwrap(),
        )
        .unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let dir = fetch(
        Source::Mnist,
        cache.path(),
        &local_only(Some(gz_dir.path())),
    )
    .unwrap();
    assert_eq!(dir, cache.path().join("mnist"));
    for name in IDX_FILES {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(root.join("mnist").join(name)).unwrap()
        );
    }
}

#[test]
fn real_fashion_mnist_sanity_facts() {
    let Some(root) = data_dir() else { return };
    let Some((train, test)) = fetch_local(Source::FashionMnist, &root) else {
        return;
    };
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    assert_eq!(train.labels[..10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    let (mean, std) = (train.feature_mean(), train.feature_std());
    assert!((mean - 0.2860).abs() < 5e-5, "mean {mean}");
    assert!((std - 0.3530).abs() < 5e-5, "std {std}");
    assert_eq!(test.name, "fashion-mnist-test");
}
