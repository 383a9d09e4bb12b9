//! What the labels are checked against, measured on noiseless images: islands (8-connected regions
//! above a threshold), flux peaks (local maxima above a threshold, at least a beam apart), the
//! largest angular size of a region, enclosed holes, the Fanaroff-Riley ratio of a galaxy and how
//! much of a circle a ring pattern covers. The definitions are those of docs/radioqa-sim.md. Pure
//! functions; runs on the generator's `heatscope-sim-N` threads.

/// The 8 neighbours of a pixel.
const NEIGHBOURS: [(isize, isize); 8] = [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)];

fn neighbours(i: usize, n: usize) -> impl Iterator<Item = usize> {
    let (x, y) = ((i % n) as isize, (i / n) as isize);
    NEIGHBOURS.iter().filter_map(move |&(dx, dy)| {
        let (a, b) = (x + dx, y + dy);
        (a >= 0 && b >= 0 && (a as usize) < n && (b as usize) < n).then(|| b as usize * n + a as usize)
    })
}

/// Connected regions of the pixels where `inside` holds (8-connectivity): a label per pixel (0 =
/// outside, k = region k) and the pixel count of each region (index k - 1).
pub fn regions(inside: &[bool], n: usize) -> (Vec<u32>, Vec<usize>) {
    let mut label = vec![0u32; n * n];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..n * n {
        if !inside[start] || label[start] != 0 {
            continue;
        }
        sizes.push(0);
        let id = sizes.len() as u32;
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            sizes[id as usize - 1] += 1;
            for j in neighbours(i, n) {
                if inside[j] && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            }
        }
    }
    (label, sizes)
}

/// The pixels of `img` above `threshold` (NaN is below).
pub fn above(img: &[f32], threshold: f64) -> Vec<bool> {
    img.iter().map(|&v| f64::from(v) > threshold).collect()
}

/// The number of islands: 8-connected regions of `img` above `threshold`.
pub fn count_islands(img: &[f32], n: usize, threshold: f64) -> usize {
    regions(&above(img, threshold), n).1.len()
}

/// A flux peak: pixel position and value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Peak {
    pub x: usize,
    pub y: usize,
    pub value: f32,
}

/// Flux peaks of `img`: pixels above `threshold` that are local maxima (higher than each of their 8
/// neighbours; of equal pixels the first in raster order), taken brightest first and kept when at
/// least `min_separation` pixels from every brighter peak kept.
pub fn peaks(img: &[f32], n: usize, threshold: f64, min_separation: f64) -> Vec<Peak> {
    let mut candidates: Vec<usize> = (0..n * n)
        .filter(|&i| {
            let v = img[i];
            f64::from(v) > threshold && neighbours(i, n).all(|j| v > img[j] || (v == img[j] && i < j))
        })
        .collect();
    candidates.sort_by(|&a, &b| img[b].total_cmp(&img[a]).then(a.cmp(&b)));
    let mut kept: Vec<Peak> = Vec::new();
    for i in candidates {
        let (x, y) = (i % n, i / n);
        let far = kept.iter().all(|p| {
            let (dx, dy) = (p.x as f64 - x as f64, p.y as f64 - y as f64);
            dx.hypot(dy) >= min_separation
        });
        if far {
            kept.push(Peak { x, y, value: img[i] });
        }
    }
    kept
}

/// Largest angular size of the pixels in `mask`, in pixels: the largest distance between the centres
/// of two of its pixels (0 for fewer than two). Only pixels on the mask's edge can be the farthest
/// apart, so only those are compared.
pub fn largest_size(mask: &[bool], n: usize) -> f64 {
    let edge: Vec<(f64, f64)> = (0..n * n)
        .filter(|&i| mask[i] && (neighbours(i, n).count() < 8 || neighbours(i, n).any(|j| !mask[j])))
        .map(|i| ((i % n) as f64, (i / n) as f64))
        .collect();
    let mut best = 0f64;
    for (k, a) in edge.iter().enumerate() {
        for b in &edge[k + 1..] {
            best = best.max((a.0 - b.0).hypot(a.1 - b.1));
        }
    }
    best
}

