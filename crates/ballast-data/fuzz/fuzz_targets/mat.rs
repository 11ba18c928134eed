//! Fuzzes the MAT v5 reader and the SVHN decoder: no panics on any input, and every
//! decoded array is consistent with its dimensions.
#![no_main]

use ballast_data::mat::{MatLimits, read_mat};
use ballast_data::svhn_from_mat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = MatLimits {
        max_array_bytes: 1 << 20,
        ..MatLimits::default()
    };
    if let Ok(file) = read_mat(data, &limits) {
        for a in &file.arrays {
            assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
        let _ = svhn_from_mat(&file, "fuzz");
    }
});
