//! IDX files (the MNIST / Fashion-MNIST container), raw or gzip-compressed.
//!
//! Layout: two zero bytes, an element-type byte, a rank byte, `rank` big-endian
//! `u32` dimensions, then the elements in row-major order. Only unsigned bytes
//! (type 0x08) are decoded, which covers every file of both data sets.
//!
//! The parser is written for hostile input: it never panics, never trusts a
//! header before the payload is actually present, caps the element count, and
//! reads gzip streams incrementally through `Read::take`, so a gzip bomb stops
//! at the declared payload size (itself capped) instead of exhausting memory.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::{DataError, Dataset};

/// Default cap on the number of elements one IDX file may declare (2^31).
pub const DEFAULT_MAX_ELEMENTS: u64 = 1 << 31;

/// Largest rank accepted. IDX allows 255, real files use 1 to 3.
pub const MAX_RANK: u8 = 16;

/// Type byte of unsigned-byte elements, the only one decoded.
const DTYPE_U8: u8 = 0x08;

/// Most trailing bytes counted after a gzip payload before giving up counting.
const TRAILING_COUNT_CAP: u64 = 1 << 20;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// Elements in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Encodes the array as an uncompressed IDX file.
    ///
    /// Fails if the rank is 0 or above [`MAX_RANK`], a dimension does not fit in
    /// `u32`, or `data` does not hold the product of `dims` elements.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DataError> {
        encode_idx(&self.dims, &self.data)
    }
}

/// Encodes `data` with shape `dims` as an uncompressed unsigned-byte IDX file.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Result<Vec<u8>, DataError> {
    let rank = u8::try_from(dims.len())
        .ok()
        .filter(|r| (1..=MAX_RANK).contains(r))
        .ok_or(DataError::BadRank {
            rank: u8::try_from(dims.len()).unwrap_or(u8::MAX),
            max: MAX_RANK,
        })?;
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::DimOverflow {
            dims: dims.iter().map(|&d| d as u64).collect(),
        })?;
    if count != data.len() {
        return Err(DataError::SizeMismatch {
            what: "IDX data",
            expected: count,
            actual: data.len(),
        });
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, DTYPE_U8, rank]);
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| {
            DataError::InvalidArgument(format!("IDX dimension {d} does not fit in u32"))
        })?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Parses an IDX file from bytes, gzip-compressed or not (detected by the
/// `1f 8b` magic), with the default element cap [`DEFAULT_MAX_ELEMENTS`].
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, DataError> {
    parse_idx_with_limit(bytes, DEFAULT_MAX_ELEMENTS)
}

/// [`parse_idx`] with an explicit cap on the declared element count (useful
/// for fuzzing and for untrusted uploads in the browser).
pub fn parse_idx_with_limit(bytes: &[u8], max_elements: u64) -> Result<IdxArray, DataError> {
    if is_gzip(bytes) {
        let mut reader = MultiGzDecoder::new(bytes);
        let array = parse_stream(&mut reader, max_elements)?;
        // Count (up to a cap) whatever the stream still holds.
        let extra = std::io::copy(
            &mut (&mut reader).take(TRAILING_COUNT_CAP),
            &mut std::io::sink(),
        )
        .map_err(|e| DataError::Gzip(e.to_string()))?;
        if extra > 0 {
            return Err(DataError::TrailingBytes {
                expected: array.data.len() as u64,
                extra,
            });
        }
        Ok(array)
    } else {
        let mut rest = bytes;
        let array = parse_stream(&mut rest, max_elements)?;
        if !rest.is_empty() {
            return Err(DataError::TrailingBytes {
                expected: array.data.len() as u64,
                extra: rest.len() as u64,
            });
        }
        Ok(array)
    }
}

/// True when `bytes` starts with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses a gzip stream, refusing to produce more than `max_bytes`.
pub fn gunzip_capped(bytes: &[u8], max_bytes: u64) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if out.len() as u64 > max_bytes {
        return Err(DataError::TooLarge {
            elements: out.len() as u64,
            cap: max_bytes,
        });
    }
    Ok(out)
}

