"""The NAS service: command line now; jobs, store, Ray evaluation, Pareto queries and export to come."""
