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
nor a galaxy bootstrap would do. The bootstrap's spread is widened for the number of independent units
(:func:`galmerge.analysis.metrics.small_sample_factor`: a plain cluster bootstrap is liberal with few of
them), and the training variance between train seeds is added: from the networks' own seed-paired
differences when they were trained with several seeds, else from the seed-variance benchmark's
(``benchmarks/seed_variance.py``), in both cases without the seed x galaxy part the bootstrap already
counts (:class:`galmerge.analysis.metrics.SeedTerm`). McNemar's exact test on the first seeds stays in
``tables/conclusions.csv`` as a cross-check only: it treats galaxies as independent and, with the
clustered outcomes of merger sequences, rejects a true null far more often than 5 %.

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
the interval. An *inconclusive* claim thereby says how large an effect the run could have seen. Power
falls off gradually below the MDD (about 29 % at half of it), so each claim also gives the power at the
paper's own difference (:func:`power_at`); a conclusion of several claims needs every one of them, so
its power is about the product of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from galmerge.analysis import evaluation as ev
from galmerge.analysis import metrics as gm
from galmerge.runs import read_seed_claims
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
    than two seeds of that network and subset. Shown in Tables 1-2; the verdicts use the seed-paired
    differences instead (:func:`benchmark_paired_differences`)."""
    if seed_variance is None or not len(seed_variance):
        return float("nan"), 0
    rows = seed_variance[(seed_variance["kind"] == kind) & (seed_variance["subset"] == subset)]
    values = rows["accuracy"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), int(values.size)
    return float(values.std(ddof=1)), int(values.size)


def benchmark_paired_differences(seed_variance: pd.DataFrame | None, better: str, worse: str,
                                 subset: str) -> tuple[np.ndarray, int]:
    """The seed-paired differences ``accuracy(better, s) - accuracy(worse, s)`` (fractions) of the
    seed-variance benchmark on ``subset``, over the seeds both networks were trained with, and the
    benchmark's number of galaxies in the subset (0 and an empty array without a table)."""
    if seed_variance is None or not len(seed_variance):
        return np.empty(0), 0
    rows = seed_variance[seed_variance["subset"] == subset]
    a = rows[rows["kind"] == better].set_index("seed")["accuracy"]
    b = rows[rows["kind"] == worse].set_index("seed")["accuracy"]
    a, b = a[~a.index.duplicated()], b[~b.index.duplicated()]
    common = a.index.intersection(b.index)
    d = (a.loc[common].astype(float) - b.loc[common].astype(float)).to_numpy()
    n = int(rows["n"].max()) if "n" in rows.columns and len(rows) else 0
    return d[np.isfinite(d)], n


#: The seed-variance benchmark's per-claim table beside ``seed_variance_<profile>.csv``
#: (``benchmarks/seed_variance.py``): the seed x galaxy variance it measured from its seeds' predictions.
SEED_CLAIMS_SUFFIX = "_claims"


def seed_claims_path(seed_variance: pd.DataFrame) -> Path | None:
    """Where the benchmark's per-claim table of ``seed_variance`` lies (None when the table has no path)."""
    from galmerge.runs import BENCHMARK_RESULTS

    where = seed_variance.attrs.get("path")
    if not where:
        return None
    path = Path(where)
    path = path if path.is_absolute() else BENCHMARK_RESULTS.parents[1] / path
    return path.with_name(path.stem + SEED_CLAIMS_SUFFIX + path.suffix)


def benchmark_seed_galaxy_variance(seed_variance: pd.DataFrame | None, better: str, worse: str,
                                   subset: str) -> float | None:
    """The seed x galaxy variance (fraction squared) of the seed-paired difference ``better - worse`` on
    ``subset`` that the benchmark measured from its seeds' per-galaxy predictions
    (:func:`galmerge.analysis.metrics.seed_galaxy_variance`; ``seed_variance_<profile>_claims.csv``), or
    None when it did not (a benchmark written before it kept them: the run then bounds it,
    :func:`galmerge.analysis.metrics.seed_term_from_benchmark`)."""
    if seed_variance is None or not len(seed_variance):
        return None
    path = seed_claims_path(seed_variance)
    table = None if path is None else read_seed_claims(path)
    if table is None:
        return None
    rows = table[(table["better"] == better) & (table["worse"] == worse) & (table["subset"] == subset)]
    if not len(rows) or not np.isfinite(float(rows["seed_galaxy_variance"].iloc[0])):
        return None
    return float(rows["seed_galaxy_variance"].iloc[0])


