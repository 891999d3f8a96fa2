"""``acecost plot SWEEP --x PARAM --y METRICS``: cost against a sweep parameter.

The model is one decode step of a single attention head of width D = 8: a
float32 projection ``x @ w`` (w [D, D], the only parameter), then the query
against an int8 key cache of L slots and the softmax against an int8 value
cache. With float operands priced at F bits (``float_bits``) and the int8
cache at 8:

    MACs = D^2 + 2 L D,   ACE = D^2 F^2 + 2 L D F 8,   size = D^2 F bits.

The sweep's L = 0 points fail (the model refuses them). The figure's lines
must hold exactly these values; the figure is caught as the command saves it.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main
from acecost.figures.layout import GID_CAPTION
from acecost.sweeps import table

D = 8
LS = [4, 16, 64, 256]
FS = [8, 16]

ATTN = '''
import jax
import jax.numpy as jnp


def acecost_model(L=16, d=8, tag="a"):
    if L <= 0:
        raise ValueError(f"L must be positive, got {L}")
    w = jax.ShapeDtypeStruct((d, d), jnp.float32)
    x = jax.ShapeDtypeStruct((1, d), jnp.float32)
    k = jax.ShapeDtypeStruct((L, d), jnp.int8)
    v = jax.ShapeDtypeStruct((L, d), jnp.int8)

    def step(w, x, k, v):
        q = x @ w
        s = q @ k.astype(jnp.float32).T
        return jax.nn.softmax(s) @ v.astype(jnp.float32)

    return step, (w, x, k, v)
'''


def ace(L, F):
    return D * D * F * F + 2 * L * D * F * 8


def size(F):
    return D * D * F


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The sweep table (L in LS and 0, F in FS) as a CSV file, and its frame."""
    tmp = tmp_path_factory.mktemp("sweep")
    model = tmp / "attn.py"
    model.write_text(ATTN)
    df = acecost.sweep(str(model), {"L": [0, *LS], "float_bits": FS}, jobs=1, cache=False)
    path = tmp / "s.csv"
    table.write(df, str(path))
    return path, df


@pytest.fixture
def drawn(monkeypatch):
    """The figures the command saves, in order."""
    import acecost.figures.style as style

    figs = []
    real = style.save

    def keep(fig, path):
        figs.append(fig)
        real(fig, path)

    monkeypatch.setattr(style, "save", keep)
    return figs


def run(*args):
    return CliRunner().invoke(main, ["plot", *(str(a) for a in args)])


def squeezed(text: str) -> str:
    """``text`` without its whitespace: a long path in the caption wraps where the figure's
    width says, at a space or a hyphen (a pytest-xdist worker's temporary path is longer)."""
    return "".join(text.split())


def caption(fig) -> str:
    """The caption, squeezed (:func:`squeezed`)."""
    (text,) = [t for t in fig.texts if t.get_gid() == GID_CAPTION]
    return squeezed(text.get_text())


