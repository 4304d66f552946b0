"""The implementations every contract test runs against.

Each entry of :data:`JOB_STORES` / :data:`FILE_STORES` names a fixture returning an *opener*: a function
that opens one more handle on the same, fresh backend (a second handle is what another process or thread
has: its own connections). To add an implementation, define its fixture (here or in a conftest it
imports) and add its name to the list — one line; every contract test then runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from impasto.service.files import LocalFileStore
from impasto.service.queue import SQLiteJobStore
from impasto.service.stores import FileStore, JobStore

JOB_STORES = ["sqlite_job_store", "redis_job_store"]  # redis_*: in tests/service/conftest.py
FILE_STORES = ["local_file_store", "redis_file_store"]


@pytest.fixture
def sqlite_job_store(tmp_path) -> Iterator[Callable[[], JobStore]]:
    opened: list[SQLiteJobStore] = []

    def open_store() -> JobStore:
        opened.append(SQLiteJobStore(tmp_path / "data"))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def local_file_store(tmp_path) -> Callable[[], FileStore]:
    return lambda: LocalFileStore(tmp_path / "data" / "jobs")


def under_test(name: str, implementations: list[str]):
    """The fixture ``name``: in turn, the opener of each of ``implementations`` (each test gets a fresh,
    empty store)."""

    @pytest.fixture(name=name, params=implementations)
    def opener(request) -> Callable[[], object]:
        return request.getfixturevalue(request.param)

    return opener


open_jobs = under_test("open_jobs", JOB_STORES)
open_files = under_test("open_files", FILE_STORES)


@pytest.fixture
def jobs(open_jobs) -> JobStore:
    return open_jobs()


@pytest.fixture
def files(open_files) -> FileStore:
    return open_files()
