//! The backtest's ROC curves as an SVG: the score and lines changed alone,
//! against the diagonal of no signal.

use std::path::Path;

use plotters::prelude::*;

use super::{metrics::auc, Scored};

/// Writes the ROC curves of `scored` to `path`.
pub fn write_svg(scored: &[Scored], title: &str, path: &Path) -> Result<(), PlotError> {
    draw(scored, title, path).map_err(|e| PlotError::new(path, e))
}

/// A figure (`backtest --plot`, `bench canary --plot`) that could not be
/// drawn or written. plotters reports through its own error types, so the
/// detail is its text; the path is ours.
#[derive(Debug, thiserror::Error)]
#[error("could not write {}: {detail} (choose a writable --plot path)", path.display())]
pub struct PlotError {
    pub path: std::path::PathBuf,
    pub detail: String,
}

impl PlotError {
    pub fn new(path: &Path, detail: impl std::fmt::Display) -> Self {
        Self {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        }
    }
}

fn draw(scored: &[Scored], title: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let labels: Vec<bool> = scored.iter().map(|s| s.reverted).collect();
    let scores: Vec<f64> = scored.iter().map(|s| s.score).collect();
    let lines: Vec<f64> = scored.iter().map(|s| s.lines as f64).collect();
    let root = SVGBackend::new(path, (640, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(54)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("share of other commits flagged (false positive rate)")
        .y_desc("share of reverted commits flagged (recall)")
        .draw()?;
    chart.draw_series(LineSeries::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        BLACK.mix(0.3),
    ))?;
    for (values, name, color) in [
        (&scores, "risk score", BLUE),
        (&lines, "lines changed", RED),
    ] {
        let a = auc(values, &labels);
        chart
            .draw_series(LineSeries::new(roc(values, &labels), color.stroke_width(2)))?
            .label(format!("{name} (AUC {a:.3})"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// (false positive rate, true positive rate) as the threshold falls, one point
/// per distinct value (ties move together, as a threshold would).
pub fn roc(values: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let pos = labels.iter().filter(|l| **l).count().max(1) as f64;
    let neg = labels.iter().filter(|l| !**l).count().max(1) as f64;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let v = values[order[i]];
        while i < order.len() && values[order[i]] == v {
            if labels[order[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        points.push((fp / neg, tp / pos));
    }
    points
}
