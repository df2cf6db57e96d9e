"""The playground's pictures for a network with two inputs, cheap enough to redraw while it trains.

Two views of one `DecisionPlane` (model/nn/plane.py):

- `input_plane_figure`: a Plotly figure of P(class 1) over the input plane, the exact P = 0.5
  boundary and the data points. Few traces (heatmap, contour, up to four scatters) so building and
  serialising it stays in the milliseconds.
- `network_view_image`: the TensorFlow-Playground picture as one Pillow image: what every unit
  computes over the plane, as small tiles in one column per layer, joined by lines whose colour is the
  weight's sign and whose width its size. One image instead of dozens of Plotly subplots because a
  raster of small tiles is what the eye needs here, and it encodes in a few ms.

Pure builders: no widgets, no Streamlit.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from dashboard.charts import OUTCOME_COLORS, TEMPLATE
from dashboard.training_views import LEGEND_BELOW, PROBABILITY_SCALE
from model.nn.network import MLP
from model.nn.plane import DecisionPlane

logger = logging.getLogger(__name__)

AxisTransform = tuple[tuple[float, float], tuple[float, float]]  # ((scale, offset) of x₁, (scale, offset) of x₂)

# Weight signs and signed unit outputs: orange below zero, blue above, as in the TensorFlow Playground;
# the pair stays distinct for the common colour-vision deficiencies (unlike red/green).
NEGATIVE_COLOR = "#f59322"
POSITIVE_COLOR = "#0877bd"
NEUTRAL_COLOR = "#f7f7f7"  # zero, and the middle of PROBABILITY_SCALE
BACKGROUND_COLOR = "#ffffff"
TEXT_COLOR = "#262730"
TILE_BORDER_COLOR = "#c8c8d0"

MAX_TILES_PER_LAYER = 16  # wider layers show their first units and say how many more there are
MAX_IMAGE_WIDTH = 1400
MAX_IMAGE_HEIGHT = 900
MIN_TILE = 10  # below this a tile is a coloured dot, not a picture
DEFAULT_TILE = 40

# Activations whose output never goes below zero (scale 0..max); the others are drawn symmetric about 0.
_NON_NEGATIVE = {"relu", "sigmoid"}
_FIXED_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


# ---- the input plane (Plotly) ------------------------------------------------------------------------------


def input_plane_figure(
    plane: DecisionPlane,
    X_train,
    y_train,
    X_val=None,
    y_val=None,
    axis_labels: Sequence[str] = ("x₁", "x₂"),
    axis_transform: AxisTransform | None = None,
    epoch: int | None = None,
    class_labels: Sequence[str] | None = None,
) -> go.Figure:
    """P(classes[1]) over the input plane with the exact P = 0.5 boundary, training points (circles) and
    validation points (diamonds) coloured by class; legend below the plot, plot area square.

    axis_transform ((scale₁, offset₁), (scale₂, offset₂)) draws a network trained on standardised inputs
    in original units: x_original = x · scale + offset, applied to the grid and to the points (which are
    given in the network's units, like the plane). class_labels names classes[0] and classes[1] in the
    legend (default "class <value>").
    """
    (scale1, offset1), (scale2, offset2) = _checked_transform(axis_transform)
    x1 = plane.x1 * scale1 + offset1
    x2 = plane.x2 * scale2 + offset2
    label1, label2 = axis_labels
    # float32 halves the JSON (Plotly sends numpy arrays as binary); P = 0.5 moves by < 1e-7
    probability = plane.probability.astype(np.float32)
    names = [f"class {c}" for c in plane.classes] if class_labels is None else [str(c) for c in class_labels]
    if len(names) != 2:
        raise ValueError(f"class_labels must name the two classes; got {class_labels!r}")
    # One dict handed to go.Figure once: Plotly validates it in one pass, about 3x faster than add_trace
    # and update_layout one by one (this is rebuilt on every redraw of a live training).
    traces: list[dict] = [
        dict(
            type="heatmap",
            x=x1,
            y=x2,
            z=probability,
            zmin=0,
            zmax=1,
            colorscale=PROBABILITY_SCALE,
            zsmooth="fast",
            colorbar=dict(title=dict(text=f"P({names[1]})"), thickness=12, len=0.8),
            hovertemplate=f"{label1} = %{{x:.3g}}<br>{label2} = %{{y:.3g}}<br>P = %{{z:.2f}}<extra></extra>",
        ),
        dict(
            type="contour",
            x=x1,
            y=x2,
            z=probability,
            showscale=False,
            contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
            line=dict(color=TEXT_COLOR, width=2),
            hoverinfo="skip",
            name="P = 0.5",
        ),
    ]
    sets = [("training", "circle", X_train, y_train)]
    if X_val is not None and y_val is not None and len(X_val):
        sets.append(("validation", "diamond", X_val, y_val))
    for part, symbol, X, y in sets:
        points, labels = _points(X, y, part)
        unknown = ~np.isin(labels, plane.classes)
        if unknown.any():
            raise ValueError(
                f"the {part} labels hold {sorted(set(labels[unknown].tolist()))!r}, "
                f"which are not the network's classes {plane.classes.tolist()!r}"
            )
        held_out = part == "validation"
        for index, cls in enumerate(plane.classes):
            mask = labels == cls
            if not mask.any():
                continue
            traces.append(
                dict(
                    type="scatter",
                    x=points[mask, 0] * scale1 + offset1,
                    y=points[mask, 1] * scale2 + offset2,
                    mode="markers",
                    name=f"{names[index]} ({part})",
                    marker=dict(
                        color=OUTCOME_COLORS[index],
                        symbol=symbol,
                        size=8 if held_out else 6,
                        line=dict(color=TEXT_COLOR if held_out else "white", width=1),
                    ),
                    hovertemplate=(
                        f"{names[index]} ({part})<br>{label1} = %{{x:.3g}}<br>{label2} = %{{y:.3g}}<extra></extra>"
                    ),
                )
            )
    x_range = [float(x1.min()), float(x1.max())]
    y_range = [float(x2.min()), float(x2.max())]
    after = f" · epoch {epoch}" if epoch is not None else ""
    layout = dict(
        template=TEMPLATE,  # what apply_theme sets, here in the same single pass
        title=dict(text=f"P({names[1]}) in the input plane{after}"),
        height=520,
        legend=dict(LEGEND_BELOW, y=-0.15),
        # No uirevision: Plotly then keeps the old title on a redraw, and the title carries the epoch.
        xaxis=dict(title=dict(text=label1), range=x_range, constrain="domain", showgrid=False, zeroline=False),
        # the same pixel length for the whole range of each axis: a square plot area whatever the units
        yaxis=dict(
            title=dict(text=label2),
            range=y_range,
            scaleanchor="x",
            scaleratio=(x_range[1] - x_range[0]) / (y_range[1] - y_range[0]),
            constrain="domain",
            showgrid=False,
            zeroline=False,
        ),
    )
    return go.Figure(dict(data=traces, layout=layout))


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG at low compression: ~2x faster to encode than Pillow's default, a little larger.
    Hand these bytes to st.image(..., output_format="PNG"): Streamlit then sends them as they are, where a
    PIL image would be re-encoded, and as JPEG for an RGB image with the default output_format."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _checked_transform(axis_transform: AxisTransform | None) -> AxisTransform:
    if axis_transform is None:
        return (1.0, 0.0), (1.0, 0.0)
    try:
        values = np.asarray(axis_transform, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"axis_transform must be ((scale, offset), (scale, offset)); got {axis_transform!r}"
        ) from error
    if values.shape != (2, 2) or not np.isfinite(values).all() or (values[:, 0] == 0).any():
        raise ValueError(
            "axis_transform must be ((scale, offset), (scale, offset)) with finite numbers and non-zero scales; "
            f"got {axis_transform!r}"
        )
    return (float(values[0, 0]), float(values[0, 1])), (float(values[1, 0]), float(values[1, 1]))


def _points(X, y, part: str) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y).ravel()
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"the {part} points must have two columns (x₁, x₂); got shape {points.shape}")
    if len(labels) != len(points):
        raise ValueError(f"the {part} points and labels differ in length: {len(points)} and {len(labels)}")
    return points, labels


# ---- the network view (one Pillow image) -------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnLayout:
    """Where one layer's tiles are: tile u (u < drawn) covers [left, left + tile) × [tops[u], tops[u] + tile)."""

    name: str  # "inputs", "hidden 1", ..., "output"
    left: int
    tile: int
    tops: tuple[int, ...]
    units: int  # the layer's width; units - drawn are summarised as "+N more"

    @property
    def drawn(self) -> int:
        return len(self.tops)

    def box(self, unit: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the unit's tile, right and bottom exclusive."""
        return self.left, self.tops[unit], self.left + self.tile, self.tops[unit] + self.tile


@dataclass(frozen=True)
class NetworkViewLayout:
    columns: list[ColumnLayout]  # inputs, hidden layers, output
    line_width_cap: int  # the widest connection, drawn for the largest |weight| of each layer pair


@dataclass(frozen=True)
class NetworkView:
    image: Image.Image
    layout: NetworkViewLayout


def network_view_image(
    plane: DecisionPlane,
    network: MLP,
    input_labels: Sequence[str] = ("x₁", "x₂"),
    tile: int = DEFAULT_TILE,
    max_tiles_per_layer: int = MAX_TILES_PER_LAYER,
    max_width: int = MAX_IMAGE_WIDTH,
    max_height: int = MAX_IMAGE_HEIGHT,
) -> Image.Image:
    """The Playground's picture of the network in one RGB image; see `network_view`."""
    return network_view(plane, network, input_labels, tile, max_tiles_per_layer, max_width, max_height).image


def network_view(
    plane: DecisionPlane,
    network: MLP,
    input_labels: Sequence[str] = ("x₁", "x₂"),
    tile: int = DEFAULT_TILE,
    max_tiles_per_layer: int = MAX_TILES_PER_LAYER,
    max_width: int = MAX_IMAGE_WIDTH,
    max_height: int = MAX_IMAGE_HEIGHT,
) -> NetworkView:
    """Inputs, every hidden unit and the output drawn over the input plane, with their connections.

    Columns left to right: the two inputs (x₁ and x₂ themselves), one per hidden layer (each unit's output;
    tanh and unbounded activations on an orange–white–blue scale symmetric about 0, sigmoid 0..1 and ReLU
    0..the layer's max on white–blue), and the output P(classes[1]) on the probability scale of the input
    plane figure. A line joins every drawn unit to every drawn unit of the next layer: blue for a positive
    weight, orange for a negative one, width proportional to |weight| (relative to the largest of that
    layer pair). At most max_tiles_per_layer tiles per layer; tiles shrink (down to MIN_TILE) so the image
    stays within max_width × max_height. `plane` must come from decision_plane(..., include_units=True)
    for this network.
    """
    _check_plane_matches(plane, network)
    if max_tiles_per_layer < 1:
        raise ValueError(f"max_tiles_per_layer must be at least 1; got {max_tiles_per_layer!r}")
    layer_units = [2] + [grids.values.shape[0] for grids in plane.layers] + [1]
    names = ["inputs"] + [grids.name for grids in plane.layers] + ["output"]
    subtitles = [""] + [f"{grids.values.shape[0]} {grids.activation}" for grids in plane.layers] + [""]
    drawn = [min(units, max_tiles_per_layer) for units in layer_units]
    more = [units > max_tiles_per_layer for units in layer_units]

    input_labels = [str(label) for label in input_labels]
    output_label = f"P(class {plane.classes[1]})"
    size, tile, spacing = _fit_layout(drawn, more, input_labels, output_label, tile, max_width, max_height)
    width, height = size
    font = _font(spacing.font_size)

    # columns, each centred vertically in the body
    lefts = [spacing.left_margin + k * (tile + spacing.column_gap) for k in range(len(layer_units))]
    columns = []
    body_middle = spacing.body_top + spacing.body_height / 2
    for k, (name, units, count, has_more) in enumerate(zip(names, layer_units, drawn, more, strict=True)):
        size_k = spacing.output_tile if k == len(layer_units) - 1 else tile
        # centre the tiles with the "+N more" line under them
        stack = count * size_k + (count - 1) * spacing.row_gap + (spacing.line_height + spacing.row_gap) * has_more
        top = round(body_middle - stack / 2)
        tops = tuple(top + u * (size_k + spacing.row_gap) for u in range(count))
        columns.append(ColumnLayout(name, lefts[k], size_k, tops, units))
    line_width_cap = max(2, tile // 10)

    image = Image.new("RGB", (width, height), BACKGROUND_COLOR)
    draw = ImageDraw.Draw(image)
    for k, linear in enumerate(network.linears):
        _draw_connections(draw, columns[k], columns[k + 1], linear.weight.detach().cpu().numpy(), line_width_cap)

    # tiles go on top of the line ends, as whole arrays: much faster than pasting images one by one
    pixels = np.array(image)
    _put_tiles(pixels, columns[0], _input_tiles(plane, columns[0].tile))
    for grids, column in zip(plane.layers, columns[1:-1], strict=True):
        low, high = activation_range(grids.activation, grids.values)
        scale = _SEQUENTIAL_LUT if low == 0.0 else _DIVERGING_LUT
        _put_tiles(pixels, column, _colored(_sampled(grids.values[: column.drawn], column.tile), low, high, scale))
    output = columns[-1]
    _put_tiles(pixels, output, _colored(_sampled(plane.probability[None], output.tile), 0.0, 1.0, _PROBABILITY_LUT))
    image = Image.fromarray(pixels)

    draw = ImageDraw.Draw(image)
    for column, subtitle, has_more in zip(columns, subtitles, more, strict=True):
        centre = column.left + column.tile / 2
        draw.text((centre, spacing.margin), column.name, fill=TEXT_COLOR, font=font, anchor="mt")
        if subtitle:
            draw.text((centre, spacing.margin + spacing.line_height), subtitle, fill=TEXT_COLOR, font=font, anchor="mt")
        for unit in range(column.drawn):
            left, top, right, bottom = column.box(unit)
            draw.rectangle((left - 1, top - 1, right, bottom), outline=TILE_BORDER_COLOR)
        if has_more:
            hidden_count = column.units - column.drawn
            bottom = column.tops[-1] + column.tile + spacing.row_gap
            draw.text((centre, bottom), f"+{hidden_count} more", fill=TEXT_COLOR, font=font, anchor="mt")
    for unit, label in enumerate(input_labels):
        left, top, _, bottom = columns[0].box(unit)
        draw.text((left - 4, (top + bottom) / 2), label, fill=TEXT_COLOR, font=font, anchor="rm")
    left, _, right, bottom = output.box(0)
    draw.text(((left + right) / 2, bottom + 3), output_label, fill=TEXT_COLOR, font=font, anchor="mt")
    return NetworkView(image, NetworkViewLayout(columns, line_width_cap))


def network_view_caption(plane: DecisionPlane) -> str:
    """One sentence that reads the network view: the layers, the colours and the line widths."""
    hidden = ", ".join(f"{g.name} ({g.values.shape[0]} {g.activation})" for g in plane.layers)
    path = f"inputs → {hidden} → output" if hidden else "inputs → output (a single perceptron)"
    return (
        f"{path}. Each tile is one unit's output over the input plane (orange negative, white 0, blue positive; "
        f"sigmoid and ReLU from white at 0 to blue at their top; the output tile is P(class {plane.classes[1]})). "
        "Lines are the weights: blue positive, orange negative, thicker for a larger |weight| within each "
        f"pair of layers. At most {MAX_TILES_PER_LAYER} units of a layer are drawn."
    )


def activation_range(activation: str, values: np.ndarray) -> tuple[float, float]:
    """The colour scale's (low, high) for a layer's outputs: fixed for tanh (−1, 1) and sigmoid (0, 1),
    0..max for ReLU, ±max|value| for the unbounded ones (linear, leaky ReLU, GELU). low == 0 means the
    sequential white–blue scale, anything else the diverging orange–white–blue one."""
    if activation in _FIXED_RANGES:
        return _FIXED_RANGES[activation]
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    if activation in _NON_NEGATIVE:
        top = float(finite.max()) if finite.size else 0.0
        return 0.0, top if top > 0 else 1.0
    extent = float(np.abs(finite).max()) if finite.size else 0.0
    extent = extent if extent > 0 else 1.0
    return -extent, extent


def connection_widths(weight: np.ndarray, cap: int) -> np.ndarray:
    """Line widths in pixels for a layer pair's weights: proportional to |w| / max |w| of the pair, from 1
    (so a small weight stays visible) to cap."""
    magnitude = np.abs(np.asarray(weight, dtype=np.float64))
    largest = float(magnitude.max()) if magnitude.size else 0.0
    if largest == 0 or not np.isfinite(largest):
        return np.ones(magnitude.shape, dtype=np.int64)
    return np.clip(np.rint(cap * magnitude / largest), 1, cap).astype(np.int64)


# ---- helpers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spacing:
    margin: int
    font_size: int
    line_height: int
    left_margin: int
    body_top: int
    body_height: int
    column_gap: int
    row_gap: int
    output_tile: int


def _fit_layout(
    drawn: list[int],
    more: list[bool],
    input_labels: list[str],
    output_label: str,
    tile: int,
    max_width: int,
    max_height: int,
) -> tuple[tuple[int, int], int, _Spacing]:
    """Image size, tile size and spacing: the requested tile, shrunk until the image fits the bounds."""
    if tile < MIN_TILE:
        raise ValueError(f"tile must be at least {MIN_TILE} pixels; got {tile!r}")
    for size in range(int(tile), MIN_TILE - 1, -1):
        font_size = 12 if size >= 24 else 10
        font = _font(font_size)
        line_height = font_size + 3
        margin = 6
        label_width = max(int(font.getlength(label)) for label in input_labels)
        left_margin = margin + label_width + 6
        output_tile = 2 * size
        column_gap = max(24, round(1.5 * size))
        row_gap = max(2, size // 8)
        columns = len(drawn)
        body_top = margin + 2 * line_height + 4
        stacks = [
            count * size + (count - 1) * row_gap + (line_height + row_gap if extra else 0)
            for count, extra in zip(drawn, more, strict=True)
        ]
        stacks[-1] = output_tile + 2 * (line_height + 3)  # the output tile, centred, and its label under it
        body_height = max(stacks)
        right_edge = left_margin + (columns - 1) * (size + column_gap) + output_tile
        width = right_edge + max(margin, int(font.getlength(output_label)) // 2 - size + margin)
        height = body_top + body_height + margin
        if (width <= max_width and height <= max_height) or size == MIN_TILE:
            spacing = _Spacing(
                margin, font_size, line_height, left_margin, body_top, body_height, column_gap, row_gap, output_tile
            )
            return (width, height), size, spacing
    raise AssertionError("unreachable: the loop returns at MIN_TILE")


def _check_plane_matches(plane: DecisionPlane, network: MLP) -> None:
    if network.n_inputs != 2:
        raise ValueError(f"the network view needs a network with two inputs; this one has {network.n_inputs}")
    widths = [linear.out_features for linear in network.linears[:-1]]
    plane_widths = [grids.values.shape[0] for grids in plane.layers]
    if widths and not plane_widths:
        raise ValueError("the plane holds no hidden units: compute it with decision_plane(..., include_units=True)")
    if widths != plane_widths:
        raise ValueError(f"the plane's hidden layers {plane_widths} do not match the network's {widths}")


def _draw_connections(
    draw: ImageDraw.ImageDraw, source: ColumnLayout, target: ColumnLayout, weight: np.ndarray, cap: int
) -> None:
    """Lines from the drawn units of `source` to those of `target`; weight is (target units, source units)."""
    widths = connection_widths(weight, cap)
    shown = weight[: target.drawn, : source.drawn]
    order = np.argsort(np.abs(shown), axis=None)  # the strongest last, so on top
    x_start = source.left + source.tile
    x_end = target.left - 1
    for flat in order:
        j, i = np.unravel_index(flat, shown.shape)
        y_start = source.tops[i] + source.tile // 2
        y_end = target.tops[j] + target.tile // 2
        color = POSITIVE_COLOR if shown[j, i] > 0 else NEGATIVE_COLOR
        draw.line((x_start, y_start, x_end, y_end), fill=color, width=int(widths[j, i]))


def _sampled(values: np.ndarray, size: int) -> np.ndarray:
    """(units, res, res) grids resampled to (units, size, size) by nearest neighbour, flipped so the
    first row is the top of the plane (the largest x₂)."""
    rows, cols = values.shape[-2:]
    row_index = np.rint(np.linspace(rows - 1, 0, size)).astype(np.intp)
    col_index = np.rint(np.linspace(0, cols - 1, size)).astype(np.intp)
    return values[:, row_index][:, :, col_index]


def _input_tiles(plane: DecisionPlane, size: int) -> np.ndarray:
    """x₁ and x₂ themselves over the plane, each on a diverging scale symmetric about 0."""
    x1 = plane.x1[np.rint(np.linspace(0, len(plane.x1) - 1, size)).astype(np.intp)]
    x2 = plane.x2[np.rint(np.linspace(len(plane.x2) - 1, 0, size)).astype(np.intp)]
    tiles = []
    for grid in (np.broadcast_to(x1[None, :], (size, size)), np.broadcast_to(x2[:, None], (size, size))):
        low, high = activation_range("linear", grid)
        tiles.append(_colored(grid[None], low, high, _DIVERGING_LUT)[0])
    return np.stack(tiles)


def _colored(values: np.ndarray, low: float, high: float, lut: np.ndarray) -> np.ndarray:
    """values (any shape) → RGB uint8 (shape + (3,)) through a 256-entry lookup table over [low, high]."""
    scaled = (np.nan_to_num(values, nan=(low + high) / 2) - low) * (255.0 / (high - low))
    index = np.clip(np.rint(scaled), 0, 255).astype(np.intp)
    return lut[index]


def _put_tiles(pixels: np.ndarray, column: ColumnLayout, tiles: np.ndarray) -> None:
    for unit in range(column.drawn):
        left, top, right, bottom = column.box(unit)
        pixels[top:bottom, left:right] = tiles[unit]


def _lut(*colors: str) -> np.ndarray:
    """256 RGB entries interpolated evenly through the given hex colours."""
    anchors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(colors))
    steps = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(steps, positions, anchors[:, channel]) for channel in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)


_DIVERGING_LUT = _lut(NEGATIVE_COLOR, NEUTRAL_COLOR, POSITIVE_COLOR)
_SEQUENTIAL_LUT = _lut(NEUTRAL_COLOR, POSITIVE_COLOR)
_PROBABILITY_LUT = _lut(*(str(color) for _, color in PROBABILITY_SCALE))


@functools.lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu has the subscript digits of "x₁"; Pillow's built-in font is the fallback where it is missing
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        logger.warning("DejaVuSans.ttf not found; the network view uses Pillow's default font", exc_info=True)
        return ImageFont.load_default(size=size)
