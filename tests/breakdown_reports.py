"""Hand-built analysis reports for breakdown figures: per-layer records whose totals follow from them.

``layer(name, a, w, macs)`` is one forward contraction (ACE = MACs x a x w;
binary when both widths are 1); ``report(name, layers)`` sums them into the
JSON form ``acecost plot --breakdown`` reads, CPU64 as binary MACs / 64 plus
the others.
"""


def layer(name, a, w, macs):
    return {"name": name, "primitive": "dot_general", "bits_a": a, "bits_w": w, "macs": macs,
            "ace": macs * a * w, "binary": a == 1 and w == 1, "phase": "forward",
            "bits_a_source": "", "bits_w_source": ""}


def report(name, layers):
    macs = sum(r["macs"] for r in layers)
    binary = sum(r["macs"] for r in layers if r["binary"])
    t = {"ace": sum(r["ace"] for r in layers), "macs": macs, "binary_macs": binary,
         "cpu64": binary / 64 + macs - binary, "size_bits": 0, "complete": True}
    return {"schema_version": 1, "meta": {"name": name}, "totals": t, "layers": layers, "params": [],
            "unsupported": [], "warnings": []}
