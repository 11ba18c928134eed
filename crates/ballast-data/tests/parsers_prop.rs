//! Property tests: the IDX and CIFAR-10 parsers never panic, return typed
//! errors on damaged input, and invert their encoders.

use std::io::Write;

use ballast_data::cifar::{CIFAR_IMAGE_BYTES, CIFAR_RECORD_BYTES};
use ballast_data::{
    DataError, Dataset, encode_idx, mnist_from_idx, parse_cifar10_bin, parse_idx,
    parse_idx_with_limit, write_cifar10_bin,
};
use flate2::{Compression, write::GzEncoder};
use proptest::prelude::*;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A valid IDX array: rank 1–4, small dimensions, matching data.
fn idx_array() -> impl Strategy<Value = (Vec<usize>, Vec<u8>)> {
    prop::collection::vec(0usize..6, 1..=4).prop_flat_map(|dims| {
        let n: usize = dims.iter().product();
        (Just(dims), prop::collection::vec(any::<u8>(), n))
    })
}

/// A damage applied to an encoded file.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte (position taken modulo the length) with a non-zero mask.
    Flip(usize, u8),
    /// Keep only this many leading bytes (modulo the length).
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Overwrite a header byte (position modulo `header_len`).
    Header(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(p, m)| Mutation::Flip(p, m)),
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::Header(p, v)),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation, header_len: usize) -> Vec<u8> {
    match m {
        Mutation::Flip(p, mask) => {
            if !bytes.is_empty() {
                let i = p % bytes.len();
                bytes[i] ^= mask;
            }
        }
        Mutation::Truncate(n) => {
            let keep = n % bytes.len().max(1);
            bytes.truncate(keep);
        }
        Mutation::Extend(extra) => bytes.extend_from_slice(extra),
        Mutation::Header(p, v) => {
            let i = p % header_len.min(bytes.len()).max(1);
            if let Some(b) = bytes.get_mut(i) {
                *b = *v;
            }
        }
    }
    bytes
}

/// Invariants of any successful IDX parse.
fn check_ok(array: &ballast_data::IdxArray) {
    assert!(!array.dims.is_empty());
    assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn idx_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(a) = parse_idx(&bytes) {
            check_ok(&a);
            // Raw input that parses is exactly the encoding of what it parsed to.
            if !bytes.starts_with(&[0x1f, 0x8b]) {
                prop_assert_eq!(a.to_bytes().unwrap(), bytes);
            }
        }
    }

    #[test]
    fn idx_random_header_like_bytes_never_panic(
        dtype in prop_oneof![Just(8u8), any::<u8>()],
        rank in 0u8..20,
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = vec![0, 0, dtype, rank];
        bytes.extend(rest);
        let _ = parse_idx_with_limit(&bytes, 1 << 20).map(|a| check_ok(&a));
        let _ = parse_idx_with_limit(&gz(&bytes), 1 << 20).map(|a| check_ok(&a));
    }

    #[test]
    fn idx_gzip_prefixed_garbage_never_panics(rest in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend(rest);
        let _ = parse_idx(&bytes).map(|a| check_ok(&a));
    }

    #[test]
    fn idx_round_trips((dims, data) in idx_array()) {
        let bytes = encode_idx(&dims, &data).unwrap();
        let parsed = parse_idx(&bytes).unwrap();
        prop_assert_eq!(&parsed.dims, &dims);
        prop_assert_eq!(&parsed.data, &data);
        prop_assert_eq!(parse_idx(&gz(&bytes)).unwrap(), parsed);
    }

    #[test]
    fn idx_mutations_give_typed_errors((dims, data) in idx_array(), m in mutation()) {
        let valid = encode_idx(&dims, &data).unwrap();
        let header_len = 4 + 4 * dims.len();
        let damaged = apply(valid.clone(), &m, header_len);
        let result = parse_idx(&damaged);
        match (&m, &result) {
            (_, Ok(a)) => check_ok(a),
            (_, Err(e)) => prop_assert!(!e.to_string().is_empty()),
        }
        match &m {
            Mutation::Truncate(_) => prop_assert!(
                matches!(result, Err(DataError::Truncated { .. })),
                "truncation gave {:?}", result
            ),
            Mutation::Extend(extra) => prop_assert_eq!(
                result,
                Err(DataError::TrailingBytes { expected: data.len() as u64, extra: extra.len() as u64 })
            ),
            _ => {}
        }
        // The same damage inside or to a gzip stream is handled too.
        let _ = parse_idx(&gz(&damaged)).map(|a| check_ok(&a));
        let _ = parse_idx(&apply(gz(&valid), &m, 10)).map(|a| check_ok(&a));
    }

    #[test]
    fn mnist_pairs_never_panic(
        images in prop::collection::vec(any::<u8>(), 0..128),
        labels in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(d) = mnist_from_idx(&images, &labels, "p") {
            prop_assert!(d.validate().is_ok());
        }
    }

    #[test]
    fn mnist_round_trips(n in 1usize..5, rows in 1usize..5, cols in 1usize..5, seed in any::<u64>()) {
        let pixels: Vec<u8> = (0..n * rows * cols).map(|i| (seed.wrapping_mul(i as u64 + 1) >> 7) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((seed >> (i % 60)) % 10) as u8).collect();
        let d = mnist_from_idx(
            &encode_idx(&[n, rows, cols], &pixels).unwrap(),
            &gz(&encode_idx(&[n], &labels).unwrap()),
            "m",
        ).unwrap();
        let (img2, lab2) = ballast_data::mnist_to_idx(&d).unwrap();
        prop_assert_eq!(parse_idx(&img2).unwrap().data, pixels);
        prop_assert_eq!(parse_idx(&lab2).unwrap().data, labels);
    }
}

