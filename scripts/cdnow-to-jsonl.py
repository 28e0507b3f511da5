#!/usr/bin/env python3
"""Converts the CDNOW 1/10 sample (CDNOW_sample.txt) into this project's input: JSONL CRM events.

Usage: scripts/cdnow-to-jsonl.py CDNOW_sample.txt > tests/fixtures/cdnow/cdnow_sample.jsonl

Each line of the sample is one order: the customer's id in the master file, its id in the
sample (1..2357), the date (YYYYMMDD), the number of CDs and the dollar value. Each becomes one
`purchase` event (SPEC 1):

- `customer_id` "cdnow-NNNN" from the sample id; `event_id` "cdnow-LLLLL" from the line number
  (1-based), so ids are distinct and stable;
- `occurred_at` at noon UTC of the order's date. The data has dates only. Noon keeps the date
  the same read in any offset from -12:00 to +12:00, and with `--until` at noon of the last
  calibration day (1997-09-30T12:00:00Z) every time difference is a whole number of days, as in
  the papers (T = days from the first purchase to 1997-09-30, divided by 7);
- `data`: `amount` the dollar value, written as the file writes it (two decimals; eight orders
  are $0.00), `currency` "USD".

Events are written in date order (an in-order stream, as a CRM would send them), orders of one
date in the order of the file. The output depends only on the input file (no clock, no
randomness).
"""

import sys


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    orders = []
    with open(sys.argv[1], encoding="ascii") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5:
                sys.exit(f"line {line_number}: expected 5 fields, found {len(fields)}")
            _master_id, sample_id, date, _cds, dollars = fields
            if len(date) != 8 or not date.isdigit():
                sys.exit(f"line {line_number}: `{date}` is not a date YYYYMMDD")
            float(dollars)  # a number, or fail loudly
            orders.append((date, line_number, int(sample_id), dollars))
    # Stable: orders of one date keep the file's order (line numbers rise within a date).
    orders.sort(key=lambda o: (o[0], o[1]))
    out = sys.stdout
    for date, line_number, sample_id, dollars in orders:
        day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        out.write(
            f'{{"event_id":"cdnow-{line_number:05}","customer_id":"cdnow-{sample_id:04}",'
            f'"type":"purchase","occurred_at":"{day}T12:00:00Z",'
            f'"data":{{"amount":{dollars},"currency":"USD"}}}}\n'
        )


if __name__ == "__main__":
    main()
