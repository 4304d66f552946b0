"""The one output module: one path check for images, animations and video; atomic writes that leave
nothing behind and never touch the old file on failure."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from impasto.errors import ImageError
from impasto.fast.video import VideoError, check_video_output
from impasto.output import atomic_file, atomic_write, check_animation_path, check_output_path, save_animation


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
