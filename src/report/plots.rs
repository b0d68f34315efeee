//! Figures drawn with plotters. Every figure is written twice, as SVG (for the
//! report and the browser) and PNG (for Comet and anything that cannot show
//! SVG), from the same drawing code.
//!
//! Text is laid out with ab_glyph from the DejaVu Sans font embedded in the
//! binary (`assets/fonts/`), so PNGs render the same on a bare container with
//! no system fonts; SVGs name `sans-serif` and let the viewer pick.

use crate::util::fsx;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;
use std::path::{Path, PathBuf};

/// A drawing failure (plotters' errors carry the backend's message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PlotError(pub String);

trait Ctx<T> {
    fn ctx(self) -> Result<T, PlotError>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self) -> Result<T, PlotError> {
        self.map_err(|e| PlotError(e.to_string()))
    }
}

const FONT: &str = "sans-serif";
static FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Sizes in pixels for a 1200 × 750 canvas: large enough to read on a PNG
/// shown at half size in a Comet panel or a markdown preview.
const TITLE_PX: f64 = 32.0;
const PANEL_TITLE_PX: f64 = 26.0;
const DESC_PX: f64 = 24.0;
const TICK_PX: f64 = 20.0;
const LEGEND_PX: f64 = 20.0;
const VALUE_PX: f64 = 18.0;

/// Default canvas.
pub(crate) const SIZE: (u32, u32) = (1200, 750);

fn init_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ok = register_font(FONT, FontStyle::Normal, FONT_REGULAR).is_ok()
            && register_font(FONT, FontStyle::Bold, FONT_BOLD).is_ok();
        if !ok {
            tracing::warn!("the embedded DejaVu Sans font did not load; plot text may be missing");
        }
    });
}

/// Tableau 10: distinguishable, and still readable for the common colour
/// vision deficiencies.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

/// The palette's colour `k` (wrapping).
pub(crate) fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// Grey for "other" groups and de-emphasised bars.
pub(crate) const GREY: usize = 9;

/// Something that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Canvas size in pixels.
    fn size(&self) -> (u32, u32) {
        SIZE
    }
    /// Draws on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Writes `<dir>/<stem>.svg` and `<dir>/<stem>.png`, each atomically.
pub(crate) fn save<F: Figure>(fig: &F, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, PlotError> {
    init_fonts();
    fsx::create_dir_all(dir).ctx()?;
    let size = fig.size();
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).ctx()?;
        fig.draw(&root)?;
        root.present().ctx()?;
    }
    fsx::write_atomic(&svg_path, svg.as_bytes()).ctx()?;

    // The bitmap backend encodes by file extension, so the temporary file
    // keeps `.png`; it is renamed into place only once complete.
    let png_path = dir.join(format!("{stem}.png"));
    let tmp = dir.join(format!(".anirec-tmp-{stem}-{}.png", std::process::id()));
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).ctx()?;
        fig.draw(&root)?;
        root.present().ctx()
    })();
    let placed = drawn.and_then(|()| {
        // Durable before it is visible under the final name.
        let f = std::fs::File::open(&tmp).ctx()?;
        fsx::sync_file(&f, &tmp).ctx()?;
        fsx::rename_synced(&tmp, &png_path).ctx()
    });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(vec![svg_path, png_path])
}

/// Tick and value labels: integers without decimals (with thousands
/// separators), small or huge numbers in scientific notation, the rest with
/// up to four significant digits.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !v.is_finite() {
        format!("{v}")
    } else if !(1e-3..1e7).contains(&a) {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else if v.fract() == 0.0 {
        crate::util::fmt::thousands(v as i64)
    } else {
        let digits = (4 - a.log10().floor() as i32 - 1).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s == "-0" {
            "0".into()
        } else {
            s
        }
    }
}

/// Axis scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log,
}

/// Where a legend goes inside the plotting area.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Legend {
    UpperRight,
    /// In a column right of the plot, clear of the data.
    Side,
}

impl Legend {
    fn pos(self) -> SeriesLabelPosition {
        match self {
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::Side => SeriesLabelPosition::UpperLeft,
        }
    }
}

/// One line.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at each point (few points, e.g. per K or per epoch).
    pub markers: bool,
}

/// One chart of lines.
#[derive(Debug, Clone)]
pub(crate) struct LinePanel {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub legend: Legend,
    /// Colour offset into the palette, so panels of one figure do not reuse
    /// the colours of another panel's series for something else.
    pub first_color: usize,
}

