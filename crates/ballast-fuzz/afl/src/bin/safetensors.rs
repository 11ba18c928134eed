//! AFL++ driver of the `safetensors` target (see `ballast_fuzz::safetensors`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::safetensors(data));
}
