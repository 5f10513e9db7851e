"""The verifier's score and rank, by hand."""

from __future__ import annotations

import pytest

from coder_rl.verify import CandidateReport, ScoreWeights, combined_score, rank


def test_the_score_is_the_weighted_mean_of_what_was_measured():
    weights = ScoreWeights(given=1.0, generated=0.5, prm=0.25)
    assert combined_score(CandidateReport(given=1.0, generated=0.5, prm=0.2), weights) == pytest.approx(
        (1.0 + 0.25 + 0.05) / 1.75
    )
    assert combined_score(CandidateReport(generated=0.5, prm=1.0), weights) == pytest.approx(
        (0.25 + 0.25) / 0.75
    )
    assert combined_score(CandidateReport(), weights) == 0.0


def test_given_tests_rank_first_when_trusted_and_ties_keep_their_order():
    weights = ScoreWeights()
    reports = [
        CandidateReport(given=0.9, prm=1.0),  # fails a given test: however good its steps look
        CandidateReport(given=1.0, prm=0.1),
        CandidateReport(given=1.0, prm=0.5),
        CandidateReport(given=1.0, prm=0.5),  # ties the one before it: keeps its place after it
    ]
    for r in reports:
        r.score = combined_score(r, weights)
    rank(reports, weights, trust_given=True)
    assert [r.rank for r in reports] == [4, 3, 1, 2]
    rank(reports, weights, trust_given=False)  # by score alone the steps can outweigh a failed test
    assert reports[0].rank == 1
