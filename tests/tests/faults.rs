//! Fault injection, end to end: runs killed with SIGKILL at random moments and resumed,
//! concurrent writers, damaged checkpoints, a full disk, diverging weights and bad values. Each
//! case checks that nothing is lost and nothing is silently wrong: the run resumes to the very
//! tensors and metrics of an uninterrupted one, or the command fails naming the problem.

mod common;

use common::{TOY, ballast, ballast_bin, ballast_ok, read_json, text};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// A run long enough to be killed in the middle (~2 s), checkpointed every 7 steps.
fn long_toy() -> String {
    TOY.replace("steps = 60", "steps = 3000")
        .replace("eval_every = 20", "eval_every = 100")
        .replace("checkpoint_every = 10", "checkpoint_every = 7")
}

fn train_args<'a>(cfg: &'a str, out: &'a Path) -> Vec<&'a str> {
    vec!["train", cfg, "--out", out.to_str().unwrap(), "--quiet"]
}

/// `ballast train` as a child process, killed with SIGKILL after `delay`.
fn train_killed_after(cwd: &Path, args: &[&str], delay: Duration) {
    let mut child = Command::new(ballast_bin())
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ballast starts");
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

/// The arguments that continue `out`: `--resume` when it has a complete checkpoint, else a
/// fresh start (what a restart script does).
fn continue_args<'a>(cfg: &'a str, out: &'a Path) -> Vec<&'a str> {
    let mut args = train_args(cfg, out);
    let complete = fs::read_dir(out.join("checkpoints")).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            e.file_name().to_string_lossy().starts_with("step-")
                && e.path().join("model.bpk").is_file()
                && e.path().join("state.json").is_file()
        })
    });
    if complete {
        args.push("--resume");
    }
    args
}

/// splitmix64: the seeded kill times.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn final_weights(run: &Path) -> Vec<u8> {
    let summary = read_json(&run.join("summary.json"));
    fs::read(Path::new(summary["checkpoint"].as_str().unwrap()).join("model.safetensors")).unwrap()
}

fn metrics_lines(run: &Path) -> Vec<String> {
    fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn step_of(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["step"]
        .as_u64()
        .unwrap()
}

/// The step of the checkpoint a resume of `run` starts from (LATEST's, when it is complete).
fn checkpoint_step(run: &Path) -> Option<u64> {
    let latest = fs::read_to_string(run.join("checkpoints/LATEST")).ok()?;
    let state = fs::read(
        run.join("checkpoints")
            .join(latest.trim())
            .join("state.json"),
    )
    .ok()?;
    serde_json::from_slice::<serde_json::Value>(&state).ok()?["step"].as_u64()
}

#[test]
fn runs_killed_at_random_moments_resume_to_the_uninterrupted_tensors_and_log() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "long.toml", &long_toy());
    let whole = tmp.path().join("whole");
    let started = std::time::Instant::now();
    ballast_ok(tmp.path(), &train_args(&cfg, &whole));
    let run_time = started.elapsed();
    let want_weights = final_weights(&whole);
    let want_metrics = common::metrics_without_timing(&whole);

    let mut rng = 17u64;
    for trial in 0..10 {
        let run = tmp.path().join(format!("killed-{trial}"));
        // Two kills: one in the first run, one in its continuation (a resume's start included).
        for _ in 0..2 {
            let delay = run_time.mul_f64((next(&mut rng) % 1000) as f64 / 1000.0);
            train_killed_after(tmp.path(), &continue_args(&cfg, &run), delay);
        }
        // The log up to the checkpoint a resume starts from is kept byte for byte.
        let before = metrics_lines(&run);
        let kept_until = checkpoint_step(&run);
        let out = ballast(tmp.path(), &continue_args(&cfg, &run));
        assert!(out.status.success(), "trial {trial}: {}", text(&out));
        let after = metrics_lines(&run);
        if let Some(step) = kept_until {
            let kept: Vec<&String> = before.iter().filter(|l| step_of(l) <= step).collect();
            assert_eq!(
                kept,
                after.iter().take(kept.len()).collect::<Vec<_>>(),
                "trial {trial}: the log up to step {step} changed on resume"
            );
        }
        assert!(
            final_weights(&run) == want_weights,
            "trial {trial}: resumed weights differ from the uninterrupted run"
        );
        assert_eq!(
            common::metrics_without_timing(&run),
            want_metrics,
            "trial {trial}: the metrics log differs"
        );
        let leftovers: Vec<PathBuf> = fs::read_dir(run.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "trial {trial}: {leftovers:?}");
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "long.toml", &long_toy());
    let run = tmp.path().join("run");
    let first = Command::new(ballast_bin())
        .args(train_args(&cfg, &run))
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the directory (its config is written under the lock).
    for _ in 0..200 {
        if run.join("config.toml").is_file() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for extra in [&[][..], &["--resume"][..]] {
        let mut args = train_args(&cfg, &run);
        args.extend_from_slice(extra);
        let second = ballast(tmp.path(), &args);
        let t = text(&second);
        assert!(!second.status.success(), "{t}");
        assert!(
            t.contains("in use by another ballast process")
                && t.contains(&format!("pid {}", first.id())),
            "{t}"
        );
    }
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first run is whole: its log has every evaluation, once.
    let steps: Vec<u64> = metrics_lines(&run).iter().map(|l| step_of(l)).collect();
    assert_eq!(steps, (1..=30).map(|i| i * 100).collect::<Vec<u64>>());
}

