from __future__ import annotations

import inspect

import pytest

import memfun_core
from memfun_core import errors
from memfun_core._extras import import_extra


def test_every_error_has_one_root_and_a_side() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) == len(errors.__all__)
    for cls in classes:
        assert issubclass(cls, errors.MemfunError)
        if cls not in {
            errors.MemfunError,
            errors.UserError,
            errors.BackendError,
            errors.InternalError,
        }:
            sides = [
                issubclass(cls, side)
                for side in (errors.UserError, errors.BackendError, errors.InternalError)
            ]
            assert sides.count(True) == 1, cls


def test_messages_carry_fields_and_hints() -> None:
    err = errors.OperationTimeout("lease task", 2.5, backend="redis")
    assert str(err) == "redis: lease task timed out after 2.5 s"
    assert (err.operation, err.seconds, err.backend) == ("lease task", 2.5, "redis")

    nf = errors.NotFoundError("skill", "reveiw-code", suggestions=("review-code",))
    assert "no skill named 'reveiw-code'" in str(nf)
    assert "did you mean 'review-code'?" in str(nf)

    cfg = errors.ConfigError("unknown key", source="memfun.toml", key="runtime.x", hint="h")
    assert str(cfg) == "memfun.toml: runtime.x: unknown key\n  hint: h"

    internal = errors.InternalError("invariant broken")
    assert "report" in str(internal)


def test_import_extra_names_the_install_command() -> None:
    with pytest.raises(errors.MissingExtraError) as caught:
        import_extra(
            "memfun_no_such_module",
            package="memfun-runtime",
            extra="redis",
            feature="the Redis backend",
        )
    error = caught.value
    assert isinstance(error, errors.UserError)
    assert (error.package, error.extra, error.module) == (
        "memfun-runtime",
        "redis",
        "memfun_no_such_module",
    )
    assert 'pip install "memfun-runtime[redis]"' in str(error)
    assert isinstance(caught.value.__cause__, ImportError)


def test_import_extra_returns_the_module() -> None:
    assert import_extra("json", package="p", extra="e", feature="f").__name__ == "json"


def test_lazy_public_api() -> None:
    assert memfun_core.__version__ == "0.1.0"
    for name in memfun_core.__all__:
        assert getattr(memfun_core, name) is not None
    with pytest.raises(AttributeError):
        _ = memfun_core.nothing_here  # type: ignore[attr-defined]
