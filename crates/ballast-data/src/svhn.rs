//! SVHN cropped digits (Netzer et al. 2011): the `train_32x32.mat` (73 257 images),
//! `test_32x32.mat` (26 032) and `extra_32x32.mat` (531 131) MATLAB files.
//!
//! Each file holds two variables (decoded by [`crate::mat`]):
//! - `X`: `uint8` of MATLAB shape `[32, 32, 3, N]` (height, width, channel, example),
//!   column-major, so pixel `(row i, column j, channel c)` of example `n` is byte
//!   `i + 32·j + 1024·c + 3072·n`;
//! - `y`: `[N, 1]` labels stored as `double` (or any numeric type), 1 to 10, where
//!   10 means the digit 0.
//!
//! The decoded [`Dataset`] has examples of shape `[3, 32, 32]`, channel-planar and
//! row-major like CIFAR (bytes / 255), and labels 0–9 equal to the digit.

use crate::mat::{MatClass, MatData, MatFile};
use crate::{DataError, Dataset};

/// Number of classes (digits).
pub const SVHN_CLASSES: usize = 10;
/// Bytes of one image.
const IMAGE: usize = 3 * 32 * 32;

/// Builds a data set named `name` from the `X` and `y` variables of an SVHN MAT-file.
///
/// Errors (typed): a variable missing or of another kind, `X` not `uint8 [32, 32, 3, N]`
/// (MATLAB drops a trailing 1, so `[32, 32, 3]` is one image), `y` not holding `N`
/// values, or a label that is not an integer from 1 to 10.
pub fn svhn_from_mat(file: &MatFile, name: &str) -> Result<Dataset, DataError> {
    let x = file.array("X")?;
    let y = file.array("y")?;
    let n = match x.dims.as_slice() {
        [32, 32, 3] => 1,
        [32, 32, 3, n] => *n,
        _ => {
            return Err(DataError::UnexpectedShape {
                what: "SVHN variable X",
                expected: "[32, 32, 3, N]",
                found: x.dims.clone(),
            });
        }
    };
    let MatData::U8(pixels) = &x.data else {
        return Err(DataError::UnexpectedShape {
            what: "SVHN variable X (values must be stored as uint8)",
            expected: "uint8 [32, 32, 3, N]",
            found: x.dims.clone(),
        });
    };
    if x.class != MatClass::UInt8 {
        return Err(DataError::UnexpectedShape {
            what: "SVHN variable X (class must be uint8)",
            expected: "uint8 [32, 32, 3, N]",
            found: x.dims.clone(),
        });
    }
    if n == 0 {
        return Err(DataError::Empty("SVHN variable X"));
    }
    let count: usize = y.dims.iter().product();
    if y.dims.iter().filter(|&&d| d != 1).count() > 1 || count != n {
        return Err(DataError::CountMismatch {
            images: n,
            labels: count,
        });
    }
    let mut labels = Vec::with_capacity(n);
    for index in 0..n {
        let v = y.data.get_f64(index).unwrap_or(f64::NAN);
        if !(v.fract() == 0.0 && (1.0..=10.0).contains(&v)) {
            return Err(DataError::InvalidLabel {
                index,
                value: v.to_string(),
                expected: "an integer from 1 to 10 (10 is the digit 0)",
            });
        }
        labels.push(v as u32 % 10);
    }
    let mut out = vec![0f32; n * IMAGE];
    for (src, dst) in pixels.chunks_exact(IMAGE).zip(out.chunks_exact_mut(IMAGE)) {
        for c in 0..3 {
            let plane = &src[c * 1024..(c + 1) * 1024];
            let target = &mut dst[c * 1024..(c + 1) * 1024];
            for j in 0..32 {
                for i in 0..32 {
                    target[i * 32 + j] = f32::from(plane[i + 32 * j]) / 255.0;
                }
            }
        }
    }
    Dataset::new(out, vec![3, 32, 32], labels, SVHN_CLASSES, name)
}

/// Native loader for an SVHN folder.
#[cfg(feature = "fetch")]
mod native {
    use std::io::BufReader;
    use std::path::Path;

    use super::svhn_from_mat;
    use crate::mat::{MatLimits, read_mat};
    use crate::{DataError, Dataset, FetchError};

    /// Training file.
    pub const SVHN_TRAIN_FILE: &str = "train_32x32.mat";
    /// Test file.
    pub const SVHN_TEST_FILE: &str = "test_32x32.mat";
    /// The optional extra training file.
    pub const SVHN_EXTRA_FILE: &str = "extra_32x32.mat";

    /// Reads one SVHN MAT-file.
    pub fn read_svhn_file(path: &Path, name: &str) -> Result<Dataset, FetchError> {
        let file = std::fs::File::open(path).map_err(|source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parse_err = |source: DataError| FetchError::Parse {
            file: path.display().to_string(),
            source,
        };
        let mat = read_mat(
            BufReader::with_capacity(1 << 20, file),
            &MatLimits::default(),
        )
        .map_err(|e| parse_err(e.into()))?;
        svhn_from_mat(&mat, name).map_err(parse_err)
    }

    /// Loads `(train, test)` from a folder holding `train_32x32.mat` and `test_32x32.mat`
    /// (and `extra_32x32.mat` when `extra`), directly or in its `svhn/` subfolder (so the
    /// cache root works too). With `extra`, the extra images follow the training images
    /// (source indices continue after 73 257). Data sets are named `svhn-train` /
    /// `svhn-test`.
    pub fn load_svhn_dir(dir: &Path, extra: bool) -> Result<(Dataset, Dataset), FetchError> {
        let candidates = [dir.to_path_buf(), dir.join("svhn")];
        let mut files = vec![SVHN_TRAIN_FILE, SVHN_TEST_FILE];
        if extra {
            files.push(SVHN_EXTRA_FILE);
        }
        let folder =
            crate::fetch::complete_folder(&candidates, &files, |d, f| d.join(f).is_file())?;
        let mut train = read_svhn_file(&folder.join(SVHN_TRAIN_FILE), "svhn-train")?;
        let test = read_svhn_file(&folder.join(SVHN_TEST_FILE), "svhn-test")?;
        if extra {
            let path = folder.join(SVHN_EXTRA_FILE);
            let more = read_svhn_file(&path, "svhn-extra")?;
            let mut x = std::mem::take(&mut train.x);
            x.extend_from_slice(&more.x);
            let mut labels = std::mem::take(&mut train.labels);
            labels.extend_from_slice(&more.labels);
            drop(more);
            train =
                Dataset::new(x, vec![3, 32, 32], labels, 10, "svhn-train").map_err(|source| {
                    FetchError::Parse {
                        file: path.display().to_string(),
                        source,
                    }
                })?;
        }
        Ok((train, test))
    }
}

#[cfg(feature = "fetch")]
pub use native::{SVHN_EXTRA_FILE, SVHN_TEST_FILE, SVHN_TRAIN_FILE, load_svhn_dir, read_svhn_file};
