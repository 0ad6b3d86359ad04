"""``--plot``: each alarm's metric over time, its threshold, and the ALARM periods shaded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vpcwatch.replay.engine import ReplayResult, alarm_intervals
from vpcwatch.replay.metrics import Datapoints
from vpcwatch.replay.template import ReplayPlan


def plot(result: ReplayResult, plan: ReplayPlan, path: str | Path) -> Path:
    """Write a PNG with one panel per alarm. Needs matplotlib (``vpcwatch[plot]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alarms = list(plan.alarms)
    figure, axes = plt.subplots(
        len(alarms), 1, figsize=(11, 1.9 * len(alarms) + 0.6), sharex=True, squeeze=False
    )
    for axis, alarm in zip(axes[:, 0], alarms, strict=True):
        points = result.datapoints.get(alarm.name, Datapoints([], []))
        times = [_time(t) for t in points.starts.tolist()]
        axis.step(times, points.value_array, where="post", linewidth=1.2)
        axis.axhline(alarm.settings.threshold, color="tab:red", linestyle="--", linewidth=1)
        transitions = [t for t in result.transitions if t.alarm == alarm.name]
        last = result.last_evaluation.get(alarm.name, 0)
        for begin, end in alarm_intervals(transitions, last):
            axis.axvspan(_time(begin), _time(max(end, begin + 60)), color="tab:red",
                         alpha=0.2, linewidth=0)  # fmt: skip
        axis.set_ylabel(alarm.name, rotation=0, ha="right", va="center", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0, 0].set_title("vpcwatch replay: metric per period, threshold (dashed), ALARM (shaded)")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
