//! Fetching the full-scale image sets: CIFAR-10, CIFAR-100 and SVHN (feature `fetch`).
//!
//! [`fetch_full_scale`] fills `<cache>/<cifar10|cifar100|svhn>/` from the datasets'
//! official sources, checking the size and SHA-256 of every file against pins
//! ([`FullScale::official_pin`]):
//!
//! | set | downloaded | left in the cache folder |
//! |---|---|---|
//! | `cifar10` | `https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz` | `cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin` |
//! | `cifar100` | `https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz` | `cifar-100-binary/train.bin`, `test.bin` |
//! | `svhn` | `http://ufldl.stanford.edu/housenumbers/{train,test}_32x32.mat` (+ `extra_32x32.mat` when asked) | the `.mat` files |
//!
//! Downloads resume from a `<file>.part` (HTTP range requests); archives are verified, then only the
//! listed members are extracted (never the archive's own paths), then deleted. A
//! `checksums.txt` in the cache folder (see [`crate::checksums`]) records what was
//! verified; a later fetch that finds it, and the files at their sizes, does nothing.
//!
//! With [`FetchOptions::data_dir`] (`ballast data fetch … --from FOLDER`) nothing is
//! downloaded: the folder may hold the archive (or be the archive file itself), or the
//! unpacked files (directly or in the archive's folder); for unpacked CIFAR files the
//! pinned hashes of the unpacked files are checked, for SVHN those of the `.mat` files.
//!
//! [`FetchOptions::base_url`] replaces the official base URL (a mirror, or a test
//! server). Only together with it, [`FetchOptions::checksums`] may replace pins: a mirror
//! of other files, such as the small generated archives of the tests.

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

use crate::checksums::{Checksums, Pin};
use crate::download::{agent, download};
use crate::fetch::{FetchError, FetchOptions};
use crate::install::install_stream;
use crate::progress::{Progress, Task};

/// Name of the record of verified files in each cache folder.
pub const VERIFIED_FILE: &str = "checksums.txt";
/// Largest archive member accepted (CIFAR-100's `train.bin` is 153 700 000 bytes).
const MAX_MEMBER_BYTES: u64 = 256 << 20;

/// A full-scale data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullScale {
    /// CIFAR-10, binary version (Krizhevsky 2009).
    Cifar10,
    /// CIFAR-100, binary version (Krizhevsky 2009).
    Cifar100,
    /// SVHN cropped digits (Netzer et al. 2011).
    Svhn,
}

/// An official file: name (with its archive folder for members), size, SHA-256, and
/// where the hash comes from.
struct Official {
    name: &'static str,
    size: u64,
    sha256: &'static str,
}

