//! Fuzzes the CIFAR-10 binary parser: no panics, and every accepted input
//! re-encodes to exactly the same bytes.
#![no_main]

use ballast_data::{parse_cifar10_bin, write_cifar10_bin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ds) = parse_cifar10_bin(data) {
        assert!(ds.validate().is_ok());
        assert_eq!(write_cifar10_bin(&ds), data);
    }
});
