"""The bench's verdicts: a floor ratio below 1 is a mismeasured floor, never a target met."""

from sltsim.bench_report import target_lines


def _row(**fields):
    base = {"name": "mlp 256-1024-1024-10", "numpy_ms": 9.0, "floor_ms": 7.0, "floor_t_ms": 3.5, "threads": 2,
            "thread_scaling": 1.6, "torch_ms": 30.0, "torch_t_ms": 25.0}
    return {**base, **fields}


def _line(rows, field):
    (line,) = [l for l in target_lines(rows) if f": {field} " in l]
    return line


def test_a_step_faster_than_its_floor_is_reported_as_not_measured():
    line = _line([_row(floor_x_t=0.70)], "floor_x_t")
    assert "not measured" in line and "other work had the cores" in line
    assert not line.endswith(": met") and "NOT met" not in line


def test_floor_ratios_above_one_are_judged_against_the_target():
    assert _line([_row(floor_x_t=1.10)], "floor_x_t").endswith(": met")
    assert "NOT met" in _line([_row(floor_x_t=1.60)], "floor_x_t")
