"""galmerge.nets.transfer and the report's labelled-dataset notes, on synthetic score tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmerge.nets import transfer
from galmerge.report import markdown as report


def _frame(ids, labels, scores: dict, thresholds: dict) -> pd.DataFrame:
    frame = pd.DataFrame({"ID": ids, "label": np.asarray(labels, np.int8)})
    for kind, values in scores.items():
        frame[f"score_{kind}"] = values
    frame.attrs["kinds"] = list(scores)
    return transfer.with_thresholds(frame, thresholds)


def test_transfer_table_uses_the_same_galaxies_and_each_setting_threshold():
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 50)
    good = np.clip(labels * 0.6 + rng.normal(0.2, 0.15, 100), 0, 1)  # ranks well
    shifted = np.clip(good * 0.3, 0, 1)  # same ranking, scale squeezed below the source's threshold
    own = _frame(np.arange(100), labels, {"raw": good}, {"raw": 0.5})
    own = own.iloc[:90].reset_index(drop=True)  # ten galaxies lack an own score
    own.attrs.update(kinds=["raw"], thresholds={"raw": 0.5})
    moved = _frame(np.arange(100), labels, {"raw": shifted}, {"raw": 0.5})
    validation = _frame(np.arange(100), labels, {"raw": shifted}, {"raw": 0.5})
    rechosen = transfer.with_thresholds(moved, transfer.rechosen_thresholds(validation))
    table = transfer.transfer_table(own, moved, rechosen, here="hdf", source="mock").set_index("setting")
    assert list(table.index) == list(transfer.SETTINGS)
    assert (table["n"] == 90).all()  # only galaxies every setting scored
    # the squeezed scale loses accuracy at the source's threshold, not its ranking (AUC)
    assert table.at["transfer", "accuracy"] < 60 < table.at["transfer, threshold re-chosen", "accuracy"]
    assert table.at["transfer", "auc"] == pytest.approx(table.at["trained here", "auc"])
    assert table.at["transfer", "trained_on"] == "mock" and table.at["trained here", "trained_on"] == "hdf"


def test_resolve_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither"):
        transfer.resolve_run("nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trained network"):
        transfer.resolve_run("empty", tmp_path)


def test_report_marks_stage_conclusions_unavailable_and_notes_display_images():
    verdicts = [report.Verdict(c.key, c.text, "inconclusive", "", "") for c in report.CONCLUSIONS]
    marked = report.mark_unavailable(verdicts, stages=False)
    assert [v.verdict for v in marked] == ["inconclusive", report.NOT_AVAILABLE, report.NOT_AVAILABLE]
    assert report.mark_unavailable(verdicts, stages=True) == verdicts
    notes = report.dataset_notes({"data": {"labelled_dataset": True, "n_display_images": 3, "n_objects": 5,
                                           "available": {"redshift": False, "stage": False, "merger_time": True}}})
    text = " ".join(notes)
    assert "not physical" in text and "128 x 128" in text and "redshifts" in text and "merger times" not in text
    assert report.dataset_notes({"data": {"n_objects": 5}}) == []  # mock / challenge data: nothing to say


def test_rechosen_thresholds_follow_the_one_rule_and_its_fallback():
    from galmerge.analysis.metrics import FALLBACK_THRESHOLD, precision_recall_threshold

    labels = np.array([0, 1, 0, 1, 0, 1])
    scores = {"raw": np.array([0.1, 0.7, 0.3, 0.6, 0.8, 0.9]), "model": np.array([0.2, 0.4, 0.1, 0.9, 0.3, 0.5])}
    validation = _frame(np.arange(6), labels, scores, {"raw": 0.5, "model": 0.5})
    chosen = transfer.rechosen_thresholds(validation)
    assert chosen == {k: precision_recall_threshold(labels, v) for k, v in scores.items()}
    no_mergers = _frame(np.arange(3), [0, 0, 0], {"raw": [0.1, 0.2, 0.9]}, {"raw": 0.5})
    with pytest.warns(UserWarning, match="raw scores on this run's validation split: no merger"):
        assert transfer.rechosen_thresholds(no_mergers) == {"raw": FALLBACK_THRESHOLD}
