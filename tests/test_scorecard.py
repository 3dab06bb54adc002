"""The artifact registry (dalib.paper.ARTIFACTS) and the scorecard computed from it (dalib.scorecard)."""

from pathlib import Path

import pytest

from dalib import paper, scorecard, theory

ROOT = Path(__file__).resolve().parents[1]
CLAIM_IDS = {"fig2a_pgd", "fig2c_patch", "fig2a_autoattack", "fig6_restarts", "fig3c_cw_depth1", "table1_lambda",
             "fig4_lipschitz", "fig5_alignment"}


def test_registry_entries_name_existing_producers_and_pages():
    ids = [a["id"] for a in paper.ARTIFACTS]
    assert len(ids) == len(set(ids))
    for want in ("Fig. 2a", "Fig. 2b", "Fig. 2c", "Fig. 2d", "Table 1", "Fig. 3a", "Fig. 3b", "Fig. 3c", "Fig. 3d",
                 "Fig. 4", "Fig. 5", "Table 2", "Table 3", "Fig. 6", *theory.PRINTED_STATUS):
        assert want in ids
    for a in paper.ARTIFACTS:
        assert a["claim"]
        sources = [k for k in ("claims", "theorem", "blocked", "pending") if a.get(k)]
        assert sources, f"{a['id']} says nowhere where its status comes from"
        for key in ("producer", "page"):
            if a.get(key):
                assert (ROOT / a[key]).is_file(), f"{a['id']}: {key} {a[key]} does not exist"
        assert set(a.get("claims", [])) <= CLAIM_IDS
        if a.get("claims"):
            assert a.get("producer") and a.get("page")
    assert set(theory.PRINTED_STATUS.values()) <= {"holds as printed", "corrected"}


def test_overall_rules():
    assert scorecard.overall([]) == "not yet run"
    assert scorecard.overall(["saturated", "saturated"]) == "saturated"
    assert scorecard.overall(["reproduced", "saturated"]) == "reproduced"
    assert scorecard.overall(["reproduced", "inconclusive"]) == "inconclusive"
    assert scorecard.overall(["reproduced", "not reproduced"]) == "not reproduced"


@pytest.mark.parametrize("profile", ["cpu"])
def test_scorecard_from_committed_records(profile):
    card = scorecard.scorecard(profile)
    assert list(card["artifact"]) == [a["id"] for a in paper.ARTIFACTS]
    assert set(card["status"]) <= set(scorecard.STATUSES)
    blocked = card[card["status"] == "blocked"]["artifact"].tolist()
    assert "Fig. 2b" in blocked and "Fig. 2d" in blocked
    theorems = card.set_index("artifact").loc[list(theory.PRINTED_STATUS), "status"]
    assert theorems.to_dict() == theory.PRINTED_STATUS
    # statuses come from the chapters' verdict code: the depth-1 PGD claim has records committed
    assert card.set_index("artifact").loc["Fig. 2a", "status"] in {"reproduced", "not reproduced", "inconclusive",
                                                                     "saturated"}