/// Line charts stacked vertically under one title.
#[derive(Debug, Clone)]
pub(crate) struct LineFigure {
    pub title: String,
    pub panels: Vec<LinePanel>,
}

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        if self.panels.len() > 1 {
            (1200, 420 * self.panels.len() as u32 + 60)
        } else {
            SIZE
        }
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let area = titled(root, &self.title)?;
        let areas = area.split_evenly((self.panels.len().max(1), 1));
        for (p, a) in self.panels.iter().zip(&areas) {
            let a = &if matches!(p.legend, Legend::Side) && p.series.len() > 1 {
                let names: Vec<&str> = p.series.iter().map(|s| s.name.as_str()).collect();
                let (plot, side) =
                    a.split_horizontally(a.dim_in_pixel().0 as i32 - legend_width(&names));
                let entries: Vec<(String, RGBColor)> = p
                    .series
                    .iter()
                    .enumerate()
                    .map(|(k, s)| (s.name.clone(), color(p.first_color + k)))
                    .collect();
                side_legend(&side, &entries, Mark::Line)?;
                plot
            } else {
                a.clone()
            };
            let (x0, x1) = range(
                p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)),
                p.x_scale,
            );
            let (y0, y1) = range(
                p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1)),
                p.y_scale,
            );
            let lin = |a: f64, b: f64| -> RangedCoordf64 { (a..b).into() };
            let log = |a: f64, b: f64| -> LogCoord<f64> { (a..b).log_scale().into() };
            match (p.x_scale, p.y_scale) {
                (Scale::Linear, Scale::Linear) => lines_in(a, p, lin(x0, x1), lin(y0, y1))?,
                (Scale::Linear, Scale::Log) => lines_in(a, p, lin(x0, x1), log(y0, y1))?,
                (Scale::Log, Scale::Linear) => lines_in(a, p, log(x0, x1), lin(y0, y1))?,
                (Scale::Log, Scale::Log) => lines_in(a, p, log(x0, x1), log(y0, y1))?,
            }
        }
        Ok(())
    }
}

/// Padded data range; log scales keep only positive values.
fn range(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if v.is_finite() && (scale == Scale::Linear || v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return if scale == Scale::Log {
            (1.0, 10.0)
        } else {
            (0.0, 1.0)
        };
    }
    match scale {
        Scale::Log => {
            let (lo, hi) = if hi / lo < 1.5 {
                (lo / 1.5, hi * 1.5)
            } else {
                (lo, hi)
            };
            (lo / 1.2, hi * 1.2)
        }
        Scale::Linear => {
            let span = hi - lo;
            // A constant series (a fixed learning rate) gets a band around
            // its own magnitude, not ±0.1 that would flatten it onto zero.
            let pad = if span > 0.0 {
                span * 0.06
            } else if lo != 0.0 {
                lo.abs() * 0.5
            } else {
                1.0
            };
            (lo - pad, hi + pad)
        }
    }
}

/// The area under a bold title, with room above it.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    root.margin(12, 0, 0, 0)
        .titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))
        .ctx()
}

#[derive(Clone, Copy)]
enum Mark {
    Line,
    Dot,
}

/// Pixels a side legend needs for these labels.
fn legend_width(names: &[&str]) -> i32 {
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4) as i32;
    (longest * 12 + 70).clamp(150, 380)
}

/// A legend drawn as its own column, so it never covers data.
fn side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
    mark: Mark,
) -> Result<(), PlotError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let style =
        TextStyle::from((FONT, LEGEND_PX).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, (name, c)) in entries.iter().enumerate() {
        let y = 70 + k as i32 * 32;
        match mark {
            Mark::Line => area
                .draw(&PathElement::new(vec![(8, y), (38, y)], c.stroke_width(4)))
                .ctx()?,
            Mark::Dot => area.draw(&Circle::new((23, y), 7, c.filled())).ctx()?,
        }
        area.draw(&Text::new(name.clone(), (48, y), style.clone()))
            .ctx()?;
    }
    Ok(())
}

