"""What a job found: Pareto fronts and plots."""
