"""The costing engine: usage scenarios and price catalogs (YAML data) in, monthly AWS-vs-GCP budgets out.

Pure: no cloud calls and no printing. `price()` is the entry point; see engine.py for the flow and
DESIGN.md for this layer's place.
"""

from ocrkit.costing.engine import price

__all__ = ["price"]
