//! Quantiles and bins: numpy's linear quantile of a sample, the bin a value falls in, and
//! Prometheus's interpolated quantile of a cumulative histogram.

/// Linear-interpolated quantile of sorted data (numpy's default method).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Index of the bin holding `value` for these edges: `[e_i, e_i+1)`, the last bin closed.
/// Values outside the edges are clamped to the first or last bin.
pub fn bin_index(edges: &[f64], value: f64) -> usize {
    let bins = edges.len().saturating_sub(1).max(1);
    let upper = edges.partition_point(|e| *e <= value);
    upper.saturating_sub(1).min(bins - 1)
}

/// Prometheus's `histogram_quantile`: linear interpolation inside the bucket holding the rank;
/// the lowest bucket starts at 0; a rank in the +Inf bucket answers the highest finite bound.
pub fn histogram_quantile(q: f64, cumulative: &[(f64, f64)]) -> Option<f64> {
    let total = cumulative.last().map(|(_, c)| *c).filter(|c| *c > 0.0)?;
    let rank = q * total;
    let mut lower = 0.0;
    let mut below = 0.0;
    for (upper, count) in cumulative {
        if *count >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let in_bucket = count - below;
            if in_bucket <= 0.0 {
                return Some(*upper);
            }
            return Some(lower + (upper - lower) * (rank - below) / in_bucket);
        }
        lower = *upper;
        below = *count;
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        let data: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.quantile(range(1, 11), [0, .25, .5, .9, 1]) == [1, 3.25, 5.5, 9.1, 10]
        for (q, want) in [
            (0.0, 1.0),
            (0.25, 3.25),
            (0.5, 5.5),
            (0.9, 9.1),
            (1.0, 10.0),
        ] {
            assert!((quantile(&data, q) - want).abs() < 1e-12, "q={q}");
        }
    }

    #[test]
    fn bin_index_closes_the_last_bin_and_clamps() {
        let edges = [0.0, 1.0, 2.0];
        assert_eq!(bin_index(&edges, 0.0), 0);
        assert_eq!(bin_index(&edges, 0.99), 0);
        assert_eq!(bin_index(&edges, 1.0), 1);
        assert_eq!(bin_index(&edges, 2.0), 1);
        assert_eq!(bin_index(&edges, -5.0), 0);
        assert_eq!(bin_index(&edges, 9.0), 1);
    }

    #[test]
    fn quantiles_follow_prometheus_interpolation() {
        let b = [
            (0.001, 50.0),
            (0.01, 90.0),
            (0.1, 100.0),
            (f64::INFINITY, 100.0),
        ];
        // rank 50 of 100 falls at the top of the first bucket.
        assert!((histogram_quantile(0.5, &b).unwrap() - 0.001).abs() < 1e-12);
        // rank 70: 20 of the 40 in (0.001, 0.01] -> 0.001 + 0.009 * 0.5
        assert!((histogram_quantile(0.7, &b).unwrap() - 0.0055).abs() < 1e-12);
        // rank 99: 9 of the 10 in (0.01, 0.1]
        assert!((histogram_quantile(0.99, &b).unwrap() - 0.091).abs() < 1e-12);
        let overflow = [(0.1, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.99, &overflow), Some(0.1));
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
    }
}