/// Reads as many bytes as available into `buf`, returning how many were read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::Gzip(e.to_string())),
        }
    }
    Ok(filled)
}

/// Human name of an IDX element type, for error messages.
fn dtype_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown",
    }
}

/// Parses header and payload from a stream, leaving any trailing bytes unread.
fn parse_stream<R: Read>(reader: &mut R, max_elements: u64) -> Result<IdxArray, DataError> {
    let mut head = [0u8; 4];
    let got = read_up_to(reader, &mut head)?;
    if got < head.len() {
        return Err(DataError::Truncated {
            what: "IDX header",
            needed: 4,
            available: got as u64,
        });
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(DataError::BadMagic {
            found: [head[0], head[1]],
        });
    }
    if head[2] != DTYPE_U8 {
        return Err(DataError::UnsupportedDtype {
            code: head[2],
            name: dtype_name(head[2]),
        });
    }
    let rank = head[3];
    if rank == 0 || rank > MAX_RANK {
        return Err(DataError::BadRank {
            rank,
            max: MAX_RANK,
        });
    }

    let dims_len = 4 * usize::from(rank);
    let header_len = 4 + dims_len as u64;
    let mut dim_bytes = [0u8; 4 * MAX_RANK as usize];
    let got = read_up_to(reader, &mut dim_bytes[..dims_len])?;
    if got < dims_len {
        return Err(DataError::Truncated {
            what: "IDX header",
            needed: header_len,
            available: 4 + got as u64,
        });
    }
    let dims: Vec<u64> = dim_bytes[..dims_len]
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::DimOverflow { dims: dims.clone() })?;
    if elements > max_elements {
        return Err(DataError::TooLarge {
            elements,
            cap: max_elements,
        });
    }
    let too_big = || DataError::TooLarge {
        elements,
        cap: usize::MAX as u64,
    };
    // Both conversions succeed on 64-bit targets; on 32-bit (wasm) they guard the cap.
    let expected = usize::try_from(elements).map_err(|_| too_big())?;
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| too_big()))
        .collect::<Result<Vec<_>, _>>()?;

    // Grow the buffer only as bytes actually arrive; never `with_capacity(expected)`.
    let mut data = Vec::new();
    reader
        .take(elements)
        .read_to_end(&mut data)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if data.len() < expected {
        return Err(DataError::Truncated {
            what: "IDX payload",
            needed: header_len + elements,
            available: header_len + data.len() as u64,
        });
    }
    Ok(IdxArray { dims, data })
}

/// Builds an MNIST-style data set (`[1, rows, cols]` images scaled to [0, 1],
/// 10 classes) from an images IDX file (rank 3) and a labels IDX file (rank 1),
/// each raw or gzip-compressed.
///
/// Errors if either file is malformed, the ranks are wrong, the counts differ,
/// the set is empty, or a label is 10 or more.
pub fn mnist_from_idx(images: &[u8], labels: &[u8], name: &str) -> Result<Dataset, DataError> {
    let images = parse_idx(images)?;
    let labels = parse_idx(labels)?;
    let &[n, rows, cols] = images.dims.as_slice() else {
        return Err(DataError::UnexpectedShape {
            what: "MNIST images",
            expected: "[count, rows, cols]",
            found: images.dims,
        });
    };
    let &[n_labels] = labels.dims.as_slice() else {
        return Err(DataError::UnexpectedShape {
            what: "MNIST labels",
            expected: "[count]",
            found: labels.dims,
        });
    };
    if n != n_labels {
        return Err(DataError::CountMismatch {
            images: n,
            labels: n_labels,
        });
    }
    if n == 0 {
        return Err(DataError::Empty("MNIST image file"));
    }
    let labels: Vec<u32> = labels.data.iter().map(|&b| u32::from(b)).collect();
    crate::dataset::check_labels(&labels, 10)?;
    Dataset::from_bytes(&images.data, vec![1, rows, cols], labels, 10, name)
}

