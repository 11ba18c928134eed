//! The CIFAR-10 binary format: a concatenation of 3073-byte records, each one
//! label byte followed by the 1024 red, 1024 green and 1024 blue bytes of a
//! 32×32 image (row-major within each plane).
//!
//! The decoded [`Dataset`] keeps the channel-planar layout, so an example has
//! shape `[3, 32, 32]` and its bytes map one-to-one (scaled by 1/255).

use crate::{DataError, Dataset};

/// Bytes per image (3 planes of 32×32).
pub const CIFAR_IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes per record: one label byte plus the image.
pub const CIFAR_RECORD_BYTES: usize = 1 + CIFAR_IMAGE_BYTES;
/// Number of CIFAR-10 classes.
pub const CIFAR10_CLASSES: usize = 10;

/// Parses CIFAR-10 binary records (one `data_batch_N.bin` / `test_batch.bin`,
/// or several concatenated) into a data set named `"cifar10"`.
///
/// Errors if the input is empty, its length is not a multiple of 3073 (the
/// error says how many bytes are left over), or a label is above 9.
pub fn parse_cifar10_bin(bytes: &[u8]) -> Result<Dataset, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty("CIFAR-10 binary input"));
    }
    let leftover = bytes.len() % CIFAR_RECORD_BYTES;
    if leftover != 0 {
        return Err(DataError::CifarLength {
            len: bytes.len(),
            record: CIFAR_RECORD_BYTES,
            complete: bytes.len() / CIFAR_RECORD_BYTES,
            leftover,
        });
    }
    let n = bytes.len() / CIFAR_RECORD_BYTES;
    let mut labels = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n * CIFAR_IMAGE_BYTES);
    for (index, record) in bytes.chunks_exact(CIFAR_RECORD_BYTES).enumerate() {
        let label = u32::from(record[0]);
        if label as usize >= CIFAR10_CLASSES {
            return Err(DataError::LabelOutOfRange {
                index,
                label,
                num_classes: CIFAR10_CLASSES,
            });
        }
        labels.push(label);
        x.extend(record[1..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Dataset::new(x, vec![3, 32, 32], labels, CIFAR10_CLASSES, "cifar10")
}

/// Encodes a `[3, 32, 32]` data set in the CIFAR-10 binary format, pixels
/// rounded from `[0, 1]` to bytes. Used to generate CIFAR-format fixtures.
///
/// # Panics
/// If the example shape is not `[3, 32, 32]`, `x` has the wrong length, or a
/// label does not fit in a byte; use [`try_write_cifar10_bin`] to get an error.
pub fn write_cifar10_bin(ds: &Dataset) -> Vec<u8> {
    match try_write_cifar10_bin(ds) {
        Ok(bytes) => bytes,
        Err(e) => panic!("write_cifar10_bin: {e}"),
    }
}

/// Fallible form of [`write_cifar10_bin`].
pub fn try_write_cifar10_bin(ds: &Dataset) -> Result<Vec<u8>, DataError> {
    if ds.example_shape != [3, 32, 32] {
        return Err(DataError::UnexpectedShape {
            what: "CIFAR-10 data set",
            expected: "[3, 32, 32]",
            found: ds.example_shape.clone(),
        });
    }
    if ds.x.len() != ds.len() * CIFAR_IMAGE_BYTES {
        return Err(DataError::SizeMismatch {
            what: "x",
            expected: ds.len() * CIFAR_IMAGE_BYTES,
            actual: ds.x.len(),
        });
    }
    let mut out = Vec::with_capacity(ds.len() * CIFAR_RECORD_BYTES);
    for (i, &label) in ds.labels.iter().enumerate() {
        let label = u8::try_from(label).map_err(|_| DataError::LabelOutOfRange {
            index: i,
            label,
            num_classes: 256,
        })?;
        out.push(label);
        out.extend(ds.example(i).iter().map(|&v| crate::idx::unit_to_byte(v)));
    }
    Ok(out)
}

/// Native loader for a user-supplied CIFAR-10 folder.
#[cfg(feature = "fetch")]
mod native {
    use std::path::Path;

    use super::parse_cifar10_bin;
    use crate::{Dataset, FetchError};

    /// Training batch file names, in order.
    pub const TRAIN_FILES: [&str; 5] = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ];
    /// Test batch file name.
    pub const TEST_FILE: &str = "test_batch.bin";

    /// Loads `(train, test)` from a folder holding `data_batch_1.bin` …
    /// `data_batch_5.bin` and `test_batch.bin`, either directly or in the
    /// `cifar-10-batches-bin/` subfolder the official archive unpacks to.
    ///
    /// Training examples are indexed 0..50000 in batch order. Errors name every
    /// missing file and the folders searched.
    pub fn load_cifar10_dir(dir: &Path) -> Result<(Dataset, Dataset), FetchError> {
        let candidates = [dir.to_path_buf(), dir.join("cifar-10-batches-bin")];
        let all: Vec<&str> = TRAIN_FILES.iter().copied().chain([TEST_FILE]).collect();
        let folder = crate::fetch::complete_folder(&candidates, &all, |d, f| d.join(f).is_file())?;
        load_from(&folder)
    }

    fn read_batch(path: &Path) -> Result<Dataset, FetchError> {
        let bytes = std::fs::read(path).map_err(|source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse_cifar10_bin(&bytes).map_err(|source| FetchError::Parse {
            file: path.display().to_string(),
            source,
        })
    }

    fn load_from(folder: &Path) -> Result<(Dataset, Dataset), FetchError> {
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for f in TRAIN_FILES {
            let batch = read_batch(&folder.join(f))?;
            x.extend_from_slice(&batch.x);
            labels.extend_from_slice(&batch.labels);
        }
        let train =
            Dataset::new(x, vec![3, 32, 32], labels, 10, "cifar10-train").map_err(|source| {
                FetchError::Parse {
                    file: folder.display().to_string(),
                    source,
                }
            })?;
        let mut test = read_batch(&folder.join(TEST_FILE))?;
        test.name = "cifar10-test".into();
        Ok((train, test))
    }
}

#[cfg(feature = "fetch")]
pub use native::load_cifar10_dir;

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic CIFAR-shaped data set.
    pub(crate) fn synthetic(n: usize) -> Dataset {
        let x = (0..n * CIFAR_IMAGE_BYTES)
            .map(|i| ((i * 31 + i / 7) % 256) as f32 / 255.0)
            .collect();
        let labels = (0..n).map(|i| (i * 3 % 10) as u32).collect();
        Dataset::new(x, vec![3, 32, 32], labels, 10, "cifar10").unwrap()
    }

    #[test]
    fn round_trip() {
        let d = synthetic(4);
        let bytes = write_cifar10_bin(&d);
        assert_eq!(bytes.len(), 4 * CIFAR_RECORD_BYTES);
        assert_eq!(bytes[CIFAR_RECORD_BYTES], 3);
        let back = parse_cifar10_bin(&bytes).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn channel_planes_map_to_chw() {
        let mut rec = vec![7u8];
        rec.extend(std::iter::repeat_n(255u8, 1024)); // R
        rec.extend(std::iter::repeat_n(0u8, 1024)); // G
        rec.extend(std::iter::repeat_n(51u8, 1024)); // B
        let d = parse_cifar10_bin(&rec).unwrap();
        assert_eq!(d.labels, vec![7]);
        assert_eq!(d.x[0], 1.0);
        assert_eq!(d.x[1024], 0.0);
        assert_eq!(d.x[2048], 0.2);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_cifar10_bin(&[]),
            Err(DataError::Empty("CIFAR-10 binary input"))
        );
        let bytes = write_cifar10_bin(&synthetic(2));
        let err = parse_cifar10_bin(&bytes[..bytes.len() - 5]).unwrap_err();
        assert_eq!(
            err,
            DataError::CifarLength {
                len: 2 * CIFAR_RECORD_BYTES - 5,
                record: CIFAR_RECORD_BYTES,
                complete: 1,
                leftover: CIFAR_RECORD_BYTES - 5
            }
        );
        assert!(err.to_string().contains("3068 bytes left over"));
        let mut bad = bytes.clone();
        bad[CIFAR_RECORD_BYTES] = 10;
        assert_eq!(
            parse_cifar10_bin(&bad),
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10
            })
        );
        let wrong = Dataset::new(vec![0.0; 4], vec![4], vec![0], 2, "w").unwrap();
        assert!(matches!(
            try_write_cifar10_bin(&wrong),
            Err(DataError::UnexpectedShape { .. })
        ));
    }

    #[cfg(feature = "fetch")]
    #[test]
    fn loads_a_folder_and_names_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&sub).unwrap();
        for (k, f) in native::TRAIN_FILES.iter().enumerate() {
            let mut d = synthetic(2);
            d.labels = vec![k as u32, 9];
            std::fs::write(sub.join(f), write_cifar10_bin(&d)).unwrap();
        }
        let err = load_cifar10_dir(tmp.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test_batch.bin"), "{msg}");
        assert!(!msg.contains("data_batch_1.bin"), "{msg}");

        std::fs::write(
            sub.join(native::TEST_FILE),
            write_cifar10_bin(&synthetic(3)),
        )
        .unwrap();
        let (train, test) = load_cifar10_dir(tmp.path()).unwrap();
        assert_eq!(train.len(), 10);
        assert_eq!(train.labels, vec![0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
        assert_eq!(train.index, (0..10).collect::<Vec<u32>>());
        assert_eq!(test.len(), 3);
        assert_eq!(test.name, "cifar10-test");
    }
}
