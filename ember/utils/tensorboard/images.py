"""Image summaries: layouts (CHW, HWC, NCHW, ...) to one PNG; matplotlib figures to images."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2


def _grid(batch: np.ndarray, ncols: int = 8) -> np.ndarray:
    """(N, C, H, W) images with C in {1, 3, 4} tiled row by row into one (C', H', W') image."""
    if batch.shape[1] == 1:
        batch = np.repeat(batch, 3, axis=1)
    n, c, h, w = batch.shape
    if c not in (3, 4):
        raise ValueError(
            f"add_images: each image needs 1, 3 or 4 channels, got shape {batch.shape} (NCHW); "
            "fix: pass dataformats= naming where the channel axis is"
        )
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((c, h * nrows, w * ncols), dtype=batch.dtype)
    for i in range(n):
        row, col = divmod(i, ncols)
        canvas[:, row * h : (row + 1) * h, col * w : (col + 1) * w] = batch[i]
    return canvas


def to_hwc(array: np.ndarray, dataformats: str) -> np.ndarray:
    """An (H, W, C) array, C in {3, 4}, from any layout `dataformats` names (N tiles a grid)."""
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or not {"H", "W"} <= set(fmt):
        raise ValueError(
            f"dataformats={dataformats!r} must name H and W and optionally N and C, each once "
            "(e.g. 'CHW', 'HWC', 'HW', 'NCHW', 'NHWC')"
        )
    if array.ndim != len(fmt):
        raise ValueError(
            f"the image has shape {tuple(array.shape)} ({array.ndim} dims) but "
            f"dataformats={dataformats!r} names {len(fmt)}; fix: pass the matching dataformats"
        )
    if "N" in fmt:
        if "C" not in fmt:
            array, fmt = array[..., None], fmt + "C"
        nchw = array.transpose([fmt.index(a) for a in "NCHW"])
        return _grid(nchw).transpose(1, 2, 0)
    if "C" not in fmt:
        return np.stack([array.transpose([fmt.index(a) for a in "HW"])] * 3, axis=2)
    hwc = array.transpose([fmt.index(a) for a in "HWC"])
    if hwc.shape[2] == 1:
        hwc = np.repeat(hwc, 3, axis=2)
    if hwc.shape[2] not in (3, 4):
        raise ValueError(
            f"an image needs 1, 3 or 4 channels, got {hwc.shape[2]} (shape {tuple(array.shape)}, "
            f"dataformats={dataformats!r}); fix: pass the dataformats that names the channel axis"
        )
    return hwc


def to_uint8(hwc: np.ndarray) -> np.ndarray:
    """uint8 images are kept; any other dtype is read as [0, 1] and scaled by 255, clipped."""
    if hwc.dtype == np.uint8:
        return hwc
    return (hwc.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)


def image_summary(tag: str, array: np.ndarray, dataformats: str) -> summary_pb2.Summary:
    """One PNG-encoded image (a grid for batches) in a `Summary.Image`."""
    from PIL import Image  # pillow comes with tensorboard

    hwc = to_uint8(to_hwc(array, dataformats))
    height, width, channels = hwc.shape
    buffer = io.BytesIO()
    Image.fromarray(hwc).save(buffer, format="PNG")
    image = summary_pb2.Summary.Image(
        height=height,
        width=width,
        colorspace=channels,
        encoded_image_string=buffer.getvalue(),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])


def figure_to_chw(figure: Any, close: bool = True) -> np.ndarray:
    """A matplotlib figure rendered with Agg, as a (3, H, W) uint8 RGB array."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as e:
        raise ImportError(
            "add_figure renders matplotlib figures, and matplotlib is not installed; "
            "fix: pip install matplotlib"
        ) from e
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.uint8)
    if close:
        plt.close(figure)
    return np.ascontiguousarray(rgba[:, :, :3].transpose(2, 0, 1))
