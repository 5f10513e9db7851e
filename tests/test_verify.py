"""The verifier's score and rank, by hand."""

from __future__ import annotations

import pytest

from coder_rl.verify import CandidateReport, ScoreWeightsConfig, candidate_score, rank


def test_the_score_is_the_weighted_mean_of_what_was_measured():
    weights = ScoreWeightsConfig(given=1.0, generated=0.5, prm=0.25)
    assert candidate_score(CandidateReport(given=1.0, generated=0.5, prm=0.2), weights) == pytest.approx(
        (1.0 + 0.25 + 0.05) / 1.75
    )
    assert candidate_score(CandidateReport(generated=0.5, prm=1.0), weights) == pytest.approx(
        (0.25 + 0.25) / 0.75
    )
    assert candidate_score(CandidateReport(), weights) == 0.0


def test_given_tests_rank_first_when_trusted_and_ties_keep_their_order():
    weights = ScoreWeightsConfig()
    reports = [
        CandidateReport(given=0.9, prm=1.0),  # fails a given test: however good its steps look
        CandidateReport(given=1.0, prm=0.1),
        CandidateReport(given=1.0, prm=0.5),
        CandidateReport(given=1.0, prm=0.5),  # ties the one before it: keeps its place after it
    ]
    for r in reports:
        r.score = candidate_score(r, weights)
    rank(reports, weights, trust_given=True)
    assert [r.rank for r in reports] == [4, 3, 1, 2]
    rank(reports, weights, trust_given=False)  # by score alone the steps can outweigh a failed test
    assert reports[0].rank == 1


def test_model_paths_are_checked_before_anything_loads(tmp_path):
    from coder_rl.errors import UserError
    from coder_rl.verify import VerifierConfig

    (tmp_path / "config.json").write_text("{}")
    VerifierConfig(
        prm=str(tmp_path), tcg_model="deepseek-ai/deepseek-coder-1.3b-instruct"
    ).check_models()  # a hub id
    VerifierConfig(tcg_model="gpt-4o-mini", tcg_backend="openai").check_models()  # a served model's name
    with pytest.raises(
        UserError, match="verifier.prm: cannot load model 'runs/nope/final': no such directory"
    ):
        VerifierConfig(prm="runs/nope/final").check_models()
    with pytest.raises(UserError, match="verifier.tcg_model"):
        VerifierConfig(tcg_model="runs/typo/final").check_models()
