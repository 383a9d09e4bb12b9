//! Autoregressive generation: prefill the prompt, then one token at a time through the KV cache, greedy
//! or sampled (temperature, nucleus top-p, seeded), until a stop token, a stop string, the token limit
//! or a cancel. Every token comes with its log-probability under the model (temperature 1, before
//! top-p), which the app shows as how sure the model is, and on request the most likely alternatives;
//! a callback streams tokens and text as they come (text that may begin a stop string is held back
//! until it cannot). Runs on a worker thread or in the CLI; the cancel flag is set from any thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{D, Tensor};

use super::VlmError;
use super::model::{Prepared, QwenVl};
use super::text::{KvCache, log_softmax};

/// How to pick tokens and when to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens whose probabilities sum to at least this.
    pub top_p: f32,
    pub seed: u64,
    /// Tokens that end the answer; `None` = the model's eos tokens.
    pub stop_tokens: Option<Vec<u32>>,
    /// Texts that end the answer where they first appear (left out of the answer).
    pub stop_strings: Vec<String>,
    /// How many of the most likely tokens to report with each token (0: none).
    pub top_logprobs: usize,
    /// Constrained decoding: the answer must be one of these token sequences, then a stop token
    /// (a closed question's options, tokenized); `None` or empty: free text. Log-probabilities stay
    /// the model's own (before the constraint).
    pub choices: Option<Vec<Vec<u32>>>,
    /// Constrained decoding by a text format (e.g. a box): the text of every token (index = id) and
    /// the format; each step keeps the tokens whose text leaves the answer a prefix of the format.
    pub pattern: Option<(std::sync::Arc<Vec<String>>, AnswerPattern)>,
}

/// A text format an answer must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerPattern {
    /// An L3 answer: `none`, or `[x0, y0, x1, y1]` with each number 0 or 1, a point and three digits.
    Box,
}

/// Where a text stands against a format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Not the start of any answer of the format.
    No,
    /// The start of one, not yet a whole one.
    Prefix,
    /// A whole answer (nothing more may follow).
    Whole,
}

impl AnswerPattern {
    /// The same format as a regular expression (servers' `guided_regex`).
    pub fn regex(self) -> &'static str {
        match self {
            AnswerPattern::Box => r"none|\[[01]\.[0-9]{3}, [01]\.[0-9]{3}, [01]\.[0-9]{3}, [01]\.[0-9]{3}\]",
        }
    }

    /// How `text` fits the format.
    pub fn fit(self, text: &str) -> Fit {
        match self {
            AnswerPattern::Box => {
                const SHAPE: &str = "[a.ddd, a.ddd, a.ddd, a.ddd]";
                let literal = |whole: &str| {
                    if text == whole {
                        Fit::Whole
                    } else if whole.starts_with(text) {
                        Fit::Prefix
                    } else {
                        Fit::No
                    }
                };
                if text.starts_with('n') || text.is_empty() {
                    return match literal("none") {
                        Fit::No if text.is_empty() => Fit::Prefix,
                        f => f,
                    };
                }
                if text.len() > SHAPE.len() {
                    return Fit::No;
                }
                let ok = text.chars().zip(SHAPE.chars()).all(|(c, s)| match s {
                    'a' => c == '0' || c == '1',
                    'd' => c.is_ascii_digit(),
                    other => c == other,
                });
                match (ok, text.len() == SHAPE.len()) {
                    (false, _) => Fit::No,
                    (true, true) => Fit::Whole,
                    (true, false) => Fit::Prefix,
                }
            }
        }
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop_tokens: None,
            stop_strings: Vec::new(),
            top_logprobs: 0,
            choices: None,
            pattern: None,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token (kept as the last token, left out of the text).
    StopToken(u32),
    /// One of the stop strings appeared (the text ends before it).
    StopString,
    MaxTokens,
    Cancelled,
}

/// One generated token, as streamed.
#[derive(Clone, Debug)]
pub struct TokenEvent<'a> {
    pub index: usize,
    pub token: u32,
    pub logprob: f32,
    /// New text this token completes (empty while a multi-byte character is unfinished or the
    /// text may be the start of a stop string).
    pub text_delta: &'a str,
    /// The most likely tokens at this step with their log-probabilities, most likely first
    /// ([`GenerateOptions::top_logprobs`] of them).
    pub top: &'a [(u32, f32)],
}

/// The finished answer with its timing.
#[derive(Clone, Debug)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub text: String,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    /// Seconds from start to the first token's logits (time to first token).
    pub prefill_secs: f64,
    /// Seconds spent on the tokens after the first.
    pub decode_secs: f64,
    /// The mean vision token of the prompt's last image, from the prefill (None without images or
    /// when nothing was generated).
    pub image_features: Option<Vec<f32>>,
}

