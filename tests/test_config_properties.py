"""Property-based tests: any TOML-like input to a config parser gives a valid config or a ConfigError that
names a field — never another exception, never a silently wrong value."""

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from robust_snn.attack import AttackConfig
from robust_snn.config import ConfigError, build_dataclass
from robust_snn.core import NetworkConfig
from robust_snn.training import TrainConfig
from robust_snn.training.methods import METHODS

toml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=4),
                        st.dictionaries(st.text(max_size=5), toml_scalars, max_size=3))

CONFIGS = [NetworkConfig, TrainConfig, AttackConfig] + [cls.Config for cls in METHODS.values()]


def field_dicts(cls):
    names = [f.name for f in dataclasses.fields(cls)] + ["not_a_field"]
    return st.dictionaries(st.sampled_from(names), toml_values, max_size=4)


def refused_alone(cls, name, value):
    try:
        build_dataclass(cls, {name: value}, "cfg")
    except ConfigError:
        return True
    return False


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_parsers_accept_or_name_the_bad_field(data):
    cls = data.draw(st.sampled_from(CONFIGS))
    raw = data.draw(field_dicts(cls))
    try:
        config = build_dataclass(cls, raw, "cfg")
    except ConfigError as exc:
        message = str(exc)
        blamed = [name for name in raw if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message)]
        assert blamed, f"names none of the fields it was given {sorted(raw)}: {message}"
        # ... and the blame is right: a field it names is refused on its own, every other field at its default.
        assert any(refused_alone(cls, name, raw[name]) for name in blamed), f"{raw!r}: {message}"
        return
    for name, value in raw.items():
        parsed = getattr(config, name)
        if isinstance(parsed, tuple):
            assert list(parsed) == list(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert parsed == value or (parsed != parsed and value != value)
        else:
            assert parsed == value


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_network_time_constants_reject_every_non_positive_or_non_finite_value(value):
    try:
        cfg = NetworkConfig(tau_mem=value)
    except ConfigError as exc:
        assert "network.tau_mem" in str(exc)
    else:
        assert 0 < cfg.tau_mem < float("inf")
