"""A Python chanx 2.13 process sharing one Redis with a chanx-rs process.

It runs chanx's own `Topic` and consumer classes on Django Channels with the real
`channels_redis` layer (`RedisPubSubChannelLayer`), so what crosses Redis is exactly what
chanx sends and expects: the `handle_topic_event` message, addressed to the group
`RoomTopic.group_name(topic)`.

Usage: python chanx_topic_peer.py HOSTS_JSON PREFIX TOPIC

The script and the Rust test talk in JSON lines: it prints one line per step and reads
one line from stdin where it must wait for the Rust side.

1. A chanx consumer hosting `RoomTopic` subscribes to TOPIC through an in-process
   ASGI client, and a bare layer channel joins the topic's group to record the raw layer
   message. Prints {"ready": ..., "group": ..., "subscribed": <frame>}.
2. Waits for a line: by then chanx-rs has pushed `shouted` (seq 1) to TOPIC. Prints
   {"layer_message": <raw>, "frame": <what chanx sent its client>}.
3. Pushes `shouted` (seq 2) with `RoomTopic.broadcast`, prints {"pushed": ...} and
   {"frame": <what its own client got>}, unsubscribes, prints {"done": true}.
"""

import asyncio
import json
import sys
from typing import Literal

import django
from django.conf import settings

HOSTS, PREFIX, TOPIC = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "channels"],
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": HOSTS, "prefix": PREFIX},
        }
    },
    # The socket is not authenticated here: no `authentication` frame to skip.
    CHANX={"SEND_AUTHENTICATION_MESSAGE": False},
)
django.setup()

import structlog  # noqa: E402

# chanx logs with structlog, to stdout by default: stdout is for the JSON lines.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

from channels.layers import get_channel_layer  # noqa: E402
from asgiref.testing import ApplicationCommunicator  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from chanx.channels.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from chanx.core.decorators import event_handler, ws_handler  # noqa: E402
from chanx.core.topic import Topic  # noqa: E402
from chanx.messages.base import BaseMessage  # noqa: E402


class ShoutedPayload(BaseModel):
    text: str


class ShoutedEvent(BaseMessage):
    """The event both processes push to a room (the layer's `event_data`)."""

    action: Literal["shouted"] = "shouted"
    payload: ShoutedPayload


class ShoutedMessage(BaseMessage):
    """What a subscriber's client receives for it."""

    action: Literal["shouted"] = "shouted"
    payload: ShoutedPayload


class SayMessage(BaseMessage):
    action: Literal["say"] = "say"
    payload: str


class SaidMessage(BaseMessage):
    action: Literal["said"] = "said"
    payload: str


# The class name is the group's namespace: chanx-rs names its topic type the same.
class RoomTopic(Topic[ShoutedEvent]):
    pattern = "room:{name}"

    @ws_handler
    async def say(self, message: SayMessage) -> SaidMessage:
        return SaidMessage(payload=message.payload)

    @event_handler
    async def shouted(self, event: ShoutedEvent) -> ShoutedMessage:
        return ShoutedMessage(payload=event.payload)


class HubConsumer(AsyncJsonWebsocketConsumer):
    topics = [RoomTopic]


class Client:
    """A WebSocket client of an ASGI application, in process (what Channels' test
    communicator does, without its live-server extras)."""

    def __init__(self, application) -> None:
        scope = {"type": "websocket", "path": "/ws/hub/", "headers": [], "subprotocols": []}
        self.app = ApplicationCommunicator(application, scope)

    async def connect(self) -> None:
        await self.app.send_input({"type": "websocket.connect"})
        accepted = await self.app.receive_output(10)
        assert accepted["type"] == "websocket.accept", accepted

    async def send_json_to(self, frame: dict) -> None:
        await self.app.send_input({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive_json_from(self, timeout: float) -> dict:
        sent = await self.app.receive_output(timeout)
        assert sent["type"] == "websocket.send", sent
        return json.loads(sent["text"])

    async def disconnect(self) -> None:
        await self.app.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.app.wait(10)


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


async def read_line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


async def main() -> None:
    layer = get_channel_layer()
    group = RoomTopic.group_name(TOPIC)
    spy = await layer.new_channel()
    await layer.group_add(group, spy)

    client = Client(HubConsumer.as_asgi())
    await client.connect()
    await client.send_json_to({"version": 1, "topic": TOPIC, "ref": "1", "action": "subscribe"})
    subscribed = await client.receive_json_from(10)
    emit({"ready": True, "group": group, "subscribed": subscribed})

    await read_line()
    layer_message = await asyncio.wait_for(layer.receive(spy), 10)
    frame = await client.receive_json_from(10)
    emit({"layer_message": layer_message, "frame": frame})

    event = ShoutedEvent(payload=ShoutedPayload(text="hello from Python"))
    await RoomTopic.broadcast(TOPIC, event, seq=2)
    emit({"pushed": await asyncio.wait_for(layer.receive(spy), 10)})
    emit({"frame": await client.receive_json_from(10)})

    await client.send_json_to({"version": 1, "topic": TOPIC, "ref": "2", "action": "unsubscribe"})
    emit({"unsubscribed": await client.receive_json_from(10)})
    await client.disconnect()
    await layer.group_discard(group, spy)
    await layer.flush()
    emit({"done": True})


asyncio.run(main())
