//! Numbers and text as heatscope writes them: the readout, colorbar ticks, contour levels and region
//! statistics all print a value the same way; SVG figures and VOC files escape text for XML the same
//! way. Any thread.

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

/// Text safe as XML character data or an attribute value: the five markup characters escaped,
/// control characters XML 1.0 forbids dropped (tab and newline kept).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_text_is_escaped_once() {
        assert_eq!(super::xml_escape("a<b & \"c\" 'd'\u{1}\n"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;\n");
    }
}
