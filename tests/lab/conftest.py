"""Lab tests: the `lab` marker's tests need Linux, root and `ip netns`; they skip otherwise."""

from __future__ import annotations

import pytest

from tests.lab.labenv import lab_unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = None
    checked = False
    for item in items:
        if item.get_closest_marker("lab") is None:
            continue
        if not checked:
            reason, checked = lab_unavailable(), True
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