/// Flips 64 bytes in the middle of the last tensor's data of a burnpack file.
fn damage(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 100..n - 36] {
        *b ^= 0x5a;
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_checkpoint_is_refused_by_every_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    let run = tmp.path().join("run");
    ballast_ok(tmp.path(), &train_args(&cfg, &run));
    let newest = run.join("checkpoints/step-00000060");
    let model = newest.join("model.bpk");
    damage(&model);
    let run_s = run.to_str().unwrap();
    let assets = tmp.path().join("assets");
    for args in [
        vec!["eval", run_s],
        vec!["attack", run_s, "--attack", "pgd", "--eps", "0.1"],
        vec![
            "export",
            run_s,
            "--name",
            "toy",
            "--assets",
            assets.to_str().unwrap(),
        ],
    ] {
        let out = ballast(tmp.path(), &args);
        let t = text(&out);
        assert!(
            !out.status.success(),
            "{args:?} accepted a damaged model:\n{t}"
        );
        assert!(
            t.contains("model.bpk is damaged") && t.contains("step-00000060"),
            "{args:?}: {t}"
        );
        assert_eq!(t.matches("is damaged").count(), 1, "said once: {t}");
    }
    // --resume refuses it and names the newest intact checkpoint …
    let mut args = train_args(&cfg, &run);
    args.push("--resume");
    let out = ballast(tmp.path(), &args);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("step-00000060 is damaged") && t.contains("step-00000050"),
        "{t}"
    );
    // … which a resume takes once the damaged one is moved away.
    fs::rename(&newest, tmp.path().join("damaged")).unwrap();
    let out = ballast(tmp.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("using the newest complete checkpoint"));
    assert!(run.join("checkpoints/step-00000060/model.bpk").is_file());
    // A damaged optimiser state is refused by --resume too.
    damage(&run.join("checkpoints/step-00000060/optimizer.bpk"));
    let out = ballast(tmp.path(), &args);
    assert!(!out.status.success() && text(&out).contains("is damaged"));
}

