"""Measured business development: the metrics (defined once, docs/metrics.md), the weekly roll-ups a
timer writes, and the Monday cards and report read from them.

- `definitions`: each metric as a pure function over records (a History) and a week;
- `rollup`: WeekStats per partner and week, written by the daily `metrics_rollup` timer;
- `report`: the table behind the reports, the managing partner's report, CSV;
- `week`: the partner's week and the firm's report as Monday cards (`week_cards` timer);
- `desk`: "My BD desk" (the report page and the task pane with nothing selected).
"""
