"""Property test: no combination of path pieces resolves outside the root."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memfun_core.errors import MemfunError
from memfun_tools import Workspace

PIECES = ["..", ".", "a", "b", "up", "out", "root", "", "~", "%2e%2e", "..\\", "\uff0e\uff0e"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    base = tmp_path_factory.mktemp("prop")
    (base / "root" / "a" / "b").mkdir(parents=True)
    (base / "outside").mkdir()
    (base / "root" / "up").symlink_to("..")
    (base / "root" / "a" / "out").symlink_to(base / "outside")
    (base / "root" / "out").symlink_to("/")
    return Workspace(base / "root")


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(PIECES), min_size=1, max_size=8), absolute=st.booleans())
def test_resolved_paths_stay_inside(ws: Workspace, parts: list[str], absolute: bool) -> None:
    path = "/".join(parts)
    if absolute:
        path = f"{ws.root}/{path}"
    try:
        real = ws.resolve(path, must_exist=False)
    except MemfunError:
        return
    assert real == ws.root or ws.root in real.parents
