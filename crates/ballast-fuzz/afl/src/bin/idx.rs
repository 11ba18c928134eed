//! AFL++ driver of the `idx` target (see `ballast_fuzz::idx`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::idx(data));
}
