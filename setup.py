"""Package discovery only; all metadata lives in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "flows", "tasks"])
