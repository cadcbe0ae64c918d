"""Write the glyph outlines the board SVG draws its text with (keisei_fn/insight/glyphs.json), so
that a board reads the same on a machine with no font installed (a browser, cairosvg for Aim).

The outlines are those of Noto Serif CJK JP Regular (SIL Open Font License 1.1, Google; its
licence beside the file: keisei_fn/insight/glyphs-OFL.txt): printable ASCII, the pieces' kanji,
the rank numerals and the few marks the board writes. Each glyph is an SVG path in font units (y
up) with its advance width; `insight/board.py` places, scales and flips them.

    apt-get install fonts-noto-cjk && .venv/bin/pip install fonttools
    .venv/bin/python experiments/make_glyphs.py [--font FILE.ttc]   (default: FONT below)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from keisei_fn.arena.records import KANJI

OUT = Path(__file__).resolve().parents[1] / "keisei_fn" / "insight" / "glyphs.json"
FONT = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
# the board's own characters besides ASCII: pieces, White's king, ranks, hand marks, titles
EXTRA = "".join(KANJI.values()) + "王一二三四五六七八九▲△—×・"


def main(argv: list[str]) -> int:
    from fontTools.pens.svgPathPen import SVGPathPen
    from fontTools.ttLib import TTCollection

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", default=FONT)
    args = parser.parse_args(argv)
    collection = TTCollection(args.font)
    font = next(f for f in collection.fonts
                if "JP" in f["name"].getDebugName(1))  # Noto Serif CJK JP
    glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
    chars = "".join(chr(c) for c in range(0x20, 0x7F)) + EXTRA
    out = {"font": font["name"].getDebugName(4), "licence": "SIL Open Font License 1.1 "
           "(glyphs-OFL.txt)", "units_per_em": font["head"].unitsPerEm,
           "ascender": font["hhea"].ascent, "descender": font["hhea"].descent, "glyphs": {}}
    for ch in chars:
        if ord(ch) not in cmap:
            raise SystemExit(f"{args.font} has no glyph for {ch!r}")
        name = cmap[ord(ch)]
        pen = SVGPathPen(glyphs)
        glyphs[name].draw(pen)
        out["glyphs"][ch] = {"a": glyphs[name].width, "d": pen.getCommands()}
    OUT.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"{OUT}: {len(chars)} glyphs of {out['font']}, {OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
