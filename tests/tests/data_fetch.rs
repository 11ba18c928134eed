//! End to end: `ballast data fetch cifar10 | cifar100 | svhn` against a loopback HTTP server
//! serving small generated files of the real formats (no internet), with a checksums
//! override for them; resuming a broken download, `--from` copies, a corrupted download,
//! and training straight from the cache folder the fetcher filled.

mod common;
#[path = "../../crates/ballast-data/tests/support/http_server.rs"]
mod http_server;
#[path = "../../crates/ballast-data/tests/support/mat_writer.rs"]
mod mat_writer;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use ballast_data::{Dataset, sha256_hex, write_cifar10_bin, write_cifar100_bin};
use common::{ballast, ballast_ok, read_json, text};
use flate2::{Compression, write::GzEncoder};
use http_server::Server;

fn images(n: usize, seed: usize, classes: usize) -> Dataset {
    let x = (0..n * 3072)
        .map(|i| ((i * 11 + seed * 29) % 256) as f32 / 255.0)
        .collect();
    let labels = (0..n).map(|i| ((i * 3 + seed) % classes) as u32).collect();
    Dataset::new(x, vec![3, 32, 32], labels, classes, "gen").unwrap()
}

fn cifar10_members() -> Vec<(String, Vec<u8>)> {
    (1..=5)
        .map(|k| format!("data_batch_{k}.bin"))
        .chain(["test_batch.bin".to_string()])
        .enumerate()
        .map(|(k, f)| {
            (
                format!("cifar-10-batches-bin/{f}"),
                write_cifar10_bin(&images(4, k, 10)),
            )
        })
        .collect()
}

fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A checksums file (`<name> <bytes> <sha256>`) for the given files.
fn write_sums(path: &Path, files: &[(&str, &[u8])]) -> String {
    let text: String = files
        .iter()
        .map(|(n, b)| format!("{n} {} {}\n", b.len(), sha256_hex(b)))
        .collect();
    fs::write(path, format!("# generated test files\n{text}")).unwrap();
    path.to_str().unwrap().to_string()
}

/// `ballast data fetch <args> --data-dir <cache>` in `cwd`.
fn fetch(cwd: &Path, cache: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["data", "fetch"];
    all.extend_from_slice(args);
    all.extend(["--data-dir", cache.to_str().unwrap()]);
    ballast(cwd, &all)
}

/// Trains two steps of a small MLP on `dataset` read from `cache` (no data.dir).
fn train_from_cache(cwd: &Path, cache: &Path, dataset: &str, extra: &str) -> serde_json::Value {
    let cfg = format!(
        r#"
method = "erm"
[data]
dataset = "{dataset}"
val_size = 2
val_balanced = false
{extra}
[model]
arch = "mlp"
hidden = [8]
[budget]
steps = 2
batch_size = 4
"#
    );
    let path = cwd.join(format!("{dataset}.toml"));
    fs::write(&path, cfg).unwrap();
    let run = cwd.join(format!("run-{dataset}"));
    ballast_ok(
        cwd,
        &[
            "train",
            path.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--quiet",
            "--data-dir",
            cache.to_str().unwrap(),
        ],
    );
    let mut data = read_json(&run.join("data.json"));
    data["num_classes"] = read_json(&run.join("input.json"))["num_classes"].clone();
    data
}

#[test]
fn cifar10_download_resumes_verifies_and_trains_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let members = cifar10_members();
    let archive = tar_gz(&members);
    let cut = archive.len() / 3;
    let server = Server::start(
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), archive.clone())]),
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), cut)]),
    );
    let sums = write_sums(
        &tmp.path().join("sums.txt"),
        &[("cifar-10-binary.tar.gz", &archive)],
    );
    let args = [
        "cifar10",
        "--base-url",
        server.base_url.as_str(),
        "--checksums",
        sums.as_str(),
    ];

    // Training before fetching says how to fetch.
    let cfg_err = {
        fs::write(
            tmp.path().join("early.toml"),
            "method = \"erm\"\n[data]\ndataset = \"cifar10\"\n[model]\narch = \"mlp\"\n",
        )
        .unwrap();
        let out = ballast(
            tmp.path(),
            &[
                "train",
                "early.toml",
                "--quiet",
                "--data-dir",
                cache.to_str().unwrap(),
            ],
        );
        assert!(!out.status.success());
        text(&out)
    };
    assert!(cfg_err.contains("ballast data fetch cifar10"), "{cfg_err}");

    // The connection breaks after a third of the archive: the partial file is kept.
    let out = fetch(tmp.path(), &cache, &args);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("run the same command again to resume"), "{t}");
    let part = cache.join("cifar10/cifar-10-binary.tar.gz.part");
    assert_eq!(fs::metadata(&part).unwrap().len(), cut as u64);

    // Again: it resumes from the partial file, verifies the whole archive and unpacks.
    let out = fetch(tmp.path(), &cache, &args);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("CIFAR-10 ready in") && t.contains("sha256 verified"),
        "{t}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    for (name, bytes) in &members {
        assert_eq!(&fs::read(cache.join("cifar10").join(name)).unwrap(), bytes);
    }
    assert!(!part.exists());

    // The trainer finds it in the cache (5 × 4 training images, 2 for validation).
    let data = train_from_cache(tmp.path(), &cache, "cifar10", "");
    assert_eq!(data["train"]["examples"], 18);
    assert_eq!(data["test"]["examples"], 4);
}

