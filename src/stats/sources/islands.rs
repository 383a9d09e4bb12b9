//! Islands and their peaks by flooding: pixels above the flood threshold (in units of the local
//! noise) are added from the brightest down and joined to their 8 neighbours with a union-find; when
//! two regions meet, the lower one's summit is a peak of its own only if it stands at least the
//! prominence above the saddle where they met. What stays joined at the flood level is an island,
//! kept when its brightest pixel reaches the seed threshold. Runs on the finder's worker thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::SourceError;

/// One island before measurement: its pixels (indices, ascending) and its peaks (pixel indices,
/// brightest first).
pub struct RawIsland {
    pub pixels: Vec<usize>,
    pub peaks: Vec<usize>,
}

/// Thresholds in units of the local noise.
pub struct Thresholds {
    pub seed: f32,
    pub flood: f32,
    pub prominence: f32,
    /// Islands beyond this many make the search fail (not a radio image, or thresholds too low).
    pub max_islands: usize,
}

/// A region of the flood while it grows.
struct Region {
    /// The brightest pixel (the region's summit).
    summit: usize,
    /// Summits of regions absorbed with enough prominence.
    peaks: Vec<usize>,
}

/// The islands of the significance map `snr` (`width * height`, NaN where there is no data).
pub fn islands(
    snr: &[f32],
    width: usize,
    height: usize,
    t: &Thresholds,
    cancel: &AtomicBool,
) -> Result<Vec<RawIsland>, SourceError> {
    let mut order: Vec<usize> = (0..snr.len()).filter(|&i| snr[i] >= t.flood).collect();
    order.sort_by(|&a, &b| snr[b].total_cmp(&snr[a]).then(a.cmp(&b)));
    // Pixel -> node; node -> parent (union-find); root node -> region.
    let mut node_of: HashMap<usize, u32> = HashMap::with_capacity(order.len());
    let mut parent: Vec<u32> = Vec::with_capacity(order.len());
    let mut regions: HashMap<u32, Region> = HashMap::new();
    for (k, &p) in order.iter().enumerate() {
        if k % 65_536 == 0 && cancel.load(Ordering::Relaxed) {
            return Err(SourceError::Cancelled);
        }
        let me = parent.len() as u32;
        parent.push(me);
        node_of.insert(p, me);
        regions.insert(me, Region { summit: p, peaks: Vec::new() });
        let (c, r) = ((p % width) as i64, (p / width) as i64);
        for (dc, dr) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
            let (nc, nr) = (c + dc, r + dr);
            if nc < 0 || nr < 0 || nc >= width as i64 || nr >= height as i64 {
                continue;
            }
            let Some(&n) = node_of.get(&(nr as usize * width + nc as usize)) else { continue };
            let (a, b) = (find(&mut parent, me), find(&mut parent, n));
            if a == b {
                continue;
            }
            // The region whose summit is higher survives; the other's summit is a peak when it
            // stands `prominence` above this saddle.
            let (high, low) = if snr[regions[&a].summit] >= snr[regions[&b].summit] { (a, b) } else { (b, a) };
            let Some(lower) = regions.remove(&low) else { continue };
            let saddle = snr[p];
            let survivor = regions.get_mut(&high).ok_or(SourceError::Internal("lost a flood region"))?;
            if snr[lower.summit] - saddle >= t.prominence {
                survivor.peaks.push(lower.summit);
            }
            survivor.peaks.extend(lower.peaks);
            parent[low as usize] = high;
        }
    }
    // Group pixels by their root.
    let mut members: HashMap<u32, Vec<usize>> = HashMap::new();
    for &p in &order {
        let root = find(&mut parent, node_of[&p]);
        members.entry(root).or_default().push(p);
    }
    let mut out = Vec::new();
    for (root, region) in regions {
        if snr[region.summit] < t.seed {
            continue;
        }
        if out.len() >= t.max_islands {
            return Err(SourceError::TooManyIslands { max: t.max_islands });
        }
        let mut pixels = members.remove(&root).unwrap_or_default();
        pixels.sort_unstable();
        let mut peaks: Vec<usize> =
            std::iter::once(region.summit).chain(region.peaks.into_iter().filter(|&q| snr[q] >= t.seed)).collect();
        peaks.sort_by(|&a, &b| snr[b].total_cmp(&snr[a]).then(a.cmp(&b)));
        out.push(RawIsland { pixels, peaks });
    }
    // Brightest island first; ties by position so the order never depends on hashing.
    out.sort_by(|a, b| snr[b.peaks[0]].total_cmp(&snr[a.peaks[0]]).then(a.peaks[0].cmp(&b.peaks[0])));
    Ok(out)
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds { seed: 5.0, flood: 3.0, prominence: 1.0, max_islands: 100 }
    }

    fn grid(rows: &[&[f32]]) -> (Vec<f32>, usize, usize) {
        (rows.concat(), rows[0].len(), rows.len())
    }

    #[test]
    fn two_summits_over_a_deep_saddle_are_two_peaks_of_one_island() {
        let (snr, w, h) = grid(&[
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[0.0, 9.0, 4.0, 3.5, 4.0, 7.0, 0.0],
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]);
        let found = islands(&snr, w, h, &thresholds(), &AtomicBool::new(false)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pixels, vec![8, 9, 10, 11, 12]);
        assert_eq!(found[0].peaks, vec![8, 12]);
    }

    #[test]
    fn a_shallow_bump_is_not_a_peak_and_faint_islands_are_dropped() {
        let (snr, w, h) = grid(&[
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[0.0, 9.0, 8.0, 7.5, 8.0, 0.0, 4.0, 0.0],
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]);
        let found = islands(&snr, w, h, &thresholds(), &AtomicBool::new(false)).unwrap();
        // The 8.0 bump rises only 0.5 above its 7.5 saddle; the 4-sigma island never reaches the seed.
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].peaks, vec![9]);
    }

    #[test]
    fn diagonal_neighbours_join_and_nan_never_does() {
        let (snr, w, h) = grid(&[&[6.0, 0.0, 0.0], &[0.0, 6.0, f32::NAN], &[0.0, 0.0, 6.0]]);
        let found = islands(&snr, w, h, &thresholds(), &AtomicBool::new(false)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pixels, vec![0, 4, 8]);
        let many = Thresholds { max_islands: 1, ..thresholds() };
        let (snr, w, h) = grid(&[&[6.0, 0.0, 6.0]]);
        assert!(matches!(islands(&snr, w, h, &many, &AtomicBool::new(false)), Err(SourceError::TooManyIslands { .. })));
    }
}
