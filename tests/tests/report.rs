//! `ballast report` end to end: two noisy-label runs on two moons (L2RW with its weights, ERM)
//! and a short PGD-AT run on MNIST with an attack report, written as one HTML file; the file is
//! self-contained, escapes what it quotes, draws every plot it announces and is the same bytes
//! when written twice. With $BALLAST_REPORT_FIXTURE set, the report is also copied there for
//! the browser suite (tests/browser/run.mjs --report).

mod common;
use common::{ballast, ballast_ok, data_dir, fetch_mnist, text};
use std::fs;
use std::path::Path;

const NOISY_MOONS: &str = r#"
method = "l2rw"
seed = 3
[data]
dataset = "moons"
toy_points = 600
toy_noise = 0.1
val_size = 100
[data.noise]
kind = "symmetric_exact"
rate = 0.4
[model]
arch = "mlp"
hidden = [16, 16]
[optimizer]
kind = "sgd"
lr = 0.1
momentum = 0.9
[budget]
steps = 60
batch_size = 50
eval_every = 20
[meta]
val_batch_size = 50
export_weights_every = 1
"#;

fn train(cwd: &Path, cfg: &str, out: &Path, sets: &[&str]) {
    let mut args = vec!["train", cfg, "--out", out.to_str().unwrap(), "--quiet"];
    for s in sets {
        args.extend(["--set", s]);
    }
    ballast_ok(cwd, &args);
}

#[test]
fn report_writes_one_self_contained_page_for_several_runs() {
    fetch_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("moons.toml");
    fs::write(&cfg, NOISY_MOONS).unwrap();
    let cfg = cfg.to_str().unwrap();
    let l2rw = tmp.path().join("l2rw");
    let erm = tmp.path().join("erm");
    train(tmp.path(), cfg, &l2rw, &["label=<l2rw & co>"]);
    train(tmp.path(), cfg, &erm, &["method=erm"]);

    let adv = tmp.path().join("pgd-at");
    let data = format!("--data-dir={}", data_dir().display());
    let adv_cfg = common::repo_root().join("configs/adv-mnist.toml");
    ballast_ok(
        tmp.path(),
        &[
            "train",
            adv_cfg.to_str().unwrap(),
            "--out",
            adv.to_str().unwrap(),
            "--quiet",
            &data,
            "--set",
            "method=pgd-at",
            "--set",
            "budget.steps=20",
            "--set",
            "budget.eval_every=10",
            "--set",
            "data.train_size=500",
            "--set",
            "data.val_size=100",
            "--set",
            "data.test_size=100",
            "--set",
            "adversarial.eval_test_examples=50",
            "--set",
            "adversarial.eval_train_examples=50",
        ],
    );
    let attack_json = adv.join("attack.json");
    ballast_ok(
        tmp.path(),
        &[
            "attack",
            adv.to_str().unwrap(),
            &data,
            "--attack",
            "pgd,fgsm",
            "--eps",
            "0.1,0.3",
            "--steps",
            "3",
            "--examples",
            "40",
            "--out",
            attack_json.to_str().unwrap(),
        ],
    );

    let page = tmp.path().join("report.html");
    let args = [
        "report",
        l2rw.to_str().unwrap(),
        erm.to_str().unwrap(),
        adv.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ];
    ballast_ok(tmp.path(), &args);
    let html = fs::read_to_string(&page).unwrap();
    if let Some(fixture) = std::env::var_os("BALLAST_REPORT_FIXTURE") {
        let fixture = Path::new(&fixture);
        fs::create_dir_all(fixture.parent().unwrap()).unwrap();
        fs::write(fixture, &html).unwrap();
    }

    // Self-contained: no script, no stylesheet link, no external resource.
    for banned in ["<script", "<link", "src=", "<img", "url("] {
        assert!(!html.contains(banned), "the report holds {banned}");
    }
    // Every plot it announces is an inline SVG inside a figure.
    let announced: usize = html
        .split("data-plots=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("data-plots on <body>");
    assert_eq!(html.matches("<figure class=\"plot\"").count(), announced);
    assert_eq!(html.matches("<svg").count(), announced);
    // Comparison (3 runs: test accuracy and robust curves), L2RW (loss, accuracy, weights),
    // ERM (loss, accuracy), PGD-AT (loss, accuracy, robust, the attack's two-radius curve).
    assert_eq!(announced, 2 + 3 + 2 + 4, "{announced} plots");
    // The comparison has a row per config key on which the runs differ, the method among them.
    assert!(html.contains("<h2>Comparison</h2>"));
    assert!(
        html.contains("<td><code>method</code></td>"),
        "a row for the method"
    );
    // Quoted text is escaped.
    assert!(html.contains("&lt;l2rw &amp; co&gt;"));
    assert!(!html.contains("<l2rw"));
    // L2RW's weight groups, the robust summary, the attack table with both radii.
    assert!(html.contains("flipped label") && html.contains("clean label"));
    assert!(html.contains("best robust test accuracy (oracle)"));
    assert!(html.contains("Robust evaluation <code>attack.json</code>"));
    assert!(html.contains("worst case"));
    assert!(
        html.contains("<td class=\"num\">0.3</td>"),
        "the second radius"
    );
    // The same runs give the same bytes.
    ballast_ok(tmp.path(), &args);
    assert_eq!(fs::read_to_string(&page).unwrap(), html);

    // An unfinished run directory is refused by name, and nothing is written.
    let unfinished = tmp.path().join("still-training");
    fs::create_dir_all(&unfinished).unwrap();
    let other = tmp.path().join("other.html");
    let out = ballast(
        tmp.path(),
        &[
            "report",
            l2rw.to_str().unwrap(),
            unfinished.to_str().unwrap(),
            "--out",
            other.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("still-training") && text(&out).contains("summary.json"),
        "{}",
        text(&out)
    );
    assert!(!other.exists());
}
