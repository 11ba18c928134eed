//! AFL++ driver of the `cifar` target (see `ballast_fuzz::cifar`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::cifar(data));
}
