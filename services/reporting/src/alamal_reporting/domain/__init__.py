"""Reporting's pure domain: facts and their merge, the read model, tables and suppression."""
