//! The MAT v5 reader and the SVHN decoder: round trips through an independent writer
//! (plain and compressed elements, both byte orders), typed errors for each malformed
//! case, and property tests that they never panic.

mod support;

use ballast_data::mat::{MatLimits, read_mat};
use ballast_data::{DataError, MatClass, MatData, MatError, parse_mat, svhn_from_mat};
use proptest::prelude::*;
use support::mat_writer::{Values, Var, svhn_mat, write_mat};

fn var(name: &str, class: u8, dims: &[i32], values: Values, compressed: bool) -> Var {
    Var::new(name, class, dims, values, compressed)
}

#[test]
fn round_trips_plain_and_compressed_in_both_byte_orders() {
    for big in [false, true] {
        for compressed in [false, true] {
            let bytes = write_mat(
                &[
                    var(
                        "X",
                        9,
                        &[2, 3],
                        Values::U8(vec![1, 2, 3, 4, 5, 6]),
                        compressed,
                    ),
                    var(
                        "label",
                        6,
                        &[3, 1],
                        Values::F64(vec![1.5, -2.0, 1e9]),
                        compressed,
                    ),
                    // A double array MATLAB stored as int16 (automatic compression).
                    var("d", 6, &[1, 2], Values::I16(vec![-7, 300]), compressed),
                    // Stored as uint8 although the class is double.
                    var("y", 6, &[1, 1], Values::U8(vec![10]), compressed),
                ],
                big,
            );
            let file =
                parse_mat(&bytes).unwrap_or_else(|e| panic!("big={big} c={compressed}: {e}"));
            assert!(file.skipped.is_empty());
            let x = file.array("X").unwrap();
            assert_eq!(x.class, MatClass::UInt8);
            assert_eq!(x.dims, vec![2, 3]);
            assert_eq!(x.data, MatData::U8(vec![1, 2, 3, 4, 5, 6]));
            let l = file.array("label").unwrap();
            assert_eq!(l.class, MatClass::Double);
            assert_eq!(l.data, MatData::F64(vec![1.5, -2.0, 1e9]));
            assert_eq!(
                file.array("d").unwrap().data,
                MatData::F64(vec![-7.0, 300.0])
            );
            let y = file.array("y").unwrap();
            assert_eq!((y.class, y.data.get_f64(0)), (MatClass::Double, Some(10.0)));
        }
    }
}

#[test]
fn non_numeric_and_complex_variables_are_skipped_and_named() {
    let mut complex = var("z", 6, &[1, 2], Values::F64(vec![1.0, 2.0]), false);
    complex.complex = true;
    let bytes = write_mat(
        &[
            var("s", 2, &[1, 1], Values::U8(vec![]), true),
            complex,
            var("X", 9, &[1, 1], Values::U8(vec![7]), false),
        ],
        false,
    );
    let file = parse_mat(&bytes).unwrap();
    assert_eq!(file.arrays.len(), 1);
    let names: Vec<_> = file
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(names, vec![("s", "a struct"), ("z", "complex")]);
    let err = file.array("z").unwrap_err();
    assert!(err.to_string().contains("`z` is complex"), "{err}");
    let err = file.array("nope").unwrap_err();
    assert_eq!(
        err,
        MatError::MissingVariable {
            name: "nope".into(),
            found: vec!["X".into(), "s".into(), "z".into()]
        }
    );
}

fn good_file(compressed: bool) -> Vec<u8> {
    write_mat(
        &[var(
            "X",
            9,
            &[4, 2],
            Values::U8((0..8).collect()),
            compressed,
        )],
        false,
    )
}

