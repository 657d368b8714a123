"""The baseline of `kudos points` (issue 20): what a short pandas script does with the same export.

It reads the canonical CSV, keeps the rows of the window (`as_of - window_days` exclusive to
`as_of` inclusive, as a lot's expiry counts them), sums one rule (`sales`, one point per unit,
rounded) per agent, and writes one line per agent. `kudos points` does more with the same file
(six rules, conditions, bands, a penalty, lots and expiry, the within-file duplicate rule).

Set up once, outside CI (the benchmark's own instructions; nothing installs it for you):

    python3 -m venv benches/.venv
    benches/.venv/bin/pip install pandas

Run by `cargo run --release -p kudos-benches --bin points_vs_pandas`, or alone:

    benches/.venv/bin/python benches/pandas/points.py FILE.csv AS_OF WINDOW_DAYS
"""

import sys

import pandas as pd


def main() -> None:
    path, as_of, window = sys.argv[1], pd.Timestamp(sys.argv[2]), int(sys.argv[3])
    df = pd.read_csv(
        path,
        dtype={"agent_id": "string", "metric": "category", "value": "float64"},
        parse_dates=["date"],
    )
    df = df[
        (df["date"] > as_of - pd.Timedelta(days=window))
        & (df["date"] <= as_of)
        & (df["metric"] == "sales")
    ]
    points = df["value"].round().groupby(df["agent_id"]).sum().astype("int64")
    points.to_csv(sys.stdout, header=["balance"])


if __name__ == "__main__":
    main()
