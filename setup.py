"""Only here to list the packages: configs/ (at the repo root) ships as ocrkit.configs; see pyproject.toml.

Data folders (ocrkit/assets, ocrkit/server/static, configs/pricing, ...) are namespace packages, so that
setuptools ships their files as package data instead of warning that they are absent from `packages`.
"""

from setuptools import find_namespace_packages, setup

_SKIP = ["*__pycache__*"]
packages = find_namespace_packages(include=["ocrkit", "ocrkit.*"], exclude=["ocrkit.configs*", *_SKIP])
config_folders = find_namespace_packages("configs", exclude=_SKIP)
packages += ["ocrkit.configs"] + [f"ocrkit.configs.{p}" for p in config_folders]

setup(packages=packages)
