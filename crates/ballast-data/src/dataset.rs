//! The in-memory data set every other module produces or consumes.

use serde::{Deserialize, Serialize};

use crate::DataError;

/// A labelled data set held as one flat `f32` buffer.
///
/// Example `i` occupies `x[i * example_len() .. (i + 1) * example_len()]` and is
/// laid out row-major in `example_shape` (e.g. `[1, 28, 28]` for MNIST,
/// `[3, 32, 32]` channel-planar for CIFAR-10, `[2]` for toy points). Images are
/// scaled to `[0, 1]` (byte / 255).
///
/// `index[i]` is the position of example `i` in the original source data set,
/// so per-example exports still name the right source example after any number
/// of [`Dataset::subset`] calls.
///
/// The fields are public for cheap access; [`Dataset::new`] and
/// [`Dataset::validate`] check that they fit together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Features, `len() * example_len()` values.
    pub x: Vec<f32>,
    /// Shape of one example.
    pub example_shape: Vec<usize>,
    /// One label per example, each below `num_classes`.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub num_classes: usize,
    /// Human-readable name, e.g. `"mnist-train"`.
    pub name: String,
    /// Index of each example in the original source data set.
    pub index: Vec<u32>,
}

impl Dataset {
    /// Builds a data set whose source indices are `0..n`, checking sizes and labels.
    pub fn new(
        x: Vec<f32>,
        example_shape: Vec<usize>,
        labels: Vec<u32>,
        num_classes: usize,
        name: impl Into<String>,
    ) -> Result<Self, DataError> {
        let n = labels.len();
        let n_u32 = u32::try_from(n).map_err(|_| {
            DataError::InvalidArgument(format!("{n} examples exceed the u32 index range"))
        })?;
        Self::with_index(
            x,
            example_shape,
            labels,
            num_classes,
            name,
            (0..n_u32).collect(),
        )
    }

