//! How right a model's answers are against their labels: accuracy, log loss and (two classes)
//! AUC of a classifier, MAE and RMSE of a regressor, as scikit-learn computes them.

use super::auc;

/// A classifier's quality on `rows` labelled rows: `predicted[i]` and `labels[i]` are class
/// indices (among `classes` classes) and `probabilities` holds `classes` numbers a row.
/// Accuracy, log loss (each true class's probability clipped to [1e-15, 1], the natural
/// logarithm, the mean) and, with two classes, the AUC of the second class's probability.
pub fn classification(
    predicted: &[usize],
    probabilities: &[f64],
    classes: usize,
    labels: &[usize],
) -> Vec<(&'static str, f64)> {
    let n = labels.len();
    if n == 0 {
        return Vec::new();
    }
    let correct = predicted.iter().zip(labels).filter(|(a, b)| a == b).count();
    let mut out = vec![("accuracy", correct as f64 / n as f64)];
    let width = classes.max(1);
    if probabilities.len() == n * width {
        let loss: f64 = probabilities
            .chunks(width)
            .zip(labels)
            .map(|(row, y)| -row.get(*y).copied().unwrap_or(0.0).clamp(1e-15, 1.0).ln())
            .sum();
        out.push(("log_loss", loss / n as f64));
        if classes == 2 {
            let scores: Vec<f64> = probabilities.chunks(2).map(|r| r[1]).collect();
            let positive: Vec<bool> = labels.iter().map(|y| *y == 1).collect();
            if let Some(a) = auc(&scores, &positive) {
                out.push(("auc", a));
            }
        }
    }
    out
}

/// How likely a sample proportion `worse` of `n_worse` trials is this far below `better` of
/// `n_better` by chance: the one-sided p-value of the pooled two-proportion z-test (the normal
/// approximation, as `statsmodels.stats.proportion.proportions_ztest(alternative="larger")`).
/// 1 when the first is not higher.
pub fn proportion_drop_p_value(better: f64, n_better: f64, worse: f64, n_worse: f64) -> f64 {
    if n_better <= 0.0 || n_worse <= 0.0 || better <= worse {
        return 1.0;
    }
    let pooled = (better * n_better + worse * n_worse) / (n_better + n_worse);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_better + 1.0 / n_worse)).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    let z = (better - worse) / se;
    // The standard normal's upper tail: erfc(z / sqrt 2) / 2.
    statrs::function::erf::erfc(z / std::f64::consts::SQRT_2) / 2.0
}

/// A regressor's mean absolute and root mean squared error.
pub fn regression(predicted: &[f64], labels: &[f64]) -> Vec<(&'static str, f64)> {
    let n = labels.len() as f64;
    if labels.is_empty() {
        return Vec::new();
    }
    let mae = predicted
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y).abs())
        .sum::<f64>()
        / n;
    let mse = predicted
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y).powi(2))
        .sum::<f64>()
        / n;
    vec![("mae", mae), ("rmse", mse.sqrt())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn() {
        // sklearn.metrics on y=[0,1,1,0,1], p1=[0.2,0.7,0.4,0.1,0.9], predicted = p1 >= 0.5:
        // accuracy_score 0.8, log_loss 0.34136605168855, roc_auc_score 1.0.
        let p1 = [0.2, 0.7, 0.4, 0.1, 0.9];
        let probabilities: Vec<f64> = p1.iter().flat_map(|p| [1.0 - p, *p]).collect();
        let predicted: Vec<usize> = p1.iter().map(|p| usize::from(*p >= 0.5)).collect();
        let m = classification(&predicted, &probabilities, 2, &[0, 1, 1, 0, 1]);
        assert_eq!(m[0], ("accuracy", 0.8));
        assert!((m[1].1 - 0.341_366_051_688_55).abs() < 1e-12, "{m:?}");
        assert_eq!(m[2], ("auc", 1.0));
        // mean_absolute_error 0.5, root_mean_squared_error sqrt(0.5).
        let r = regression(&[1.0, 2.0], &[1.0, 3.0]);
        assert_eq!(r, [("mae", 0.5), ("rmse", 0.5f64.sqrt())]);
    }

    #[test]
    fn a_drop_in_accuracy_is_judged_against_chance() {
        // statsmodels proportions_ztest([813, 180], [1000, 213], alternative="larger"):
        // z = -1.0446..., so the drop from 0.813 to 0.845 is no drop (p 1 here).
        assert_eq!(proportion_drop_p_value(0.813, 1000.0, 0.845, 213.0), 1.0);
        // proportions_ztest([850, 160], [1000, 213], alternative="larger"): z 3.50820, p
        // 0.00022558.
        let p = proportion_drop_p_value(0.85, 1000.0, 160.0 / 213.0, 213.0);
        assert!((p - 0.000_225_577_278).abs() < 1e-10, "{p}");
    }
}
