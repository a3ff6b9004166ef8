"""The sign-up service's own code (what a web view would call), using the bus."""

# --8<-- [start:signup]
import datetime

from bus import bus


def register(username, email):
    bus.auth.user_registered.fire(
        username=username, email=email, at=datetime.datetime.now(datetime.UTC)
    )


def log_in(username, password):
    if not bus.auth.check_password(username=username, password=password):
        return "wrong password"
    return f"welcome back, {username}"


# --8<-- [end:signup]
