"""Rapport: the business-development desk of an IP law firm, living in Outlook and Teams."""

__version__ = "0.1.0"