def lines_of(ax):
    return {ln.get_gid(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()}


def test_the_table_is_the_closed_form(swept):
    _, df = swept
    ok = df[df["error"].isna()]
    assert len(df) == 10 and len(ok) == 8
    for r in ok.itertuples():
        assert (r.macs, r.ace, r.size_bits) == (D * D + 2 * r.L * D, ace(r.L, r.float_bits), size(r.float_bits))


def test_lines_hold_the_costs_per_value_of_the_other_parameter(swept, drawn, tmp_path):
    path, _ = swept
    out = tmp_path / "f.png"
    res = run(path, "--x", "L", "--y", "ace,size", "-o", out)
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert res.stderr.strip().splitlines() == [
        "acecost: warning: 2 of 10 sweep points failed and are not drawn (see the table's error column)"]
    (fig,) = drawn
    ace_ax, size_ax = fig.axes[:2]
    assert lines_of(ace_ax) == {f"sweep-line:float_bits={F}": (LS, [ace(L, F) for L in LS]) for F in FS}
    assert lines_of(size_ax) == {f"sweep-line:float_bits={F}": (LS, [size(F)] * len(LS)) for F in FS}
    # labels: the parameter; each metric by its own format (its values are far below 0.01 G or 0.01 Mbit)
    assert [ax.get_xlabel() for ax in (ace_ax, size_ax)] == ["L", "L"]
    assert (ace_ax.get_ylabel(), size_ax.get_ylabel()) == ("ACE", "Size")
    fmt = size_ax.yaxis.get_major_formatter()
    assert fmt(512) == "512bit" and ace_ax.yaxis.get_major_formatter()(20480) == "20.5k"
    # L spans 64x and ACE 66x: log; size spans 2x: linear from 0
    assert (ace_ax.get_xscale(), ace_ax.get_yscale(), size_ax.get_yscale()) == ("log", "log", "linear")
    assert size_ax.get_ylim()[0] == 0
    assert [t.get_text() for t in ace_ax.get_xticklabels()] == ["4", "16", "64", "256"]  # the swept values
    # the text output: a row per point, the metrics in their own format
    rows = [line.split() for line in res.stdout.splitlines()]
    assert rows[0] == ["float_bits", "L", "ACE", "Size"]
    assert rows[1] == ["8", "4", "8.19k", "512bit"] and rows[8] == ["16", "256", "541k", "1.02kbit"]
    assert rows[-1] == ["wrote", str(out)]


def test_by_picks_the_lines_and_one_value_per_line_at_each_x(swept, drawn, tmp_path):
    path, df = swept
    res = run(path, "--x", "float_bits", "--y", "ace", "--by", "L", "-o", tmp_path / "f.svg")
    assert res.exit_code == 0, res.output
    (ax,) = drawn[0].axes[:1]
    assert lines_of(ax) == {f"sweep-line:L={L}": (FS, [ace(L, F) for F in FS]) for L in LS}
    assert ax.get_xscale() == "linear"  # 8 to 16: not a decade
    assert drawn[0].get_suptitle() == "ACE vs float_bits"
    assert caption(drawn[0]) == squeezed(f"Costs by acecost, from the sweep table {path}.\n"
                                 "2 of 10 points failed and are not drawn.")


def test_one_line_when_nothing_else_varies_and_x_defaults_to_it(swept, drawn, tmp_path):
    path, df = swept
    one = tmp_path / "one.csv"
    table.write(df[df["float_bits"] == 16], str(one))
    res = run(one, "--y", "ace", "--linear-x", "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    ax = drawn[0].axes[0]
    assert lines_of(ax) == {"sweep-line:": (LS, [ace(L, 16) for L in LS])}
    assert ax.get_xscale() == "linear" and ax.get_legend() is None
    assert caption(drawn[0]) == squeezed(f"Costs by acecost, from the sweep table {one}.\nFixed: float_bits=16.\n"
                                 "1 of 5 points failed and are not drawn.")


def test_a_metric_of_the_table_is_drawn_in_its_unit(swept, drawn, tmp_path, monkeypatch):
    """A metric added to acecost.metrics.TABLE is a --y choice, drawn in its paper unit when it fits."""
    from acecost import metrics
    from acecost.metrics import Metric

    probe = Metric("probe_bits", "probe_bits", "probe", "Probe traffic", "bit", "size", "a test metric",
                   axis_unit="Mbit", axis_unit_text="Mbit", scale=1e6)
    monkeypatch.setitem(metrics.TABLE, "probe_bits", probe)
    path, df = swept
    wide = df.copy()
    wide["probe_bits"] = [None if L in (0, 16) else 1_000_000 * L for L in wide["L"]]  # 16: unknown
    t = tmp_path / "probe.csv"
    wide.to_csv(t, index=False)
    res = run(t, "--x", "L", "--y", "probe_bits", "--by", "float_bits", "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    assert "acecost: warning: 2 sweep points have no probe_bits value (unknown) and are not drawn on it" \
        in res.stderr.splitlines()
    ax = drawn[0].axes[0]
    known = [L for L in LS if L != 16]
    assert lines_of(ax)["sweep-line:float_bits=8"] == (known, [1e6 * L for L in known])
    rows = [line.split() for line in res.stdout.splitlines()[1:-1]]
    assert [r[1] for r in rows] == ["4", "64", "256"] * 2 and rows[0] == ["8", "4", "4Mbit"]
    assert ax.get_ylabel() == "Probe traffic (Mbit)"
    assert ax.yaxis.get_major_formatter()(64e6) == "64"


def _edit(df, tmp_path, name, change):
    d = df.copy()
    change(d)
    p = tmp_path / name
    d.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("args,message", [
    (["--x", "Q", "--y", "ace"], "no parameter column 'Q' (parameters: L, float_bits)"),
    (["--x", "ace", "--y", "ace"], "--x 'ace' is a result column"),
    (["--x", "L", "--y", "flops"], "unknown --y 'flops'; use one of"),
    (["--x", "L", "--y", "ace,ace"], "--y names ace twice"),
    (["--x", "L", "--y", "energy"], "--y energy: Energy is not a total of a report"),
    (["--x", "L", "--y", "ace", "--by", "L"], "--by L is the --x parameter"),
    (["--x", "L", "--y", "ace", "--by", "tag"], "no parameter column 'tag' for --by"),
    (["--y", "ace"], "give --x PARAM, the parameter for the horizontal axis (varying: L, float_bits)"),
    (["--x", "L"], "--x 'L' is not a cost metric; to draw metrics against the sweep parameter L, add --y"),
    (["--x", "L", "--by", "float_bits"], "--by applies with --y only"),
    (["--x", "L", "--y", "ace", "--accuracy-file", "a.csv"], "--accuracy-file does not apply"),
    (["--x", "L", "--y", "ace", "--breakdown"], "--breakdown does not apply"),
    (["--x", "L", "--y", "ace", "-o", "f.txt"], "unsupported format '.txt'"),
])
def test_bad_options_are_one_line(swept, tmp_path, args, message):
    path, _ = swept
    res = run(path, *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("acecost: error: ") and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_bad_tables_are_one_line(swept, tmp_path):
    path, df = swept

    def text_L(d):
        d["L"] = d["L"].astype(object)
        d.loc[d.index[3], "L"] = "long"

    def all_failed(d):
        d["error"] = "ValueError: no"

    def same_bits(d):
        d["float_bits"] = [8] * len(d)

    cases = [
        (_edit(df, tmp_path, "text.csv", text_L), ["--x", "L", "--y", "ace"],
         "--x L: {p} holds 'long' in it, not a number; --x needs a numeric parameter (draw L as lines "
         "with --by L)"),
        (_edit(df, tmp_path, "failed.csv", all_failed), ["--x", "L", "--y", "ace"],
         "{p}: all 10 points failed (see its error column); nothing to draw"),
        (_edit(df.head(0), tmp_path, "empty.csv", lambda d: None), ["--x", "L", "--y", "ace"],
         "{p}: the sweep table has no rows"),
        (_edit(df.drop(columns=["cpu64"]), tmp_path, "old.csv", lambda d: None), ["--x", "L", "--y", "cpu64"],
         "{p}: no column 'cpu64' for --y cpu64 (metrics in the table: "),
        (_edit(df, tmp_path, "dup.csv", same_bits), ["--x", "L", "--y", "ace"],
         "two points at L=4: {p} holds the same point twice"),  # float_bits no longer varies
    ]
    for p, args, message in cases:
        res = run(p, *args)
        assert res.exit_code == 2, (p, res.output)
        assert res.stderr.startswith("acecost: error: " + message.format(p=p)), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_two_points_at_one_x_name_the_parameter_to_add(swept, tmp_path):
    """A third parameter that varies within a line would put two points at one x: it must be in --by."""
    import pandas as pd

    path, df = swept
    tagged = tmp_path / "tagged.csv"
    pd.concat([df.assign(tag="a"), df.assign(tag="b")]).to_csv(tagged, index=False)
    res = run(tagged, "--x", "L", "--y", "ace", "--by", "float_bits", "-o", tmp_path / "f.png")
    assert res.exit_code == 2
    assert res.stderr.strip() == ("acecost: error: two points at L=4 on the line float_bits=8: "
                                  "they differ in tag; add it to --by")
    res = run(tagged, "--x", "L", "--y", "ace", "-o", tmp_path / "f.png")  # by default: every other one
    assert res.exit_code == 0, res.output
    assert "float_bits  tag  L    ACE" in res.stdout


def test_decode_cost_per_token_against_context_length(drawn, tmp_path):
    """examples/llama_decode.py (Llama-2-7B shapes, W4A16, int8 cache): the drawn ACE per token is
    the weights' MACs at 16 x 4 plus each cache slot's at 16 x 8, from the shapes alone."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "llama_decode.py"
    d, ffn, vocab, layers, heads, hd = 4096, 11008, 32000, 32, 32, 128
    weight_macs = layers * (4 * d * d + 3 * d * ffn) + d * vocab
    slot_macs = layers * 2 * heads * hd  # q . k and p . v, per slot of the cache
    Ls = [256, 4096]
    df = acecost.sweep(str(example), {"L": Ls}, jobs=1, cache=False)
    path = tmp_path / "decode.csv"
    table.write(df, str(path))
    res = run(path, "--x", "L", "--y", "ace", "-o", tmp_path / "decode.png")
    assert res.exit_code == 0, res.output
    assert lines_of(drawn[0].axes[0]) == {"sweep-line:": (Ls, [weight_macs * 16 * 4 + L * slot_macs * 16 * 8
                                                               for L in Ls])}
    assert drawn[0].axes[0].get_ylabel() == "ACE (G)" and drawn[0].axes[0].get_xscale() == "log"
