"""The mirai-api-http v2 command inventory, and the request shapes that changed between versions.

Every command of the reference (mirai-api-http.md §3.5) is listed once in
:data:`COMMANDS` with its HTTP form, whether it exists as a WebSocket command,
and what kind of operation it is. The kind decides what a client may do when
the outcome of a call is unknown (§8.1):

* ``read``: no effect; safe to retry freely. These are the read-only commands,
  listed in :data:`READ_ONLY`.
* ``idempotent``: a mutation whose repeat leaves the same end state.
* ``send``: a message send; never repeated blindly.
* ``mutation``: any other effect that a repeat would duplicate.
* ``destructive_read``: ``fetchMessage`` / ``fetchLatestMessage``: a lost
  answer loses what it read.
* ``session``: the HTTP session steps (verify, bind, release).

``recall`` and ``messageFromId`` take different fields on MAH <= 2.5, 2.6 and
>= 2.7 (§5); :func:`recall_content` and :func:`message_from_id_content` build
the shape the server's version (``about``'s ``data.version``) wants. A wrong
shape can recall the wrong message.

Pure: no I/O, no threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Optional, Tuple

__all__ = [
    "Command",
    "COMMANDS",
    "READ_ONLY",
    "SEND_COMMANDS",
    "command",
    "is_retry_safe",
    "http_route",
    "parse_version",
    "recall_content",
    "message_from_id_content",
    "Version",
]

Version = Tuple[int, int, int]

READ = "read"
IDEMPOTENT = "idempotent"
SEND = "send"
MUTATION = "mutation"
DESTRUCTIVE_READ = "destructive_read"
SESSION = "session"
_KINDS = (READ, IDEMPOTENT, SEND, MUTATION, DESTRUCTIVE_READ, SESSION)


@dataclass(frozen=True)
class Command:
    """One mirai-api-http command.

    Attributes:
        name: the WebSocket command word (``sendGroupMessage``, ``file_list``).
        sub_command: ``"get"`` / ``"update"`` for the two-way commands, else None.
        method: the HTTP method of the same call (``GET`` or ``POST``).
        path: the HTTP path (``/file/list``).
        kind: ``read``, ``idempotent``, ``send``, ``mutation``,
            ``destructive_read`` or ``session`` (see the module docstring).
        ws: False for what MAH only takes over HTTP (uploads: code 6 over ws;
            the HTTP session steps and polling).
        multipart: the HTTP form is ``multipart/form-data`` (uploads).
    """

    name: str
    sub_command: Optional[str]
    method: str
    path: str
    kind: str
    ws: bool = True
    multipart: bool = False

    @property
    def read_only(self) -> bool:
        """True when the command has no effect at all."""
        return self.kind == READ

    @property
    def retry_safe(self) -> bool:
        """True when repeating the command cannot do harm (a read, or an idempotent mutation)."""
        return self.kind in (READ, IDEMPOTENT, SESSION)


def _c(name: str, method: str, kind: str, *, sub: Optional[str] = None, path: Optional[str] = None,
       ws: bool = True, multipart: bool = False) -> Command:
    assert kind in _KINDS, kind
    return Command(name, sub, method, path or "/" + name.replace("_", "/"), kind, ws, multipart)


#: Every command of mirai-api-http v2.10 (reference §3.5), in the order the reference lists them.
COMMANDS: Tuple[Command, ...] = (
    _c("about", "GET", READ),
    _c("botList", "GET", READ),
    _c("sessionInfo", "GET", READ),
    _c("messageFromId", "GET", READ),
    _c("friendList", "GET", READ),
    _c("groupList", "GET", READ),
    _c("memberList", "GET", READ),
    _c("latestMemberList", "GET", READ),
    _c("botProfile", "GET", READ),
    _c("friendProfile", "GET", READ),
    _c("memberProfile", "GET", READ),
    _c("userProfile", "GET", READ),
    _c("countMessage", "GET", READ, ws=False),
    _c("peekMessage", "GET", READ, ws=False),
    _c("peekLatestMessage", "GET", READ, ws=False),
    _c("fetchMessage", "GET", DESTRUCTIVE_READ, ws=False),
    _c("fetchLatestMessage", "GET", DESTRUCTIVE_READ, ws=False),
    _c("sendFriendMessage", "POST", SEND),
    _c("sendGroupMessage", "POST", SEND),
    _c("sendTempMessage", "POST", SEND),
    _c("sendOtherClientMessage", "POST", SEND),
    _c("sendImageMessage", "POST", SEND),
    _c("sendNudge", "POST", SEND),
    _c("recall", "POST", MUTATION),
    _c("roamingMessages", "POST", READ),
    _c("file_list", "GET", READ),
    _c("file_info", "GET", READ),
    _c("file_mkdir", "POST", MUTATION),
    _c("file_delete", "POST", IDEMPOTENT),
    _c("file_move", "POST", IDEMPOTENT),
    _c("file_rename", "POST", IDEMPOTENT),
    _c("deleteFriend", "POST", IDEMPOTENT),
    _c("mute", "POST", IDEMPOTENT),
    _c("unmute", "POST", IDEMPOTENT),
    _c("kick", "POST", MUTATION),
    _c("quit", "POST", IDEMPOTENT),
    _c("muteAll", "POST", IDEMPOTENT),
    _c("unmuteAll", "POST", IDEMPOTENT),
    _c("setEssence", "POST", IDEMPOTENT),
    _c("groupConfig", "GET", READ, sub="get"),
    _c("groupConfig", "POST", IDEMPOTENT, sub="update"),
    _c("memberInfo", "GET", READ, sub="get"),
    _c("memberInfo", "POST", IDEMPOTENT, sub="update"),
    _c("memberAdmin", "POST", IDEMPOTENT),
    _c("anno_list", "GET", READ),
    _c("anno_publish", "POST", MUTATION),
    _c("anno_delete", "POST", IDEMPOTENT),
    _c("resp_newFriendRequestEvent", "POST", IDEMPOTENT),
    _c("resp_memberJoinRequestEvent", "POST", IDEMPOTENT),
    _c("resp_botInvitedJoinGroupRequestEvent", "POST", IDEMPOTENT),
    _c("cmd_execute", "POST", MUTATION),
    _c("cmd_register", "POST", MUTATION),
    _c("uploadImage", "POST", MUTATION, ws=False, multipart=True),
    _c("uploadVoice", "POST", MUTATION, ws=False, multipart=True),
    _c("uploadShortVideo", "POST", MUTATION, ws=False, multipart=True),
    _c("file_upload", "POST", MUTATION, ws=False, multipart=True),
    _c("verify", "POST", SESSION, ws=False),
    _c("bind", "POST", SESSION, ws=False),
    _c("release", "POST", SESSION, ws=False),
)

_BY_KEY: Dict[Tuple[str, Optional[str]], Command] = {(c.name, c.sub_command): c for c in COMMANDS}
_BY_NAME: Dict[str, Command] = {}
for _cmd in COMMANDS:
    _BY_NAME.setdefault(_cmd.name, _cmd)

#: The commands that change nothing (safe to retry freely, reference §8.1), as
#: ``(command, subCommand)`` pairs: the visible table of read-only calls.
READ_ONLY: FrozenSet[Tuple[str, Optional[str]]] = frozenset(
    (c.name, c.sub_command) for c in COMMANDS if c.kind == READ
)

#: The message sends: never repeated without verification.
SEND_COMMANDS: FrozenSet[str] = frozenset(c.name for c in COMMANDS if c.kind == SEND)


def command(name: str, sub_command: Optional[str] = None) -> Optional[Command]:
    """The inventory entry of ``name`` (and ``sub_command``), or None for an unknown command.

    The two-way commands (``groupConfig``, ``memberInfo``) need ``"get"`` or
    ``"update"``; without one, ``get`` is assumed.
    """
    found = _BY_KEY.get((name, sub_command))
    if found is None and sub_command is None:
        found = _BY_KEY.get((name, "get"))
    if found is None and sub_command is not None:
        found = _BY_KEY.get((name, None))
    return found


def is_retry_safe(name: str, sub_command: Optional[str] = None) -> bool:
    """True when repeating the command cannot do harm. Unknown commands are not."""
    found = command(name, sub_command)
    return found is not None and found.retry_safe


def http_route(name: str, sub_command: Optional[str] = None) -> Tuple[str, str]:
    """``(method, path)`` of a command over HTTP.

    An unknown command is sent as ``POST`` to the path MAH's naming rule gives
    (``_`` becomes ``/``), so commands newer than this table still work.
    """
    found = command(name, sub_command)
    if found is not None:
        return found.method, found.path
    if sub_command == "get":
        return "GET", "/" + name.replace("_", "/")
    return "POST", "/" + name.replace("_", "/")


_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: Any) -> Optional[Version]:
    """``"2.10.0"`` → ``(2, 10, 0)``; None when ``text`` holds no version."""
    if not isinstance(text, str):
        return None
    match = _VERSION.search(text.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def recall_content(version: Optional[Version], message_id: int, target: Optional[int]) -> Dict[str, Any]:
    """The ``recall`` content for a server of ``version``.

    MAH <= 2.5 takes the message id in ``target``; 2.6 and later take the chat
    id in ``target`` and the message id in ``messageId``. An unknown version
    gets the current shape.

    Raises:
        ValueError: the server needs ``target`` (the chat) and none was given.
    """
    if version is not None and version < (2, 6, 0):
        return {"target": int(message_id)}
    if target is None:
        raise ValueError("recall on mirai-api-http >= 2.6 needs target= (the friend or group id)")
    return {"target": int(target), "messageId": int(message_id)}


def message_from_id_content(version: Optional[Version], message_id: int, target: Optional[int]) -> Dict[str, Any]:
    """The ``messageFromId`` content for a server of ``version``.

    MAH <= 2.5 takes ``id``; 2.6 takes ``id`` and ``target``; 2.7 and later
    take ``messageId`` and ``target``. An unknown version gets the current shape.

    Raises:
        ValueError: the server needs ``target`` and none was given.
    """
    if version is not None and version < (2, 6, 0):
        return {"id": int(message_id)}
    if target is None:
        raise ValueError("messageFromId on mirai-api-http >= 2.6 needs target= (the friend or group id)")
    if version is not None and version < (2, 7, 0):
        return {"id": int(message_id), "target": int(target)}
    return {"messageId": int(message_id), "target": int(target)}
