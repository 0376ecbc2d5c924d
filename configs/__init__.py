"""Planner-editable YAML (pricing catalogs, usage scenarios, deploy configs), shipped as ocrkit.configs."""
