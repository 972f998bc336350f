"""Unit tests of the benchmarks' load records: no servers, no timing."""

from __future__ import annotations

from collections import Counter

from bench.loadgen import Load, parse_wrk

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/webhook/telegram
  1 threads and 16 connections
  Latency Distribution
     50%    3.02ms
     90%    3.40ms
     99%    4.61ms
  10420 requests in 2.00s, 1.59MB read
Requests/sec:   5210.00
"""


def test_runs_of_one_load_combine_into_their_total_rate():
    slow = Load("wrk", 1000, 2.0, Counter({200: 999, 502: 1}), {"p50": 4.0, "p99": 9.0})
    fast = Load("wrk", 3000, 2.0, Counter({200: 3000}), {"p50": 2.0, "p99": 5.0})
    steady = Load("wrk", 2000, 2.0, Counter({200: 2000}), {"p50": 3.0, "p99": 6.0})

    combined = Load.combined([slow, fast, steady])

    assert (combined.requests, combined.seconds) == (6000, 6.0)
    assert combined.rate == 1000.0  # not the mean of the rates' ratios: requests over time
    assert combined.statuses == Counter({200: 5999, 502: 1})
    assert combined.latency_ms == {"p50": 3.0, "p99": 6.0}  # each the median of the runs'


def test_a_percentile_missing_from_one_run_is_left_out():
    with_p99 = Load("python", 10, 1.0, Counter({200: 10}), {"p50": 1.0, "p99": 2.0})
    without = Load("python", 10, 1.0, Counter({200: 10}), {"p50": 3.0})

    assert Load.combined([with_p99, without]).latency_ms == {"p50": 2.0}


def test_wrk_output_is_read():
    load = parse_wrk(WRK_OUTPUT)
    assert (load.requests, load.seconds) == (10420, 2.0)
