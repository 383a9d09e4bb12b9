//! Colormaps, value scales and the CPU reference of the fragment shader's value -> colour mapping.
//!
//! The GPU gets every colormap as one row of a 256 x N `Rgba8Unorm` lookup texture built by
//! [`lut_rows`]; [`shade`] repeats the shader's arithmetic in f32 so tests can compare a rendered
//! pixel with the CPU (and the pixel readout can show the colour it describes). Pure functions; any
//! thread.

/// Colormaps offered for single-band images. The order is the row order in the LUT texture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Colormap {
    #[default]
    Viridis,
    Magma,
    Inferno,
    Turbo,
    Grayscale,
    /// Diverging blue-white-red (ColorBrewer RdBu, reversed): for signed quantities around zero.
    Diverging,
}

impl Colormap {
    pub const ALL: [Self; 6] =
        [Self::Viridis, Self::Magma, Self::Inferno, Self::Turbo, Self::Grayscale, Self::Diverging];

    pub fn name(self) -> &'static str {
        match self {
            Self::Viridis => "viridis",
            Self::Magma => "magma",
            Self::Inferno => "inferno",
            Self::Turbo => "turbo",
            Self::Grayscale => "grayscale",
            Self::Diverging => "diverging",
        }
    }

    /// Parse a name as the CLI accepts it (case-insensitive; "gray"/"grey" accepted).
    pub fn parse(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        match n.as_str() {
            "gray" | "grey" | "greys" => Some(Self::Grayscale),
            "rdbu" | "coolwarm" => Some(Self::Diverging),
            _ => Self::ALL.into_iter().find(|c| c.name() == n),
        }
    }

    /// Row of this map in the LUT texture.
    pub fn row(self) -> u32 {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0) as u32
    }

    /// Colour at t in [0, 1] as sRGB bytes.
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = t.clamp(0.0, 1.0);
        let c = match self {
            Self::Viridis => poly6(&VIRIDIS, t),
            Self::Magma => poly6(&MAGMA, t),
            Self::Inferno => poly6(&INFERNO, t),
            Self::Turbo => turbo(t),
            Self::Grayscale => [t, t, t],
            Self::Diverging => piecewise(&RDBU_R, t),
        };
        c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    /// The 256 entries of this map.
    pub fn table(self) -> [[u8; 4]; 256] {
        let mut out = [[0u8; 4]; 256];
        for (i, px) in out.iter_mut().enumerate() {
            let [r, g, b] = self.rgb(i as f64 / 255.0);
            *px = [r, g, b, 255];
        }
        out
    }
}

/// All LUT rows, in [`Colormap::ALL`] order, as the bytes of a 256 x N RGBA8 texture.
pub fn lut_rows() -> Vec<u8> {
    Colormap::ALL.iter().flat_map(|c| c.table()).flatten().collect()
}

/// How values map to [0, 1] between the range limits. Numbers are the shader's `scale` codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scale {
    #[default]
    Linear,
    /// log10(1 + 1000 x) / log10(1001): the DS9-style log stretch.
    Log,
    Sqrt,
    /// asinh(10 x) / asinh(10).
    Asinh,
    /// Values are linear power: shown as 10 log10(v); the range limits are given in dB.
    Db,
}

impl Scale {
    pub const ALL: [Self; 5] = [Self::Linear, Self::Log, Self::Sqrt, Self::Asinh, Self::Db];

    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Log => "log",
            Self::Sqrt => "sqrt",
            Self::Asinh => "asinh",
            Self::Db => "dB",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    /// The value on the axis the range limits live on (dB for [`Scale::Db`], else the value).
    /// None for values that have no place on it (v <= 0 in dB).
    pub fn axis_value(self, v: f32) -> Option<f32> {
        match self {
            Self::Db => (v > 0.0).then(|| 10.0 * (v.log2() * LOG10_2)),
            _ => Some(v),
        }
    }
}

/// log10(2), as the shader writes log10(x) = log2(x) * LOG10_2.
pub const LOG10_2: f32 = std::f32::consts::LOG10_2;

