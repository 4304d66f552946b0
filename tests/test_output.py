"""The one output module: one path check for images, animations and video; atomic writes that leave
nothing behind and never touch the old file on failure."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from impasto.errors import ImageError
from impasto.fast.video import VideoError, check_video_output
from impasto.output import (
    atomic_file,
    atomic_write,
    check_animation_path,
    check_output_path,
    check_outputs,
    save_animation,
    save_image,
)


@pytest.mark.parametrize(
    ("check", "name", "error"),
    [
        (lambda p, i: check_output_path(p, i), "out.png", ImageError),
        (lambda p, i: check_animation_path(p, i), "out.gif", ImageError),
        (lambda p, i: check_video_output(p, i[0]), "out.mp4", VideoError),
    ],
)
def test_every_kind_of_output_gets_the_same_checks(tmp_path, check, name, error):
    src = tmp_path / "in.png"
    Image.new("RGB", (8, 8)).save(src)
    assert check(tmp_path / name, (src,)) == tmp_path / name
    (tmp_path / "adir").mkdir()
    for path, message in (
        (tmp_path / "out.txt", "unknown extension '.txt'"),
        (tmp_path / "nodir" / name, "does not exist"),
        (tmp_path / "adir" / ".." / "in.png" if name.endswith(".png") else None, "one of the inputs"),
    ):
        if path is None:
            continue
        with pytest.raises(error, match=message):
            check(path, (src,))


def test_atomic_file_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target, keep_suffix=True) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_gif_animation_has_every_frame(tmp_path):
    frames = [torch.full((1, 3, 8, 10), v) for v in (0.0, 0.5, 1.0)]
    out = save_animation(frames, tmp_path / "a.gif", fps=10)
    with Image.open(out) as im:
        assert im.n_frames == 3 and im.size == (10, 8)


def test_moved_names_stay_importable_from_images():
    from impasto import images, output

    assert images.save_image is output.save_image and images.atomic_write is output.atomic_write
    with pytest.raises(AttributeError):
        images.no_such_name  # noqa: B018


def _gradient(w: int = 40, h: int = 30) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8), "RGB")


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP")])
def test_save_by_extension(tmp_path, ext, fmt):
    out = tmp_path / f"x{ext}"
    save_image(torch.rand(1, 3, 12, 17), out)
    with Image.open(out) as im:
        assert im.format == fmt and im.size == (17, 12)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp files left behind


def test_output_checks(tmp_path):
    with pytest.raises(ImageError, match=r"unknown extension '\.gif'"):
        check_output_path(tmp_path / "o.gif")
    with pytest.raises(ImageError, match="does not exist"):
        check_output_path(tmp_path / "nodir" / "o.png")
    inp = tmp_path / "in.png"
    _gradient().save(inp)
    before = inp.read_bytes()
    with pytest.raises(ImageError, match="one of the inputs"):
        check_output_path(tmp_path / "." / "in.png", inputs=(inp,))
    assert inp.read_bytes() == before


def test_unwritable_output_directory(tmp_path):
    if os.geteuid() == 0:  # root ignores permission bits; sysfs refuses new files even to root
        target = Path("/sys/impasto-test-output.png")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "o.png"
    with pytest.raises(ImageError, match="not writable"):
        check_output_path(target)
    with pytest.raises(ImageError):
        save_image(torch.rand(1, 3, 4, 4), target)
    assert not target.exists()


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    out = tmp_path / "keep.png"
    save_image(torch.zeros(1, 3, 4, 4), out)
    before = out.read_bytes()

    def explode(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", explode)
    with pytest.raises(ImageError, match="disk full"):
        save_image(torch.ones(1, 3, 4, 4), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


# -- outputs never overwrite inputs (issue 13, finding 3) ------------------------------------------
def test_outputs_are_checked_against_inputs_by_resolved_path_and_same_file(tmp_path):
    inp = tmp_path / "in.png"
    _gradient().save(inp)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to(inp)
    os.link(inp, tmp_path / "hard.png")
    for out in (tmp_path / "sub" / ".." / "in.png", tmp_path / "link.png", tmp_path / "hard.png"):
        with pytest.raises(ImageError, match="one of the inputs"):
            check_outputs([tmp_path / "other.png", out], [inp])
    with pytest.raises(ImageError, match="written twice"):
        check_outputs([tmp_path / "a.png", tmp_path / "sub" / ".." / "a.png"], [inp])
    check_outputs([tmp_path / "a.png", tmp_path / "b.png", None], [inp, None])  # distinct: fine
