//! Drift statistics: population stability index, the two-sample Kolmogorov-Smirnov test,
//! Jensen-Shannon distance and the chi-square test of the reference-by-live contingency table.
//! Pure functions, checked against numpy and scipy in the tests.

use super::kolmogorov::kolmogorov_n_sf;
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

/// Largest sample size for which the p-value is exact, as `scipy.stats.ks_2samp(method="auto")`.
pub const KS_EXACT_UP_TO: usize = 10_000;

/// Two-sided p-value of D for samples of sizes n and m, as `scipy.stats.ks_2samp` with
/// `method="auto"` gives it: exact (the share of lattice paths leaving the band of the
/// statistic) when neither sample is larger than [`KS_EXACT_UP_TO`]; otherwise scipy's
/// "asymptotic" one, the finite-n Kolmogorov distribution at the rounded effective size
/// n m / (n + m).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    if n.max(m) <= KS_EXACT_UP_TO
        && let Some(p) = ks_exact_p_value(d, n, m)
    {
        return p;
    }
    let en = (n as f64 * m as f64) / (n as f64 + m as f64);
    kolmogorov_n_sf(en.round().max(1.0) as u64, d)
}

/// The exact two-sided p-value, or `None` where the computation loses its precision (scipy then
/// falls back to the asymptotic one too). D is taken at the lattice's resolution, 1/lcm(n, m).
fn ks_exact_p_value(d: f64, n: usize, m: usize) -> Option<f64> {
    let g = gcd(n, m);
    let lcm = (n / g) as f64 * m as f64;
    let h = (d * lcm).round();
    if h <= 0.0 {
        return Some(1.0);
    }
    let h = h as usize;
    let p = if n == m {
        outside_square(n, h)
    } else {
        outside_band(n, m, g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Equal sizes: P(D >= h/n) = 2 (A0 - A0 A1 + A0 A1 A2 - ...), each term a ratio of binomial
/// coefficients, summed Horner-wise to avoid cancellation.
fn outside_square(n: usize, h: usize) -> f64 {
    let (n, h) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h).floor();
    while k >= 0.0 {
        let mut term = 1.0;
        for j in 0..h as usize {
            let j = j as f64;
            term = (n - k * h - j) * term / (n + k * h + j + 1.0);
        }
        p = term * (1.0 - p);
        k -= 1.0;
    }
    2.0 * p
}

/// Unequal sizes: the share of monotone lattice paths from (0, 0) to (m, n) that leave the band
/// |x n - y m| < h g (Hodges' inside method), computed for 1 - p directly over a sliding window
/// of one column, which keeps it stable (Viehmann 2021).
fn outside_band(n1: usize, n2: usize, g: usize, h: usize) -> f64 {
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let (mg, ng, h) = ((m / g) as f64, (n / g) as f64, h as f64);
    let mut minj = 0usize;
    let mut maxj = ((h / mg).ceil() as usize).min(n + 1);
    let mut len = maxj - minj;
    // Entries beyond the window read as 1: every path through them has left the band.
    let mut column = vec![1.0f64; n + 2];
    column[minj..maxj].iter_mut().for_each(|v| *v = 0.0);
    for i in 1..=m {
        let (last_min, last_len) = (minj, len);
        let x = ng * i as f64;
        minj = ((((x - h) / mg).floor() + 1.0).max(0.0) as usize).min(n);
        maxj = (((x + h) / mg).ceil() as usize).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut value = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..maxj - minj {
            let j = jj + minj;
            value = (column[jj + minj - last_min] * i as f64 + value * j as f64) / (i + j) as f64;
            column[jj] = value;
        }
        len = maxj - minj;
        if last_len > len {
            let end = (len + (last_len - len)).min(column.len());
            column[len..end].iter_mut().for_each(|v| *v = 1.0);
        }
    }
    column[maxj - minj - 1]
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

    /// A small deterministic generator (xorshift64*), for sampling without a dependency.
    struct Draws(u64);

    impl Draws {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// `n` rows of a distribution with bin shares `shares`, counted per bin.
        fn counts(&mut self, shares: &[f64], n: usize) -> Vec<u64> {
            let mut counts = vec![0u64; shares.len()];
            for _ in 0..n {
                let u = self.uniform();
                let mut edge = 0.0;
                let bin = shares
                    .iter()
                    .position(|s| {
                        edge += s;
                        u < edge
                    })
                    .unwrap_or(shares.len() - 1);
                counts[bin] += 1;
            }
            counts
        }
    }

    /// Live rows drawn from the reference itself: PSI's and JS's thresholds alone flag many
    /// (the false `drift` right after a version starts taking traffic), where the chi-square
    /// test of the same bins says "sampling" about as often as its level promises.
    #[test]
    fn the_chi_square_of_psi_and_js_bins_holds_its_level_on_rows_drawn_from_the_reference() {
        let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
        let deciles = [0.1; 10];
        let reference: Vec<u64> = vec![5_000; 10];
        let categories = [0.5, 0.3, 0.15, 0.05];
        let reference_categories: Vec<u64> = vec![5_000, 3_000, 1_500, 500];
        let trials = 4_000;
        let mut flagged = [0usize; 6];
        for _ in 0..trials {
            let live = draws.counts(&deciles, 100);
            let value = psi(&reference, &live);
            let (_, p, _) = chi2_contingency(&reference, &live);
            flagged[0] += usize::from(value >= 0.1);
            flagged[1] += usize::from(p < 0.05);
            flagged[2] += usize::from(p < 0.005);
            let live = draws.counts(&categories, 100);
            let q: Vec<f64> = live.iter().map(|c| *c as f64).collect();
            let distance = js_distance(&categories, &q, std::f64::consts::E);
            let (_, p, _) = chi2_contingency(&reference_categories, &live);
            flagged[3] += usize::from(distance >= 0.1);
            flagged[4] += usize::from(p < 0.05);
            flagged[5] += usize::from(p < 0.005);
        }
        let share = |k: usize| k as f64 / trials as f64;
        // The thresholds alone: a third of samples "warn" on PSI, and JS "drifts" often.
        assert!(share(flagged[0]) > 0.25, "{}", share(flagged[0]));
        assert!(share(flagged[3]) > 0.04, "{}", share(flagged[3]));
        // The test: about what its level promises, in the tail too.
        for (what, k, level) in [
            ("psi bins", flagged[1], 0.05),
            ("psi bins", flagged[2], 0.005),
            ("categories", flagged[4], 0.05),
            ("categories", flagged[5], 0.005),
        ] {
            assert!(
                share(k) < level * 1.6 && share(k) > level * 0.4,
                "{what}: {} of samples significant at {level}",
                share(k)
            );
        }
        // A real shift over the same 100 rows is significant.
        let shifted = draws.counts(
            &[0.02, 0.03, 0.05, 0.05, 0.1, 0.1, 0.15, 0.15, 0.15, 0.2],
            100,
        );
        let (_, p, _) = chi2_contingency(&reference, &shifted);
        assert!(p < 1e-4, "{p}");
    }

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

    /// Sorted copies.
    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn ks_matches_scipy_ks_2samp() {
        // scipy.stats.ks_2samp(a, b) (method="auto": exact up to 10,000 values), scipy 1.17
        let small_a: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
        let small_b: Vec<f64> = (0..40).map(|i| 0.2 + 1.1 * i as f64 / 39.0).collect();
        let equal_a: Vec<f64> = (0..60).map(|i| i as f64 / 59.0).collect();
        let equal_b: Vec<f64> = (0..60).map(|i| 0.1 + i as f64 / 59.0).collect();
        let moderate_a = sorted((0..2000).map(|i| (i as f64).sin() * 3.0).collect());
        let moderate_b = sorted(
            (0..1500)
                .map(|i| (i as f64 * 1.3).sin() * 3.0 + 0.15)
                .collect(),
        );
        // Beyond 10,000 values scipy switches to kstwo.sf at the rounded effective size.
        let large_a = sorted((0..12_000).map(|i| (i as f64).sin() * 3.0).collect());
        let large_b = sorted(
            (0..800)
                .map(|i| (i as f64 * 1.3).sin() * 3.0 + 0.15)
                .collect(),
        );
        let both_a = sorted((0..30_000).map(|i| (i as f64 * 0.7).sin() * 2.0).collect());
        let both_b = sorted(
            (0..20_000)
                .map(|i| (i as f64 * 1.1).sin() * 2.0 + 0.02)
                .collect(),
        );
        for (a, b, d, p) in [
            (&large_a, &large_b, 0.105, 1.1825610692236808e-07),
            (&both_a, &both_b, 0.04505, 1.334068582993926e-21),
            (&small_a, &small_b, 0.285, 0.04433657937091052),
            (&equal_a, &equal_b, 0.1, 0.9284371795338576),
            (&moderate_a, &moderate_b, 0.104, 1.620627558325554e-08),
        ] {
            let statistic = ks_statistic(a, b);
            assert!((statistic - d).abs() < 1e-12, "{statistic} vs {d}");
            let pv = ks_p_value(statistic, a.len(), b.len());
            assert!(
                (pv - p).abs() <= 1e-6 * p,
                "n={} m={}: {pv} vs {p}",
                a.len(),
                b.len()
            );
        }
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
