//! A seeded, engine-free mutation fuzzer: takes corpus files, applies a few random edits (bit
//! flips, interesting bytes and words, inserted, deleted and duplicated ranges, truncation,
//! splices of two files) and runs a target on the result, catching panics.
//!
//! No coverage feedback: it finds what random edits of valid files reach. The coverage-guided
//! runs use AFL++ (`afl/`); this one runs anywhere, in `cargo test` included.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Target;

/// Largest input the mutator produces.
pub const MAX_LEN: usize = 1 << 16;

/// xorshift64* (Vigna 2016): small, fast and deterministic for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Spread the seed with SplitMix64 and never start at 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    fn pos(&mut self, len: usize) -> usize {
        if len == 0 { 0 } else { self.below(len) }
    }
}

const INTERESTING_8: [u8; 9] = [0, 1, 2, 0x7f, 0x80, 0xff, 8, 14, 15];
const INTERESTING_32: [u32; 12] = [
    0,
    1,
    2,
    3,
    8,
    0x7f,
    0x100,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    3073,
];

/// One random edit of `data` (`other` is a second corpus file, for splicing).
fn edit(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.pos(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.pos(len);
            data[i] = INTERESTING_8[rng.below(INTERESTING_8.len())];
        }
        2 if len > 0 => {
            let i = rng.pos(len);
            data[i] = data[i].wrapping_add(rng.below(33) as u8).wrapping_sub(16);
        }
        3 if len >= 4 => {
            let i = rng.pos(len - 3);
            let v = INTERESTING_32[rng.below(INTERESTING_32.len())];
            let bytes = if rng.below(2) == 0 {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            data[i..i + 4].copy_from_slice(&bytes);
        }
        4 => {
            // Insert random bytes.
            let i = rng.pos(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(i..i, bytes);
        }
        5 if len > 0 => {
            // Delete a range.
            let i = rng.pos(len);
            let n = 1 + rng.below((len - i).min(64));
            data.drain(i..i + n);
        }
        6 if len > 0 => {
            // Duplicate a range in place.
            let i = rng.pos(len);
            let n = 1 + rng.below((len - i).min(64));
            let copy = data[i..i + n].to_vec();
            let at = rng.pos(len + 1);
            data.splice(at..at, copy);
        }
        7 if len > 0 => data.truncate(rng.pos(len)),
        8 if !other.is_empty() => {
            // Splice: our head, the other file's tail.
            let cut = rng.pos(len + 1);
            let from = rng.pos(other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        9 if !other.is_empty() && len > 0 => {
            // Overwrite a range with bytes of the other file.
            let i = rng.pos(len);
            let from = rng.pos(other.len());
            let n = (1 + rng.below(32)).min(len - i).min(other.len() - from);
            data[i..i + n].copy_from_slice(&other[from..from + n]);
        }
        _ => {
            // Set a printable ASCII byte (text formats) or flip a byte.
            if len > 0 {
                let i = rng.pos(len);
                data[i] = if rng.below(2) == 0 {
                    b" \t\n\"'=[]{}.,:-+0123456789aez#\\"[rng.below(30)]
                } else {
                    !data[i]
                };
            }
        }
    }
    data.truncate(MAX_LEN);
}

/// A mutant of a random corpus file: one to eight stacked edits.
pub fn mutant(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus
        .get(rng.pos(corpus.len()))
        .cloned()
        .unwrap_or_default();
    let other = corpus.get(rng.pos(corpus.len())).map_or(&[][..], |v| v);
    for _ in 0..1 + rng.below(8) {
        edit(rng, &mut data, other);
    }
    data
}

/// Reads every file of a corpus directory (sorted by name).
pub fn read_corpus(dir: &Path) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.is_file());
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect()
}

/// An input on which a target panicked.
#[derive(Debug)]
pub struct Failure {
    pub target: &'static str,
    pub input: Vec<u8>,
    pub message: String,
    /// Where the input was saved, if it could be.
    pub saved: Option<PathBuf>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "target `{}` panicked on a {}-byte input: {}",
            self.target,
            self.input.len(),
            self.message
        )?;
        if let Some(p) = &self.saved {
            writeln!(f, "input saved to {}", p.display())?;
        }
        write!(f, "{}", hex_dump(&self.input, 512))
    }
}

/// A hex dump of the first `max` bytes.
pub fn hex_dump(data: &[u8], max: usize) -> String {
    let mut out = String::new();
    for (row, chunk) in data[..data.len().min(max)].chunks(16).enumerate() {
        out.push_str(&format!("{:08x} ", row * 16));
        for b in chunk {
            out.push_str(&format!(" {b:02x}"));
        }
        out.push('\n');
    }
    if data.len() > max {
        out.push_str(&format!("... ({} more bytes)\n", data.len() - max));
    }
    out
}

/// Runs `target` on `data`, turning a panic into a [`Failure`] (its input saved under
/// `save_dir` when given).
pub fn run_one(target: Target, data: &[u8], save_dir: Option<&Path>) -> Result<(), Failure> {
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(data)));
    let Err(payload) = result else {
        return Ok(());
    };
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into());
    let saved = save_dir.and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let path = dir.join(format!("{}-{hash:016x}.bin", target.name));
        std::fs::write(&path, data).ok()?;
        Some(path)
    });
    Err(Failure {
        target: target.name,
        input: data.to_vec(),
        message,
        saved,
    })
}

/// What a mutation run did.
#[derive(Clone, Debug)]
pub struct Stats {
    pub execs: u64,
    pub elapsed: Duration,
}

/// Runs `execs` mutants of `corpus` through `target` (seeded by `seed`), stopping at the first
/// panic. Panic messages are silenced while it runs (the hook is restored after).
pub fn run(
    target: Target,
    corpus: &[Vec<u8>],
    execs: u64,
    seed: u64,
    save_dir: Option<&Path>,
) -> Result<Stats, Failure> {
    let mut rng = Rng::new(seed);
    let start = Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut result = Ok(());
    for _ in 0..execs {
        let data = mutant(&mut rng, corpus);
        result = run_one(target, &data, save_dir);
        if result.is_err() {
            break;
        }
    }
    std::panic::set_hook(hook);
    result.map(|()| Stats {
        execs,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.below(13);
            assert_eq!(x, b.below(13));
            assert!(x < 13);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn mutants_stay_bounded_and_vary() {
        let corpus = vec![vec![1u8; 100], b"hello world".to_vec()];
        let mut rng = Rng::new(3);
        let mutants: Vec<Vec<u8>> = (0..500).map(|_| mutant(&mut rng, &corpus)).collect();
        assert!(mutants.iter().all(|m| m.len() <= MAX_LEN));
        assert!(mutants.iter().any(|m| !corpus.contains(m)));
        // An empty corpus mutates the empty input.
        let _ = mutant(&mut rng, &[]);
    }

    #[test]
    fn a_panic_is_caught_with_its_input() {
        fn boom(data: &[u8]) {
            assert!(data.len() < 3, "too long");
        }
        let t = Target {
            name: "boom",
            run: boom,
        };
        assert!(run_one(t, b"ab", None).is_ok());
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let err = run_one(t, b"abcd", None).unwrap_err();
        std::panic::set_hook(hook);
        assert_eq!(err.input, b"abcd");
        assert!(err.message.contains("too long"));
        assert!(err.to_string().contains("61 62 63 64"));
    }
}
