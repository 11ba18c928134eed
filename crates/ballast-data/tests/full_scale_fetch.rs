//! Fetching CIFAR-10, CIFAR-100 and SVHN from a loopback HTTP server that serves small
//! generated files of the real formats (never the internet): downloads, resuming after a
//! broken connection, hash failures, `--from` copies (archive or unpacked), and loading
//! what landed in the cache.
#![cfg(feature = "fetch")]

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ballast_data::{
    Checksums, Cifar100Labels, Dataset, FetchError, FetchOptions, FullScale, NoProgress, Pin,
    Progress, Task, fetch_full_scale, load_cifar10_dir, load_cifar100_dir, load_svhn_dir,
    sha256_hex, write_cifar10_bin, write_cifar100_bin,
};
use flate2::{Compression, write::GzEncoder};
use support::http_server::Server;
use support::mat_writer::svhn_mat;

fn images(n: usize, seed: usize) -> Dataset {
    let x = (0..n * 3072)
        .map(|i| ((i * 7 + seed * 13) % 256) as f32 / 255.0)
        .collect();
    let labels = (0..n).map(|i| ((i + seed) % 10) as u32).collect();
    Dataset::new(x, vec![3, 32, 32], labels, 10, "gen").unwrap()
}

/// Member name → bytes of a CIFAR-10 archive with `n` records per batch.
fn cifar10_members(n: usize) -> Vec<(String, Vec<u8>)> {
    let names = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    names
        .iter()
        .enumerate()
        .map(|(k, f)| {
            (
                format!("cifar-10-batches-bin/{f}"),
                write_cifar10_bin(&images(n, k)),
            )
        })
        .collect()
}

fn cifar100_members() -> Vec<(String, Vec<u8>)> {
    let mut fine = images(4, 1);
    fine.labels = vec![0, 99, 42, 7];
    fine.num_classes = 100;
    let coarse = [0, 19, 8, 1];
    let bytes = write_cifar100_bin(&fine, &coarse).unwrap();
    vec![
        ("cifar-100-binary/train.bin".into(), bytes.clone()),
        (
            "cifar-100-binary/test.bin".into(),
            bytes[..2 * 3074].to_vec(),
        ),
    ]
}

