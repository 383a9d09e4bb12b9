//! The error analysis's plots as files: each drawn as SVG from the same counts the window shows
//! (per-level scores with their intervals, the L3 IoU histogram, the L1 reliability diagram, each
//! closed kind's confusion matrix), and as PNG by rendering that SVG with the font egui bundles (no
//! system fonts needed). Pure functions, called on the export's worker.

use std::fmt::Write;

use super::BINS;

/// The levels of the per-level plot: the report's key and the axis label (the SpectrumQA paper's
/// Figure 1 reports these four).
pub const LEVELS: [(&str, &str); 4] =
    [("l1", "L1 acc"), ("l2", "L2 acc"), ("l3_iou", "L3 IoU"), ("l4_concept_f1", "L4 concept F1")];

/// One colour per run (A, B, …), shared with the window's plots.
pub const RUN_RGB: [[u8; 3]; 8] = [
    [120, 170, 230],
    [240, 160, 80],
    [130, 200, 120],
    [220, 110, 160],
    [180, 150, 230],
    [230, 210, 90],
    [100, 200, 200],
    [160, 160, 160],
];

/// A run's overall score per plotted metric (see [`plot_metrics`]), each with its 95 % interval
/// (None: no question).
pub type LevelScores = Vec<Option<(f64, f64, f64)>>;

/// What the per-level plot shows for `reports`: the SpectrumQA levels of [`LEVELS`] and each
/// RadioQA task's accuracy (the report's key and the axis label), those some report has questions
/// of; the four levels when none has any.
pub fn plot_metrics(reports: &[&serde_json::Value]) -> Vec<(String, String)> {
    let radio = crate::types::QuestionKind::RADIO.map(|k| (k.name().to_string(), k.name().to_string()));
    let all: Vec<(String, String)> =
        LEVELS.iter().map(|(k, l)| ((*k).to_string(), (*l).to_string())).chain(radio).collect();
    with_questions(all, reports, || LEVELS.iter().map(|(k, l)| ((*k).to_string(), (*l).to_string())).collect())
}

/// The `(key, label)` pairs of `all` some group of some report has questions of, else `fallback()`.
pub fn with_questions(
    all: Vec<(String, String)>,
    reports: &[&serde_json::Value],
    fallback: impl FnOnce() -> Vec<(String, String)>,
) -> Vec<(String, String)> {
    let asked = |key: &str| {
        reports
            .iter()
            .any(|r| r["groups"].as_array().into_iter().flatten().any(|g| g[key]["n"].as_u64().unwrap_or(0) > 0))
    };
    let kept: Vec<(String, String)> = all.into_iter().filter(|(key, _)| asked(key)).collect();
    if kept.is_empty() { fallback() } else { kept }
}

/// A report's overall score per metric key of `metrics` with its 95 % interval (None: no question).
pub fn level_scores(report: &serde_json::Value, metrics: &[(String, String)]) -> LevelScores {
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    let overall = groups.iter().find(|g| g["name"] == "overall").or(groups.first()).cloned().unwrap_or_default();
    metrics
        .iter()
        .map(|(key, _)| {
            let m = &overall[key.as_str()];
            (m["n"].as_u64().unwrap_or(0) > 0).then(|| {
                (m["value"].as_f64().unwrap_or(0.0), m["lo"].as_f64().unwrap_or(0.0), m["hi"].as_f64().unwrap_or(0.0))
            })
        })
        .collect()
}

fn rgb([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// An SVG picture being drawn: white background, dark text.
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64, title: &str) -> Self {
        let mut svg = Svg { width, height, body: String::new() };
        svg.rect(0.0, 0.0, width, height, "#ffffff");
        svg.text(width / 2.0, 22.0, "middle", 15.0, title);
        svg
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{fill}"/>"#,
            w.max(0.0),
            h.max(0.0)
        );
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// Text at (x, y) (its baseline), anchored "start", "middle" or "end".
    fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, text: &str) {
        let _ = writeln!(
            self.body,
            r##"<text x="{x:.2}" y="{y:.2}" font-family="Ubuntu" font-size="{size}" fill="#202020" text-anchor="{anchor}">{}</text>"##,
            crate::types::xml_escape(text)
        );
    }

    /// Text turned a quarter left (a y-axis label).
    fn vertical_text(&mut self, x: f64, y: f64, size: f64, text: &str) {
        let _ = writeln!(
            self.body,
            r##"<text x="{x:.2}" y="{y:.2}" font-family="Ubuntu" font-size="{size}" fill="#202020" text-anchor="middle" transform="rotate(-90 {x:.2} {y:.2})">{}</text>"##,
            crate::types::xml_escape(text)
        );
    }

    fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

