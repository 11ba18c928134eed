//! `ballast report`: one self-contained HTML file for one or several finished runs — inline
//! SVG plots and CSS, no script and no external resource, so it opens anywhere and can be
//! mailed or attached as it is.
//!
//! Per run: what ran (method, model, data, budget, device), the results (final and selected
//! accuracy, the robust summary of adversarial runs), every curve, the example-weight
//! histogram of meta-methods, every robust evaluation found in the run directory
//! (`attack*.json`, written by `ballast attack RUN --out RUN/attack.json`), the perturbation-set
//! quality of CVAE runs, and the configuration and summary as written. With several runs, a
//! comparison comes first: one row per run, a column per config key on which the runs differ,
//! and the runs' curves overlaid.
//!
//! The report is a function of the run files only (no clock, no machine name), so the same
//! runs give the same bytes.

use crate::attack_report::AttackReport;
use crate::config::{RunConfig, Trains};
use crate::cvae_task::{CVAE_METRICS_FILE, CvaeRecord, CvaeSummary};
use crate::error::{Context, Result, TrainError};
use crate::metrics::{EvalRecord, Summary, read_jsonl};
use crate::plot::{Curve, Figure, robust_figure, run_figures, weights_figure};
use crate::run_dir::{CONFIG_FILE, SUMMARY_FILE};
use crate::weights::WeightGroups;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What a run trained, with its evaluation records.
pub enum RunKind {
    Classifier {
        summary: Box<Summary>,
        records: Vec<EvalRecord>,
    },
    PerturbationSet {
        summary: Box<CvaeSummary>,
        records: Vec<CvaeRecord>,
    },
}

/// One finished run as the report reads it.
pub struct RunView {
    pub dir: PathBuf,
    /// The directory's name (its path when the name is shared with another run).
    pub name: String,
    /// The config's `label`, if any.
    pub label: Option<String>,
    pub config_text: String,
    pub config: toml::Value,
    pub summary_text: String,
    pub kind: RunKind,
    /// `attack*.json` of the run directory, in file-name order.
    pub attacks: Vec<(String, AttackReport)>,
    pub weights: Option<WeightGroups>,
}

impl RunView {
    /// Reads a finished run directory; an unfinished one (no `summary.json`) or any malformed
    /// file is an error that names the file.
    pub fn load(dir: &Path) -> Result<Self> {
        let summary_path = dir.join(SUMMARY_FILE);
        if !summary_path.is_file() {
            return Err(TrainError::msg(format!(
                "{}: not a finished run (no {SUMMARY_FILE}); `ballast report` reads run directories whose training has ended",
                dir.display()
            )));
        }
        let config_path = dir.join(CONFIG_FILE);
        let config_text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let config: toml::Value = toml::from_str(&config_text)
            .with_context(|| format!("malformed {}", config_path.display()))?;
        let cfg = RunConfig::parse(&config_text, &[])
            .with_context(|| format!("invalid config {}", config_path.display()))?;
        let summary_text = std::fs::read_to_string(&summary_path)
            .with_context(|| format!("cannot read {}", summary_path.display()))?;
        let malformed = || format!("malformed {}", summary_path.display());
        let kind = match cfg.method.info().trains {
            Trains::Classifier => RunKind::Classifier {
                summary: serde_json::from_str(&summary_text).with_context(malformed)?,
                records: read_jsonl(&dir.join("metrics.jsonl"))?,
            },
            Trains::PerturbationSet => RunKind::PerturbationSet {
                summary: serde_json::from_str(&summary_text).with_context(malformed)?,
                records: read_jsonl(&dir.join(CVAE_METRICS_FILE))?,
            },
        };
        let mut attack_files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| e == "json")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("attack"))
            })
            .collect();
        attack_files.sort();
        let attacks = attack_files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                let report: AttackReport = serde_json::from_str(&text).with_context(|| {
                    format!("{}: not an attack report of `ballast attack`", p.display())
                })?;
                let name = p.file_name().unwrap_or_default().to_string_lossy().into();
                Ok((name, report))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            label: cfg.label.clone(),
            config_text,
            config,
            summary_text,
            kind,
            attacks,
            weights: WeightGroups::read(dir, cfg.budget.batch_size)?,
        })
    }

    /// "label (directory)" or the directory.
    fn title(&self) -> String {
        match &self.label {
            Some(l) if *l != self.name => format!("{l} ({})", self.name),
            _ => self.name.clone(),
        }
    }

    fn steps(&self) -> usize {
        match &self.kind {
            RunKind::Classifier { summary, .. } => summary.steps,
            RunKind::PerturbationSet { summary, .. } => summary.steps,
        }
    }

    fn wall_time_s(&self) -> f64 {
        match &self.kind {
            RunKind::Classifier { summary, .. } => summary.wall_time_s,
            RunKind::PerturbationSet { summary, .. } => summary.wall_time_s,
        }
    }
}

