"""Latest-timestamp-wins property resolution, as a pure function."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from app.ingest.properties import PropertyChange, current_values, history

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_latest_timestamp_wins_not_latest_received():
    changes = [PropertyChange("Plan", "pro", T0 + timedelta(hours=1), 1), PropertyChange("Plan", "free", T0, 2)]
    assert current_values(changes) == {"Plan": "pro"}


def test_equal_timestamps_the_later_received_wins():
    changes = [PropertyChange("Plan", "a", T0, 5), PropertyChange("Plan", "b", T0, 7)]
    assert current_values(changes) == {"Plan": "b"}


def test_history_is_oldest_first():
    changes = [PropertyChange("k", 2, T0 + timedelta(1), 1), PropertyChange("k", 1, T0, 2), PropertyChange("j", 0, T0, 3)]
    assert [c.value for c in history(changes, "k")] == [1, 2]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(), st.integers(0, 5)), max_size=30))
def test_order_of_arrival_in_the_list_does_not_matter(raw):
    changes = [PropertyChange(k, v, T0 + timedelta(seconds=t), seq) for seq, (k, v, t) in enumerate(raw)]
    assert current_values(changes) == current_values(list(reversed(changes)))
    for key, value in current_values(changes).items():
        latest = max((c for c in changes if c.key == key), key=lambda c: (c.at, c.seq))
        assert latest.value == value
