"""The quick start: one API with an RPC and an event.

Run a worker in this folder with `lightbus run`, then at a Python prompt:

    >>> import lightbus
    >>> bus = lightbus.create()
    >>> bus.example.hello_world()
    'Hello world'
    >>> bus.example.my_event.listen(callback)
    >>> bus.example.my_event.fire()
"""

# --8<-- [start:bus]
import lightbus
from lightbus import Api, Event


class AuthApi(Api):
    my_event = Event()

    class Meta:
        name = "example"

    def hello_world(self):
        return "Hello world"


bus = lightbus.create()
bus.client.register_api(AuthApi())
# --8<-- [end:bus]
