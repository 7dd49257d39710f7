"""Running a job: the coordinator loop, the Ray evaluator pool, heartbeats, strategies."""
