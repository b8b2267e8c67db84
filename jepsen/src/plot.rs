//! SVG plots of a run: what the clients saw while the nemeses injected faults.
//!
//! Two plots, both 1200x500 SVG, both with time since the run started (seconds) on the
//! x axis and every fault window ([`History::faults`]) drawn as a translucent band over
//! the whole height of the plot, in one colour per nemesis name, with the name written
//! above the plot at the band's left edge (labels of windows that would collide are put
//! on separate rows). A window that was never healed runs to the end of the history.
//!
//! - [`latency_svg`]: one point per client operation, at the time it was invoked (x)
//!   and at the height of its latency (y: completion time - invocation time, in
//!   milliseconds, on a log scale). The colour is the outcome: green `ok`, orange-red
//!   `fail`, grey `info` (outcome unknown). An `info` operation's latency runs to its
//!   `info` completion (usually the client's timeout), and that of an operation that
//!   never completed to the end of the run: both are grey, and both are how long the
//!   operation was left pending. When a run has at most six kinds of operation
//!   ([`Op::name`]) each kind gets its own marker shape. The legend gives the count of
//!   each outcome, kind and fault. What to look for: a healthy run is a band of green a
//!   few milliseconds high; a fault that stalls the ensemble shows as a gap in that band,
//!   with the operations caught by the stall above it on a diagonal that falls towards
//!   the moment of recovery (those invoked first waited longest); a row of grey points
//!   at one height is operations that hit the client timeout, whose effect the checkers
//!   must treat as unknown.
//! - [`rate_svg`]: completed operations per second, counted by completion time in 1 s
//!   buckets (0.5 s when the run is shorter than 30 s; a remainder under half a bucket
//!   at the end is folded into the last one), one line per outcome, drawn at the middle
//!   of each bucket. A drop of the green line to zero inside a band is a window of
//!   unavailability; how far it stays down past the band's right edge is the time the
//!   ensemble took to recover. When the history records the run's availability floor
//!   ([`Op::Run`]'s `floor`, the lowest acceptable ok rate while faults run) it is drawn
//!   as a dashed line.
//!
//! Operations of the `final` process (the checks after the faults are healed) and the
//! faults themselves are not plotted as operations. Observations (watch events, session
//! states) have no latency and are not plotted either.
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::history::{EventType, FaultWindow, History, Op};

/// Width of both plots, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of both plots, in pixels.
pub const HEIGHT: u32 = 500;