/// A `.tar.gz` holding the members (plus a file the fetcher must ignore).
fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes).unwrap();
    };
    add("cifar-10-batches-bin/readme.html", b"<p>not data</p>");
    for (name, bytes) in members {
        add(name, bytes);
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn pin(bytes: &[u8]) -> Pin {
    Pin::new(bytes.len() as u64, &sha256_hex(bytes))
}

fn sums(files: &[(&str, &[u8])]) -> Checksums {
    let mut c = Checksums::new();
    for (name, bytes) in files {
        c.insert(*name, pin(bytes));
    }
    c
}

fn mirror(server: &Server, checksums: Checksums) -> FetchOptions {
    FetchOptions {
        base_url: Some(server.base_url.clone()),
        checksums: Some(checksums),
        ..FetchOptions::default()
    }
}

/// Records the progress events.
#[derive(Default)]
struct Log(Vec<String>);

impl Progress for Log {
    fn begin(&mut self, task: Task, item: &str, total: Option<u64>, done: u64) {
        self.0.push(format!(
            "{} {item} {done}/{}",
            task.verb(),
            total.unwrap_or(0)
        ));
    }
    fn advance(&mut self, _: u64) {}
    fn end(&mut self) {}
    fn note(&mut self, message: &str) {
        self.0.push(message.to_string());
    }
}

#[test]
fn cifar10_downloads_resumes_unpacks_and_loads() {
    let members = cifar10_members(2);
    let archive = tar_gz(&members);
    let cut_at = archive.len() / 2;
    let server = Server::start(
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), archive.clone())]),
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), cut_at)]),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = mirror(&server, sums(&[("cifar-10-binary.tar.gz", &archive)]));

    // The first response breaks halfway: the partial file stays for the next attempt.
    let err =
        fetch_full_scale(FullScale::Cifar10, cache.path(), &opts, &mut NoProgress).unwrap_err();
    let FetchError::Interrupted { have, kept, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*have, cut_at as u64);
    assert_eq!(std::fs::metadata(kept).unwrap().len(), cut_at as u64);
    assert!(
        err.to_string().contains("run the same command again"),
        "{err}"
    );

    // The second attempt asks for the rest and completes.
    let mut log = Log::default();
    let dir = fetch_full_scale(FullScale::Cifar10, cache.path(), &opts, &mut log).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range, Some(format!("bytes={cut_at}-")));
    assert!(
        log.0
            .iter()
            .any(|l| l == &format!("download cifar-10-binary.tar.gz {cut_at}/{}", archive.len())),
        "{:?}",
        log.0
    );
    assert!(
        log.0.iter().any(|l| l.contains("resuming at byte")),
        "{:?}",
        log.0
    );
    assert_eq!(dir, cache.path().join("cifar10"));
    for (name, bytes) in &members {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    // Only the listed members, no archive, no partial file; the record lists the members.
    assert!(!dir.join("cifar-10-batches-bin/readme.html").exists());
    assert!(!dir.join("cifar-10-binary.tar.gz").exists());
    assert!(!dir.join("cifar-10-binary.tar.gz.part").exists());
    let record = Checksums::load(&dir.join("checksums.txt")).unwrap();
    for (name, bytes) in &members {
        assert_eq!(record.get(name), Some(&pin(bytes)), "{name}");
    }
    let (train, test) = load_cifar10_dir(&dir).unwrap();
    assert_eq!((train.len(), test.len()), (10, 2));

    // Fetching again finds the cache complete and sends no request.
    let mut log = Log::default();
    fetch_full_scale(FullScale::Cifar10, cache.path(), &opts, &mut log).unwrap();
    assert_eq!(server.requests().len(), 2);
    assert!(
        log.0.iter().any(|l| l.contains("already in")),
        "{:?}",
        log.0
    );
}

#[test]
fn a_corrupted_download_fails_the_hash_check_naming_file_and_hashes() {
    let archive = tar_gz(&cifar10_members(1));
    let mut corrupted = archive.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0x01;
    let server = Server::start(
        HashMap::from([("cifar-10-binary.tar.gz".to_string(), corrupted.clone())]),
        HashMap::new(),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = mirror(&server, sums(&[("cifar-10-binary.tar.gz", &archive)]));
    let err =
        fetch_full_scale(FullScale::Cifar10, cache.path(), &opts, &mut NoProgress).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
    assert!(msg.contains(&sha256_hex(&archive)), "{msg}");
    assert!(msg.contains(&sha256_hex(&corrupted)), "{msg}");
    // The bad bytes are gone, so the next attempt starts clean.
    assert!(
        !cache
            .path()
            .join("cifar10/cifar-10-binary.tar.gz.part")
            .exists()
    );
    assert!(!cache.path().join("cifar10/cifar-10-batches-bin").exists());
}

#[test]
fn svhn_downloads_train_test_and_optionally_extra() {
    let digits = [[3, 0], [9, 1], [0, 0]];
    let files: Vec<(String, Vec<u8>)> = ["train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"]
        .iter()
        .zip(digits)
        .enumerate()
        .map(|(k, (name, d))| {
            let imgs: Vec<Vec<u8>> = (0..2).map(|i| vec![(k * 10 + i) as u8; 3072]).collect();
            (name.to_string(), svhn_mat(&imgs, &d, k != 1))
        })
        .collect();
    let server = Server::start(files.iter().cloned().collect(), HashMap::new());
    let overrides = sums(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect::<Vec<_>>(),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = mirror(&server, overrides);
    let dir = fetch_full_scale(FullScale::Svhn, cache.path(), &opts, &mut NoProgress).unwrap();
    assert!(dir.join("train_32x32.mat").is_file());
    assert!(!dir.join("extra_32x32.mat").exists());
    let (train, test) = load_svhn_dir(cache.path(), false).unwrap();
    assert_eq!(
        (train.labels.clone(), test.labels),
        (vec![3, 0], vec![9, 1])
    );

    // Asking for the extra split later downloads only that file.
    let opts = FetchOptions {
        svhn_extra: true,
        ..opts
    };
    fetch_full_scale(FullScale::Svhn, cache.path(), &opts, &mut NoProgress).unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"]
    );
    let (train, _) = load_svhn_dir(&dir, true).unwrap();
    assert_eq!(train.labels, vec![3, 0, 0, 0]);
    assert_eq!(train.index, vec![0, 1, 2, 3]);
    assert!((train.example(2)[0] - 20.0 / 255.0).abs() < 1e-6);
}

fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }
}

