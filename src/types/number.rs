//! Numbers as heatscope shows them: the readout, colorbar ticks, contour levels and region
//! statistics all print a value the same way. Any thread.

/// A number with about 6 significant digits, without trailing zeros (f32 noise such as 216.009995
/// reads 216.01); exponent form at 1e6 and above or below 1e-3.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.4e}");
    }
    let decimals = if a == 0.0 { 0 } else { (5 - a.log10().floor() as i32).clamp(0, 8) as usize };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" { "0".into() } else { s.to_string() }
}
