//! Atomic installation of data files into the cache: bytes are streamed into a temporary
//! file next to the target, hashed on the way, synced, then renamed into place, so a
//! crash never leaves a half-written file under a final name.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::checksums::hex;
use crate::fetch::FetchError;
use crate::progress::Progress;

/// What was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    /// Lower-case hex SHA-256 of the bytes written.
    pub sha256: String,
    /// Bytes written.
    pub size: u64,
}

/// Streams `reader` into `dir/name` (creating `dir`), reporting each chunk to `progress`.
/// More than `cap` bytes is an error (`what` names the source in it) and leaves nothing.
pub(crate) fn install_stream(
    mut reader: impl Read,
    dir: &Path,
    name: &str,
    cap: u64,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<Installed, FetchError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(FetchError::Io {
                    path: Path::new(what).to_path_buf(),
                    source,
                });
            }
        };
        size += n as u64;
        if size > cap {
            return Err(FetchError::SizeMismatch {
                file: what.to_string(),
                expected: cap,
                actual: size,
            });
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(io_err(tmp.path()))?;
        progress.advance(n as u64);
    }
    persist(tmp, dir, name)?;
    Ok(Installed {
        sha256: hex(&hasher.finalize()),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn installs_atomically_and_enforces_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a");
        let got = install_stream(&b"abc"[..], &sub, "f.bin", 3, "src", &mut NoProgress).unwrap();
        assert_eq!(got.size, 3);
        assert_eq!(got.sha256, crate::sha256_hex(b"abc"));
        assert_eq!(std::fs::read(sub.join("f.bin")).unwrap(), b"abc");
        let err = install_stream(&b"abcd"[..], &sub, "g.bin", 3, "src", &mut NoProgress);
        assert!(
            matches!(err, Err(FetchError::SizeMismatch { .. })),
            "{err:?}"
        );
        // Only the first file: the failed one left no temporary behind.
        assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 1);
    }
}

/// Gives a finished temporary file in `dir` its final name `name`: ordinary permissions (0644
/// on Unix; temporary files are created private), flushed to disk, then renamed, so a crash
/// never leaves a half-written file under the final name.
pub(crate) fn persist(
    tmp: tempfile::NamedTempFile,
    dir: &Path,
    name: &str,
) -> Result<(), FetchError> {
    let io_err = |source| FetchError::Io {
        path: dir.to_path_buf(),
        source,
    };
    // Temporary files are created private (0600); data files are ordinary.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
    }
    tmp.as_file().sync_all().map_err(io_err)?;
    let dest = dir.join(name);
    tmp.persist(&dest).map_err(|e| FetchError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(())
}
