//! A small train / test image subset in one gzip file, for the browser (the reweighting
//! playground's MNIST set and the attack lab's test digits). Layout before compression:
//! the magic `BLSUBSET`, four big-endian u32 lengths, then the four IDX files (train
//! images, train labels, test images, test labels) back to back.

use std::io::Write;

use flate2::{Compression, write::GzEncoder};

use crate::idx::{gunzip_capped, mnist_from_idx, mnist_to_idx};
use crate::{DataError, Dataset};

const MAGIC: &[u8; 8] = b"BLSUBSET";
/// Far above any subset the page ships (a few thousand 28×28 digits), far below memory limits.
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// Encodes two MNIST-style data sets (example shape [1, rows, cols], pixels in [0, 1]).
pub fn encode_subset(train: &Dataset, test: &Dataset) -> Result<Vec<u8>, DataError> {
    let (train_x, train_y) = mnist_to_idx(train)?;
    let (test_x, test_y) = mnist_to_idx(test)?;
    let parts = [train_x, train_y, test_x, test_y];
    let mut raw = MAGIC.to_vec();
    for p in &parts {
        let len = u32::try_from(p.len())
            .map_err(|_| DataError::InvalidArgument("subset part over 4 GiB".into()))?;
        raw.extend_from_slice(&len.to_be_bytes());
    }
    for p in &parts {
        raw.extend_from_slice(p);
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&raw)
        .and_then(|_| gz.finish())
        .map_err(|e| DataError::Gzip(e.to_string()))
}

/// Decodes [`encode_subset`]'s bytes into (train, test), named `<name>-train` / `<name>-test`.
pub fn decode_subset(bytes: &[u8], name: &str) -> Result<(Dataset, Dataset), DataError> {
    let raw = gunzip_capped(bytes, MAX_DECODED_BYTES)?;
    let header = 8 + 4 * 4;
    if raw.len() < header {
        return Err(DataError::Truncated {
            what: "subset header",
            needed: header as u64,
            available: raw.len() as u64,
        });
    }
    if &raw[..8] != MAGIC {
        return Err(DataError::InvalidArgument(
            "not a Ballast image subset (magic BLSUBSET missing)".into(),
        ));
    }
    let lens: Vec<usize> = raw[8..header]
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let total: usize = header + lens.iter().sum::<usize>();
    if raw.len() != total {
        return Err(DataError::SizeMismatch {
            what: "subset payload",
            expected: total,
            actual: raw.len(),
        });
    }
    let mut at = header;
    let mut part = |len: usize| {
        let p = &raw[at..at + len];
        at += len;
        p
    };
    let (tx, ty, sx, sy) = (part(lens[0]), part(lens[1]), part(lens[2]), part(lens[3]));
    Ok((
        mnist_from_idx(tx, ty, &format!("{name}-train"))?,
        mnist_from_idx(sx, sy, &format!("{name}-test"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(n: usize, offset: u8) -> Dataset {
        let bytes: Vec<u8> = (0..n * 784)
            .map(|i| (i as u8).wrapping_add(offset))
            .collect();
        let labels = (0..n as u32).map(|i| i % 10).collect();
        Dataset::from_bytes(&bytes, vec![1, 28, 28], labels, 10, "d").unwrap()
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let (train, test) = (digits(7, 0), digits(3, 50));
        let bytes = encode_subset(&train, &test).unwrap();
        let (a, b) = decode_subset(&bytes, "mnist").unwrap();
        assert_eq!((a.x, a.labels), (train.x, train.labels));
        assert_eq!((b.x, b.labels), (test.x, test.labels));
        assert!(decode_subset(&bytes[..bytes.len() / 2], "m").is_err());
        assert!(decode_subset(b"not gzip at all", "m").is_err());
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"BLSUBSET\0\0\0\x09").unwrap();
        assert!(decode_subset(&gz.finish().unwrap(), "m").is_err());
    }
}
