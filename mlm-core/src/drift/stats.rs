//! The statistics of the drift reports, as pure functions over counts and sorted values.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The fraction a bin with no observations counts as in [`psi`], so `ln(w / b)` stays finite
/// (the usual practice; 1e-4 is what most PSI write-ups and libraries use).
pub const PSI_EPSILON: f64 = 1e-4;

/// The `q` quantile (0 ≤ q ≤ 1) of sorted, non-empty `values`, interpolating linearly between
/// order statistics (R's type 7, numpy's default).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// The bin of `x` among bins `(-inf, e0], (e0, e1], …, (e_last, inf)` over sorted `edges`.
pub(crate) fn bin_of(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e < x)
}

/// Counts per bin (see [`bin_of`]) as fractions of the total; all zeros when `values` is empty.
pub(crate) fn bin_fractions(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for &x in values {
        counts[bin_of(edges, x)] += 1;
    }
    fractions(&counts)
}

/// `counts` as fractions of their sum (all zeros when the sum is zero).
pub(crate) fn fractions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

/// Population stability index of a window's bin fractions against the baseline's:
/// `Σ (w − b) · ln(w / b)`, a fraction of 0 counting as [`PSI_EPSILON`].
pub fn psi(baseline: &[f64], window: &[f64]) -> f64 {
    baseline
        .iter()
        .zip(window)
        .map(|(&b, &w)| {
            let (b, w) = (b.max(PSI_EPSILON), w.max(PSI_EPSILON));
            (w - b) * (w / b).ln()
        })
        .sum()
}

/// The two-sample Kolmogorov–Smirnov statistic: the largest distance between the empirical
/// distribution functions of two sorted samples (0 when either is empty).
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value in both samples, then compare.
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

/// Jensen–Shannon distance (base 2, so 0 ≤ d ≤ 1) between two distributions given as counts
/// over the same categories: the square root of the Jensen–Shannon divergence. 0 when either
/// side has no observations.
pub fn js_distance(p_counts: &[u64], q_counts: &[u64]) -> f64 {
    let (p, q) = (fractions(p_counts), fractions(q_counts));
    if p.iter().all(|&x| x == 0.0) || q.iter().all(|&x| x == 0.0) {
        return 0.0;
    }
    let kl_to_mid = |x: f64, y: f64| {
        let m = (x + y) / 2.0;
        if x > 0.0 { x * (x / m).log2() } else { 0.0 }
    };
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&x, &y)| 0.5 * kl_to_mid(x, y) + 0.5 * kl_to_mid(y, x))
        .sum();
    divergence.clamp(0.0, 1.0).sqrt()
}

