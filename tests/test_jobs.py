"""Independent jobs as Ray tasks: results in the order of the items, and a job's error raised as the job raised it."""

from __future__ import annotations

import os

import pytest

from hwnas.core.errors import HwnasError
from hwnas.core.jobs import JobOptions, map_jobs

pytest.importorskip("ray", reason="needs the distributed extra: pip install '.[distributed]'")
RAY = JobOptions(ray=True)


def scaled_with_pid(factors: dict[str, int], item: tuple[str, int]) -> tuple[int, int]:
    name, value = item
    if value < 0:
        raise HwnasError(f"job {name} got a negative value; give it a positive one")
    return factors[name] * value, os.getpid()


def test_jobs_return_in_order_from_other_processes_and_equal_the_in_process_results():
    factors = {"a": 2, "b": 3, "c": 5}
    items = [("c", 7), ("a", 1), ("b", 4), ("a", 9)]
    on_ray = map_jobs(scaled_with_pid, items, RAY, shared=[factors])
    here = map_jobs(scaled_with_pid, items, JobOptions(), shared=[factors])
    assert [v for v, _ in on_ray] == [v for v, _ in here] == [35, 2, 12, 18]
    assert {pid for _, pid in here} == {os.getpid()} and os.getpid() not in {pid for _, pid in on_ray}


def test_a_failing_job_raises_its_own_one_line_error():
    with pytest.raises(HwnasError, match="job b got a negative value; give it a positive one"):
        map_jobs(scaled_with_pid, [("a", 1), ("b", -1)], RAY, shared=[{"a": 2, "b": 3}])


def test_ray_options_without_ray_are_refused():
    with pytest.raises(HwnasError, match="add --ray"):
        JobOptions(address="auto").check()
