//! Batches for sampling variable-size samples (atoms, residues) with little padding.

/// Cuts items sorted by `size` into batches of at most `max` whose padded pairwise work
/// (`len · size_max²`, attention or all-pairs messages) stays within 15 % of the real work
/// (`Σ size²`).
pub fn similar_size_batches<T>(sorted: &[T], size: impl Fn(&T) -> usize, max: usize) -> Vec<&[T]> {
    let max = max.max(1);
    let mut batches = Vec::new();
    let mut start = 0;
    let mut useful = 0usize;
    for (k, n) in sorted.iter().map(size).enumerate() {
        let len = k - start;
        let padded = (len + 1) * n * n;
        if len > 0 && (len == max || padded as f64 > 1.15 * (useful + n * n) as f64) {
            batches.push(&sorted[start..k]);
            start = k;
            useful = 0;
        }
        useful += n * n;
    }
    if start < sorted.len() {
        batches.push(&sorted[start..]);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_everything_in_order_and_bound_padding() {
        let sorted: Vec<(usize, usize)> = [3, 3, 4, 9, 9, 9, 10, 20, 21, 40]
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, i))
            .collect();
        let batches = similar_size_batches(&sorted, |&(n, _)| n, 3);
        let flat: Vec<_> = batches.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(flat, sorted);
        for b in &batches {
            assert!(!b.is_empty() && b.len() <= 3);
            let n_max = b.iter().map(|&(n, _)| n).max().unwrap();
            let useful: usize = b.iter().map(|&(n, _)| n * n).sum();
            assert!(
                b.len() == 1 || (b.len() * n_max * n_max) as f64 <= 1.15 * useful as f64,
                "{b:?}"
            );
        }
    }
}