#[test]
fn from_copies_are_verified_and_a_corrupted_download_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let members = cifar10_members();
    let archive = tar_gz(&members);
    let mut corrupted = archive.clone();
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0x10;
    let server = Server::start(
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), corrupted.clone())]),
        HashMap::new(),
    );
    let mut files: Vec<(&str, &[u8])> = vec![("cifar-10-binary.tar.gz", &archive[..])];
    files.extend(members.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let sums = write_sums(&tmp.path().join("sums.txt"), &files);
    let base = server.base_url.as_str();

    // The server sends corrupted bytes: the error names the file and both hashes.
    let cache = tmp.path().join("cache-bad");
    let out = fetch(
        tmp.path(),
        &cache,
        &["cifar10", "--base-url", base, "--checksums", sums.as_str()],
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("SHA-256 mismatch for cifar-10-binary.tar.gz"),
        "{t}"
    );
    assert!(
        t.contains(&sha256_hex(&archive)) && t.contains(&sha256_hex(&corrupted)),
        "{t}"
    );

    // --from the archive, and --from the unpacked folder: verified, no request made.
    let dl = tmp.path().join("downloads");
    fs::create_dir_all(dl.join("cifar-10-batches-bin")).unwrap();
    fs::write(dl.join("cifar-10-binary.tar.gz"), &archive).unwrap();
    let unpacked = tmp.path().join("unpacked");
    for (name, bytes) in &members {
        let p = unpacked.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    let before = server.requests().len();
    for (k, from) in [dl.join("cifar-10-binary.tar.gz"), dl.clone(), unpacked]
        .iter()
        .enumerate()
    {
        let cache = tmp.path().join(format!("cache-{k}"));
        let from = from.to_str().unwrap();
        let out = fetch(
            tmp.path(),
            &cache,
            &[
                "cifar10",
                "--from",
                from,
                "--base-url",
                base,
                "--checksums",
                sums.as_str(),
            ],
        );
        assert!(out.status.success(), "{from}: {}", text(&out));
        let got = fs::read(cache.join("cifar10/cifar-10-batches-bin/test_batch.bin")).unwrap();
        assert_eq!(got, members[5].1);
    }
    assert_eq!(server.requests().len(), before);

    // Checksum overrides without a base URL are refused; --extra is SVHN's.
    let out = fetch(
        tmp.path(),
        &cache,
        &["cifar10", "--checksums", sums.as_str()],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--base-url"), "{}", text(&out));
    let out = fetch(tmp.path(), &cache, &["cifar10", "--extra"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("SVHN"), "{}", text(&out));
}

#[test]
fn cifar100_coarse_and_svhn_with_extra_train_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // CIFAR-100: 10 training images (fine labels i·3 mod 100, coarse = fine / 5), 4 test.
    let mut fine = images(10, 0, 100);
    fine.labels = (0..10).map(|i| i * 7).collect();
    let coarse: Vec<u32> = fine.labels.iter().map(|f| f / 5).collect();
    let train_bin = write_cifar100_bin(&fine, &coarse).unwrap();
    let test_bin = train_bin[..4 * 3074].to_vec();
    let c100 = tar_gz(&[
        ("cifar-100-binary/train.bin".into(), train_bin),
        ("cifar-100-binary/test.bin".into(), test_bin),
    ]);
    // SVHN: 6 train, 3 test, 4 extra images.
    let svhn = |n: usize, compressed: bool| {
        let imgs: Vec<Vec<u8>> = (0..n).map(|i| vec![(i * 40) as u8; 3072]).collect();
        let digits: Vec<u32> = (0..n as u32).collect();
        mat_writer::svhn_mat(&imgs, &digits, compressed)
    };
    let (train, test, extra) = (svhn(6, true), svhn(3, false), svhn(4, true));
    let server = Server::start(
        HashMap::from([
            ("cifar-100-binary.tar.gz".to_string(), c100.clone()),
            ("train_32x32.mat".to_string(), train.clone()),
            ("test_32x32.mat".to_string(), test.clone()),
            ("extra_32x32.mat".to_string(), extra.clone()),
        ]),
        HashMap::new(),
    );
    let sums = write_sums(
        &tmp.path().join("sums.txt"),
        &[
            ("cifar-100-binary.tar.gz", &c100),
            ("train_32x32.mat", &train),
            ("test_32x32.mat", &test),
            ("extra_32x32.mat", &extra),
        ],
    );
    let base = server.base_url.as_str();
    for args in [
        vec!["cifar100", "--base-url", base, "--checksums", sums.as_str()],
        vec![
            "svhn",
            "--extra",
            "--base-url",
            base,
            "--checksums",
            sums.as_str(),
        ],
    ] {
        let out = fetch(tmp.path(), &cache, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }

    let data = train_from_cache(
        tmp.path(),
        &cache,
        "cifar100",
        "cifar100_labels = \"coarse\"",
    );
    assert_eq!(data["num_classes"], 20);
    assert_eq!(data["train"]["examples"], 8);
    let data = train_from_cache(tmp.path(), &cache, "svhn", "svhn_extra = true");
    assert_eq!(data["num_classes"], 10);
    assert_eq!(data["train"]["examples"], 6 + 4 - 2);
    assert_eq!(data["test"]["examples"], 3);
}
