"""The library's version, on the ground floor so that results files can record it without importing the package top."""

__version__ = "0.1.0"
