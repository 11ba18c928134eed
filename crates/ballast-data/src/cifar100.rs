//! The CIFAR-100 binary format: a concatenation of 3074-byte records, each one coarse
//! label byte (0–19, the superclass), one fine label byte (0–99), then the 1024 red,
//! 1024 green and 1024 blue bytes of a 32×32 image (row-major within each plane).
//! The official archive unpacks to `cifar-100-binary/train.bin` (50 000 records) and
//! `cifar-100-binary/test.bin` (10 000 records).
//!
//! The decoded [`Dataset`] keeps the channel-planar layout (`[3, 32, 32]`, bytes / 255)
//! and carries either label set ([`Cifar100Labels`]).

use serde::{Deserialize, Serialize};

use crate::cifar::CIFAR_IMAGE_BYTES;
use crate::{DataError, Dataset};

/// Bytes per record: coarse label, fine label, image.
pub const CIFAR100_RECORD_BYTES: usize = 2 + CIFAR_IMAGE_BYTES;
/// Number of fine classes.
pub const CIFAR100_FINE_CLASSES: usize = 100;
/// Number of coarse classes (superclasses).
pub const CIFAR100_COARSE_CLASSES: usize = 20;

/// Which CIFAR-100 labels a data set carries (config spelling `fine` / `coarse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Labels {
    /// The 100 classes (the usual benchmark).
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}

impl Cifar100Labels {
    /// Number of classes of this label set.
    pub fn num_classes(self) -> usize {
        match self {
            Self::Fine => CIFAR100_FINE_CLASSES,
            Self::Coarse => CIFAR100_COARSE_CLASSES,
        }
    }

    /// `fine` or `coarse`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fine => "fine",
            Self::Coarse => "coarse",
        }
    }
}