#[test]
fn from_a_local_archive_or_unpacked_folder_verifies_without_downloading() {
    let members = cifar100_members();
    let archive = tar_gz(&members);
    let mut overrides = sums(&[("cifar-100-binary.tar.gz", &archive)]);
    for (name, bytes) in &members {
        overrides.insert(name.clone(), pin(bytes));
    }
    // A base URL nobody listens on: nothing may be downloaded.
    let opts = |from: &Path| FetchOptions {
        data_dir: Some(from.to_path_buf()),
        base_url: Some("http://127.0.0.1:9".into()),
        checksums: Some(overrides.clone()),
        ..FetchOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();

    // The archive file itself, and a folder holding it.
    let archive_path = tmp.path().join("dl/cifar-100-binary.tar.gz");
    write_all(
        tmp.path(),
        &[("dl/cifar-100-binary.tar.gz".into(), archive.clone())],
    );
    for (k, from) in [archive_path.clone(), tmp.path().join("dl")]
        .iter()
        .enumerate()
    {
        let cache = tmp.path().join(format!("cache{k}"));
        let dir =
            fetch_full_scale(FullScale::Cifar100, &cache, &opts(from), &mut NoProgress).unwrap();
        let (train, test) = load_cifar100_dir(&dir, Cifar100Labels::Coarse).unwrap();
        assert_eq!(train.labels, vec![0, 19, 8, 1]);
        assert_eq!(test.len(), 2);
        assert!(archive_path.is_file(), "the user's copy is left alone");
    }

    // The unpacked folder (its parent works too); a damaged member names the file.
    write_all(&tmp.path().join("unpacked"), &members);
    for from in [
        tmp.path().join("unpacked"),
        tmp.path().join("unpacked/cifar-100-binary"),
    ] {
        let cache = tmp.path().join("cache-unpacked");
        let dir =
            fetch_full_scale(FullScale::Cifar100, &cache, &opts(&from), &mut NoProgress).unwrap();
        let (train, _) = load_cifar100_dir(&dir, Cifar100Labels::Fine).unwrap();
        assert_eq!(train.labels, vec![0, 99, 42, 7]);
    }
    let bad = tmp.path().join("unpacked/cifar-100-binary/test.bin");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    let err = fetch_full_scale(
        FullScale::Cifar100,
        &tmp.path().join("cache-bad"),
        &opts(&tmp.path().join("unpacked")),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("test.bin"), "{err}");

    // A folder with neither names what it looked for.
    let err = fetch_full_scale(
        FullScale::Cifar100,
        &tmp.path().join("cache-none"),
        &opts(&tmp.path().join("dl-missing")),
        &mut NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cifar-100-binary.tar.gz or the unpacked"),
        "{msg}"
    );
}

#[test]
fn checksum_overrides_need_a_base_url_and_offline_misses_are_named() {
    let cache = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        checksums: Some(Checksums::new()),
        ..FetchOptions::default()
    };
    let err = fetch_full_scale(FullScale::Svhn, cache.path(), &opts, &mut NoProgress).unwrap_err();
    assert!(matches!(err, FetchError::ChecksumsNeedBaseUrl), "{err:?}");

    let opts = FetchOptions {
        http: false,
        ..FetchOptions::default()
    };
    let err = fetch_full_scale(FullScale::Svhn, cache.path(), &opts, &mut NoProgress).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("train_32x32.mat") && msg.contains("test_32x32.mat"),
        "{msg}"
    );
}
