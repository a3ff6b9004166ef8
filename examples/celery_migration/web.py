"""The web app's side of the migration example: what called the Celery tasks."""

import sys

import lightbus

bus = lightbus.create(service_name="web")


# --8<-- [start:web]
def image_uploaded(image_id: str) -> str:
    # resize_image.delay(image_id)
    bus.images.uploaded.fire(image_id=image_id)
    # resize_image.apply_async((image_id, 200), countdown=2)
    bus.images.uploaded.fire(image_id=image_id, width=200, delay=2)
    # thumbnail_url.delay(image_id).get(timeout=5)
    return bus.images.thumbnail_url(image_id=image_id, bus_options={"timeout": 5})
    # --8<-- [end:web]


if __name__ == "__main__":
    print(image_uploaded(sys.argv[1]))
