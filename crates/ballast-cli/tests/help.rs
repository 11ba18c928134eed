//! The binary starts and documents its subcommands. (Also makes `cargo test --workspace`
//! build `ballast`, which the end-to-end tests in `tests/` drive.)

use std::process::Command;

#[test]
fn help_lists_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["quickstart", "train", "eval", "bench", "data"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

#[test]
fn unknown_subcommand_fails() {
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .arg("trian")
        .output()
        .unwrap();
    assert!(!out.status.success());
}