/// Drawing or writing a plot failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The plot could not be drawn or its file could not be written.
    #[error("cannot draw {}: {message}", path.display())]
    Draw {
        /// The SVG file being written.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}

/// Writes the latency scatter plot of `history` to `path` (SVG).
///
/// x: invocation time (s since the run started); y: latency (ms, log scale); colour:
/// outcome; shape: operation kind (when there are at most six kinds). Fault windows are
/// shaded. An empty history gives a plot with empty axes.
pub fn latency_svg(history: &History, path: &Path, title: &str) -> Result<(), PlotError> {
    render(path, |root| draw_latency(root, history, title))
}

/// Writes the throughput plot of `history` to `path` (SVG).
///
/// x: time (s since the run started); y: operations completed per second, one line per
/// outcome (ok, fail, info), counted in 1 s buckets (0.5 s for runs under 30 s). Fault
/// windows are shaded. An empty history gives a plot with empty axes.
pub fn rate_svg(history: &History, path: &Path, title: &str) -> Result<(), PlotError> {
    render(path, |root| draw_rate(root, history, title))
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn render<F>(path: &Path, draw: F) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<SVGBackend<'static>>,
{
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    draw(&root).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

const NS_PER_S: f64 = 1e9;
const NS_PER_MS: f64 = 1e6;
/// Latencies below this (ms) are drawn at it: a log axis has no zero.
const MIN_LATENCY_MS: f64 = 1e-3;
/// At most this many operation kinds get their own marker shape.
const MAX_SHAPES: usize = 6;

/// One operation as the latency plot draws it.
#[derive(Debug, Clone, PartialEq)]
struct LatencyPoint {
    /// Invocation time (s).
    t: f64,
    /// Latency (ms), at least [`MIN_LATENCY_MS`].
    latency_ms: f64,
    /// Ok, fail or info (no completion counts as info).
    outcome: EventType,
    /// [`Op::name`].
    name: &'static str,
}

fn plotted(process: &str, op: &Op) -> bool {
    process != "final" && !matches!(op, Op::Fault { .. })
}

fn latency_points(history: &History) -> Vec<LatencyPoint> {
    let end = history.end_time();
    history
        .operations()
        .into_iter()
        .filter(|o| plotted(&o.invoke.process, &o.invoke.op))
        .map(|o| {
            let done = o.completion.map_or(end, |c| c.time);
            LatencyPoint {
                t: o.start() as f64 / NS_PER_S,
                latency_ms: (done.saturating_sub(o.start()) as f64 / NS_PER_MS).max(MIN_LATENCY_MS),
                outcome: o.outcome(),
                name: o.invoke.op.name(),
            }
        })
        .collect()
}

/// Completed operations per second, per bucket, per outcome.
#[derive(Debug, Clone, PartialEq)]
struct Rates {
    /// Nominal bucket width (s).
    bucket: f64,
    /// Each bucket's midpoint (s), where its rate is drawn.
    mids: Vec<f64>,
    ok: Vec<f64>,
    fail: Vec<f64>,
    info: Vec<f64>,
    /// Completions counted: (ok, fail, info).
    totals: (u64, u64, u64),
}

fn bucket_width(end_s: f64) -> f64 {
    if end_s < 30.0 {
        0.5
    } else {
        1.0
    }
}

/// Bucket edges (s) covering `0..end_s`: whole buckets, the last one stretched over a
/// remainder shorter than half a bucket (a sliver at the end would read as a drop to
/// zero), else a shorter last bucket. Never empty.
fn bucket_edges(end_s: f64, bucket: f64) -> Vec<f64> {
    let whole = (end_s / bucket).floor() as usize;
    let mut edges: Vec<f64> = (0..=whole).map(|i| i as f64 * bucket).collect();
    let rest = end_s - whole as f64 * bucket;
    if whole == 0 {
        edges.push(if rest > 0.0 { end_s } else { bucket });
    } else if rest >= bucket / 2.0 {
        edges.push(end_s);
    } else if let Some(last) = edges.last_mut() {
        *last = end_s;
    }
    edges
}

fn rates(history: &History) -> Rates {
    let end_s = history.end_time() as f64 / NS_PER_S;
    let bucket = bucket_width(end_s);
    let edges = bucket_edges(end_s, bucket);
    let n = edges.len() - 1;
    let mut r = Rates {
        bucket,
        mids: edges.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect(),
        ok: vec![0.0; n],
        fail: vec![0.0; n],
        info: vec![0.0; n],
        totals: (0, 0, 0),
    };
    for o in history.operations() {
        let Some(c) = o.completion else { continue };
        if !plotted(&o.invoke.process, &o.invoke.op) {
            continue;
        }
        let i = ((c.time as f64 / NS_PER_S / bucket) as usize).min(n - 1);
        match c.kind {
            EventType::Ok => {
                r.ok[i] += 1.0;
                r.totals.0 += 1;
            }
            EventType::Fail => {
                r.fail[i] += 1.0;
                r.totals.1 += 1;
            }
            EventType::Info => {
                r.info[i] += 1.0;
                r.totals.2 += 1;
            }
            EventType::Invoke => {}
        }
    }
    for v in [&mut r.ok, &mut r.fail, &mut r.info] {
        for (x, w) in v.iter_mut().zip(edges.windows(2)) {
            *x /= w[1] - w[0];
        }
    }
    r
}

/// The x range: the whole run, at least a second (so an empty or tiny history still
/// gets a readable axis).
fn time_range(history: &History) -> Range<f64> {
    let end_s = history.end_time() as f64 / NS_PER_S;
    0.0..end_s.max(1.0)
}

/// Whole decades around the latencies, at least one decade, with some headroom.
fn latency_range(points: &[LatencyPoint]) -> Range<f64> {
    if points.is_empty() {
        return 0.1..1000.0;
    }
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.latency_ms), hi.max(p.latency_ms))
    });
    let lo = 10f64
        .powf((lo * 0.9).log10().floor())
        .max(MIN_LATENCY_MS / 10.0);
    let hi = 10f64.powf((hi * 1.1).log10().ceil()).max(lo * 10.0);
    // Nudged outwards so that rounding cannot drop the end decades' ticks.
    lo * 0.999..hi * 1.001
}

// ---------------------------------------------------------------------------------------
// Layout and style
// ---------------------------------------------------------------------------------------

const FONT: &str = "sans-serif";
/// plotters' SVG backend writes `font-size` as the given size / 1.24.
const TITLE_SIZE: f64 = 24.0;
const AXIS_SIZE: f64 = 16.0;
const TICK_SIZE: f64 = 14.0;
const LABEL_SIZE: f64 = 14.0;
const TITLE_H: u32 = 34;
const LABEL_ROW_H: u32 = 15;
const MAX_LABEL_ROWS: usize = 5;
const MARGIN: u32 = 10;
const Y_LABEL_AREA: u32 = 70;
const X_LABEL_AREA: u32 = 45;
const LEGEND_W: u32 = 200;
/// Leftmost and rightmost pixel of the plotting area (the chart's layout is fixed).
const PLOT_X: (i32, i32) = ((MARGIN + Y_LABEL_AREA) as i32, (WIDTH - LEGEND_W) as i32);

