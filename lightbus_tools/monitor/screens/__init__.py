"""One module per screen of the monitor; ``base`` holds what they share."""