/// A plotting frame: the data area and the value range of the y axis.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    /// The frame of a `w` x `h` picture, y from 0 to `y_max`; draws the y axis with its ticks and
    /// label, and the x axis label.
    fn new(svg: &mut Svg, y_max: f64, y_label: &str, x_label: &str) -> Frame {
        Frame::ranged(svg, 0.0, y_max, y_label, x_label)
    }

    /// [`Frame::new`] with y from `y_min` to `y_max`.
    fn ranged(svg: &mut Svg, y_min: f64, y_max: f64, y_label: &str, x_label: &str) -> Frame {
        let frame = Frame { left: 64.0, top: 40.0, width: svg.width - 84.0, height: svg.height - 96.0, y_min, y_max };
        let step = nice_step(y_max - y_min);
        // Ticks at the multiples of the step inside the range.
        let mut v = (y_min / step - 1e-9).ceil() * step;
        while v <= y_max + step * 1e-6 {
            let y = frame.y(v);
            svg.line((frame.left, y), (frame.left + frame.width, y), "#e4e4e4", 1.0);
            let label = if step < 0.1 {
                format!("{v:.2}")
            } else if step < 1.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            };
            svg.text(frame.left - 6.0, y + 4.0, "end", 11.0, &label);
            v += step;
        }
        let bottom = frame.top + frame.height;
        svg.line((frame.left, frame.top), (frame.left, bottom), "#404040", 1.0);
        svg.line((frame.left, bottom), (frame.left + frame.width, bottom), "#404040", 1.0);
        svg.vertical_text(18.0, frame.top + frame.height / 2.0, 12.0, y_label);
        svg.text(frame.left + frame.width / 2.0, svg.height - 14.0, "middle", 12.0, x_label);
        frame
    }

    fn y(&self, v: f64) -> f64 {
        self.top + self.height * (1.0 - ((v - self.y_min) / (self.y_max - self.y_min)).clamp(0.0, 1.0))
    }

    /// x of a fraction of the width.
    fn x(&self, f: f64) -> f64 {
        self.left + self.width * f
    }
}

/// A round tick step giving about five ticks up to `max`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64) -> f64 {
    let rough = (max / 5.0).max(1e-9);
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= rough).unwrap_or(10.0 * power)
}

/// One line of a [`curves_svg`] plot: points (x, y, interval low, interval high), x in [0, 1].
pub struct Curve {
    pub name: String,
    pub colour: [u8; 3],
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Lines over x in [0, `x_max`] with their intervals as shaded bands, dashed vertical marks with their
/// labels, and a legend; y spans the data (with a margin) at round ticks.
pub fn curves_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_max: f64,
    curves: &[Curve],
    marks: &[(f64, String)],
) -> String {
    let mut svg = Svg::new(640.0, 400.0, title);
    let ys = curves.iter().flat_map(|c| c.points.iter().flat_map(|p| [p.1, p.2, p.3])).filter(|v| v.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 0.01)) } else { (0.0, 1.0) };
    let step = nice_step(hi - lo);
    let y_min = ((lo - step * 0.5) / step).floor() * step;
    let y_max = ((hi + step * 0.5) / step).ceil() * step;
    let frame = Frame::ranged(&mut svg, y_min.max(0.0), y_max, y_label, x_label);
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let x = |v: f64| frame.x(v / x_max);
    for k in 0..=5 {
        let v = x_max * f64::from(k) / 5.0;
        let bottom = frame.top + frame.height;
        svg.line((x(v), bottom), (x(v), bottom + 4.0), "#404040", 1.0);
        svg.text(x(v), bottom + 16.0, "middle", 11.0, &format!("{:.0} %", v * 100.0));
    }
    for c in curves {
        let colour = rgb(c.colour);
        let band: Vec<String> = c
            .points
            .iter()
            .map(|p| format!("{:.2},{:.2}", x(p.0), frame.y(p.3)))
            .chain(c.points.iter().rev().map(|p| format!("{:.2},{:.2}", x(p.0), frame.y(p.2))))
            .collect();
        let _ = writeln!(svg.body, r#"<polygon points="{}" fill="{colour}" fill-opacity="0.18"/>"#, band.join(" "));
        let line: Vec<String> = c.points.iter().map(|p| format!("{:.2},{:.2}", x(p.0), frame.y(p.1))).collect();
        let _ = writeln!(
            svg.body,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            line.join(" ")
        );
    }
    for (i, (at, label)) in marks.iter().enumerate() {
        let _ = writeln!(
            svg.body,
            r##"<line x1="{0:.2}" y1="{1:.2}" x2="{0:.2}" y2="{2:.2}" stroke="#505050" stroke-width="1" stroke-dasharray="4 3"/>"##,
            x(*at),
            frame.top,
            frame.top + frame.height
        );
        #[allow(clippy::cast_precision_loss)]
        svg.text(x(*at) + 4.0, frame.top + 14.0 + 14.0 * i as f64, "start", 11.0, label);
    }
    for (i, c) in curves.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = frame.top + frame.height - 12.0 - 16.0 * (curves.len() - 1 - i) as f64;
        let left = frame.left + frame.width - 200.0;
        svg.rect(left, y - 9.0, 14.0, 10.0, &rgb(c.colour));
        svg.text(left + 20.0, y, "start", 11.0, &c.name);
    }
    svg.finish()
}

