"""Analyses behind the figures and tables of the docs, run as modules from the repository root."""
