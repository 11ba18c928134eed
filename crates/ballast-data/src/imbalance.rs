//! Class subsets and the binary class-imbalance benchmark.
//!
//! The L2RW MNIST experiment keeps two digits (4 as the minority, label 0;
//! 9 as the majority, label 1), trains on 5 000 images of which a fraction
//! `pos_ratio` (default 0.995) are the majority, and evaluates on balanced
//! sets. [`imbalanced_pair`] and [`balanced_pair`] build exactly those sets
//! from any data set; [`class_subset`] is the general tool underneath.

use crate::rng::SeededRng;
use crate::{DataError, Dataset};

/// Selects `counts[i]` examples of class `classes[i]` at random (seeded) and
/// relabels class `classes[i]` to `i`; the result has `classes.len()` classes
/// and keeps the original relative order and source indices.
///
/// Errors if `classes` is empty, has duplicates or out-of-range entries, its
/// length differs from `counts`, or a class has fewer examples than asked.
pub fn class_subset(
    data: &Dataset,
    classes: &[u32],
    counts: &[usize],
    seed: u64,
) -> Result<Dataset, DataError> {
    data.validate()?;
    check_classes(data, classes)?;
    if counts.len() != classes.len() {
        return Err(DataError::InvalidArgument(format!(
            "{} classes but {} counts",
            classes.len(),
            counts.len()
        )));
    }
    let by_class = data.positions_by_class();
    let mut picked = Vec::with_capacity(counts.iter().sum());
    for (i, (&class, &count)) in classes.iter().zip(counts).enumerate() {
        let positions = &by_class[class as usize];
        if positions.len() < count {
            return Err(DataError::NotEnoughExamples {
                class,
                needed: count,
                available: positions.len(),
            });
        }
        // One sub-stream per slot so adding a class does not reshuffle the others.
        let mut rng = SeededRng::new(seed, i as u64);
        picked.extend(
            rng.choose(positions.len(), count)
                .into_iter()
                .map(|p| positions[p]),
        );
    }
    picked.sort_unstable();
    Ok(relabel(data, classes, &picked))
}

/// Keeps every example of `classes`, relabelling `classes[i]` to `i`.
pub fn select_classes(data: &Dataset, classes: &[u32]) -> Result<Dataset, DataError> {
    data.validate()?;
    check_classes(data, classes)?;
    let positions: Vec<usize> = (0..data.len())
        .filter(|&i| classes.contains(&data.labels[i]))
        .collect();
    Ok(relabel(data, classes, &positions))
}

/// The minority / majority counts for `total` examples with a majority
/// fraction: majority `round(total · fraction)`, minority the rest
/// (5 000 at 0.995 gives 4 975 and 25).
pub fn imbalance_counts(total: usize, majority_fraction: f64) -> Result<(usize, usize), DataError> {
    if !(0.0..=1.0).contains(&majority_fraction) {
        return Err(DataError::InvalidArgument(format!(
            "majority fraction {majority_fraction} is not in [0, 1]"
        )));
    }
    let majority = ((total as f64 * majority_fraction).round() as usize).min(total);
    Ok((total - majority, majority))
}

/// Two-class imbalanced set: `minority` becomes label 0 and `majority` label 1,
/// with `total` examples of which `round(total · majority_fraction)` are the
/// majority. Errors if either class lacks examples.
pub fn imbalanced_pair(
    data: &Dataset,
    minority: u32,
    majority: u32,
    total: usize,
    majority_fraction: f64,
    seed: u64,
) -> Result<Dataset, DataError> {
    let (n_min, n_maj) = imbalance_counts(total, majority_fraction)?;
    class_subset(data, &[minority, majority], &[n_min, n_maj], seed)
}

/// Balanced two-class set (for clean validation and test): `total / 2` of each,
/// `minority` as label 0. Errors if `total` is odd or a class lacks examples.
pub fn balanced_pair(
    data: &Dataset,
    minority: u32,
    majority: u32,
    total: usize,
    seed: u64,
) -> Result<Dataset, DataError> {
    if !total.is_multiple_of(2) {
        return Err(DataError::InvalidArgument(format!(
            "a balanced two-class set needs an even size, got {total}"
        )));
    }
    class_subset(data, &[minority, majority], &[total / 2, total / 2], seed)
}