const OK: RGBColor = RGBColor(44, 160, 44);
const FAIL: RGBColor = RGBColor(230, 85, 13);
const INFO: RGBColor = RGBColor(120, 120, 120);
const INK: RGBColor = RGBColor(50, 50, 50);
const FLOOR: RGBColor = RGBColor(31, 119, 180);
/// Fault colours, by first appearance of the nemesis name (cycled).
const FAULT_COLOURS: [RGBColor; 8] = [
    RGBColor(148, 103, 189),
    RGBColor(31, 119, 180),
    RGBColor(188, 150, 20),
    RGBColor(23, 160, 180),
    RGBColor(227, 119, 194),
    RGBColor(140, 86, 75),
    RGBColor(90, 100, 170),
    RGBColor(110, 140, 40),
];
const FAULT_ALPHA: f64 = 0.14;

fn outcome_colour(outcome: EventType) -> RGBColor {
    match outcome {
        EventType::Ok => OK,
        EventType::Fail => FAIL,
        EventType::Info | EventType::Invoke => INFO,
    }
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

/// Rough width (px) of `text` in the SVG renderer's sans-serif at `size`.
fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size / 1.24 * 0.66).ceil() as i32 + 4
}

/// A fault window placed on the plot.
#[derive(Debug, Clone, PartialEq)]
struct FaultBand {
    name: String,
    colour: RGBColor,
    /// Pixel columns of the band.
    x: (i32, i32),
    /// Left pixel of the label text.
    label_x: i32,
    /// Label row, 0 = nearest the plot.
    row: usize,
}

/// Places the fault windows on a plot whose x axis maps `range` to pixels `px`: a band
/// per window, a colour per distinct name, and a label row per window such that labels
/// on one row do not overlap (while rows last; then the least crowded row).
fn fault_bands(faults: &[FaultWindow], range: &Range<f64>, px: (i32, i32)) -> Vec<FaultBand> {
    let names = distinct_fault_names(faults);
    let span = (range.end - range.start).max(f64::MIN_POSITIVE);
    let to_px = |ns: u64| {
        let s = ns as f64 / NS_PER_S;
        let f = ((s - range.start) / span).clamp(0.0, 1.0);
        px.0 + (f * f64::from(px.1 - px.0)).round() as i32
    };
    let mut row_ends: Vec<i32> = Vec::new();
    faults
        .iter()
        .map(|w| {
            let x0 = to_px(w.start);
            let x1 = to_px(w.end).max(x0 + 1);
            let width = text_width(&w.name, LABEL_SIZE);
            let label_x = x0.min(px.1 - width).max(px.0.min(x0));
            let free = row_ends.iter().position(|&end| end + 8 <= label_x);
            let row = match free {
                Some(r) => r,
                None if row_ends.len() < MAX_LABEL_ROWS => {
                    row_ends.push(i32::MIN);
                    row_ends.len() - 1
                }
                None => (0..row_ends.len())
                    .min_by_key(|&r| row_ends[r])
                    .unwrap_or(0),
            };
            row_ends[row] = row_ends[row].max(label_x + width);
            let colour = names
                .iter()
                .position(|n| n == &w.name)
                .map_or(FAULT_COLOURS[0], |i| FAULT_COLOURS[i % FAULT_COLOURS.len()]);
            FaultBand {
                name: w.name.clone(),
                colour,
                x: (x0, x1),
                label_x,
                row,
            }
        })
        .collect()
}

fn distinct_fault_names(faults: &[FaultWindow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for w in faults {
        if !names.contains(&w.name) {
            names.push(w.name.clone());
        }
    }
    names
}

fn label_rows(bands: &[FaultBand]) -> u32 {
    bands.iter().map(|b| b.row as u32 + 1).max().unwrap_or(0)
}

/// Splits the root into the title strip (with the fault label rows under the title) and
/// the chart body; draws the title.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bands: &[FaultBand],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let head = TITLE_H + label_rows(bands) * LABEL_ROW_H + 4;
    let (_, body) = root.split_vertically(head);
    let centre = Pos::new(HPos::Center, VPos::Top);
    root.draw(&Text::new(
        title.to_string(),
        (WIDTH as i32 / 2, 8),
        font(TITLE_SIZE).pos(centre),
    ))?;
    Ok(body)
}

/// Shades the fault windows over the plotting area (`plot` = its pixel rectangle).
fn draw_fault_bands<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bands: &[FaultBand],
    plot: &(Range<i32>, Range<i32>),
) -> DrawResult<DB> {
    let (top, bottom) = (plot.1.start, plot.1.end);
    for b in bands {
        root.draw(&Rectangle::new(
            [(b.x.0, top), (b.x.1, bottom)],
            b.colour.mix(FAULT_ALPHA).filled(),
        ))?;
        root.draw(&PathElement::new(
            vec![(b.x.0, top), (b.x.0, bottom)],
            b.colour.mix(0.5).stroke_width(1),
        ))?;
    }
    Ok(())
}

