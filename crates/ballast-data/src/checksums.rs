//! Pinned sizes and SHA-256 hashes of data files, and the checksums file format.
//!
//! A checksums file has one file per line, `<name> <size in bytes> <sha256 hex>`,
//! separated by spaces or tabs; blank lines and lines starting with `#` are ignored.
//! Names are the file names of the official sources, with the folder inside an archive
//! where there is one (`cifar-10-binary.tar.gz`,
//! `cifar-10-batches-bin/data_batch_1.bin`, `train_32x32.mat`). The same format records
//! what `ballast data fetch` verified, in `checksums.txt` of each data set's cache folder,
//! and gives the expected files of a mirror (see [`crate::full_scale`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fetch::FetchError;
use crate::progress::{Progress, Task};

/// The expected size and SHA-256 of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
}

impl Pin {
    /// A pin from a size and a hex hash (any case).
    pub fn new(size: u64, sha256: &str) -> Self {
        Self {
            size,
            sha256: sha256.to_ascii_lowercase(),
        }
    }

    /// Checks `path`'s size, then its SHA-256 (streamed, reported to `progress` as
    /// [`Task::Verify`]). Errors name the file as `shown_as` (a path or a URL).
    pub fn verify_file(
        &self,
        path: &Path,
        shown_as: &str,
        progress: &mut dyn Progress,
    ) -> Result<(), FetchError> {
        let io_err = |source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io_err)?.len();
        if size != self.size {
            return Err(FetchError::SizeMismatch {
                file: shown_as.to_string(),
                expected: self.size,
                actual: size,
            });
        }
        let file = std::fs::File::open(path).map_err(io_err)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        progress.begin(Task::Verify, &name, Some(size), 0);
        let hashed = hash_reader(file, progress);
        progress.end();
        let (actual, _) = hashed.map_err(io_err)?;
        if actual != self.sha256 {
            return Err(FetchError::HashMismatch {
                file: shown_as.to_string(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// SHA-256 (hex) and length of everything `reader` yields, reporting each chunk.
pub fn hash_reader(
    mut reader: impl Read,
    progress: &mut dyn Progress,
) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        progress.advance(n as u64);
    }
    Ok((hex(&hasher.finalize()), total))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A set of pins by file name (a checksums file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checksums {
    entries: BTreeMap<String, Pin>,
}

impl Checksums {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the pin of `name`.
    pub fn insert(&mut self, name: impl Into<String>, pin: Pin) {
        self.entries.insert(name.into(), pin);
    }

    /// The pin of `name`, if listed.
    pub fn get(&self, name: &str) -> Option<&Pin> {
        self.entries.get(name)
    }

    /// Every `(name, pin)`, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Pin)> {
        self.entries.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses the text of a checksums file; errors name `origin` and the line.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, FetchError> {
        let mut out = Self::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| FetchError::Checksums {
                path: origin.to_path_buf(),
                line: i + 1,
                message,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, size, sha] = fields[..] else {
                return Err(bad(format!(
                    "expected `<name> <size> <sha256>`, found {} fields",
                    fields.len()
                )));
            };
            let size: u64 = size
                .parse()
                .map_err(|_| bad(format!("size `{size}` is not a whole number of bytes")))?;
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("`{sha}` is not a 64-digit hex SHA-256")));
            }
            if name.contains("..") || name.starts_with('/') || name.contains('\\') {
                return Err(bad(format!("`{name}` is not a plain relative file name")));
            }
            out.insert(name, Pin::new(size, sha));
        }
        Ok(out)
    }

    /// Reads and parses a checksums file.
    pub fn load(path: &Path) -> Result<Self, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The file text (one line per pin, sorted by name).
    pub fn to_text(&self) -> String {
        self.iter()
            .map(|(n, p)| format!("{n} {} {}\n", p.size, p.sha256))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    const SHA: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn parses_round_trips_and_names_bad_lines() {
        let text = format!("# mirror\n\nabc.bin 3 {}\n", SHA.to_uppercase());
        let c = Checksums::parse(&text, Path::new("sums.txt")).unwrap();
        assert_eq!(c.get("abc.bin"), Some(&Pin::new(3, SHA)));
        assert_eq!(Checksums::parse(&c.to_text(), Path::new("x")).unwrap(), c);
        let cases: Vec<(String, &str)> = vec![
            ("a.bin 3".into(), "2 fields"),
            (format!("a.bin x {SHA}"), "size `x`"),
            ("a.bin 3 abc".into(), "64-digit"),
            (format!("../a 3 {SHA}"), "plain relative"),
        ];
        for (bad, needle) in cases {
            let err = Checksums::parse(&format!("\n{bad}\n"), Path::new("sums.txt")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("sums.txt") && msg.contains("line 2"), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn verify_file_checks_size_then_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.bin");
        std::fs::write(&path, b"abc").unwrap();
        Pin::new(3, SHA)
            .verify_file(&path, "abc.bin", &mut NoProgress)
            .unwrap();
        let err = Pin::new(4, SHA)
            .verify_file(&path, "abc.bin", &mut NoProgress)
            .unwrap_err();
        assert!(matches!(
            err,
            FetchError::SizeMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ));
        let other = "0".repeat(64);
        let err = Pin::new(3, &other)
            .verify_file(&path, "abc.bin", &mut NoProgress)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("abc.bin") && msg.contains(SHA) && msg.contains(&other),
            "{msg}"
        );
    }
}
