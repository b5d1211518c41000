//! The SVG: four panels on one time axis (minutes since the first event),
//! drawn by plotters into a String, and above them the marker lanes, which
//! are written here as `<g class="marker …"><title>…</title>…</g>` so a
//! browser shows each event's detail on hover without JavaScript.
//!
//! plotters draws only numbers and fixed labels; every text that came from an
//! event goes through [`escape`] here.

use std::fmt::Write;

use plotters::prelude::*;

use super::escape;
use super::model::{Judgement, MarkerKind, RolloutChart};

pub(super) const WIDTH: u32 = 960;
const HEADER: u32 = 36;
const LANE: u32 = 16;
/// The smallest distance between two markers' centres in a lane (px).
const MARKER_GAP: i32 = 9;
const PANEL: u32 = 180;
/// Left label area and margins: the same in every panel, so one x maps to one pixel.
const Y_LABELS: u32 = 80;
const E_FLOOR: f64 = 1e-3;
const E_CEIL: f64 = 1e12;

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn lanes_height() -> u32 {
    LANE * MarkerKind::ALL.len() as u32 + 8
}

fn height() -> u32 {
    HEADER + lanes_height() + 4 * PANEL
}

/// The whole document.
pub(super) fn render(chart: &RolloutChart) -> String {
    let mut buf = String::new();
    let drawn = draw(chart, &mut buf);
    let (xs, note) = match drawn {
        Ok(xs) => (xs, String::new()),
        Err(e) => {
            // Still a valid document, with the events as markers.
            buf = format!(
                r#"<svg width="{WIDTH}" height="{}" viewBox="0 0 {WIDTH} {}" xmlns="http://www.w3.org/2000/svg"></svg>"#,
                height(),
                height()
            );
            let note = format!(
                r#"<text x="10" y="{}" class="error">the chart could not be drawn ({}): the events are in `deploy-agent show`</text>"#,
                HEADER + lanes_height() + 20,
                escape(&e.to_string())
            );
            (Vec::new(), note)
        }
    };
    let overlay = overlay(chart, &xs) + &note;
    match buf.rfind("</svg>") {
        Some(end) => {
            buf.insert_str(end, &overlay);
            buf
        }
        None => buf + &overlay + "</svg>",
    }
}