// Archives and SVHN files: size and sha256 from TensorFlow Datasets' url_checksums
// (tensorflow/datasets, tensorflow_datasets/url_checksums/cifar10.txt, cifar100.txt,
// svhn_cropped.txt), which pin the official URLs; the same sha256 values appear in other
// projects' dataset code (torchvision-ruby for CIFAR, several independent SVHN loaders).
const CIFAR10_ARCHIVE: Official = Official {
    name: "cifar-10-binary.tar.gz",
    size: 170_052_171,
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
};
const CIFAR100_ARCHIVE: Official = Official {
    name: "cifar-100-binary.tar.gz",
    size: 168_513_733,
    sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
};
const SVHN_FILES: [Official; 3] = [
    Official {
        name: "train_32x32.mat",
        size: 182_040_794,
        sha256: "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
    },
    Official {
        name: "test_32x32.mat",
        size: 64_275_384,
        sha256: "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
    },
    Official {
        name: "extra_32x32.mat",
        size: 1_329_278_602,
        sha256: "a133a4beb38a00fcdda90c9489e0c04f900b660ce8a316a5e854838379a71eb3",
    },
];
// Unpacked members: sha256 from torchvision-ruby (ankane/torchvision-ruby,
// lib/torchvision/datasets/cifar10.rb and cifar100.rb), the only source found that pins
// them; sizes are records × record size (10 000 × 3073, 50 000 × 3074, 10 000 × 3074).
// They are checked only for `--from` copies that are already unpacked: members extracted
// from an archive are covered by the archive's hash.
const CIFAR10_MEMBERS: [Official; 6] = [
    Official {
        name: "cifar-10-batches-bin/data_batch_1.bin",
        size: 30_730_000,
        sha256: "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
    },
    Official {
        name: "cifar-10-batches-bin/data_batch_2.bin",
        size: 30_730_000,
        sha256: "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
    },
    Official {
        name: "cifar-10-batches-bin/data_batch_3.bin",
        size: 30_730_000,
        sha256: "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
    },
    Official {
        name: "cifar-10-batches-bin/data_batch_4.bin",
        size: 30_730_000,
        sha256: "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
    },
    Official {
        name: "cifar-10-batches-bin/data_batch_5.bin",
        size: 30_730_000,
        sha256: "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
    },
    Official {
        name: "cifar-10-batches-bin/test_batch.bin",
        size: 30_730_000,
        sha256: "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    },
];
const CIFAR100_MEMBERS: [Official; 2] = [
    Official {
        name: "cifar-100-binary/train.bin",
        size: 153_700_000,
        sha256: "f31298fc616915fa142368359df1c4ca2ae984d6915ca468b998a5ec6aeebf29",
    },
    Official {
        name: "cifar-100-binary/test.bin",
        size: 30_740_000,
        sha256: "d8b1e6b7b3bee4020055f0699b111f60b1af1e262aeb93a0b659061746f8224a",
    },
];

impl FullScale {
    /// Every full-scale set.
    pub const ALL: [FullScale; 3] = [FullScale::Cifar10, FullScale::Cifar100, FullScale::Svhn];

    /// Folder name under the cache directory, also the config / CLI name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::Svhn => "svhn",
        }
    }

    /// Human-readable name.
    pub fn title(self) -> &'static str {
        match self {
            Self::Cifar10 => "CIFAR-10",
            Self::Cifar100 => "CIFAR-100",
            Self::Svhn => "SVHN",
        }
    }

    /// The official base URL (the files are `<base><name>`).
    pub fn official_base_url(self) -> &'static str {
        match self {
            Self::Cifar10 | Self::Cifar100 => "https://www.cs.toronto.edu/~kriz/",
            Self::Svhn => "http://ufldl.stanford.edu/housenumbers/",
        }
    }

    /// The downloaded archive, for sets distributed as one (`*.tar.gz`).
    pub fn archive(self) -> Option<&'static str> {
        match self {
            Self::Cifar10 => Some(CIFAR10_ARCHIVE.name),
            Self::Cifar100 => Some(CIFAR100_ARCHIVE.name),
            Self::Svhn => None,
        }
    }

    /// The files left in the cache folder, relative to it (SVHN's extra split when
    /// `extra`).
    pub fn files(self, extra: bool) -> Vec<&'static str> {
        match self {
            Self::Cifar10 => CIFAR10_MEMBERS.iter().map(|o| o.name).collect(),
            Self::Cifar100 => CIFAR100_MEMBERS.iter().map(|o| o.name).collect(),
            Self::Svhn => SVHN_FILES[..if extra { 3 } else { 2 }]
                .iter()
                .map(|o| o.name)
                .collect(),
        }
    }

    /// The pinned size and SHA-256 of an official file (an archive, an archive member
    /// named with its folder, or an SVHN `.mat` file).
    pub fn official_pin(self, name: &str) -> Option<Pin> {
        let table: Vec<&Official> = match self {
            Self::Cifar10 => CIFAR10_MEMBERS.iter().chain([&CIFAR10_ARCHIVE]).collect(),
            Self::Cifar100 => CIFAR100_MEMBERS.iter().chain([&CIFAR100_ARCHIVE]).collect(),
            Self::Svhn => SVHN_FILES.iter().collect(),
        };
        table
            .into_iter()
            .find(|o| o.name == name)
            .map(|o| Pin::new(o.size, o.sha256))
    }

    /// Bytes per record of the set's binary files (CIFAR), to sanity-check members.
    fn record_bytes(self) -> Option<u64> {
        match self {
            Self::Cifar10 => Some(crate::cifar::CIFAR_RECORD_BYTES as u64),
            Self::Cifar100 => Some(crate::cifar100::CIFAR100_RECORD_BYTES as u64),
            Self::Svhn => None,
        }
    }
}