fn lines_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    x: X,
    y: Y,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, PANEL_TITLE_PX))
        .margin(18)
        .x_label_area_size(70)
        .y_label_area_size(120)
        .build_cartesian_2d(x, y)
        .ctx()?;
    let fmt = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_desc(&p.x_desc)
        .y_desc(&p.y_desc)
        .axis_desc_style((FONT, DESC_PX))
        .label_style((FONT, TICK_PX))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_labels(8)
        .y_labels(7)
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .ctx()?;
    for (k, s) in p.series.iter().enumerate() {
        let c = color(p.first_color + k);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(3)))
            .ctx()?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(4)));
        if s.markers {
            chart
                .draw_series(s.points.iter().map(|&q| Circle::new(q, 5, c.filled())))
                .ctx()?;
        }
    }
    if p.series.len() > 1 && !matches!(p.legend, Legend::Side) {
        chart
            .configure_series_labels()
            .position(p.legend.pos())
            .margin(12)
            .legend_area_size(40)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, LEGEND_PX))
            .draw()
            .ctx()?;
    }
    Ok(())
}

/// One bar.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    /// Palette index.
    pub color: usize,
}

/// Bars with category labels; horizontal bars list categories top to bottom.
#[derive(Debug, Clone)]
pub(crate) struct BarFigure {
    pub title: String,
    pub category_desc: String,
    pub value_desc: String,
    pub bars: Vec<Bar>,
    pub horizontal: bool,
}

impl Figure for BarFigure {
    fn size(&self) -> (u32, u32) {
        if self.horizontal {
            (1200, (150 + 48 * self.bars.len() as u32).clamp(450, 1400))
        } else {
            SIZE
        }
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let n = self.bars.len().max(1) as i32;
        let max = self.bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
        let top = if max > 0.0 { max * 1.15 } else { 1.0 };
        let labels: Vec<&str> = self.bars.iter().map(|b| b.label.as_str()).collect();
        // Horizontal bars put the first bar at the top: category i sits at
        // row n - 1 - i.
        let row = |i: usize| {
            if self.horizontal {
                n - 1 - i as i32
            } else {
                i as i32
            }
        };
        let cat_fmt = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(r) => {
                let i = if self.horizontal { n - 1 - r } else { *r };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| labels.get(i))
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        let val_fmt = |v: &f64| fmt_num(*v);
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
        let area = titled(root, &self.title)?;
        let mut b = ChartBuilder::on(&area);
        b.margin(20).margin_right(40);
        // A discrete i32 range includes its end: 0..n−1 has n slots (one
        // bar needs 0..1, or the single slot has zero width).
        let slots = if n > 1 { 0..n - 1 } else { 0..1 };
        let value_style = (FONT, VALUE_PX).into_font().color(&BLACK);
        if self.horizontal {
            let mut chart = b
                .x_label_area_size(70)
                .y_label_area_size((longest * 12 + 30).clamp(80, 420))
                .build_cartesian_2d(0.0..top, slots.into_segmented())
                .ctx()?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc(&self.value_desc)
                .y_desc(&self.category_desc)
                .axis_desc_style((FONT, DESC_PX))
                .label_style((FONT, TICK_PX))
                .x_label_formatter(&val_fmt)
                .y_label_formatter(&cat_fmt)
                .y_labels(n as usize + 1)
                .light_line_style(BLACK.mix(0.05))
                .draw()
                .ctx()?;
            chart
                .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                    let r = row(i);
                    let mut rect = Rectangle::new(
                        [
                            (0.0, SegmentValue::Exact(r)),
                            (bar.value, SegmentValue::Exact(r + 1)),
                        ],
                        color(bar.color).filled(),
                    );
                    rect.set_margin(6, 6, 0, 0);
                    rect
                }))
                .ctx()?;
            chart
                .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                    Text::new(
                        format!(" {}", fmt_num(bar.value)),
                        (bar.value, SegmentValue::CenterOf(row(i))),
                        value_style
                            .clone()
                            .pos(plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Left,
                                plotters::style::text_anchor::VPos::Center,
                            )),
                    )
                }))
                .ctx()?;
        } else {
            let mut chart = b
                .x_label_area_size(80)
                .y_label_area_size(120)
                .build_cartesian_2d(slots.into_segmented(), 0.0..top)
                .ctx()?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc(&self.category_desc)
                .y_desc(&self.value_desc)
                .axis_desc_style((FONT, DESC_PX))
                .label_style((FONT, TICK_PX))
                .x_label_formatter(&cat_fmt)
                .y_label_formatter(&val_fmt)
                .x_labels(n as usize + 1)
                .light_line_style(BLACK.mix(0.05))
                .draw()
                .ctx()?;
            chart
                .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                    let r = row(i);
                    let mut rect = Rectangle::new(
                        [
                            (SegmentValue::Exact(r), 0.0),
                            (SegmentValue::Exact(r + 1), bar.value),
                        ],
                        color(bar.color).filled(),
                    );
                    rect.set_margin(0, 0, 8, 8);
                    rect
                }))
                .ctx()?;
            chart
                .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                    Text::new(
                        fmt_num(bar.value),
                        (SegmentValue::CenterOf(row(i)), bar.value),
                        value_style
                            .clone()
                            .pos(plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Center,
                                plotters::style::text_anchor::VPos::Bottom,
                            )),
                    )
                }))
                .ctx()?;
        }
        Ok(())
    }
}

