"""Only here to add configs/ (at the repo root) to the package list as ocrkit.configs; see pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["ocrkit", "ocrkit.*"]), "ocrkit.configs"])
