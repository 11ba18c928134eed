//! SVG line plots of a run's curves (loss, accuracy, robust error, example weights). A
//! [`Figure`] renders to an SVG string (inlined by `ballast report`) or to a file.

use crate::error::{Result, TrainError};
use crate::metrics::EvalRecord;
use crate::weights::WeightGroups;
use plotters::prelude::*;
use std::path::Path;

/// One named curve.
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// A labelled point drawn on top of the curves.
pub struct Mark {
    pub name: String,
    pub at: (f64, f64),
}

/// A line plot: titled axes, curves and marks.
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
    pub marks: Vec<Mark>,
}

/// Okabe and Ito's colour-blind-safe palette (yellow last: it is faint on white).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xF0, 0xE4, 0x42),
];

/// The i-th colour of [`PALETTE`]; past its end, darker shades of the same colours.
fn colour(i: usize) -> RGBAColor {
    let c = PALETTE[i % PALETTE.len()];
    if i < PALETTE.len() {
        c.to_rgba()
    } else {
        RGBColor(c.0 / 2, c.1 / 2, c.2 / 2).to_rgba()
    }
}

impl Figure {
    pub fn new(title: &str, x_label: &str, y_label: &str, curves: Vec<Curve>) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            curves: curves
                .into_iter()
                .filter(|c| !c.points.is_empty())
                .collect(),
            marks: Vec::new(),
        }
    }

    pub fn with_marks(mut self, marks: Vec<Mark>) -> Self {
        self.marks = marks;
        self
    }

    /// No point to draw.
    pub fn is_empty(&self) -> bool {
        self.curves.iter().all(|c| c.points.is_empty()) && self.marks.is_empty()
    }

    /// The plot as an SVG document (800 × 480).
    pub fn svg(&self) -> Result<String> {
        let mut out = String::new();
        self.draw(SVGBackend::with_string(&mut out, (800, 480)))?;
        Ok(out)
    }

    /// Writes the plot to `path`; an empty figure writes nothing.
    pub fn write(&self, path: &Path) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        std::fs::write(path, self.svg()?)
            .map_err(|e| TrainError::msg(format!("writing {}: {e}", path.display())))
    }

    fn draw(&self, backend: SVGBackend) -> Result<()> {
        let all: Vec<(f64, f64)> = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().copied())
            .chain(self.marks.iter().map(|m| m.at))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let (mut x0, mut x1, mut y0, mut y1) = all.iter().fold(
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
            |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
        );
        if all.is_empty() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            x0 -= 1.0;
            x1 += 1.0;
        }
        if y1 <= y0 {
            y0 -= 0.5;
            y1 += 0.5;
        }
        let pad = (y1 - y0) * 0.05;
        let root = backend.into_drawing_area();
        let title = &self.title;
        let err = |e: DrawingAreaErrorKind<_>| TrainError::msg(format!("plot {title}: {e:?}"));
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
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .draw()
            .map_err(err)?;
        for (i, c) in self.curves.iter().enumerate() {
            let color = colour(i);
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(c.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        for (i, m) in self.marks.iter().enumerate() {
            let color = colour(self.curves.len() + i);
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
}

/// Line plot of `curves` into an SVG file (nothing when there is no point).
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: Vec<Curve>,
) -> Result<()> {
    Figure::new(title, x_label, y_label, curves).write(path)
}

/// `(file name, figure)` of a classifier run's curves: `loss.svg`, `accuracy.svg` and, for
/// `meta-loss` runs, `hyperparameters.svg`.
pub fn run_figures(records: &[EvalRecord]) -> Vec<(&'static str, Figure)> {
    let series = |f: &dyn Fn(&EvalRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.step as f64, v)))
            .collect()
    };
    let mut out = vec![(
        "loss.svg",
        Figure::new(
            "Loss",
            "step",
            "loss",
            vec![
                Curve::new("train", series(&|r| Some(r.train_loss))),
                Curve::new("validation", series(&|r| r.val_loss)),
                Curve::new("test", series(&|r| Some(r.test_loss))),
            ],
        ),
    )];
    out.push((
        "accuracy.svg",
        Figure::new(
            "Accuracy",
            "step",
            "accuracy",
            vec![
                Curve::new("validation", series(&|r| r.val_acc)),
                Curve::new("test", series(&|r| Some(r.test_acc))),
            ],
        ),
    ));
    let hyper: Vec<(usize, &Vec<f64>)> = records
        .iter()
        .filter_map(|r| r.loss_hyper.as_ref().map(|h| (r.step, h)))
        .collect();
    if let Some((_, first)) = hyper.first() {
        let curves = (0..first.len())
            .map(|i| {
                Curve::new(
                    format!("λ{i}"),
                    hyper
                        .iter()
                        .filter_map(|(s, h)| h.get(i).map(|v| (*s as f64, *v)))
                        .collect(),
                )
            })
            .collect();
        out.push((
            "hyperparameters.svg",
            Figure::new("Loss hyperparameters", "step", "value", curves),
        ));
    }
    out
}

