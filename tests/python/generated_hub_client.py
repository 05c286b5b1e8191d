"""Drives the client that chanx 2.13's `chanx generate-client` made from the `hub` example's
AsyncAPI document, against a running `hub`, the way a Python user of that client would.

Usage: python generated_hub_client.py GENERATED_DIR HUB_ADDR

GENERATED_DIR holds the generated package `hub`. One JSON line is printed per step, then
every frame the connection received, in order, as it arrived: {"frames": [...]}. Any
failure raises, so the script exits non-zero with a traceback on stderr.
"""

import asyncio
import json
import sys

sys.path.insert(0, sys.argv[1])

from hub.hub import HubClient, PingMessage  # noqa: E402
from hub.hub_room_topic import HubRoomTopicClient, SayMessage, ShoutMessage  # noqa: E402

WAIT = 10


class Room(HubRoomTopicClient):
    """A room handle that keeps what the server pushes to it."""

    def __init__(self, connection, **params):
        super().__init__(connection, **params)
        self.pushed: asyncio.Queue = asyncio.Queue()

    async def handle_message(self, message) -> None:
        await self.pushed.put(message)


class Hub(HubClient):
    """The connection: records every frame and keeps its own (un-addressed) messages."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.frames: list = []
        self.own: asyncio.Queue = asyncio.Queue()
        self.connected = asyncio.Event()

    async def send_init_message(self) -> None:
        self.connected.set()

    async def dispatch_frame(self, py_object) -> None:
        self.frames.append(py_object)
        await super().dispatch_frame(py_object)

    async def handle_message(self, message) -> None:
        await self.own.put(message)

    async def handle_websocket_connection_error(self, e: Exception) -> None:
        raise e


def emit(step: str, message) -> None:
    print(json.dumps({"step": step, "type": type(message).__name__, "message": message.model_dump(mode="json")}), flush=True)


async def scenario(hub: Hub) -> None:
    # The generated factory builds a typed handle from the pattern's parameters.
    generated = hub.room_topic(name="lobby")
    print(json.dumps({"step": "factory", "type": type(generated).__name__, "topic": generated.topic}), flush=True)
    room = hub.topic(Room, name="lobby")

    emit("subscribe", await room.subscribe())
    emit("say", await room.request(SayMessage(payload="hello")))
    for text in ["hey", "ho"]:
        await room.send_message(ShoutMessage(payload=text))
        emit("shouted", await asyncio.wait_for(room.pushed.get(), WAIT))

    await hub.send_message(PingMessage())
    emit("ping", await asyncio.wait_for(hub.own.get(), WAIT))

    emit("subscribe_private", await hub.topic(Room, name="private-plans").subscribe())
    emit("unsubscribe", await room.unsubscribe())
    emit("say_after_unsubscribe", await room.request(SayMessage(payload="anyone?")))


async def main() -> None:
    hub = Hub(sys.argv[2])
    connection = asyncio.create_task(hub.handle())
    connected = asyncio.create_task(hub.connected.wait())
    done, _ = await asyncio.wait([connection, connected], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    if connected not in done:
        connected.cancel()
        await connection  # raises the connection's error
        raise RuntimeError(f"could not connect to {hub.url}")
    try:
        await scenario(hub)
    finally:
        await hub.disconnect()
        await asyncio.wait_for(connection, WAIT)
    print(json.dumps({"frames": hub.frames}), flush=True)


asyncio.run(main())