/// The title, the lanes' labels and the markers, at the x pixels plotters mapped.
fn overlay(chart: &RolloutChart, xs: &[i32]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<text id="title" x="10" y="22" font-family="sans-serif" font-size="16">{} {} — canary weight now <tspan id="svg-weight">{}</tspan>% — <tspan id="svg-outcome">{}</tspan></text>"#,
        escape(&chart.service),
        escape(chart.short_rev()),
        chart.weight,
        escape(chart.outcome_text())
    );
    s.push_str(r##"<g id="lanes" font-family="sans-serif" font-size="11" fill="#555">"##);
    for kind in MarkerKind::ALL {
        let _ = write!(
            s,
            r#"<text x="10" y="{}">{}</text>"#,
            lane_y(kind) + 4,
            kind.class()
        );
    }
    s.push_str("</g>");
    s.push_str(r#"<g id="markers">"#);
    // Markers closer than a marker's width in one lane are set side by side,
    // so each can be hovered; `data-at` keeps the event's own time.
    let mut last_x = [i32::MIN / 2; MarkerKind::ALL.len()];
    for (i, m) in chart.markers.iter().enumerate() {
        let Some(&x) = xs.get(i) else { break };
        let x = x.max(last_x[m.kind.lane()] + MARKER_GAP);
        last_x[m.kind.lane()] = x;
        let y = lane_y(m.kind);
        let mut title = format!("{} at {}: {}", m.event, minutes(m.at), m.detail);
        if let Some(j) = chart.judgements.iter().find(|j| j.at == m.at) {
            title.push_str(&judged_numbers(j));
        }
        let mut attrs = format!(
            r#" data-event="{}" data-at="{:.1}""#,
            escape(&m.event),
            m.at
        );
        if let Some(rule) = &m.rule {
            let _ = write!(attrs, r#" data-rule="{}""#, escape(rule));
        }
        if let Some(v) = &m.verdict {
            let _ = write!(attrs, r#" data-verdict="{}""#, escape(v));
        }
        let _ = write!(
            s,
            r#"<g class="marker {}"{attrs}><title>{}</title><circle cx="{x}" cy="{y}" r="5" fill="{}" stroke="black" stroke-width="0.5"/></g>"#,
            m.kind.class(),
            escape(&title),
            fill(m.kind, m.verdict.as_deref()),
        );
    }
    s.push_str("</g>");
    s
}

/// ` — error canary 2.10 %, baseline 0.50 % (canary at most 3.00 %) …`
fn judged_numbers(j: &Judgement) -> String {
    let pct = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.2} %", 100.0 * v));
    let ms = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.0} ms"));
    let mut s = format!(
        " — error rate canary {}, baseline {}",
        pct(j.error.canary),
        pct(j.error.baseline)
    );
    if let Some(u) = j.error_upper {
        let _ = write!(s, " (canary at most {})", pct(Some(u)));
    }
    let _ = write!(
        s,
        "; median latency canary {}, baseline {}",
        ms(j.latency.canary),
        ms(j.latency.baseline)
    );
    if let Some(u) = j.slower_upper {
        let _ = write!(s, " (P(canary slower) at most {u:.3})");
    }
    for e in &j.evidence {
        let at = e.threshold.map_or("n/a".into(), |t| format!("{t:.0}"));
        let _ = write!(s, "; {} e-value {:.3} (fail at {at})", e.metric, e.e_value);
    }
    s
}

fn lane_y(kind: MarkerKind) -> u32 {
    HEADER + 8 + LANE * kind.lane() as u32
}

fn fill(kind: MarkerKind, verdict: Option<&str>) -> &'static str {
    match (kind, verdict) {
        (MarkerKind::Verdict, Some("pass")) => "#2a9d3a",
        (MarkerKind::Verdict, Some("fail")) => "#d62828",
        (MarkerKind::Verdict, _) => "#aaaaaa",
        (MarkerKind::Veto, _) => "#e76f00",
        (MarkerKind::Approval, _) => "#6a4c93",
        (MarkerKind::Intent, _) => "#1d70b8",
        (MarkerKind::Rollback, _) => "#d62828",
        (MarkerKind::Outcome, _) => "#000000",
        _ => "#7a7a7a",
    }
}

fn minutes(secs: f64) -> String {
    crate::journal::timeline::offset(secs).trim().to_string()
}

/// Draws the panels; returns each marker's x pixel.
fn draw(chart: &RolloutChart, buf: &mut String) -> DrawResult<Vec<i32>> {
    let root = SVGBackend::with_string(buf, (WIDTH, height())).into_drawing_area();
    root.fill(&WHITE)?;
    let (_, panels) = root.split_vertically(HEADER + lanes_height());
    let areas = panels.split_evenly((4, 1));
    let x_max = chart.span / 60.0;
    let xs = weight_panel(&areas[0], chart, x_max)?;
    rate_panel(&areas[1], chart, x_max)?;
    latency_panel(&areas[2], chart, x_max)?;
    evidence_panel(&areas[3], chart, x_max)?;
    root.present()?;
    Ok(xs)
}

fn builder<'a, 'b>(area: &'a Area<'b>, caption: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, ("sans-serif", 14))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(28)
        .y_label_area_size(Y_LABELS);
    b
}

fn weight_panel(area: &Area<'_>, chart: &RolloutChart, x_max: f64) -> DrawResult<Vec<i32>> {
    let mut c = builder(area, "canary weight (%)").build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
    c.configure_mesh()
        .x_desc("minutes")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    let points = chart.weights.iter().map(|(t, w)| (t / 60.0, f64::from(*w)));
    c.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
    Ok(chart
        .markers
        .iter()
        .map(|m| c.backend_coord(&(m.at / 60.0, 0.0)).0)
        .collect())
}