/// The report of `dirs` as one HTML document; `title` defaults to the run (or "N runs").
pub fn html_report(dirs: &[PathBuf], title: Option<&str>) -> Result<String> {
    if dirs.is_empty() {
        return Err(TrainError::msg(
            "`ballast report` needs at least one run directory",
        ));
    }
    let mut runs = dirs
        .iter()
        .map(|d| RunView::load(d))
        .collect::<Result<Vec<_>>>()?;
    // Runs of the same directory name (seed-0/run, seed-1/run) are told apart by their path.
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    for r in &mut runs {
        if names.iter().filter(|n| **n == r.name).count() > 1 {
            r.name = r.dir.display().to_string();
        }
    }
    let title = match title {
        Some(t) => t.to_string(),
        None if runs.len() == 1 => format!("Ballast run {}", runs[0].title()),
        None => format!("Ballast report: {} runs", runs.len()),
    };
    let mut body = String::new();
    let mut plots = 0usize;
    if runs.len() > 1 {
        plots += comparison_section(&mut body, &runs)?;
    }
    for (i, run) in runs.iter().enumerate() {
        plots += run_section(&mut body, i, run)?;
    }
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ballast {} (commit {}), Burn {}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body data-plots=\"{plots}\" data-runs=\"{}\">\n<header>\n<h1>{}</h1>\n<nav><ul>\n",
        env!("CARGO_PKG_VERSION"),
        esc(crate::COMMIT),
        crate::BURN_VERSION,
        esc(&title),
        runs.len(),
        esc(&title),
    );
    if runs.len() > 1 {
        html.push_str("<li><a href=\"#comparison\">Comparison</a></li>\n");
    }
    for (i, run) in runs.iter().enumerate() {
        let _ = writeln!(
            html,
            "<li><a href=\"#run-{}\">{}</a></li>",
            i + 1,
            esc(&run.title())
        );
    }
    html.push_str("</ul></nav>\n</header>\n<main>\n");
    html.push_str(&body);
    let _ = write!(
        html,
        "</main>\n<footer>Written by <code>ballast report</code> {} (commit {}), Burn {}, from \
         the files of each run directory: <code>config.toml</code>, <code>summary.json</code>, \
         the metrics log, <code>weights.csv</code> and <code>attack*.json</code>.</footer>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(crate::COMMIT),
        crate::BURN_VERSION,
    );
    Ok(html)
}

