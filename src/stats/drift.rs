//! Drift statistics: population stability index, the two-sample Kolmogorov-Smirnov test,
//! Jensen-Shannon distance and the chi-square test of the reference-by-live contingency table.
//! Pure functions, checked against numpy and scipy in the tests.

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

/// Jensen-Shannon distance (square root of the divergence in logarithms of `base`) between
/// two frequency vectors over the same categories, each normalised first:
/// `scipy.spatial.distance.jensenshannon(p, q, base)`. In base 2 it lies in [0, 1]; in base e
/// (scipy's and Evidently's default) in [0, sqrt(ln 2)].
pub fn js_distance(p: &[f64], q: &[f64], base: f64) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let kl = |a: f64, m: f64| if a > 0.0 { a * (a / m).ln() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            (kl(a, m) + kl(b, m)) / 2.0
        })
        .sum::<f64>()
        / base.ln();
    divergence.max(0.0).sqrt()
}

/// `scipy.stats.chi2_contingency` of the 2 x k table of reference and live counts per category:
/// the statistic, its p-value and degrees of freedom. Categories with no count on either side
/// are left out (scipy refuses a zero expected count); with one degree of freedom Yates'
/// correction applies, as scipy applies it by default.
pub fn chi2_contingency(reference: &[u64], live: &[u64]) -> (f64, f64, usize) {
    let columns: Vec<(f64, f64)> = reference
        .iter()
        .zip(live)
        .filter(|(r, l)| **r + **l > 0)
        .map(|(r, l)| (*r as f64, *l as f64))
        .collect();
    let (rows_r, rows_l): (f64, f64) = columns
        .iter()
        .fold((0.0, 0.0), |(a, b), (r, l)| (a + r, b + l));
    let dof = columns.len().saturating_sub(1);
    if dof == 0 || rows_r == 0.0 || rows_l == 0.0 {
        return (0.0, 1.0, dof);
    }
    let total = rows_r + rows_l;
    let mut stat = 0.0;
    for (r, l) in &columns {
        let column = r + l;
        for (observed, row) in [(*r, rows_r), (*l, rows_l)] {
            let expected = row * column / total;
            let mut observed = observed;
            if dof == 1 {
                let diff = expected - observed;
                observed += diff.signum() * diff.abs().min(0.5);
            }
            stat += (observed - expected).powi(2) / expected;
        }
    }
    let p = ChiSquared::new(dof as f64)
        .map(|d| d.sf(stat))
        .unwrap_or(f64::NAN);
    (stat, p, dof)
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

    /// Relative agreement to 1e-9 (absolute near zero): the bar is 1e-6.
    fn agrees(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "{a} vs {b}");
    }

    #[test]
    fn js_matches_scipy_in_either_base() {
        // scipy.spatial.distance.jensenshannon(p, q) (base e) and (..., base=2), scipy 1.17
        let e = std::f64::consts::E;
        agrees(
            js_distance(&[0.5, 0.3, 0.2], &[0.45, 0.35, 0.2], e),
            0.0402577667903537,
        );
        agrees(
            js_distance(&[0.5, 0.3, 0.2], &[0.45, 0.35, 0.2], 2.0),
            0.04835450581959278,
        );
        agrees(
            js_distance(&[0.5, 0.3, 0.2, 0.0], &[0.1, 0.3, 0.5, 0.1], e),
            0.37502040974756334,
        );
        agrees(
            js_distance(&[0.5, 0.3, 0.2, 0.0], &[0.1, 0.3, 0.5, 0.1], 2.0),
            0.45044541790007464,
        );
        agrees(
            js_distance(&[0.5, 0.3, 0.2], &[0.2, 0.3, 0.5], 2.0),
            0.3095409536771482,
        );
        close(js_distance(&[5.0, 3.0, 2.0], &[5.0, 3.0, 2.0], e), 0.0);
        close(js_distance(&[1.0, 0.0], &[0.0, 1.0], 2.0), 1.0);
    }

    #[test]
    fn chi2_contingency_matches_scipy() {
        // scipy.stats.chi2_contingency(np.array([reference, live])) (zero columns dropped)
        for (reference, live, stat, p, dof) in [
            (
                &[50u64, 30, 20][..],
                &[45u64, 35, 20][..],
                0.6477732793522267,
                0.7233322349088317,
                2,
            ),
            (
                &[50, 30, 20],
                &[10, 30, 60],
                46.66666666666667,
                7.352958061453824e-11,
                2,
            ),
            // 2 x 2: Yates' correction, as scipy's default.
            (
                &[40, 60],
                &[55, 45],
                3.9298245614035094,
                0.04743689282486553,
                1,
            ),
            (
                &[100, 0, 50],
                &[80, 10, 60],
                13.131313131313131,
                0.0014078992690737368,
                2,
            ),
        ] {
            let (s, pv, d) = chi2_contingency(reference, live);
            agrees(s, stat);
            agrees(pv, p);
            assert_eq!(d, dof);
        }
        let (s, p, d) = chi2_contingency(&[40, 60], &[40, 60]);
        assert_eq!((s, p, d), (0.0, 1.0, 1));
        // A category seen on neither side is no column.
        assert_eq!(chi2_contingency(&[10, 0, 5], &[8, 0, 7]).2, 1);
    }
}
