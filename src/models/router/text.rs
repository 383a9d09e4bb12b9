//! What the router reads in a question: its words (lowercased, control characters and punctuation
//! dropped, capped in length), the regions it names (in the order named, typos of one letter forgiven)
//! and the hashed word and character n-grams the classifier weighs. Pure functions; any thread.

use crate::types::REGIONS;

/// Characters of a question the router reads; the rest of a longer text is ignored.
pub const MAX_CHARS: usize = 2000;

/// The token a named region becomes in the features, so the classifier learns "a region" rather
/// than each name.
const REGION_TOKEN: &str = "zregionz";

/// The question's words: lowercase, letters, digits and `/` kept (`I/N`), `'` dropped, everything
/// else a separator. Only the first [`MAX_CHARS`] characters are read.
pub fn words(question: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in question.chars().take(MAX_CHARS).flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '/' {
            word.push(c);
        } else if c == '\'' || c == '’' {
            // "scene's" reads as "scenes".
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// One side of a region name: vertical (top/bottom), horizontal (left/right), a whole quadrant, or
/// the centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Top,
    Bottom,
    Left,
    Right,
    Whole(usize),
}

const TOP: [&str; 5] = ["top", "upper", "north", "northern", "up"];
const BOTTOM: [&str; 5] = ["bottom", "lower", "south", "southern", "down"];
const LEFT: [&str; 4] = ["left", "west", "western", "lefthand"];
const RIGHT: [&str; 4] = ["right", "east", "eastern", "righthand"];
const CENTRE: [&str; 5] = ["centre", "center", "middle", "central", "centered"];
const WHOLE: [(&str, usize); 20] = [
    ("topleft", 0),
    ("upperleft", 0),
    ("northwest", 0),
    ("nw", 0),
    ("topright", 1),
    ("upperright", 1),
    ("northeast", 1),
    ("ne", 1),
    ("bottomleft", 2),
    ("lowerleft", 2),
    ("southwest", 2),
    ("sw", 2),
    ("bottomright", 3),
    ("lowerright", 3),
    ("southeast", 3),
    ("se", 3),
    ("tl", 0),
    ("tr", 1),
    ("bl", 2),
    ("br", 3),
];

/// Words one letter away from a region word that are words of their own, never read as typos.
const NOT_TYPOS: [&str; 24] = [
    "power", "tower", "lower", "mower", "eight", "light", "might", "night", "sight", "fight", "tight", "lift", "loft",
    "lent", "lest", "enter", "worth", "forth", "mouth", "youth", "bottoms", "eats", "easy", "meddle",
];

/// Damerau-Levenshtein distance of at most one (a letter changed, added, dropped or two swapped).
fn within_one(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[start..], &b[start..]);
    let end = ra.iter().rev().zip(rb.iter().rev()).take_while(|(x, y)| x == y).count();
    let (ma, mb) = (&ra[..ra.len() - end.min(ra.len())], &rb[..rb.len() - end.min(rb.len())]);
    match (ma.len(), mb.len()) {
        (0, 0) | (1, 1) | (0, 1) | (1, 0) => true,
        (2, 2) => ma[0] == mb[1] && ma[1] == mb[0],
        _ => false,
    }
}

/// `word` as `vocabulary` spells it: exactly, or (words of four letters or more, not a word of its
/// own) with one letter wrong.
fn spelled(word: &str, vocabulary: &[&str]) -> bool {
    vocabulary.contains(&word)
        || (word.chars().count() >= 4
            && !NOT_TYPOS.contains(&word)
            && vocabulary.iter().any(|v| v.len() >= 4 && v.len().abs_diff(word.len()) <= 1 && within_one(word, v)))
}

fn part(word: &str) -> Option<Part> {
    if let Some(&(_, k)) = WHOLE.iter().find(|(w, _)| *w == word) {
        return Some(Part::Whole(k));
    }
    if spelled(word, &CENTRE) {
        return Some(Part::Whole(4));
    }
    [(&TOP[..], Part::Top), (&BOTTOM[..], Part::Bottom), (&LEFT[..], Part::Left), (&RIGHT[..], Part::Right)]
        .into_iter()
        .find(|(v, _)| spelled(word, v))
        .map(|(_, p)| p)
}

fn quadrant(vertical: Part, horizontal: Part) -> Option<usize> {
    match (vertical, horizontal) {
        (Part::Top, Part::Left) => Some(0),
        (Part::Top, Part::Right) => Some(1),
        (Part::Bottom, Part::Left) => Some(2),
        (Part::Bottom, Part::Right) => Some(3),
        _ => None,
    }
}

/// Where each region is named in `words`: (first word, words it spans, region index in [`REGIONS`]).
/// "top left", "upper-left", "north west", "left top", "NW", "centre", "middle" and one-letter typos
/// of them; a lone "top" or "left" names no region.
fn mentions(words: &[String]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let here = part(&words[i]);
        let next = words.get(i + 1).and_then(|w| part(w));
        match (here, next) {
            (Some(Part::Whole(k)), _) => {
                out.push((i, 1, k));
                i += 1;
            }
            (Some(a), Some(b)) if quadrant(a, b).or_else(|| quadrant(b, a)).is_some() => {
                out.push((i, 2, quadrant(a, b).or_else(|| quadrant(b, a)).unwrap_or(0)));
                i += 2;
            }
            _ => i += 1,
        }
    }
    out
}

