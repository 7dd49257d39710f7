"""Successive halving's promotion rule by the job's objectives (nas.results.promotion)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.results.promotion import front_ranks, hypervolume_contributions, promotable, promotion_order

UP_DOWN = [True, False]  # accuracy up, latency down


def test_ranks_peel_fronts_off_one_after_another():
    points = np.array([[0.9, 3.0], [0.8, 1.0], [0.85, 2.0], [0.8, 3.0], [0.7, 2.5], [0.6, 4.0]])
    # front: 0, 1, 2; then 3 (dominated by 0 and 1 only) and 4; then 5
    assert front_ranks(points, UP_DOWN).tolist() == [0, 0, 0, 1, 1, 2]
    assert front_ranks(np.zeros((0, 2)), UP_DOWN).tolist() == []


def test_a_fronts_ends_come_first_then_isolated_points_before_crowded_ones():
    # Five points on a front: the most accurate and the fastest are its ends; the second sits
    # right beside the first, the third alone.
    front = np.array([[0.90, 4.0], [0.89, 3.9], [0.80, 2.0], [0.70, 1.5], [0.60, 1.0]])
    added = hypervolume_contributions(front, UP_DOWN)
    assert np.isinf(added[[0, 4]]).all() and np.isfinite(added[1:4]).all()
    assert (added > 0).all() and added[1] < added[2]
    assert hypervolume_contributions(front[:1], UP_DOWN).tolist() == [np.inf]


def test_the_order_takes_fronts_first_then_what_each_point_adds():
    points = np.array([[0.6, 4.0], [0.90, 4.0], [0.89, 3.9], [0.80, 2.0], [0.60, 1.0], [0.7, 3.0]])
    order = promotion_order(points, UP_DOWN)
    assert order[:2] == [1, 4] and order[4:] == [5, 0]  # the front's ends, then its others, then the rest
    assert order[2:4] == [3, 2]  # the crowded one last of its front
    # The same values give the same order; equal points keep their row order.
    assert promotion_order(points, UP_DOWN) == order
    assert promotion_order(np.array([[0.5, 1.0], [0.5, 1.0]]), UP_DOWN) == [0, 1]


def test_one_objective_orders_by_its_value():
    accuracies = np.array([[0.7], [0.9], [0.8], [0.9]])
    assert promotion_order(accuracies, [True]) == [1, 3, 2, 0]


@pytest.mark.parametrize(("results", "eta", "promoted"), [(2, 3, 0), (3, 3, 1), (8, 3, 2), (9, 3, 3), (8, 2, 4)])
def test_a_rung_promotes_one_in_eta_of_what_it_has_seen(results, eta, promoted):
    rng = np.random.default_rng(0)
    points = rng.random((results, 2))
    chosen = promotable(points, UP_DOWN, eta)
    assert len(chosen) == promoted and chosen == promotion_order(points, UP_DOWN)[:promoted]


def test_eta_below_two_is_refused():
    with pytest.raises(ValueError, match="^eta: 1 must be >= 2"):
        promotable(np.zeros((4, 2)), UP_DOWN, 1)