/// The shader's `stretch`: a value to t in [0, 1]. Non-positive values under [`Scale::Db`] give 0.
/// Keep in sync with `shaders/image.wgsl`.
pub fn stretch(v: f32, lo: f32, hi: f32, scale: Scale) -> f32 {
    let x = match scale {
        Scale::Db => {
            if v <= 0.0 {
                return 0.0;
            }
            10.0 * (v.log2() * LOG10_2)
        }
        _ => v,
    };
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    match scale {
        Scale::Log => (1.0 + 1000.0 * t).log2() / 1001.0f32.log2(),
        Scale::Sqrt => t.sqrt(),
        Scale::Asinh => (10.0 * t).asinh() / 10.0f32.asinh(),
        Scale::Linear | Scale::Db => t,
    }
}

/// The value on the range axis that [`stretch`] maps to `t` (for colorbar ticks).
pub fn unstretch(t: f32, lo: f32, hi: f32, scale: Scale) -> f32 {
    let t = t.clamp(0.0, 1.0);
    let x = match scale {
        Scale::Log => (1001.0f32.powf(t) - 1.0) / 1000.0,
        Scale::Sqrt => t * t,
        Scale::Asinh => (t * 10.0f32.asinh()).sinh() / 10.0,
        Scale::Linear | Scale::Db => t,
    };
    lo + x * (hi - lo)
}

/// LUT index of t, as the shader computes it.
pub fn lut_index(t: f32) -> usize {
    (t.clamp(0.0, 1.0) * 255.0 + 0.5) as usize
}

/// The colour the shader draws for a single-band value; `None` (nodata) gives `nan_color`.
pub fn shade(v: Option<f32>, lo: f32, hi: f32, scale: Scale, map: Colormap, nan_color: [u8; 4]) -> [u8; 4] {
    match v {
        Some(v) if v.is_finite() => map.table()[lut_index(stretch(v, lo, hi, scale))],
        _ => nan_color,
    }
}

type Poly = [[f64; 3]; 7];

fn poly6(c: &Poly, t: f64) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        *o = c.iter().rev().fold(0.0, |acc, k| acc * t + k[ch]);
    }
    out
}

// Degree-6 least-squares fits of matplotlib's viridis, magma and inferno (Matt Zucker's published
// coefficients); row k holds the coefficient of t^k for R, G, B. Close to the tables within a few /255.
const VIRIDIS: Poly = [
    [0.277_727_327_223_417_7, 0.005_407_344_544_966_578, 0.334_099_805_335_306_1],
    [0.105_093_043_108_577_4, 1.404_613_529_898_575, 1.384_590_162_594_685],
    [-0.330_861_828_725_556_3, 0.214_847_559_468_213, 0.095_095_163_028_236_59],
    [-4.634_230_498_983_486, -5.799_100_973_351_585, -19.332_440_956_279_87],
    [6.228_269_936_347_081, 14.179_933_366_805_09, 56.690_552_600_681_05],
    [4.776_384_997_670_288, -13.745_145_377_746_01, -65.353_032_633_372_34],
    [-5.435_455_855_934_631, 4.645_852_612_178_535, 26.312_435_249_583_2],
];
const MAGMA: Poly = [
    [-0.002_136_485_053_939_582, -0.000_749_655_052_795_221, -0.005_386_127_855_323_933],
    [0.251_660_540_737_164_2, 0.677_523_243_683_766_8, 2.494_026_599_312_351],
    [8.353_717_279_216_625, -3.577_719_514_958_484, 0.314_467_903_013_257_3],
    [-27.668_733_085_768_66, 14.264_730_780_965_33, -13.649_213_188_139_22],
    [52.176_139_812_340_68, -27.943_606_071_683_51, 12.944_169_442_383_94],
    [-50.768_525_364_735_88, 29.046_582_821_272_91, 4.234_152_993_845_98],
    [18.655_705_065_918_83, -11.489_773_519_977_11, -5.601_961_508_734_096],
];
const INFERNO: Poly = [
    [0.000_218_940_369_119_226_5, 0.001_651_004_631_001_012, -0.019_480_898_437_091_84],
    [0.106_513_419_485_611_6, 0.563_956_436_788_409_1, 3.932_712_388_889_277],
    [11.602_493_082_471_87, -3.972_853_965_665_698, -15.942_394_106_291_4],
    [-41.703_996_131_394_59, 17.436_398_882_053_13, 44.354_145_198_728_13],
    [77.162_935_699_427, -33.402_358_942_100_92, -81.807_309_257_389_93],
    [-71.319_428_244_992_14, 32.626_064_263_977_23, 73.209_519_858_032_02],
    [25.131_126_224_773_41, -12.242_668_952_385_67, -23.070_325_002_871_72],
];

