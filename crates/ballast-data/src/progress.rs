//! Progress reporting for long fetch steps (downloads, hashing, unpacking), without any
//! terminal code: the library calls a [`Progress`], the CLI draws bars with `indicatif`.

/// What a reported step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Receiving a file over HTTP.
    Download,
    /// Computing a file's SHA-256.
    Verify,
    /// Extracting files from an archive.
    Unpack,
    /// Copying a verified file into the cache.
    Copy,
}

impl Task {
    /// Lower-case verb for messages: "download", "verify", "unpack", "copy".
    pub fn verb(self) -> &'static str {
        match self {
            Task::Download => "download",
            Task::Verify => "verify",
            Task::Unpack => "unpack",
            Task::Copy => "copy",
        }
    }
}

/// Receives progress events. Steps do not nest: `begin`, any number of `advance`, `end`.
pub trait Progress {
    /// A step on `item` (a file name) starts; `total` bytes if known, `done` already done
    /// (the size of a partial download being resumed).
    fn begin(&mut self, task: Task, item: &str, total: Option<u64>, done: u64);
    /// `bytes` more bytes were processed.
    fn advance(&mut self, bytes: u64);
    /// The current step finished (successfully or not).
    fn end(&mut self);
    /// A one-line status message ("already in the cache", "resuming at byte N", ...).
    fn note(&mut self, message: &str);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&mut self, _: Task, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn end(&mut self) {}
    fn note(&mut self, _: &str) {}
}
