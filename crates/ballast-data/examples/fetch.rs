//! Fetches MNIST and Fashion-MNIST into a cache folder and prints what was loaded.
//!
//! `cargo run -p ballast-data --example fetch -- [CACHE_DIR] [mnist|fashion-mnist ...]`
//! (default cache: `./data`, default: both data sets).

use std::path::PathBuf;
use std::time::Instant;

use ballast_data::{FetchOptions, Source, fetch, load};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cache = PathBuf::from(args.next().unwrap_or_else(|| "data".into()));
    let mut sources = args
        .map(|a| a.parse::<Source>())
        .collect::<Result<Vec<_>, _>>()?;
    if sources.is_empty() {
        sources = Source::ALL.to_vec();
    }
    let opts = FetchOptions {
        verbose: true,
        ..FetchOptions::default()
    };
    for source in sources {
        let t = Instant::now();
        let dir = fetch(source, &cache, &opts)?;
        let fetched = t.elapsed();
        let t = Instant::now();
        let (train, test) = load(source, &dir)?;
        println!(
            "{source}: {} in {:.1?} (load + verify {:.1?}); train {} / test {}, first labels {:?}, mean {:.4}",
            dir.display(),
            fetched,
            t.elapsed(),
            train.len(),
            test.len(),
            &train.labels[..10],
            train.feature_mean()
        );
    }
    Ok(())
}