/// Google's degree-5 polynomial approximation of Turbo (Apache-2.0 numbers).
fn turbo(t: f64) -> [f64; 3] {
    const R: [f64; 6] = [0.135_721_38, 4.615_392_6, -42.660_322_58, 132.131_082_34, -152.942_393_96, 59.286_379_43];
    const G: [f64; 6] = [0.091_402_61, 2.194_188_39, 4.842_966_58, -14.185_033_33, 4.277_298_57, 2.829_566_04];
    const B: [f64; 6] = [0.106_673_3, 12.641_946_08, -60.582_048_36, 110.362_767_71, -89.903_109_12, 27.348_249_73];
    let p = |k: &[f64; 6]| k.iter().rev().fold(0.0, |acc, c| acc * t + c);
    [p(&R), p(&G), p(&B)]
}

/// ColorBrewer RdBu (11 classes), reversed so low values are blue.
const RDBU_R: [[f64; 3]; 11] = [
    [0.020, 0.188, 0.380],
    [0.129, 0.400, 0.675],
    [0.263, 0.576, 0.765],
    [0.573, 0.773, 0.871],
    [0.820, 0.898, 0.941],
    [0.969, 0.969, 0.969],
    [0.992, 0.859, 0.780],
    [0.957, 0.647, 0.510],
    [0.839, 0.376, 0.302],
    [0.698, 0.094, 0.169],
    [0.404, 0.000, 0.122],
];

fn piecewise(stops: &[[f64; 3]], t: f64) -> [f64; 3] {
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_the_published_maps() {
        // matplotlib: viridis(0) = #440154, viridis(1) = #fde725; magma(1) = #fcfdbf; inferno(1) = #fcffa4.
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6);
        assert!(close(Colormap::Viridis.rgb(0.0), [0x44, 0x01, 0x54]), "{:?}", Colormap::Viridis.rgb(0.0));
        assert!(close(Colormap::Viridis.rgb(1.0), [0xfd, 0xe7, 0x25]), "{:?}", Colormap::Viridis.rgb(1.0));
        assert!(close(Colormap::Magma.rgb(1.0), [0xfc, 0xfd, 0xbf]), "{:?}", Colormap::Magma.rgb(1.0));
        assert!(close(Colormap::Inferno.rgb(1.0), [0xfc, 0xff, 0xa4]), "{:?}", Colormap::Inferno.rgb(1.0));
        assert_eq!(Colormap::Grayscale.rgb(0.5), [128, 128, 128]);
        assert_eq!(Colormap::Diverging.rgb(0.5), [247, 247, 247]);
    }

    #[test]
    fn stretches_are_monotone_and_span_zero_to_one() {
        for scale in [Scale::Linear, Scale::Log, Scale::Sqrt, Scale::Asinh] {
            assert!((stretch(0.0, 0.0, 1.0, scale)).abs() < 1e-6);
            assert!((stretch(1.0, 0.0, 1.0, scale) - 1.0).abs() < 1e-6, "{scale:?}");
            let mut prev = -1.0;
            for i in 0..=100 {
                let t = stretch(i as f32 / 100.0, 0.0, 1.0, scale);
                assert!(t >= prev, "{scale:?} not monotone at {i}");
                prev = t;
            }
        }
        // dB: 100 (linear power) is 20 dB; with a 0..40 dB range that is the middle.
        assert!((stretch(100.0, 0.0, 40.0, Scale::Db) - 0.5).abs() < 1e-6);
        assert_eq!(stretch(-3.0, 0.0, 40.0, Scale::Db), 0.0);
    }

    #[test]
    fn unstretch_inverts_stretch() {
        for scale in [Scale::Linear, Scale::Log, Scale::Sqrt, Scale::Asinh] {
            for i in 0..=10 {
                let v = -5.0 + i as f32;
                let t = stretch(v, -5.0, 5.0, scale);
                assert!((unstretch(t, -5.0, 5.0, scale) - v).abs() < 1e-3, "{scale:?} at {v}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Colormap::ALL {
            assert_eq!(Colormap::parse(c.name()), Some(c));
        }
        for s in Scale::ALL {
            assert_eq!(Scale::parse(s.name()), Some(s));
        }
        assert_eq!(Colormap::parse("grey"), Some(Colormap::Grayscale));
        assert_eq!(Colormap::parse("jet"), None);
    }
}
