"""dalib.validate: the shared checks of the notebooks' validators name the parameter, the value and
the valid range, and accept exactly the valid values."""

import pytest

from dalib import validate
from dalib.data import get_spec


def test_count_accepts_ints_in_range_and_names_the_bound():
    assert validate.count({"n": 3}, "n") == 3
    assert validate.count({"k": 0}, "k", 0, 6, "n_images") == 0
    for bad in (0, -1, 1.0, True, "3", None):
        with pytest.raises(ValueError, match=r"n must be a positive int, got"):
            validate.count({"n": bad}, "n")
    with pytest.raises(ValueError, match=r"k must be an int in \[0, n_images=6\], got 7"):
        validate.count({"k": 7}, "k", 0, 6, "n_images")
    with pytest.raises(ValueError, match=r"k must be an int >= 0, got -1"):
        validate.count({"k": -1}, "k", 0)


def test_budgets_are_lists_of_positive_numbers_up_to_the_bound():
    assert validate.budgets({"eps": [0.25, 1, 255]}, "eps") == [0.25, 1, 255]
    assert validate.budgets({"eps": []}, "eps") == []
    assert validate.budgets({"eps": 2}, "eps", scalar=True) == [2]
    for bad in ([0], [-1], [256], [True], ["1"], 1, None):
        with pytest.raises(ValueError, match=r"eps must be a list of budgets in \(0, 255\] \(units of 1/255\)"):
            validate.budgets({"eps": bad}, "eps")
    with pytest.raises(ValueError, match="at least one budget"):
        validate.budgets({"eps": []}, "eps", nonempty=True)
    with pytest.raises(ValueError, match=r"\(0, 1024\] \(pixels\)"):
        validate.budgets({"w": [2000]}, "w", 1024, unit="pixels")


def test_number_choice_and_split_size():
    assert validate.number({"e": 8}, "e", 0, 255) == 8
    with pytest.raises(ValueError, match=r"e must be a number in \(0, 255\]"):
        validate.number({"e": 0}, "e", 0, 255)
    assert validate.choice({"a": "true"}, "a", ("clean_pred", "true")) == "true"
    with pytest.raises(ValueError, match="a must be one of 'clean_pred', 'true', got 'x'"):
        validate.choice({"a": "x"}, "a", ("clean_pred", "true"))
    spec = get_spec("cifar10")
    validate.within_split(spec, 10000, "n_eval")
    with pytest.raises(ValueError, match="n_eval=10001 exceeds the 10000 images of cifar10/test"):
        validate.within_split(spec, 10001, "n_eval")