/// Writes [`run_figures`] into the run directory.
pub fn plot_run(dir: &Path, records: &[EvalRecord]) -> Result<()> {
    for (file, figure) in run_figures(records) {
        figure.write(&dir.join(file))?;
    }
    Ok(())
}

/// The distribution of n·w_i (1 = uniform weight) per group of [`WeightGroups`]: a
/// histogram of 40 bins up to the largest weight (at most 20), as fractions of each group.
pub fn weights_figure(groups: &WeightGroups) -> Figure {
    let top = groups
        .groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .fold(1.0f64, f64::max)
        .min(20.0);
    let bins = 40;
    let curves = groups
        .groups
        .iter()
        .map(|g| {
            let mut counts = vec![0usize; bins];
            for v in &g.values {
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
                        *c as f64 / g.values.len().max(1) as f64,
                    )
                })
                .collect();
            Curve::new(g.name.clone(), points)
        })
        .collect();
    Figure::new(
        "Example weights (second half of training)",
        "n · weight (1 = uniform)",
        "fraction of examples",
        curves,
    )
}

/// `weights.svg` from the run's `weights.csv` (see [`weights_figure`]).
pub fn plot_weights(dir: &Path, batch_size: usize) -> Result<()> {
    match WeightGroups::read(dir, batch_size)? {
        Some(groups) => weights_figure(&groups).write(&dir.join("weights.svg")),
        None => Ok(()),
    }
}

/// Robust error (%) against epoch on train, validation and test, with the best-by-validation
/// and the final checkpoints marked on the test curve; None without a robust evaluation.
pub fn robust_figure(records: &[EvalRecord], best_step: Option<usize>) -> Option<Figure> {
    let series = |f: &dyn Fn(&EvalRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch, 100.0 * (1.0 - v))))
            .collect()
    };
    let test = series(&|r| r.test_robust_acc);
    let &last = test.last()?;
    let mut marks = Vec::new();
    if let Some(r) = best_step.and_then(|s| records.iter().find(|r| r.step == s)) {
        if let Some(a) = r.test_robust_acc {
            marks.push(Mark {
                name: "best (validation)".into(),
                at: (r.epoch, 100.0 * (1.0 - a)),
            });
        }
    }
    marks.push(Mark {
        name: "final".into(),
        at: last,
    });
    Some(
        Figure::new(
            "Robust error",
            "epoch",
            "robust error (%)",
            vec![
                Curve::new("train (robust)", series(&|r| r.train_robust_acc)),
                Curve::new("validation (robust)", series(&|r| r.val_robust_acc)),
                Curve::new("test (robust)", test),
                Curve::new("test (clean)", series(&|r| Some(r.test_acc))),
            ],
        )
        .with_marks(marks),
    )
}

/// `robust.svg` (see [`robust_figure`]).
pub fn plot_robust(dir: &Path, records: &[EvalRecord], best_step: Option<usize>) -> Result<()> {
    match robust_figure(records, best_step) {
        Some(figure) => figure.write(&dir.join("robust.svg")),
        None => Ok(()),
    }
}
