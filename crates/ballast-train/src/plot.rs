//! SVG plots of a run's curves (loss and accuracy against steps).

use crate::error::{Result, TrainError};
use crate::metrics::EvalRecord;
use plotters::prelude::*;
use std::path::Path;

/// One named curve.
pub struct Curve<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A labelled point drawn on top of the curves.
pub struct Mark<'a> {
    pub name: &'a str,
    pub at: (f64, f64),
}

/// Line plot of `curves` into an SVG file.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<()> {
    line_plot_marked(path, title, x_label, y_label, curves, &[])
}

/// Line plot with labelled points (e.g. the best and the final checkpoint).
pub fn line_plot_marked(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    marks: &[Mark],
) -> Result<()> {
    let all: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .chain(marks.iter().map(|m| m.at))
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let (mut x0, mut x1, mut y0, mut y1) = all.iter().fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if x1 <= x0 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    if y1 <= y0 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let pad = (y1 - y0) * 0.05;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    let err =
        |e: DrawingAreaErrorKind<_>| TrainError::msg(format!("plot {}: {e:?}", path.display()));
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(c.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    for (i, m) in marks.iter().enumerate() {
        let color = Palette99::pick(curves.len() + i).to_rgba();
        chart
            .draw_series(std::iter::once(Circle::new(m.at, 6, color.filled())))
            .map_err(err)?
            .label(format!("{} ({:.2}, {:.2})", m.name, m.at.0, m.at.1))
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// `loss.svg`, `accuracy.svg` and, for `meta-loss` runs, `hyperparameters.svg`.
pub fn plot_run(dir: &Path, records: &[EvalRecord]) -> Result<()> {
    let series = |f: &dyn Fn(&EvalRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.step as f64, v)))
            .collect()
    };
    line_plot(
        &dir.join("loss.svg"),
        "Loss",
        "step",
        "loss",
        &[
            Curve {
                name: "train",
                points: series(&|r| Some(r.train_loss)),
            },
            Curve {
                name: "validation",
                points: series(&|r| r.val_loss),
            },
            Curve {
                name: "test",
                points: series(&|r| Some(r.test_loss)),
            },
        ],
    )?;
    let hyper: Vec<(usize, &Vec<f64>)> = records
        .iter()
        .filter_map(|r| r.loss_hyper.as_ref().map(|h| (r.step, h)))
        .collect();
    if let Some((_, first)) = hyper.first() {
        let names: Vec<String> = (0..first.len()).map(|i| format!("λ{i}")).collect();
        let curves: Vec<Curve> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Curve {
                name: name.as_str(),
                points: hyper.iter().map(|(s, h)| (*s as f64, h[i])).collect(),
            })
            .collect();
        line_plot(
            &dir.join("hyperparameters.svg"),
            "Loss hyperparameters",
            "step",
            "value",
            &curves,
        )?;
    }
    line_plot(
        &dir.join("accuracy.svg"),
        "Accuracy",
        "step",
        "accuracy",
        &[
            Curve {
                name: "validation",
                points: series(&|r| r.val_acc),
            },
            Curve {
                name: "test",
                points: series(&|r| Some(r.test_acc)),
            },
        ],
    )
}

/// `weights.svg` from `weights.csv`: the distribution of n·w_i (1 = uniform weight) over the
/// second half of the exported steps, for examples with flipped labels vs clean ones, or
/// per class when no label is flipped (class imbalance).
pub fn plot_weights(dir: &Path, batch_size: usize) -> Result<()> {
    let csv = std::fs::read_to_string(dir.join("weights.csv"))?;
    let rows: Vec<(usize, u32, bool, f64)> = csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                *f.get(4)? == "1",
                f.get(5)?.parse().ok()?,
            ))
        })
        .collect();
    let Some(last) = rows.iter().map(|r| r.0).max() else {
        return Ok(());
    };
    let recent: Vec<_> = rows.iter().filter(|r| r.0 * 2 > last).collect();
    let any_noisy = recent.iter().any(|r| r.2);
    let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
    for r in &recent {
        let name = match (any_noisy, r.2) {
            (true, true) => "flipped label".to_string(),
            (true, false) => "clean label".to_string(),
            (false, _) => format!("class {}", r.1),
        };
        let v = r.3 * batch_size as f64;
        match groups.iter_mut().find(|g| g.0 == name) {
            Some(g) => g.1.push(v),
            None => groups.push((name, vec![v])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let top = recent
        .iter()
        .map(|r| r.3 * batch_size as f64)
        .fold(1.0f64, f64::max)
        .min(20.0);
    let bins = 40;
    let curves: Vec<Curve> = groups
        .iter()
        .map(|(name, vals)| {
            let mut counts = vec![0usize; bins];
            for v in vals {
                let b = ((v / top) * bins as f64)
                    .floor()
                    .clamp(0.0, (bins - 1) as f64) as usize;
                counts[b] += 1;
            }
            let points = counts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        (i as f64 + 0.5) * top / bins as f64,
                        *c as f64 / vals.len() as f64,
                    )
                })
                .collect();
            Curve {
                name: name.as_str(),
                points,
            }
        })
        .collect();
    line_plot(
        &dir.join("weights.svg"),
        "Example weights (second half of training)",
        "n · weight (1 = uniform)",
        "fraction of examples",
        &curves,
    )
}

/// `robust.svg`: robust error (%) against epoch on train, validation and test, with the
/// best-by-validation and the final checkpoints marked on the test curve.
pub fn plot_robust(dir: &Path, records: &[EvalRecord], best_step: Option<usize>) -> Result<()> {
    let series = |f: &dyn Fn(&EvalRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch, 100.0 * (1.0 - v))))
            .collect()
    };
    let test = series(&|r| r.test_robust_acc);
    if test.is_empty() {
        return Ok(());
    }
    let mut marks = Vec::new();
    if let Some(r) = best_step.and_then(|s| records.iter().find(|r| r.step == s)) {
        if let Some(a) = r.test_robust_acc {
            marks.push(Mark {
                name: "best (validation)",
                at: (r.epoch, 100.0 * (1.0 - a)),
            });
        }
    }
    if let Some(&last) = test.last() {
        marks.push(Mark {
            name: "final",
            at: last,
        });
    }
    line_plot_marked(
        &dir.join("robust.svg"),
        "Robust error",
        "epoch",
        "robust error (%)",
        &[
            Curve {
                name: "train (robust)",
                points: series(&|r| r.train_robust_acc),
            },
            Curve {
                name: "validation (robust)",
                points: series(&|r| r.val_robust_acc),
            },
            Curve {
                name: "test (robust)",
                points: test.clone(),
            },
            Curve {
                name: "test (clean)",
                points: series(&|r| Some(r.test_acc)),
            },
        ],
        &marks,
    )
}