#[test]
fn malformed_headers_are_typed_errors() {
    let good = good_file(false);
    assert!(matches!(
        parse_mat(&good[..100]),
        Err(MatError::Truncated { available: 100, .. })
    ));
    let mut level4 = good.clone();
    level4[..4].fill(0);
    let msg = parse_mat(&level4).unwrap_err().to_string();
    assert!(msg.contains("level-4"), "{msg}");
    let mut v73 = good.clone();
    v73[124..126].copy_from_slice(&0x0200u16.to_le_bytes());
    let msg = parse_mat(&v73).unwrap_err().to_string();
    assert!(msg.contains("v7.3"), "{msg}");
    let mut endian = good;
    endian[126..128].copy_from_slice(b"XX");
    assert!(matches!(
        parse_mat(&endian),
        Err(MatError::NotLevel5 { .. })
    ));
}

#[test]
fn malformed_elements_are_typed_errors() {
    let good = good_file(false);
    // Cut inside the real part.
    let err = parse_mat(&good[..good.len() - 12]).unwrap_err();
    assert!(
        matches!(
            err,
            MatError::Truncated { .. } | MatError::BadElement { .. }
        ),
        "{err:?}"
    );
    // A top-level element of another type.
    let mut other = good.clone();
    other[128] = 2;
    let msg = parse_mat(&other).unwrap_err().to_string();
    assert!(msg.contains("expected miMATRIX"), "{msg}");
    // Array flags of the wrong type.
    let mut flags = good.clone();
    flags[136] = 5;
    let msg = parse_mat(&flags).unwrap_err().to_string();
    assert!(
        msg.contains("array flags") && msg.contains("miUINT32"),
        "{msg}"
    );
    // Dimensions that do not match the data.
    let mut dims = good.clone();
    dims[160] = 5; // first dimension 4 -> 5
    let msg = parse_mat(&dims).unwrap_err().to_string();
    assert!(
        msg.contains("real part") && msg.contains("expected 10 × 1"),
        "{msg}"
    );
    // An array larger than the cap.
    let limits = MatLimits {
        max_array_bytes: 4,
        ..MatLimits::default()
    };
    assert!(matches!(
        read_mat(&good[..], &limits),
        Err(MatError::TooLarge {
            bytes: 8,
            cap: 4,
            ..
        })
    ));
    // A compressed element whose zlib stream is damaged.
    let mut z = good_file(true);
    let mid = 136 + (z.len() - 136) / 2;
    z[mid] ^= 0xFF;
    z[mid + 1] ^= 0x55;
    let err = parse_mat(&z).unwrap_err();
    assert!(
        matches!(
            err,
            MatError::InCompressed { .. } | MatError::Truncated { .. }
        ),
        "{err:?}"
    );
}

fn chw_image(seed: u8) -> Vec<u8> {
    (0..3072)
        .map(|i| (i as u32 * 7 + u32::from(seed) * 31) as u8)
        .collect()
}

#[test]
fn svhn_round_trip_maps_column_major_hwc_to_chw_and_10_to_0() {
    for compressed in [false, true] {
        let images = vec![chw_image(1), chw_image(2), chw_image(3)];
        let bytes = svhn_mat(&images, &[0, 5, 9], compressed);
        let file = parse_mat(&bytes).unwrap();
        let ds = svhn_from_mat(&file, "svhn-test").unwrap();
        assert_eq!(ds.labels, vec![0, 5, 9]);
        assert_eq!(ds.example_shape, vec![3, 32, 32]);
        assert_eq!(ds.num_classes, 10);
        for (k, img) in images.iter().enumerate() {
            let want: Vec<f32> = img.iter().map(|&b| f32::from(b) / 255.0).collect();
            assert_eq!(ds.example(k), &want[..]);
        }
    }
    // One image: MATLAB drops the trailing 1 of [32, 32, 3, 1].
    let x = Var::new("X", 9, &[32, 32, 3], Values::U8(vec![9; 3072]), false);
    let y = Var::new("y", 6, &[1, 1], Values::F64(vec![10.0]), false);
    let ds = svhn_from_mat(&parse_mat(&write_mat(&[x, y], false)).unwrap(), "one").unwrap();
    assert_eq!(ds.labels, vec![0]);
}

