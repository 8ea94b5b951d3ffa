"""routecheck calibrate: the loader, hand-computed numbers on a tiny set, the bundled set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.calibrate import (
    DEFAULT_SET,
    CalibrationFileError,
    build_policies,
    calibrate,
    load_calibration,
    main,
)
from harness.errors import RoutecheckError


def _row(
    id: str, gold: str, predicted: str, verdict: str, split: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "catalog": "customer_support",
        "tool": "request_refund",
        "argument": "reason",
        "gold": gold,
        "accept": [],
        "predicted": predicted,
        "verdict": verdict,
        "note": "",
        "split": split,
        "lang": "en",
        **extra,
    }


# Hand-labelled; the decisions of each policy are worked out in the comments of the tests.
TINY = [
    _row("t1", "wrong size", "wrong size", "match", "tune"),
    _row("t2", "wrong size", "came in the wrong size", "match", "tune"),
    _row("t3", "never arrived", "arrived", "mismatch", "tune"),
    _row("t4", "charged twice", "Charged twice!", "match", "tune"),
    _row("s1", "too small", "too big", "mismatch", "sealed"),
    _row("s2", "too small", "too small", "match", "sealed"),
]


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "calibration"
    folder.mkdir()
    _write(folder / "pairs.jsonl", TINY)
    return folder


def test_tiny_set_hand_computed(tiny: Path) -> None:
    report = calibrate(load_calibration(tiny), build_policies(["words"], [0.5, 0.9]))
    by_name = {r.name: r for r in report.results}

    # exact: t1 match (TP); t2, t4 missed (FN); t3 rejected (TN). Sealed: s1 TN, s2 TP.
    exact = by_name["exact"].parts
    assert (exact["tune"].tp, exact["tune"].fp, exact["tune"].fn, exact["tune"].tn) == (1, 0, 2, 1)
    assert exact["tune"].agreement.value == 0.5
    assert exact["tune"].precision.value == 1.0
    assert exact["tune"].recall.value == pytest.approx(1 / 3)
    assert exact["sealed"].agreement.value == 1.0

    # contains: t2 holds "wrong size", t4 equals after normalizing: all four right.
    contains = by_name["contains"].parts["tune"]
    assert (contains.tp, contains.fp, contains.fn, contains.tn) == (3, 0, 0, 1)

    # words scores: t2 [came, in, wrong, size] vs [wrong, size] = 4/6; t3 [arrived] vs
    # [not, arrived] = 2/3 halved for the negation = 1/3; s1 [too, big] vs [too, small] = 1/2.
    low, high = by_name["similar:words@0.5"].parts, by_name["similar:words@0.9"].parts
    assert low["tune"].agreement.value == 1.0
    assert (low["sealed"].tp, low["sealed"].fp) == (1, 1)  # s1 scores exactly 0.5
    assert high["tune"].agreement.value == 0.75  # t2 (2/3) falls below 0.9
    assert high["sealed"].agreement.value == 1.0
    assert by_name["similar:words@0.5"].decisions["t2"][1] == pytest.approx(2 / 3)

    # The threshold is chosen on tune, even though 0.9 does better on sealed ...
    assert "similar:words@0.5" in report.candidates
    assert "similar:words@0.9" not in report.candidates
    # ... and the chosen one cannot be recommended: its sealed precision is 1/2.
    assert report.recommended == "exact"  # first of the policies tied at sealed agreement 1.0


def test_wilson_intervals_in_json(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", str(tiny), "--json", "--thresholds", "0.5,0.9"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pairs"] == 6
    assert data["parts"] == {"tune": {"pairs": 4, "match": 3}, "sealed": {"pairs": 2, "match": 1}}
    exact = next(p for p in data["policies"] if p["policy"] == "exact")
    precision = exact["tune"]["precision"]
    # Wilson for 1 of 1: centre (1 + z^2/2) / (1 + z^2) = 0.6033, half-width 0.3967
    assert (precision["k"], precision["n"]) == (1, 1)
    assert precision["low"] == pytest.approx(0.2065, abs=1e-4)
    assert precision["high"] == 1.0
    assert data["recommended"] == "exact"
    wrong = data["disagreements"]["similar:words@0.5"]
    assert [d["id"] for d in wrong] == ["s1"]
    assert wrong[0]["score"] == pytest.approx(0.5)


def test_table_lists_parts_choice_and_disagreements(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--set", str(tiny), "--thresholds", "0.5,0.9", "--all-disagreements"]) == 0
    out = capsys.readouterr().out
    assert "tune: 4 pairs, 3 labelled match" in out
    assert "sealed: 2 pairs, 1 labelled match" in out
    assert "similar:words@0.5" in out and "<- chosen on tune" in out
    assert "recommended (best sealed agreement with sealed precision >= 0.97): exact" in out
    assert "s1 [sealed] person=mismatch policy=match score=0.50" in out


def test_judge_is_measured_like_a_policy(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path / "cache"))
    answers = {"t1": "yes", "t2": "yes", "t3": "yes", "t4": "yes", "s1": "no", "s2": "yes"}
    replay = _write(tmp_path / "judge.jsonl", [{"id": k, "output": v} for k, v in answers.items()])
    assert main(["--set", str(tiny), "--json", "--judge", f"mock:{replay}"]) == 0
    data = json.loads(capsys.readouterr().out)
    judge = next(p for p in data["policies"] if p["policy"] == f"judge:mock:{replay}")
    # tune: t3 wrongly accepted, the rest right; sealed: both right.
    assert (judge["tune"]["tp"], judge["tune"]["fp"], judge["tune"]["tn"]) == (3, 1, 0)
    assert judge["tune"]["precision"]["value"] == 0.75
    assert judge["sealed"]["agreement"]["value"] == 1.0
    assert f"judge:mock:{replay}" in data["candidates"]


def test_catalog_filter_and_bad_options(tiny: Path) -> None:
    with pytest.raises(CalibrationFileError, match="catalogs: customer_support"):
        main(["--set", str(tiny), "--catalog", "travel_booking"])
    with pytest.raises(SystemExit):
        main(["--set", str(tiny), "--thresholds", "0.5,2"])
    with pytest.raises(SystemExit):
        main(["--set", str(tiny), "--scorers", "nope"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "pairs.jsonl:2: bad JSON"),
        ("[1, 2]", "pairs.jsonl:2: each line must be a JSON object"),
        (json.dumps({k: v for k, v in TINY[1].items() if k != "note"}), "field 'note' is missing"),
        (json.dumps({**TINY[1], "verdict": "yes"}), "field 'verdict' is 'yes'; use 'match'"),
        (json.dumps({**TINY[1], "split": "dev"}), "field 'split' is 'dev'; use 'tune' or 'sealed'"),
        (json.dumps({**TINY[1], "accept": ["ok", 3]}), "field 'accept' item 1 must be a string"),
        (json.dumps({**TINY[1], "gold": 3}), "field 'gold' must be a str"),
        (json.dumps({**TINY[1], "gold": " "}), "field 'gold' is empty"),
        (json.dumps({**TINY[1], "score": 1}), "unknown field 'score'"),
        (json.dumps(TINY[0]), "field 'id' 't1' repeats"),
    ],
)
def test_loader_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(TINY[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CalibrationFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_calibration(path)


def test_loader_refuses_missing_and_empty_sets(tmp_path: Path) -> None:
    with pytest.raises(CalibrationFileError, match="no such calibration folder"):
        load_calibration(tmp_path / "nowhere")
    with pytest.raises(CalibrationFileError, match=r"no \*.jsonl files"):
        load_calibration(tmp_path)
    assert issubclass(CalibrationFileError, RoutecheckError)
    assert issubclass(CalibrationFileError, ValueError)


def test_bundled_set_meets_its_design() -> None:
    pairs = load_calibration(DEFAULT_SET)
    assert len(pairs) >= 240
    parts = Counter(p.split for p in pairs)
    assert parts["sealed"] * 3 >= len(pairs)
    assert len({p.lang for p in pairs}) >= 3
    assert {p.catalog for p in pairs} == {"customer_support", "travel_booking"}
    for part in ("tune", "sealed"):
        verdicts = Counter(p.verdict for p in pairs if p.split == part)
        assert verdicts["match"] > 0 and verdicts["mismatch"] > 0
    # A scenario (one gold value of one argument) sits wholly in one part, like a holdout.
    split_of: dict[tuple[str, str], set[str]] = {}
    for p in pairs:
        split_of.setdefault((p.id.split("-")[0], p.gold), set()).add(p.split)
    assert all(len(s) == 1 for s in split_of.values())
