//! Records the git commit of the build in `BALLAST_COMMIT` (reports name the code that made
//! them), "unknown" when git or the repository is not there.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BALLAST_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout); without a .git directory, cargo's default
    // (any file of the package) applies.
    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git");
    for f in ["HEAD", "refs/heads", "packed-refs"] {
        let path = git.join(f);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
