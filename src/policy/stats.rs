//! The statistics behind the regression gate, as plain functions with their formulas.
//! `docs/statistics.md` explains the same decisions for users; keep the two in step.
//!
//! Every function is total: degenerate inputs (no pairs, one pair, zero variance, no
//! discordant pairs) give a defined answer, never NaN and never a panic.

use super::verdict::{ChangeStatus, Significance};

/// Differences smaller than this count as no change (floating-point noise of means).
const EPS: f64 = 1e-12;

/// Above this many degrees of freedom the Student t quantile is replaced by the normal one
/// (they differ by less than 0.1 %).
const NORMAL_DF: f64 = 1000.0;

/// Power the minimum detectable effect is computed for.
const POWER: f64 = 0.8;

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error about 1e-15), with the
/// reflection formula below 0.5.
pub fn ln_gamma(x: f64) -> f64 {
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln C(n, k)`.
pub fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// `P(X >= k)` for `X ~ Binomial(n, 1/2)`, exact up to rounding for n up to millions.
///
/// Above the middle (`2k > n`) the terms `C(n, i) / 2^n` shrink as `i` grows, so they are
/// summed from `i = k` by the ratio `C(n, i+1) / C(n, i) = (n - i) / (i + 1)`, starting from
/// `exp(ln C(n, k) - n ln 2)`; at or below the middle the symmetric complement
/// `1 - P(X >= n - k + 1)` is used, so no sum starts from an underflowed term.
pub fn binomial_tail_half(n: u64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if 2 * k <= n {
        return (1.0 - binomial_tail_half(n, n - k + 1)).clamp(0.0, 1.0);
    }
    let mut term = (ln_choose(n, k) - n as f64 * std::f64::consts::LN_2).exp();
    let mut sum = 0.0;
    let mut i = k;
    loop {
        sum += term;
        if i == n || term <= sum * 1e-17 {
            break;
        }
        term *= (n - i) as f64 / (i + 1) as f64;
        i += 1;
    }
    sum.clamp(0.0, 1.0)
}

/// McNemar's exact one-sided test on the discordant pairs: `b` pairs went pass -> fail,
/// `c` went fail -> pass. Under "no change" each discordant pair is equally likely to go
/// either way, so `p = P(X >= b)` with `X ~ Binomial(b + c, 1/2)`. No discordant pair:
/// `p = 1`. (`b = 5, c = 0` gives `1/32`: five flips the same way is the least that can
/// reach `p < 0.05`.)
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    binomial_tail_half(b + c, b)
}

/// The regularized incomplete beta function `I_x(a, b)` (continued fraction, modified
/// Lentz), for the Student t distribution.
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const MAX_ITER: usize = 20_000;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Regularized lower incomplete gamma `P(a, x)` (series below `a + 1`, continued fraction
/// above), for the normal distribution through `erfc`.
fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let log_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let mut ap = a;
        let mut term = 1.0 / a;
        let mut sum = term;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (sum * log_front.exp()).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = 1.0 / guard(an * d + b);
            c = guard(b + an / c);
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (1.0 - log_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// `P(Z > z)` for a standard normal: `erfc(z / sqrt 2) / 2`, with `erfc(x) = 1 - P(1/2, x²)`.
pub fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let x = z / std::f64::consts::SQRT_2;
    let upper = 1.0 - gamma_p(0.5, x * x); // erfc(|x|)
    if z >= 0.0 {
        0.5 * upper
    } else {
        1.0 - 0.5 * upper
    }
}

/// `P(T > t)` for Student's t with `df` degrees of freedom:
/// `I_{df/(df+t²)}(df/2, 1/2) / 2` for `t >= 0`, by symmetry below.
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if t == f64::NEG_INFINITY {
        return 1.0;
    }
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// `P(T <= t)`.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    1.0 - t_sf(t, df)
}

/// The `p` quantile of the standard normal, by bisection on [`normal_sf`].
pub fn normal_quantile(p: f64) -> f64 {
    quantile(p, normal_sf)
}

/// The `p` quantile of Student's t with `df` degrees of freedom (normal above
/// [`NORMAL_DF`]), by bisection on [`t_sf`]: accurate to about 1e-12.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if df > NORMAL_DF {
        return normal_quantile(p);
    }
    quantile(p, |t| t_sf(t, df))
}

/// Inverts a symmetric survival function: the `t` with `sf(t) = 1 - p`.
fn quantile(p: f64, sf: impl Fn(f64) -> f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if (p - 0.5).abs() < 1e-16 {
        return 0.0;
    }
    if p < 0.5 {
        return -quantile(1.0 - p, sf);
    }
    let target = 1.0 - p;
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while sf(hi) > target && hi < 1e300 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..300 {
        let mid = 0.5 * (lo + hi);
        if sf(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The mean of one scenario's samples: with repeats, a scenario is one cluster and counts
/// once, so the standard error is not shrunk by samples that are not independent.
pub fn cluster_mean(samples: &[f64]) -> f64 {
    let finite: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        0.0
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    }
}

/// Paired differences `d_i = head_i - base_i`, one per scenario evaluated on both sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub n: usize,
    /// `mean(d)`: the change of the metric on the paired scenarios.
    pub mean: f64,
    /// Sample standard deviation of `d` (divisor `n - 1`); 0 when `n < 2`.
    pub sd: f64,
    /// `sd / sqrt(n)`; 0 when `n < 2`.
    pub std_error: f64,
    /// Scenarios that got worse (`d_i < 0`): for pass/fail without repeats, McNemar's `b`.
    pub decreases: u64,
    /// Scenarios that got better (`d_i > 0`): McNemar's `c`.
    pub increases: u64,
}

impl Paired {
    /// From the per-scenario differences (non-finite values are dropped).
    pub fn from_diffs(diffs: &[f64]) -> Paired {
        let d: Vec<f64> = diffs.iter().copied().filter(|x| x.is_finite()).collect();
        let n = d.len();
        let mean = if n == 0 {
            0.0
        } else {
            d.iter().sum::<f64>() / n as f64
        };
        let sd = if n < 2 {
            0.0
        } else {
            (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        let std_error = if n < 2 { 0.0 } else { sd / (n as f64).sqrt() };
        Paired {
            n,
            mean,
            sd,
            std_error,
            decreases: d.iter().filter(|x| **x < -EPS).count() as u64,
            increases: d.iter().filter(|x| **x > EPS).count() as u64,
        }
    }

    /// From `(base, head)` per scenario (each already a [`cluster_mean`] with repeats).
    pub fn from_pairs(pairs: &[(f64, f64)]) -> Paired {
        let diffs: Vec<f64> = pairs.iter().map(|(base, head)| head - base).collect();
        Paired::from_diffs(&diffs)
    }

    fn df(&self) -> f64 {
        (self.n.saturating_sub(1)) as f64
    }
}

/// One-sided p-value of "the metric fell by more than `tolerance`".
///
/// Two tests must both reject, so the p-value is the larger of the two (an
/// intersection-union test, valid at the same level):
/// - the paired t test of `H0: Δ >= -tolerance`: `p_t = P(T_{n-1} <= (mean + tolerance) / SE)`;
///   with `SE = 0` it is 0 when `mean < -tolerance` and 1 otherwise;
/// - the exact sign test on the scenarios that changed (McNemar's exact test for pass/fail):
///   `p_s = P(X >= decreases)`, `X ~ Binomial(decreases + increases, 1/2)`, so a handful of
///   flips can never make a regression, whatever the t test says.
///
/// Fewer than two pairs: 1 (nothing can be rejected).
pub fn regression_p_value(paired: &Paired, tolerance: f64) -> f64 {
    if paired.n < 2 {
        return 1.0;
    }
    let p_t = t_tail_p(paired.mean + tolerance, paired, true);
    let p_s = mcnemar_exact(paired.decreases, paired.increases);
    p_t.max(p_s)
}

/// One-sided p-value of "the metric rose by more than `tolerance`": the mirror image of
/// [`regression_p_value`].
pub fn improvement_p_value(paired: &Paired, tolerance: f64) -> f64 {
    if paired.n < 2 {
        return 1.0;
    }
    let p_t = t_tail_p(paired.mean - tolerance, paired, false);
    let p_s = mcnemar_exact(paired.increases, paired.decreases);
    p_t.max(p_s)
}

/// `P(T <= shifted / SE)` (lower) or `P(T >= shifted / SE)` (upper).
fn t_tail_p(shifted: f64, paired: &Paired, lower: bool) -> f64 {
    if paired.std_error <= EPS {
        let beyond = if lower { shifted < -EPS } else { shifted > EPS };
        return if beyond { 0.0 } else { 1.0 };
    }
    let t = shifted / paired.std_error;
    let p = if lower {
        t_cdf(t, paired.df())
    } else {
        t_sf(t, paired.df())
    };
    if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// One step of Holm's procedure for one hypothesis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HolmStep {
    pub rejected: bool,
    /// The level this hypothesis was held to: `alpha / (m - rank)`, rank 0 for the smallest
    /// p-value.
    pub level: f64,
}

/// Holm's step-down correction: sort the m p-values ascending; the one of rank j (from 0)
/// is tested at `alpha / (m - j)`; reject in order while `p <= level`, and stop rejecting at
/// the first that is not. Controls the chance of any false rejection at `alpha`. Ties keep
/// their input order; NaN counts as 1.
pub fn holm(p_values: &[f64], alpha: f64) -> Vec<HolmStep> {
    let m = p_values.len();
    let clean = |p: f64| if p.is_nan() { 1.0 } else { p };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean(p_values[a]).total_cmp(&clean(p_values[b])));
    let mut out = vec![
        HolmStep {
            rejected: false,
            level: alpha
        };
        m
    ];
    let mut still_rejecting = true;
    for (rank, &i) in order.iter().enumerate() {
        let level = alpha / (m - rank) as f64;
        let rejected = still_rejecting && clean(p_values[i]) <= level;
        still_rejecting = rejected;
        out[i] = HolmStep { rejected, level };
    }
    out
}

/// The smallest change the comparison resolves with 80 % power at `level` (one-sided):
///
/// `MDE = max( k·SE, k²/n, b_min/n )`, capped at 1, with `k = t_{1-level, n-1} + t_{0.8, n-1}`
/// and `b_min = ceil(log2(1/level))`.
///
/// `k·SE` is the textbook term. It vanishes when nothing changed (all pass on both sides,
/// zero variance), which would claim a tiny suite could see anything; the floors keep it
/// honest: a drop of δ flips at least δn scenarios, whose own variance `δ(1-δ)` gives
/// `δ = k·sqrt(δ/n)`, i.e. `δ = k²/n`; and the sign test needs at least `b_min` flips
/// (`0.5^b_min <= level`). One pair: 1. No pair: `None`.
pub fn min_detectable_effect(paired: &Paired, level: f64) -> Option<f64> {
    match paired.n {
        0 => None,
        1 => Some(1.0),
        n => {
            let df = paired.df();
            let k = t_quantile(1.0 - level, df) + t_quantile(POWER, df);
            let n = n as f64;
            let b_min = (1.0 / level).log2().ceil();
            let mde = (k * paired.std_error).max(k * k / n).max(b_min / n);
            Some(if mde.is_finite() { mde.min(1.0) } else { 1.0 })
        }
    }
}

/// Which metric a comparison is about: only names and wording differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    PassRate,
    Score,
}

impl MetricKind {
    fn label(self) -> &'static str {
        match self {
            MetricKind::PassRate => "pass rate",
            MetricKind::Score => "mean score",
        }
    }
}

/// Compares one metric across all suites at once (Holm needs them together).
///
/// Per suite with `n >= 2` paired scenarios, the regression and improvement p-values are
/// computed and Holm-corrected across suites (each direction its own family of the testable
/// suites). The status, in this order:
/// 1. no pair: `NoBaseline`;
/// 2. Holm rejects "Δ >= -tolerance": `Regressed` (equivalently the one-sided upper bound
///    `mean + t_{1-level, n-1}·SE` is below `-tolerance`, and the sign test agrees);
/// 3. Holm rejects "Δ <= +tolerance": `Improved`;
/// 4. one pair, or `MDE > tolerance`: `Inconclusive`, with the MDE;
/// 5. otherwise `NoChange`.
pub fn compare_suites(
    paired: &[Paired],
    metric: MetricKind,
    tolerance: f64,
    alpha: f64,
) -> Vec<Significance> {
    let tolerance = if tolerance.is_finite() {
        tolerance.max(0.0)
    } else {
        0.0
    };
    let alpha = if alpha.is_finite() && alpha > 0.0 && alpha < 1.0 {
        alpha
    } else {
        0.05
    };
    let testable: Vec<usize> = (0..paired.len()).filter(|&i| paired[i].n >= 2).collect();
    let p_reg: Vec<f64> = testable
        .iter()
        .map(|&i| regression_p_value(&paired[i], tolerance))
        .collect();
    let p_imp: Vec<f64> = testable
        .iter()
        .map(|&i| improvement_p_value(&paired[i], tolerance))
        .collect();
    // Holm's family is the suites that changed at all. A suite whose paired scenarios all
    // score exactly as before (no pair got worse or better) has a p-value of 1 whatever the
    // level, so it can never be rejected; counting it would only make the level stricter
    // for the suites that did change (Tarone's refinement: hypotheses that cannot reach
    // significance may be left out without losing control of the family-wise error). Ten
    // untouched suites must not hide a regression in the one a pull request changed.
    let changed: Vec<usize> = (0..testable.len())
        .filter(|&j| {
            let p = &paired[testable[j]];
            p.decreases + p.increases > 0
        })
        .collect();
    let m = changed.len();
    let corrected = |p_values: &[f64]| -> Vec<HolmStep> {
        let family: Vec<f64> = changed.iter().map(|&j| p_values[j]).collect();
        let steps = holm(&family, alpha);
        // Unchanged suites: never rejected; their level is the one a change would face
        // (for the minimum detectable effect they report).
        let mut out = vec![
            HolmStep {
                rejected: false,
                level: alpha / (m + 1) as f64,
            };
            p_values.len()
        ];
        for (k, &j) in changed.iter().enumerate() {
            out[j] = steps[k];
        }
        out
    };
    let holm_reg = corrected(&p_reg);
    let holm_imp = corrected(&p_imp);
    paired
        .iter()
        .enumerate()
        .map(|(i, p)| match testable.iter().position(|&t| t == i) {
            Some(j) => {
                let tests = Tests {
                    p_reg: p_reg[j],
                    p_imp: p_imp[j],
                    reg: holm_reg[j],
                    imp: holm_imp[j],
                    family: m,
                };
                significance(p, metric, tolerance, &tests)
            }
            None => untestable(p, metric),
        })
        .collect()
}

struct Tests {
    p_reg: f64,
    p_imp: f64,
    reg: HolmStep,
    imp: HolmStep,
    family: usize,
}

fn untestable(p: &Paired, metric: MetricKind) -> Significance {
    if p.n == 0 {
        return Significance::no_baseline(0.0, "no scenario was evaluated on both sides");
    }
    Significance {
        status: ChangeStatus::Inconclusive,
        p_value: None,
        adjusted_alpha: None,
        delta: p.mean,
        upper_bound: None,
        lower_bound: None,
        std_error: None,
        min_detectable_effect: Some(1.0),
        method: method(p, metric, 0),
        explanation: format!(
            "{} {}: only 1 scenario was evaluated on both sides, too few to tell",
            metric.label(),
            change_words(p.mean)
        ),
    }
}

fn significance(p: &Paired, metric: MetricKind, tolerance: f64, tests: &Tests) -> Significance {
    let df = p.df();
    let upper = p.mean + t_quantile(1.0 - tests.reg.level, df) * p.std_error;
    let lower = p.mean - t_quantile(1.0 - tests.imp.level, df) * p.std_error;
    let mde = min_detectable_effect(p, tests.reg.level).unwrap_or(1.0);
    let confidence = |level: f64| format!("{}%", trim_num((1.0 - level) * 100.0, 2));
    let (status, explanation) = if tests.reg.rejected {
        (
            ChangeStatus::Regressed,
            format!(
                "{} {}; the one-sided {} upper bound of the change ({}) is below -{} (the tolerance) and {} of {} changed scenarios got worse; p = {} <= {}",
                metric.label(),
                change_words(p.mean),
                confidence(tests.reg.level),
                points_signed(upper),
                points(tolerance),
                p.decreases,
                p.decreases + p.increases,
                p_text(tests.p_reg),
                p_text(tests.reg.level)
            ),
        )
    } else if tests.imp.rejected {
        (
            ChangeStatus::Improved,
            format!(
                "{} {}; the one-sided {} lower bound of the change ({}) is above +{} (tolerance)",
                metric.label(),
                change_words(p.mean),
                confidence(tests.imp.level),
                points_signed(lower),
                points(tolerance)
            ),
        )
    } else if mde > tolerance {
        (
            ChangeStatus::Inconclusive,
            format!(
                "{} {}; too few or too noisy to tell: {} paired scenarios only resolve changes of {} or more, the tolerance is {}",
                metric.label(),
                change_words(p.mean),
                p.n,
                points(mde),
                points(tolerance)
            ),
        )
    } else {
        (
            ChangeStatus::NoChange,
            format!(
                "{} {}; no credible change beyond {} ({} upper bound {}, resolves {})",
                metric.label(),
                change_words(p.mean),
                points(tolerance),
                confidence(tests.reg.level),
                points_signed(upper),
                points(mde)
            ),
        )
    };
    Significance {
        status,
        p_value: Some(if p.mean <= 0.0 {
            tests.p_reg
        } else {
            tests.p_imp
        }),
        adjusted_alpha: Some(tests.reg.level),
        delta: p.mean,
        upper_bound: Some(upper),
        lower_bound: Some(lower),
        std_error: Some(p.std_error),
        min_detectable_effect: Some(mde),
        method: method(p, metric, tests.family),
        explanation,
    }
}

fn method(p: &Paired, metric: MetricKind, family: usize) -> String {
    let sign = match metric {
        MetricKind::PassRate => "McNemar exact",
        MetricKind::Score => "sign test",
    };
    let holm = if family > 1 {
        format!(", Holm over {family} suites")
    } else {
        String::new()
    };
    format!(
        "paired t (n={}, clustered by scenario) + {sign} ({} worse, {} better){holm}",
        p.n, p.decreases, p.increases
    )
}

/// `fell 12.5 points`, `rose 3.0 points`, `unchanged`.
fn change_words(delta: f64) -> String {
    if delta < -EPS {
        format!("fell {}", points(-delta))
    } else if delta > EPS {
        format!("rose {}", points(delta))
    } else {
        "unchanged".to_string()
    }
}

/// A fraction as percentage points: `0.125` -> `12.5 points`.
fn points(x: f64) -> String {
    format!("{:.1} points", x * 100.0)
}

fn points_signed(x: f64) -> String {
    format!("{:+.1} points", x * 100.0)
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        trim_num(p, 4)
    }
}

fn trim_num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn ln_gamma_known_values() {
        for (x, want) in [
            (1.0, 0.0),
            (2.0, 0.0),
            (5.0, 24f64.ln()),
            (0.5, std::f64::consts::PI.sqrt().ln()),
            (101.0, 363.739_375_555_563_5),
        ] {
            assert!(
                close(ln_gamma(x), want, 1e-10),
                "lnΓ({x}) = {}",
                ln_gamma(x)
            );
        }
    }

    #[test]
    fn mcnemar_hand_values() {
        let cases = [
            (5, 0, 1.0 / 32.0),
            (0, 0, 1.0),
            (0, 7, 1.0),
            (1, 0, 0.5),
            (4, 0, 1.0 / 16.0),
            // P(X >= 3 | n = 4) = (4 + 1) / 16
            (3, 1, 5.0 / 16.0),
            // P(X >= 2 | n = 4) = (6 + 4 + 1) / 16
            (2, 2, 11.0 / 16.0),
            // P(X >= 8 | n = 10) = (45 + 10 + 1) / 1024
            (8, 2, 56.0 / 1024.0),
        ];
        for (b, c, want) in cases {
            assert!(
                close(mcnemar_exact(b, c), want, 1e-12),
                "b={b} c={c}: {}",
                mcnemar_exact(b, c)
            );
        }
    }

    #[test]
    fn binomial_tail_is_stable_for_large_n() {
        // n = 100 000: the tail at the mean is just over one half, far tails are 0 and 1.
        let n = 100_000;
        let mid = binomial_tail_half(n, n / 2);
        assert!(mid > 0.5 && mid < 0.502, "{mid}");
        assert!(close(binomial_tail_half(n, 1), 1.0, 1e-15));
        assert!(binomial_tail_half(n, 60_000) < 1e-300);
        // Normal approximation: P(X >= 50 500) ≈ P(Z >= 499.5 / 158.11) = 7.9e-4.
        let p = binomial_tail_half(n, 50_500);
        assert!(
            close(p, normal_sf(499.5 / (n as f64 / 4.0).sqrt()), 2e-5),
            "{p}"
        );
        for k in [0, 1, 100, 49_999, 50_000, 50_001, 99_999, 100_000, 100_001] {
            let p = binomial_tail_half(n, k);
            assert!(p.is_finite() && (0.0..=1.0).contains(&p), "k={k}: {p}");
        }
    }

    #[test]
    fn t_quantiles_match_the_table() {
        // Student t table, one-sided.
        let cases = [
            (0.95, 1.0, 6.3138),
            (0.95, 2.0, 2.9200),
            (0.95, 5.0, 2.0150),
            (0.95, 10.0, 1.8125),
            (0.95, 30.0, 1.6973),
            (0.95, 120.0, 1.6577),
            (0.975, 10.0, 2.2281),
            (0.99, 4.0, 3.7469),
            (0.8, 10.0, 0.8791),
            (0.8, 1.0, 1.3764),
            (0.05, 10.0, -1.8125),
            (0.95, 5000.0, 1.6449),
        ];
        for (p, df, want) in cases {
            let got = t_quantile(p, df);
            assert!(close(got, want, 5e-4), "t({p}, {df}) = {got}, table {want}");
        }
        assert!(close(normal_quantile(0.95), 1.644_853_627, 1e-8));
        assert!(close(normal_quantile(0.8), 0.841_621_234, 1e-8));
        assert!(close(normal_quantile(0.975), 1.959_963_985, 1e-8));
        assert_eq!(t_quantile(0.5, 3.0), 0.0);
        assert_eq!(t_quantile(1.0, 3.0), f64::INFINITY);
    }

    #[test]
    fn t_cdf_inverts_the_quantile() {
        for df in [1.0, 3.0, 12.0, 199.0] {
            for p in [0.01, 0.2, 0.5, 0.9, 0.999] {
                let t = t_quantile(p, df);
                assert!(close(t_cdf(t, df), p, 1e-9), "df={df} p={p}");
            }
        }
        assert!(close(t_cdf(0.0, 7.0), 0.5, 1e-12));
    }

    #[test]
    fn paired_standard_error_by_hand() {
        // d = (-1, 0, 0, -1, 0): mean -0.4, sd² = (0.36·2 + 0.16·3) / 4 = 0.3, SE = sqrt(0.3 / 5).
        let p = Paired::from_pairs(&[(1.0, 0.0), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.5, 0.5)]);
        assert_eq!(p.n, 5);
        assert!(close(p.mean, -0.4, 1e-12));
        assert!(close(p.sd, 0.3f64.sqrt(), 1e-12));
        assert!(close(p.std_error, 0.06f64.sqrt(), 1e-12));
        assert_eq!((p.decreases, p.increases), (2, 0));
        // Repeats are clustered: a scenario with samples (1, 0, 1) counts once, as 2/3.
        assert!(close(cluster_mean(&[1.0, 0.0, 1.0]), 2.0 / 3.0, 1e-12));
        assert_eq!(cluster_mean(&[]), 0.0);
        let one = Paired::from_diffs(&[0.5]);
        assert_eq!((one.n, one.sd, one.std_error), (1, 0.0, 0.0));
        let none = Paired::from_diffs(&[f64::NAN]);
        assert_eq!(none.n, 0);
    }

    #[test]
    fn holm_step_down() {
        let steps = holm(&[0.01, 0.04, 0.03], 0.05);
        assert_eq!(
            steps.iter().map(|s| s.rejected).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert!(close(steps[0].level, 0.05 / 3.0, 1e-15));
        assert!(close(steps[2].level, 0.025, 1e-15));
        assert!(close(steps[1].level, 0.05, 1e-15));
        let all = holm(&[0.001, 0.02, 0.012], 0.05);
        assert!(all.iter().all(|s| s.rejected));
        // Stops at the first failure even if a later p is below its own level.
        let stop = holm(&[0.03, 0.02], 0.05);
        assert_eq!(
            stop.iter().map(|s| s.rejected).collect::<Vec<_>>(),
            [true, true]
        );
        let stop = holm(&[0.04, 0.026], 0.05);
        assert_eq!(
            stop.iter().map(|s| s.rejected).collect::<Vec<_>>(),
            [false, false]
        );
        assert!(holm(&[], 0.05).is_empty());
        assert!(!holm(&[f64::NAN], 0.05)[0].rejected);
    }

    fn pass_pairs(
        both_pass: usize,
        pass_fail: usize,
        fail_pass: usize,
        both_fail: usize,
    ) -> Paired {
        let mut v = Vec::new();
        v.extend(std::iter::repeat_n((1.0, 1.0), both_pass));
        v.extend(std::iter::repeat_n((1.0, 0.0), pass_fail));
        v.extend(std::iter::repeat_n((0.0, 1.0), fail_pass));
        v.extend(std::iter::repeat_n((0.0, 0.0), both_fail));
        Paired::from_pairs(&v)
    }

    fn status(p: Paired) -> Significance {
        compare_suites(&[p], MetricKind::PassRate, 0.05, 0.05).remove(0)
    }

    #[test]
    fn degenerate_suites_never_nan() {
        let cases = [
            (
                "no pairs",
                Paired::from_diffs(&[]),
                ChangeStatus::NoBaseline,
            ),
            (
                "one scenario",
                pass_pairs(1, 0, 0, 0),
                ChangeStatus::Inconclusive,
            ),
            (
                "one scenario that broke",
                pass_pairs(0, 1, 0, 0),
                ChangeStatus::Inconclusive,
            ),
            (
                "all pass, small",
                pass_pairs(10, 0, 0, 0),
                ChangeStatus::Inconclusive,
            ),
            (
                "all fail, small",
                pass_pairs(0, 0, 0, 10),
                ChangeStatus::Inconclusive,
            ),
            (
                "all pass, large",
                pass_pairs(500, 0, 0, 0),
                ChangeStatus::NoChange,
            ),
            (
                "all fail, large",
                pass_pairs(0, 0, 0, 500),
                ChangeStatus::NoChange,
            ),
            (
                "two pairs both broke",
                pass_pairs(0, 2, 0, 0),
                ChangeStatus::Inconclusive,
            ),
            (
                "four of four broke",
                pass_pairs(0, 4, 0, 0),
                ChangeStatus::Inconclusive,
            ),
            (
                "five of five broke",
                pass_pairs(0, 5, 0, 0),
                ChangeStatus::Regressed,
            ),
            (
                "five of five fixed",
                pass_pairs(0, 0, 5, 0),
                ChangeStatus::Improved,
            ),
            (
                "zero discordant, mixed",
                pass_pairs(150, 0, 0, 150),
                ChangeStatus::NoChange,
            ),
        ];
        for (name, p, want) in cases {
            let s = status(p);
            assert_eq!(s.status, want, "{name}: {}", s.explanation);
            for x in [s.delta]
                .into_iter()
                .chain(s.p_value)
                .chain(s.upper_bound)
                .chain(s.lower_bound)
                .chain(s.std_error)
            {
                assert!(x.is_finite(), "{name}: {s:?}");
            }
            if let Some(mde) = s.min_detectable_effect {
                assert!((0.0..=1.0).contains(&mde), "{name}: mde {mde}");
            }
            assert!(!s.explanation.is_empty());
        }
    }

    #[test]
    fn a_regression_needs_both_the_bound_and_mcnemar() {
        // 40 scenarios, 10 broke, 1 fixed: -22.5 points, clearly beyond 5 points.
        let s = status(pass_pairs(25, 10, 1, 4));
        assert_eq!(s.status, ChangeStatus::Regressed, "{}", s.explanation);
        assert!(s.upper_bound.is_some_and(|u| u < -0.05));
        assert!(s.p_value.is_some_and(|p| p < 0.05));
        assert!(
            s.explanation.contains("fell 22.5 points"),
            "{}",
            s.explanation
        );
        // 40 scenarios, 3 broke, 1 fixed: -5 points: not credible.
        let s = status(pass_pairs(32, 3, 1, 4));
        assert_ne!(s.status, ChangeStatus::Regressed);
        // Zero variance and zero discordance but a shifted score on 3 scenarios: the sign
        // test blocks a regression on so few.
        let s = compare_suites(
            &[Paired::from_diffs(&[-0.3, -0.3, -0.3])],
            MetricKind::Score,
            0.05,
            0.05,
        )
        .remove(0);
        assert_eq!(s.status, ChangeStatus::Inconclusive, "{}", s.explanation);
    }

    #[test]
    fn regression_p_value_by_hand() {
        // d = (-1 × 5): SE = 0, mean -1 < -0.05, so the t part is 0 and McNemar decides: 1/32.
        let p = pass_pairs(0, 5, 0, 0);
        assert!(close(regression_p_value(&p, 0.05), 1.0 / 32.0, 1e-12));
        assert_eq!(improvement_p_value(&p, 0.05), 1.0);
        // Nothing changed: nothing to reject.
        assert_eq!(regression_p_value(&pass_pairs(5, 0, 0, 5), 0.05), 1.0);
    }

    #[test]
    fn holm_is_applied_across_suites() {
        // Two suites each with 5 of 5 broken: p = 1/32 each. Holm: 0.03125 <= 0.025? No,
        // so neither is rejected at alpha 0.05 across two suites, though each alone would be.
        let one = pass_pairs(0, 5, 0, 0);
        let both = compare_suites(&[one, one], MetricKind::PassRate, 0.05, 0.05);
        assert!(both.iter().all(|s| s.status != ChangeStatus::Regressed));
        assert!(
            both.iter()
                .all(|s| s.adjusted_alpha.is_some_and(|a| a <= 0.05))
        );
        // A clear regression plus a suite that changed a little: Holm over both.
        let clear = pass_pairs(25, 10, 0, 5);
        let moved = pass_pairs(300, 1, 1, 98);
        let s = compare_suites(&[clear, moved], MetricKind::PassRate, 0.05, 0.05);
        assert_eq!(s[0].status, ChangeStatus::Regressed);
        assert_eq!(s[1].status, ChangeStatus::NoChange);
        assert!(
            s[0].method.contains("Holm over 2 suites"),
            "{}",
            s[0].method
        );
    }

    /// Regression: 6 of 12 scenarios broken (p = 1/64) regressed when the suite was run
    /// alone, and passed once three untouched suites were in the run: suites in which no
    /// pair changed cannot be rejected, so they are not in Holm's family.
    #[test]
    fn untouched_suites_do_not_dilute_holm() {
        let broken = pass_pairs(6, 6, 0, 0);
        let untouched = pass_pairs(20, 0, 0, 5);
        let alone = compare_suites(&[broken], MetricKind::PassRate, 0.05, 0.05);
        assert_eq!(alone[0].status, ChangeStatus::Regressed);
        let with_others = compare_suites(
            &[broken, untouched, untouched, untouched],
            MetricKind::PassRate,
            0.05,
            0.05,
        );
        assert_eq!(with_others[0].status, ChangeStatus::Regressed);
        assert_eq!(with_others[0].adjusted_alpha, alone[0].adjusted_alpha);
        assert!(
            with_others[1..]
                .iter()
                .all(|s| s.status != ChangeStatus::Regressed)
        );
        // Two broken suites still share the family.
        let two = compare_suites(
            &[broken, broken, untouched],
            MetricKind::PassRate,
            0.05,
            0.05,
        );
        assert!(
            two[0].method.contains("Holm over 2 suites"),
            "{}",
            two[0].method
        );
    }

    #[test]
    fn min_detectable_effect_by_hand() {
        // 500 pairs, no change: k = t(0.95, 499) + t(0.8, 499) ≈ 1.6479 + 0.8421 = 2.4900,
        // floor k²/n = 6.200 / 500 = 0.0124; b_min / n = 5 / 500 = 0.01.
        let p = pass_pairs(500, 0, 0, 0);
        let mde = min_detectable_effect(&p, 0.05).unwrap_or(f64::NAN);
        assert!(close(mde, 0.0124, 2e-4), "{mde}");
        assert_eq!(min_detectable_effect(&Paired::from_diffs(&[]), 0.05), None);
        assert_eq!(
            min_detectable_effect(&Paired::from_diffs(&[0.0]), 0.05),
            Some(1.0)
        );
        // Noisy: SE dominates.
        let noisy = pass_pairs(100, 20, 20, 60);
        let mde = min_detectable_effect(&noisy, 0.05).unwrap_or(f64::NAN);
        let k = t_quantile(0.95, 199.0) + t_quantile(0.8, 199.0);
        assert!(close(mde, k * noisy.std_error, 1e-12));
    }
}
