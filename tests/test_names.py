"""Layer names: AQT internals dropped only where unambiguous; exact --bits patterns."""
from __future__ import annotations

import re

from acecost.interpret import exact_pattern
from acecost.names import UserNames, user_layer_name

FWD = "AqtDotGeneral_0/AqtDotGeneral_0.shared_forward_fn/aqt_fwd"


def test_aqt_parts_are_dropped():
    assert user_layer_name(f"ConvNet/fc/{FWD}") == "ConvNet/fc"
    assert user_layer_name("ConvNet/fc/AqtDotGeneral_0.make_aqt_dg") == "ConvNet/fc"
    assert user_layer_name("ConvNet/fc") == "ConvNet/fc"
    assert user_layer_name(FWD) == FWD  # nothing would be left: the name stays


def test_names_that_would_collide_stay_full():
    names = [f"Enc/fc/{FWD}", f"Txt/fc/{FWD}", f"Txt/fc/{FWD.replace('_0', '_1')}"]
    user = UserNames(names)
    assert [user(n) for n in names] == ["Enc/fc", names[1], names[2]]
    # an elementwise scope of the ambiguous layer is not merged into it either
    assert user("Txt/fc/AqtDotGeneral_0") == "Txt/fc/AqtDotGeneral_0"
    assert user("Enc/fc/AqtDotGeneral_0") == "Enc/fc"


def test_text_renames_whole_names_only():
    long_enc, long_txt = f"Encoder/fc/{FWD}", f"TextEncoder/fc/{FWD}"
    user = UserNames([long_enc, long_txt])
    assert user(long_enc) == "Encoder/fc" and user(long_txt) == "TextEncoder/fc"
    text = f"{long_txt}: lhs ... at {long_enc}. Pass --bits '^{long_enc}$=A,W'."
    assert user.text(text) == "TextEncoder/fc: lhs ... at Encoder/fc. Pass --bits '^Encoder/fc$=A,W'."


def test_exact_pattern_picks_one_layer():
    layers = ["fc", "fc1", "Net/fc", "Attn/bqd,bkd->bqk", "a(b)/c", "x.y"]
    for layer in layers:
        pattern = re.compile(exact_pattern(layer))
        assert [n for n in layers if pattern.search(n)] == [layer]
