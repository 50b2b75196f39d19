"""The free_low_cpu strategy: a longer poll interval while its play runs, restored afterwards."""

from __future__ import annotations

import pytest

from ansible import constants as C
from ansible.plugins.strategy.free import StrategyModule as FreeStrategyModule

from ansible_collections.ganeti.fleet.plugins.strategy.free_low_cpu import StrategyModule


@pytest.fixture(name="seen")
def record_the_interval_the_free_strategy_sees(monkeypatch):
    seen = []

    def fake_run(self, iterator, play_context):  # pylint: disable=unused-argument
        seen.append(C.DEFAULT_INTERNAL_POLL_INTERVAL)
        return "result of the free strategy"

    monkeypatch.setattr(FreeStrategyModule, "run", fake_run)
    return seen


def a_strategy():
    # The constructor needs a task queue manager; run() does not.
    return StrategyModule.__new__(StrategyModule)


def test_the_play_runs_with_a_20_ms_poll_and_the_setting_is_restored(seen, monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_INTERNAL_POLL_INTERVAL", 0.001)
    monkeypatch.delenv("GANETI_FLEET_STRATEGY_POLL_INTERVAL", raising=False)
    assert a_strategy().run(None, None) == "result of the free strategy"
    assert seen == [0.02]
    assert C.DEFAULT_INTERNAL_POLL_INTERVAL == 0.001


def test_a_longer_configured_interval_is_kept(seen, monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_INTERNAL_POLL_INTERVAL", 0.5)
    a_strategy().run(None, None)
    assert seen == [0.5]


@pytest.mark.parametrize("value, expected", [("0.1", 0.1), ("not a number", 0.02)])
def test_the_interval_comes_from_the_environment(seen, monkeypatch, value, expected):
    monkeypatch.setattr(C, "DEFAULT_INTERNAL_POLL_INTERVAL", 0.001)
    monkeypatch.setenv("GANETI_FLEET_STRATEGY_POLL_INTERVAL", value)
    a_strategy().run(None, None)
    assert seen == [expected]


def test_the_setting_is_restored_when_the_play_fails(monkeypatch):
    def failing_run(self, iterator, play_context):  # pylint: disable=unused-argument
        raise RuntimeError("worker died")

    monkeypatch.setattr(FreeStrategyModule, "run", failing_run)
    monkeypatch.setattr(C, "DEFAULT_INTERNAL_POLL_INTERVAL", 0.001)
    with pytest.raises(RuntimeError):
        a_strategy().run(None, None)
    assert C.DEFAULT_INTERNAL_POLL_INTERVAL == 0.001
