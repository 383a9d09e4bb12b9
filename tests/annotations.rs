//! Annotations from other tools: every format read from a hand-written fixture (tests/fixtures/
//! annotations) with its boxes asserted in pixels, class names for YOLO, image matching for COCO
//! and CSV, VOC size scaling, GeoJSON on a UTM image (with a crs member, in lon/lat, and projected
//! without one), the projections against PROJ, broken files, write -> read round trips, the real
//! DeepForest files and `heatscope annotations` as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};

use heatscope::io::annotations::{
    AnnotationError, ImageContext, MAX_ANNOTATIONS, MAX_FILE_BYTES, parse, read, sidecars, utm_from_lonlat,
    web_mercator_from_lonlat, write,
};
use heatscope::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape, GeoTransform};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/annotations").join(name)
}

/// The 200 x 100 image the fixtures describe.
fn tile() -> ImageContext {
    ImageContext::new("tile.png", 200, 100)
}

/// The same image georeferenced: 0.5 m pixels in UTM 18N, top-left corner at E 500000, N 4427800.
fn tile_utm() -> ImageContext {
    ImageContext {
        transform: Some(GeoTransform([500_000.0, 0.5, 0.0, 4_427_800.0, 0.0, -0.5])),
        crs: Some("EPSG:32618".into()),
        ..tile()
    }
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> AnnotationShape {
    AnnotationShape::Box { x0, y0, x1, y1 }
}

fn labels(set: &AnnotationSet) -> Vec<&str> {
    set.items.iter().map(|a| a.label.as_str()).collect()
}

fn has_note(set: &AnnotationSet, text: &str) -> bool {
    set.notes.iter().any(|n| n.contains(text))
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn assert_bounds(shape: &AnnotationShape, want: [f64; 4], tol: f64) {
    let b = shape.bounds().unwrap();
    assert!(b.iter().zip(want).all(|(x, y)| close(*x, y, tol)), "{b:?} != {want:?}");
}

#[test]
fn voc_boxes_as_written_reversed_corners_ordered_and_nan_skipped() {
    let set = read(&fixture("tile.xml"), &tile()).unwrap();
    assert_eq!(set.format, AnnotationFormat::Voc);
    assert_eq!(labels(&set), ["Tree", "Dead", "Tree"]);
    assert_eq!(set.items[0].shape, rect(10.0, 20.0, 30.0, 40.0));
    assert_eq!(set.items[1].shape, rect(50.5, 60.0, 70.0, 80.25));
    assert!(set.items[1].difficult && !set.items[0].difficult);
    assert_eq!(set.items[2].shape, rect(180.0, 85.0, 190.0, 95.0));
    assert!(has_note(&set, "skipped 1 entries with NaN"), "{:?}", set.notes);
    assert_eq!(set.counts().into_iter().collect::<Vec<_>>(), [("Dead".to_string(), 1), ("Tree".to_string(), 2)]);
}

#[test]
fn voc_declaring_another_size_is_scaled_to_the_image_with_a_note() {
    let set = read(&fixture("half_size.xml"), &tile()).unwrap();
    assert_eq!(set.items[0].shape, rect(20.0, 40.0, 60.0, 80.0));
    assert!(has_note(&set, "declares a 100 x 50 image but the image is 200 x 100"), "{:?}", set.notes);
    // A file of another image is used with a note: a VOC file describes one image.
    let other = read(&fixture("half_size.xml"), &ImageContext::new("elsewhere.png", 100, 50)).unwrap();
    assert_eq!(other.items[0].shape, rect(10.0, 20.0, 30.0, 40.0));
    assert!(has_note(&other, "describes one image, tile.png, not elsewhere.png"), "{:?}", other.notes);
}

#[test]
fn coco_picks_the_image_by_file_name_and_refuses_a_missing_one() {
    let set = read(&fixture("two_images.json"), &tile()).unwrap();
    assert_eq!(set.format, AnnotationFormat::Coco);
    assert_eq!(labels(&set), ["tree", "snag", "snag"]);
    assert_eq!(set.items[0].shape, rect(10.0, 20.0, 40.0, 60.0));
    assert_eq!(set.items[0].score, Some(0.75));
    assert_eq!(set.items[1].shape, AnnotationShape::Polygon(vec![[50.0, 10.0], [70.0, 10.0], [60.0, 30.0]]));
    // RLE mask: its bbox; iscrowd reads as difficult.
    assert_eq!(set.items[2].shape, rect(100.0, 50.0, 110.0, 60.0));
    assert!(set.items[2].difficult);
    assert!(has_note(&set, "1 run-length-encoded masks kept as their boxes"), "{:?}", set.notes);
    // The negative width and the null coordinate are skipped, not the file.
    assert!(has_note(&set, "skipped 2 entries"), "{:?}", set.notes);
    // With a prefix on the image's name.
    let prefixed = read(&fixture("two_images.json"), &ImageContext::new("neon_tile.png", 200, 100)).unwrap();
    assert_eq!(prefixed.items, set.items);

    let e = read(&fixture("two_images.json"), &ImageContext::new("missing.png", 200, 100)).unwrap_err();
    assert!(matches!(e, AnnotationError::NoEntry { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("missing.png") && msg.contains("other.png, images/tile.png"), "{msg}");
    assert!(msg.ends_with("two_images.json)"), "the path comes last: {msg}");
}

#[test]
fn yolo_with_classes_txt_data_yaml_and_no_names() {
    let set = read(&fixture("yolo_classes/tile.txt"), &tile()).unwrap();
    assert_eq!(set.format, AnnotationFormat::Yolo);
    assert_eq!(labels(&set), ["tree", "snag", "snag"]);
    assert_bounds(&set.items[0].shape, [10.0, 10.0, 30.0, 30.0], 1e-9);
    assert_bounds(&set.items[1].shape, [80.0, 30.0, 120.0, 70.0], 1e-9);
    assert_eq!(set.items[1].score, Some(0.88));
    let AnnotationShape::Polygon(p) = &set.items[2].shape else { panic!("a segmentation line is a polygon") };
    assert_eq!(p, &vec![[20.0, 10.0], [40.0, 10.0], [60.0, 30.0]]);
    assert!(has_note(&set, "classes.txt"), "{:?}", set.notes);

    let yaml = read(&fixture("yolo_yaml/labels/tile.txt"), &tile()).unwrap();
    assert_eq!(labels(&yaml), ["tree", "class 2"]);
    assert_bounds(&yaml.items[0].shape, [0.0, 0.0, 200.0, 100.0], 1e-9);
    assert!(has_note(&yaml, "data.yaml") && has_note(&yaml, "beyond the 2 names"), "{:?}", yaml.notes);

    let bare = read(&fixture("yolo_bare/tile.txt"), &tile()).unwrap();
    assert_eq!(labels(&bare), ["class 3"]);
    assert_bounds(&bare.items[0].shape, [50.0, 25.0, 150.0, 75.0], 1e-9);
    assert!(has_note(&bare, "skipped 2 entries"), "NaN and a negative width: {:?}", bare.notes);
}

#[test]
fn csv_keeps_the_rows_of_this_image() {
    let image = ImageContext::new("deepforest_tile.png", 200, 100);
    let set = read(&fixture("tile.csv"), &image).unwrap();
    assert_eq!(set.format, AnnotationFormat::Csv);
    assert_eq!(labels(&set), ["Tree", "Dead, standing"]);
    assert_eq!(set.items[0].shape, rect(10.0, 20.0, 30.0, 40.0));
    assert_eq!(set.items[0].score, Some(0.9));
    assert_eq!(set.items[1].shape, rect(40.0, 30.0, 60.0, 50.0));
    assert_eq!(set.items[1].score, None);
    assert!(has_note(&set, "skipped 1 rows of 1 other image"), "{:?}", set.notes);
    assert!(has_note(&set, "skipped 1 entries with NaN"), "{:?}", set.notes);
    // A header alone, or DeepForest's all-zero row: an image without objects.
    let header = "image_path,xmin,ymin,xmax,ymax,label\n";
    assert!(parse(Path::new("a.csv"), header.as_bytes(), &image).unwrap().items.is_empty());
    let blank = parse(Path::new("a.csv"), format!("{header}tile.png,0,0,0,0,Tree\n").as_bytes(), &image).unwrap();
    assert!(blank.items.is_empty() && has_note(&blank, "all-zero box"), "{:?}", blank.notes);
    let e = read(&fixture("tile.csv"), &ImageContext::new("nowhere.png", 10, 10)).unwrap_err();
    assert!(e.to_string().contains("2 image(s): tile.png, other.png"), "{e}");
}

#[test]
fn geojson_in_the_image_crs_and_in_lon_lat_land_on_the_same_pixels() {
    let set = read(&fixture("utm.geojson"), &tile_utm()).unwrap();
    assert_eq!(set.format, AnnotationFormat::GeoJson);
    assert_eq!(labels(&set), ["tree", "nest", "shrub", "shrub", "Point"]);
    // The axis-aligned ring reads as a box.
    assert_eq!(set.items[0].shape, rect(20.0, 20.0, 60.0, 60.0));
    assert_eq!(set.items[0].score, Some(0.9));
    assert_eq!(set.items[1].shape, AnnotationShape::Point([100.0, 50.0]));
    assert_eq!(set.items[2].shape, AnnotationShape::Polygon(vec![[120.0, 20.0], [140.0, 20.0], [130.0, 40.0]]));
    assert_eq!(set.items[3].shape, AnnotationShape::Polygon(vec![[160.0, 80.0], [180.0, 80.0], [170.0, 96.0]]));
    assert!(has_note(&set, "skipped 1 line features"), "{:?}", set.notes);
    assert!(has_note(&set, "1 features without a geometry"), "{:?}", set.notes);
    assert!(has_note(&set, "1 of 5 annotations lie wholly outside"), "{:?}", set.notes);
    assert_eq!(set.outside(200, 100), 1);

    // The same places in WGS84 lon/lat (no crs member: RFC 7946), projected to UTM 18N by heatscope.
    let ll = read(&fixture("lonlat.geojson"), &tile_utm()).unwrap();
    assert_eq!(labels(&ll), ["nest", "tree", "far"]);
    let AnnotationShape::Point([x, y]) = ll.items[0].shape else { panic!("a point") };
    assert!(close(x, 100.0, 1e-3) && close(y, 50.0, 1e-3), "{x} {y}");
    assert_bounds(&ll.items[1].shape, [20.0, 20.0, 60.0, 60.0], 1e-3);
    assert!(has_note(&ll, "converted from EPSG:4326 to the image's EPSG:32618"), "{:?}", ll.notes);
    assert!(has_note(&ll, "1 of 3 annotations lie wholly outside"), "{:?}", ll.notes);
}

#[test]
fn geojson_refusals_name_the_problem() {
    let e = read(&fixture("utm.geojson"), &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::NoGeoreference { .. }), "{e:?}");
    assert!(e.to_string().contains("the image has no georeference"), "{e}");

    let e = read(&fixture("mercator_crs.geojson"), &tile_utm()).unwrap_err();
    assert!(matches!(e, AnnotationError::CrsMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("EPSG:3857") && e.to_string().contains("EPSG:32618"), "{e}");

    let e = read(&fixture("projected_no_crs.geojson"), &tile_utm()).unwrap_err();
    assert!(matches!(e, AnnotationError::UndeclaredCrs { .. }), "{e:?}");
    assert!(e.to_string().contains("look projected") && e.to_string().contains("declares no CRS"), "{e}");
}

#[test]
fn geojson_lon_lat_on_a_web_mercator_image() {
    // 10 m pixels from x 1391000, y -3921000 (EPSG:3857).
    let image = ImageContext {
        transform: Some(GeoTransform([1_391_000.0, 10.0, 0.0, -3_921_000.0, 0.0, -10.0])),
        crs: Some("EPSG:3857".into()),
        ..ImageContext::new("merc.tif", 100, 100)
    };
    let set = read(&fixture("webmercator.geojson"), &image).unwrap();
    // pyproj: (12.5, -33.2) -> (1391493.6349, -3921880.8067).
    let AnnotationShape::Point([x, y]) = set.items[0].shape else { panic!("a point") };
    assert!(close(x, 49.363_49, 1e-4) && close(y, 88.080_67, 1e-4), "{x} {y}");
    assert_eq!(set.items[0].label, "Point");
}

/// Reference values from pyproj 3.7.2 (PROJ 9.5.1): `Transformer.from_crs("EPSG:4326", "EPSG:<code>",
/// always_xy=True).transform(lon, lat)`, printed to 0.1 mm.
#[test]
fn utm_and_web_mercator_match_proj() {
    let utm = [
        (-75.0, 40.0, 18, false, 500000.0, 4427757.2187),
        (-73.5, 41.2, 18, false, 625772.1243, 4562043.9143),
        (-77.9, 38.1, 18, false, 245707.7341, 4220883.1363),
        (15.3, -22.7, 33, true, 530812.0799, 7489658.3937),
        // 3.7 degrees west of zone 10's central meridian.
        (-119.26, 37.03, 10, false, 832705.1271, 4104745.1856),
    ];
    for (lon, lat, zone, south, e, n) in utm {
        let (ge, gn) = utm_from_lonlat(lon, lat, zone, south);
        assert!(close(ge, e, 1e-3) && close(gn, n, 1e-3), "({lon}, {lat}): {ge:.4} {gn:.4} != {e} {n}");
    }
    for (lon, lat, x, y) in [(-75.0, 40.0, -8348961.8095, 4865942.2795), (12.5, -33.2, 1391493.6349, -3921880.8067)] {
        let (gx, gy) = web_mercator_from_lonlat(lon, lat);
        assert!(close(gx, x, 1e-3) && close(gy, y, 1e-3), "({lon}, {lat}): {gx:.4} {gy:.4}");
    }
}

#[test]
fn broken_files_are_errors_with_a_place_not_panics() {
    let cases = [
        ("malformed/truncated.json", "line 2"),
        ("malformed/truncated.xml", "XML"),
        ("malformed/bad_number.xml", "line 4: <ymin> is not a number: 'two'"),
        ("malformed/short_line.txt", "line 2: 3 numbers"),
        ("malformed/bad_number.csv", "line 3: ymin is not a number: 'x'"),
        ("malformed/page.xml", "root is <html>"),
        ("malformed/other.json", "JSON without COCO"),
    ];
    for (name, want) in cases {
        let e = read(&fixture(name), &tile()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(msg.ends_with(&format!("{name})")), "{name}: the path comes last: {msg}");
    }
    // An image is not an annotation file.
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 32]].concat();
    let e = parse(Path::new("tile.json"), &png, &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::Unrecognized { .. }) && e.to_string().contains("PNG"), "{e}");
    let e = parse(Path::new("notes.md"), b"# a title\nsome words\n", &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::Unrecognized { .. }), "{e}");
    let e = read(&fixture("absent.xml"), &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::Read { .. }), "{e}");
    // An empty YOLO file is an image without objects.
    let empty = parse(Path::new("empty.txt"), b"", &tile()).unwrap();
    assert!(empty.items.is_empty() && has_note(&empty, "no objects"), "{:?}", empty.notes);
}

