//! AFL++ driver of the `manifest` target (see `ballast_fuzz::manifest`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::manifest(data));
}
