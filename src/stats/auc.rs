//! Ranking quality: the area under the ROC curve.

/// Area under the ROC curve of scores for the positive class (ties counted half).
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (n_pos, n_neg) = (
        positive.iter().filter(|p| **p).count() as f64,
        positive.iter().filter(|p| !**p).count() as f64,
    );
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    // Rank-sum (Mann-Whitney U) with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += pairs[i..=j].iter().filter(|p| p.1).count() as f64 * rank;
        i = j + 1;
    }
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_sklearn() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let a = auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((a - 0.75).abs() < 1e-12);
        // Ties count half: roc_auc_score([0, 1], [0.5, 0.5]) == 0.5
        assert!((auc(&[0.5, 0.5], &[false, true]).unwrap() - 0.5).abs() < 1e-12);
        assert!(auc(&[0.1], &[true]).is_none());
    }
}