/// The x axis of a scatter plot.
#[derive(Debug, Clone)]
pub(crate) enum XAxis {
    Numeric(Scale),
    /// Category names; points carry the category index as x.
    Categorical(Vec<String>),
}

/// Points of one colour.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Palette index.
    pub color: usize,
}

/// A scatter plot; groups are drawn in order (later on top).
#[derive(Debug, Clone)]
pub(crate) struct ScatterFigure {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x: XAxis,
    pub groups: Vec<Group>,
    pub radius: u32,
    pub legend: bool,
}

impl Figure for ScatterFigure {
    fn size(&self) -> (u32, u32) {
        if self.legend && self.groups.len() > 6 {
            (1200, 900)
        } else {
            SIZE
        }
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let area = titled(root, &self.title)?;
        let root = &if self.legend && self.groups.len() > 1 {
            // Legend order: named groups first, the grey catch-all last
            // (it is drawn first, underneath).
            let mut order: Vec<&Group> = self.groups.iter().collect();
            order.sort_by_key(|g| g.color == GREY);
            let names: Vec<&str> = order.iter().map(|g| g.name.as_str()).collect();
            let (plot, side) =
                area.split_horizontally(area.dim_in_pixel().0 as i32 - legend_width(&names));
            let entries: Vec<(String, RGBColor)> = order
                .iter()
                .map(|g| (g.name.clone(), color(g.color)))
                .collect();
            side_legend(&side, &entries, Mark::Dot)?;
            plot
        } else {
            area
        };
        let ys = self
            .groups
            .iter()
            .flat_map(|g| g.points.iter().map(|p| p.1));
        let (y0, y1) = range(ys, Scale::Linear);
        match &self.x {
            XAxis::Numeric(scale) => {
                let xs = self
                    .groups
                    .iter()
                    .flat_map(|g| g.points.iter().map(|p| p.0));
                let (x0, x1) = range(xs, *scale);
                let pts: Vec<Vec<(f64, f64)>> =
                    self.groups.iter().map(|g| g.points.clone()).collect();
                let fmt = |v: &f64| fmt_num(*v);
                match scale {
                    Scale::Linear => {
                        let x: RangedCoordf64 = (x0..x1).into();
                        self.points_in(root, x, (y0, y1), pts, &fmt, 8)
                    }
                    Scale::Log => {
                        let x: LogCoord<f64> = (x0..x1).log_scale().into();
                        self.points_in(root, x, (y0, y1), pts, &fmt, 8)
                    }
                }
            }
            XAxis::Categorical(names) => {
                let n = names.len().max(1) as i32;
                let pts: Vec<Vec<(SegmentValue<i32>, f64)>> = self
                    .groups
                    .iter()
                    .map(|g| {
                        g.points
                            .iter()
                            .map(|&(x, y)| (SegmentValue::CenterOf(x.round() as i32), y))
                            .collect()
                    })
                    .collect();
                let fmt = |v: &SegmentValue<i32>| match v {
                    SegmentValue::CenterOf(i) => usize::try_from(*i)
                        .ok()
                        .and_then(|i| names.get(i))
                        .cloned()
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                // As for bars: the discrete range includes its end.
                let slots = if n > 1 { 0..n - 1 } else { 0..1 };
                self.points_in(
                    root,
                    slots.into_segmented(),
                    (y0, y1),
                    pts,
                    &fmt,
                    n as usize + 1,
                )
            }
        }
    }
}

impl ScatterFigure {
    #[allow(clippy::too_many_arguments)]
    fn points_in<DB, X>(
        &self,
        root: &DrawingArea<DB, Shift>,
        x: X,
        (y0, y1): (f64, f64),
        pts: Vec<Vec<(X::ValueType, f64)>>,
        x_fmt: &dyn Fn(&X::ValueType) -> String,
        x_labels: usize,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        X: Ranged + ValueFormatter<X::ValueType>,
        X::ValueType: Clone + 'static,
    {
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .margin_right(30)
            .x_label_area_size(80)
            .y_label_area_size(120)
            .build_cartesian_2d(x, y0..y1)
            .ctx()?;
        let y_fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .y_desc(&self.y_desc)
            .axis_desc_style((FONT, DESC_PX))
            .label_style((FONT, TICK_PX))
            .x_label_formatter(x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(x_labels)
            .y_labels(8)
            .light_line_style(BLACK.mix(0.05))
            .draw()
            .ctx()?;
        let r = self.radius;
        for (g, p) in self.groups.iter().zip(pts) {
            let c = color(g.color);
            let style = if r <= 3 {
                c.mix(0.75).filled()
            } else {
                c.filled()
            };
            chart
                .draw_series(p.into_iter().map(move |q| Circle::new(q, r, style)))
                .ctx()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(34169.0), "34,169");
        assert_eq!(fmt_num(-1234567.0), "-1,234,567");
        assert_eq!(fmt_num(0.37826), "0.3783");
        assert_eq!(fmt_num(0.00005), "5e-5");
        assert_eq!(fmt_num(2.5e-5), "2.5e-5");
        assert_eq!(fmt_num(12.5), "12.5");
        assert_eq!(fmt_num(1.0), "1");
    }

    fn nonempty(p: &Path, magic: &[u8]) {
        let b = std::fs::read(p).unwrap();
        assert!(b.len() > 1000, "{}: {} bytes", p.display(), b.len());
        assert!(b.starts_with(magic), "{}", p.display());
    }

    #[test]
    fn every_figure_kind_writes_svg_and_png() {
        let d = tempfile::tempdir().unwrap();
        let lines = LineFigure {
            title: "loss".into(),
            panels: vec![LinePanel {
                title: "per epoch".into(),
                x_desc: "epoch".into(),
                y_desc: "loss".into(),
                series: vec![
                    Series {
                        name: "train".into(),
                        points: vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.4)],
                        markers: true,
                    },
                    Series {
                        name: "val".into(),
                        points: vec![(1.0, 1.0), (2.0, 0.7), (3.0, 0.65)],
                        markers: true,
                    },
                ],
                x_scale: Scale::Linear,
                y_scale: Scale::Log,
                legend: Legend::UpperRight,
                first_color: 0,
            }],
        };
        let bars = BarFigure {
            title: "bars".into(),
            category_desc: "model".into(),
            value_desc: "ndcg@10".into(),
            bars: vec![
                Bar {
                    label: "hybrid".into(),
                    value: 0.4,
                    color: 3,
                },
                Bar {
                    label: "ease".into(),
                    value: 0.38,
                    color: 0,
                },
            ],
            horizontal: true,
        };
        let scatter = ScatterFigure {
            title: "scatter".into(),
            x_desc: "model.kind".into(),
            y_desc: "ndcg@10".into(),
            x: XAxis::Categorical(vec!["ease".into(), "mf_bpr".into()]),
            groups: vec![Group {
                name: "done".into(),
                points: vec![(0.0, 0.3), (1.0, 0.2), (1.0, 0.25)],
                color: 0,
            }],
            radius: 7,
            legend: false,
        };
        let one_bar = BarFigure {
            title: "one".into(),
            category_desc: "rating".into(),
            value_desc: "ratings".into(),
            bars: vec![Bar {
                label: "10".into(),
                value: 5.0,
                color: 0,
            }],
            horizontal: false,
        };
        let mut written = save(&lines, d.path(), "lines").unwrap();
        written.extend(save(&one_bar, d.path(), "one_bar").unwrap());
        written.extend(save(&bars, d.path(), "bars").unwrap());
        written.extend(save(&scatter, d.path(), "scatter").unwrap());
        assert_eq!(written.len(), 8);
        for p in &written {
            if p.extension().is_some_and(|e| e == "png") {
                nonempty(p, b"\x89PNG");
            } else {
                nonempty(p, b"<svg");
                let text = std::fs::read_to_string(p).unwrap();
                assert!(text.contains("<text"), "{}: no text", p.display());
            }
        }
        let svg = std::fs::read_to_string(d.path().join("bars.svg")).unwrap();
        assert!(
            svg.contains("hybrid") && svg.contains("0.4"),
            "labels drawn"
        );
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".anirec-tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
