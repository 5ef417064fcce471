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
}
