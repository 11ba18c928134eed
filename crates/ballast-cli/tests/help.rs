//! The binary starts and documents every subcommand; `ballast methods` lists the core's
//! registry.

use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .unwrap()
}

/// Every subcommand path, as `ballast <path> --help` reaches it.
const SUBCOMMANDS: &[&[&str]] = &[
    &["quickstart"],
    &["train"],
    &["eval"],
    &["attack"],
    &["certify"],
    &["methods"],
    &["bench"],
    &["compare"],
    &["report"],
    &["export"],
    &["data"],
    &["data", "subset"],
    &["data", "fetch"],
];

#[test]
fn help_lists_and_documents_every_subcommand() {
    let out = ballast(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // The top-level list names every subcommand (and nothing is missing from SUBCOMMANDS).
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    let top: Vec<&str> = SUBCOMMANDS
        .iter()
        .filter(|p| p.len() == 1)
        .map(|p| p[0])
        .collect();
    assert_eq!(listed, top, "--help lists other subcommands:\n{help}");
    for path in SUBCOMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let out = ballast(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{path:?} --help failed");
        assert!(
            text.contains(&format!("Usage: ballast {}", path.join(" "))),
            "{path:?}:\n{text}"
        );
        // A sentence saying what it does, above the usage line.
        let about = text.lines().next().unwrap_or_default();
        assert!(about.len() > 15, "{path:?} has no description:\n{text}");
    }
}

#[test]
fn methods_lists_the_registry() {
    let out = ballast(&["methods", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = ballast_core::Method::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, want);
    for name in ["erm", "l2rw", "mart", "glc", "cvae"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let table = String::from_utf8_lossy(&ballast(&["methods"]).stdout).to_string();
    assert_eq!(table.lines().count(), want.len(), "{table}");
    assert!(
        table.contains("Adversarial training") && table.contains("MART"),
        "{table}"
    );
}

#[test]
fn unknown_subcommand_or_method_fails_naming_it() {
    let out = ballast(&["trian"]);
    assert!(!out.status.success());
    let out = ballast(&["bench", "--method", "magic"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("magic") && err.contains("l2rw"), "{err}");
}