#[test]
fn a_full_disk_names_the_file_removes_the_partial_checkpoint_and_leaves_a_resumable_run() {
    let tmp = tempfile::tempdir().unwrap();
    // Checkpoints every 5 steps, all kept: a 256 KiB file system fills up within the run.
    let cfg = TOY
        .replace(
            "checkpoint_every = 10",
            "checkpoint_every = 5\nkeep_checkpoints = 1000",
        )
        .replace("steps = 60", "steps = 200");
    let cfg = write(tmp.path(), "full.toml", &cfg);
    let saved = tmp.path().join("saved");
    // A small tmpfs in a private mount namespace (root or unprivileged user namespaces).
    let script = format!(
        "set -u; mkdir -p {m} && mount -t tmpfs -o size=256k tmpfs {m} || exit 90; \
         {bin} train {cfg} --out {m}/run --quiet > {m}/../stdout.txt 2> {t}/stderr.txt; \
         echo $? > {t}/rc.txt; cp -a {m}/run {saved}",
        m = tmp.path().join("small").display(),
        bin = ballast_bin().display(),
        t = tmp.path().display(),
        saved = saved.display(),
    );
    let status = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script])
        .current_dir(tmp.path())
        .status()
        .expect("unshare (util-linux) runs");
    assert!(
        status.success(),
        "could not mount a small tmpfs in a private namespace ({status}): this test needs `unshare --map-root-user --mount`"
    );
    let rc = fs::read_to_string(tmp.path().join("rc.txt")).unwrap();
    let err = fs::read_to_string(tmp.path().join("stderr.txt")).unwrap();
    assert_ne!(
        rc.trim(),
        "0",
        "the run fitted: make the file system smaller\n{err}"
    );
    assert!(
        err.contains("No space left on device") && err.contains("cannot write"),
        "{err}"
    );
    assert!(
        err.contains("stays resumable") || err.contains("metrics"),
        "{err}"
    );
    assert_eq!(err.matches("No space left").count(), 1, "said once: {err}");
    // No temporary is left behind to keep the disk full.
    let tmps: Vec<String> = fs::read_dir(saved.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(tmps.is_empty(), "{tmps:?}");
    // The run resumes (on a disk with room) to what an uninterrupted run gives.
    let out = ballast(
        tmp.path(),
        &[
            "train",
            &cfg,
            "--out",
            saved.to_str().unwrap(),
            "--quiet",
            "--resume",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let whole = tmp.path().join("whole");
    ballast_ok(tmp.path(), &train_args(&cfg, &whole));
    assert!(final_weights(&saved) == final_weights(&whole));
    assert_eq!(
        common::metrics_without_timing(&saved),
        common::metrics_without_timing(&whole)
    );
}

#[test]
fn diverged_weights_are_never_checkpointed_or_called_good() {
    let tmp = tempfile::tempdir().unwrap();
    // The learning rate jumps by 1e30 at step 20; every step is evaluated and checkpointed,
    // so the step that blows the weights up is evaluated before its checkpoint.
    let cfg = TOY
        .replace(
            "kind = \"cosine\"",
            "kind = \"step\"\nmilestones = [20]\ngamma = 1e30",
        )
        .replace("eval_every = 20", "eval_every = 1")
        .replace("checkpoint_every = 10", "checkpoint_every = 1");
    let cfg = write(tmp.path(), "nan.toml", &cfg);
    let run = tmp.path().join("run");
    let out = ballast(tmp.path(), &train_args(&cfg, &run));
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    let latest = fs::read_to_string(run.join("checkpoints/LATEST")).unwrap();
    assert!(
        t.contains(&format!(
            "the last good checkpoint is {}",
            run.join("checkpoints").join(latest.trim()).display()
        )),
        "{t}"
    );
    // The checkpoint it names evaluates to a finite loss.
    let report = ballast_ok(tmp.path(), &["eval", run.to_str().unwrap()]);
    let report: serde_json::Value =
        serde_json::from_str(&report[report.find('{').unwrap()..]).unwrap();
    assert!(
        report["loss"].as_f64().is_some_and(f64::is_finite),
        "{report}"
    );
}

#[test]
fn out_directories_are_checked_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    // A non-empty directory that is not a run is left alone without --force.
    let foreign = tmp.path().join("notes");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("config.txt"), "mine").unwrap();
    let out = ballast(tmp.path(), &train_args(&cfg, &foreign));
    assert!(!out.status.success());
    assert!(text(&out).contains("not a Ballast run") && text(&out).contains("--force"));
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
    let mut forced = train_args(&cfg, &foreign);
    forced.push("--force");
    ballast_ok(tmp.path(), &forced);
    assert_eq!(
        fs::read_to_string(foreign.join("config.txt")).unwrap(),
        "mine"
    );
    // --resume with nothing to resume is an error, not a fresh start.
    let empty = tmp.path().join("empty");
    let mut args = train_args(&cfg, &empty);
    args.push("--resume");
    let out = ballast(tmp.path(), &args);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no checkpoint to resume from"),
        "{}",
        text(&out)
    );
    // A LATEST that names a missing step, or holds binary junk, falls back to the newest
    // complete checkpoint with a warning naming LATEST.
    let run = tmp.path().join("run");
    let mut partial = train_args(&cfg, &run);
    partial.extend(["--stop-after", "30"]);
    ballast_ok(tmp.path(), &partial);
    let pointer = run.join("checkpoints/LATEST");
    for junk in [&b"step-00000099"[..], &[0xff, 0xfe, 0x00, 0x17][..]] {
        fs::write(&pointer, junk).unwrap();
        let out = ballast(tmp.path(), &["eval", run.to_str().unwrap()]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(t.contains("LATEST") && t.contains("step-00000030"), "{t}");
    }
    let mut resume = train_args(&cfg, &run);
    resume.push("--resume");
    ballast_ok(tmp.path(), &resume);
    assert_eq!(read_json(&run.join("summary.json"))["steps"], 60);
}