/// Whether some pixel of `mask` lies within `margin` pixels of the image border.
pub fn touches_border(mask: &[bool], n: usize, margin: usize) -> bool {
    (0..n * n).any(|i| {
        let (x, y) = (i % n, i / n);
        mask[i] && (x < margin || y < margin || x + margin >= n || y + margin >= n)
    })
}

/// Whether `mask` encloses a hole: a region outside the mask, of at least `min_area` pixels, that
/// does not reach the image border (4-connectivity for the outside, the dual of the mask's 8).
pub fn encloses_hole(mask: &[bool], n: usize, min_area: usize) -> bool {
    let mut seen = vec![false; n * n];
    let mut stack = Vec::new();
    for start in 0..n * n {
        if mask[start] || seen[start] {
            continue;
        }
        let (mut area, mut open) = (0usize, false);
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            area += 1;
            let (x, y) = (i % n, i / n);
            open |= x == 0 || y == 0 || x + 1 == n || y + 1 == n;
            let four = [
                (x > 0).then(|| i - 1),
                (x + 1 < n).then_some(i + 1),
                (y > 0).then(|| i - n),
                (y + 1 < n).then_some(i + n),
            ];
            for j in four.into_iter().flatten() {
                if !mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if !open && area >= min_area {
            return true;
        }
    }
    false
}

/// Mark every pixel within `radius` of a pixel of `mask` (a disc dilation).
pub fn dilate(mask: &[bool], n: usize, radius: f64) -> Vec<bool> {
    let r = radius.ceil() as isize;
    let mut out = vec![false; n * n];
    for i in (0..n * n).filter(|&i| mask[i]) {
        let (x, y) = ((i % n) as isize, (i / n) as isize);
        for dy in -r..=r {
            for dx in -r..=r {
                let (a, b) = (x + dx, y + dy);
                if a >= 0
                    && b >= 0
                    && (a as usize) < n
                    && (b as usize) < n
                    && ((dx * dx + dy * dy) as f64) <= radius * radius
                {
                    out[b as usize * n + a as usize] = true;
                }
            }
        }
    }
    out
}

/// The Fanaroff-Riley ratio of a radio galaxy: the distance between the brightest points on its two
/// sides divided by its largest size (Fanaroff & Riley 1974). `total` is the galaxy's noiseless
/// image, `side_a` and `side_b` the images of each side's emission alone (jets, lobes, hot spots),
/// `mask` the galaxy's pixels above the island threshold. A pixel belongs to the side whose own
/// emission is brighter there; pixels within `core_radius` of the core do not count. None when a side
/// has no pixel in the mask or the size is zero.
pub fn fr_ratio(
    total: &[f32],
    side_a: &[f32],
    side_b: &[f32],
    mask: &[bool],
    n: usize,
    core: (f64, f64),
    core_radius: f64,
) -> Option<f64> {
    let mut best: [Option<(f32, usize)>; 2] = [None, None];
    for i in (0..n * n).filter(|&i| mask[i]) {
        let (x, y) = ((i % n) as f64, (i / n) as f64);
        if (x - core.0).hypot(y - core.1) < core_radius {
            continue;
        }
        let side = usize::from(side_b[i] > side_a[i]);
        if best[side].is_none_or(|(v, _)| total[i] > v) {
            best[side] = Some((total[i], i));
        }
    }
    let (Some((_, a)), Some((_, b))) = (best[0], best[1]) else { return None };
    let size = largest_size(mask, n);
    let (ax, ay, bx, by) = ((a % n) as f64, (a / n) as f64, (b % n) as f64, (b / n) as f64);
    (size > 0.0).then(|| (ax - bx).hypot(ay - by) / size)
}

/// The share of a circle of `radius` about (`cx`, `cy`) where `img` exceeds `threshold`, sampled at
/// 360 points (nearest pixel; points off the image count as below).
pub fn circle_share_above(img: &[f32], n: usize, cx: f64, cy: f64, radius: f64, threshold: f64) -> f64 {
    let hits = (0..360)
        .filter(|&k| {
            let t = f64::from(k).to_radians();
            let (x, y) = ((cx + radius * t.cos()).round(), (cy + radius * t.sin()).round());
            x >= 0.0
                && y >= 0.0
                && (x as usize) < n
                && (y as usize) < n
                && f64::from(img[y as usize * n + x as usize]) > threshold
        })
        .count();
    hits as f64 / 360.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: usize, on: &[(usize, usize, f32)]) -> Vec<f32> {
        let mut img = vec![0f32; n * n];
        for &(x, y, v) in on {
            img[y * n + x] = v;
        }
        img
    }

    #[test]
    fn islands_join_diagonally_and_peaks_keep_a_beam_apart() {
        // Two pixels touching at a corner are one island; a third apart is another.
        let img = image(10, &[(2, 2, 9.0), (3, 3, 8.0), (7, 7, 6.0)]);
        assert_eq!(count_islands(&img, 10, 3.0), 2);
        // (2,2) beats its neighbour (3,3); (7,7) is a peak; with separation 7 it is dropped.
        let p = peaks(&img, 10, 5.0, 2.0);
        assert_eq!(p.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(), [(2, 2), (7, 7)]);
        assert_eq!(peaks(&img, 10, 5.0, 7.1).len(), 1);
        assert_eq!(peaks(&img, 10, 6.5, 1.0).len(), 1, "the 6 is below the threshold");
        // Equal neighbours: one peak, not two, not none.
        let flat = image(10, &[(4, 4, 7.0), (5, 4, 7.0)]);
        assert_eq!(peaks(&flat, 10, 5.0, 1.0).len(), 1);
    }

    #[test]
    fn sizes_holes_and_borders() {
        let n = 20;
        let mut ring = vec![false; n * n];
        for k in 0..360 {
            let t = f64::from(k).to_radians();
            let (x, y) = ((10.0 + 6.0 * t.cos()).round() as usize, (10.0 + 6.0 * t.sin()).round() as usize);
            ring[y * n + x] = true;
        }
        assert!(encloses_hole(&ring, n, 20));
        assert!(!encloses_hole(&ring, n, 500));
        let size = largest_size(&ring, n);
        assert!((12.0..=13.0).contains(&size), "{size}");
        assert!(!touches_border(&ring, n, 3));
        assert!(touches_border(&ring, n, 5));
        // A gap in the ring opens the hole.
        ring[10 * n + 16] = false;
        ring[9 * n + 16] = false;
        ring[11 * n + 16] = false;
        assert!(!encloses_hole(&ring, n, 20));
        let d = dilate(&image(n, &[(10, 10, 1.0)]).iter().map(|&v| v > 0.0).collect::<Vec<_>>(), n, 2.0);
        assert_eq!(d.iter().filter(|&&b| b).count(), 13);
    }

    #[test]
    fn the_fr_ratio_compares_the_brightest_points_with_the_size() {
        let n = 40;
        // A line from x = 5 to x = 35 on row 20, core at 20; brightest points at 8 and 33.
        let mut a = vec![0f32; n * n];
        let mut b = vec![0f32; n * n];
        for x in 5..=35 {
            let v = 1.0 + f32::from(x == 8 || x == 33) * 5.0;
            if x < 20 { a[20 * n + x] = v } else { b[20 * n + x] = v }
        }
        let total: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let mask = above(&total, 0.5);
        let r = fr_ratio(&total, &a, &b, &mask, n, (20.0, 20.0), 2.0).unwrap();
        assert!((r - 25.0 / 30.0).abs() < 1e-9);
        // The circle crosses the line twice, a few samples each.
        let share = circle_share_above(&total, n, 20.0, 20.0, 12.0, 0.5);
        assert!(share > 0.0 && share < 0.05, "{share}");
    }
}
