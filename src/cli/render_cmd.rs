//! `heatscope render IN -o OUT.png`: the viewer's shader, offscreen, to a PNG. Memory stays near two
//! copies of the image at most: statistics, then the raster on the GPU (the CPU copy dropped), then
//! the output streamed to the file a band of rows at a time. Memory stays near two
//! copies of the image at most: statistics, then the raster on the GPU (the CPU copy dropped), then
//! the output streamed to the file a band of rows at a time.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::io::{self, LoadOptions};
use crate::render::{Colormap, DisplaySettings, Headless, Scale, ViewTransform};
use crate::stats::{self, RangeMode};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Image to render (any format heatscope opens).
    pub input: PathBuf,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// viridis, magma, inferno, turbo, grayscale or diverging.
    #[arg(long, default_value = "viridis")]
    pub colormap: String,
    /// linear, log, sqrt, asinh or dB (10 log10 of linear power).
    #[arg(long, default_value = "linear")]
    pub scale: String,
    /// minmax, 1-99, 0.5-99.5, 99.7, 99.9, zscale, or LO,HI (on the scale's axis: dB for --scale dB).
    #[arg(long, default_value = "minmax", allow_hyphen_values = true)]
    pub range: String,
    /// Band to show (1-based).
    #[arg(long, default_value_t = 1)]
    pub band: usize,
    /// Show three bands as red, green, blue, e.g. 1,2,3 (1-based); each band gets the same range rule.
    #[arg(long)]
    pub rgb: Option<String>,
    /// Output width in pixels (height follows the aspect ratio); default: the image's own size.
    #[arg(long)]
    pub width: Option<u32>,
    /// Bilinear instead of nearest-pixel sampling.
    #[arg(long)]
    pub bilinear: bool,
}