#[test]
fn oversized_files_and_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A sparse file: refused from its size, before any byte is read.
    let big = dir.path().join("big.json");
    std::fs::File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
    let e = read(&big, &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::TooLarge { .. }) && e.to_string().contains("too large"), "{e}");
    let many = "0 0.5 0.5 0.1 0.1\n".repeat(MAX_ANNOTATIONS + 1);
    let e = parse(Path::new("many.txt"), many.as_bytes(), &tile()).unwrap_err();
    assert!(matches!(e, AnnotationError::TooMany { .. }), "{e}");
}

/// Boxes every format holds: a fractional one, the whole image, one at the corner; scores on two.
fn sample_boxes() -> AnnotationSet {
    let item = |label: &str, shape, score| Annotation { label: label.into(), shape, score, difficult: false };
    AnnotationSet {
        source: PathBuf::new(),
        format: AnnotationFormat::Coco,
        items: vec![
            item("tree", rect(10.25, 20.5, 30.0, 40.75), Some(0.5)),
            item("dead, standing", rect(0.0, 0.0, 200.0, 100.0), None),
            item("tree", rect(199.5, 99.5, 200.0, 100.0), Some(0.125)),
        ],
        notes: vec![],
    }
}

#[test]
fn write_then_read_gives_the_same_boxes_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let set = sample_boxes();
    for format in AnnotationFormat::ALL {
        let path = dir.path().join(format!("out.{}", format.extension()));
        let notes = write(&set, format, &tile_utm(), &path).unwrap();
        assert!(notes.is_empty(), "{format}: {notes:?}");
        let back = read(&path, &tile_utm()).unwrap();
        assert_eq!(back.format, format);
        assert_eq!(back.items.len(), set.items.len(), "{format}");
        for (a, b) in set.items.iter().zip(&back.items) {
            assert_eq!(a.label, b.label, "{format}");
            assert_eq!(a.score, b.score, "{format}");
            assert_bounds(&b.shape, a.shape.bounds().unwrap(), 1e-9);
            assert!(matches!(b.shape, AnnotationShape::Box { .. }), "{format}: {:?}", b.shape);
        }
        assert!(!path.with_file_name("out.json.partial").exists());
    }
    let classes = std::fs::read_to_string(dir.path().join("classes.txt")).unwrap();
    assert_eq!(classes, "dead, standing\ntree\n");
    // On a lon/lat image GeoJSON is written without a crs member (RFC 7946).
    let ll = ImageContext {
        transform: Some(GeoTransform([-75.0, 1e-5, 0.0, 40.0, 0.0, -1e-5])),
        crs: Some("EPSG:4326".into()),
        ..tile()
    };
    let path = dir.path().join("ll.geojson");
    write(&set, AnnotationFormat::GeoJson, &ll, &path).unwrap();
    assert!(!std::fs::read_to_string(&path).unwrap().contains("crs"));
    assert_bounds(&read(&path, &ll).unwrap().items[0].shape, [10.25, 20.5, 30.0, 40.75], 1e-6);
    assert!(std::fs::read_to_string(dir.path().join("out.geojson")).unwrap().contains("urn:ogc:def:crs:EPSG::32618"));
}

