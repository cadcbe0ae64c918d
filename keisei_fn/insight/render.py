"""The views as pictures for Aim: a board SVG as a PNG image (cairosvg, which needs the system's
libcairo), and a game's value timeline as a plotly figure (Aim shows it interactively)."""

from __future__ import annotations

import io

from .._errors import first_line


class RenderUnavailable(RuntimeError):
    """PNG rendering cannot work on this machine (e.g. no libcairo)."""


def svg_to_png(svg: str, width: int | None = None) -> bytes:
    """PNG bytes of an SVG text."""
    try:
        import cairosvg
    except (ImportError, OSError) as err:  # OSError: cairocffi did not find libcairo
        raise RenderUnavailable(f"cannot draw PNGs: {first_line(err, 160)} (install the "
                                f"system's libcairo, e.g. apt-get install libcairo2)") from None
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=width)


def png_image(svg: str, width: int | None = None):
    """A PIL image of an SVG (what aim.Image takes)."""
    from PIL import Image

    return Image.open(io.BytesIO(svg_to_png(svg, width))).convert("RGB")


def timeline_figure(plies: list[dict], title: str = ""):
    """The value over a game from Black's and White's side, by ply (plotly)."""
    import plotly.graph_objects as go

    x = [p["ply"] for p in plies]
    black = [p["value_black"] for p in plies]
    hover = [f"ply {p['ply']}: {p['mover']} played {p['move']} (policy {100 * p['prob']:.0f}%,"
             f" rank {p['rank']})" for p in plies]
    fig = go.Figure([
        go.Scatter(x=x, y=black, name="value for Black", mode="lines", hovertext=hover),
        go.Scatter(x=x, y=[-v for v in black], name="value for White", mode="lines",
                   line={"dash": "dash"}, hovertext=hover)])
    fig.update_layout(title=title, xaxis_title="ply", yaxis_title="value (-1 loss ... +1 win)",
                      yaxis_range=[-1.05, 1.05], height=320, margin={"l": 50, "r": 20,
                                                                      "t": 40, "b": 40})
    return fig