/// Parse a range rule as the CLI and the app's presets name them.
pub fn parse_range(s: &str) -> Option<RangeMode> {
    let s = s.trim().to_ascii_lowercase();
    match s.as_str() {
        "minmax" | "min-max" => return Some(RangeMode::MinMax),
        "zscale" => return Some(RangeMode::ZScale),
        _ => {}
    }
    if let Some((a, b)) = s.split_once(',') {
        let (lo, hi) = (a.trim().parse::<f32>().ok()?, b.trim().parse::<f32>().ok()?);
        return (lo.is_finite() && hi.is_finite() && lo < hi).then_some(RangeMode::Manual(lo, hi));
    }
    if let Some((a, b)) = s.trim_end_matches('%').split_once('-') {
        let (lo, hi) = (a.parse::<f32>().ok()?, b.parse::<f32>().ok()?);
        return (0.0 <= lo && lo < hi && hi <= 100.0).then_some(RangeMode::Percentile(lo, hi));
    }
    let p = s.trim_end_matches('%').parse::<f32>().ok()?;
    (50.0 < p && p <= 100.0).then_some(RangeMode::Symmetric(p))
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let colormap = Colormap::parse(&args.colormap).with_context(|| format!("unknown colormap '{}'", args.colormap))?;
    let scale = Scale::parse(&args.scale).with_context(|| format!("unknown scale '{}'", args.scale))?;
    let mode = parse_range(&args.range).with_context(|| format!("cannot read range '{}'", args.range))?;
    let raster = std::sync::Arc::new(io::load(&args.input, &LoadOptions::default())?);
    let one_based = |b: usize| -> anyhow::Result<usize> {
        if b == 0 || b > raster.band_count() {
            bail!("band {b} does not exist: {} has {} band(s)", args.input.display(), raster.band_count());
        }
        Ok(b - 1)
    };
    let mut settings = DisplaySettings { colormap, scale, bilinear: args.bilinear, ..DisplaySettings::default() };
    let channels: Vec<usize> = match &args.rgb {
        Some(spec) => {
            let bands: Vec<usize> = spec
                .split(',')
                .map(|t| t.trim().parse::<usize>().map_err(anyhow::Error::from).and_then(one_based))
                .collect::<anyhow::Result<_>>()
                .with_context(|| format!("--rgb wants three band numbers like 1,2,3, got '{spec}'"))?;
            let [r, g, b] = bands[..] else { bail!("--rgb wants exactly three bands, got '{spec}'") };
            settings.rgb_mode = true;
            settings.rgb = [r, g, b];
            vec![r, g, b]
        }
        None => {
            settings.band = one_based(args.band)?;
            vec![settings.band]
        }
    };
    let never = || false;
    for (slot, &band) in channels.iter().enumerate() {
        let st = stats::band_stats(&raster, band, &never).context("statistics were cancelled")?;
        let [lo, hi] = crate::render::uniform::axis_range(&st, mode, scale);
        settings.lo[slot] = lo;
        settings.hi[slot] = hi;
    }
    let gpu = Headless::new()?;
    let max = gpu.max_texture_dim();
    let (shown, factor) = if raster.width.max(raster.height) > max {
        stats::downsample_to_fit(&raster, max)
    } else {
        (std::sync::Arc::unwrap_or_clone(raster), 1)
    };
    // Render in the downsampled raster's own pixel grid; the output size follows --width.
    let (w, h) = (shown.width as u32, shown.height as u32);
    let (out_w, out_h) = output_size(args.width, w, h);
    if let Err(e) = gpu.check_output(out_w, out_h) {
        let widest = (max as f64 * f64::from(w) / f64::from(h)).floor().min(max as f64).max(1.0);
        bail!("{e}: the image is {w} x {h}, so choose --width {widest} or less", widest = widest as u32);
    }
    let zoom = out_w as f32 / w as f32;
    let transform = ViewTransform { origin: [0.0, 0.0], zoom, stretch: 1.0 };
    let image = gpu.upload(&shown)?;
    // The GPU holds the image now; the CPU copy is not needed for rendering.
    drop(shown);
    let is_png = args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        crate::io::atomic::replace(&args.output, |tmp| {
            let file = std::fs::File::create(tmp)?;
            gpu.render_png(&image, &settings, &transform, [out_w, out_h], file).map_err(std::io::Error::other)
        })
        .with_context(|| format!("cannot write the rendered image: {}", args.output.display()))?;
    } else {
        let pixels = gpu.render_rows(&image, &settings, &transform, out_w, 0..out_h)?;
        let img = image::RgbaImage::from_raw(out_w, out_h, pixels).context("rendered buffer has the wrong size")?;
        super::write_image(&args.output, &img.into(), "the rendered image")?;
    }
    if factor > 1 {
        eprintln!("note: the image exceeds the GPU texture limit ({max} px); rendered downsampled {factor}x");
    }
    eprintln!("wrote {} ({out_w} x {out_h}) using {}", args.output.display(), gpu.adapter);
    Ok(())
}

/// The output size: `width` (default: the image's own) and the height that keeps the aspect ratio,
/// neither under 1 pixel. Limits are the device's to check.
fn output_size(width: Option<u32>, w: u32, h: u32) -> (u32, u32) {
    let out_w = width.unwrap_or(w).max(1);
    let out_h = (f64::from(out_w) * f64::from(h) / f64::from(w.max(1))).round().clamp(1.0, f64::from(u32::MAX)) as u32;
    (out_w, out_h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_keeps_the_aspect_ratio_without_overflowing() {
        assert_eq!(output_size(None, 300, 200), (300, 200));
        assert_eq!(output_size(Some(4000), 121, 86_000), (4000, 2_842_975));
        assert_eq!(output_size(Some(0), 10, 10), (1, 1));
        assert_eq!(output_size(Some(u32::MAX), 1, 1_000_000).1, u32::MAX);
    }

    #[test]
    fn range_rules_parse() {
        assert_eq!(parse_range("minmax"), Some(RangeMode::MinMax));
        assert_eq!(parse_range("ZScale"), Some(RangeMode::ZScale));
        assert_eq!(parse_range("1-99"), Some(RangeMode::Percentile(1.0, 99.0)));
        assert_eq!(parse_range("0.5-99.5%"), Some(RangeMode::Percentile(0.5, 99.5)));
        assert_eq!(parse_range("99.7"), Some(RangeMode::Symmetric(99.7)));
        assert_eq!(parse_range("-40,10"), Some(RangeMode::Manual(-40.0, 10.0)));
        assert_eq!(parse_range("10,-40"), None);
        assert_eq!(parse_range("banana"), None);
        assert_eq!(parse_range("nan,1"), None);
    }
}
