//! The chain-length histogram a checkpoint keeps, shared by the angle and the Cα models:
//! sampling draws lengths from it, and `--length` outside it warns.

use diffgen_core::SeededRng;

use crate::data::MAX_LENGTH;

/// `(length, count)` of training chains, lengths cropped to `max_length`, ascending.
pub fn histogram(lengths: impl IntoIterator<Item = usize>, max_length: usize) -> Vec<(usize, u64)> {
    let mut counts = std::collections::BTreeMap::new();
    for n in lengths {
        *counts.entry(n.min(max_length)).or_insert(0u64) += 1;
    }
    counts.into_iter().collect()
}

/// A length drawn in proportion to the counts (64 when the histogram is empty).
pub fn draw(histogram: &[(usize, u64)], rng: &mut SeededRng) -> usize {
    let total: u64 = histogram.iter().map(|&(_, c)| c).sum();
    if total == 0 {
        return 64;
    }
    let mut pick = (rng.uniform() * total as f64) as u64;
    for &(len, count) in histogram {
        if pick < count {
            return len;
        }
        pick -= count;
    }
    histogram.last().map_or(64, |&(l, _)| l)
}

/// Refuses a stored histogram that sampling cannot use: lengths outside 1..=[`MAX_LENGTH`]
/// (the model's tensors do not bound them, and attention allocates by their square) or
/// counts whose sum overflows.
pub fn check(histogram: &[(usize, u64)]) -> Result<(), String> {
    if let Some(&(l, _)) = histogram.iter().find(|&&(l, _)| l == 0 || l > MAX_LENGTH) {
        return Err(format!(
            "the length histogram has chains of {l} residues; sampling needs 1..={MAX_LENGTH}"
        ));
    }
    histogram
        .iter()
        .try_fold(0u64, |a, &(_, c)| a.checked_add(c))
        .ok_or("the length histogram's counts overflow")?;
    Ok(())
}

/// The warning for a requested length outside the trained range, if it is.
pub fn outside_training(histogram: &[(usize, u64)], requested: Option<usize>) -> Option<String> {
    let (n, &(lo, _), &(hi, _)) = (requested?, histogram.first()?, histogram.last()?);
    (n < lo || n > hi)
        .then(|| format!("--length {n}: the model was trained on chains of {lo}–{hi} residues"))
}