const STYLE: &str = "
:root { color-scheme: light; --ink: #1b1b1b; --muted: #5a5a5a; --line: #d0d0d0; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1rem; font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; border-bottom: 2px solid var(--accent); padding-bottom: 0.2rem; margin-top: 2.2rem; overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
nav ul { padding-left: 1.2rem; margin: 0.4rem 0; }
a { color: var(--accent); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; }
table.runs td:first-child { white-space: nowrap; }
table.kv th { background: none; font-weight: 600; }
code { overflow-wrap: anywhere; }
table.runs code { overflow-wrap: normal; }
th { background: #f3f6f9; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 460px), 1fr)); gap: 0.8rem; }
figure.plot { margin: 0; border: 1px solid var(--line); padding: 0.3rem; }
figure.plot svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.9rem; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
.warning { border-left: 4px solid #d55e00; background: #fff4ec; padding: 0.4rem 0.7rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.85rem; }
@media print { nav, details { display: none; } h2 { break-before: page; } }
";

/// `text` with the five HTML-special characters escaped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An accuracy in [0, 1] as "81.23 %", or "–".
fn pct(a: Option<f64>) -> String {
    a.map_or("–".into(), |a| format!("{:.2} %", 100.0 * a))
}

/// A number with `digits` decimals, or "–".
fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// A table cell: numbers right-aligned. `cells` are already HTML.
enum Cell {
    Text(String),
    Num(String),
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<Cell>]) {
    classed_table(out, "", head, rows);
}

fn classed_table(out: &mut String, class: &str, head: &[&str], rows: &[Vec<Cell>]) {
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"{class}\">\n<thead><tr>"
    );
    for h in head {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            match c {
                Cell::Text(t) => {
                    let _ = write!(out, "<td>{t}</td>");
                }
                Cell::Num(t) => {
                    let _ = write!(out, "<td class=\"num\">{t}</td>");
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// Two-column table of (name, HTML value) pairs, names as row headers.
fn key_values(out: &mut String, pairs: &[(&str, String)]) {
    out.push_str("<div class=\"scroll\"><table class=\"kv\">\n<tbody>\n");
    for (k, v) in pairs {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{v}</td></tr>",
            esc(k)
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// A JSON value on one line for people: objects as "key value, …", numbers with at most
/// four decimals.
fn json_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), json_inline(v)))
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(json_inline).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => {
                let s = format!("{f:.4}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Appends `figures` as one grid; returns how many plots it drew (empty figures are left out).
fn figures(out: &mut String, id: &str, figures: &[(&str, &Figure, String)]) -> Result<usize> {
    let drawn: Vec<_> = figures.iter().filter(|(_, f, _)| !f.is_empty()).collect();
    if drawn.is_empty() {
        return Ok(0);
    }
    out.push_str("<div class=\"plots\">\n");
    for (name, figure, caption) in &drawn {
        let _ = write!(
            out,
            "<figure class=\"plot\" data-plot=\"{}-{}\">\n{}\n<figcaption>{}</figcaption></figure>\n",
            esc(id),
            esc(name),
            strip_xml_declaration(&figure.svg()?),
            caption
        );
    }
    out.push_str("</div>\n");
    Ok(drawn.len())
}

/// An SVG document as an inline element (no `<?xml …?>` line).
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// Every leaf of a TOML document as (dotted key, value as TOML).
fn flatten(value: &toml::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &key, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        v => {
            out.insert(prefix.to_string(), v.to_string());
        }
    }
}

/// The config keys whose values are not the same in every run (a key absent from a run counts
/// as a difference), in key order.
pub fn differing_keys(configs: &[&toml::Value]) -> Vec<String> {
    let flat: Vec<BTreeMap<String, String>> = configs
        .iter()
        .map(|c| {
            let mut m = BTreeMap::new();
            flatten(c, "", &mut m);
            m
        })
        .collect();
    let mut keys: Vec<String> = flat.iter().flat_map(|m| m.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| {
            let first = flat[0].get(k);
            flat.iter().any(|m| m.get(k) != first)
        })
        .collect()
}

fn comparison_section(out: &mut String, runs: &[RunView]) -> Result<usize> {
    out.push_str("<section id=\"comparison\">\n<h2>Comparison</h2>\n");
    let configs: Vec<&toml::Value> = runs.iter().map(|r| &r.config).collect();
    let keys = differing_keys(&configs);
    let any_robust = runs.iter().any(
        |r| matches!(&r.kind, RunKind::Classifier { summary, .. } if summary.robust.is_some()),
    );
    let mut head: Vec<&str> = vec![
        "run",
        "final test accuracy",
        "test accuracy at best validation",
    ];
    if any_robust {
        head.extend([
            "final robust test accuracy",
            "robust test accuracy at best validation",
            "best robust test accuracy (oracle)",
        ]);
    }
    head.extend(["steps", "wall time (s)"]);
    let link =
        |i: usize, run: &RunView| format!("<a href=\"#run-{}\">{}</a>", i + 1, esc(&run.title()));
    let rows: Vec<Vec<Cell>> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let (fin, at_best, robust) = match &run.kind {
                RunKind::Classifier { summary, .. } => (
                    summary.final_record.as_ref().map(|r| r.test_acc),
                    summary.test_acc_at_best_val,
                    summary.robust.as_ref(),
                ),
                RunKind::PerturbationSet { .. } => (None, None, None),
            };
            let mut row = vec![
                Cell::Text(link(i, run)),
                Cell::Num(pct(fin)),
                Cell::Num(pct(at_best)),
            ];
            if any_robust {
                row.push(Cell::Num(pct(robust.and_then(|r| r.final_test_robust))));
                row.push(Cell::Num(pct(
                    robust.and_then(|r| r.test_robust_at_best_val)
                )));
                row.push(Cell::Num(pct(robust.and_then(|r| r.best_test_robust))));
            }
            row.push(Cell::Num(run.steps().to_string()));
            row.push(Cell::Num(format!("{:.1}", run.wall_time_s())));
            row
        })
        .collect();
    classed_table(out, "runs", &head, &rows);
    // The settings that differ: one row per config key, one column per run.
    if keys.is_empty() {
        out.push_str("<p>The runs' configs are identical.</p>\n");
    } else {
        out.push_str("<h3>Settings that differ</h3>\n");
        let flat: Vec<BTreeMap<String, String>> = runs
            .iter()
            .map(|r| {
                let mut m = BTreeMap::new();
                flatten(&r.config, "", &mut m);
                m
            })
            .collect();
        let titles: Vec<String> = runs.iter().enumerate().map(|(i, r)| link(i, r)).collect();
        let mut head: Vec<&str> = vec!["config key"];
        head.extend(titles.iter().map(String::as_str));
        let rows: Vec<Vec<Cell>> = keys
            .iter()
            .map(|k| {
                let mut row = vec![Cell::Text(format!("<code>{}</code>", esc(k)))];
                row.extend(
                    flat.iter()
                        .map(|m| Cell::Text(m.get(k).map_or("–".into(), |v| esc(v)))),
                );
                row
            })
            .collect();
        classed_table(out, "runs", &head, &rows);
    }
    let run_curve = |f: &dyn Fn(&EvalRecord) -> Option<(f64, f64)>| -> Vec<Curve> {
        runs.iter()
            .filter_map(|run| match &run.kind {
                RunKind::Classifier { records, .. } => Some(Curve::new(
                    run.title(),
                    records.iter().filter_map(f).collect(),
                )),
                RunKind::PerturbationSet { .. } => None,
            })
            .collect()
    };
    let test = Figure::new(
        "Test accuracy",
        "step",
        "accuracy (%)",
        run_curve(&|r| Some((r.step as f64, 100.0 * r.test_acc))),
    );
    let robust = Figure::new(
        "Robust test accuracy",
        "epoch",
        "accuracy (%)",
        run_curve(&|r| r.test_robust_acc.map(|a| (r.epoch, 100.0 * a))),
    );
    let n = figures(
        out,
        "comparison",
        &[
            (
                "test",
                &test,
                "Test accuracy of every run at each evaluation.".into(),
            ),
            (
                "robust",
                &robust,
                "Robust test accuracy (each run's evaluation attack) at each evaluation.".into(),
            ),
        ],
    )?;
    out.push_str("</section>\n");
    Ok(n)
}

fn run_section(out: &mut String, index: usize, run: &RunView) -> Result<usize> {
    let id = format!("run-{}", index + 1);
    let _ = write!(
        out,
        "<section class=\"run\" id=\"{id}\">\n<h2>{}</h2>\n<p>Run directory <code>{}</code>.</p>\n",
        esc(&run.title()),
        esc(&run.dir.display().to_string())
    );
    let mut plots = match &run.kind {
        RunKind::Classifier { summary, records } => {
            classifier_body(out, &id, run, summary, records)?
        }
        RunKind::PerturbationSet { summary, records } => {
            perturbation_set_body(out, &id, summary, records)?
        }
    };
    for (file, report) in &run.attacks {
        plots += attack_body(out, &id, file, report)?;
    }
    let _ = write!(
        out,
        "<details><summary>Configuration (<code>config.toml</code>)</summary>\n<pre>{}</pre></details>\n\
         <details><summary>Summary (<code>summary.json</code>)</summary>\n<pre>{}</pre></details>\n</section>\n",
        esc(&run.config_text),
        esc(&run.summary_text)
    );
    Ok(plots)
}

fn classifier_body(
    out: &mut String,
    id: &str,
    run: &RunView,
    s: &Summary,
    records: &[EvalRecord],
) -> Result<usize> {
    out.push_str("<h3>Run</h3>\n");
    let mut pairs = vec![
        ("method", format!("<code>{}</code>", esc(&s.method))),
        ("model", esc(&s.model)),
        ("dataset", esc(&s.dataset)),
        ("seed", s.seed.to_string()),
        ("steps", s.steps.to_string()),
        (
            "wall time",
            format!(
                "{:.1} s ({:.1} steps/s, {:.0} examples/s)",
                s.wall_time_s, s.steps_per_s, s.examples_per_s
            ),
        ),
        ("device", esc(&s.device)),
    ];
    if let Some(reason) = &s.stopped_early {
        pairs.push(("stopped early", esc(reason)));
    }
    key_values(out, &pairs);

    out.push_str("<h3>Results</h3>\n");
    let fin = s.final_record.as_ref();
    let mut pairs = vec![
        ("final test accuracy", pct(fin.map(|r| r.test_acc))),
        ("final test loss", num(fin.map(|r| r.test_loss), 4)),
    ];
    let selection = if s.robust.is_some() {
        "best robust validation accuracy"
    } else {
        "best validation accuracy"
    };
    pairs.push((
        selection,
        match (s.best_val_score, s.best_step) {
            (Some(v), Some(step)) => format!("{} at step {step}", pct(Some(v))),
            (v, _) => pct(v),
        },
    ));
    pairs.push((
        "test accuracy at best validation",
        pct(s.test_acc_at_best_val),
    ));
    if let Some(r) = &s.robust {
        pairs.push((
            "robust evaluation during training",
            format!(
                "{} on {} test examples",
                esc(&r.attack.describe()),
                r.test_examples
            ),
        ));
        pairs.push((
            "robust test accuracy at best validation",
            format!(
                "{} (epoch {})",
                pct(r.test_robust_at_best_val),
                num(r.best_epoch, 1)
            ),
        ));
        pairs.push((
            "best robust test accuracy (oracle)",
            format!(
                "{} (epoch {})",
                pct(r.best_test_robust),
                num(r.best_test_robust_epoch, 1)
            ),
        ));
        pairs.push(("final robust test accuracy", pct(r.final_test_robust)));
        if let (Some(best), Some(fin)) = (r.best_test_robust, r.final_test_robust) {
            pairs.push((
                "best − final (robust overfitting)",
                format!("{:.2} points", 100.0 * (best - fin)),
            ));
        }
    }
    if let Some(noise) = &s.label_noise {
        pairs.push(("label noise", esc(&json_inline(noise))));
    }
    if let Some(state) = &s.method_state {
        pairs.push((
            "method state",
            format!("<pre>{}</pre>", esc(&serde_json::to_string_pretty(state)?)),
        ));
    }
    key_values(out, &pairs);

    out.push_str("<h3>Curves</h3>\n");
    let curves = run_figures(records);
    let robust = robust_figure(records, s.best_step);
    let mut list: Vec<(&str, &Figure, String)> = curves
        .iter()
        .map(|(file, f)| {
            (
                file.trim_end_matches(".svg"),
                f,
                format!(
                    "From <code>metrics.jsonl</code> ({} evaluations).",
                    records.len()
                ),
            )
        })
        .collect();
    if let Some(f) = &robust {
        list.push((
            "robust",
            f,
            "Robust error under the training run's evaluation attack; the marks are the \
             model selected on robust validation accuracy and the final one."
                .into(),
        ));
    }
    let weights = run.weights.as_ref().map(weights_figure);
    if let Some(f) = &weights {
        list.push((
            "weights",
            f,
            "Distribution of n·w over the second half of the exported steps \
             (<code>weights.csv</code>)."
                .into(),
        ));
    }
    let plots = figures(out, id, &list)?;
    if let Some(groups) = &run.weights {
        let _ = writeln!(
            out,
            "<h3>Example weights</h3>\n<p>Exported steps {}–{}; n·w = 1 is the uniform weight.</p>",
            groups.steps.0, groups.steps.1
        );
        let rows: Vec<Vec<Cell>> = groups
            .groups
            .iter()
            .map(|g| {
                vec![
                    Cell::Text(esc(&g.name)),
                    Cell::Num(g.values.len().to_string()),
                    Cell::Num(format!("{:.3}", g.mean())),
                    Cell::Num(format!("{:.1} %", 100.0 * g.zero_fraction())),
                ]
            })
            .collect();
        table(
            out,
            &["group", "weights", "mean n·w", "weight exactly 0"],
            &rows,
        );
    }
    Ok(plots)
}

fn perturbation_set_body(
    out: &mut String,
    id: &str,
    s: &CvaeSummary,
    records: &[CvaeRecord],
) -> Result<usize> {
    out.push_str("<h3>Run</h3>\n");
    key_values(
        out,
        &[
            ("method", format!("<code>{}</code>", esc(&s.method))),
            ("dataset", esc(&s.dataset)),
            ("perturbation pairs", esc(&format!("{:?}", s.pairs))),
            ("seed", s.seed.to_string()),
            ("parameters", s.parameters.to_string()),
            ("steps", s.steps.to_string()),
            (
                "wall time",
                format!("{:.1} s ({:.1} steps/s)", s.wall_time_s, s.steps_per_s),
            ),
            ("device", esc(&s.device)),
        ],
    );
    if let Some(r) = &s.final_record {
        let q = &r.test;
        out.push_str("<h3>Quality on the test pairs</h3>\n");
        key_values(
            out,
            &[
                ("pairs", q.examples.to_string()),
                ("negative ELBO", format!("{:.3}", q.neg_elbo)),
                ("reconstruction NLL", format!("{:.3}", q.reconstruction)),
                ("KL", format!("{:.3}", q.kl)),
                ("pair MSE per pixel", format!("{:.5}", q.pair_mse)),
                (
                    "encoding norm percentiles (10, 50, 90, 99)",
                    q.encoding_norm_percentiles
                        .iter()
                        .map(|v| format!("{v:.3}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (
                    "approximation error",
                    format!(
                        "{} descent steps, {} draws",
                        q.approx_steps, q.approx_samples
                    ),
                ),
            ],
        );
        let rows: Vec<Vec<Cell>> = q
            .per_eps
            .iter()
            .map(|e| {
                let r = e.reference.as_ref();
                vec![
                    Cell::Num(format!("{}", e.eps)),
                    Cell::Num(format!("{:.4}", e.encoding_error)),
                    Cell::Num(format!("{:.4}", e.approximation_error)),
                    Cell::Num(format!("{:.4}", e.expected_approximation_error)),
                    Cell::Text(r.map_or("–".into(), |r| esc(&format!("{:?}", r.error)))),
                    Cell::Num(num(r.map(|r| r.encoding_error), 4)),
                    Cell::Num(num(r.map(|r| r.approximation_error), 4)),
                    Cell::Num(num(r.map(|r| r.expected_approximation_error), 4)),
                ]
            })
            .collect();
        out.push_str(
            "<p>Ballast's protocol: MSE per pixel, the best descent iterate, draws projected onto \
             the latent ball. The reference's: its pixel error, the last iterate, draws truncated \
             per coordinate.</p>\n",
        );
        table(
            out,
            &[
                "ε",
                "encoding (Ballast)",
                "approximation (Ballast)",
                "expected approximation (Ballast)",
                "reference error",
                "encoding (reference)",
                "approximation (reference)",
                "expected approximation (reference)",
            ],
            &rows,
        );
    }
    out.push_str("<h3>Curves</h3>\n");
    let series = |f: &dyn Fn(&CvaeRecord) -> f64| -> Vec<(f64, f64)> {
        records.iter().map(|r| (r.step as f64, f(r))).collect()
    };
    let elbo = Figure::new(
        "Negative ELBO (test pairs)",
        "step",
        "nats per example",
        vec![
            Curve::new("negative ELBO", series(&|r| r.test.neg_elbo)),
            Curve::new("reconstruction", series(&|r| r.test.reconstruction)),
            Curve::new("KL", series(&|r| r.test.kl)),
        ],
    );
    let radii: Vec<f64> = records
        .last()
        .map(|r| r.test.per_eps.iter().map(|e| e.eps).collect())
        .unwrap_or_default();
    let approx = Figure::new(
        "Approximation error (Ballast's protocol)",
        "step",
        "MSE per pixel",
        radii
            .iter()
            .map(|&eps| {
                Curve::new(
                    format!("ε = {eps}"),
                    records
                        .iter()
                        .filter_map(|r| {
                            let q = r.test.per_eps.iter().find(|e| e.eps == eps)?;
                            Some((r.step as f64, q.approximation_error))
                        })
                        .collect(),
                )
            })
            .collect(),
    );
    let caption = format!(
        "From <code>{CVAE_METRICS_FILE}</code> ({} evaluations).",
        records.len()
    );
    figures(
        out,
        id,
        &[
            ("elbo", &elbo, caption.clone()),
            ("approximation", &approx, caption),
        ],
    )
}

fn attack_body(out: &mut String, id: &str, file: &str, r: &AttackReport) -> Result<usize> {
    let _ = writeln!(out, "<h3>Robust evaluation <code>{}</code></h3>", esc(file));
    let checkpoint = r
        .checkpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = r
        .spec
        .autoattack_version()
        .map_or(String::new(), |v| format!(" (AutoAttack {v})"));
    let _ = writeln!(
        out,
        "<p>{} examples of the {} split of {}, model {} from <code>{}</code> (sha256 {}…); \
         schedule {}{}; {}. {:.1} s on {}.</p>",
        r.examples,
        esc(r.split.name()),
        esc(&r.dataset),
        esc(&r.model),
        esc(&checkpoint),
        esc(r
            .checkpoint_sha256
            .get(..12)
            .unwrap_or(&r.checkpoint_sha256)),
        esc(&format!("{:?}", r.spec.schedule).to_lowercase()),
        version,
        esc(&r.mode),
        r.wall_time_s,
        esc(&r.device),
    );
    for w in &r.warnings {
        let _ = writeln!(
            out,
            "<p class=\"warning\">{}</p>",
            esc(&serde_json::to_string(w)?)
        );
    }
    let mut rows = Vec::new();
    for radius in &r.results {
        rows.push(vec![
            Cell::Num(format!("{}", radius.eps)),
            Cell::Text("clean".into()),
            Cell::Num(pct(Some(radius.result.clean_accuracy))),
            Cell::Num("–".into()),
            Cell::Num("–".into()),
        ]);
        for a in &radius.result.per_attack {
            rows.push(vec![
                Cell::Num(format!("{}", radius.eps)),
                Cell::Text(format!("<code>{}</code>", esc(&a.name))),
                Cell::Num(pct(Some(a.robust_accuracy))),
                Cell::Num(a.only_this_attack_broke.to_string()),
                Cell::Num(format!("{:.1}", a.wall_time_s)),
            ]);
        }
        rows.push(vec![
            Cell::Num(format!("{}", radius.eps)),
            Cell::Text("<strong>worst case</strong>".into()),
            Cell::Num(format!(
                "<strong>{}</strong>",
                pct(Some(radius.result.worst_case_accuracy))
            )),
            Cell::Num("–".into()),
            Cell::Num("–".into()),
        ]);
    }
    table(
        out,
        &[
            "ε",
            "attack",
            "accuracy",
            "broken by this attack only",
            "time (s)",
        ],
        &rows,
    );
    if r.results.len() > 1 {
        let figure = r.curve_figure();
        let name = format!("attack-{}", file.trim_end_matches(".json"));
        return figures(
            out,
            id,
            &[(&name, &figure, format!("From <code>{}</code>.", esc(file)))],
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_the_special_characters() {
        assert_eq!(
            esc(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn json_values_read_as_text() {
        let v = serde_json::json!({"kind": "flip", "rate": 0.4, "noisy_examples": 23419, "realised_rate": 0.396932203});
        assert_eq!(
            json_inline(&v),
            "kind flip, noisy examples 23419, rate 0.4, realised rate 0.3969"
        );
    }

    #[test]
    fn differing_keys_are_the_leaves_that_differ_or_are_missing() {
        let a: toml::Value =
            toml::from_str("method = \"erm\"\nseed = 1\n[optimizer]\nlr = 0.1\nmomentum = 0.9\n")
                .unwrap();
        let b: toml::Value = toml::from_str(
            "method = \"l2rw\"\nseed = 1\n[optimizer]\nlr = 0.1\nmomentum = 0.9\n[meta]\nval_batch_size = 10\n",
        )
        .unwrap();
        assert_eq!(differing_keys(&[&a, &b]), ["meta.val_batch_size", "method"]);
        assert!(differing_keys(&[&a, &a]).is_empty());
    }

    #[test]
    fn an_unfinished_run_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("half-done");
        std::fs::create_dir_all(&dir).unwrap();
        let err = html_report(std::slice::from_ref(&dir), None)
            .err()
            .unwrap()
            .report();
        assert!(
            err.contains("half-done") && err.contains("summary.json"),
            "{err}"
        );
        assert!(html_report(&[], None).is_err());
    }
}