#[test]
fn polygons_and_flags_survive_where_the_format_holds_them() {
    let dir = tempfile::tempdir().unwrap();
    let tri = AnnotationShape::Polygon(vec![[10.0, 10.0], [30.0, 10.0], [20.0, 25.5]]);
    let mut crowd = Annotation::new("crowd", rect(1.0, 2.0, 3.0, 4.0));
    crowd.difficult = true;
    let set = AnnotationSet {
        source: PathBuf::new(),
        format: AnnotationFormat::Coco,
        items: vec![Annotation::new("tri", tri.clone()), crowd],
        notes: vec![],
    };
    for format in [AnnotationFormat::Coco, AnnotationFormat::GeoJson] {
        let path = dir.path().join(format!("poly.{}", format.extension()));
        write(&set, format, &tile_utm(), &path).unwrap();
        let back = read(&path, &tile_utm()).unwrap();
        assert_eq!(back.items[0].shape, tri, "{format}");
        assert!(back.items[1].difficult, "{format}");
    }
    let path = dir.path().join("poly.xml");
    let notes = write(&set, AnnotationFormat::Voc, &tile(), &path).unwrap();
    assert_eq!(notes, ["1 polygons written as their bounding boxes (Pascal VOC holds boxes only)"]);
    let back = read(&path, &tile()).unwrap();
    assert_eq!(back.items[0].shape, rect(10.0, 10.0, 30.0, 25.5));
    assert!(back.items[1].difficult);
    // GeoJSON cannot be written without a georeference.
    let e = write(&set, AnnotationFormat::GeoJson, &tile(), &dir.path().join("x.geojson")).unwrap_err();
    assert!(e.to_string().contains("no georeference"), "{e}");
}

