//! Fuzzes the IDX parser (raw and gzip) and the MNIST image/label pairing.
//!
//! Any input must give `Ok` or a typed `DataError`, never a panic, and a
//! successful parse must be self-consistent.
#![no_main]

use ballast_data::{mnist_from_idx, parse_idx_with_limit};
use libfuzzer_sys::fuzz_target;

/// Element cap for fuzzing: keeps every allocation far below libFuzzer's
/// default 2 GiB RSS limit while still exercising the cap check.
const MAX_ELEMENTS: u64 = 1 << 24;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = parse_idx_with_limit(data, MAX_ELEMENTS) {
        assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        // Raw (non-gzip) input that parses is exactly its own re-encoding.
        if !data.starts_with(&[0x1f, 0x8b]) {
            assert_eq!(array.to_bytes().expect("re-encode"), data);
        }
    }
    // Split the input into an images file and a labels file. Kept small so
    // the default 2^31 element cap of `mnist_from_idx` cannot be reached by
    // actual payload bytes.
    if data.len() > 1 && data.len() < 1 << 16 {
        let cut = usize::from(data[0]) * data.len() / 256;
        let (images, labels) = data[1..].split_at(cut.min(data.len() - 1));
        if let Ok(ds) = mnist_from_idx(images, labels, "fuzz") {
            assert!(ds.validate().is_ok());
        }
    }
});
