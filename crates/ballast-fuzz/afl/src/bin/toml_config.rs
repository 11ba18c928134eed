//! AFL++ driver of the `toml_config` target (see `ballast_fuzz::toml_config`).
fn main() {
    afl::fuzz!(|data: &[u8]| ballast_fuzz::toml_config(data));
}