/// The per-level plot (the SpectrumQA paper's Figure 1): each run's overall score per metric of
/// `metrics` (levels, or RadioQA tasks) as a bar, its 95 % interval as an error bar, a legend naming
/// the runs.
pub fn levels_svg(title: &str, metrics: &[(String, String)], runs: &[(String, LevelScores)]) -> String {
    let mut svg = Svg::new(680.0, 380.0, title);
    let radio_only = metrics.iter().all(|(key, _)| !key.starts_with('l'));
    let frame =
        Frame::new(&mut svg, 1.0, "score (95 % interval)", if radio_only { "task (accuracy)" } else { "level" });
    let slot = 1.0 / metrics.len().max(1) as f64;
    let bar = 0.8 * slot / runs.len().max(1) as f64;
    for (i, (_, label)) in metrics.iter().enumerate() {
        svg.text(frame.x(slot * (i as f64 + 0.5)), frame.top + frame.height + 16.0, "middle", 11.0, label);
    }
    for (k, (name, scores)) in runs.iter().enumerate() {
        let fill = rgb(RUN_RGB[k % RUN_RGB.len()]);
        for (i, score) in scores.iter().enumerate() {
            let Some((v, lo, hi)) = *score else { continue };
            let x0 = frame.x(slot * i as f64 + 0.1 * slot + bar * k as f64);
            let w = frame.width * bar * 0.9;
            svg.rect(x0, frame.y(v), w, frame.y(0.0) - frame.y(v), &fill);
            let mid = x0 + w / 2.0;
            svg.line((mid, frame.y(lo)), (mid, frame.y(hi)), "#202020", 1.5);
            for end in [lo, hi] {
                svg.line((mid - 4.0, frame.y(end)), (mid + 4.0, frame.y(end)), "#202020", 1.5);
            }
            svg.text(mid, frame.y(hi) - 4.0, "middle", 9.0, &format!("{v:.2}"));
        }
        // The legend, top right inside the frame.
        let y = frame.top + 8.0 + 16.0 * k as f64;
        let x = frame.left + frame.width - 220.0;
        svg.rect(x, y, 12.0, 12.0, &fill);
        svg.text(x + 18.0, y + 10.0, "start", 11.0, name);
    }
    svg.finish()
}

/// The L3 IoU histogram: questions per tenth of IoU.
pub fn iou_svg(title: &str, iou: &[usize; BINS]) -> String {
    let max = iou.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = Svg::new(560.0, 340.0, title);
    let frame = Frame::new(&mut svg, max * 1.1, "questions", "L3 IoU (answers with a box)");
    tenths_axis(&mut svg, &frame);
    for (b, &n) in iou.iter().enumerate() {
        let x0 = frame.x((b as f64 + 0.05) / BINS as f64);
        let w = frame.width * 0.9 / BINS as f64;
        svg.rect(x0, frame.y(n as f64), w, frame.y(0.0) - frame.y(n as f64), "#7f8fa6");
        if n > 0 {
            svg.text(x0 + w / 2.0, frame.y(n as f64) - 4.0, "middle", 10.0, &n.to_string());
        }
    }
    svg.finish()
}