#[test]
fn runs_can_be_audited_from_their_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = TOY
        .replace(
            "checkpoint_every = 10",
            "checkpoint_every = 10\nkeep_checkpoints = 100",
        )
        .replace(
            "val_size = 100",
            "val_size = 100\n[data.noise]\nkind = \"uniform\"\nrate = 0.4",
        );
    let cfg = write(tmp.path(), "audit.toml", &cfg);
    let run = tmp.path().join("run");
    ballast_ok(tmp.path(), &train_args(&cfg, &run));
    // The initial model and every checkpoint are kept.
    let steps: Vec<String> = (0..=6).map(|i| format!("step-{:08}", 10 * i)).collect();
    for s in &steps {
        assert!(
            run.join("checkpoints").join(s).join("model.bpk").is_file(),
            "{s}"
        );
    }
    // data.json names every example of every split and every changed label.
    let data = read_json(&run.join("data.json"));
    let train: Vec<u64> = serde_json::from_value(data["train"]["source_indices"].clone()).unwrap();
    let val: Vec<u64> = serde_json::from_value(data["val"]["source_indices"].clone()).unwrap();
    let test: Vec<u64> = serde_json::from_value(data["test"]["source_indices"].clone()).unwrap();
    assert_eq!(train.len(), 500);
    assert_eq!(val.len(), 100);
    assert_eq!(test.len(), 600);
    let mut train_val: Vec<u64> = train.iter().chain(&val).copied().collect();
    train_val.sort();
    assert_eq!(
        train_val,
        (0..600).collect::<Vec<u64>>(),
        "train and val split the source"
    );
    let changed = data["label_noise"]["changed"].as_array().unwrap();
    assert_eq!(
        changed.len() as u64,
        data["label_noise"]["noisy_examples"].as_u64().unwrap()
    );
    assert!(changed.len() > 50, "{}", changed.len());
    for c in changed {
        let position = c["position"].as_u64().unwrap() as usize;
        assert_eq!(c["source_index"].as_u64().unwrap(), train[position]);
        assert_ne!(c["true"], c["label"]);
    }
    // Identical runs write identical files and record identical content digests.
    let again = tmp.path().join("again");
    ballast_ok(tmp.path(), &train_args(&cfg, &again));
    for s in &steps {
        let a = run.join("checkpoints").join(s);
        let b = again.join("checkpoints").join(s);
        for file in ["model.bpk", "model.safetensors", "optimizer.bpk"] {
            assert!(
                fs::read(a.join(file)).unwrap() == fs::read(b.join(file)).unwrap(),
                "{s}/{file} differs between identical runs"
            );
        }
        let digest = |d: &Path| read_json(&d.join("state.json"))["files"]["content_digest"].clone();
        assert!(digest(&a).is_string());
        assert_eq!(digest(&a), digest(&b), "{s}");
    }
}

#[test]
fn values_outside_their_range_are_errors_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "toy.toml", TOY);
    for (set, needle) in [
        ("budget.steps=0", "budget: set epochs or steps"),
        ("budget.keep_checkpoints=0", "keep_checkpoints"),
    ] {
        let mut args = vec!["train", cfg.as_str(), "--quiet", "--set", set];
        if set.starts_with("budget.steps") {
            args.extend(["--set", "budget.epochs=0"]);
        }
        let out = ballast(tmp.path(), &args);
        let t = text(&out);
        assert!(!out.status.success(), "{set}: {t}");
        assert_eq!(t.matches(needle).count(), 1, "{set}: {t}");
    }
    // An l-inf radius beyond the pixel range, in a config and on the command line.
    let adv = write(
        tmp.path(),
        "adv.toml",
        "method = \"pgd-at\"\n[data]\ndataset = \"mnist\"\n[adversarial]\neps = 8\n",
    );
    let out = ballast(tmp.path(), &["train", &adv, "--quiet"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("larger than the pixel range"),
        "{}",
        text(&out)
    );
    let run = tmp.path().join("run");
    let mut args = train_args(&cfg, &run);
    args.extend(["--stop-after", "10"]);
    ballast_ok(tmp.path(), &args);
    for (eps, needle) in [
        ("8", "larger than the pixel range"),
        ("8/0", "divides by zero"),
    ] {
        let out = ballast(
            tmp.path(),
            &[
                "attack",
                run.to_str().unwrap(),
                "--attack",
                "pgd",
                "--eps",
                eps,
            ],
        );
        let t = text(&out);
        assert!(!out.status.success(), "{eps}: {t}");
        assert_eq!(t.matches(needle).count(), 1, "{eps}: {t}");
    }
}
