//! A canary's answers against the stable version's, over the period both windows cover: the
//! predicted class by total variation (the least share of rows whose class must differ), JS and
//! chi-square; probabilities and regression outputs by two-sample KS. No labels needed.

use crate::model::{AnswerComparison, FeatureKind, OutputComparison};
use crate::stats::drift as stats;

use super::window::WindowSnapshot;

/// `this` (the canary) against `versus` (the stable version); `None` when either keeps no
/// answers (no reference predictions) or they share no signal.
pub fn compare(
    this: &WindowSnapshot,
    versus: &WindowSnapshot,
    js_base: f64,
) -> Option<AnswerComparison> {
    let (mine, theirs) = (this.answers()?, versus.answers()?);
    // The same period for both: from the later of the two oldest rows. A stable version at
    // 90 % of the traffic fills its window faster; its older rows saw other traffic.
    let since = match (this.oldest(), versus.oldest()) {
        (Some(a), Some(b)) => a.max(b),
        _ => this.taken(),
    };
    let outputs: Vec<OutputComparison> = mine
        .iter()
        .filter_map(|(profile, values)| {
            // By name; the predicted class also by what it is, since two versions may name
            // their label outputs differently.
            let is_class = |kind: &FeatureKind| matches!(kind, FeatureKind::Categorical { .. });
            let (other, other_values) = theirs
                .iter()
                .find(|(o, _)| o.name == profile.name)
                .or_else(|| {
                    theirs
                        .iter()
                        .find(|(o, _)| is_class(&profile.kind) && is_class(&o.kind))
                })?;
            let a = this.since(values, since);
            let b = versus.since(other_values, since);
            match (&profile.kind, &other.kind) {
                (
                    FeatureKind::Categorical { categories },
                    FeatureKind::Categorical {
                        categories: other_categories,
                    },
                ) => {
                    let names: Vec<&str> = categories.iter().map(|c| c.value.as_str()).collect();
                    let other_names: Vec<&str> =
                        other_categories.iter().map(|c| c.value.as_str()).collect();
                    // Class indices mean the same class only when both versions list the same
                    // classes in the same order.
                    (names == other_names).then(|| classes(&profile.name, &names, &a, &b, js_base))
                }
                (FeatureKind::Numeric(_), FeatureKind::Numeric(_)) => {
                    Some(values_compared(&profile.name, a, b))
                }
                _ => None,
            }
        })
        .collect();
    if outputs.is_empty() {
        return None;
    }
    Some(AnswerComparison {
        versus: versus.version(),
        rows: this.count_since(since),
        versus_rows: versus.count_since(since),
        seconds: this.taken().saturating_duration_since(since).as_secs_f64(),
        outputs,
    })
}

/// The predicted class of both versions: shares per class, total variation, JS, chi-square.
fn classes(name: &str, names: &[&str], a: &[f64], b: &[f64], js_base: f64) -> OutputComparison {
    let count = |values: &[f64]| {
        let mut counts = vec![0u64; names.len()];
        for v in values {
            if *v >= 0.0 && (*v as usize) < names.len() {
                counts[*v as usize] += 1;
            }
        }
        counts
    };
    let (ca, cb) = (count(a), count(b));
    let share = |counts: &[u64]| {
        let total = counts.iter().sum::<u64>().max(1) as f64;
        counts.iter().map(|c| *c as f64 / total).collect::<Vec<_>>()
    };
    let (pa, pb) = (share(&ca), share(&cb));
    let total_variation = pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0;
    let (_, p_value, _) = stats::chi2_contingency(&ca, &cb);
    let measured = !a.is_empty() && !b.is_empty();
    OutputComparison {
        name: name.to_string(),
        method: "classes".into(),
        distance: if measured { total_variation } else { 0.0 },
        p_value,
        js_distance: Some(stats::js_distance(&pa, &pb, js_base)),
        shares: names
            .iter()
            .zip(pa.iter().zip(&pb))
            .map(|(n, (x, y))| (n.to_string(), *x, *y))
            .collect(),
    }
}

/// A number of both versions (a probability or a regression output): two-sample KS, means.
fn values_compared(name: &str, mut a: Vec<f64>, mut b: Vec<f64>) -> OutputComparison {
    a.retain(|v| !v.is_nan());
    b.retain(|v| !v.is_nan());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let d = stats::ks_statistic(&a, &b);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    OutputComparison {
        name: name.to_string(),
        method: "values".into(),
        distance: d,
        p_value: stats::ks_p_value(d, a.len(), b.len()),
        js_distance: None,
        shares: vec![("mean".into(), mean(&a), mean(&b))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_variation_is_the_least_share_of_rows_whose_class_differs() {
        // 100 rows each: the canary says class 1 for 30, the stable version for 10. At least 20
        // rows must be answered differently, whatever the pairing.
        let a: Vec<f64> = (0..100).map(|i| if i < 30 { 1.0 } else { 0.0 }).collect();
        let b: Vec<f64> = (0..100).map(|i| if i < 10 { 1.0 } else { 0.0 }).collect();
        let c = classes("label", &["0", "1"], &a, &b, std::f64::consts::E);
        assert!((c.distance - 0.20).abs() < 1e-12, "{c:?}");
        // scipy.stats.chi2_contingency([[70, 30], [90, 10]]): chi2 11.28125 (Yates), p 0.00078294.
        assert!((c.p_value - 0.000_782_938_2).abs() < 1e-9, "{c:?}");
        assert_eq!(c.shares[1], ("1".to_string(), 0.30, 0.10));
        let same = classes("label", &["0", "1"], &a, &a, std::f64::consts::E);
        assert_eq!(same.distance, 0.0);
        assert_eq!(same.p_value, 1.0);
    }

    #[test]
    fn numbers_are_compared_by_ks() {
        let a: Vec<f64> = (0..50).map(|i| f64::from(i) / 50.0).collect();
        let constant = vec![0.0759; 50];
        let c = values_compared("P(1)", a.clone(), constant);
        assert!(c.distance > 0.5, "{c:?}");
        assert!(c.p_value < 1e-6, "{c:?}");
        let same = values_compared("P(1)", a.clone(), a);
        assert_eq!(same.distance, 0.0);
    }
}