#[test]
fn real_deepforest_voc_and_csv_files() {
    let Some(real) = common::real_data() else { return };
    let rs = real.join("rs");
    let load = |name: &str| {
        let raster = heatscope::io::load(&rs.join(name), &heatscope::io::LoadOptions::default()).unwrap();
        ImageContext::of(&raster)
    };
    let soap_png = rs.join("deepforest_SOAP_061.png");
    let soap = load("deepforest_SOAP_061.png");
    assert_eq!((soap.width, soap.height, soap.file_name.as_str()), (400, 400, "deepforest_SOAP_061.png"));
    assert_eq!(sidecars(&soap_png), [rs.join("deepforest_SOAP_061.xml")]);
    let set = read(&rs.join("deepforest_SOAP_061.xml"), &soap).unwrap();
    assert_eq!(set.items.len(), 37);
    // 28 dead trees and 9 live ones (DeepForest's SOAP_061.xml).
    assert_eq!(set.counts().into_iter().collect::<Vec<_>>(), [("Alive".to_string(), 9), ("Dead".to_string(), 28)]);
    assert_eq!(set.items[0].label, "Dead");
    assert_eq!(set.items[0].shape, rect(149.0, 105.0, 173.0, 129.0));
    assert!(set.notes.is_empty(), "SOAP_061.png names this image and its size is right: {:?}", set.notes);

    let yell = load("deepforest_2019_YELL_2_541000_4977000_image_crop.png");
    let set = read(&rs.join("deepforest_2019_YELL_2_541000_4977000_image_crop.xml"), &yell).unwrap();
    assert_eq!(set.items.len(), 279);
    assert_eq!(set.items[0].shape, rect(1012.0, 161.0, 1041.0, 196.0));
    assert!(set.notes.is_empty(), "{:?}", set.notes);

    let osbs = load("deepforest_OSBS_029.tif");
    assert_eq!(osbs.crs.as_deref(), Some("EPSG:32617"));
    assert_eq!(sidecars(&rs.join("deepforest_OSBS_029.tif")), [rs.join("deepforest_OSBS_029.csv")]);
    let set = read(&rs.join("deepforest_OSBS_029.csv"), &osbs).unwrap();
    assert_eq!(set.format, AnnotationFormat::Csv);
    assert_eq!(set.items.len(), 61);
    assert_eq!(set.counts().into_iter().collect::<Vec<_>>(), [("Tree".to_string(), 61)]);
    assert_eq!(set.items[0].shape, rect(203.0, 67.0, 227.0, 90.0));
    assert_eq!(set.outside(400, 400), 0);
    assert!(set.notes.is_empty(), "{:?}", set.notes);
}

