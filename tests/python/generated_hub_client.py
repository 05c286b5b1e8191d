"""Drives the client that chanx 2.13's `chanx generate-client` made from the `hub` example's
AsyncAPI document, against a running `hub`, the way a Python user of that client would.

Usage: python generated_hub_client.py GENERATED_DIR HUB_ADDR

GENERATED_DIR holds the generated package `hub`. Two connections: the generated `HubClient`
on /ws/hub/, and one on the room's own route /ws/rooms/lobby/ carrying the generated
`RoomTopicClient` handle. One JSON line is printed per step, then every frame each connection
received, in order: {"frames": [...], "standalone_frames": [...]}. Any failure raises, so the
script exits non-zero with a traceback on stderr.
"""

import asyncio
import json
import sys

sys.path.insert(0, sys.argv[1])

from hub.base.topic_client import BaseTopicConnection  # noqa: E402
from hub.hub import HubClient, Ping  # noqa: E402
from hub.hub_room_topic import HubRoomTopicClient  # noqa: E402
from hub.room_topic import IncomingMessage as RoomMessage  # noqa: E402
from hub.room_topic import RoomTopicClient  # noqa: E402
from hub.shared.messages import Say, Shout  # noqa: E402

WAIT = 10


class Pushes:
    """Keeps what the server pushes to a room handle: presence messages (typed from the
    document's `RoomTopicPresence*` schemas) apart from the room's own pushes."""

    def __init__(self, connection, **params):
        super().__init__(connection, **params)
        self.pushed: asyncio.Queue = asyncio.Queue()
        self.presence: asyncio.Queue = asyncio.Queue()

    async def handle_message(self, message) -> None:
        queue = self.presence if message.action.startswith("presence") else self.pushed
        await queue.put(message)


class Room(Pushes, HubRoomTopicClient):
    """A room handle on the hub."""


class Recording:
    """A connection that records every frame and keeps its own (un-addressed) messages."""

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

    async def handle_invalid_message(self, invalid_message) -> None:
        """Protocol frames the handle does not type (`subscribed` pushed on connect)."""

    async def handle_websocket_connection_error(self, e: Exception) -> None:
        raise e


class Hub(Recording, HubClient):
    """The generated connection to /ws/hub/."""


class RoomRoute(Recording, BaseTopicConnection):
    """The room's own route, /ws/rooms/{name}/: chanx generates a handle for it (RoomTopicClient)
    but no connection, so this is the connection, as a user would write it."""

    path = "/ws/rooms/{name}/"
    incoming_message = RoomMessage


class StandaloneRoom(Pushes, RoomTopicClient):
    """The generated handle of the room's own route."""


def emit(step: str, message) -> None:
    print(json.dumps({"step": step, "type": type(message).__name__, "message": message.model_dump(mode="json")}), flush=True)


async def scenario(hub: Hub, route: RoomRoute) -> None:
    # The generated factory builds a typed handle from the pattern's parameters.
    generated = hub.room_topic(name="lobby")
    print(json.dumps({"step": "factory", "type": type(generated).__name__, "topic": generated.topic}), flush=True)
    room = hub.topic(Room, name="lobby")
    # The room's own route subscribed on connect; its handle needs no subscribe.
    alone = route.topic(StandaloneRoom, name="lobby")

    emit("subscribe", await room.subscribe())
    emit("presence_state", await asyncio.wait_for(room.presence.get(), WAIT))
    emit("say", await room.request(Say(payload="hello")))
    emit("say_standalone", await alone.request(Say(payload="hello alone")))
    for text in ["hey", "ho"]:
        await room.send_message(Shout(payload=text))
        emit("shouted", await asyncio.wait_for(room.pushed.get(), WAIT))
        emit("shouted_standalone", await asyncio.wait_for(alone.pushed.get(), WAIT))

    await hub.send_message(Ping())
    emit("ping", await asyncio.wait_for(hub.own.get(), WAIT))

    emit("subscribe_private", await hub.topic(Room, name="private-plans").subscribe())
    emit("unsubscribe", await room.unsubscribe())
    emit("say_after_unsubscribe", await room.request(Say(payload="anyone?")))


async def connect(client: Recording) -> asyncio.Task:
    """Starts `client`'s connection; returns its task once connected."""
    connection = asyncio.create_task(client.handle())
    connected = asyncio.create_task(client.connected.wait())
    done, _ = await asyncio.wait([connection, connected], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    if connected not in done:
        connected.cancel()
        await connection  # raises the connection's error
        raise RuntimeError(f"could not connect to {client.url}")
    return connection


async def main() -> None:
    hub = Hub(sys.argv[2])
    route = RoomRoute(sys.argv[2], path_params={"name": "lobby"})
    connections = [await connect(hub), await connect(route)]
    try:
        await scenario(hub, route)
    finally:
        for client in (hub, route):
            await client.disconnect()
        for connection in connections:
            await asyncio.wait_for(connection, WAIT)
    print(json.dumps({"frames": hub.frames, "standalone_frames": route.frames}), flush=True)


asyncio.run(main())
