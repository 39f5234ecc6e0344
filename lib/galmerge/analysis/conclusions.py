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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from galmerge.analysis import metrics as gm
from galmerge.vocab import NETWORK_NAMES as SHORT
from galmerge.vocab import PAPER_TABLE1, PAPER_TABLE2, paper_values

#: Verdicts of a conclusion.
VERDICTS = ("reproduced", "contradicted", "inconclusive")
#: Fewer galaxies than this in a claim's subset leave the claim unresolved.
MIN_GALAXIES = 20
#: Fewer independent units (merger sequences plus objects without one) than this leave it unresolved.
MIN_SEQUENCES = 10
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


def _subset_mask(frame: pd.DataFrame, subset: str) -> np.ndarray:
    if subset == "all":
        return np.ones(len(frame), dtype=bool)
    if "stage" not in frame.columns:
        raise ValueError("the scores frame has no 'stage' column; stage claims cannot be tested")
    return (frame["label"].to_numpy() == 1) & (frame["stage"].astype(str).to_numpy() == subset)


def judge_claim(frame: pd.DataFrame, claim: Claim, n_resamples: int = 1000, rng=None,
               confidence: float = 0.95, units: np.ndarray | None = None) -> dict:
    """Test one claim on a :func:`galmerge.analysis.evaluation.load_run_scores` frame.

    ``units`` are the frame's resampling units (default :func:`galmerge.analysis.metrics.resampling_units`).

    Returns
    -------
    dict
        ``claim, better, worse, subset, metric, n, n_sequences, value_better, value_worse,
        difference, lower, upper`` (fractions; the interval is the paired sequence bootstrap's),
        ``p_not_better`` (fraction of resamples where the claimed winner does not win),
        ``mcnemar_only_better, mcnemar_only_worse, mcnemar_p``, ``outcome`` ('supported',
        'contradicted', 'unresolved', 'untested') and ``reason``.
    """
    row = {"claim": claim.text(), "better": claim.better, "worse": claim.worse, "subset": claim.subset,
           "metric": claim.metric}
    missing = [k for k in (claim.better, claim.worse) if f"pred_{k}" not in frame.columns]
    if missing:
        return {**row, "n": 0, "n_sequences": 0, "outcome": "untested",
                "reason": f"{', '.join(SHORT.get(k, k) for k in missing)} not trained in this run"}
    mask = _subset_mask(frame, claim.subset)
    y = frame["label"].to_numpy()[mask]
    a = frame[f"pred_{claim.better}"].to_numpy()[mask]
    b = frame[f"pred_{claim.worse}"].to_numpy()[mask]
    groups = (gm.resampling_units(frame) if units is None else np.asarray(units))[mask]
    d = gm.paired_bootstrap_difference(y, a, b, claim.metric, groups, n_resamples, rng, confidence)
    mc = gm.mcnemar_exact(y, a, b)
    row.update(n=d.n, n_sequences=d.n_groups, value_better=d.value_a, value_worse=d.value_b,
               difference=d.difference, lower=d.lower, upper=d.upper, p_not_better=d.p_not_greater,
               mcnemar_only_better=mc.only_a, mcnemar_only_worse=mc.only_b, mcnemar_p=mc.p_value)
    where = SUBSETS[claim.subset]
    if d.n < MIN_GALAXIES or d.n_groups < MIN_SEQUENCES:
        row.update(outcome="unresolved",
                   reason=f"only {d.n} {where} from {d.n_groups} independent sequences "
                          f"(at least {MIN_GALAXIES} and {MIN_SEQUENCES} needed)")
    elif d.direction > 0:
        row.update(outcome="supported", reason=f"the {confidence:.0%} interval of the difference lies above 0")
    elif d.direction < 0:
        row.update(outcome="contradicted", reason=f"the {confidence:.0%} interval of the difference lies below 0")
    else:
        row.update(outcome="unresolved", reason=f"the {confidence:.0%} interval of the difference includes 0")
    return row


def judge_claims(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> pd.DataFrame:
    """Every claim of the three conclusions (:data:`CONCLUSIONS`), one row each (:func:`judge_claim`),
    with a ``conclusion`` column ('I', 'II', 'III'). Each claim gets its own random stream
    from ``seed``, so adding a claim does not change the others' resamples."""
    units = gm.resampling_units(frame)  # once: one warning, should the frame lack sequences
    rows = []
    for c_index, conclusion in enumerate(CONCLUSIONS):
        for k_index, claim in enumerate(conclusion.claims):
            rng = np.random.default_rng([int(seed), c_index, k_index])
            rows.append({"conclusion": conclusion.key,
                         **judge_claim(frame, claim, n_resamples, rng, confidence, units)})
    return pd.DataFrame(rows)


def _describe(row: pd.Series) -> str:
    if row["outcome"] == "untested":
        return f"{row['claim']}: {row['reason']}"
    if row["n"] == 0:
        return f"{row['claim']}: no {SUBSETS[row['subset']]} in the test set"
    mc = f"McNemar {int(row['mcnemar_only_better'])} vs {int(row['mcnemar_only_worse'])}, p = {row['mcnemar_p']:.2g}"
    return (f"{row['claim']}: {100 * row['value_better']:.1f} vs {100 * row['value_worse']:.1f} %, "
            f"difference {100 * row['difference']:+.1f} points [{100 * row['lower']:+.1f}, {100 * row['upper']:+.1f}] "
            f"on {int(row['n'])} galaxies from {int(row['n_sequences'])} sequences ({mc})")


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


def judge_conclusions(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                      confidence: float = 0.95) -> tuple[list[Verdict], pd.DataFrame]:
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

    Returns
    -------
    verdicts : list of Verdict
        I, II, III in order.
    claims : pandas.DataFrame
        :func:`judge_claims` (write it to ``tables/conclusions.csv``).
    """
    claims = judge_claims(frame, n_resamples, seed, confidence)
    return verdicts_from_claims(claims), claims