/// Writes the fault names in the rows above the plotting area, each with a tick from
/// its row down to the plot's top edge at the window's start.
fn draw_fault_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bands: &[FaultBand],
    plot: &(Range<i32>, Range<i32>),
) -> DrawResult<DB> {
    let top = plot.1.start;
    let bottom_left = Pos::new(HPos::Left, VPos::Bottom);
    for b in bands {
        let baseline = top - 3 - (b.row as i32) * LABEL_ROW_H as i32;
        root.draw(&PathElement::new(
            vec![(b.x.0, baseline - LABEL_ROW_H as i32 + 4), (b.x.0, top)],
            b.colour.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            b.name.clone(),
            (b.label_x + 3, baseline),
            (FONT, LABEL_SIZE)
                .into_font()
                .color(&b.colour)
                .pos(bottom_left),
        ))?;
    }
    Ok(())
}

/// Marker shapes for the operation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
    Plus,
}

const SHAPES: [Shape; MAX_SHAPES] = [
    Shape::Circle,
    Shape::Triangle,
    Shape::Square,
    Shape::Diamond,
    Shape::Cross,
    Shape::Plus,
];

fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: Shape,
    (x, y): (i32, i32),
    r: i32,
    colour: RGBAColor,
) -> DrawResult<DB> {
    let fill = colour.filled();
    let line = colour.stroke_width(2);
    match shape {
        Shape::Circle => area.draw(&Circle::new((x, y), r, fill)),
        Shape::Square => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], fill)),
        Shape::Triangle => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
            fill,
        )),
        Shape::Diamond => area.draw(&Polygon::new(
            vec![
                (x, y - r - 1),
                (x + r + 1, y),
                (x, y + r + 1),
                (x - r - 1, y),
            ],
            fill,
        )),
        Shape::Cross => {
            area.draw(&PathElement::new(
                vec![(x - r, y - r), (x + r, y + r)],
                line,
            ))?;
            area.draw(&PathElement::new(
                vec![(x - r, y + r), (x + r, y - r)],
                line,
            ))
        }
        Shape::Plus => {
            area.draw(&PathElement::new(
                vec![(x - r - 1, y), (x + r + 1, y)],
                line,
            ))?;
            area.draw(&PathElement::new(
                vec![(x, y - r - 1), (x, y + r + 1)],
                line,
            ))
        }
    }
}