impl Generation {
    /// Mean log-probability of the answer's tokens.
    pub fn mean_logprob(&self) -> Option<f32> {
        #[allow(clippy::cast_precision_loss)]
        (!self.logprobs.is_empty()).then(|| self.logprobs.iter().sum::<f32>() / self.logprobs.len() as f32)
    }
}

/// Generate an answer to `prompt`. `on_token` sees each token as it is chosen.
pub fn generate(
    model: &QwenVl,
    prompt: &Prepared,
    opts: &GenerateOptions,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(&TokenEvent<'_>),
) -> Result<Generation, VlmError> {
    let start = Instant::now();
    let stops = opts.stop_tokens.clone().unwrap_or_else(|| model.stop_tokens.clone());
    let mut cache = KvCache::default();
    let mut rng = SplitMix(opts.seed);
    let mut out = Generation {
        tokens: Vec::new(),
        logprobs: Vec::new(),
        text: String::new(),
        stop: StopReason::MaxTokens,
        prompt_tokens: prompt.input_ids.len(),
        prefill_secs: 0.0,
        decode_secs: 0.0,
        image_features: None,
    };
    if opts.max_tokens == 0 {
        return Ok(out);
    }
    if cancel.load(Ordering::Relaxed) {
        out.stop = StopReason::Cancelled;
        return Ok(out);
    }
    let (logits, image_features) = model.prefill_observed(prompt, &mut cache, true)?;
    let mut logits = logits.squeeze(0)?;
    out.image_features = image_features;
    out.prefill_secs = start.elapsed().as_secs_f64();
    let decode_start = Instant::now();
    let mut next_position = prompt.positions.next();
    let mut answer_ids: Vec<u32> = Vec::new();
    let stop_strings: Vec<&str> = opts.stop_strings.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    // Bytes of `out.text` already streamed; the rest is held back.
    let mut streamed = 0;
    let choices = opts.choices.as_ref().filter(|c| c.iter().any(|s| !s.is_empty()));
    loop {
        let logprobs = log_softmax(&logits)?;
        let allowed = match (choices, &opts.pattern) {
            (Some(c), _) => Some(allowed_next(c, &answer_ids, &stops)),
            (None, Some((texts, pattern))) => Some(pattern_next(*pattern, texts, &out.text, &stops)),
            (None, None) => None,
        };
        let token = match allowed {
            Some(allowed) => {
                let vocab = logits.dim(D::Minus1)?;
                let mut mask = vec![f32::NEG_INFINITY; vocab];
                for &t in allowed.iter().filter(|&&t| (t as usize) < vocab) {
                    mask[t as usize] = 0.0;
                }
                let masked = (&logits + Tensor::from_vec(mask, vocab, logits.device())?)?;
                pick(&masked, &log_softmax(&masked)?, opts, &mut rng)?
            }
            None => pick(&logits, &logprobs, opts, &mut rng)?,
        };
        let logprob = logprobs.get(token as usize)?.to_scalar::<f32>()?;
        let top = if opts.top_logprobs > 0 { most_likely(&logprobs, opts.top_logprobs)? } else { Vec::new() };
        out.tokens.push(token);
        out.logprobs.push(logprob);
        let is_stop = stops.contains(&token);
        let mut last = is_stop || out.tokens.len() >= opts.max_tokens;
        if !is_stop {
            answer_ids.push(token);
        }
        if !answer_ids.is_empty() {
            let text = model.tokenizer.decode(&answer_ids)?;
            // Hold back an unfinished multi-byte character until the next token completes it (the last
            // token flushes whatever there is).
            if (last || !text.ends_with('\u{FFFD}')) && text.starts_with(&out.text) {
                out.text = text;
            }
        }
        if let Some(at) = first_stop(&out.text, &stop_strings) {
            out.text.truncate(at);
            out.stop = StopReason::StopString;
            last = true;
        }
        // Stream what can no longer become a stop string. The answer's text is exactly what was streamed.
        let safe = if last { out.text.len() } else { out.text.len() - stop_prefix_len(&out.text, &stop_strings) };
        let delta = out.text.get(streamed..safe.max(streamed)).unwrap_or_default().to_string();
        streamed = streamed.max(safe);
        on_token(&TokenEvent { index: out.tokens.len() - 1, token, logprob, text_delta: &delta, top: &top });
        if out.stop == StopReason::StopString {
            break;
        }
        if is_stop {
            out.stop = StopReason::StopToken(token);
            break;
        }
        if out.tokens.len() >= opts.max_tokens {
            break;
        }
        if cancel.load(Ordering::Relaxed) {
            out.stop = StopReason::Cancelled;
            out.text.truncate(streamed);
            break;
        }
        logits = model.step(token, next_position, &mut cache)?.squeeze(0)?;
        next_position += 1;
    }
    out.decode_secs = decode_start.elapsed().as_secs_f64();
    Ok(out)
}

/// Tokens that keep `so_far` a prefix of `pattern` (by each token's text), and the stop tokens once
/// it is a whole answer; when nothing fits, the stop tokens.
pub fn pattern_next(pattern: AnswerPattern, texts: &[String], so_far: &str, stops: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut next = String::with_capacity(so_far.len() + 16);
    for (id, t) in texts.iter().enumerate() {
        if t.is_empty() || stops.contains(&(id as u32)) {
            continue;
        }
        next.clear();
        next.push_str(so_far);
        next.push_str(t);
        if pattern.fit(&next) != Fit::No {
            out.push(id as u32);
        }
    }
    if out.is_empty() || pattern.fit(so_far) == Fit::Whole {
        out.extend_from_slice(stops);
    }
    out
}

/// Tokens that may come after `so_far` when the answer must be one of `choices` then a stop token:
/// the next token of every choice `so_far` begins, and the stop tokens when it is a whole choice.
pub fn allowed_next(choices: &[Vec<u32>], so_far: &[u32], stops: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for c in choices.iter().filter(|c| c.starts_with(so_far)) {
        match c.get(so_far.len()) {
            Some(&t) => out.push(t),
            None => out.extend_from_slice(stops),
        }
    }
    if out.is_empty() {
        // Off every choice (it cannot happen from the start): end the answer.
        out.extend_from_slice(stops);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The `k` most likely tokens of a log-probability vector, most likely first.
fn most_likely(logprobs: &Tensor, k: usize) -> Result<Vec<(u32, f32)>, VlmError> {
    let lp: Vec<f32> = logprobs.to_vec1()?;
    let mut ranked: Vec<(u32, f32)> =
        lp.into_iter().enumerate().map(|(i, l)| (u32::try_from(i).unwrap_or(u32::MAX), l)).collect();
    let k = k.min(ranked.len());
    if k == 0 {
        return Ok(Vec::new());
    }
    ranked.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    ranked.truncate(k);
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(ranked)
}

/// Where the first of `stops` begins in `text`, if any does.
fn first_stop(text: &str, stops: &[&str]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s)).min()
}

/// Length of the longest end of `text` that is the start of a stop string (so it may yet become
/// one and must not be streamed); a whole character boundary.
fn stop_prefix_len(text: &str, stops: &[&str]) -> usize {
    let mut longest = 0;
    for (at, _) in text.char_indices() {
        let tail = &text[at..];
        if stops.iter().any(|s| s.len() > tail.len() && s.starts_with(tail)) {
            longest = longest.max(tail.len());
        }
    }
    longest
}

/// Greedy (first maximum) or a seeded draw from the tempered, top-p-truncated distribution.
fn pick(logits: &Tensor, logprobs: &Tensor, opts: &GenerateOptions, rng: &mut SplitMix) -> Result<u32, VlmError> {
    if opts.temperature <= 0.0 {
        return Ok(logits.argmax(D::Minus1)?.to_scalar::<u32>()?);
    }
    let lp: Vec<f32> = logprobs.to_vec1()?;
    let t = opts.temperature;
    let max = lp.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f32)> =
        lp.iter().enumerate().map(|(i, l)| (u32::try_from(i).unwrap_or(u32::MAX), ((l - max) / t).exp())).collect();
    let total: f32 = probs.iter().map(|p| p.1).sum();
    for p in &mut probs {
        p.1 /= total;
    }
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept = 0;
    let mut mass = 0.0;
    for p in &probs {
        kept += 1;
        mass += p.1;
        if mass >= opts.top_p {
            break;
        }
    }
    probs.truncate(kept.max(1));
    let mass: f32 = probs.iter().map(|p| p.1).sum();
    let mut u = rng.next_f32() * mass;
    for &(token, p) in &probs {
        if u < p {
            return Ok(token);
        }
        u -= p;
    }
    Ok(probs[probs.len() - 1].0)
}

