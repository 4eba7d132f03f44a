"""StateStore conformance: versions, compare-and-set races, TTL, counters, prefix scans."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import Entry

TTL = 0.2


async def scanned(backend: Backend, prefix: str = "") -> dict[str, Any]:
    return {key: entry.value async for key, entry in backend.state.scan(prefix)}


class ReadWrite:
    async def test_a_missing_key_reads_as_none(self, backend: Backend) -> None:
        assert await backend.state.get("nothing") is None

    async def test_set_then_get_returns_value_and_version(self, backend: Backend) -> None:
        version = await backend.state.set("user.1", {"name": "Ada", "tags": ["x"]})
        entry = await backend.state.get("user.1")
        assert isinstance(entry, Entry)
        assert entry == Entry(value={"name": "Ada", "tags": ["x"]}, version=version)

    @pytest.mark.parametrize("value", [None, False, 0, 3.25, "", "ü", [1, "2"], {"a": {"b": []}}])
    async def test_every_json_value_round_trips(self, backend: Backend, value: Any) -> None:
        await backend.state.set("k", value)
        entry = await backend.state.get("k")
        assert entry is not None
        assert entry.value == value

    async def test_versions_grow_with_every_write(self, backend: Backend) -> None:
        versions = [await backend.state.set("k", i) for i in range(5)]
        assert versions == sorted(versions)
        assert len(set(versions)) == 5
        assert versions[0] > 0

    async def test_stored_values_are_copies(self, backend: Backend) -> None:
        value: dict[str, Any] = {"list": [1]}
        await backend.state.set("k", value)
        value["list"].append(2)
        entry = await backend.state.get("k")
        assert entry is not None
        assert entry.value == {"list": [1]}

    async def test_delete(self, backend: Backend) -> None:
        version = await backend.state.set("k", 1)
        with pytest.raises(ConflictError):
            await backend.state.delete("k", expected_version=version + 1000)
        assert await backend.state.get("k") is not None
        assert await backend.state.delete("k", expected_version=version) is True
        assert await backend.state.get("k") is None
        assert await backend.state.delete("k") is False
        with pytest.raises(ConflictError):
            await backend.state.delete("k", expected_version=version)


class CompareAndSet:
    async def test_expected_none_creates_only_when_absent(self, backend: Backend) -> None:
        version = await backend.state.compare_and_set("lock", "me", expected_version=None)
        with pytest.raises(ConflictError):
            await backend.state.compare_and_set("lock", "you", expected_version=None)
        entry = await backend.state.get("lock")
        assert entry == Entry(value="me", version=version)

    async def test_the_right_version_wins_a_stale_one_loses(self, backend: Backend) -> None:
        v1 = await backend.state.set("k", "a")
        v2 = await backend.state.compare_and_set("k", "b", expected_version=v1)
        assert v2 > v1
        with pytest.raises(ConflictError):
            await backend.state.compare_and_set("k", "c", expected_version=v1)
        entry = await backend.state.get("k")
        assert entry is not None
        assert (entry.value, entry.version) == ("b", v2)

    async def test_a_cas_on_a_missing_key_with_a_version_conflicts(self, backend: Backend) -> None:
        with pytest.raises(ConflictError):
            await backend.state.compare_and_set("ghost", 1, expected_version=1)

    async def test_exactly_one_of_n_racing_writers_wins_each_version(
        self, backend: Backend
    ) -> None:
        writers = 10
        version = await backend.state.set("race", -1)
        for round_ in range(3):

            async def write(i: int, expected: int = version, round_: int = round_) -> int | None:
                try:
                    return await backend.state.compare_and_set(
                        "race", [round_, i], expected_version=expected
                    )
                except ConflictError:
                    return None

            results = await asyncio.gather(*(write(i) for i in range(writers)))
            winners = [(i, v) for i, v in enumerate(results) if v is not None]
            assert len(winners) == 1, results
            winner, version = winners[0]
            entry = await backend.state.get("race")
            assert entry is not None
            assert (entry.value, entry.version) == ([round_, winner], version)

    async def test_exactly_one_of_n_racing_creators_wins(self, backend: Backend) -> None:
        async def create(i: int) -> bool:
            try:
                await backend.state.compare_and_set("leader", i, expected_version=None)
            except ConflictError:
                return False
            return True

        results = await asyncio.gather(*(create(i) for i in range(10)))
        assert results.count(True) == 1
        entry = await backend.state.get("leader")
        assert entry is not None
        assert entry.value == results.index(True)


class Counters:
    async def test_increment_starts_at_zero_and_adds(self, backend: Backend) -> None:
        assert await backend.state.increment("hits") == 1
        assert await backend.state.increment("hits", 5) == 6
        assert await backend.state.increment("hits", -2) == 4
        entry = await backend.state.get("hits")
        assert entry is not None
        assert entry.value == 4

    async def test_concurrent_increments_are_never_lost(self, backend: Backend) -> None:
        await asyncio.gather(*(backend.state.increment("n") for _ in range(50)))
        entry = await backend.state.get("n")
        assert entry is not None
        assert entry.value == 50

    async def test_incrementing_a_non_integer_is_refused(self, backend: Backend) -> None:
        await backend.state.set("name", "Ada")
        with pytest.raises(ValidationError):
            await backend.state.increment("name")
        await backend.state.set("flag", True)
        with pytest.raises(ValidationError):
            await backend.state.increment("flag")
        entry = await backend.state.get("name")
        assert entry is not None
        assert entry.value == "Ada"


class TimeToLive:
    async def test_a_key_with_ttl_disappears(self, backend: Backend) -> None:
        await backend.state.set("session", "x", ttl=TTL)
        entry = await backend.state.get("session")
        assert entry is not None
        assert entry.expires_at is not None
        await asyncio.sleep(TTL * 1.5)
        assert await backend.state.get("session") is None
        assert await scanned(backend) == {}
        await backend.state.compare_and_set("session", "new", expected_version=None)

    async def test_a_write_without_ttl_clears_the_expiry(self, backend: Backend) -> None:
        await backend.state.set("k", 1, ttl=TTL)
        await backend.state.set("k", 2)
        await asyncio.sleep(TTL * 1.5)
        entry = await backend.state.get("k")
        assert entry is not None
        assert (entry.value, entry.expires_at) == (2, None)

    async def test_cas_can_set_a_ttl_and_increment_keeps_it(self, backend: Backend) -> None:
        await backend.state.compare_and_set("c", 1, expected_version=None, ttl=TTL)
        assert await backend.state.increment("c") == 2
        await asyncio.sleep(TTL * 1.5)
        assert await backend.state.get("c") is None

    @pytest.mark.parametrize("ttl", [-1, 0, -0.5, math.inf, math.nan])
    async def test_a_bad_ttl_is_refused(self, backend: Backend, ttl: float) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.state.set("k", 1, ttl=ttl)
        assert info.value.field == "ttl"
        with pytest.raises(ValidationError):
            await backend.state.compare_and_set("k", 1, expected_version=None, ttl=ttl)
        assert await backend.state.get("k") is None


class PrefixScan:
    async def test_scan_yields_exactly_the_keys_under_a_prefix(self, backend: Backend) -> None:
        for key in ("user.1", "user.2", "user-admin", "users.9", "group.1"):
            await backend.state.set(key, key)
        assert await scanned(backend, "user.") == {"user.1": "user.1", "user.2": "user.2"}
        assert set(await scanned(backend, "user")) == {"user.1", "user.2", "user-admin", "users.9"}
        assert len(await scanned(backend)) == 5
        assert await scanned(backend, "nobody") == {}

    async def test_scan_entries_carry_versions(self, backend: Backend) -> None:
        version = await backend.state.set("a.b", 1)
        entries = [entry async for _, entry in backend.state.scan("a.")]
        assert entries == [Entry(value=1, version=version)]


class BadStateInput:
    @pytest.mark.parametrize("key", ["", "a b", "a..b", "a.*", "k\n"])
    async def test_an_illegal_key_is_refused(self, backend: Backend, key: str) -> None:
        with pytest.raises(ValidationError):
            await backend.state.set(key, 1)
        with pytest.raises(ValidationError):
            await backend.state.get(key)

    async def test_a_value_that_is_not_json_is_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.state.set("k", {"x": {1, 2}})
        assert info.value.field == "value"
        assert await backend.state.get("k") is None

    async def test_an_illegal_prefix_is_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await scanned(backend, "a b")


class TestStateStore(ReadWrite, CompareAndSet, Counters, TimeToLive, PrefixScan, BadStateInput):
    """Runs every StateStore behaviour on every tier."""
