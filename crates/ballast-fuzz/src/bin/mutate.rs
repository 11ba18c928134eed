//! The engine-free mutation fuzzer on one target:
//!
//! ```sh
//! cargo run -p ballast-fuzz --release --bin mutate -- --target idx --execs 1000000 [--seed 1]
//! ```
//!
//! Replays the target's committed corpus, then runs `--execs` mutants of it. Exits 1 with the
//! input (hex dump, and a file under `--save-dir`, default `fuzz-failures/`) on a panic.

use std::path::PathBuf;
use std::process::ExitCode;

use ballast_fuzz::mutate::{self, read_corpus};
use ballast_fuzz::{TARGETS, corpus_dir, target};

fn main() -> ExitCode {
    let mut name = None;
    let mut execs = 100_000u64;
    let mut seed = 1u64;
    let mut save_dir = PathBuf::from("fuzz-failures");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--target" => name = Some(value()),
            "--execs" => execs = value().parse().unwrap_or(execs),
            "--seed" => seed = value().parse().unwrap_or(seed),
            "--save-dir" => save_dir = PathBuf::from(value()),
            _ => {
                eprintln!(
                    "usage: mutate --target <{}> [--execs N] [--seed S] [--save-dir DIR]",
                    TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join("|")
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(t) = name.as_deref().and_then(target) else {
        eprintln!("unknown or missing --target");
        return ExitCode::from(2);
    };
    let corpus = match read_corpus(&corpus_dir(t.name)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot read the corpus of {}: {e}", t.name);
            return ExitCode::from(2);
        }
    };
    for (path, data) in &corpus {
        if let Err(f) = mutate::run_one(t, data, Some(&save_dir)) {
            eprintln!("corpus file {}:\n{f}", path.display());
            return ExitCode::from(1);
        }
    }
    let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, d)| d).collect();
    match mutate::run(t, &inputs, execs, seed, Some(&save_dir)) {
        Ok(stats) => {
            let secs = stats.elapsed.as_secs_f64();
            println!(
                "{}: {} execs in {secs:.1} s ({:.0}/s), 0 panics",
                t.name,
                stats.execs,
                stats.execs as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("{f}");
            ExitCode::from(1)
        }
    }
}
