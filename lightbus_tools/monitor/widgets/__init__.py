"""The monitor's own widgets: the record list (the live feed's table) and the status bar."""