/// Error rate (%) of both versions at each judgement, and the judge's upper bound on the canary's.
fn rate_panel(area: &Area<'_>, chart: &RolloutChart, x_max: f64) -> DrawResult<()> {
    let js = &chart.judgements;
    let pct = |v: Option<f64>| v.map(|v| 100.0 * v);
    let top = js
        .iter()
        .flat_map(|j| [j.error.canary, j.error.baseline, j.error_upper])
        .filter_map(pct)
        .fold(0.1_f64, f64::max)
        * 1.15;
    let mut c = builder(
        area,
        "error rate (%) at each judgement; dots: the judge's upper bound",
    )
    .build_cartesian_2d(0.0..x_max, 0.0..top)?;
    c.configure_mesh().x_desc("minutes").draw()?;
    let series = |pick: fn(&Judgement) -> Option<f64>| {
        js.iter()
            .filter_map(move |j| Some((j.at / 60.0, 100.0 * pick(j)?)))
            .collect::<Vec<_>>()
    };
    two_versions(
        &mut c,
        series(|j| j.error.canary),
        series(|j| j.error.baseline),
    )?;
    c.draw_series(
        series(|j| j.error_upper)
            .into_iter()
            .map(|p| Circle::new(p, 3, RED.filled())),
    )?
    .label("canary, at most")
    .legend(|(x, y)| Circle::new((x + 10, y), 3, RED.filled()));
    legend(&mut c)
}

fn latency_panel(area: &Area<'_>, chart: &RolloutChart, x_max: f64) -> DrawResult<()> {
    let js = &chart.judgements;
    let top = js
        .iter()
        .flat_map(|j| [j.latency.canary, j.latency.baseline])
        .flatten()
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut c = builder(area, "median latency (ms) at each judgement")
        .build_cartesian_2d(0.0..x_max, 0.0..top)?;
    c.configure_mesh().x_desc("minutes").draw()?;
    let series = |pick: fn(&Judgement) -> Option<f64>| {
        js.iter()
            .filter_map(move |j| Some((j.at / 60.0, pick(j)?)))
            .collect::<Vec<_>>()
    };
    two_versions(
        &mut c,
        series(|j| j.latency.canary),
        series(|j| j.latency.baseline),
    )?;
    legend(&mut c)
}

type Linear<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn two_versions(
    c: &mut Linear<'_>,
    canary: Vec<(f64, f64)>,
    baseline: Vec<(f64, f64)>,
) -> DrawResult<()> {
    c.draw_series(LineSeries::new(canary, RED.stroke_width(2)).point_size(2))?
        .label("canary")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    c.draw_series(LineSeries::new(baseline, BLUE.stroke_width(2)).point_size(2))?
        .label("baseline")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    Ok(())
}

fn legend<'a, CT: CoordTranslate>(c: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> DrawResult<()> {
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Each check's e-value (log axis) and the threshold it fails at.
fn evidence_panel(area: &Area<'_>, chart: &RolloutChart, x_max: f64) -> DrawResult<()> {
    let clamp = |e: f64| e.clamp(E_FLOOR, E_CEIL);
    let mut metrics: Vec<(String, Option<f64>)> = Vec::new();
    for e in chart.judgements.iter().flat_map(|j| &j.evidence) {
        match metrics.iter_mut().find(|m| m.0 == e.metric) {
            Some(m) => m.1 = m.1.or(e.threshold),
            None => metrics.push((e.metric.clone(), e.threshold)),
        }
    }
    let values = chart
        .judgements
        .iter()
        .flat_map(|j| j.evidence.iter().map(|e| clamp(e.e_value)))
        .chain(metrics.iter().filter_map(|m| m.1));
    let lo = values.clone().fold(1.0_f64, f64::min) / 2.0;
    let hi = values.fold(10.0_f64, f64::max) * 4.0;
    let caption = if metrics.iter().all(|m| m.1.is_some()) {
        "evidence of harm: e-value per check (log), dashed: fails at 1/α (policy [canary] alpha)"
    } else {
        "evidence of harm: e-value per check (log); thresholds not in the events: 1/α of policy [canary] alpha"
    };
    let mut c = builder(area, caption).build_cartesian_2d(0.0..x_max, (lo..hi).log_scale())?;
    c.configure_mesh()
        .x_desc("minutes")
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()?;
    for (k, (metric, threshold)) in metrics.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points: Vec<(f64, f64)> = chart
            .judgements
            .iter()
            .filter_map(|j| {
                let e = j.evidence.iter().find(|e| &e.metric == metric)?;
                Some((j.at / 60.0, clamp(e.e_value)))
            })
            .collect();
        let label = match threshold {
            Some(t) => format!("{metric} (fails at {t:.0})"),
            None => metric.clone(),
        };
        c.draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(2))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if let Some(t) = threshold {
            c.draw_series(DashedLineSeries::new(
                vec![(0.0, *t), (x_max, *t)],
                6,
                4,
                color.stroke_width(1),
            ))?;
        }
    }
    legend(&mut c)
}
