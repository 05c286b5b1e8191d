#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target to fuzz/seeds/<target>/ (not committed: some seeds
are a megabyte). Each target gets a few ordinary inputs and the long adversarial ones a peer could
send: runs of separators, deep nesting, many cookies, tokens of many dots, length prefixes that
promise gigabytes. Run it again after changing it; `cargo fuzz run T fuzz/corpus/T fuzz/seeds/T`
reads them (see docs/testing.md, "Fuzzing")."""

import base64
import hashlib
import hmac
import json
import shutil
import struct
from pathlib import Path

MIB = 1 << 20
ROOT = Path(__file__).resolve().parent / "seeds"
# The key of the jwt target (fuzz_targets/jwt.rs).
JWT_KEY = b"chanx-fuzz-key-0123456789abcdef!"


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) <= MIB, f"{target}/{name} is over the 1 MiB -max_len"
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def fill(unit, size=MIB, prefix="", suffix=""):
    """`unit` repeated so that prefix + units + suffix is at most `size` bytes."""
    room = size - len(prefix.encode()) - len(suffix.encode())
    return prefix + unit * (room // len(unit.encode())) + suffix


def camelize():
    for name, key in {
        "snake": "user_name",
        "acronym": "getHTTPResponseCode",
        "id": "userID",
        "dunder": "__dunder__",
        "digits": "user_id_2",
        "unicode": "straße_ǅemal_İi",
        "spaces": " user name\t_x ",
        "underscores-200k": "_" * 200_000,
        "underscores-1mib": "_" * MIB,
        "dashes-1mib": "-" * MIB,
        "underscore-capital-100k": "_A" * 100_000,
        "underscore-capital-1mib": fill("_A"),
        "separators-then-lower-1mib": fill("_-", MIB - 1) + "a",
        "capitals-1mib": "A" * (MIB - 1) + "a",
        "capital-digit-1mib": fill("A1"),
        "camel-1mib": fill("aB"),
        "snake-1mib": fill("ab_"),
        "lower-underscores-1mib": fill("a__"),
        "spaces-1mib": " " * (MIB - 1) + "a",
        "numeric-1mib": "1" * MIB,
        "brackets-1mib": "[" * MIB,
    }.items():
        write("camelize", name, key)
    write("camelize", "document", json.dumps({"user_name": {"is_new": [1, {"a_b": None, "HTTPCode": 2}]}}))
    write("camelize", "document-long-key", json.dumps({"_" * 200_000: 1, "x_y": ["_A" * 1000]}))
    write("camelize", "document-many-keys", fill('"k_%d":0,' % 0, MIB - 64, "{", '"end":0}'))
    write("camelize", "document-deep", "[" * 127 + '{"a_b":1}' + "]" * 127)


def frame():
    post = {"title": "t", "body_text": "b", "reply_to": None, "tags": ["a"], "kind": "question",
            "author": {"user_name": "ada", "user_id": 1}}
    camel_post = {"title": "t", "bodyText": "b", "replyTo": 3, "tags": [], "kind": "answer",
                  "author": {"userName": "ada", "userId": 1}}
    seeds = {
        "ping": {"action": "ping", "ref": "7", "version": 1, "seq": 3},
        "post": {"action": "new_post", "payload": post},
        "post-camel": {"action": "new_post", "payload": camel_post},
        "post-wrong-types": {"action": "new_post", "payload": {"title": 1, "tags": [None], "kind": "x",
                                                               "author": {"user_id": "x"}}},
        "post-missing": {"action": "new_post", "payload": {}},
        "fail": {"action": "fail", "payload": "x"},
        "unknown-action": {"action": "nope"},
        "no-action": {"payload": 1},
        "action-not-string": {"action": [1]},
        "bad-envelope": {"action": "ping", "version": "x", "ref": 1, "seq": 1.5, "topic": {}},
        "echo": {"action": "echo", "payload": {"user_name": [{"is_new": True}], "HTTPCode": "a_b"}},
        "echo-long-key": {"action": "echo", "payload": {"_" * 200_000: 1}},
        "echo-underscore-capital": {"action": "echo", "payload": {"_A" * 100_000: 1}},
        "post-many-tags": {"action": "new_post", "payload": dict(post, tags=["a"] * 100_000 + [1])},
    }
    texts = {name: json.dumps(value) for name, value in seeds.items()}
    texts.update({
        "not-json": "not json",
        "array": "[1, 2]",
        "brackets-1mib": "[" * (MIB - 1),
        "braces-1mib": fill('{"a":', MIB - 1),
        "deep-echo": '{"action":"echo","payload":' + "[" * 126 + "]" * 126 + "}",
        "long-action-1mib": fill("a", MIB - 1, '{"action":"', '"}'),
        "long-separator-key-1mib": fill("_", MIB - 1, '{"action":"echo","payload":{"', '":1}}'),
        "many-keys": fill('"k_k":0,', MIB - 1, '{"action":"echo","payload":{', '"end":0}}'),
        "escapes": fill("\\u0000", MIB - 1, '{"action":"echo","payload":"', '"}'),
        "long-number": fill("9", MIB - 1, '{"action":"ping","seq":', "}"),
    })
    for name, text in texts.items():
        # The first byte chooses the consumer: even, one that does not camelize; odd, one that does.
        for selector in "01":
            data = (selector + text).encode()
            write("frame", f"{name}-{selector}", data[:MIB])


def msgpack(value):
    """A small msgpack encoder (what channels_redis's msgpack.packb writes for these types)."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        return b"\xdb" + struct.pack(">I", len(data)) + data
    if isinstance(value, list):
        return b"\xdd" + struct.pack(">I", len(value)) + b"".join(msgpack(v) for v in value)
    if isinstance(value, dict):
        return b"\xdf" + struct.pack(">I", len(value)) + b"".join(msgpack(k) + msgpack(v) for k, v in value.items())
    raise TypeError(value)


def redis_message():
    event = {"type": "handle_channel_event", "event_data": {"action": "ping", "payload": None}}
    group = {"type": "handle_group_message", "message": {"action": "new_message", "payload": {"user_name": "ada"}},
             "exclude_current": False, "from_channel": "asgispecific.0123"}
    header = b"\x82\xa4type\xb4handle_channel_event\xaaevent_data"
    for name, data in {
        "event": msgpack(event),
        "group": msgpack(group),
        "group-excluded": msgpack(dict(group, exclude_current=True, from_channel=None)),
        "unknown-type": msgpack({"type": "x"}),
        "event-long-key": msgpack({"type": "handle_channel_event", "event_data": {"_" * 200_000: 1}}),
        "event-wide": msgpack({"type": "handle_channel_event", "event_data": list(range(50_000))}),
        # Nesting a megabyte deep: a one-element array in a one-element array...
        "deep-arrays": header + b"\x91" * (MIB - len(header)),
        "deep-maps": header + b"\x81\xa1a" * ((MIB - len(header)) // 3),
        # Length prefixes that promise far more than the message holds.
        "array-4g": header + b"\xdd\xff\xff\xff\xff",
        "map-4g": header + b"\xdf\xff\xff\xff\xff",
        "string-4g": header + b"\xdb\xff\xff\xff\xff" + b"a" * 16,
        "binary-4g": header + b"\xc6\xff\xff\xff\xff",
        "ext": header + b"\xd4\x01\x00",
        "many-small": header + b"\xdd" + struct.pack(">I", MIB) + b"\x00" * (MIB - len(header) - 5),
    }.items():
        write("redis_message", name, data)


def redis_core_message():
    """Messages as channels_redis's RedisChannelLayer stores them, after the random prefix."""
    event = {"type": "handle_channel_event", "event_data": {"action": "ping", "payload": None}}
    group = {"type": "handle_group_message", "message": {"action": "said", "payload": "hi"},
             "exclude_current": False, "from_channel": None}
    direct = dict(event, __asgi_channel__="specific.0123!4567")
    header = b"\x83\xa4type\xb4handle_channel_event\xb0__asgi_channel__\x91\xa3a!b\xaaevent_data"
    for name, data in {
        "direct": msgpack(direct),
        "group": msgpack(dict(group, __asgi_channel__=["specific.0123!1", "specific.0123!2"])),
        "no-recipient": msgpack(event),
        "recipient-not-a-string": msgpack(dict(event, __asgi_channel__=[1, "a!b"])),
        # A megabyte of recipients: one lookup each.
        "many-recipients": msgpack(dict(event, __asgi_channel__=["specific.0123!%d" % i for i in range(40_000)])),
        "deep-arrays": header + b"\x91" * (MIB - len(header)),
        "array-4g": header + b"\xdd\xff\xff\xff\xff",
        "recipients-4g": b"\x81\xb0__asgi_channel__\xdd\xff\xff\xff\xff",
    }.items():
        write("redis_core_message", name, data)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header, payload):
    signed = f"{b64(header)}.{b64(payload)}"
    mac = hmac.new(JWT_KEY, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(mac)}"


def jwt():
    hs256 = b'{"alg":"HS256","typ":"JWT"}'
    claims = json.dumps({"sub": "ada", "exp": 4_000_000_000}).encode()
    valid = sign(hs256, claims)
    for name, token in {
        "valid": valid,
        "valid-no-exp": sign(hs256, b'{"sub":"ada"}'),
        "expired": sign(hs256, b'{"sub":"ada","exp":1}'),
        "alg-none": b64(b'{"alg":"none"}') + "." + b64(claims) + ".",
        "wrong-key": valid[:-2] + "AA",
        "dots-100k": "a." * 100_000,
        "dots-1mib": "." * (MIB - 1),
        "three-dots": valid + ".",
        "long-signature": valid + "A" * (MIB - len(valid) - 1),
        "large-claims": sign(hs256, json.dumps({"sub": "a" * 700_000}).encode()),
        "deep-claims": sign(hs256, b"[" * 200_000),
        "deep-header": sign(b"[" * 200_000, claims),
    }.items():
        write("jwt", name, token)
    # Mode 0 (fuzz_targets/jwt.rs): byte position to change, new byte, then the claims to sign.
    write("jwt", "tamper-claims", b"\x00\x00\x10X" + claims)
    write("jwt", "tamper-long", b"\x00\xff\xf0A" + json.dumps({"sub": "_" * 200_000}).encode())


def cookie():
    many = "; ".join(f"c{i}=v{i}" for i in range(100_000))
    for name, text in {
        "session": "sessionid\ntheme=dark; sessionid=\"abc\"",
        "several-headers": "sessionid\na=1\nb=2; sessionid=x\nsessionid=y",
        "many-cookies": f"sessionid\n{many}; sessionid=tok"[:MIB],
        "many-headers": "sessionid\n" + "\n".join(f"c{i}=v; sessionid=t{i}" for i in range(100)),
        "semicolons-1mib": fill(";", MIB, "sessionid\n"),
        "equals-1mib": fill("=", MIB, "sessionid\n"),
        "quotes-1mib": fill('"', MIB, "sessionid\nsessionid="),
        "spaces-1mib": fill(" ", MIB, "sessionid\nsessionid=", "x"),
        "bearer": "x\nBearer abc.def",
        "bearer-long": fill("a", MIB, "x\nBearer "),
        "bearer-spaces": fill(" ", MIB, "x\nBearer", "tok"),
        "protocol": "access_token\naccess_token, tok",
        "protocol-commas-1mib": fill(", ", MIB, "access_token\naccess_token", "tok"),
        "protocol-markers-1mib": fill("access_token,", MIB, "access_token\n"),
    }.items():
        write("cookie", name, text)


def route():
    for name, path in {
        "echo": "/ws/echo/",
        "chat": "/ws/chat/main%20room/",
        "lobby": "/ws/chat/lobby/",
        "lobby-prefix": "/ws/chat/lob/",
        "users": "/ws/users/ada/rooms/7/",
        "files": "/ws/files/a/b/c.txt",
        "asyncapi": "/asyncapi/",
        "long-param": fill("a", MIB, "/ws/chat/", "/"),
        "slashes-1mib": "/" * MIB,
        "percents-1mib": fill("%41", MIB, "/ws/files/"),
        "bad-percents": fill("%F", MIB, "/ws/chat/", "/"),
        "invalid-utf8-escapes": fill("%FF", MIB, "/ws/chat/", "/"),
        "segments-1mib": fill("a/", MIB, "/ws/users/"),
        "braces": fill("{", MIB, "/ws/chat/", "/"),
    }.items():
        write("route", name, path)


def handshake():
    # The first byte is how the rest is cut into reads (0: all at once; 1: a byte at a time).
    keys = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" \
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    good = f"GET /ws/room/7/ HTTP/1.1\r\nHost: x\r\n{keys}\r\n"
    for name, (cut, text) in {
        "upgrade": (0, good),
        "upgrade-bytewise": (1, good),
        "upgrade-bare-lf": (3, good.replace("\r\n", "\n")),
        "upgrade-with-frames": (7, good + "\x81\x84abcd" * 100),
        "foreign-origin": (5, good.replace("Host: x", "Host: x\r\nOrigin: http://evil.example")),
        "fragment": (2, good.replace("/7/", "/7/#top")),
        "refused-target": (9, good.replace("/7/", "/<7>/")),
        "plain-get": (0, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"),
        "pipelined": (4, "GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\n\r\n" * 50),
        "with-body": (0, good.replace("Host: x", "Host: x\r\nContent-Length: 5") + "hello"),
        "newlines-never-empty": (1, fill("X: y\r\n", MIB - 1, "GET / HTTP/1.1\r\n")),
        "one-long-header": (0, fill("a", MIB - 1, "GET /ws/room/7/ HTTP/1.1\r\nX: ")),
        "many-headers": (0, fill("X: y\r\n", 16 * 1024, "GET /ws/room/7/ HTTP/1.1\r\n" + keys) + "\r\n"),
        "crs-1mib": (0, fill("\r", MIB - 1, "GET /ws/room/7/ HTTP/1.1\r\n")),
        "long-path": (0, fill("a", 6 * 1024, "GET /ws/room/", "/ HTTP/1.1\r\n" + keys + "\r\n")),
    }.items():
        write("handshake", name, chr(cut) + text)


def frame_paths():
    """Frames that look as if they could be decoded from their text, and the ways they cannot."""
    probe = {"name": "n", "count": 1, "tags": ["t"], "kind": "alpha", "child": None}
    texts = {
        "plain": json.dumps({"action": "probe", "payload": probe}),
        "spaced": json.dumps({"action": "probe", "payload": probe}, indent=2),
        "camel-nested": json.dumps({"action": "probe", "payload": dict(probe, child=dict(probe, userName=1))}),
        "repeated-top": '{"action":"probe","payload":{},"payload":' + json.dumps(probe) + "}",
        "repeated-action": '{"action":"x","action":"probe","payload":' + json.dumps(probe) + "}",
        "repeated-nested": '{"action":"probe","payload":{"name":"a","name":"b","count":1,"tags":[],"kind":"beta"}}',
        "escaped-action": r'{"action":"pr\u006fbe","payload":' + json.dumps(probe) + "}",
        "escaped-key": r'{"action":"probe","p\u0061yload":' + json.dumps(probe) + "}",
        "number-out-of-range": '{"action":"probe","x":1e400,"payload":' + json.dumps(probe) + "}",
        "big-integer": '{"action":"probe","payload":' + json.dumps(dict(probe, count=10**30)) + "}",
        "wide-integers": '{"action":"probe","payload":' + json.dumps(dict(probe, wide=-(2**64) - 1)) + "}",
        "wide-minus-zero": '{"action":"probe","payload":' + json.dumps(probe)[:-1] + ',"wide":-0}}',
        "wide-in-range": '{"action":"probe","payload":' + json.dumps(dict(probe, wide=2**63)) + "}",
        "lone-surrogate": r'{"action":"probe","x":"\ud800","payload":' + json.dumps(probe) + "}",
        "control-char": r'{"action":"probe","x":"\u0001","payload":' + json.dumps(probe) + "}",
        "raw-control-char": '{"action":"probe","x":"\x01","payload":' + json.dumps(probe) + "}",
        "envelope-null": '{"action":"probe","topic":null,"payload":' + json.dumps(probe) + "}",
        "nine-keys": json.dumps(dict({f"k{i}": i for i in range(8)}, action="probe", payload=probe)),
        "trailing": json.dumps({"action": "probe", "payload": probe}) + " x",
        "deep-1mib": fill("[", MIB - 1, '{"action":"probe","payload":'),
        "deep-127": '{"action":"probe","x":' + "[" * 126 + "]" * 126 + ',"payload":' + json.dumps(probe) + "}",
        "long-string-1mib": fill("a", MIB - 1, '{"action":"probe","x":"', '"}'),
        "many-camel-keys-1mib": fill('"aB":0,', MIB - 1, '{"action":"probe","payload":{', '"end":0}}'),
        "many-plain-keys-1mib": fill('"a_b":0,', MIB - 1, '{"action":"probe","payload":{', '"end":0}}'),
    }
    for name, text in texts.items():
        # As for `frame`: the first byte chooses whether keys are decamelized.
        for selector in "01":
            write("frame_paths", f"{name}-{selector}", (selector + text).encode()[:MIB])


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    for make in (camelize, frame, frame_paths, redis_message, redis_core_message, jwt, cookie, route, handshake):
        make()
    for folder in sorted(ROOT.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files) // 1024} KiB")
