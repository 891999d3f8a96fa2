"""Report diffs: totals deltas, per-layer deltas, added and removed layers."""

import json

import pytest

from acecost.ci.diff import aggregate_layers, diff_reports, load_report, validate_report
from acecost.errors import ConfigError


def report(layers, size_bits=0, elementwise=0):
    """A schema-shaped report whose totals are computed from its layers by formula."""
    recs, macs, ace, bops = [], 0, 0, 0
    for name, m, a, w in layers:
        binary = a == 1 and w == 1
        recs.append({"name": name, "primitive": "dot_general", "lhs_shape": [1], "rhs_shape": [1],
                     "out_shape": [1], "bits_a": a, "bits_w": w, "bits_a_source": "test",
                     "bits_w_source": "test", "multiplier": 1, "macs": m, "ace": m * a * w,
                     "binary": binary})
        macs, ace, bops = macs + m, ace + m * a * w, bops + (m if binary else 0)
    return {"schema_version": 1, "meta": {"target": "t"},
            "totals": {"macs": macs, "binary_macs": bops, "ace": ace,
                       "cpu64": bops / 64 + macs - bops, "size_bits": size_bits, "params": 0,
                       "elementwise_ops": elementwise, "complete": True},
            "layers": recs, "params": [], "warnings": [], "unsupported": []}


BASE = report([("stem", 1000, 16, 16), ("b0/conv", 4000, 8, 8), ("b0/conv", 4000, 8, 8),
               ("b1/conv", 2000, 4, 4), ("head", 100, 16, 16), ("old", 50, 16, 16)],
              size_bits=1000, elementwise=10)
NEW = report([("stem", 1000, 16, 16), ("b0/conv", 4000, 1, 1), ("b0/conv", 4000, 1, 1),
              ("b1/conv", 2000, 4, 4), ("head", 200, 16, 16), ("extra", 10, 8, 8)],
             size_bits=1500, elementwise=10)


def test_aggregate_sums_records_of_one_name():
    agg = aggregate_layers(BASE)
    assert agg["b0/conv"].records == 2
    assert agg["b0/conv"].macs == 8000 and agg["b0/conv"].ace == 8000 * 64
    assert agg["b0/conv"].bits_label == "8x8"
    new = aggregate_layers(NEW)
    assert new["b0/conv"].binary_macs == 8000 and new["b0/conv"].bits_label == "1x1"


def test_mixed_bits_label():
    agg = aggregate_layers(report([("x", 10, 8, 8), ("x", 10, 4, 4)]))
    assert agg["x"].bits_label == "mixed"


def test_totals_deltas():
    d = diff_reports(BASE, NEW)
    t = {x.key: x for x in d.totals}
    base_ace = 1000 * 256 + 8000 * 64 + 2000 * 16 + 100 * 256 + 50 * 256
    new_ace = 1000 * 256 + 8000 * 1 + 2000 * 16 + 200 * 256 + 10 * 64
    assert (t["ace"].base, t["ace"].new, t["ace"].delta) == (base_ace, new_ace, new_ace - base_ace)
    assert t["ace"].pct == pytest.approx((new_ace - base_ace) / base_ace * 100)
    assert t["binary_macs"].base == 0 and t["binary_macs"].new == 8000
    assert t["binary_macs"].pct is None  # from zero: no percentage
    assert t["elementwise_ops"].delta == 0 and t["elementwise_ops"].pct == 0.0
    assert t["size_bits"].pct == pytest.approx(50.0)
    assert t["macs"].delta == 100 - 50 + 10


def test_layers_sorted_by_ace_impact_with_added_and_removed():
    d = diff_reports(BASE, NEW)
    assert [x.name for x in d.changed] == ["b0/conv", "head"]  # |-504000| > |+25600|
    b0, head = d.changed
    assert b0.delta_ace == 8000 - 8000 * 64 and (b0.base_bits, b0.new_bits) == ("8x8", "1x1")
    assert head.delta_ace == 100 * 256 and head.delta_macs == 100
    assert head.pct_ace == pytest.approx(100.0)
    assert [(x.name, x.new_ace) for x in d.added] == [("extra", 640)]
    assert [(x.name, x.base_ace, x.delta_ace) for x in d.removed] == [("old", 12800, -12800)]
    assert d.unchanged == 2  # stem, b1/conv


def test_identical_reports():
    d = diff_reports(BASE, BASE)
    assert not d.changed and not d.added and not d.removed
    assert d.unchanged == 5
    assert all(t.delta == 0 for t in d.totals)


def test_to_dict_top():
    out = diff_reports(BASE, NEW).to_dict(top=1)
    assert [x["name"] for x in out["layers"]["changed"]] == ["b0/conv"]
    assert out["layers"]["changed_count"] == 2
    assert out["totals"]["ace"]["delta"] == NEW["totals"]["ace"] - BASE["totals"]["ace"]
    json.dumps(out)  # JSON-ready


def test_unnamed_records_group_by_primitive():
    r = report([("", 5, 8, 8)])
    r["layers"][0]["name"] = None
    assert list(aggregate_layers(r)) == ["<unnamed dot_general>"]


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([], "not an acecost report"),
        ({"layers": []}, "not an acecost report"),
        ({"schema_version": 2, "totals": {}}, "schema_version"),
        ({"totals": {"macs": 1}}, "totals.binary_macs"),
        ({"totals": {**BASE["totals"], "ace": "many"}}, "totals.ace"),
        ({"totals": {**BASE["totals"], "ace": True}}, "totals.ace"),
        ({"totals": BASE["totals"], "layers": {}}, "'layers' must be a list"),
        ({"totals": BASE["totals"], "layers": [{"name": "x", "macs": 1}]}, "layers[0].ace"),
    ],
)
def test_validate_rejects(data, fragment):
    with pytest.raises(ConfigError) as err:
        validate_report(data, "r.json")
    assert fragment in str(err.value) and str(err.value).startswith("r.json: ")


def test_load_report_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_report(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"totals": ')
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 1"):
        load_report(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(BASE))
    assert load_report(good)["totals"] == BASE["totals"]