/// The regions `question` names, as indices into [`REGIONS`], each once, in the order first named.
pub fn regions(question: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (_, _, k) in mentions(&words(question)) {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// [`regions`] as the canonical names.
pub fn region_names(regions: &[usize]) -> Vec<String> {
    regions.iter().map(|&k| REGIONS[k].to_string()).collect()
}

/// The words with every region named replaced by one token, and how many distinct regions there were.
fn masked(question: &str) -> (Vec<String>, usize) {
    let words = words(question);
    let found = mentions(&words);
    let mut distinct: Vec<usize> = found.iter().map(|m| m.2).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    let mut next = found.iter().peekable();
    while i < words.len() {
        match next.peek() {
            Some(&&(at, span, _)) if at == i => {
                out.push(REGION_TOKEN.to_string());
                i += span;
                next.next();
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    (out, distinct.len())
}

/// FNV-1a over `parts`, each ended by a separator byte.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The hashed features of `question` in `1 << bits` buckets, each with its weight (the vector has
/// unit length): the number of regions named, word unigrams and bigrams (regions masked), and the
/// character 3- to 5-grams of each word with its boundaries. Repeated features add up.
pub fn features(question: &str, bits: u32) -> Vec<(u32, f32)> {
    let (words, n_regions) = masked(question);
    let mask = (1u64 << bits) - 1;
    let mut ids: Vec<u32> = Vec::with_capacity(words.len() * 12 + 2);
    let mut push = |parts: &[&str]| ids.push(u32::try_from(hash(parts) & mask).unwrap_or(0));
    push(&["regions", &n_regions.min(3).to_string()]);
    push(&["bias"]);
    for (i, w) in words.iter().enumerate() {
        push(&["w", w]);
        let prev = if i == 0 { "<s>" } else { words[i - 1].as_str() };
        push(&["b", prev, w]);
        if w == REGION_TOKEN {
            continue;
        }
        let chars: Vec<char> = format!("<{w}>").chars().collect();
        for n in 3..=5 {
            for win in chars.windows(n) {
                let gram: String = win.iter().collect();
                push(&["c", &gram]);
            }
        }
    }
    ids.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(ids.len());
    for id in ids {
        match out.last_mut() {
            Some((last, v)) if *last == id => *v += 1.0,
            _ => out.push((id, 1.0)),
        }
    }
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt().max(1e-6);
    for (_, v) in &mut out {
        *v /= norm;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &str) -> Vec<&'static str> {
        regions(q).into_iter().map(|k| REGIONS[k]).collect()
    }

    #[test]
    fn regions_are_found_in_the_ways_people_write_them() {
        assert_eq!(names("Is the top-left region affected?"), ["top-left"]);
        assert_eq!(names("upper right vs the middle, which is worse"), ["top-right", "centre"]);
        assert_eq!(names("NW or SE quadrant?"), ["top-left", "bottom-right"]);
        assert_eq!(names("north west corner and center"), ["top-left", "centre"]);
        assert_eq!(names("botom rigth"), ["bottom-right"]);
        assert_eq!(names("is the cnetre affected"), ["centre"]);
        assert_eq!(names("lower-left and lower left again"), ["bottom-left"]);
        assert_eq!(names("left top"), ["top-left"]);
        assert_eq!(names("TL or BR?"), ["top-left", "bottom-right"]);
        assert_eq!(names("the right-down area and the up left"), ["bottom-right", "top-left"]);
    }

    #[test]
    fn lone_sides_and_lookalike_words_name_no_region() {
        assert!(names("the top half of the map").is_empty());
        assert!(names("scroll down and look up").is_empty());
        assert!(names("use power control and a lower tower").is_empty());
        assert!(names("what is the weather tonight").is_empty());
        assert!(names("").is_empty());
    }

    #[test]
    fn words_drop_punctuation_and_control_characters_and_stop_at_the_cap() {
        assert_eq!(words("What's the I/N\u{0}\u{7}here?!"), ["whats", "the", "i/n", "here"]);
        assert_eq!(words(&"a ".repeat(10 * MAX_CHARS)).len(), MAX_CHARS / 2);
    }

    #[test]
    fn within_one_counts_a_single_edit_or_swap() {
        assert!(within_one("right", "rigth"));
        assert!(within_one("centre", "centr"));
        assert!(within_one("left", "lefft"));
        assert!(!within_one("right", "rihgtt"));
        assert!(!within_one("bottom", "bttm"));
    }

    #[test]
    fn features_have_unit_length_and_mask_region_names() {
        let f = features("Is the top-left region affected?", 12);
        let len: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((len - 1.0).abs() < 1e-4);
        assert!(f.iter().all(|&(i, _)| i < 1 << 12));
        // The same question about another region has the same features.
        assert_eq!(f, features("Is the bottom right region affected?", 12));
        assert_ne!(f, features("Is the region affected?", 12));
    }
}
