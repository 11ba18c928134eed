//! What is compiled into the page: the real MNIST subset (training digits for the
//! playground, test digits for the attack lab), written by `ballast data subset mnist`.

use ballast_data::{Dataset, decode_subset};

pub static MNIST_SUBSET: &[u8] = include_bytes!("../assets/mnist-subset.bin.gz");

/// (train, test) of the shipped subset.
pub fn mnist_subset() -> Result<(Dataset, Dataset), String> {
    decode_subset(MNIST_SUBSET, "mnist").map_err(|e| format!("the shipped MNIST subset: {e}"))
}
