//! Resumable HTTP downloads of pinned files.
//!
//! [`download`] receives `<url>` into `<dest>.part` next to the target. When a partial file
//! is already there (an earlier run was interrupted), it asks for the rest with
//! `Range: bytes=N-`: a `206 Partial Content` answer whose `Content-Range` starts at `N`
//! is appended, a `200 OK` (a server without range support) restarts from byte 0, a
//! `416` drops the partial file and starts again. The whole file's size and SHA-256 are
//! then checked against the [`Pin`] and the file is renamed into place. A connection that
//! breaks keeps the partial file (the error says so); a file of the wrong size or hash is
//! deleted, so the next attempt starts clean.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checksums::Pin;
use crate::fetch::FetchError;
use crate::progress::{Progress, Task};

/// An HTTP agent for large downloads: `timeout` bounds connecting, waiting for the
/// response and each read (a stalled transfer), not the whole transfer.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(timeout.min(Duration::from_secs(30))))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// `<dest>.part`.
pub(crate) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Downloads `url` to `dest`, resuming from `<dest>.part`, and verifies it against `pin`.
pub(crate) fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    let part = part_path(dest);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shown = format!("{name} (from {url})");
    // Already downloaded (a run stopped before recording it): keep it if it verifies.
    if dest.is_file() {
        match pin.verify_file(dest, &dest.display().to_string(), progress) {
            Ok(()) => return Ok(()),
            Err(e) => {
                progress.note(&format!("{e}; downloading it again"));
                remove(dest)?;
            }
        }
    }
    let mut restarted = false;
    loop {
        let have = match std::fs::metadata(&part) {
            Ok(m) if m.len() <= pin.size => m.len(),
            Ok(_) => {
                remove(&part)?;
                0
            }
            Err(_) => 0,
        };
        if have == pin.size {
            break;
        }
        match receive(agent, url, &part, have, pin.size, &name, progress)? {
            Received::Done => break,
            Received::RangeRejected if !restarted => {
                progress.note(&format!(
                    "{name}: the server rejected the resume request; starting again"
                ));
                remove(&part)?;
                restarted = true;
            }
            Received::RangeRejected => {
                return Err(FetchError::Http {
                    url: url.to_string(),
                    message: "HTTP 416 (range not satisfiable) on a fresh request".into(),
                });
            }
        }
    }
    if let Err(e) = pin.verify_file(&part, &shown, progress) {
        // A bad file would be resumed forever: start clean next time.
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, dest).map_err(|source| FetchError::Io {
        path: dest.to_path_buf(),
        source,
    })
}

enum Received {
    Done,
    RangeRejected,
}

fn remove(path: &Path) -> Result<(), FetchError> {
    std::fs::remove_file(path).map_err(|source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// One request: appends to (or restarts) `part`, which holds `have` of `size` bytes.
fn receive(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    have: u64,
    size: u64,
    name: &str,
    progress: &mut dyn Progress,
) -> Result<Received, FetchError> {
    let http_err = |message: String| FetchError::Http {
        url: url.to_string(),
        message,
    };
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| http_err(e.to_string()))?;
    let status = response.status().as_u16();
    let start = match status {
        200 => 0,
        206 => {
            let range = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let start = content_range_start(range).ok_or_else(|| {
                http_err(format!(
                    "HTTP 206 with an unreadable Content-Range `{range}`"
                ))
            })?;
            if start != have {
                return Err(http_err(format!(
                    "asked to resume at byte {have}, the server sent bytes from {start}"
                )));
            }
            have
        }
        416 if have > 0 => return Ok(Received::RangeRejected),
        other => return Err(http_err(format!("HTTP {other}"))),
    };
    if have > 0 {
        progress.note(&if start == have {
            format!("{name}: resuming at byte {have} of {size}")
        } else {
            format!("{name}: the server ignored the resume request; downloading from the start")
        });
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(start > 0)
        .truncate(start == 0)
        .open(part)
        .map_err(|source| FetchError::Io {
            path: part.to_path_buf(),
            source,
        })?;
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 18];
    let mut at = start;
    progress.begin(Task::Download, name, Some(size), start);
    let result = (|| {
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Broken(e.to_string())),
            };
            if at + n as u64 > size {
                return Err(Stop::TooLong);
            }
            file.write_all(&buf[..n])
                .map_err(|e| Stop::Disk(e.to_string()))?;
            at += n as u64;
            progress.advance(n as u64);
        }
        Ok(())
    })();
    progress.end();
    let synced = file.flush().and_then(|()| file.sync_all());
    drop(file);
    match result {
        Ok(()) if at == size => {
            synced.map_err(|source| FetchError::Io {
                path: part.to_path_buf(),
                source,
            })?;
            Ok(Received::Done)
        }
        Ok(()) => Err(FetchError::Interrupted {
            url: url.to_string(),
            kept: part.to_path_buf(),
            have: at,
            total: size,
            message: "the response ended early".into(),
        }),
        Err(Stop::Broken(message)) => Err(FetchError::Interrupted {
            url: url.to_string(),
            kept: part.to_path_buf(),
            have: at,
            total: size,
            message,
        }),
        Err(Stop::TooLong) => {
            let _ = std::fs::remove_file(part);
            Err(FetchError::SizeMismatch {
                file: format!("{name} (from {url})"),
                expected: size,
                actual: at + 1,
            })
        }
        Err(Stop::Disk(message)) => Err(FetchError::Io {
            path: part.to_path_buf(),
            source: std::io::Error::other(message),
        }),
    }
}

enum Stop {
    Broken(String),
    TooLong,
    Disk(String),
}

/// The first byte of a `Content-Range: bytes <first>-<last>/<total>` value.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_and_part_names() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
        assert_eq!(
            part_path(Path::new("/c/train_32x32.mat")),
            Path::new("/c/train_32x32.mat.part")
        );
    }
}
