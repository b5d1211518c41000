//! The benchmark's SVG: (left) mean canary requests to rollback on errors-1-2
//! at 100 rps per method, with Wald's bound as a line; (right) median minutes
//! to rollback per method for every bad scenario at 100 rps (grouped bars,
//! only where the method caught at least half of the runs).

use crate::backtest::plot::PlotError;
use std::path::Path;

use plotters::prelude::*;

use super::runner::Method;
use super::stats::Row;
use super::traffic::{ScenarioKind, TrafficScenario};
use super::BenchResults;

/// The rate the figure shows (the one with enough traffic for every method).
const PLOT_RPS: f64 = 100.0;

/// Writes the figure to `path`.
pub fn write_svg(results: &BenchResults, path: &Path) -> Result<(), PlotError> {
    let failed = |e: &dyn std::fmt::Display| PlotError::new(path, e);
    let root = SVGBackend::new(path, (1280, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (left, right) = root.split_horizontally(620);
    requests_panel(&left, results).map_err(|e| failed(&e))?;
    minutes_panel(&right, results).map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type PlotResult = Result<(), Box<dyn std::error::Error>>;

fn row<'a>(r: &'a BenchResults, m: Method, scenario: &str) -> Option<&'a Row> {
    r.rows
        .iter()
        .find(|x| x.method == m.name() && x.scenario == scenario && x.rps == PLOT_RPS)
}

/// Short method names for the x axis.
fn short(m: Method) -> &'static str {
    match m {
        Method::Ours => "ours",
        Method::Flagger => "flagger",
        Method::Argo => "argo",
        Method::Kayenta20 => "kayenta-20",
        Method::Kayenta60 => "kayenta-60",
        Method::FixedMw => "fixed-mw",
        Method::Oracle => "oracle",
    }
}

/// An x axis of method names at integer positions.
fn method_axis(methods: &[Method]) -> impl Fn(&f64) -> String + '_ {
    move |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        methods
            .get(i as usize)
            .map_or(String::new(), |m| short(*m).into())
    }
}

fn requests_panel(area: &Area<'_>, r: &BenchResults) -> PlotResult {
    let methods = &r.config.methods;
    let scenario = TrafficScenario::Errors1To2.name();
    let bars: Vec<(usize, f64)> = methods
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, row(r, *m, scenario)?.mean_canary_requests_to_rollback?)))
        .collect();
    let wald = r
        .wald
        .iter()
        .find(|w| w.scenario == scenario)
        .map(|w| w.expected_n);
    let values = bars.iter().map(|b| b.1).chain(wald);
    let lo = values.clone().fold(f64::INFINITY, f64::min).min(1e6) / 2.0;
    let hi = values.fold(1.0, f64::max) * 2.0;
    let n = methods.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("errors-1-2 @ {PLOT_RPS} rps: mean canary requests to rollback"),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n - 0.5, (lo.max(1.0)..hi).log_scale())?;
    let labels = method_axis(methods);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(methods.len())
        .x_label_formatter(&labels)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("canary requests (log)")
        .draw()?;
    chart.draw_series(bars.iter().map(|(i, v)| {
        let x = *i as f64;
        Rectangle::new(
            [(x - 0.35, lo.max(1.0)), (x + 0.35, *v)],
            BLUE.mix(0.6).filled(),
        )
    }))?;
    // Say so where a method never rolled back, rather than leave a silent gap.
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    let floor = lo.max(1.0) * 1.15;
    chart.draw_series(methods.iter().enumerate().filter_map(|(i, m)| {
        let has_bar = bars.iter().any(|b| b.0 == i);
        (!has_bar && row(r, *m, scenario).is_some())
            .then(|| Text::new("no rollback", (i as f64 - 0.4, floor), style.clone()))
    }))?;
    if let Some(w) = wald {
        chart
            .draw_series(LineSeries::new(
                vec![(-0.5, w), (n - 0.5, w)],
                RED.stroke_width(2),
            ))?
            .label(format!("Wald E[N|p1] = {w:.0}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

fn minutes_panel(area: &Area<'_>, r: &BenchResults) -> PlotResult {
    let methods = &r.config.methods;
    let bad: Vec<TrafficScenario> = r
        .config
        .scenarios
        .iter()
        .copied()
        .filter(|s| s.kind() == ScenarioKind::Bad)
        .collect();
    let n = methods.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("median minutes to rollback @ {PLOT_RPS} rps (bad scenarios)"),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..90.0)?;
    let labels = method_axis(methods);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(methods.len())
        .x_label_formatter(&labels)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("minutes (where ≥ 50 % of runs rolled back)")
        .draw()?;
    // Grouped bars: one group per method, one bar per bad scenario.
    let width = 0.8 / bad.len().max(1) as f64;
    for (k, s) in bad.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let bars: Vec<Rectangle<(f64, f64)>> = methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                // A median over a handful of rollbacks is noise, not a detection time.
                let row = row(r, *m, s.name()).filter(|x| x.rollback_rate >= 0.5)?;
                let t = row.rollback_minutes_median?;
                let x = i as f64 - 0.4 + k as f64 * width;
                Some(Rectangle::new([(x, 0.0), (x + width, t)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(s.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{run, BenchConfig};
    use super::*;

    #[test]
    fn writes_an_svg() {
        let mut config = BenchConfig::new(3, 2);
        config.aa_runs = 3;
        config.rps = vec![100.0];
        config.scenarios = vec![
            TrafficScenario::Aa,
            TrafficScenario::Errors1To2,
            TrafficScenario::Errors1To5,
        ];
        let results = run(&config, |_, _| {});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canary.svg");
        write_svg(&results, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Wald") && svg.contains("flagger"));
    }
}