/// Pearson's chi-square test of homogeneity on a 2 × k table (two samples' counts over the
/// same k categories). Returns `(statistic, degrees_of_freedom, p_value)`; categories empty in
/// both samples are dropped, and fewer than two categories left (or an empty sample) is
/// `(0, 0, 1)`: nothing to tell apart.
pub fn chi_square_homogeneity(a: &[u64], b: &[u64]) -> (f64, u32, f64) {
    let columns: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter(|&(&x, &y)| x + y > 0)
        .map(|(&x, &y)| (x as f64, y as f64))
        .collect();
    let (row_a, row_b): (f64, f64) = columns
        .iter()
        .fold((0.0, 0.0), |(s, t), &(x, y)| (s + x, t + y));
    if columns.len() < 2 || row_a == 0.0 || row_b == 0.0 {
        return (0.0, 0, 1.0);
    }
    let total = row_a + row_b;
    let statistic: f64 = columns
        .iter()
        .map(|&(x, y)| {
            let column = x + y;
            let (ea, eb) = (row_a * column / total, row_b * column / total);
            (x - ea).powi(2) / ea + (y - eb).powi(2) / eb
        })
        .sum();
    let df = columns.len() - 1;
    let p = ChiSquared::new(df as f64)
        .map(|d| d.sf(statistic))
        .unwrap_or(1.0);
    (statistic, df as u32, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!((a - b).abs() < tolerance, "{a} != {b}");
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let v = [1.0, 2.0, 3.0, 4.0];
        close(quantile(&v, 0.0), 1.0, 1e-12);
        close(quantile(&v, 0.5), 2.5, 1e-12);
        close(quantile(&v, 1.0), 4.0, 1e-12);
        close(quantile(&v, 1.0 / 3.0), 2.0, 1e-12);
    }

    #[test]
    fn bins_are_closed_on_the_right() {
        let edges = [1.0, 2.0];
        assert_eq!(bin_of(&edges, 0.5), 0);
        assert_eq!(bin_of(&edges, 1.0), 0);
        assert_eq!(bin_of(&edges, 1.5), 1);
        assert_eq!(bin_of(&edges, 2.0), 1);
        assert_eq!(bin_of(&edges, 9.0), 2);
        assert_eq!(
            bin_fractions(&edges, &[0.0, 1.5, 1.7, 3.0]),
            [0.25, 0.5, 0.25]
        );
    }

    #[test]
    fn psi_by_hand() {
        // (0.25 − 0.5)·ln(0.5) + (0.75 − 0.5)·ln(1.5) = 0.25·(ln 2 + ln 1.5) = 0.25·ln 3
        close(psi(&[0.5, 0.5], &[0.25, 0.75]), 0.25 * 3f64.ln(), 1e-12);
        close(psi(&[0.2, 0.3, 0.5], &[0.2, 0.3, 0.5]), 0.0, 1e-12);
        // An empty window bin counts as 1e-4: (1e-4 − 0.5)·ln(1e-4/0.5) + (1 − 0.5)·ln(2)
        let expected = (1e-4 - 0.5) * (1e-4f64 / 0.5).ln() + 0.5 * 2f64.ln();
        close(psi(&[0.5, 0.5], &[0.0, 1.0]), expected, 1e-12);
    }

    #[test]
    fn ks_by_hand() {
        close(
            ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]),
            0.5,
            1e-12,
        );
        close(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), 1.0, 1e-12);
        close(ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.0, 1e-12);
        // Ties across samples are stepped together: F_a(1) = 2/3, F_b(1) = 1/3.
        close(
            ks_statistic(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]),
            1.0 / 3.0,
            1e-12,
        );
        assert_eq!(ks_statistic(&[], &[1.0]), 0.0);
    }

    #[test]
    fn js_distance_by_hand() {
        close(js_distance(&[1, 0], &[0, 1]), 1.0, 1e-12);
        close(js_distance(&[3, 5], &[6, 10]), 0.0, 1e-12);
        // P = (½, ½), Q = (1, 0), M = (¾, ¼):
        // JSD = ½·[½·log2(⅔) + ½·log2(2)] + ½·log2(4/3)
        let jsd = 0.5 * (0.5 * (2.0f64 / 3.0).log2() + 0.5) + 0.5 * (4.0f64 / 3.0).log2();
        close(js_distance(&[1, 1], &[2, 0]), jsd.sqrt(), 1e-12);
        close(js_distance(&[1, 1], &[2, 0]), 0.557_923, 1e-6);
        assert_eq!(js_distance(&[0, 0], &[1, 2]), 0.0);
    }

    #[test]
    fn chi_square_by_hand() {
        // Expected 15 in every cell: χ² = 4 · 5²/15 = 6.667 with 1 degree of freedom.
        let (statistic, df, p) = chi_square_homogeneity(&[10, 20], &[20, 10]);
        close(statistic, 20.0 / 3.0, 1e-12);
        assert_eq!(df, 1);
        // scipy.stats.chi2.sf(20/3, 1) = 0.009823
        close(p, 0.009_823, 1e-6);
        let (statistic, df, p) = chi_square_homogeneity(&[10, 20, 0], &[20, 40, 0]);
        assert_eq!((statistic, df), (0.0, 1));
        close(p, 1.0, 1e-12);
        assert_eq!(chi_square_homogeneity(&[5, 0], &[7, 0]), (0.0, 0, 1.0));
        assert_eq!(chi_square_homogeneity(&[5, 3], &[0, 0]), (0.0, 0, 1.0));
    }
}
