"""Placeholder: provider under construction."""
