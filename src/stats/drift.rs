//! Drift statistics: population stability index, the two-sample Kolmogorov-Smirnov test,
//! Jensen-Shannon distance and the chi-square goodness-of-fit test. Pure functions, checked
//! against scipy in the tests.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Proportions below this are raised to it before PSI takes logarithms, so an empty bin on
/// either side contributes a large but finite term.
pub const PSI_EPSILON: f64 = 1e-4;

/// PSI = sum over bins of (live - ref) * ln(live / ref), on proportions, empty bins raised to
/// [`PSI_EPSILON`].
pub fn psi(reference_counts: &[u64], live_counts: &[u64]) -> f64 {
    let ref_total = reference_counts.iter().sum::<u64>().max(1) as f64;
    let live_total = live_counts.iter().sum::<u64>().max(1) as f64;
    reference_counts
        .iter()
        .zip(live_counts)
        .map(|(r, l)| {
            let p = (*r as f64 / ref_total).max(PSI_EPSILON);
            let q = (*l as f64 / live_total).max(PSI_EPSILON);
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// The two-sample Kolmogorov-Smirnov statistic D (largest distance between the two empirical
/// distribution functions). Both samples must be sorted and free of NaN.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}

/// Two-sided p-value of D for samples of sizes n and m, from the asymptotic Kolmogorov
/// distribution (scipy.stats.kstwobign.sf(sqrt(n*m/(n+m)) * D)).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let en = (n as f64 * m as f64) / (n as f64 + m as f64);
    kolmogorov_sf(en.sqrt() * d)
}

/// Survival function of the Kolmogorov distribution: 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2).
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < 0.2 {
        // The alternating series converges slowly here; use the complementary (theta) form:
        // CDF = sqrt(2 pi)/x * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 x^2)).
        let s: f64 = (1..=50)
            .map(|k| {
                let t = (2 * k - 1) as f64 * std::f64::consts::PI;
                (-(t * t) / (8.0 * x * x)).exp()
            })
            .sum();
        return 1.0 - (2.0 * std::f64::consts::PI).sqrt() / x * s;
    }
    let mut sum = 0.0;
    for k in 1..=200 {
        let k = k as f64;
        let term = (-2.0 * k * k * x * x).exp();
        sum += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-18 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Jensen-Shannon distance (square root of the divergence, base 2, in [0, 1]) between two
/// frequency vectors over the same categories; each is normalised first.
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let kl = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            (kl(a, m) + kl(b, m)) / 2.0
        })
        .sum();
    divergence.max(0.0).sqrt()
}

/// Chi-square goodness of fit of observed counts against expected proportions: the statistic
/// and its p-value with k-1 degrees of freedom (scipy.stats.chisquare). Categories whose
/// expected proportion is zero are given [`PSI_EPSILON`] so unseen categories count heavily.
pub fn chi_square(observed: &[u64], expected_proportions: &[f64]) -> (f64, f64) {
    let n: u64 = observed.iter().sum();
    let k = observed.len();
    if n == 0 || k < 2 {
        return (0.0, 1.0);
    }
    let total_p: f64 = expected_proportions
        .iter()
        .map(|p| p.max(PSI_EPSILON))
        .sum();
    let stat: f64 = observed
        .iter()
        .zip(expected_proportions)
        .map(|(o, p)| {
            let e = n as f64 * p.max(PSI_EPSILON) / total_p;
            let diff = *o as f64 - e;
            diff * diff / e
        })
        .sum();
    let p = ChiSquared::new((k - 1) as f64)
        .map(|d| d.sf(stat))
        .unwrap_or(f64::NAN);
    (stat, p)
}

#[cfg(test)]
mod tests {
    //! Expected values computed with numpy 2.4 / scipy 1.17 on the same data (see each test).
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn psi_matches_numpy() {
        // p = r/sum(r), q = l/sum(l) (both clipped at 1e-4); np.sum((q - p) * np.log(q / p))
        close(
            psi(&[10, 20, 30, 40], &[40, 30, 20, 10]),
            0.9128696382935673,
        );
        close(psi(&[25, 25, 25, 25], &[25, 25, 25, 25]), 0.0);
        close(psi(&[50, 50, 0], &[40, 40, 20]), 1.5640491119253044);
    }

    #[test]
    fn ks_matches_scipy() {
        // a = np.linspace(0, 1, 50); b = np.linspace(0.2, 1.3, 40)
        // scipy.stats.ks_2samp(a, b).statistic; kstwobign.sf(sqrt(50*40/90) * D)
        let a: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
        let b: Vec<f64> = (0..40).map(|i| 0.2 + 1.1 * i as f64 / 39.0).collect();
        let d = ks_statistic(&a, &b);
        close(d, 0.285);
        close(ks_p_value(d, 50, 40), 0.05410262266315579);
        close(kolmogorov_sf(1.0), 0.26999967167735456);
        close(kolmogorov_sf(0.5), 0.9639452436648751);
        close(kolmogorov_sf(0.1), 1.0);
        close(kolmogorov_sf(2.0), 0.0006709252557796953);
        close(kolmogorov_sf(0.3), 0.9999906941986655);
    }

    #[test]
    fn ks_of_identical_samples_is_zero() {
        let a = [1.0, 2.0, 2.0, 3.0];
        close(ks_statistic(&a, &a), 0.0);
        close(ks_p_value(0.0, 4, 4), 1.0);
    }

    #[test]
    fn js_matches_scipy() {
        // scipy.spatial.distance.jensenshannon([.5, .3, .2], [.2, .3, .5], base=2)
        close(
            js_distance(&[0.5, 0.3, 0.2], &[0.2, 0.3, 0.5]),
            0.3095409536771482,
        );
        close(js_distance(&[5.0, 3.0, 2.0], &[5.0, 3.0, 2.0]), 0.0);
        close(js_distance(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
    }

    #[test]
    fn chi_square_matches_scipy() {
        // scipy.stats.chisquare([30, 50, 20], f_exp=100 * np.array([.3, .4, .3]))
        let (stat, p) = chi_square(&[30, 50, 20], &[0.3, 0.4, 0.3]);
        close(stat, 5.833333333333333);
        close(p, 0.05411376622282158);
    }
}
