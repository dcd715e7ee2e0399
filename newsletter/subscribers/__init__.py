"""Subscribers and their lists: subscribe, confirm, preferences, leave, suppression, import."""
