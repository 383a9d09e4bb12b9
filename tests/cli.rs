//! The command line as a user runs it: `render` writes a PNG through the GPU shader, and bad input
//! exits non-zero with a message naming the file or option.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::process::Command;

fn heatscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().expect("run heatscope")
}

#[test]
fn render_writes_the_shader_colours_to_png() {
    if common::headless().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let input = common::write_npy(dir.path(), "tiny.npy", 4, 3, &values);
    let out = dir.path().join("out.png");
    let o = heatscope(&[
        "render",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--colormap",
        "grayscale",
        "--range",
        "0,11",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&out).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (4, 3));
    for (i, px) in img.pixels().enumerate() {
        let expected = ((i as f32 / 11.0) * 255.0 + 0.5) as u8;
        assert!(px.0[0].abs_diff(expected) <= 1, "pixel {i}: {:?} vs {expected}", px.0);
    }
}

#[test]
fn bad_input_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.npy");
    std::fs::write(&bad, &common::npy_f32(&[10, 10], &[1.0; 100])[..90]).unwrap();
    let out = dir.path().join("x.png");
    let o = heatscope(&["render", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.npy") && err.contains("corrupt"), "{err}");
    assert!(!out.exists());

    let o = heatscope(&["render", bad.to_str().unwrap(), "-o", out.to_str().unwrap(), "--colormap", "jet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown colormap 'jet'"));

    let o = heatscope(&["info", dir.path().join("missing.fits").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.fits"));
}

#[test]
fn an_output_larger_than_the_gpu_allows_is_refused_with_the_width_that_fits() {
    let Some(gpu) = common::headless() else { return };
    let max = gpu.max_texture_dim();
    drop(gpu);
    // A tall strip, like a dynamic spectrum of many sub-integrations: --width 4000 asks for an
    // output millions of pixels high.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (2usize, 3000usize);
    let input = common::write_npy(dir.path(), "strip.npy", w, h, &vec![1.5; w * h]);
    let out = dir.path().join("strip.png");
    let o = heatscope(&["render", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--width", "4000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let widest = max * w / h;
    assert!(err.contains(&format!("--width {widest} or less")) && err.contains("4000 x 6000000"), "{err}");
    assert!(!out.exists());
    // The width it names works.
    let o =
        heatscope(&["render", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--width", &widest.to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_broken_tour_is_refused_before_any_window_opens() {
    let dir = tempfile::tempdir().unwrap();
    let tour = dir.path().join("tour.json");
    std::fs::write(&tour, "{\"steps\": [{\"file\": \"a.tif\", \"overlays\": [\"glow\"]}]}").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope")).arg("--tour").arg(&tour).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("tour.json: step 1: unknown overlay \"glow\""), "{err}");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .arg("--tour")
        .arg(dir.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read the tour"));
}
