"""Reading a multipart job submission: files spooled in the data directory, limits checked while the
body streams in.

Starlette's ``request.form()`` spools every uploaded file in a ``SpooledTemporaryFile`` in the
system temporary directory, with no per-file limit (its ``max_part_size`` bounds text fields only)
and no way to choose the directory short of the process-wide ``tempfile.tempdir``. So the body is
parsed here with python-multipart, the parser Starlette uses: each file goes into an anonymous
temporary file in ``DATA_DIR/uploads`` (gone when closed, or when the process dies), the file-size
limit and the free-space floor are checked as every chunk arrives, and the result is Starlette's
own ``FormData`` of strings and ``UploadFile``\\ s.
"""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path
from typing import BinaryIO

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.requests import Request

from .limits import LimitError
from .storage import Disk, is_disk_full

CHECK_DISK_EVERY = 4 * 1024 * 1024  # bytes written between free-space checks


class FormError(ValueError):
    """The body is not a multipart form this service accepts (→ 400)."""


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


class _Part:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()
        self.file: BinaryIO | None = None  # an anonymous temporary file, for file parts
        self.size = 0


class _State:
    """The parser's progress through the body."""

    def __init__(self) -> None:
        self.part = _Part()
        self.header = b""
        self.value = b""
        self.files = 0
        self.fields = 0
        self.since_check = 0


async def read_form(
    request: Request,
    *,
    spool_dir: Path,
    disk: Disk,
    max_file_bytes: int,
    max_files: int,
    max_fields: int,
    max_field_bytes: int,
    what: str = "uploaded file",
) -> FormData:
    """Parse ``request``'s multipart body; raises :class:`FormError`, :class:`LimitError` (413, the
    file's field named) or :class:`~impasto.service.storage.StorageFull`. Close the form when done."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise FormError("missing boundary in the multipart content type")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    spool_dir.mkdir(parents=True, exist_ok=True)

    items: list[tuple[str, str | UploadFile]] = []
    opened: list[BinaryIO] = []
    pending: list[tuple[BinaryIO, bytes]] = []  # file data to write outside the parser's callbacks
    state = _State()

    def on_part_begin() -> None:
        state.part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.value += data[start:end]

    def on_header_end() -> None:
        state.part.headers.append((state.header.lower(), state.value))
        state.header, state.value = b"", b""

    def on_headers_finished() -> None:
        part: _Part = state.part
        disposition = dict(part.headers).get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise FormError('a part has no Content-Disposition "name"')
        part.name = _decode(options[b"name"], charset)
        if b"filename" in options:
            state.files += 1
            if state.files > max_files:
                raise FormError(f"too many files (at most {max_files})")
            part.filename = _decode(options[b"filename"], charset)
            part.file = tempfile.TemporaryFile(dir=spool_dir)
            opened.append(part.file)
        else:
            state.fields += 1
            if state.fields > max_fields:
                raise FormError(f"too many fields (at most {max_fields})")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part: _Part = state.part
        n = end - start
        if part.file is None:
            if len(part.data) + n > max_field_bytes:
                raise FormError(f"field '{part.name}' is longer than {max_field_bytes // 1024} KiB")
            part.data.extend(data[start:end])
            return
        part.size += n
        if part.size > max_file_bytes:
            raise LimitError(
                413,
                f"{what} '{part.filename or part.name}' is larger than {max_file_bytes / 1024 / 1024:g} MiB",
                field=part.name,
                limit=max_file_bytes,
            )
        pending.append((part.file, data[start:end]))

    def on_part_end() -> None:
        part: _Part = state.part
        if part.file is None:
            items.append((part.name, _decode(bytes(part.data), charset)))
        else:
            items.append(
                (
                    part.name,
                    UploadFile(
                        part.file, size=part.size, filename=part.filename, headers=Headers(raw=part.headers)
                    ),
                )
            )

    def write_pending() -> None:
        try:
            for fh, chunk in pending:
                fh.write(chunk)
                state.since_check += len(chunk)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk.ran_out() from exc
            raise
        finally:
            pending.clear()
        if state.since_check >= CHECK_DISK_EVERY:  # the floor holds for bodies of unknown length too
            state.since_check = 0
            disk.check()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except (FormError, LimitError):
                raise
            except Exception as exc:
                raise FormError(f"malformed multipart body: {exc}") from None
            if pending:
                await anyio.to_thread.run_sync(write_pending)
        try:
            parser.finalize()
        except Exception as exc:
            raise FormError(f"malformed multipart body: {exc}") from None
        for fh in opened:
            fh.seek(0)
    except BaseException:
        for fh in opened:
            fh.close()
        raise
    return FormData(items)
