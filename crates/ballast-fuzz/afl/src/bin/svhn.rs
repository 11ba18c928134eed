//! AFL++ driver of the `svhn` target (see `ballast_fuzz::svhn`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::svhn(data));
}
