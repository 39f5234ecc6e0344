"""The paper's three conclusions, judged on this run's test galaxies with paired sequence statistics.

The paper (Chudy et al. 2025, Sects. 4-6) concludes:

I.   Position/shape and residual information are both needed: CNN1 (raw images) is more accurate
     than CNN2 (Sérsic models) and CNN3 (residuals) (Table 1: 74, 70, 68 %).
II.  Position and shape drive pre-merger classification: CNN1 and CNN2 classify more pre-mergers
     correctly than CNN3 (Table 2: 79.3, 76.6 vs 73.3 %).
III. Residual features drive post-merger classification: CNN3 classifies more post-mergers
     correctly than CNN2 (Table 2: 55.5 vs 53.4 %).

Each conclusion is a set of *claims* "network a beats network b in metric m on subset s". A
claim is tested on the difference ``m(a) - m(b)`` computed on the same galaxies, resampled by
merger sequence (:func:`galmerge.analysis.metrics.paired_bootstrap_difference` with the units of
:func:`galmerge.analysis.metrics.resampling_units`, as the binned figures): the objects of one
sequence are correlated, and the two networks see the same galaxies, so neither separate intervals
nor a galaxy bootstrap would do.
McNemar's exact test (:func:`galmerge.analysis.metrics.mcnemar_exact`) is shown beside it as a
cross-check; it assumes independent galaxies.

A claim is *supported* when the ``confidence`` interval of the difference lies above 0,
*contradicted* when it lies below 0, and *unresolved* otherwise, or when its subset holds fewer
than :data:`MIN_GALAXIES` galaxies or :data:`MIN_SEQUENCES` independent units (then the
percentile interval itself is unreliable). A conclusion is *reproduced* when all its claims are
supported, *contradicted* when one of them is contradicted, and *inconclusive* otherwise; the
reason is always stated. Requiring every claim to be supported at the 95 % level is an
intersection-union test, itself at the 5 % level (Berger 1982, Technometrics 24, 295).

Beside each interval stands the *minimum detectable difference* (MDD): the smallest true difference
this run would find with probability :data:`POWER` (80 %) by the same two-sided test at level
``1 - confidence`` (5 %), ``MDD = (z_{1 - alpha/2} + z_{power}) * SE`` = 2.80 SE at 5 % and 80 %, the
"minimum detectable effect" of Bloom (1995, Evaluation Review 19, 547, eq. 1 and Table 1). SE is
the standard deviation of the paired difference over the same sequence-bootstrap resamples that give
the interval. An *inconclusive* claim thereby says how large an effect the run could have seen: a
paper difference below the MDD was never within reach of this test set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from galmerge.analysis import evaluation as ev
from galmerge.analysis import metrics as gm
from galmerge.vocab import NETWORK_NAMES as SHORT
from galmerge.vocab import PAPER_TABLE1, PAPER_TABLE2, paper_values

#: Verdicts of a conclusion.
VERDICTS = ("reproduced", "contradicted", "inconclusive")
#: Fewer galaxies than this in a claim's subset leave the claim unresolved.
MIN_GALAXIES = 20
#: Fewer independent units (merger sequences plus objects without one) than this leave it unresolved.
MIN_SEQUENCES = 10
#: Probability of detecting a true difference of the minimum detectable size (the usual 80 %; Bloom 1995).
POWER = 0.8
#: Subsets of the test set a claim can be about: the whole set or the mergers of one stage.
SUBSETS = {"all": "test galaxies", "pre": "pre-mergers", "ongoing": "ongoing mergers", "post": "post-mergers"}


@dataclass(frozen=True)
class Claim:
    """'``better`` beats ``worse`` in ``metric`` on ``subset``' (a kind of network each)."""

    better: str
    worse: str
    subset: str
    metric: str

    def text(self) -> str:
        what = "accuracy" if self.metric == "accuracy" else "fraction correct"
        better, worse = SHORT.get(self.better, self.better), SHORT.get(self.worse, self.worse)
        return f"{better} > {worse} ({what}, {SUBSETS[self.subset]})"


@dataclass(frozen=True)
class Conclusion:
    key: str
    text: str
    claims: tuple[Claim, ...]
    paper: str


CONCLUSIONS = (
    Conclusion("I", "Position/shape and residual information are both needed (CNN1 beats CNN2 and CNN3)",
               (Claim("raw", "model", "all", "accuracy"), Claim("raw", "residual", "all", "accuracy")),
               f"accuracy {paper_values(PAPER_TABLE1, 'accuracy')} % (Table 1)"),
    Conclusion("II", "Position and shape drive pre-merger classification (CNN1 and CNN2 beat CNN3 on pre-mergers)",
               (Claim("raw", "residual", "pre", "fraction_correct"),
                Claim("model", "residual", "pre", "fraction_correct")),
               f"pre-mergers correct {paper_values(PAPER_TABLE2, 'pre')} % (Table 2)"),
    Conclusion("III", "Residual features drive post-merger classification (CNN3 beats CNN2 on post-mergers)",
               (Claim("residual", "model", "post", "fraction_correct"),),
               f"post-mergers correct {paper_values(PAPER_TABLE2, 'post')} % (Table 2)"),
)


@dataclass
class Verdict:
    """The verdict on one of the paper's conclusions.

    Attributes
    ----------
    key : str
        'I', 'II' or 'III'.
    conclusion : str
        The conclusion in words.
    verdict : str
        One of :data:`VERDICTS`.
    evidence : str
        The paired differences behind it, in words.
    reason : str
        Why the verdict is what it is (always set).
    claims : pandas.DataFrame
        The rows of :func:`judge_claims` for this conclusion.
    """

    key: str
    conclusion: str
    verdict: str
    evidence: str
    reason: str
    claims: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def detectable(self) -> dict[str, float]:
        """Minimum detectable difference of each tested claim (per cent points, claim text -> MDD;
        NaN where it could not be estimated), for ``summary.json``."""
        if "detectable" not in self.claims.columns:
            return {}
        tested = self.claims[self.claims["outcome"] != "untested"]
        return {str(r["claim"]): round(100 * float(r["detectable"]), 2) for _, r in tested.iterrows()}


def _subset_mask(frame: pd.DataFrame, subset: str) -> np.ndarray:
    if subset == "all":
        return np.ones(len(frame), dtype=bool)
    if "stage" not in frame.columns:
        raise ValueError("the scores frame has no 'stage' column; stage claims cannot be tested")
    return (frame["label"].to_numpy() == 1) & (frame["stage"].astype(str).to_numpy() == subset)


def minimum_detectable_difference(standard_error: float, confidence: float = 0.95, power: float = POWER) -> float:
    """Smallest true difference a two-sided test at level ``1 - confidence`` detects with probability ``power``.

    ``MDD = (z_{(1 + confidence)/2} + z_{power}) * SE`` (Bloom 1995, Evaluation Review 19, 547, eq. 1):
    2.80 SE at 95 % and 80 %. It assumes the difference is about normally distributed with the same
    spread whatever its true value, as the paired bootstrap of a difference of two fractions is.

    Parameters
    ----------
    standard_error : float
        Standard error of the difference (same units as the MDD: fractions here).
    confidence : float
        Two-sided level of the test's interval, in (0, 1).
    power : float
        Probability of detection, in (0, 1).

    Returns
    -------
    float
        The MDD (NaN when the standard error is not finite).
    """
    if not (0 < confidence < 1 and 0 < power < 1):
        raise ValueError(f"confidence and power must lie in (0, 1), got {confidence} and {power}")
    if not np.isfinite(standard_error):
        return float("nan")
    z = stats.norm.ppf((1 + confidence) / 2) + stats.norm.ppf(power)
    return float(z * standard_error)


def paired_standard_error(y: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str, weights: np.ndarray) -> float:
    """Standard deviation of ``metric(a) - metric(b)`` over the bootstrap resamples ``weights``
    (:func:`galmerge.analysis.metrics.bootstrap_weights`): the bootstrap standard error of the paired
    difference (fraction). NaN with fewer than two resamples on which both are defined, or when it is
    0 (the difference is the same in every resample: the two never disagree, or always disagree in the
    same direction; the spread under another true difference is then unknown)."""
    da = gm.bootstrap_distribution(y, a, (metric,), weights=weights)[metric]
    db = gm.bootstrap_distribution(y, b, (metric,), weights=weights)[metric]
    d = (da - db)[np.isfinite(da) & np.isfinite(db)]
    spread = float(d.std(ddof=1)) if d.size > 1 else float("nan")
    # a difference that never varies has no spread, and gives no estimate of it under another difference
    return spread if spread > 0 else float("nan")


def paper_difference(claim: Claim) -> float:
    """The paper's own difference for a claim (fraction): Table 1 accuracies for the whole test set,
    Table 2 fractions correct for pre- and post-mergers (NaN where the paper gives none)."""
    table, column = ((PAPER_TABLE1, "accuracy") if claim.subset == "all" else (PAPER_TABLE2, claim.subset))
    try:
        return (table[claim.better][column] - table[claim.worse][column]) / 100
    except KeyError:
        return float("nan")


def _outcome(d: gm.PairedDifference, where: str, confidence: float, mdd: float) -> dict:
    """``outcome`` and ``reason`` of a claim from its paired difference (see :func:`judge_claim`)."""
    if d.n < MIN_GALAXIES or d.n_groups < MIN_SEQUENCES:
        return {"outcome": "unresolved",
                "reason": f"only {d.n} {where} from {d.n_groups} independent sequences "
                          f"(at least {MIN_GALAXIES} and {MIN_SEQUENCES} needed)"}
    if d.direction > 0:
        return {"outcome": "supported", "reason": f"the {confidence:.0%} interval of the difference lies above 0"}
    if d.direction < 0:
        return {"outcome": "contradicted", "reason": f"the {confidence:.0%} interval of the difference lies below 0"}
    reason = f"the {confidence:.0%} interval of the difference includes 0"
    if np.isfinite(mdd):
        reason += (f"; the smallest difference this run could detect is {100 * mdd:.1f} points "
                   f"(minimum detectable difference, {POWER:.0%} power)")
    return {"outcome": "unresolved", "reason": reason}


def benchmark_seed_sd(seed_variance: pd.DataFrame | None, kind: str, subset: str) -> tuple[float, int]:
    """Training variance of one network on one subset from the seed-variance benchmark's table
    (:func:`galmerge.runs.read_seed_variance`; ``benchmarks/seed_variance.py``): the sample standard
    deviation over its train seeds of the accuracy on ``subset`` (fraction; on the mergers of one stage
    that is the fraction correct), and the number of seeds. NaN when the table is None or holds fewer
    than two seeds of that network and subset."""
    if seed_variance is None or not len(seed_variance):
        return float("nan"), 0
    rows = seed_variance[(seed_variance["kind"] == kind) & (seed_variance["subset"] == subset)]
    values = rows["accuracy"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), int(values.size)
    return float(values.std(ddof=1)), int(values.size)


def _variance(frame: pd.DataFrame, claim: Claim, seed_variance: pd.DataFrame | None) -> dict:
    """What a claim's interval includes besides test-set sampling (issue 23): the train seeds resampled
    when a network has two or more, else the benchmark's seed SD of both networks when it has them.
    Returns ``seeds_better, seeds_worse, seed_sd_better, seed_sd_worse, benchmark_seeds, extra_sd, variance``
    (``variance`` in words)."""
    k_a, k_b = len(ev.frame_seeds(frame, claim.better)), len(ev.frame_seeds(frame, claim.worse))
    row = {"seeds_better": k_a, "seeds_worse": k_b, "seed_sd_better": np.nan, "seed_sd_worse": np.nan,
           "benchmark_seeds": 0, "extra_sd": 0.0}
    if max(k_a, k_b) >= 2:
        return {**row, "variance": f"merger sequences and train seeds ({k_a} and {k_b} seeds) resampled together"}
    (sd_a, n_a), (sd_b, n_b) = (benchmark_seed_sd(seed_variance, k, claim.subset) for k in (claim.better, claim.worse))
    if not (np.isfinite(sd_a) and np.isfinite(sd_b)):
        return {**row, "variance": "test-set sampling only (one train seed, and no seed-variance benchmark of "
                                   "at least 2 seeds for this profile)"}
    where = str(seed_variance.attrs.get("path", "the seed-variance benchmark"))
    runs = ", ".join(sorted(set(seed_variance["run"].astype(str))))
    return {**row, "seed_sd_better": sd_a, "seed_sd_worse": sd_b, "benchmark_seeds": min(n_a, n_b),
            "extra_sd": float(np.hypot(sd_a, sd_b)),
            "variance": f"merger sequences resampled, plus the training variance between seeds measured by the "
                        f"benchmark ({min(n_a, n_b)} seeds on {runs}, {where}; each claim's two SDs are "
                        "seed_sd_better and seed_sd_worse of tables/conclusions.csv)"}


def judge_claim(frame: pd.DataFrame, claim: Claim, n_resamples: int = 1000, rng=None,
               confidence: float = 0.95, units: np.ndarray | None = None,
               seed_variance: pd.DataFrame | None = None) -> dict:
    """Test one claim on a :func:`galmerge.analysis.evaluation.load_run_scores` frame.

    ``units`` are the frame's resampling units (default :func:`galmerge.analysis.metrics.resampling_units`).

    Training variance (issue 23): a network trained with k >= 2 train seeds has every seed's predictions
    in the frame; each resample then draws k of its k seeds with replacement and averages them (a
    two-stage bootstrap), so the interval holds both test-set sampling and the training variance of a
    k-seed mean, and the point estimate is the difference of the seed means
    (:func:`galmerge.analysis.metrics.seed_sequence_difference`). When both networks have one seed,
    ``seed_variance`` (the benchmark's table, :func:`galmerge.runs.read_seed_variance`) adds to every
    resample's difference a draw from N(0, sd_a**2 + sd_b**2), the two networks' seed SDs on the claim's
    subset (independent trainings; :func:`benchmark_seed_sd`); without it the interval counts test-set
    sampling only, and the row's ``variance`` says so.

    Returns
    -------
    dict
        ``claim, better, worse, subset, metric, n, n_sequences, value_better, value_worse,
        difference, lower, upper`` (fractions; the interval is the paired sequence bootstrap's),
        ``standard_error`` (the bootstrap spread of the difference), ``detectable`` (its minimum
        detectable difference, :func:`minimum_detectable_difference`), ``paper_difference``
        (:func:`paper_difference`), ``p_not_better`` (fraction of resamples where the claimed winner
        does not win), ``mcnemar_only_better, mcnemar_only_worse, mcnemar_p`` (first seeds), the
        training-variance columns of :func:`_variance` (``variance`` says in words what the interval
        includes), ``outcome`` ('supported', 'contradicted', 'unresolved', 'untested') and ``reason``.
        With seeds, ``value_better``, ``value_worse`` and ``difference`` are seed means.
    """
    row = {"claim": claim.text(), "better": claim.better, "worse": claim.worse, "subset": claim.subset,
           "metric": claim.metric, "paper_difference": paper_difference(claim)}
    missing = [k for k in (claim.better, claim.worse) if f"pred_{k}" not in frame.columns]
    if missing:
        return {**row, "n": 0, "n_sequences": 0, "outcome": "untested",
                "reason": f"{', '.join(SHORT.get(k, k) for k in missing)} not trained in this run"}
    mask = _subset_mask(frame, claim.subset)
    y = frame["label"].to_numpy()[mask]
    a = ev.seed_predictions(frame, claim.better)[:, mask]
    b = ev.seed_predictions(frame, claim.worse)[:, mask]
    groups = (gm.resampling_units(frame) if units is None else np.asarray(units))[mask]
    rng = np.random.default_rng(rng)
    # the resamples of galaxies, shared by the two networks, their seeds' draws and the standard error
    weights = gm.bootstrap_weights(groups, n_resamples, rng, n=len(y))
    variance = _variance(frame, claim, seed_variance)
    d, resampled = gm.seed_sequence_difference(y, a, b, claim.metric, weights, rng, variance["extra_sd"],
                                               confidence, groups)
    spread = float(resampled.std(ddof=1)) if resampled.size > 1 else float("nan")
    se = spread if spread > 0 else float("nan")  # no spread: no estimate of it under another difference
    mdd = minimum_detectable_difference(se, confidence)
    mc = gm.mcnemar_exact(y, a[0], b[0])
    row.update(n=d.n, n_sequences=d.n_groups, value_better=d.value_a, value_worse=d.value_b,
               difference=d.difference, lower=d.lower, upper=d.upper, standard_error=se, detectable=mdd,
               p_not_better=d.p_not_greater, mcnemar_only_better=mc.only_a, mcnemar_only_worse=mc.only_b,
               mcnemar_p=mc.p_value, **variance)
    row.update(_outcome(d, SUBSETS[claim.subset], confidence, mdd))
    return row


def judge_claims(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95, seed_variance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim of the three conclusions (:data:`CONCLUSIONS`), one row each (:func:`judge_claim`,
    ``seed_variance`` as there), with a ``conclusion`` column ('I', 'II', 'III'). Each claim gets its own
    random stream from ``seed``, so adding a claim does not change the others' resamples."""
    units = gm.resampling_units(frame)  # once: one warning, should the frame lack sequences
    rows = []
    for c_index, conclusion in enumerate(CONCLUSIONS):
        for k_index, claim in enumerate(conclusion.claims):
            rng = np.random.default_rng([int(seed), c_index, k_index])
            rows.append({"conclusion": conclusion.key,
                         **judge_claim(frame, claim, n_resamples, rng, confidence, units, seed_variance)})
    return pd.DataFrame(rows)


def _describe(row: pd.Series) -> str:
    if row["outcome"] == "untested":
        return f"{row['claim']}: {row['reason']}"
    if row["n"] == 0:
        return f"{row['claim']}: no {SUBSETS[row['subset']]} in the test set"
    mc = f"McNemar {int(row['mcnemar_only_better'])} vs {int(row['mcnemar_only_worse'])}, p = {row['mcnemar_p']:.2g}"
    return (f"{row['claim']}: {100 * row['value_better']:.1f} vs {100 * row['value_worse']:.1f} %, "
            f"difference {100 * row['difference']:+.1f} points [{100 * row['lower']:+.1f}, {100 * row['upper']:+.1f}] "
            f"on {int(row['n'])} galaxies from {int(row['n_sequences'])} sequences, {_detectable(row)} ({mc})")


def _detectable(row: pd.Series) -> str:
    """'detectable from X points (paper: +Y)' for one claim row, in words."""
    mdd = row.get("detectable", np.nan)
    text = (f"detectable from {100 * mdd:.1f} points at {POWER:.0%} power" if np.isfinite(mdd)
            else "detectable difference not estimable (the difference is the same in every resample, "
                 "or too few resamples)")
    paper = row.get("paper_difference", np.nan)
    return text + (f" (paper: {100 * paper:+.1f})" if np.isfinite(paper) else "")


def verdicts_from_claims(claims: pd.DataFrame) -> list[Verdict]:
    """Combine the claims of :func:`judge_claims` into one :class:`Verdict` per conclusion."""
    verdicts = []
    for conclusion in CONCLUSIONS:
        rows = claims[claims["conclusion"] == conclusion.key]
        outcomes = rows["outcome"].tolist()
        if outcomes and all(o == "supported" for o in outcomes):
            verdict, reason = "reproduced", "every claim's paired sequence-bootstrap interval lies above 0"
        elif "contradicted" in outcomes:
            verdict = "contradicted"
            reason = "; ".join(f"{r['claim']}: {r['reason']}" for _, r in rows.iterrows()
                               if r["outcome"] == "contradicted")
        else:
            verdict = "inconclusive"
            reason = "; ".join(f"{r['claim']}: {r['reason']}" for _, r in rows.iterrows()
                               if r["outcome"] != "supported") or "no claim could be tested"
        evidence = "; ".join(_describe(r) for _, r in rows.iterrows()) + f" (paper: {conclusion.paper})"
        verdicts.append(Verdict(conclusion.key, conclusion.text, verdict, evidence, reason,
                                rows.reset_index(drop=True)))
    return verdicts


def variance_note(claims: pd.DataFrame) -> str:
    """One sentence on what the claims' intervals include besides test-set sampling (issue 23), for the
    report and the notebooks: the distinct ``variance`` texts of the tested claims."""
    if "variance" not in claims.columns:
        return "The intervals count test-set sampling only."
    texts = sorted(set(claims.loc[claims["outcome"] != "untested", "variance"].dropna().astype(str)))
    if not texts:
        return "No claim was tested."
    return "The intervals include: " + "; ".join(texts) + "."


def judge_conclusions(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                      confidence: float = 0.95,
                      seed_variance: pd.DataFrame | None = None) -> tuple[list[Verdict], pd.DataFrame]:
    """The verdict on each of the paper's conclusions, and the claims table behind them.

    Parameters
    ----------
    frame : pandas.DataFrame
        Test-split scores from :func:`galmerge.analysis.evaluation.load_run_scores` (``label``, ``stage``,
        ``sequence_ID`` and ``pred_<kind>`` columns).
    n_resamples : int
        Paired sequence-bootstrap resamples per claim.
    seed : int
    confidence : float
        Two-sided level of each claim's interval.
    seed_variance : pandas.DataFrame, optional
        The seed-variance benchmark's table for the run's profile (:func:`galmerge.runs.read_seed_variance`),
        used for networks trained with one seed (:func:`judge_claim`).

    Returns
    -------
    verdicts : list of Verdict
        I, II, III in order.
    claims : pandas.DataFrame
        :func:`judge_claims` (write it to ``tables/conclusions.csv``).
    """
    claims = judge_claims(frame, n_resamples, seed, confidence, seed_variance)
    return verdicts_from_claims(claims), claims