impl fmt::Display for FullScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

impl FromStr for FullScale {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.dir_name() == s)
            .ok_or_else(|| FetchError::UnknownSource(s.to_string()))
    }
}

/// The pins in force: official ones, replaced by `opts.checksums` where it lists a file
/// (allowed only with `opts.base_url`).
struct Pins<'a> {
    set: FullScale,
    overrides: Option<&'a Checksums>,
}

impl Pins<'_> {
    fn get(&self, name: &str) -> Result<Pin, FetchError> {
        self.overrides
            .and_then(|c| c.get(name).cloned())
            .or_else(|| self.set.official_pin(name))
            .ok_or_else(|| FetchError::UnknownFile {
                dataset: self.set.to_string(),
                file: name.to_string(),
            })
    }
}

/// Makes sure the files of `set` are in `<cache_dir>/<set>/`, verified; returns that
/// folder. See the module docs for the routes and [`FetchOptions`] for the knobs used
/// here: `data_dir` (a local copy), `http`, `base_url`, `checksums`, `svhn_extra`,
/// `http_timeout`.
pub fn fetch_full_scale(
    set: FullScale,
    cache_dir: &Path,
    opts: &FetchOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf, FetchError> {
    if opts.checksums.is_some() && opts.base_url.is_none() {
        return Err(FetchError::ChecksumsNeedBaseUrl);
    }
    let pins = Pins {
        set,
        overrides: opts.checksums.as_ref(),
    };
    let target = cache_dir.join(set.dir_name());
    let wanted = set.files(opts.svhn_extra);

    if let Some(from) = &opts.data_dir {
        install_from(set, from, &target, &wanted, &pins, progress)?;
        return Ok(target);
    }
    let mut done = verified_in_cache(&target, &wanted)?;
    if done.len() == wanted.len() {
        progress.note(&format!(
            "{} is already in {} (verified earlier; delete {} to fetch again)",
            set.title(),
            target.display(),
            target.join(VERIFIED_FILE).display()
        ));
        return Ok(target);
    }
    if !opts.http {
        return Err(FetchError::MissingFiles {
            dir: target.clone(),
            missing: wanted
                .iter()
                .filter(|w| !done.iter().any(|(n, _)| n == *w))
                .map(|w| w.to_string())
                .collect(),
            searched: vec![target],
        });
    }
    let base = opts
        .base_url
        .clone()
        .unwrap_or_else(|| set.official_base_url().to_string());
    let url = |name: &str| format!("{}/{name}", base.trim_end_matches('/'));
    let agent = agent(opts.http_timeout);
    std::fs::create_dir_all(&target).map_err(|source| FetchError::Io {
        path: target.clone(),
        source,
    })?;
    match set.archive() {
        Some(archive) => {
            let path = target.join(archive);
            download(&agent, &url(archive), &path, &pins.get(archive)?, progress)?;
            done = unpack(set, &path, &target, &wanted, progress)?;
            std::fs::remove_file(&path).map_err(|source| FetchError::Io {
                path: path.clone(),
                source,
            })?;
        }
        None => {
            for name in &wanted {
                if done.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let pin = pins.get(name)?;
                download(&agent, &url(name), &target.join(name), &pin, progress)?;
                done.push((name.to_string(), pin));
            }
        }
    }
    record_verified(&target, &done, &format!("downloaded from {base}"))?;
    Ok(target)
}

/// The wanted files that `checksums.txt` of `target` lists and that are present at
/// their recorded sizes.
fn verified_in_cache(target: &Path, wanted: &[&str]) -> Result<Vec<(String, Pin)>, FetchError> {
    let record = target.join(VERIFIED_FILE);
    if !record.is_file() {
        return Ok(Vec::new());
    }
    let sums = Checksums::load(&record)?;
    Ok(wanted
        .iter()
        .filter_map(|name| {
            let pin = sums.get(name)?;
            let size = std::fs::metadata(target.join(name)).ok()?.len();
            (size == pin.size).then(|| (name.to_string(), pin.clone()))
        })
        .collect())
}

/// Writes (atomically) `checksums.txt`, merged with what it already lists.
fn record_verified(target: &Path, files: &[(String, Pin)], origin: &str) -> Result<(), FetchError> {
    let path = target.join(VERIFIED_FILE);
    let mut sums = if path.is_file() {
        Checksums::load(&path)?
    } else {
        Checksums::new()
    };
    for (name, pin) in files {
        sums.insert(name.clone(), pin.clone());
    }
    let text = format!(
        "# Verified by `ballast data fetch` ({origin}): <file> <bytes> <sha256>\n{}",
        sums.to_text()
    );
    install_stream(
        text.as_bytes(),
        target,
        VERIFIED_FILE,
        u64::MAX,
        VERIFIED_FILE,
        &mut crate::progress::NoProgress,
    )?;
    Ok(())
}

/// Extracts the wanted members of a verified `.tar.gz` into `target` (each under its
/// archive folder); returns them with the size and SHA-256 of what was written.
fn unpack(
    set: FullScale,
    archive: &Path,
    target: &Path,
    wanted: &[&str],
    progress: &mut dyn Progress,
) -> Result<Vec<(String, Pin)>, FetchError> {
    let shown = archive.display().to_string();
    let io_err = |source| FetchError::Io {
        path: archive.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(archive).map_err(io_err)?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut found = Vec::new();
    for entry in tar.entries().map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path().map_err(io_err)?.into_owned();
        let name = path.to_string_lossy().trim_start_matches("./").to_string();
        let Some(&member) = wanted.iter().find(|w| **w == name) else {
            continue;
        };
        if found.iter().any(|(n, _): &(String, Pin)| n == member) {
            continue;
        }
        let (folder, file_name) = member.rsplit_once('/').unwrap_or(("", member));
        progress.begin(Task::Unpack, member, Some(entry.size()), 0);
        let what = format!("{shown}: {member}");
        let installed = install_stream(
            entry,
            &target.join(folder),
            file_name,
            MAX_MEMBER_BYTES,
            &what,
            progress,
        );
        progress.end();
        let installed = installed?;
        check_records(set, &what, installed.size)?;
        found.push((
            member.to_string(),
            Pin::new(installed.size, &installed.sha256),
        ));
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !found.iter().any(|(n, _)| n == *w))
        .map(|w| w.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(FetchError::MissingFiles {
            dir: archive.to_path_buf(),
            missing,
            searched: vec![archive.to_path_buf()],
        });
    }
    Ok(found)
}

/// A CIFAR member must hold a whole, non-zero number of records.
fn check_records(set: FullScale, what: &str, size: u64) -> Result<(), FetchError> {
    if let Some(record) = set.record_bytes()
        && (size == 0 || !size.is_multiple_of(record))
    {
        return Err(FetchError::Parse {
            file: what.to_string(),
            source: crate::DataError::CifarLength {
                len: size as usize,
                record: record as usize,
                complete: (size / record) as usize,
                leftover: (size % record) as usize,
            },
        });
    }
    Ok(())
}

/// The archive folder of a member name (`""` for a plain file name).
fn folder_of(name: &str) -> &str {
    name.rsplit_once('/').map(|(f, _)| f).unwrap_or("")
}

/// The file name of a member name.
fn base_name(name: &str) -> &str {
    name.rsplit_once('/').map(|(_, b)| b).unwrap_or(name)
}

/// `--from`: installs a local copy (archive, or unpacked files) after verifying it.
fn install_from(
    set: FullScale,
    from: &Path,
    target: &Path,
    wanted: &[&str],
    pins: &Pins<'_>,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    // The archive itself, or a folder holding it.
    if let Some(archive) = set.archive() {
        let candidate = if from.is_file() {
            Some(from.to_path_buf())
        } else {
            Some(from.join(archive)).filter(|p| p.is_file())
        };
        if let Some(path) = candidate {
            pins.get(archive)?
                .verify_file(&path, &path.display().to_string(), progress)?;
            let files = unpack(set, &path, target, wanted, progress)?;
            return record_verified(target, &files, &format!("unpacked from {}", path.display()));
        }
    }
    // Unpacked files: directly in `from`, or in their archive folder / set folder.
    let sub = folder_of(wanted.first().copied().unwrap_or(""));
    let mut searched = vec![from.to_path_buf()];
    if !sub.is_empty() {
        searched.push(from.join(sub));
    }
    searched.push(from.join(set.dir_name()));
    if !sub.is_empty() {
        searched.push(from.join(set.dir_name()).join(sub));
    }
    let mut best: Option<(PathBuf, Vec<String>)> = None;
    for folder in &searched {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|w| !folder.join(base_name(w)).is_file())
            .map(|w| base_name(w).to_string())
            .collect();
        if missing.is_empty() {
            let mut files = Vec::new();
            for name in wanted {
                let src = folder.join(base_name(name));
                let pin = pins.get(name)?;
                pin.verify_file(&src, &src.display().to_string(), progress)?;
                let dest_dir = target.join(folder_of(name));
                if std::fs::canonicalize(&src).ok()
                    != std::fs::canonicalize(dest_dir.join(base_name(name))).ok()
                {
                    let reader = std::fs::File::open(&src).map_err(|source| FetchError::Io {
                        path: src.clone(),
                        source,
                    })?;
                    progress.begin(Task::Copy, name, Some(pin.size), 0);
                    let copied = install_stream(
                        reader,
                        &dest_dir,
                        base_name(name),
                        pin.size,
                        &src.display().to_string(),
                        progress,
                    );
                    progress.end();
                    copied?;
                }
                files.push((name.to_string(), pin));
            }
            return record_verified(target, &files, &format!("copied from {}", folder.display()));
        }
        if best.as_ref().is_none_or(|(_, m)| missing.len() < m.len()) {
            best = Some((folder.clone(), missing));
        }
    }
    let (dir, mut missing) = best.unwrap_or_default();
    if let Some(archive) = set.archive() {
        missing = vec![format!("{archive} or the unpacked {}", missing.join(", "))];
    }
    Err(FetchError::MissingFiles {
        dir,
        missing,
        searched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pins_and_files() {
        for set in FullScale::ALL {
            assert_eq!(set.dir_name().parse::<FullScale>().unwrap(), set);
            for name in set.files(true).into_iter().chain(set.archive()) {
                let pin = set.official_pin(name).unwrap();
                assert_eq!(pin.sha256.len(), 64, "{name}");
                assert!(pin.size > 1_000_000, "{name}");
            }
        }
        assert!("mnist".parse::<FullScale>().is_err());
        assert_eq!(FullScale::Svhn.files(false).len(), 2);
        assert_eq!(FullScale::Svhn.files(true).len(), 3);
        // Member sizes are whole numbers of records.
        for set in [FullScale::Cifar10, FullScale::Cifar100] {
            for name in set.files(false) {
                let pin = set.official_pin(name).unwrap();
                assert_eq!(pin.size % set.record_bytes().unwrap(), 0, "{name}");
            }
        }
        assert_eq!(
            serde_json::to_string(&FullScale::Cifar100).unwrap(),
            "\"cifar100\""
        );
    }
}