#[test]
fn cli_counts_the_real_soap_boxes_and_fails_without_annotations() {
    let Some(real) = common::real_data() else { return };
    let rs = real.join("rs");
    let soap = rs.join("deepforest_SOAP_061.png");
    let out = common::cli::ok(&common::cli::heatscope(&["annotations", soap.to_str().unwrap(), "--json"]));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["count"], 37);
    assert_eq!(lines[0]["format"], "voc");
    assert_eq!(lines[0]["labels"], serde_json::json!({"Alive": 9, "Dead": 28}));
    assert_eq!(lines[0]["outside"], 0);
    assert!(lines[0]["file"].as_str().unwrap().ends_with("deepforest_SOAP_061.xml"));

    let bare = rs.join("deepforest_SOAP_031.png");
    let err = common::cli::failed(&common::cli::heatscope(&["annotations", bare.to_str().unwrap()]));
    assert!(err.contains("no annotation file next to") && err.contains("pass --file"), "{err}");
}

#[test]
fn cli_exports_every_file_given_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("tile.png");
    image::GrayImage::new(200, 100).save(&png).unwrap();
    let err = common::cli::failed(&common::cli::heatscope(&["annotations", png.to_str().unwrap()]));
    assert!(err.contains("no annotation file next to") && err.contains("tile.png; pass --file"), "{err}");
    let out = dir.path().join("merged.txt");
    let (voc, coco) = (fixture("tile.xml"), fixture("two_images.json"));
    let args = [
        "annotations",
        png.to_str().unwrap(),
        "--file",
        voc.to_str().unwrap(),
        "--file",
        coco.to_str().unwrap(),
        "--to",
        "yolo",
        "--out",
        out.to_str().unwrap(),
    ];
    let text = common::cli::ok(&common::cli::heatscope(&args));
    assert!(text.contains("format: Pascal VOC") && text.contains("labels: Dead 1, Tree 2"), "{text}");
    assert!(text.contains("wrote 6 annotations as YOLO text"), "{text}");
    let merged = read(&out, &ImageContext::new("tile.png", 200, 100)).unwrap();
    assert_eq!(merged.items.len(), 6);
    assert_eq!(std::fs::read_to_string(dir.path().join("classes.txt")).unwrap(), "Dead\nTree\nsnag\ntree\n");
    // A file that does not parse makes the run fail with its reason and writes nothing.
    let bad = fixture("malformed/short_line.txt");
    let again = dir.path().join("again.txt");
    let o = common::cli::heatscope(&[
        "annotations",
        png.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
        "--to",
        "csv",
        "--out",
        again.to_str().unwrap(),
    ]);
    let err = common::cli::failed(&o);
    assert!(err.contains("line 2") && err.contains("short_line.txt"), "{err}");
    assert!(!again.exists());
}