#[test]
fn svhn_errors_are_typed() {
    let x = || Var::new("X", 9, &[32, 32, 3, 2], Values::U8(vec![0; 6144]), false);
    let decode = |vars: &[Var]| svhn_from_mat(&parse_mat(&write_mat(vars, false)).unwrap(), "t");
    assert!(matches!(
        decode(&[x()]),
        Err(DataError::Mat(MatError::MissingVariable { .. }))
    ));
    for (labels, needle) in [
        (vec![11.0, 1.0], "11"),
        (vec![2.5, 1.0], "2.5"),
        (vec![0.0, 1.0], "label 0"),
    ] {
        let y = Var::new("y", 6, &[2, 1], Values::F64(labels), false);
        let err = decode(&[x(), y]).unwrap_err();
        assert!(
            matches!(err, DataError::InvalidLabel { index: 0, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    let y3 = Var::new("y", 6, &[3, 1], Values::F64(vec![1.0; 3]), false);
    assert_eq!(
        decode(&[x(), y3]),
        Err(DataError::CountMismatch {
            images: 2,
            labels: 3
        })
    );
    let wrong = Var::new("X", 9, &[32, 3, 32, 1], Values::U8(vec![0; 3072]), false);
    let y1 = Var::new("y", 6, &[1, 1], Values::F64(vec![1.0]), false);
    assert!(matches!(
        decode(&[wrong, y1.clone()]),
        Err(DataError::UnexpectedShape { .. })
    ));
    let doubles = Var::new("X", 6, &[32, 32, 3], Values::F64(vec![0.0; 3072]), false);
    assert!(matches!(
        decode(&[doubles, y1]),
        Err(DataError::UnexpectedShape { .. })
    ));
}

/// A random small variable for round trips.
fn any_var() -> impl Strategy<Value = Var> {
    (
        "[a-zA-Z][a-zA-Z0-9_]{0,9}",
        prop::collection::vec(0i32..4, 2..=4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(name, dims, u8s, compressed)| {
            let n: usize = dims.iter().map(|&d| d as usize).product();
            let values = if u8s {
                prop::collection::vec(any::<u8>(), n)
                    .prop_map(Values::U8)
                    .boxed()
            } else {
                prop::collection::vec(-1e6f64..1e6, n)
                    .prop_map(Values::F64)
                    .boxed()
            };
            values.prop_map(move |v| {
                let class = if matches!(v, Values::U8(_)) { 9 } else { 6 };
                Var::new(&name, class, &dims, v, compressed)
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_mat(&bytes);
    }

    #[test]
    fn a_valid_header_then_arbitrary_elements_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..400),
        big in any::<bool>(),
    ) {
        let mut bytes = write_mat(&[], big);
        bytes.extend_from_slice(&tail);
        let _ = parse_mat(&bytes);
    }

    #[test]
    fn damaged_files_never_panic(
        compressed in any::<bool>(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in any::<usize>(),
    ) {
        let mut bytes = svhn_mat(&[chw_image(4)], &[3], compressed);
        for (p, m) in flips {
            let i = 128 + p % (bytes.len() - 128);
            bytes[i] ^= m;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Ok(file) = parse_mat(&bytes) {
            let _ = svhn_from_mat(&file, "damaged");
        }
    }

    #[test]
    fn round_trips(vars in prop::collection::vec(any_var(), 0..4), big in any::<bool>()) {
        let file = parse_mat(&write_mat(&vars, big)).unwrap();
        prop_assert_eq!(file.arrays.len(), vars.len());
        for (got, want) in file.arrays.iter().zip(&vars) {
            prop_assert_eq!(&got.name, &want.name);
            prop_assert_eq!(got.dims.iter().map(|&d| d as i32).collect::<Vec<_>>(), want.dims.clone());
            match &want.values {
                Values::U8(v) => prop_assert_eq!(&got.data, &MatData::U8(v.clone())),
                Values::F64(v) => prop_assert_eq!(&got.data, &MatData::F64(v.clone())),
                Values::I16(_) => unreachable!(),
            }
        }
    }
}