/// Parses CIFAR-100 binary records (`train.bin`, `test.bin`) into a data set named
/// `"cifar100"` with the chosen labels.
///
/// Errors if the input is empty, its length is not a multiple of 3074 (the error says how
/// many bytes are left over), or a coarse label is above 19 or a fine label above 99 (both
/// are checked whichever set is kept).
pub fn parse_cifar100_bin(bytes: &[u8], labels: Cifar100Labels) -> Result<Dataset, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty("CIFAR-100 binary input"));
    }
    let leftover = bytes.len() % CIFAR100_RECORD_BYTES;
    if leftover != 0 {
        return Err(DataError::CifarLength {
            len: bytes.len(),
            record: CIFAR100_RECORD_BYTES,
            complete: bytes.len() / CIFAR100_RECORD_BYTES,
            leftover,
        });
    }
    let n = bytes.len() / CIFAR100_RECORD_BYTES;
    let mut out = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n * CIFAR_IMAGE_BYTES);
    for (index, record) in bytes.chunks_exact(CIFAR100_RECORD_BYTES).enumerate() {
        let (coarse, fine) = (u32::from(record[0]), u32::from(record[1]));
        for (label, classes) in [
            (coarse, CIFAR100_COARSE_CLASSES),
            (fine, CIFAR100_FINE_CLASSES),
        ] {
            if label as usize >= classes {
                return Err(DataError::LabelOutOfRange {
                    index,
                    label,
                    num_classes: classes,
                });
            }
        }
        out.push(match labels {
            Cifar100Labels::Fine => fine,
            Cifar100Labels::Coarse => coarse,
        });
        x.extend(record[2..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Dataset::new(x, vec![3, 32, 32], out, labels.num_classes(), "cifar100")
}

/// Encodes a `[3, 32, 32]` data set whose labels are fine labels, with the given coarse
/// label per example, in the CIFAR-100 binary format (pixels rounded from `[0, 1]` to
/// bytes). Used to generate CIFAR-100-format fixtures.
pub fn write_cifar100_bin(fine: &Dataset, coarse: &[u32]) -> Result<Vec<u8>, DataError> {
    if fine.example_shape != [3, 32, 32] {
        return Err(DataError::UnexpectedShape {
            what: "CIFAR-100 data set",
            expected: "[3, 32, 32]",
            found: fine.example_shape.clone(),
        });
    }
    fine.validate()?;
    if coarse.len() != fine.len() {
        return Err(DataError::SizeMismatch {
            what: "coarse labels",
            expected: fine.len(),
            actual: coarse.len(),
        });
    }
    let mut out = Vec::with_capacity(fine.len() * CIFAR100_RECORD_BYTES);
    for (i, (&f, &c)) in fine.labels.iter().zip(coarse).enumerate() {
        for (label, classes) in [(c, CIFAR100_COARSE_CLASSES), (f, CIFAR100_FINE_CLASSES)] {
            if label as usize >= classes {
                return Err(DataError::LabelOutOfRange {
                    index: i,
                    label,
                    num_classes: classes,
                });
            }
            out.push(label as u8);
        }
        out.extend(fine.example(i).iter().map(|&v| crate::idx::unit_to_byte(v)));
    }
    Ok(out)
}

/// Native loader for a CIFAR-100 folder.
#[cfg(feature = "fetch")]
mod native {
    use std::path::Path;

    use super::{Cifar100Labels, parse_cifar100_bin};
    use crate::{Dataset, FetchError};

    /// Folder the official archive unpacks to.
    pub const CIFAR100_DIR: &str = "cifar-100-binary";
    /// Training file name.
    pub const CIFAR100_TRAIN_FILE: &str = "train.bin";
    /// Test file name.
    pub const CIFAR100_TEST_FILE: &str = "test.bin";

    /// Loads `(train, test)` with the chosen labels from a folder holding `train.bin` and
    /// `test.bin`, directly or in the `cifar-100-binary/` subfolder the official archive
    /// unpacks to (such as `<cache>/cifar100/`, which `ballast data fetch cifar100` fills).
    /// Data sets are named `cifar100-train` / `cifar100-test`; errors name the missing
    /// files and the folders searched, or the file that does not decode.
    pub fn load_cifar100_dir(
        dir: &Path,
        labels: Cifar100Labels,
    ) -> Result<(Dataset, Dataset), FetchError> {
        let candidates = [dir.to_path_buf(), dir.join(CIFAR100_DIR)];
        let files = [CIFAR100_TRAIN_FILE, CIFAR100_TEST_FILE];
        let folder =
            crate::fetch::complete_folder(&candidates, &files, |d, f| d.join(f).is_file())?;
        let read = |name: &str, split: &str| -> Result<Dataset, FetchError> {
            let path = folder.join(name);
            let bytes = std::fs::read(&path).map_err(|source| FetchError::Io {
                path: path.clone(),
                source,
            })?;
            let mut ds =
                parse_cifar100_bin(&bytes, labels).map_err(|source| FetchError::Parse {
                    file: path.display().to_string(),
                    source,
                })?;
            ds.name = format!("cifar100-{split}");
            Ok(ds)
        };
        Ok((
            read(CIFAR100_TRAIN_FILE, "train")?,
            read(CIFAR100_TEST_FILE, "test")?,
        ))
    }
}

#[cfg(feature = "fetch")]
pub use native::{CIFAR100_DIR, CIFAR100_TEST_FILE, CIFAR100_TRAIN_FILE, load_cifar100_dir};

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize) -> (Dataset, Vec<u32>) {
        let x = (0..n * CIFAR_IMAGE_BYTES)
            .map(|i| ((i * 13 + i / 5) % 256) as f32 / 255.0)
            .collect();
        let fine: Vec<u32> = (0..n).map(|i| (i * 37 % 100) as u32).collect();
        let coarse = fine.iter().map(|f| f / 5).collect();
        (
            Dataset::new(x, vec![3, 32, 32], fine, 100, "cifar100").unwrap(),
            coarse,
        )
    }

    #[test]
    fn round_trip_with_both_label_sets() {
        let (d, coarse) = synthetic(5);
        let bytes = write_cifar100_bin(&d, &coarse).unwrap();
        assert_eq!(bytes.len(), 5 * CIFAR100_RECORD_BYTES);
        assert_eq!(bytes[CIFAR100_RECORD_BYTES..][..2], [7, 37]);
        let fine = parse_cifar100_bin(&bytes, Cifar100Labels::Fine).unwrap();
        assert_eq!(fine, d);
        let c = parse_cifar100_bin(&bytes, Cifar100Labels::Coarse).unwrap();
        assert_eq!(c.labels, coarse);
        assert_eq!(c.num_classes, 20);
        assert_eq!(c.x, d.x);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            parse_cifar100_bin(&[], Cifar100Labels::Fine),
            Err(DataError::Empty("CIFAR-100 binary input"))
        );
        let (d, coarse) = synthetic(2);
        let bytes = write_cifar100_bin(&d, &coarse).unwrap();
        let err = parse_cifar100_bin(&bytes[..bytes.len() - 1], Cifar100Labels::Fine);
        assert!(
            matches!(
                err,
                Err(DataError::CifarLength {
                    record: 3074,
                    complete: 1,
                    leftover: 3073,
                    ..
                })
            ),
            "{err:?}"
        );
        let mut bad = bytes.clone();
        bad[CIFAR100_RECORD_BYTES] = 20; // coarse label of example 1
        assert_eq!(
            parse_cifar100_bin(&bad, Cifar100Labels::Fine),
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 20,
                num_classes: 20
            })
        );
        let mut bad = bytes;
        bad[1] = 100;
        assert!(parse_cifar100_bin(&bad, Cifar100Labels::Coarse).is_err());
        assert!(matches!(
            write_cifar100_bin(&d, &[0]),
            Err(DataError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn label_set_names_and_serde() {
        assert_eq!(Cifar100Labels::default(), Cifar100Labels::Fine);
        assert_eq!(Cifar100Labels::Coarse.num_classes(), 20);
        assert_eq!(
            serde_json::to_string(&Cifar100Labels::Coarse).unwrap(),
            "\"coarse\""
        );
    }

    #[cfg(feature = "fetch")]
    #[test]
    fn loads_the_unpacked_folder_and_names_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join(CIFAR100_DIR);
        std::fs::create_dir(&sub).unwrap();
        let (d, coarse) = synthetic(3);
        std::fs::write(
            sub.join("train.bin"),
            write_cifar100_bin(&d, &coarse).unwrap(),
        )
        .unwrap();
        let err = load_cifar100_dir(tmp.path(), Cifar100Labels::Fine).unwrap_err();
        assert!(err.to_string().contains("test.bin"), "{err}");
        std::fs::write(
            sub.join("test.bin"),
            write_cifar100_bin(&d, &coarse).unwrap(),
        )
        .unwrap();
        let (train, test) = load_cifar100_dir(tmp.path(), Cifar100Labels::Coarse).unwrap();
        assert_eq!((train.len(), test.len()), (3, 3));
        assert_eq!(train.name, "cifar100-train");
        assert_eq!(train.num_classes, 20);
    }
}