/// A small, seedable generator (SplitMix64): the same seed gives the same answer.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f32(&mut self) -> f32 {
        #[allow(clippy::cast_precision_loss)]
        {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn dist(values: &[f32]) -> (Tensor, Tensor) {
        let t = Tensor::new(values, &Device::Cpu).expect("tensor");
        let lp = log_softmax(&t).expect("log softmax");
        (t, lp)
    }

    #[test]
    fn stop_strings_end_the_text_and_their_starts_are_held_back() {
        assert_eq!(first_stop("the centre. Then", &[".", "Then"]), Some(10));
        assert_eq!(first_stop("no stop here", &["\n"]), None);
        // "regi" may become "region": hold it back; "x" cannot.
        assert_eq!(stop_prefix_len("top regi", &["region", "."]), 4);
        assert_eq!(stop_prefix_len("top x", &["region"]), 0);
        assert_eq!(stop_prefix_len("abc", &["abc"]), 0, "a whole stop string is found, not held back");
        assert_eq!(stop_prefix_len("naïve é", &["éa"]), "é".len());
    }

    #[test]
    fn most_likely_tokens_come_first() {
        let (_, lp) = dist(&[0.0, 3.0, 1.0, 3.0, -1.0]);
        let top = most_likely(&lp, 3).expect("top");
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 3, 2]);
        assert!((top[0].1 - top[1].1).abs() < 1e-6 && top[1].1 > top[2].1);
        assert_eq!(most_likely(&lp, 9).expect("all").len(), 5);
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let (l, lp) = dist(&[0.0, 3.0, 3.0, 1.0]);
        let token = pick(&l, &lp, &GenerateOptions::default(), &mut SplitMix(1)).expect("pick");
        assert_eq!(token, 1);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // p = [0.64, 0.24, 0.09, 0.03]: top_p 0.5 leaves only token 0.
        let (l, lp) = dist(&[3.0, 2.0, 1.0, -0.1]);
        let opts = GenerateOptions { temperature: 1.0, top_p: 0.5, ..GenerateOptions::default() };
        let mut rng = SplitMix(7);
        for _ in 0..50 {
            assert_eq!(pick(&l, &lp, &opts, &mut rng).expect("pick"), 0);
        }
        // Without truncation every token shows up, in proportion.
        let opts = GenerateOptions { temperature: 1.0, top_p: 1.0, ..GenerateOptions::default() };
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[pick(&l, &lp, &opts, &mut rng).expect("pick") as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert!((counts[0] as f32 / 4000.0 - 0.64).abs() < 0.04, "{counts:?}");
    }

    #[test]
    fn same_seed_same_draws() {
        let (l, lp) = dist(&[0.5, 0.4, 0.3, 0.2, 0.1]);
        let opts = GenerateOptions { temperature: 1.5, ..GenerateOptions::default() };
        let draw = |seed| {
            let mut rng = SplitMix(seed);
            (0..20).map(|_| pick(&l, &lp, &opts, &mut rng).expect("pick")).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}

#[cfg(test)]
mod choice_tests {
    use super::{AnswerPattern, Fit, allowed_next, pattern_next};

    #[test]
    fn the_box_format_accepts_boxes_and_none_and_their_starts() {
        let b = AnswerPattern::Box;
        assert_eq!(b.fit("[0.125, 0.000, 1.000, 0.750]"), Fit::Whole);
        assert_eq!(b.fit("none"), Fit::Whole);
        for prefix in ["", "[", "[0.1", "[0.125, 0.", "no"] {
            assert_eq!(b.fit(prefix), Fit::Prefix, "{prefix:?}");
        }
        for bad in ["[2.", "[0.125,0.", "nonex", "-left", "[0.125, 0.000, 1.000, 0.750]]", "yes"] {
            assert_eq!(b.fit(bad), Fit::No, "{bad:?}");
        }
        let texts: Vec<String> =
            ["<eos>", "[", "0", ".", "125", ", ", "]", "none", "left", "1.000"].map(String::from).into();
        assert_eq!(pattern_next(b, &texts, "", &[0]), [1, 7]);
        assert_eq!(pattern_next(b, &texts, "[0.125, 0.000, 1.000, ", &[0]), [2, 9]);
        assert_eq!(pattern_next(b, &texts, "none", &[0]), [0], "a whole answer: only the stop");
    }

    #[test]
    fn choices_allow_their_next_tokens_and_the_stop_only_after_a_whole_one() {
        let choices = vec![vec![5, 6], vec![5, 7, 8], vec![9]];
        assert_eq!(allowed_next(&choices, &[], &[0]), [5, 9]);
        assert_eq!(allowed_next(&choices, &[5], &[0]), [6, 7]);
        assert_eq!(allowed_next(&choices, &[5, 6], &[0, 1]), [0, 1], "a whole choice: only the stop tokens");
        assert_eq!(allowed_next(&choices, &[5, 7], &[0]), [8]);
        assert_eq!(allowed_next(&[vec![5], vec![5, 6]], &[5], &[0]), [0, 6], "a choice that begins another");
        assert_eq!(allowed_next(&choices, &[4], &[0]), [0], "off every choice: end");
    }
}