#[test]
fn geojson_on_real_georeferenced_tiles_lands_where_it_was_drawn() {
    let Some(real) = common::real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    // UTM 18N (rasterio's RGB tile) and a second projected tile: boxes written as GeoJSON in the
    // file's own CRS come back on the same pixels, and their map coordinates lie inside the tile.
    for name in ["rs/rasterio_RGB.byte.tif", "rs/opengeos_naip_m_4709963_se_14_1_20200831.tif"] {
        let raster = heatscope::io::load(&real.join(name), &heatscope::io::LoadOptions::default()).unwrap();
        let image = ImageContext::of(&raster);
        assert!(image.crs.as_deref().is_some_and(|c| c.starts_with("EPSG:")), "{name}: {:?}", image.crs);
        let (w, h) = (raster.width as f64, raster.height as f64);
        let set = AnnotationSet {
            source: PathBuf::new(),
            format: AnnotationFormat::GeoJson,
            items: vec![
                Annotation::new("field", rect(w * 0.1, h * 0.2, w * 0.4, h * 0.5)),
                Annotation::new("pond", AnnotationShape::Point([w * 0.75, h * 0.25])),
            ],
            notes: vec![],
        };
        let out = dir.path().join("tile.geojson");
        write(&set, AnnotationFormat::GeoJson, &image, &out).unwrap();
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let t = raster.meta.transform.unwrap();
        let (x0, y0) = t.apply(0.0, 0.0);
        let (x1, y1) = t.apply(w, h);
        let first = &json["features"][0]["geometry"]["coordinates"][0][0];
        let (x, y) = (first[0].as_f64().unwrap(), first[1].as_f64().unwrap());
        assert!(x > x0.min(x1) && x < x0.max(x1) && y > y0.min(y1) && y < y0.max(y1), "{name}: ({x}, {y})");
        let back = read(&out, &image).unwrap();
        assert_eq!(labels(&back), ["field", "pond"]);
        assert_bounds(&back.items[0].shape, [w * 0.1, h * 0.2, w * 0.4, h * 0.5], 1e-6);
        assert_bounds(&back.items[1].shape, [w * 0.75, h * 0.25, w * 0.75, h * 0.25], 1e-6);
    }
}
