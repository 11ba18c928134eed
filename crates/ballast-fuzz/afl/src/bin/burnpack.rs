//! AFL++ driver of the `burnpack` target (see `ballast_fuzz::burnpack`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::burnpack(data));
}
