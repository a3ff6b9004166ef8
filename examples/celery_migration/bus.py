"""The worked example of docs/how-to/migrate-from-celery.md: a Celery app's tasks, beat
schedule and result backend, moved to Lightbus.

The worker: `lightbus run --bus bus` in this folder (tests/test_migrate_from_celery.py
runs it, and the web side in web.py).
"""

# --8<-- [start:api]
import lightbus
from lightbus import Api, Event, Parameter


class ImagesApi(Api):
    # A task becomes an event: its arguments are the event's parameters.
    uploaded = Event(parameters=("image_id", Parameter("width", int, default=800)))

    class Meta:
        name = "images"

    # A task whose result the caller waited for (.get()) becomes an RPC.
    def thumbnail_url(self, image_id: str) -> str:
        return f"https://cdn.example.com/{image_id}/thumb.jpg"


bus = lightbus.create(service_name="images")
bus.client.register_api(ImagesApi())
# --8<-- [end:api]


class StorageBusy(Exception):
    """The image store asked us to come back later (Celery: autoretry_for)."""


# --8<-- [start:listener]
def resize_image(event, image_id, width):
    if image_id.startswith("busy") and event.attempt == 1:
        raise StorageBusy(image_id)  # retried with backoff, as any exception is
    print(f"resized {image_id} to {width}px (attempt {event.attempt})", flush=True)


@bus.client.on_start()
def start_listening(**_):
    bus.images.uploaded.listen(
        resize_image,
        listener_name="resize_image",  # the task's name: its workers share the events
        max_attempts=4,  # Celery: max_retries=3, plus the first try
        concurrency=4,  # Celery: --concurrency=4 (per process)
    )
    # --8<-- [end:listener]


# --8<-- [start:beat]
@bus.client.schedule("0 3 * * *")  # beat: crontab(hour=3, minute=0), UTC
def nightly_cleanup():
    print("cleaned up", flush=True)


@bus.client.every(minutes=10)  # beat: schedule=600.0
def refresh_index():
    print("index refreshed", flush=True)
    # --8<-- [end:beat]
