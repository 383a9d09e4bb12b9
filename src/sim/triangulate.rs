//! Linear interpolation of scattered readings on their Delaunay triangulation (Bowyer-Watson,
//! quadratic in the number of readings, which is at most a few thousand here), for the observation
//! variants. Pixels outside the readings' convex hull take the nearest reading. Any thread.

/// A triangle of reading indices with its circumcircle (centre row, col and squared radius).
#[derive(Clone, Copy)]
struct Tri {
    v: [usize; 3],
    cr: f64,
    cc: f64,
    r2: f64,
}

fn circumcircle(p: &[(f64, f64)], v: [usize; 3]) -> Option<Tri> {
    let ((ay, ax), (by, bx), (cy, cx)) = (p[v[0]], p[v[1]], p[v[2]]);
    let d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
    if d.abs() < 1e-12 {
        return None;
    }
    let (a2, b2, c2) = (ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy);
    let ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d;
    let uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d;
    Some(Tri { v, cr: uy, cc: ux, r2: (ax - ux).powi(2) + (ay - uy).powi(2) })
}

/// Delaunay triangles of `points` (row, col) as index triples.
pub fn delaunay(points: &[(f64, f64)]) -> Vec<[usize; 3]> {
    let n = points.len();
    if n < 3 {
        return Vec::new();
    }
    let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
    for &(r, c) in points {
        lo = (lo.0.min(r), lo.1.min(c));
        hi = (hi.0.max(r), hi.1.max(c));
    }
    let span = (hi.0 - lo.0).max(hi.1 - lo.1).max(1.0);
    let (mr, mc) = ((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0);
    // A triangle holding every point far inside it; its corners are indices n, n+1, n+2.
    let mut p = points.to_vec();
    p.extend([(mr - 20.0 * span, mc - 20.0 * span), (mr + 20.0 * span, mc), (mr - 20.0 * span, mc + 20.0 * span)]);
    let mut tris: Vec<Tri> = circumcircle(&p, [n, n + 1, n + 2]).into_iter().collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (i, &(r, c)) in points.iter().enumerate() {
        edges.clear();
        tris.retain(|t| {
            let inside = (r - t.cr).powi(2) + (c - t.cc).powi(2) < t.r2;
            if inside {
                for (a, b) in [(t.v[0], t.v[1]), (t.v[1], t.v[2]), (t.v[2], t.v[0])] {
                    edges.push((a.min(b), a.max(b)));
                }
            }
            !inside
        });
        // The cavity's boundary: the edges only one removed triangle had.
        edges.sort_unstable();
        let mut k = 0;
        while k < edges.len() {
            let shared = k + 1 < edges.len() && edges[k] == edges[k + 1];
            if shared {
                k += 2;
                continue;
            }
            if let Some(t) = circumcircle(&p, [edges[k].0, edges[k].1, i]) {
                tris.push(t);
            }
            k += 1;
        }
    }
    tris.into_iter().filter(|t| t.v.iter().all(|&v| v < n)).map(|t| t.v).collect()
}

/// Readings (row, col, value) linearly interpolated at every pixel centre of a `size` x `size` grid.
pub fn linear(size: usize, readings: &[(f32, f32, f32)], empty: f64) -> Vec<f64> {
    let mut out = vec![f64::NAN; size * size];
    if readings.is_empty() {
        return vec![empty; size * size];
    }
    let pts: Vec<(f64, f64)> = readings.iter().map(|&(r, c, _)| (f64::from(r), f64::from(c))).collect();
    for t in delaunay(&pts) {
        let [a, b, c] = t.map(|i| pts[i]);
        let det = (b.0 - c.0) * (a.1 - c.1) + (c.1 - b.1) * (a.0 - c.0);
        if det.abs() < 1e-12 {
            continue;
        }
        let vals = t.map(|i| f64::from(readings[i].2));
        let (r0, r1) = (a.0.min(b.0).min(c.0), a.0.max(b.0).max(c.0));
        let (c0, c1) = (a.1.min(b.1).min(c.1), a.1.max(b.1).max(c.1));
        let rows = (r0 - 0.5).ceil().max(0.0) as usize..=((r1 - 0.5).floor().min(size as f64 - 1.0)).max(-1.0) as usize;
        for row in rows {
            let pr = row as f64 + 0.5;
            if pr < r0 || pr > r1 {
                continue;
            }
            let cols =
                (c0 - 0.5).ceil().max(0.0) as usize..=((c1 - 0.5).floor().min(size as f64 - 1.0)).max(0.0) as usize;
            for col in cols {
                let pc = col as f64 + 0.5;
                let wa = ((b.0 - c.0) * (pc - c.1) + (c.1 - b.1) * (pr - c.0)) / det;
                let wb = ((c.0 - a.0) * (pc - c.1) + (a.1 - c.1) * (pr - c.0)) / det;
                let wc = 1.0 - wa - wb;
                if wa >= -1e-9 && wb >= -1e-9 && wc >= -1e-9 {
                    out[row * size + col] = wa * vals[0] + wb * vals[1] + wc * vals[2];
                }
            }
        }
    }
    // Outside the hull: the nearest reading.
    for row in 0..size {
        for col in 0..size {
            let o = &mut out[row * size + col];
            if o.is_nan() {
                let (pr, pc) = (row as f64 + 0.5, col as f64 + 0.5);
                let near = readings.iter().min_by(|x, y| {
                    let dx = (f64::from(x.0) - pr).powi(2) + (f64::from(x.1) - pc).powi(2);
                    let dy = (f64::from(y.0) - pr).powi(2) + (f64::from(y.1) - pc).powi(2);
                    dx.total_cmp(&dy)
                });
                *o = near.map_or(empty, |n| f64::from(n.2));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    #[test]
    fn the_triangulation_of_random_points_is_delaunay_and_covers_the_hull() {
        let mut rng = Rng::new(3);
        let pts: Vec<(f64, f64)> = (0..200).map(|_| (rng.range(0.0, 64.0), rng.range(0.0, 64.0))).collect();
        let tris = delaunay(&pts);
        // Euler: a triangulation of n points with h on the hull has 2n - 2 - h triangles.
        assert!(tris.len() > 2 * 200 - 2 - 40 && tris.len() <= 2 * 200 - 5, "{} triangles", tris.len());
        for t in &tris {
            let c = circumcircle(&pts, *t).expect("no degenerate triangle");
            for (i, &(r, cc)) in pts.iter().enumerate() {
                if !t.contains(&i) {
                    assert!((r - c.cr).powi(2) + (cc - c.cc).powi(2) >= c.r2 - 1e-6, "point {i} inside a circumcircle");
                }
            }
        }
    }

    #[test]
    fn linear_interpolation_reproduces_a_plane_inside_the_hull() {
        let plane = |r: f64, c: f64| 0.5 * r - 0.25 * c + 3.0;
        let corners = [(0.0, 0.0), (0.0, 32.0), (32.0, 0.0), (32.0, 32.0), (10.0, 20.0), (25.0, 7.0)];
        let readings: Vec<(f32, f32, f32)> =
            corners.iter().map(|&(r, c)| (r as f32, c as f32, plane(r, c) as f32)).collect();
        let grid = linear(32, &readings, -20.0);
        for r in 0..31 {
            for c in 0..31 {
                let want = plane(r as f64 + 0.5, c as f64 + 0.5);
                assert!((grid[r * 32 + c] - want).abs() < 1e-4, "({r}, {c}): {} vs {want}", grid[r * 32 + c]);
            }
        }
        assert_eq!(linear(8, &[], -20.0), vec![-20.0; 64]);
        let two = linear(8, &[(1.0, 1.0, 4.0), (6.0, 6.0, 4.0)], -20.0);
        assert!(two.iter().all(|&v| v == 4.0), "fewer than three readings: the nearest one");
    }
}