/// The L1 reliability diagram: per confidence tenth, the share of right answers (with how many
/// answers it holds), and the diagonal a calibrated model would follow.
pub fn reliability_svg(title: &str, bins: &[(usize, usize); BINS]) -> String {
    let mut svg = Svg::new(560.0, 340.0, title);
    let frame = Frame::new(&mut svg, 1.0, "share right", "L1 confidence");
    tenths_axis(&mut svg, &frame);
    for (b, &(n, right)) in bins.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let share = right as f64 / n as f64;
        let x0 = frame.x((b as f64 + 0.05) / BINS as f64);
        let w = frame.width * 0.9 / BINS as f64;
        svg.rect(x0, frame.y(share), w, frame.y(0.0) - frame.y(share), "#7f8fa6");
        svg.text(x0 + w / 2.0, frame.y(share) - 4.0, "middle", 10.0, &format!("{right}/{n}"));
    }
    svg.line((frame.x(0.0), frame.y(0.0)), (frame.x(1.0), frame.y(1.0)), "#3c82dc", 1.5);
    svg.text(frame.x(0.02), frame.top + 12.0, "start", 10.0, "blue: a calibrated model");
    svg.finish()
}

/// Tick labels 0, 0.1, …, 1 under a frame whose x runs over 0..1.
fn tenths_axis(svg: &mut Svg, frame: &Frame) {
    for t in 0..=BINS {
        let f = t as f64 / BINS as f64;
        svg.text(frame.x(f), frame.top + frame.height + 16.0, "middle", 10.0, &format!("{f:.1}"));
    }
}

/// A confusion matrix: rows the true class, columns the answered class (the last "unparsed"); each
/// cell's count, shaded by its share of the row, green on the diagonal and red off it.
pub fn confusion_svg(title: &str, classes: &[&str], counts: &[Vec<usize>]) -> String {
    let (cell_w, cell_h, left, top) = (78.0, 34.0, 110.0, 78.0);
    let columns: Vec<&str> = classes.iter().copied().chain(["unparsed"]).collect();
    let width = (left + cell_w * columns.len() as f64 + 20.0).max(420.0);
    let height = top + cell_h * classes.len() as f64 + 30.0;
    let mut svg = Svg::new(width, height, title);
    svg.text(left + cell_w * columns.len() as f64 / 2.0, 46.0, "middle", 12.0, "answer");
    svg.text(left - 8.0, 46.0, "end", 12.0, "truth");
    for (g, c) in columns.iter().enumerate() {
        svg.text(left + cell_w * (g as f64 + 0.5), top - 10.0, "middle", 11.0, c);
    }
    for (t, row) in counts.iter().enumerate() {
        let y = top + cell_h * t as f64;
        svg.text(left - 8.0, y + cell_h / 2.0 + 4.0, "end", 11.0, classes.get(t).copied().unwrap_or("?"));
        let total: usize = row.iter().sum();
        for (g, &n) in row.iter().enumerate() {
            let x = left + cell_w * g as f64;
            let share = if total > 0 { n as f64 / total as f64 } else { 0.0 };
            let base: [f64; 3] = if g == t { [60.0, 150.0, 80.0] } else { [190.0, 60.0, 60.0] };
            // Blend towards white: an empty cell is white, a whole row's worth full colour.
            let a = if n == 0 { 0.0 } else { 0.2 + 0.8 * share };
            let shade = base.map(|c| (255.0 + (c - 255.0) * a).round() as u8);
            svg.rect(x + 1.0, y + 1.0, cell_w - 2.0, cell_h - 2.0, &rgb(shade));
            svg.text(x + cell_w / 2.0, y + cell_h / 2.0 + 4.0, "middle", 12.0, &n.to_string());
        }
    }
    svg.finish()
}

