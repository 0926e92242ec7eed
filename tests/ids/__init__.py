"""Tests for kruispunt.ids."""