/// What a legend entry shows left of its text.
enum Swatch {
    /// A section heading: no swatch, the text in bold.
    Heading,
    Marker(Shape, RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
    Band(RGBColor),
}

/// Draws the legend right of the plotting area, from its top.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[(Swatch, String)],
    plot: &(Range<i32>, Range<i32>),
) -> DrawResult<DB> {
    const ROW: i32 = 17;
    let x = plot.0.end + 16;
    let mut y = plot.1.start;
    let left_centre = Pos::new(HPos::Left, VPos::Center);
    for (i, (swatch, text)) in entries.iter().enumerate() {
        if i > 0 && matches!(swatch, Swatch::Heading) {
            y += 6;
        }
        let cy = y + ROW / 2;
        let mut text_x = x + 24;
        match swatch {
            Swatch::Heading => text_x = x,
            Swatch::Marker(shape, c) => draw_marker(root, *shape, (x + 9, cy), 4, c.to_rgba())?,
            Swatch::Line(c) => {
                root.draw(&PathElement::new(
                    vec![(x, cy), (x + 18, cy)],
                    c.stroke_width(2),
                ))?;
            }
            Swatch::Dashed(c) => {
                for dash in 0..3 {
                    let x0 = x + dash * 7;
                    root.draw(&PathElement::new(
                        vec![(x0, cy), (x0 + 4, cy)],
                        c.stroke_width(2),
                    ))?;
                }
            }
            Swatch::Band(c) => {
                root.draw(&Rectangle::new(
                    [(x, cy - 6), (x + 18, cy + 6)],
                    c.mix(FAULT_ALPHA * 2.0).filled(),
                ))?;
                root.draw(&PathElement::new(
                    vec![(x, cy - 6), (x, cy + 6)],
                    c.stroke_width(1),
                ))?;
            }
        }
        let style = match swatch {
            Swatch::Heading => (FONT, LABEL_SIZE, FontStyle::Bold).into_font(),
            _ => (FONT, LABEL_SIZE).into_font(),
        }
        .color(&INK)
        .pos(left_centre);
        root.draw(&Text::new(truncate(text, 24), (text_x, cy), style))?;
        y += ROW;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn fault_legend(faults: &[FaultWindow], entries: &mut Vec<(Swatch, String)>) {
    let names = distinct_fault_names(faults);
    if names.is_empty() {
        return;
    }
    entries.push((Swatch::Heading, "faults".into()));
    const SHOWN: usize = 7;
    for (i, name) in names.iter().enumerate().take(SHOWN) {
        let n = faults.iter().filter(|w| &w.name == name).count();
        let colour = FAULT_COLOURS[i % FAULT_COLOURS.len()];
        entries.push((Swatch::Band(colour), format!("{name} ({n})")));
    }
    if names.len() > SHOWN {
        entries.push((Swatch::Heading, format!("+{} more", names.len() - SHOWN)));
    }
}

/// A tick label: as few decimals as the value needs, up to 3.
fn tick(v: f64) -> String {
    let mut s = format!("{v:.3}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Only powers of ten are labelled on the log axis.
fn log_tick(v: &f64) -> String {
    let e = v.log10();
    if (e - e.round()).abs() < 1e-9 {
        tick(*v)
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------
// The plots
// ---------------------------------------------------------------------------------------

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    history: &History,
    title: &str,
) -> DrawResult<DB> {
    let points = latency_points(history);
    let faults = history.faults();
    let x_range = time_range(history);
    let y_range = latency_range(&points);
    let bands = fault_bands(&faults, &x_range, PLOT_X);
    let body = frame(root, title, &bands)?;

    let mut chart = ChartBuilder::on(&body)
        .margin_left(MARGIN)
        .margin_right(LEGEND_W)
        .margin_bottom(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_range.clone(), y_range.clone().log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time since start of run (s)")
        .y_desc("latency (ms, log scale)")
        .axis_desc_style(font(AXIS_SIZE))
        .label_style(font(TICK_SIZE))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&log_tick)
        .y_labels(30)
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(245, 245, 245))
        .draw()?;
    let plot = chart.plotting_area().get_pixel_range();
    debug_assert_eq!(
        (plot.0.start, plot.0.end),
        PLOT_X,
        "fault bands were placed on PLOT_X"
    );
    draw_fault_bands(root, &bands, &plot)?;

    let names: BTreeSet<&'static str> = points.iter().map(|p| p.name).collect();
    let shape_of = |name: &str| {
        if names.len() > MAX_SHAPES {
            return Shape::Circle;
        }
        names
            .iter()
            .position(|n| *n == name)
            .map_or(Shape::Circle, |i| SHAPES[i])
    };
    // Ok first so that the rarer fail and info points stay visible on top of it.
    for (outcome, alpha) in [
        (EventType::Ok, 0.55),
        (EventType::Fail, 0.8),
        (EventType::Info, 0.8),
    ] {
        let colour = outcome_colour(outcome).mix(alpha);
        for p in points.iter().filter(|p| p.outcome == outcome) {
            let at = chart.backend_coord(&(p.t, p.latency_ms.clamp(y_range.start, y_range.end)));
            draw_marker(root, shape_of(p.name), at, 3, colour)?;
        }
    }
    draw_fault_labels(root, &bands, &plot)?;

    let count = |o: EventType| points.iter().filter(|p| p.outcome == o).count();
    let mut entries = vec![(Swatch::Heading, "outcome".to_string())];
    for (o, label) in [
        (EventType::Ok, "ok"),
        (EventType::Fail, "fail"),
        (EventType::Info, "info / unfinished"),
    ] {
        entries.push((
            Swatch::Marker(Shape::Circle, outcome_colour(o)),
            format!("{label} ({})", count(o)),
        ));
    }
    if names.len() <= MAX_SHAPES && !names.is_empty() {
        entries.push((Swatch::Heading, "operation".into()));
        for name in &names {
            let n = points.iter().filter(|p| p.name == *name).count();
            entries.push((Swatch::Marker(shape_of(name), INK), format!("{name} ({n})")));
        }
    }
    fault_legend(&faults, &mut entries);
    draw_legend(root, &entries, &plot)
}

fn draw_rate<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    history: &History,
    title: &str,
) -> DrawResult<DB> {
    let r = rates(history);
    let faults = history.faults();
    let x_range = time_range(history);
    let floor = match history.run_info() {
        Some(Op::Run { floor, .. }) if *floor > 0 => Some(*floor as f64),
        _ => None,
    };
    let peak =
        r.ok.iter()
            .chain(&r.fail)
            .chain(&r.info)
            .copied()
            .chain(floor)
            .fold(0.0, f64::max);
    let y_range = 0.0..(peak * 1.1).max(1.0);
    let bands = fault_bands(&faults, &x_range, PLOT_X);
    let body = frame(root, title, &bands)?;

    let mut chart = ChartBuilder::on(&body)
        .margin_left(MARGIN)
        .margin_right(LEGEND_W)
        .margin_bottom(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    let bucket = tick(r.bucket);
    chart
        .configure_mesh()
        .x_desc("time since start of run (s)")
        .y_desc(format!("completed ops/s ({bucket} s buckets)"))
        .axis_desc_style(font(AXIS_SIZE))
        .label_style(font(TICK_SIZE))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(245, 245, 245))
        .draw()?;
    let plot = chart.plotting_area().get_pixel_range();
    debug_assert_eq!(
        (plot.0.start, plot.0.end),
        PLOT_X,
        "fault bands were placed on PLOT_X"
    );
    draw_fault_bands(root, &bands, &plot)?;

    if let Some(f) = floor {
        let (x0, y) = chart.backend_coord(&(x_range.start, f));
        let (x1, _) = chart.backend_coord(&(x_range.end, f));
        let mut x = x0;
        while x < x1 {
            root.draw(&PathElement::new(
                vec![(x, y), ((x + 6).min(x1), y)],
                FLOOR.stroke_width(1),
            ))?;
            x += 10;
        }
    }
    let line =
        |v: &[f64]| -> Vec<(f64, f64)> { r.mids.iter().copied().zip(v.iter().copied()).collect() };
    // Info and fail first: the ok line, the one that matters most, is drawn on top.
    // Nothing completed: no lines (a lone dot at zero would only be noise).
    let series = [(&r.info, INFO), (&r.fail, FAIL), (&r.ok, OK)];
    for (v, colour) in series.into_iter().filter(|_| r.totals != (0, 0, 0)) {
        let pts = line(v);
        if pts.len() == 1 {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(pts, colour.stroke_width(2)))?;
        }
    }
    draw_fault_labels(root, &bands, &plot)?;

    let mut entries = vec![(Swatch::Heading, "outcome".to_string())];
    let (ok, fail, info) = r.totals;
    entries.push((Swatch::Line(OK), format!("ok ({ok})")));
    entries.push((Swatch::Line(FAIL), format!("fail ({fail})")));
    entries.push((Swatch::Line(INFO), format!("info ({info})")));
    if let Some(f) = floor {
        entries.push((Swatch::Dashed(FLOOR), format!("floor ({} ok/s)", tick(f))));
    }
    fault_legend(&faults, &mut entries);
    draw_legend(root, &entries, &plot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::build::Builder;

    fn write(key: &str, value: &str) -> Op {
        Op::Write {
            key: key.into(),
            value: value.into(),
            version: None,
        }
    }

    fn read(key: &str) -> Op {
        Op::Read {
            key: key.into(),
            linearizable: true,
            value: None,
        }
    }

    fn fault(name: &str) -> Op {
        Op::Fault {
            name: name.into(),
            targets: vec![1],
            detail: String::new(),
        }
    }

    /// Ok, fail and info ops, an op that never completes, a final read and two faults.
    fn sample() -> History {
        let mut b = Builder::new();
        b.op(
            0,
            3,
            "c1",
            EventType::Ok,
            write("r1", "a"),
            write("r1", "a"),
            None,
        );
        b.op(100, 104, "c2", EventType::Ok, read("r1"), read("r1"), None);
        b.op(
            200,
            210,
            "c1",
            EventType::Fail,
            Op::Cas {
                key: "r1".into(),
                expect: 7,
                value: "b".into(),
                version: None,
            },
            Op::Cas {
                key: "r1".into(),
                expect: 7,
                value: "b".into(),
                version: None,
            },
            Some("bad-version"),
        );
        let k = b.invoke(1_000, "nemesis", fault("kill-leader"));
        b.complete(k, 3_000, EventType::Ok, fault("kill-leader"), None);
        let p = b.invoke(1_500, "nemesis", fault("partition-halves"));
        b.complete(p, 2_500, EventType::Ok, fault("partition-halves"), None);
        b.op(
            1_200,
            2_200,
            "c2",
            EventType::Info,
            write("r1", "c"),
            write("r1", "c"),
            Some("connection-loss"),
        );
        b.invoke(2_800, "c3", write("r1", "d"));
        b.op(
            3_500,
            3_502,
            "c1",
            EventType::Ok,
            read("r1"),
            read("r1"),
            None,
        );
        b.op(
            4_000,
            4_001,
            "final",
            EventType::Ok,
            read("r1"),
            read("r1"),
            None,
        );
        b.build()
    }

    fn svg(path: &Path) -> String {
        assert!(path.exists(), "{} not written", path.display());
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.trim_start().starts_with("<svg"),
            "not an SVG: {}",
            &text[..80.min(text.len())]
        );
        assert!(text.trim_end().ends_with("</svg>"));
        // The backend writes a text element's content on its own indented line.
        text.lines().map(str::trim).collect()
    }

    #[test]
    fn both_plots_render_with_fault_labels() {
        let dir = tempfile::tempdir().unwrap();
        let h = sample();
        let lat = dir.path().join("latency.svg");
        let rate = dir.path().join("rate.svg");
        latency_svg(&h, &lat, "register & kill <test>").unwrap();
        rate_svg(&h, &rate, "register & kill <test>").unwrap();
        for p in [&lat, &rate] {
            let text = svg(p);
            assert!(text.contains(">kill-leader</text>"), "{}", p.display());
            assert!(text.contains(">partition-halves</text>"), "{}", p.display());
            assert!(text.contains("register &amp; kill &lt;test&gt;"));
            assert!(text.contains("time since start of run (s)"));
        }
        let text = svg(&lat);
        assert!(text.contains("latency (ms, log scale)"));
        assert!(text.contains(">ok (3)</text>"));
        assert!(text.contains(">fail (1)</text>"));
        assert!(text.contains(">info / unfinished (2)</text>"));
        assert!(text.contains(">cas (1)</text>"));
        let text = svg(&rate);
        assert!(text.contains("completed ops/s (0.5 s buckets)"));
        assert!(text.contains(">info (1)</text>"));
    }

    #[test]
    fn empty_history_renders() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::default();
        let lat = dir.path().join("latency.svg");
        let rate = dir.path().join("rate.svg");
        latency_svg(&h, &lat, "empty").unwrap();
        rate_svg(&h, &rate, "empty").unwrap();
        assert!(svg(&lat).contains(">empty</text>"));
        assert!(svg(&rate).contains(">empty</text>"));
    }

    #[test]
    fn single_op_renders() {
        let dir = tempfile::tempdir().unwrap();
        for (t0, t1) in [(0, 0), (5, 5), (10, 250)] {
            let mut b = Builder::new();
            b.op(t0, t1, "c1", EventType::Ok, read("r1"), read("r1"), None);
            let h = b.build();
            latency_svg(&h, &dir.path().join("l.svg"), "one").unwrap();
            rate_svg(&h, &dir.path().join("r.svg"), "one").unwrap();
            assert!(svg(&dir.path().join("l.svg")).contains(">ok (1)</text>"));
            assert!(svg(&dir.path().join("r.svg")).contains(">ok (1)</text>"));
        }
    }

    #[test]
    fn many_operation_kinds_share_one_marker() {
        let dir = tempfile::tempdir().unwrap();
        let kinds = [
            read("r1"),
            write("r1", "v"),
            Op::Add { path: "/a".into() },
            Op::Open { session: None },
            Op::Close { session: 1 },
            Op::Abandon { session: 2 },
            Op::FifoCreate { client: 1, n: 1 },
        ];
        let mut b = Builder::new();
        for (i, op) in kinds.iter().enumerate() {
            let t = i as u64 * 10;
            b.op(t, t + 2, "c1", EventType::Ok, op.clone(), op.clone(), None);
        }
        let path = dir.path().join("l.svg");
        latency_svg(&b.build(), &path, "kinds").unwrap();
        let text = svg(&path);
        assert!(!text.contains(">operation</text>"));
        assert!(text.contains(">ok (7)</text>"));
        let mut b = Builder::new();
        for (i, op) in kinds[..MAX_SHAPES].iter().enumerate() {
            let t = i as u64 * 10;
            b.op(t, t + 2, "c1", EventType::Ok, op.clone(), op.clone(), None);
        }
        latency_svg(&b.build(), &path, "kinds").unwrap();
        let text = svg(&path);
        assert!(text.contains(">operation</text>"));
        assert!(text.contains(">open (1)</text>"));
    }

    #[test]
    fn unhealed_fault_renders_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new();
        b.invoke(500, "nemesis", fault("pause-member"));
        b.op(0, 2, "c1", EventType::Ok, read("r1"), read("r1"), None);
        b.op(
            900,
            1_000,
            "c1",
            EventType::Ok,
            read("r1"),
            read("r1"),
            None,
        );
        let h = b.build();
        let faults = h.faults();
        let bands = fault_bands(&faults, &time_range(&h), PLOT_X);
        assert_eq!(bands.len(), 1);
        assert_eq!(bands[0].x.1, PLOT_X.1);
        latency_svg(&h, &dir.path().join("l.svg"), "t").unwrap();
        assert!(svg(&dir.path().join("l.svg")).contains(">pause-member</text>"));
    }

    #[test]
    fn latency_points_skip_final_and_measure_unfinished_to_the_end() {
        let h = sample();
        let pts = latency_points(&h);
        assert_eq!(pts.len(), 6, "{pts:?}");
        assert!(pts.iter().all(|p| p.t < 4.0), "the final read is skipped");
        let info = pts.iter().find(|p| p.t == 1.2).unwrap();
        assert_eq!(info.outcome, EventType::Info);
        assert!((info.latency_ms - 1_000.0).abs() < 1e-9);
        let open = pts.iter().find(|p| p.t == 2.8).unwrap();
        assert_eq!(open.outcome, EventType::Info);
        // The run ends with the final read's completion at 4.001 s.
        assert!((open.latency_ms - 1_201.0).abs() < 1e-9);
        let r = latency_range(&pts);
        assert!(r.start <= 2.0 && r.end >= 1_201.0, "{r:?}");
    }

    #[test]
    fn zero_latency_is_drawn_at_the_floor() {
        let mut b = Builder::new();
        b.op(7, 7, "c1", EventType::Ok, read("r1"), read("r1"), None);
        let pts = latency_points(&b.build());
        assert_eq!(pts[0].latency_ms, MIN_LATENCY_MS);
        let r = latency_range(&pts);
        assert!(r.start < MIN_LATENCY_MS && r.end > MIN_LATENCY_MS, "{r:?}");
    }

    #[test]
    fn rates_count_completions_per_bucket() {
        let h = sample();
        let r = rates(&h);
        assert_eq!(r.bucket, 0.5);
        assert_eq!(r.ok.len(), 8, "4.001 s in 0.5 s buckets, the sliver merged");
        assert_eq!(r.mids.len(), 8);
        assert!((r.mids[7] - 3.7505).abs() < 1e-9, "{:?}", r.mids);
        assert_eq!(
            r.totals,
            (3, 1, 1),
            "final and unfinished ops are not counted"
        );
        // Two oks complete in [0, 0.5): 2 ops / 0.5 s.
        assert_eq!(r.ok[0], 4.0);
        assert_eq!(r.info[4], 2.0);
        assert_eq!(bucket_width(29.9), 0.5);
        assert_eq!(bucket_edges(0.0, 0.5), [0.0, 0.5]);
        assert_eq!(bucket_edges(0.2, 0.5), [0.0, 0.2]);
        assert_eq!(bucket_edges(40.1, 1.0).len(), 41);
        assert_eq!(bucket_edges(40.1, 1.0)[40], 40.1);
        assert_eq!(bucket_edges(40.6, 1.0)[40..], [40.0, 40.6]);
        assert_eq!(bucket_width(30.0), 1.0);
    }

    #[test]
    fn overlapping_fault_labels_get_their_own_rows() {
        let window = |name: &str, start_ms: u64, end_ms: u64| FaultWindow {
            name: name.into(),
            targets: vec![],
            start: start_ms * 1_000_000,
            end: end_ms * 1_000_000,
            healed: true,
            detail: String::new(),
        };
        let near = vec![
            window("kill-leader", 10_000, 20_000),
            window("partition-halves", 10_500, 15_000),
            window("kill-leader", 11_000, 12_000),
        ];
        let bands = fault_bands(&near, &(0.0..40.0), PLOT_X);
        assert_eq!(bands.iter().map(|b| b.row).collect::<Vec<_>>(), [0, 1, 2]);
        assert_ne!(bands[0].colour, bands[1].colour);
        assert_eq!(bands[0].colour, bands[2].colour);
        assert!(bands[0].x.0 < bands[1].x.0 && bands[1].x.1 < bands[0].x.1);
        let far = vec![
            FaultWindow {
                name: "a".into(),
                targets: vec![],
                start: 0,
                end: 1,
                healed: true,
                detail: String::new(),
            },
            FaultWindow {
                name: "a".into(),
                targets: vec![],
                start: 50_000_000_000,
                end: 60_000_000_000,
                healed: true,
                detail: String::new(),
            },
        ];
        let bands = fault_bands(&far, &(0.0..100.0), PLOT_X);
        assert_eq!((bands[0].row, bands[1].row), (0, 0));
        assert_eq!(bands[0].colour, bands[1].colour);
    }

    #[test]
    fn many_faults_use_bounded_label_rows() {
        let faults: Vec<FaultWindow> = (0..40)
            .map(|i| FaultWindow {
                name: format!("fault-with-a-long-name-{i}"),
                targets: vec![],
                start: i * 1_000_000_000,
                end: i * 1_000_000_000 + 500_000_000,
                healed: true,
                detail: String::new(),
            })
            .collect();
        let bands = fault_bands(&faults, &(0.0..40.0), PLOT_X);
        assert!(label_rows(&bands) as usize <= MAX_LABEL_ROWS);
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("latency.svg");
        let err = latency_svg(&sample(), &path, "x").unwrap_err();
        let PlotError::Draw { path: p, .. } = &err;
        assert_eq!(p, &path);
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(0.001), "0.001");
        assert_eq!(log_tick(&100.0), "100");
        assert_eq!(log_tick(&200.0), "");
    }
}
