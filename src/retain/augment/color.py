"""Pixel-value operations on uint8 N×C×H×W batches with per-sample magnitudes.

The definitions follow PIL's ImageOps/ImageEnhance (the library RM's AutoAugment and
RandAugment are written against) so that the policies keep their published meaning.
Results are truncated to uint8 like PIL's blends and torchvision's uint8 ops.
"""

from __future__ import annotations

import torch

from retain.augment.sampling import uniform

# ITU-R 601-2 luma, the weights of PIL's convert("L").
_LUMA = (0.299, 0.587, 0.114)
# PIL's ImageFilter.SMOOTH kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 makes the degenerate
# image of ImageEnhance.Sharpness.
_SMOOTH_SCALE = 13.0


def to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Clamp float pixel values to [0, 255] and truncate to uint8."""
    return values.clamp(0, 255).to(torch.uint8)


def per_sample(value: float | torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """A scalar or an (N,) tensor as a float (N, 1, 1, 1) tensor on the images' device."""
    tensor = torch.as_tensor(value, dtype=torch.float32, device=images.device)
    return tensor.reshape(-1, 1, 1, 1) if tensor.dim() else tensor.reshape(1, 1, 1, 1)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Rounded luma as float (N, 1, H, W); a 1-channel image is its own grey."""
    x = images.float()
    if x.shape[1] == 3:
        weights = torch.tensor(_LUMA, device=x.device).view(1, 3, 1, 1)
        return (x * weights).sum(1, keepdim=True).add_(0.5).floor_()
    return x.mean(1, keepdim=True).round_()


def _blend(degenerate: torch.Tensor, images: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """PIL's Image.blend(degenerate, image, factor): factor 0 gives the degenerate image."""
    x = images.float()
    return to_uint8(degenerate + per_sample(factor, images) * (x - degenerate))


def adjust_brightness(images: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with black (ImageEnhance.Brightness)."""
    return _blend(torch.zeros((), device=images.device), images, factor)


def adjust_contrast(images: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the image's rounded mean grey level (ImageEnhance.Contrast)."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True).add_(0.5).floor_()
    return _blend(mean, images, factor)


def adjust_saturation(images: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the grey image (ImageEnhance.Color); a no-op on 1-channel images."""
    return _blend(grayscale(images), images, factor)


def adjust_sharpness(images: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the SMOOTH-filtered image, borders kept (ImageEnhance.Sharpness)."""
    _, _, h, w = images.shape
    if h < 3 or w < 3:
        return images.clone()
    x = images.float()
    # SMOOTH = (3×3 box sum + 4·centre) / 13; the box sum is separable.
    rows = x[:, :, :, :-2] + x[:, :, :, 1:-1] + x[:, :, :, 2:]
    box = rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = (box + 4.0 * x[:, :, 1:-1, 1:-1]).div_(_SMOOTH_SCALE).round_()
    return _blend(degenerate, images, factor)


def invert(images: torch.Tensor) -> torch.Tensor:
    """255 − x."""
    return 255 - images


def solarize(images: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """Invert every pixel at or above the threshold (ImageOps.solarize)."""
    return torch.where(images.float() >= per_sample(threshold, images), 255 - images, images)


def posterize(images: torch.Tensor, bits: int | torch.Tensor) -> torch.Tensor:
    """Keep the `bits` most significant bits of every pixel (ImageOps.posterize)."""
    shift = (8 - torch.as_tensor(bits, device=images.device).clamp(0, 8)).to(torch.int32)
    shift = shift.reshape(-1, 1, 1, 1) if shift.dim() else shift
    x = images.to(torch.int32)
    return ((x >> shift) << shift).to(torch.uint8)


def autocontrast(images: torch.Tensor) -> torch.Tensor:
    """Stretch each channel to the full [0, 255] range (ImageOps.autocontrast, cutoff 0)."""
    x = images.float()
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (x - low) * 255.0 / span.clamp(min=1.0)
    return torch.where(span > 0, to_uint8(stretched), images)


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel, PIL's lookup table (ImageOps.equalize)."""
    n, c, h, w = images.shape
    flat = images.reshape(n * c, h * w).long()
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=images.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    # PIL leaves out the count of the highest occupied level when sizing the steps.
    last = hist.gather(1, flat.amax(dim=1, keepdim=True))
    step = (h * w - last) // 255
    before = hist.cumsum(1) - hist
    lut = ((step // 2 + before) // step.clamp(min=1)).clamp(max=255)
    identity = torch.arange(256, device=images.device).expand_as(lut)
    lut = torch.where(step > 0, lut, identity)
    return lut.gather(1, flat).to(torch.uint8).reshape(n, c, h, w)


def color_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
) -> torch.Tensor:
    """torchvision-style ColorJitter without hue, per-sample factors from [max(0, 1−v), 1+v].

    The three adjustments run in the fixed order brightness → contrast → saturation
    (torchvision shuffles the order per image; with one factor set, as in PyCIL's
    brightness=63/255, the two agree).
    """
    out = images
    adjustments = ((brightness, adjust_brightness), (contrast, adjust_contrast), (saturation, adjust_saturation))
    for value, adjust in adjustments:
        if value > 0:
            factor = uniform(images.shape[0], generator, images.device, max(0.0, 1.0 - value), 1.0 + value)
            out = adjust(out, factor)
    return out