/// A CIFAR-shaped data set from raw bytes and labels below 10.
fn cifar_set() -> impl Strategy<Value = (Vec<u8>, Vec<u32>)> {
    (1usize..4).prop_flat_map(|n| {
        (
            prop::collection::vec(any::<u8>(), n * CIFAR_IMAGE_BYTES),
            prop::collection::vec(0u32..10, n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cifar_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..(3 * CIFAR_RECORD_BYTES))) {
        let result = parse_cifar10_bin(&bytes);
        let valid_len = !bytes.is_empty() && bytes.len().is_multiple_of(CIFAR_RECORD_BYTES);
        let labels_ok = bytes.chunks(CIFAR_RECORD_BYTES).all(|r| r[0] < 10);
        prop_assert_eq!(result.is_ok(), valid_len && labels_ok, "{:?}", result.as_ref().err());
        if !valid_len {
            let is_length_error = matches!(result, Err(DataError::CifarLength { .. }) | Err(DataError::Empty(_)));
            prop_assert!(is_length_error);
        }
    }

    #[test]
    fn cifar_round_trips_and_mutations((pixels, labels) in cifar_set(), m in mutation()) {
        let d = Dataset::from_bytes(&pixels, vec![3, 32, 32], labels.clone(), 10, "cifar10").unwrap();
        let bytes = write_cifar10_bin(&d);
        let back = parse_cifar10_bin(&bytes).unwrap();
        prop_assert_eq!(&back, &d);

        let damaged = apply(bytes.clone(), &m, 1);
        let result = parse_cifar10_bin(&damaged);
        match &m {
            Mutation::Truncate(_) | Mutation::Extend(_) => {
                let is_length_error = matches!(result, Err(DataError::CifarLength { .. }) | Err(DataError::Empty(_)));
                prop_assert!(is_length_error || damaged.len().is_multiple_of(CIFAR_RECORD_BYTES));
            }
            Mutation::Header(_, v) => {
                if *v >= 10 {
                    prop_assert_eq!(result, Err(DataError::LabelOutOfRange { index: 0, label: u32::from(*v), num_classes: 10 }));
                } else {
                    prop_assert_eq!(result.unwrap().labels[0], *v as u32);
                }
            }
            Mutation::Flip(..) => {
                if let Ok(d2) = result {
                    prop_assert_eq!(d2.len(), d.len());
                }
            }
        }
    }
}