fn check_classes(data: &Dataset, classes: &[u32]) -> Result<(), DataError> {
    if classes.is_empty() {
        return Err(DataError::InvalidArgument("no classes selected".into()));
    }
    for (i, &c) in classes.iter().enumerate() {
        if c as usize >= data.num_classes {
            return Err(DataError::InvalidArgument(format!(
                "class {c} is out of range for {} classes",
                data.num_classes
            )));
        }
        if classes[..i].contains(&c) {
            return Err(DataError::InvalidArgument(format!(
                "class {c} is selected twice"
            )));
        }
    }
    Ok(())
}

/// Subset at `positions` with labels mapped `classes[i] -> i`.
fn relabel(data: &Dataset, classes: &[u32], positions: &[usize]) -> Dataset {
    let mut out = data.subset(positions);
    for y in &mut out.labels {
        // Every position was selected because its label is in `classes`.
        *y = classes.iter().position(|c| c == y).unwrap_or(0) as u32;
    }
    out.num_classes = classes.len();
    let names: Vec<String> = classes.iter().map(u32::to_string).collect();
    out.name = format!("{}-classes-{}", data.name, names.join("-"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 classes × 100 examples, x = position.
    fn digits() -> Dataset {
        let labels: Vec<u32> = (0..1000).map(|i| (i % 10) as u32).collect();
        Dataset::new(
            (0..1000).map(|i| i as f32).collect(),
            vec![1],
            labels,
            10,
            "d",
        )
        .unwrap()
    }

    #[test]
    fn reference_counts() {
        assert_eq!(imbalance_counts(5000, 0.995).unwrap(), (25, 4975));
        assert_eq!(imbalance_counts(5000, 0.9).unwrap(), (500, 4500));
        assert_eq!(imbalance_counts(10, 1.0).unwrap(), (0, 10));
        assert!(imbalance_counts(10, 1.5).is_err());
    }

    #[test]
    fn imbalanced_pair_relabels_and_counts() {
        let d = digits();
        let s = imbalanced_pair(&d, 4, 9, 100, 0.9, 3).unwrap();
        assert_eq!(s.num_classes, 2);
        assert_eq!(s.class_counts(), vec![10, 90]);
        for i in 0..s.len() {
            let original = d.labels[s.index[i] as usize];
            assert_eq!(original, if s.labels[i] == 0 { 4 } else { 9 });
            assert_eq!(s.x[i], s.index[i] as f32);
        }
        assert_eq!(s, imbalanced_pair(&d, 4, 9, 100, 0.9, 3).unwrap());
        assert_ne!(
            s.index,
            imbalanced_pair(&d, 4, 9, 100, 0.9, 4).unwrap().index
        );
        s.validate().unwrap();
    }

    #[test]
    fn balanced_pair_and_select() {
        let d = digits();
        let b = balanced_pair(&d, 4, 9, 50, 1).unwrap();
        assert_eq!(b.class_counts(), vec![25, 25]);
        assert!(balanced_pair(&d, 4, 9, 51, 1).is_err());
        let all = select_classes(&d, &[9, 4, 0]).unwrap();
        assert_eq!(all.class_counts(), vec![100, 100, 100]);
        assert_eq!(all.labels[0], 2); // position 0 is class 0 → third slot
        assert_eq!(all.name, "d-classes-9-4-0");
    }

    #[test]
    fn errors() {
        let d = digits();
        assert_eq!(
            imbalanced_pair(&d, 4, 9, 200, 0.6, 0).unwrap_err(),
            DataError::NotEnoughExamples {
                class: 9,
                needed: 120,
                available: 100
            }
        );
        assert!(matches!(
            class_subset(&d, &[4, 4], &[1, 1], 0),
            Err(DataError::InvalidArgument(_))
        ));
        assert!(matches!(
            class_subset(&d, &[10], &[1], 0),
            Err(DataError::InvalidArgument(_))
        ));
        assert!(matches!(
            class_subset(&d, &[1, 2], &[1], 0),
            Err(DataError::InvalidArgument(_))
        ));
        assert!(matches!(
            select_classes(&d, &[]),
            Err(DataError::InvalidArgument(_))
        ));
    }
}
