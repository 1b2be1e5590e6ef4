"""Offline shape images drawn with numpy: the course's default image task (lessons 03-05).

Machines without internet cannot download ImageNet weights or photo datasets, so the course
draws its own images. Each image holds one filled shape, placed, scaled, stretched, rotated and
coloured at random on a textured background (colour gradient, soft waves, pixel noise),
sometimes crossed by a thin distractor line. The *source* task (6 classes) pretrains the bundled
MobileNetV2 base (`scripts/pretrain_base.py`); the *target* task (4 other classes) is what
lessons fine-tune on (`target_task`). Both tasks share edges, corners and curves, so features
learnt on one transfer to the other.

Shapes are signed-distance functions evaluated on a coordinate grid, which gives anti-aliased
edges and keeps drawing vectorised: 6,000 images of 96x96 take about 10 s on 2 cores. Every
`(task, split, seed)` triple has its own random stream, so splits never share an image.

`shifted=True` draws the same classes under a distribution shift, for out-of-distribution (OOD)
tests (lesson 07, after Kumar et al. 2022, "Fine-tuning can distort pretrained features and
underperform out-of-distribution"): the background is a pattern, stripes or a checkerboard in
two colours (`SHIFTED_CONTRAST` apart), instead of a soft gradient; shapes, colours and distractor
lines are drawn as before. A learner sees the shift at a glance (`plot_examples`). A linear probe
on the bundled base, trained on 30 standard images per class, scores about 0.8 on the standard
test images and about 0.5 on shifted ones (seeds 0-2; chance is 0.25). Shifted images come
from a random stream of their own, so `shifted=False` draws exactly the images it always drew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from helpers.finetune import validation

if TYPE_CHECKING:
    import matplotlib.axes

SOURCE_CLASSES = ("circle", "square", "triangle", "cross", "star", "ring")
# The source task's class count: the units of the bundled base's source head. The target task's
# count is `target_task.NUM_CLASSES`.
NUM_SOURCE_CLASSES = len(SOURCE_CLASSES)
TARGET_CLASSES = ("hexagon", "heart", "crescent", "arrow")
TASKS = {"source": SOURCE_CLASSES, "target": TARGET_CLASSES}
SPLITS = ("train", "validation", "test")
MINIMUM_IMAGE_SIZE = 32  # below this the shapes lose their corners
_CHUNK = 256  # images drawn at once; bounds memory to a few tens of MB
# The shift of `shifted=True`: a background of stripes or checks (half the images each) in two
# colours this far apart in every channel (pixels in [0, 1]). Measured on a linear probe of the
# bundled base: 0.2 drops target accuracy from about 0.8 to about 0.5, 0.3 to about 0.4.
SHIFTED_CONTRAST = 0.2
# Periods of a shifted background's stripes or checks across the image.
SHIFTED_PERIODS = (3.0, 7.0)
_SHIFTED_STREAM = 1  # appended to a shifted stream's seed, so it shares no draws with the standard


def _regular_polygon(corners: int, inner_radius: float | None = None) -> np.ndarray:
    """Vertices of a regular polygon (or a star when `inner_radius` is given) on the unit circle."""
    if inner_radius is None:
        angles = np.pi / 2 + 2 * np.pi * np.arange(corners) / corners
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    angles = np.pi / 2 + np.pi * np.arange(2 * corners) / corners
    radii = np.where(np.arange(2 * corners) % 2 == 0, 1.0, inner_radius)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


_POLYGONS = {
    "square": np.array([[-0.75, -0.75], [0.75, -0.75], [0.75, 0.75], [-0.75, 0.75]]),
    "triangle": _regular_polygon(3),
    "cross": np.array(
        [[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3]]
        + [[0.3, 1], [-0.3, 1], [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]]
    ),
    "star": _regular_polygon(5, inner_radius=0.45),
    "hexagon": _regular_polygon(6) * 0.9,
    "arrow": np.array(
        [[-1, -0.25], [0.1, -0.25], [0.1, -0.65], [1, 0], [0.1, 0.65], [0.1, 0.25], [-1, 0.25]]
    ),
}


def _polygon_distance(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance to a closed polygon (negative inside), after Inigo Quilez's `sdPolygon`."""
    # Python floats keep the arithmetic in the grid's float32.
    points = vertices.tolist()
    distance = (x - points[0][0]) ** 2 + (y - points[0][1]) ** 2
    sign = np.ones_like(x)
    for index in range(len(points)):
        (start_x, start_y), (end_x, end_y) = points[index], points[index - 1]
        edge_x, edge_y = end_x - start_x, end_y - start_y
        offset_x, offset_y = x - start_x, y - start_y
        projection = (offset_x * edge_x + offset_y * edge_y) / (edge_x**2 + edge_y**2)
        along = np.clip(projection, 0.0, 1.0)
        edge_distance = (offset_x - edge_x * along) ** 2 + (offset_y - edge_y * along) ** 2
        distance = np.minimum(distance, edge_distance)
        above = y >= start_y
        below = y < end_y
        left = edge_x * offset_y > edge_y * offset_x
        crossing = (above & below & left) | (~above & ~below & ~left)
        sign = np.where(crossing, -sign, sign)
    return sign * np.sqrt(distance)