    /// Builds a data set with explicit source indices, checking sizes and labels.
    pub fn with_index(
        x: Vec<f32>,
        example_shape: Vec<usize>,
        labels: Vec<u32>,
        num_classes: usize,
        name: impl Into<String>,
        index: Vec<u32>,
    ) -> Result<Self, DataError> {
        let ds = Self {
            x,
            example_shape,
            labels,
            num_classes,
            name: name.into(),
            index,
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Builds a data set from bytes (e.g. image pixels), scaling each to `b / 255`.
    pub fn from_bytes(
        bytes: &[u8],
        example_shape: Vec<usize>,
        labels: Vec<u32>,
        num_classes: usize,
        name: impl Into<String>,
    ) -> Result<Self, DataError> {
        let x = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
        Self::new(x, example_shape, labels, num_classes, name)
    }

    /// Checks that the buffers fit together: `x` holds `len() * example_len()`
    /// values, `index` one entry per example, every label is below `num_classes`,
    /// and `num_classes` is positive.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.num_classes == 0 {
            return Err(DataError::InvalidArgument(
                "a data set needs at least one class".into(),
            ));
        }
        let example_len = self
            .example_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                DataError::InvalidArgument(format!(
                    "example shape {:?} overflows",
                    self.example_shape
                ))
            })?;
        let expected = self.labels.len().checked_mul(example_len).ok_or_else(|| {
            DataError::InvalidArgument("feature buffer size overflows".to_string())
        })?;
        if self.x.len() != expected {
            return Err(DataError::SizeMismatch {
                what: "x",
                expected,
                actual: self.x.len(),
            });
        }
        if self.index.len() != self.labels.len() {
            return Err(DataError::SizeMismatch {
                what: "index",
                expected: self.labels.len(),
                actual: self.index.len(),
            });
        }
        check_labels(&self.labels, self.num_classes)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the data set holds no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of `f32` values per example (product of `example_shape`).
    pub fn example_len(&self) -> usize {
        self.example_shape.iter().product()
    }

    /// Features of example `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn example(&self, i: usize) -> &[f32] {
        let l = self.example_len();
        &self.x[i * l..(i + 1) * l]
    }

    /// The examples at `positions` (positions in *this* data set, repeats allowed),
    /// in that order. Source indices are carried over, so `subset` of a subset
    /// still points into the original data set.
    ///
    /// # Panics
    /// If a position is `>= len()`, like slice indexing.
    pub fn subset(&self, positions: &[usize]) -> Dataset {
        let l = self.example_len();
        let mut x = Vec::with_capacity(positions.len() * l);
        let mut labels = Vec::with_capacity(positions.len());
        let mut index = Vec::with_capacity(positions.len());
        for &p in positions {
            x.extend_from_slice(&self.x[p * l..(p + 1) * l]);
            labels.push(self.labels[p]);
            index.push(self.index[p]);
        }
        Dataset {
            x,
            example_shape: self.example_shape.clone(),
            labels,
            num_classes: self.num_classes,
            name: self.name.clone(),
            index,
        }
    }

    /// Number of examples per class, `num_classes` entries.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes];
        for &y in &self.labels {
            if let Some(c) = counts.get_mut(y as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Positions of the examples of each class, `num_classes` lists in ascending order.
    pub fn positions_by_class(&self) -> Vec<Vec<usize>> {
        let mut by_class = vec![Vec::new(); self.num_classes];
        for (i, &y) in self.labels.iter().enumerate() {
            if let Some(list) = by_class.get_mut(y as usize) {
                list.push(i);
            }
        }
        by_class
    }

    /// Mean of all feature values (0 for an empty data set). Used for
    /// normalisation constants and sanity checks.
    pub fn feature_mean(&self) -> f64 {
        if self.x.is_empty() {
            return 0.0;
        }
        self.x.iter().map(|&v| f64::from(v)).sum::<f64>() / self.x.len() as f64
    }

    /// Population standard deviation of all feature values.
    pub fn feature_std(&self) -> f64 {
        if self.x.is_empty() {
            return 0.0;
        }
        let mean = self.feature_mean();
        let var = self
            .x
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / self.x.len() as f64;
        var.sqrt()
    }
}

/// Errors with the first label that is not below `num_classes`.
pub(crate) fn check_labels(labels: &[u32], num_classes: usize) -> Result<(), DataError> {
    match labels
        .iter()
        .enumerate()
        .find(|&(_, &y)| y as usize >= num_classes)
    {
        Some((index, &label)) => Err(DataError::LabelOutOfRange {
            index,
            label,
            num_classes,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset::new(
            (0..12).map(|v| v as f32).collect(),
            vec![2, 2],
            vec![0, 1, 1],
            2,
            "tiny",
        )
        .unwrap()
    }

    #[test]
    fn accessors() {
        let d = tiny();
        assert_eq!(d.len(), 3);
        assert!(!d.is_empty());
        assert_eq!(d.example_len(), 4);
        assert_eq!(d.example(1), &[4.0, 5.0, 6.0, 7.0]);
        assert_eq!(d.class_counts(), vec![1, 2]);
        assert_eq!(d.index, vec![0, 1, 2]);
        assert_eq!(d.positions_by_class(), vec![vec![0], vec![1, 2]]);
    }

    #[test]
    fn subset_keeps_source_index_through_nesting() {
        let d = tiny();
        let s = d.subset(&[2, 0]);
        assert_eq!(s.labels, vec![1, 0]);
        assert_eq!(s.index, vec![2, 0]);
        assert_eq!(s.example(0), &[8.0, 9.0, 10.0, 11.0]);
        let ss = s.subset(&[1]);
        assert_eq!(ss.index, vec![0]);
        assert_eq!(ss.x, vec![0.0, 1.0, 2.0, 3.0]);
        ss.validate().unwrap();
    }

    #[test]
    fn constructor_rejects_bad_sizes_and_labels() {
        let err = Dataset::new(vec![0.0; 5], vec![2, 2], vec![0], 2, "x").unwrap_err();
        assert_eq!(
            err,
            DataError::SizeMismatch {
                what: "x",
                expected: 4,
                actual: 5
            }
        );
        let err = Dataset::new(vec![0.0; 4], vec![4], vec![3], 2, "x").unwrap_err();
        assert!(matches!(err, DataError::LabelOutOfRange { label: 3, .. }));
        let err =
            Dataset::with_index(vec![0.0; 4], vec![4], vec![0], 2, "x", vec![0, 1]).unwrap_err();
        assert!(matches!(err, DataError::SizeMismatch { what: "index", .. }));
        let err = Dataset::new(vec![], vec![4], vec![], 0, "x").unwrap_err();
        assert!(matches!(err, DataError::InvalidArgument(_)));
    }

    #[test]
    fn from_bytes_scales_to_unit_interval() {
        let d = Dataset::from_bytes(&[0, 255, 51, 102], vec![2], vec![0, 1], 2, "b").unwrap();
        assert_eq!(d.x, vec![0.0, 1.0, 0.2, 0.4]);
        assert!((d.feature_mean() - 0.4).abs() < 1e-6);
    }
}
