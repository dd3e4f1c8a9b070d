"""Generate the sample tables in samples/tables/ (deterministic: fixed seeds).

- winequality-sample.csv: shaped like the UCI wine-quality table (semicolon-separated, quoted
  header, 11 physico-chemical columns and an integer quality 3..8). Synthetic values drawn
  around the published column ranges; NOT the UCI data.
- bike-hourly.csv: 14 days x 24 hours shaped like the UCI bike-sharing hour.csv (a timestamp,
  calendar columns, weather situation 1..4, normalized temperature/humidity/wind, a count).

Run: python samples/make_tables.py
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "tables"

WINE = [  # name, mean, std, decimals (roughly the red-wine table's)
    ("fixed acidity", 8.3, 1.7, 1), ("volatile acidity", 0.53, 0.18, 3), ("citric acid", 0.27, 0.19, 2),
    ("residual sugar", 2.5, 1.4, 1), ("chlorides", 0.087, 0.047, 3), ("free sulfur dioxide", 15.9, 10.5, 0),
    ("total sulfur dioxide", 46.5, 32.9, 0), ("density", 0.9967, 0.0019, 4), ("pH", 3.31, 0.15, 2),
    ("sulphates", 0.66, 0.17, 2), ("alcohol", 10.4, 1.07, 1),
]


def wine(rows: int = 300) -> None:
    rng = np.random.default_rng(1813)
    cols = [np.round(np.abs(rng.normal(m, s, rows)), d) for _, m, s, d in WINE]
    score = (cols[10] - 10.4) / 1.07 - (cols[1] - 0.53) / 0.18 * 0.6 + rng.normal(0, 0.9, rows)
    quality = np.clip(np.round(5.6 + score * 0.8), 3, 8).astype(int)
    with open(HERE / "winequality-sample.csv", "w", newline="") as fh:
        out = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_NONE, escapechar="\\")
        fh.write(";".join(f'"{name}"' for name, *_ in WINE) + ';"quality"\n')
        for i in range(rows):
            out.writerow([f"{c[i]:g}" for c in cols] + [quality[i]])


def bike(days: int = 14) -> None:
    rng = np.random.default_rng(2011)
    start = datetime(2011, 1, 1)
    with open(HERE / "bike-hourly.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "season", "holiday", "weekday", "workingday", "weathersit",
                      "temp", "atemp", "hum", "windspeed", "cnt"])
        weather = 1
        for h in range(days * 24):
            t = start + timedelta(hours=h)
            if rng.random() < 0.15:
                weather = int(rng.choice([1, 2, 3, 4], p=[0.6, 0.28, 0.11, 0.01]))
            temp = 0.25 + 0.08 * np.sin((t.hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.02)
            rush = 1 + 2.5 * np.exp(-((t.hour - 8) ** 2) / 3) + 3 * np.exp(-((t.hour - 17.5) ** 2) / 4)
            cnt = max(0, int(rng.poisson(15 * rush * (1.2 - 0.25 * weather) + 1)))
            out.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), 1, 0, (t.weekday() + 1) % 7, int(t.weekday() < 5),
                          weather, f"{temp:.4f}", f"{temp * 1.05:.4f}", f"{rng.uniform(0.4, 0.9):.4f}",
                          f"{rng.uniform(0, 0.4):.4f}", cnt])


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    wine()
    bike()