/// Encodes a `[1, rows, cols]` data set as (images, labels) uncompressed IDX
/// files, pixels rounded from `[0, 1]` back to bytes. The inverse of
/// [`mnist_from_idx`]; used to build test fixtures.
pub fn mnist_to_idx(ds: &Dataset) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let &[1, rows, cols] = ds.example_shape.as_slice() else {
        return Err(DataError::UnexpectedShape {
            what: "MNIST-style data set",
            expected: "[1, rows, cols]",
            found: ds.example_shape.clone(),
        });
    };
    let pixels: Vec<u8> = ds.x.iter().map(|&v| unit_to_byte(v)).collect();
    let labels = ds
        .labels
        .iter()
        .map(|&y| u8::try_from(y))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| DataError::InvalidArgument("IDX labels must fit in a byte".into()))?;
    Ok((
        encode_idx(&[ds.len(), rows, cols], &pixels)?,
        encode_idx(&[ds.len()], &labels)?,
    ))
}

/// Maps a `[0, 1]` value back to the nearest byte (clamped; NaN maps to 0).
pub(crate) fn unit_to_byte(v: f32) -> u8 {
    // `as` saturates and maps NaN to 0.
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap()
    }

    #[test]
    fn parses_raw_and_gzip() {
        let raw = sample();
        assert_eq!(raw[..4], [0, 0, 8, 2]);
        let a = parse_idx(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_idx(&gz(&raw)).unwrap(), a);
        assert_eq!(a.to_bytes().unwrap(), raw);
    }

    #[test]
    fn bad_magic() {
        let mut b = sample();
        b[1] = 3;
        assert_eq!(parse_idx(&b), Err(DataError::BadMagic { found: [0, 3] }));
    }

    #[test]
    fn unsupported_dtypes() {
        let mut b = sample();
        b[2] = 0x0D;
        assert_eq!(
            parse_idx(&b),
            Err(DataError::UnsupportedDtype {
                code: 0x0D,
                name: "f32"
            })
        );
        b[2] = 0x42;
        assert!(matches!(
            parse_idx(&b),
            Err(DataError::UnsupportedDtype {
                code: 0x42,
                name: "unknown"
            })
        ));
    }

    #[test]
    fn bad_rank() {
        let mut b = sample();
        b[3] = 0;
        assert!(matches!(
            parse_idx(&b),
            Err(DataError::BadRank { rank: 0, .. })
        ));
        b[3] = MAX_RANK + 1;
        assert!(matches!(parse_idx(&b), Err(DataError::BadRank { .. })));
        assert!(matches!(
            encode_idx(&[], &[]),
            Err(DataError::BadRank { .. })
        ));
    }

    #[test]
    fn truncated_header_and_payload() {
        let b = sample();
        assert_eq!(
            parse_idx(&b[..3]),
            Err(DataError::Truncated {
                what: "IDX header",
                needed: 4,
                available: 3
            })
        );
        assert_eq!(
            parse_idx(&b[..9]),
            Err(DataError::Truncated {
                what: "IDX header",
                needed: 12,
                available: 9
            })
        );
        assert_eq!(
            parse_idx(&b[..14]),
            Err(DataError::Truncated {
                what: "IDX payload",
                needed: 18,
                available: 14
            })
        );
        assert!(matches!(
            parse_idx(&gz(&b[..14])),
            Err(DataError::Truncated { .. })
        ));
        assert!(matches!(parse_idx(&[]), Err(DataError::Truncated { .. })));
    }

    #[test]
    fn trailing_bytes() {
        let mut b = sample();
        b.extend_from_slice(&[9, 9]);
        assert_eq!(
            parse_idx(&b),
            Err(DataError::TrailingBytes {
                expected: 6,
                extra: 2
            })
        );
        assert_eq!(
            parse_idx(&gz(&b)),
            Err(DataError::TrailingBytes {
                expected: 6,
                extra: 2
            })
        );
    }

    #[test]
    fn overflow_and_cap_fail_before_allocating() {
        // 5 dims of 2^32-1 overflow u64.
        let mut b = vec![0, 0, 8, 5];
        for _ in 0..5 {
            b.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        assert!(matches!(parse_idx(&b), Err(DataError::DimOverflow { .. })));
        // 2^32 - 1 elements exceed the default cap even though the product fits.
        let b = [0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            parse_idx(&b),
            Err(DataError::TooLarge {
                elements: u32::MAX as u64,
                cap: DEFAULT_MAX_ELEMENTS
            })
        );
        // Within the cap but the payload is absent: truncated, no huge allocation.
        let b = [0, 0, 8, 2, 0, 0, 0x80, 0, 0, 0, 0x80, 0];
        assert!(matches!(
            parse_idx(&b),
            Err(DataError::Truncated {
                what: "IDX payload",
                ..
            })
        ));
        assert!(matches!(
            parse_idx_with_limit(&sample(), 5),
            Err(DataError::TooLarge { cap: 5, .. })
        ));
    }

    #[test]
    fn gzip_bomb_stops_at_declared_size() {
        // Header declares 16 elements; the stream holds 8 MiB of zeros after it.
        let mut b = encode_idx(&[16], &[0; 16]).unwrap();
        b.extend(std::iter::repeat_n(0u8, 8 << 20));
        let err = parse_idx(&gz(&b)).unwrap_err();
        assert_eq!(
            err,
            DataError::TrailingBytes {
                expected: 16,
                extra: TRAILING_COUNT_CAP
            }
        );
        assert!(matches!(
            gunzip_capped(&gz(&b), 1000),
            Err(DataError::TooLarge { cap: 1000, .. })
        ));
    }

    #[test]
    fn corrupt_gzip_is_typed() {
        // Missing CRC / size trailer: the decoder reports a gzip error.
        let z = gz(&sample());
        assert!(matches!(
            parse_idx(&z[..z.len() - 4]),
            Err(DataError::Gzip(_))
        ));
        assert!(matches!(parse_idx(&[0x1f, 0x8b]), Err(DataError::Gzip(_))));
        // A flipped byte mid-stream gives some typed error, never a panic.
        let mut z = gz(&sample());
        let mid = z.len() / 2;
        z[mid] ^= 0xff;
        assert!(parse_idx(&z).is_err());
    }

    #[test]
    fn byte_scaling_round_trips_exactly() {
        for b in 0..=255u8 {
            assert_eq!(unit_to_byte(f32::from(b) / 255.0), b);
        }
        assert_eq!(unit_to_byte(f32::NAN), 0);
        assert_eq!(unit_to_byte(2.0), 255);
        assert_eq!(unit_to_byte(-1.0), 0);
    }

    #[test]
    fn mnist_pair_checks() {
        let images = encode_idx(&[2, 2, 2], &[0, 255, 0, 255, 51, 51, 51, 51]).unwrap();
        let labels = encode_idx(&[2], &[3, 9]).unwrap();
        let d = mnist_from_idx(&images, &labels, "m").unwrap();
        assert_eq!(d.example_shape, vec![1, 2, 2]);
        assert_eq!(d.labels, vec![3, 9]);
        assert_eq!(d.num_classes, 10);
        assert_eq!(d.x[1], 1.0);
        let (i2, l2) = mnist_to_idx(&d).unwrap();
        assert_eq!((i2, l2), (images.clone(), labels.clone()));

        let bad_labels = encode_idx(&[2], &[3, 10]).unwrap();
        assert_eq!(
            mnist_from_idx(&images, &bad_labels, "m"),
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10
            })
        );
        let three = encode_idx(&[3], &[0, 1, 2]).unwrap();
        assert_eq!(
            mnist_from_idx(&images, &three, "m"),
            Err(DataError::CountMismatch {
                images: 2,
                labels: 3
            })
        );
        assert!(matches!(
            mnist_from_idx(&labels, &labels, "m"),
            Err(DataError::UnexpectedShape { .. })
        ));
        assert!(matches!(
            mnist_from_idx(&images, &images, "m"),
            Err(DataError::UnexpectedShape { .. })
        ));
        let empty_i = encode_idx(&[0, 2, 2], &[]).unwrap();
        let empty_l = encode_idx(&[0], &[]).unwrap();
        assert_eq!(
            mnist_from_idx(&empty_i, &empty_l, "m"),
            Err(DataError::Empty("MNIST image file"))
        );
    }
}
