"""The benchmarks' reading of the machine's disk stalls (Linux pressure stall information)."""

from __future__ import annotations

from bench.infra import io_stalled_seconds, parse_full_stall

IO_PRESSURE = """some avg10=0.00 avg60=0.80 avg300=3.02 total=105275891
full avg10=0.00 avg60=0.46 avg300=2.10 total=79169247
"""


def test_the_full_stall_total_is_read_in_seconds():
    assert parse_full_stall(IO_PRESSURE) == 79.169247


def test_a_kernel_without_the_full_line_gives_none():
    assert parse_full_stall("some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n") is None


def test_a_machine_without_pressure_information_gives_none(tmp_path):
    assert io_stalled_seconds(tmp_path / "no-such-file") is None
    readable = tmp_path / "io"
    readable.write_text(IO_PRESSURE)
    assert io_stalled_seconds(readable) == 79.169247