/// `svg` rendered to PNG at `scale` times its size, its text set in the font egui bundles.
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options { font_family: "Ubuntu".into(), ..usvg::Options::default() };
    let fonts = egui::FontDefinitions::default();
    for data in fonts.font_data.values() {
        options.fontdb_mut().load_font_data((*data.font).as_ref().to_vec());
    }
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("the plot's SVG does not parse: {e}"))?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or("the plot is too large to render")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("the plot is too large to render")?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("cannot encode the plot as PNG: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PNG's size and how many of its pixels are dark (text and lines).
    fn decode(png_bytes: &[u8]) -> (u32, u32, usize) {
        let img = image::load_from_memory(png_bytes).unwrap().to_rgba8();
        let dark = img.pixels().filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100 && p[3] > 200).count();
        (img.width(), img.height(), dark)
    }

    #[test]
    fn each_plot_is_valid_svg_and_renders_with_its_text() {
        let mut iou = [0; BINS];
        iou[9] = 7;
        iou[4] = 3;
        let mut rel = [(0, 0); BINS];
        rel[8] = (10, 6);
        let levels = vec![Some((0.7, 0.6, 0.8)), None, Some((0.5, 0.4, 0.6)), Some((0.3, 0.2, 0.4))];
        let metrics: Vec<(String, String)> = LEVELS.iter().map(|(k, l)| ((*k).into(), (*l).into())).collect();
        let plots = [
            levels_svg("levels <&> \"A\"", &metrics, &[("A: cnn".into(), levels), ("B: prior".into(), vec![None; 4])]),
            iou_svg("IoU", &iou),
            reliability_svg("reliability", &rel),
            confusion_svg("severity", &["low", "high"], &[vec![3, 1, 0], vec![0, 5, 2]]),
        ];
        for (i, svg) in plots.iter().enumerate() {
            let bytes = png(svg, 2.0).unwrap();
            if let Some(dir) = std::env::var_os("HEATSCOPE_PLOTS_OUT") {
                std::fs::write(std::path::Path::new(&dir).join(format!("plot{i}.png")), &bytes).unwrap();
            }
            let (w, h, dark) = decode(&bytes);
            assert!(w >= 800 && h >= 300, "{w} x {h}");
            assert!(dark > 500, "text and axes drawn: {dark} dark pixels");
        }
        assert!(plots[0].contains("levels &lt;&amp;&gt; &quot;A&quot;") && plots[0].contains(">0.70<"));
        assert!(plots[1].contains(">7<") && plots[1].contains(">3<"));
        assert!(plots[2].contains(">6/10<"));
        assert!(plots[3].contains(">unparsed<") && plots[3].contains(">5<"));
        // Text makes the difference: the same picture without its title has fewer dark pixels.
        let (_, _, with) = decode(&png(&iou_svg("a long title with many letters", &iou), 1.0).unwrap());
        let (_, _, without) = decode(&png(&iou_svg("", &iou), 1.0).unwrap());
        assert!(with > without + 100, "{with} vs {without}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(nice_step(37.0), 10.0);
        assert_eq!(nice_step(4.4), 1.0);
        assert_eq!(nice_step(1200.0), 500.0);
    }

    #[test]
    fn the_level_scores_are_the_overall_groups() {
        let report = serde_json::json!({"groups": [
            {"name": "leo-urban", "l1": {"value": 0.1, "lo": 0.0, "hi": 0.2, "n": 5}},
            {"name": "overall", "l1": {"value": 0.5, "lo": 0.4, "hi": 0.6, "n": 10}, "l2": {"n": 0}},
        ]});
        let metrics = plot_metrics(&[&report]);
        assert_eq!(metrics, vec![("l1".to_string(), "L1 acc".to_string())], "only the levels asked");
        let s = level_scores(&report, &metrics);
        assert_eq!(s, vec![Some((0.5, 0.4, 0.6))]);
        // A RadioQA run plots its tasks; a report with nothing asked the four levels.
        let radio = serde_json::json!({"groups": [
            {"name": "overall", "l1": {"n": 0}, "morphology": {"value": 0.8, "lo": 0.7, "hi": 0.9, "n": 30},
             "fr": {"value": 0.9, "lo": 0.8, "hi": 1.0, "n": 20}, "galaxy": {"n": 0}},
        ]});
        let metrics = plot_metrics(&[&radio]);
        let keys: Vec<&str> = metrics.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(keys, ["morphology", "fr"]);
        assert_eq!(level_scores(&radio, &metrics)[1], Some((0.9, 0.8, 1.0)));
        assert!(levels_svg("t", &metrics, &[("A".into(), level_scores(&radio, &metrics))]).contains("morphology"));
        assert_eq!(plot_metrics(&[&serde_json::json!({"groups": []})]).len(), LEVELS.len());
    }
}