def _circle(
    x: np.ndarray, y: np.ndarray, radius: float, center_x: float = 0.0, center_y: float = 0.0
) -> np.ndarray:
    return np.sqrt((x - center_x) ** 2 + (y - center_y) ** 2) - radius


def _shape_distance(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance to the shape `name` in its own unit frame (the shape spans about [-1, 1])."""
    if name in _POLYGONS:
        return _polygon_distance(x, y, _POLYGONS[name])
    if name == "circle":
        return _circle(x, y, 0.85)
    if name == "ring":
        return np.abs(_circle(x, y, 0.7)) - 0.22
    if name == "crescent":
        return np.maximum(_circle(x, y, 0.9), -_circle(x, y, 0.75, center_x=0.45))
    if name == "heart":
        lobes = np.minimum(_circle(x, y, 0.48, -0.42, 0.35), _circle(x, y, 0.48, 0.42, 0.35))
        tip = np.array([[-0.86, 0.22], [0.0, -0.95], [0.86, 0.22], [0.0, 0.5]])
        return np.minimum(lobes, _polygon_distance(x, y, tip))
    raise ValueError(f"Unknown shape. Received: name={name!r}")


def _uniform(
    rng: np.random.Generator, low: float, high: float, shape: tuple[int, ...]
) -> np.ndarray:
    """Uniform float32 samples: float32 arithmetic draws faster than numpy's default float64."""
    return rng.uniform(low, high, shape).astype(np.float32)


def _backgrounds(rng: np.random.Generator, count: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Colour gradients with soft waves and pixel noise: (count, size, size, 3) values in [0, 1]."""
    size = x.shape[-1]
    start = _uniform(rng, 0, 1, (count, 1, 1, 3))
    end = _uniform(rng, 0, 1, (count, 1, 1, 3))
    angle = _uniform(rng, 0, 2 * np.pi, (count, 1, 1))
    ramp = ((np.cos(angle) * x + np.sin(angle) * y) * 0.5 + 0.5)[..., None]
    image = start + (end - start) * ramp
    frequency = _uniform(rng, 2, 9, (count, 1, 1, 2))
    phase = _uniform(rng, 0, 2 * np.pi, (count, 1, 1, 2))
    horizontal_wave = np.sin(frequency[..., 0] * x + phase[..., 0])
    vertical_wave = np.sin(frequency[..., 1] * y + phase[..., 1])
    waves = horizontal_wave * vertical_wave
    image = image + _uniform(rng, 0, 0.06, (count, 1, 1, 3)) * waves[..., None]
    noise = rng.standard_normal((count, size, size, 1), dtype=np.float32)
    return image + noise * _uniform(rng, 0, 0.04, (count, 1, 1, 1))


def _patterned_backgrounds(
    rng: np.random.Generator, count: int, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """The shift's backgrounds: stripes or checks in two colours, `SHIFTED_CONTRAST` apart.

    Returns (count, size, size, 3) values in [0, 1]: half the images striped, half checked, each
    pattern at a random angle and period, with anti-aliased edges and the standard pixel noise.
    """
    size = x.shape[-1]
    pixel = 2.0 / size
    first = _uniform(rng, 0, 1, (count, 1, 1, 3))
    # Every channel SHIFTED_CONTRAST away from the first colour, upwards where it fits.
    fits_above = first + SHIFTED_CONTRAST <= 1
    second = np.where(fits_above, first + SHIFTED_CONTRAST, first - SHIFTED_CONTRAST)
    angle = _uniform(rng, 0, np.pi, (count, 1, 1))
    # Radians per grid unit: the grid spans 2 units, so `periods` full periods across the image.
    frequency = np.pi * _uniform(rng, *SHIFTED_PERIODS, (count, 1, 1))
    along = np.cos(angle) * x + np.sin(angle) * y
    across = -np.sin(angle) * x + np.cos(angle) * y
    stripes = np.sin(frequency * along)
    checks = stripes * np.sin(frequency * across)
    is_checked = _uniform(rng, 0, 1, (count, 1, 1)) < 0.5
    wave = np.where(is_checked, checks, stripes)
    # A square wave with edges about one pixel wide: at a crossing the sine changes by
    # `frequency * pixel` per pixel, so divided by that it goes from -0.5 to 0.5 within a pixel.
    pattern = np.clip(wave / (frequency * pixel), -0.5, 0.5) + 0.5
    image = first + (second - first) * pattern[..., None]
    noise = rng.standard_normal((count, size, size, 1), dtype=np.float32)
    return image + noise * _uniform(rng, 0, 0.04, (count, 1, 1, 1))


def _draw_chunk(
    rng: np.random.Generator,
    names: tuple[str, ...],
    labels: np.ndarray,
    size: int,
    shifted: bool = False,
) -> np.ndarray:
    """Draws one image per label; returns floats in [0, 1] of shape (len(labels), size, size, 3).

    `shifted` draws the shift's patterned backgrounds; otherwise the draws are those the standard
    images have always used.
    """
    count = len(labels)
    # Pixel centres in [-1, 1].
    axis = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
    grid_y, grid_x = np.meshgrid(-axis, axis, indexing="ij")
    if shifted:
        image = _patterned_backgrounds(rng, count, grid_x, grid_y)
    else:
        image = _backgrounds(rng, count, grid_x, grid_y)
    pixel = 2.0 / size  # one pixel in grid units: the width of the anti-aliased edge
    # A distractor line in 30% of the images: a thin stroke through a random point, drawn before
    # the shape. The draws below keep their order: reordering them would change every image.
    point = _uniform(rng, -1, 1, (count, 2, 1, 1))
    angle = _uniform(rng, 0, np.pi, (count, 1, 1))
    from_point_x = grid_x - point[:, 0]
    from_point_y = grid_y - point[:, 1]
    across = np.abs(-np.sin(angle) * from_point_x + np.cos(angle) * from_point_y)
    along = np.abs(np.cos(angle) * from_point_x + np.sin(angle) * from_point_y)
    half_width = _uniform(rng, 0.005, 0.02, (count, 1, 1))
    half_length = _uniform(rng, 0.1, 0.5, (count, 1, 1))
    distance = np.maximum(across - half_width, along - half_length)
    has_line = _uniform(rng, 0, 1, (count, 1, 1)) < 0.3
    alpha = np.clip(0.5 - distance / pixel, 0, 1) * has_line
    image += alpha[..., None] * (_uniform(rng, 0, 1, (count, 1, 1, 3)) - image)
    scale = _uniform(rng, 0.45, 0.75, (count, 1, 1))
    # Aspect ratio between about 0.8 and 1.2.
    stretch = np.exp(_uniform(rng, -0.2, 0.2, (count, 1, 1)))
    center = _uniform(rng, -1, 1, (count, 2, 1, 1)) * (0.95 - scale[:, None] * 1.1)
    angle = _uniform(rng, 0, 2 * np.pi, (count, 1, 1))
    shifted_x, shifted_y = grid_x - center[:, 0], grid_y - center[:, 1]
    local_x = (np.cos(angle) * shifted_x + np.sin(angle) * shifted_y) / (scale * stretch)
    local_y = (-np.sin(angle) * shifted_x + np.cos(angle) * shifted_y) * stretch / scale
    distance = np.empty((count, size, size), dtype=np.float32)
    for class_index, name in enumerate(names):
        chosen = labels == class_index
        distance[chosen] = _shape_distance(name, local_x[chosen], local_y[chosen]) * scale[chosen]
    alpha = np.clip(0.5 - distance / pixel, 0, 1)[..., None]
    # Shape colour: random, pushed away from the background's mean so the shape stays visible.
    colour = _uniform(rng, 0, 1, (count, 1, 1, 3))
    background_mean = image.mean(axis=(1, 2), keepdims=True)
    too_close = np.linalg.norm(colour - background_mean, axis=-1, keepdims=True) < 0.6
    contrasting = np.clip(1 - background_mean + _uniform(rng, -0.1, 0.1, colour.shape), 0, 1)
    colour = np.where(too_close, contrasting, colour)
    shading = 1 + _uniform(rng, -0.15, 0.15, (count, 1, 1, 1)) * local_x[..., None].clip(-1.5, 1.5)
    image = image + alpha * (colour * shading - image)
    return np.clip(image, 0, 1)


def make_images(
    task: str,
    split: str,
    count: int,
    image_size: int = 96,
    seed: int = 0,
    shifted: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws a balanced, labelled set of shape images.

    The same `(task, split, count, image_size, seed, shifted)` always gives the same images;
    different splits, seeds or shifts use independent random streams. `shifted=True` draws the
    out-of-distribution images of lesson 07: the same classes on striped or checked backgrounds
    (see the module docstring).

    Args:
        task: str, `"source"` (the 6 `SOURCE_CLASSES`) or `"target"` (the 4 `TARGET_CLASSES`).
        split: str, one of `"train"`, `"validation"`, `"test"`.
        count: int >= 1, how many images. Classes are balanced to within one image.
        image_size: int >= 32, height and width in pixels. Defaults to 96.
        seed: int >= 0, the data seed. Defaults to 0.
        shifted: bool, whether to draw the distribution-shifted images. Defaults to `False`.

    Returns:
        A tuple `(images, labels)`: uint8 array of shape `(count, image_size, image_size, 3)`
        and int32 array of shape `(count,)` with values in `range(len(classes))`.

    Raises:
        ValueError: naming the argument, if one is out of range (an unknown `task` or `split`
            gets the closest name suggested).

    Example:

    >>> images, labels = make_images("target", "train", count=8, image_size=32)
    >>> images.shape, images.dtype.name, sorted(set(labels.tolist()))
    ((8, 32, 32, 3), 'uint8', [0, 1, 2, 3])
    >>> shifted_images, _ = make_images("target", "train", count=8, image_size=32, shifted=True)
    >>> bool((shifted_images != images).any())
    True
    """
    task = validation.check_choice("task", task, TASKS)
    split = validation.check_choice("split", split, SPLITS)
    count = validation.check_int("count", count, minimum=1)
    image_size = validation.check_int("image_size", image_size, minimum=MINIMUM_IMAGE_SIZE)
    seed = validation.check_int("seed", seed, minimum=0)
    shifted = validation.check_bool("shifted", shifted)
    names = TASKS[task]
    # One random stream per (seed, task, split); 7919 (a prime) sets these streams apart. A
    # shifted stream appends a marker: the standard streams keep their seeds, hence their images.
    stream = [seed, list(TASKS).index(task), SPLITS.index(split), 7919]
    if shifted:
        stream.append(_SHIFTED_STREAM)
    rng = np.random.default_rng(stream)
    labels = rng.permutation(np.arange(count) % len(names)).astype(np.int32)
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)
    for start in range(0, count, _CHUNK):
        chunk = _draw_chunk(rng, names, labels[start : start + _CHUNK], image_size, shifted)
        images[start : start + _CHUNK] = np.round(chunk * 255).astype(np.uint8)
    return images, labels


def plot_examples(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.axes.Axes:
    """Shows images in a grid with their class names as titles.

    Args:
        images: uint8 array `(n, height, width, 3)`; up to 16 are shown.
        labels: array `(n,)` of class indices into `class_names`.
        class_names: sequence of str, the name of each class index.
        ax: a matplotlib Axes to draw into, or `None` for a new figure. Defaults to `None`.

    Returns:
        The matplotlib Axes holding the grid (one mosaic image, titles as text).

    Raises:
        ValueError: if `images` is not a batch of uint8 RGB images, or `labels` is not one class
            index per image.

    Example:

    >>> images, labels = make_images("source", "test", count=6, image_size=32)
    >>> ax = plot_examples(images, labels, SOURCE_CLASSES)
    >>> len(ax.texts)
    6
    """
    import matplotlib.pyplot as plt

    images = validation.check_array("images", images, ("n", "height", "width", 3))
    validation.check_choice("images.dtype", images.dtype.name, ("uint8",))
    class_names = validation.check_sequence("class_names", class_names)
    labels = validation.check_labels("labels", labels, len(class_names), count=len(images))
    shown = min(len(images), 16)
    columns = min(shown, 8)
    rows = -(-shown // columns)
    height, width = images.shape[1:3]
    mosaic = np.full((rows * (height + 20), columns * (width + 4), 3), 255, dtype=np.uint8)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * columns, 1.5 * rows))
    for index in range(shown):
        top, left = (index // columns) * (height + 20) + 18, (index % columns) * (width + 4)
        mosaic[top : top + height, left : left + width] = images[index]
        ax.text(left + width / 2, top - 3, class_names[int(labels[index])], ha="center", fontsize=8)
    ax.imshow(mosaic)
    ax.set_axis_off()
    return ax
