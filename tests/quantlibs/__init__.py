"""Model builders for the AQT v2 and Qwix tests."""
