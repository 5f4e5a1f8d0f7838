"""16-bit and other high-bit-depth images are scaled to 8 bits, not clipped to white, and the
loaders say in one line what they convert."""
import numpy as np
import pytest
from PIL import Image

from coursehelpers.vision import ImageDataLoaders, open_image


def gradient_16bit(path):
    """A full-range 16-bit grey gradient, 0 to 65535 left to right, saved as PNG."""
    g = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (16, 1))
    Image.fromarray(g).save(path)
    assert Image.open(path).mode == 'I;16'
    return g


def test_a_full_range_16bit_gradient_is_scaled_not_clipped(tmp_path):
    g = gradient_16bit(tmp_path / 'g.png')
    rgb = np.asarray(open_image(tmp_path / 'g.png'))
    assert rgb.shape == (16, 256, 3) and rgb.dtype == np.uint8
    white = (rgb == 255).all(-1).mean()
    assert white < 0.01, f'{white:.1%} of the gradient became white'
    assert np.abs(rgb[..., 0].astype(int) - np.round(g / 257)).max() <= 1
    assert (rgb[..., 0] == rgb[..., 1]).all() and len(np.unique(rgb[0, :, 0])) == 256


@pytest.mark.parametrize('mode,values,expect', [
    ('I', [0, 32768, 65535], [0, 128, 255]),                  # 16-bit data in a 32-bit image
    ('F', [0.0, 0.5, 1.0], [0, 128, 255]),                    # floats in 0..1
    ('F', [-1.0, 0.0, 1.0], [0, 128, 255]),                   # any other range: scaled from it
])
def test_other_high_bit_modes_are_scaled(tmp_path, mode, values, expect):
    img = Image.new(mode, (3, 1))
    for x, v in enumerate(values):
        img.putpixel((x, 0), v)
    img.save(tmp_path / 'x.tif')
    got = np.asarray(open_image(tmp_path / 'x.tif'))[0, :, 0].tolist()
    assert got == expect


def test_the_loaders_count_what_they_convert(tmp_path, capsys):
    for split in ('train', 'valid'):
        for cls in ('a', 'b'):
            (tmp_path / split / cls).mkdir(parents=True)
            gradient_16bit(tmp_path / split / cls / 'g.png')
            Image.new('CMYK', (16, 16), (0, 255, 255, 0)).save(tmp_path / split / cls / 'c.jpg')
            Image.new('RGB', (16, 16), 'red').save(tmp_path / split / cls / 'r.jpg')
    ImageDataLoaders.from_folder(tmp_path, size=16, bs=2, num_workers=0)
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if 'converted to 8-bit RGB' in ln]
    assert line == ['8 of 12 images are converted to 8-bit RGB when read: 4 16-bit grey, 4 CMYK '
                    '(high bit depths scaled, not clipped)']
