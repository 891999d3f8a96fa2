"""What the walk accumulates: contraction records, scalar ops, gaps.

Sub-jaxprs (loop bodies, branches) are walked into a child tally that is
merged into its parent with a multiplier, so a body is walked once however
many times it runs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from acecost.report.model import OpRecord


@dataclass
class Tally:
    records: list[OpRecord] = field(default_factory=list)
    elementwise: Counter = field(default_factory=Counter)  # (scope, category) -> ops
    #: the same, for equations that only prepare weights (kept apart: done once when deployed)
    prep_elementwise: Counter = field(default_factory=Counter)
    unsupported: dict[str, dict[str, Any]] = field(default_factory=dict)
    param_bits: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    loops: list[dict[str, Any]] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    #: bits every equation outside the contractions reads and writes (its operands and results
    #: at their storage widths; the contractions' own are in their records), and the same for
    #: weight preparation: ``memory_bits_unfused`` (see acecost.report.traffic)
    moved_bits: int = 0
    prep_moved_bits: int = 0

    # ------------------------------------------------------------ adding
    def add_unsupported(self, primitive: str, scope: str, count: int = 1) -> None:
        entry = self.unsupported.setdefault(primitive, {"primitive": primitive, "count": 0, "scopes": []})
        entry["count"] += count
        if scope not in entry["scopes"]:
            entry["scopes"].append(scope)

    def use_param(self, path: str, bits: int) -> None:
        self.param_bits[path] = max(bits, self.param_bits.get(path, 0))

    def cost_key(self) -> tuple[int, int, int]:
        return (sum(r.ace for r in self.records), sum(r.macs for r in self.records),
                sum(self.elementwise.values()) + sum(self.prep_elementwise.values()))

    # ----------------------------------------------------------- merging
    def merge(self, child: "Tally", factor: int = 1, *, costs: bool = True,
              per_iteration: bool = False, sites=None) -> None:
        """Fold a child in; its costs scaled by ``factor`` (or dropped).

        ``sites`` renumbers the child's contractions (a replayed call's are new ones).
        """
        renamed: dict = {}  # id(old site) -> new site, for a replay's warnings
        if costs:
            for r in child.records:
                site = r.site
                if sites is not None and site is not None:
                    site = renamed[id(r.site)] = sites(site.base, site.spec)
                self.records.append(replace(
                    r, multiplier=r.multiplier * factor, macs=r.macs * factor, ace=r.ace * factor,
                    read_bits=r.read_bits * factor, write_bits=r.write_bits * factor,
                    per_iteration=r.per_iteration or per_iteration, site=site))
            for counts, more in ((self.elementwise, child.elementwise),
                                 (self.prep_elementwise, child.prep_elementwise)):
                for key, ops in more.items():
                    counts[key] = counts.get(key, 0) + ops * factor
            self.moved_bits += child.moved_bits * factor
            self.prep_moved_bits += child.prep_moved_bits * factor
            self.loops.extend(child.loops)
            self.branches.extend(child.branches)
        for prim, entry in child.unsupported.items():
            for scope in entry["scopes"]:
                self.add_unsupported(prim, scope, 0)
            self.unsupported[prim]["count"] += entry["count"] * (factor if costs else 1)
        for path, bits in child.param_bits.items():
            self.use_param(path, bits)
        if renamed:  # a warning about a contraction follows it to its new name
            self.warnings.extend(w._replace(site=renamed.get(id(w.site), w.site)) if type(w) is not str else w
                                 for w in child.warnings)
        else:
            self.warnings.extend(child.warnings)
        self.incomplete.extend(child.incomplete)
