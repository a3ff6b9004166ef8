"""Lightbus 1.x module paths kept for code written against 1.x (``lightbus.utilities.testing``)."""