def seed_claims_table(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For the seed-variance benchmark: per claim, the seed-paired differences' SD and the seed x galaxy
    variance (:func:`galmerge.analysis.metrics.seed_galaxy_variance`) from a frame holding every seed's
    predictions (``benchmarks/seed_variance.py``'s pooled frame, the shape
    :func:`galmerge.analysis.evaluation.load_run_scores` gives a run with several seeds). Written beside the
    benchmark's table as ``seed_variance_<profile>_claims.csv``, it lets a one-seed run subtract the measured
    seed x galaxy part instead of bounding it (:func:`benchmark_seed_galaxy_variance`).

    Returns
    -------
    pandas.DataFrame
        ``conclusion, claim, better, worse, subset, seeds, n, paired_sd, seed_galaxy_variance`` (fractions).
    """
    units = gm.resampling_units(frame)
    rows = []
    for c_index, conclusion in enumerate(CONCLUSIONS):
        for k_index, claim in enumerate(conclusion.claims):
            if any(f"pred_{k}" not in frame.columns for k in (claim.better, claim.worse)):
                continue
            mask = _subset_mask(frame, claim.subset)
            y = frame["label"].to_numpy()[mask]
            a = ev.seed_predictions(frame, claim.better)[:, mask]
            b = ev.seed_predictions(frame, claim.worse)[:, mask]
            m = min(len(a), len(b))
            weights = gm.bootstrap_weights(units[mask], n_resamples, np.random.default_rng([seed, c_index, k_index]),
                                           n=len(y))
            per_seed, resampled = [], []
            for pa, pb in zip(a[:m], b[:m]):
                value = (gm.metrics_from_counts(*gm._counts(y, pa))[claim.metric]
                         - gm.metrics_from_counts(*gm._counts(y, pb))[claim.metric])
                per_seed.append(float(value))
                resampled.append(gm.bootstrap_distribution(y, pa, (claim.metric,), weights=weights)[claim.metric]
                                 - gm.bootstrap_distribution(y, pb, (claim.metric,), weights=weights)[claim.metric])
            paired = np.asarray(per_seed)
            rows.append({"conclusion": conclusion.key, "claim": claim.text(), "better": claim.better,
                         "worse": claim.worse, "subset": claim.subset, "seeds": m, "n": int(len(y)),
                         "paired_sd": float(paired.std(ddof=1)) if m > 1 else np.nan,
                         "seed_galaxy_variance": gm.seed_galaxy_variance(np.asarray(resampled)) if m > 1 else np.nan})
    return pd.DataFrame(rows)


def _variance(frame: pd.DataFrame, claim: Claim, seed_variance: pd.DataFrame | None,
              run_name: str | None = None) -> dict:
    """Where a claim's training variance comes from: the networks' own train seeds when both have two or
    more, else the seed-variance benchmark's seed-paired differences when it has two or more seeds of
    both networks on the claim's subset. Returns ``seeds_better, seeds_worse, benchmark_seeds``,
    ``seed_galaxy_from`` and ``benchmark`` (the argument of
    :func:`galmerge.analysis.metrics.seed_sequence_difference`; the run's own seed counts as one of the
    benchmark's when the benchmark names ``run_name`` as its run and has as many test galaxies)."""
    k_a, k_b = len(ev.frame_seeds(frame, claim.better)), len(ev.frame_seeds(frame, claim.worse))
    row = {"seeds_better": k_a, "seeds_worse": k_b, "benchmark_seeds": 0, "benchmark": None,
           "seed_galaxy_from": "measured from the run's seeds" if min(k_a, k_b) >= 2 else ""}
    if max(k_a, k_b) >= 2:
        return row
    paired, n_bench = benchmark_paired_differences(seed_variance, claim.better, claim.worse, claim.subset)
    if paired.size < 2 or n_bench < 1:
        return row
    # the run's seed is one of the benchmark's only when it was measured on this run: same name, same test set
    n_all = seed_variance.loc[seed_variance["subset"] == "all", "n"]
    includes_run = (run_name is not None and run_name in set(seed_variance["run"].astype(str))
                    and len(n_all) > 0 and int(n_all.max()) == len(frame))
    measured = benchmark_seed_galaxy_variance(seed_variance, claim.better, claim.worse, claim.subset)
    return {**row, "benchmark_seeds": int(paired.size), "benchmark": (paired, n_bench, includes_run, measured),
            "seed_galaxy_from": ("measured from the benchmark's predictions" if measured is not None
                                 else "bounded by this run's bootstrap")}


def _variance_text(row: dict, term: gm.SeedTerm, seed_variance: pd.DataFrame | None) -> str:
    """What a claim's interval includes, in words."""
    if term.source == "run" and row["seeds_better"] != row["seeds_worse"]:
        return (f"merger sequences resampled, plus the training variance of the seed mean of the network trained "
                f"with several train seeds ({row['seeds_better']} and {row['seeds_worse']} seeds; "
                f"{term.seeds - 1} degrees of freedom)")
    if term.source == "run":
        return (f"merger sequences resampled, plus the training variance of the seed means from the "
                f"networks' own {term.seeds} seed-paired differences ({term.seeds - 1} degrees of freedom)")
    if term.source == "benchmark":
        where = str(seed_variance.attrs.get("path", "the seed-variance benchmark"))
        runs = ", ".join(sorted(set(seed_variance["run"].astype(str))))
        return (f"merger sequences resampled, plus the training variance of one seed from the seed-variance "
                f"benchmark's seed-paired differences ({term.seeds} seeds on {runs}, {where}; "
                f"{term.seeds - 1} degrees of freedom; the seed x galaxy part {row['seed_galaxy_from']})")
    if max(row["seeds_better"], row["seeds_worse"]) >= 2:
        return "test-set sampling only (the two networks do not both have two or more train seeds)"
    return ("test-set sampling only (one train seed, and no seed-variance benchmark of at least 2 seeds for "
            "this profile)")


def power_at(difference: float, standard_error: float, confidence: float = 0.95) -> float:
    """Probability that the two-sided test at level ``1 - confidence`` finds a true difference of this size
    in the claimed direction, for a normal estimate with this standard error:
    ``Phi(|difference| / SE - z)`` with ``z = z_{(1 + confidence) / 2}`` (NaN when either is not finite).
    At the minimum detectable difference it is :data:`POWER`; at half of it about 0.29."""
    if not (np.isfinite(difference) and np.isfinite(standard_error) and standard_error > 0):
        return float("nan")
    z = stats.norm.ppf((1 + confidence) / 2)
    return float(stats.norm.cdf(abs(difference) / standard_error - z))


def judge_claim(frame: pd.DataFrame, claim: Claim, n_resamples: int = 1000, rng=None,
               confidence: float = 0.95, units: np.ndarray | None = None,
               seed_variance: pd.DataFrame | None = None, run_name: str | None = None) -> dict:
    """Test one claim on a :func:`galmerge.analysis.evaluation.load_run_scores` frame.

    ``units`` are the frame's resampling units (default :func:`galmerge.analysis.metrics.resampling_units`).

    The interval is :func:`galmerge.analysis.metrics.seed_sequence_difference`'s: the sequence bootstrap of
    the difference of the two networks' seed means (widened for few units), plus a draw of the training
    variance. Networks trained with k >= 2 train seeds take it from their own seed-paired differences;
    networks with one seed from the seed-paired differences of the seed-variance benchmark
    (``seed_variance``, :func:`galmerge.runs.read_seed_variance`; :func:`benchmark_paired_differences`);
    in both the seed x galaxy part that the test-set bootstrap already counts is subtracted, and the
    seed term is drawn from Student's t with seeds - 1 degrees of freedom. Without either the interval
    counts test-set sampling only, and the row's ``variance`` says so.

    Returns
    -------
    dict
        ``claim, better, worse, subset, metric, n, n_sequences, value_better, value_worse,
        difference, lower, upper`` (fractions), ``standard_error`` (the spread of the resampled
        difference), ``detectable`` (its minimum detectable difference, :func:`minimum_detectable_difference`),
        ``paper_difference`` (:func:`paper_difference`) and ``power_paper`` (the probability that this
        test finds a true difference as large as the paper's, :func:`power_at`), ``p_not_better``
        (fraction of resamples where the claimed winner does not win), ``mcnemar_only_better,
        mcnemar_only_worse, mcnemar_p`` (McNemar's exact test on the first seeds: a cross-check that
        treats galaxies as independent, kept in the table, not used in the verdict), the training-variance
        columns ``seeds_better, seeds_worse, benchmark_seeds, seed_source, seed_paired_sd,
        seed_galaxy_sd, seed_sd, seed_df`` (fractions; :class:`galmerge.analysis.metrics.SeedTerm`) and
        ``variance`` (in words), ``outcome`` ('supported', 'contradicted', 'unresolved', 'untested') and
        ``reason``. With seeds, ``value_better``, ``value_worse`` and ``difference`` are seed means.
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
    # the resamples of galaxies, shared by the two networks, their seeds and the standard error
    weights = gm.bootstrap_weights(groups, n_resamples, rng, n=len(y))
    variance = _variance(frame, claim, seed_variance, run_name)
    d, resampled, term = gm.seed_sequence_difference(y, a, b, claim.metric, weights, rng,
                                                     variance.pop("benchmark"), confidence, groups)
    spread = float(resampled.std(ddof=1)) if resampled.size > 1 else float("nan")
    se = spread if spread > 0 else float("nan")  # no spread: no estimate of it under another difference
    mdd = minimum_detectable_difference(se, confidence)
    mc = gm.mcnemar_exact(y, a[0], b[0])
    row.update(n=d.n, n_sequences=d.n_groups, value_better=d.value_a, value_worse=d.value_b,
               difference=d.difference, lower=d.lower, upper=d.upper, standard_error=se, detectable=mdd,
               power_paper=power_at(row["paper_difference"], se, confidence),
               p_not_better=d.p_not_greater, mcnemar_only_better=mc.only_a, mcnemar_only_worse=mc.only_b,
               mcnemar_p=mc.p_value, **variance, seed_source=term.source, seed_paired_sd=term.paired_sd,
               seed_galaxy_sd=float(np.sqrt(term.seed_galaxy_variance)) if np.isfinite(term.seed_galaxy_variance)
               else np.nan, seed_sd=term.sd, seed_df=term.df,
               variance=_variance_text(variance, term, seed_variance))
    row.update(_outcome(d, SUBSETS[claim.subset], confidence, mdd))
    return row


def judge_claims(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95, seed_variance: pd.DataFrame | None = None,
                run_name: str | None = None) -> pd.DataFrame:
    """Every claim of the three conclusions (:data:`CONCLUSIONS`), one row each (:func:`judge_claim`,
    ``seed_variance`` as there), with a ``conclusion`` column ('I', 'II', 'III'). Each claim gets its own
    random stream from ``seed``, so adding a claim does not change the others' resamples."""
    units = gm.resampling_units(frame)  # once: one warning, should the frame lack sequences
    rows = []
    for c_index, conclusion in enumerate(CONCLUSIONS):
        for k_index, claim in enumerate(conclusion.claims):
            rng = np.random.default_rng([int(seed), c_index, k_index])
            rows.append({"conclusion": conclusion.key,
                         **judge_claim(frame, claim, n_resamples, rng, confidence, units, seed_variance,
                                       run_name)})
    return pd.DataFrame(rows)


def _describe(row: pd.Series) -> str:
    if row["outcome"] == "untested":
        return f"{row['claim']}: {row['reason']}"
    if row["n"] == 0:
        return f"{row['claim']}: no {SUBSETS[row['subset']]} in the test set"
    return (f"{row['claim']}: {100 * row['value_better']:.1f} vs {100 * row['value_worse']:.1f} %, "
            f"difference {100 * row['difference']:+.1f} points [{100 * row['lower']:+.1f}, {100 * row['upper']:+.1f}] "
            f"on {int(row['n'])} galaxies from {int(row['n_sequences'])} sequences, {_detectable(row)}")


def _detectable(row: pd.Series) -> str:
    """'detectable from X points at 80% power; the paper's difference, +Y, would be found with probability P'
    for one claim row, in words."""
    mdd = row.get("detectable", np.nan)
    text = (f"detectable from {100 * mdd:.1f} points at {POWER:.0%} power" if np.isfinite(mdd)
            else "detectable difference not estimable (the difference is the same in every resample, "
                 "or too few resamples)")
    paper = row.get("paper_difference", np.nan)
    power = row.get("power_paper", np.nan)
    if np.isfinite(paper):
        text += f"; the paper's difference, {100 * paper:+.1f}" + (
            f", would be found with probability {power:.0%}" if np.isfinite(power) else "")
    return text


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
        powers = rows["power_paper"].to_numpy(dtype=float) if "power_paper" in rows.columns else np.empty(0)
        if powers.size and np.isfinite(powers).all() and len(powers) > 1:
            evidence += (f"; were the paper's differences true, this test set would reproduce the conclusion "
                         f"with probability about {np.prod(powers):.0%} (the product of its claims')")
        verdicts.append(Verdict(conclusion.key, conclusion.text, verdict, evidence, reason,
                                rows.reset_index(drop=True)))
    return verdicts


def variance_note(claims: pd.DataFrame) -> str:
    """One sentence on what the claims' intervals include besides test-set sampling, for the
    report and the notebooks: the distinct ``variance`` texts of the tested claims."""
    if "variance" not in claims.columns:
        return "The intervals count test-set sampling only."
    texts = sorted(set(claims.loc[claims["outcome"] != "untested", "variance"].dropna().astype(str)))
    if not texts:
        return "No claim was tested."
    return "The intervals include: " + "; ".join(texts) + "."


def judge_conclusions(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                      confidence: float = 0.95,
                      seed_variance: pd.DataFrame | None = None,
                      run_name: str | None = None) -> tuple[list[Verdict], pd.DataFrame]:
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
    run_name : str, optional
        This run's name (``Run.name``): when the benchmark was measured on it, the run's seed is one of
        the benchmark's, which changes how the seed term is drawn
        (:func:`galmerge.analysis.metrics.seed_term_from_benchmark`).

    Returns
    -------
    verdicts : list of Verdict
        I, II, III in order.
    claims : pandas.DataFrame
        :func:`judge_claims` (write it to ``tables/conclusions.csv``).
    """
    claims = judge_claims(frame, n_resamples, seed, confidence, seed_variance, run_name)
    return verdicts_from_claims(claims), claims
