"""kruispunt — an open-source crossroads bank for social security."""

__version__ = "0.1.0"
