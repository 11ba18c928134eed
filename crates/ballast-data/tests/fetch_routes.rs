//! Offline checks of the fetch routes: local folders (raw and gzip), hash
//! mismatches, and the combined error when every route fails. No test here
//! touches the network or runs npm / apt-get.
#![cfg(feature = "fetch")]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ballast_data::fetch::IDX_FILES;
use ballast_data::{FetchError, FetchOptions, Source, encode_idx, fetch, load};
use flate2::{Compression, write::GzEncoder};

fn offline(data_dir: Option<&Path>) -> FetchOptions {
    FetchOptions {
        data_dir: data_dir.map(Path::to_path_buf),
        registry: false,
        http: false,
        ..FetchOptions::default()
    }
}

/// Writes small, well-formed but wrong IDX files (their hashes cannot match).
fn write_fake_files(dir: &Path, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for name in IDX_FILES {
        let bytes = if name.contains("images") {
            encode_idx(&[2, 28, 28], &[7; 2 * 28 * 28]).unwrap()
        } else {
            encode_idx(&[2], &[1, 2]).unwrap()
        };
        if gzip {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(&bytes).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), e.finish().unwrap()).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn every_failed_route_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(Source::Mnist, cache.path(), &offline(None)).unwrap_err();
    let FetchError::AllRoutesFailed { dataset, attempts } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(dataset, "mnist");
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts[0].contains("train-images-idx3-ubyte"));
    assert!(attempts[1].contains("registry packages: disabled"));
    assert!(attempts[2].contains("HTTP mirrors: disabled"));
    let msg = err.to_string();
    assert!(msg.starts_with("could not obtain mnist"), "{msg}");
    assert_eq!(msg.lines().count(), 4, "{msg}");
}

#[test]
fn unreachable_mirrors_are_listed_with_their_urls() {
    let cache = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: refused immediately, no real network used.
    let opts = FetchOptions {
        http: true,
        mirrors: Some(vec![
            "http://127.0.0.1:9/a/".to_string(),
            "http://127.0.0.1:9/b/".to_string(),
        ]),
        http_timeout: Duration::from_secs(5),
        ..offline(None)
    };
    let msg = fetch(Source::FashionMnist, cache.path(), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("GET http://127.0.0.1:9/a/train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    assert!(msg.contains("mirror http://127.0.0.1:9/b/"), "{msg}");
    assert!(
        !cache
            .path()
            .join("fashion-mnist")
            .join(IDX_FILES[0])
            .exists()
    );
}

#[test]
fn hash_mismatch_names_file_and_both_hashes() {
    for gzip in [false, true] {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        write_fake_files(data.path(), gzip);
        let msg = fetch(Source::Mnist, cache.path(), &offline(Some(data.path())))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("SHA-256 mismatch"), "{msg}");
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
        assert!(
            msg.contains(Source::Mnist.sha256(IDX_FILES[0]).unwrap()),
            "{msg}"
        );
        let raw = encode_idx(&[2, 28, 28], &[7; 2 * 28 * 28]).unwrap();
        assert!(msg.contains(&ballast_data::sha256_hex(&raw)), "{msg}");
        // Nothing unverified was installed.
        assert!(!cache.path().join("mnist").exists());

        // `load` verifies too.
        let err = load(Source::Mnist, data.path()).unwrap_err();
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
    }
}

#[test]
fn load_names_missing_files() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join(IDX_FILES[0]), b"x").unwrap();
    let msg = load(Source::FashionMnist, data.path())
        .unwrap_err()
        .to_string();
    for name in &IDX_FILES[1..] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(msg.contains("fashion-mnist"), "{msg}");
}
