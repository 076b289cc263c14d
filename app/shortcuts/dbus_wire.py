"""A private connection to a D-Bus message bus through libdbus (ctypes), for the desktop portal backend.

PySide6's QtDBus cannot write an array of structures such as ``a(sa{sv})`` (its element type must be registered in
C++), so messages are written here from explicit signature strings and read back into plain Python values.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from ctypes import (
    POINTER,
    byref,
    c_char_p,
    c_double,
    c_int,
    c_int16,
    c_int32,
    c_int64,
    c_ubyte,
    c_uint,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from dataclasses import dataclass

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4  # libdbus' message types


@dataclass(frozen=True)
class Variant:
    """A value for a "v" (variant) slot with its D-Bus type; a plain str there is sent as "s"."""

    signature: str
    value: object


@dataclass(frozen=True)
class Message:
    """A message as received: header fields and the arguments decoded to Python values (structures as tuples,
    dictionaries as dicts, object paths as str, variants as their content)."""

    kind: int  # METHOD_CALL, METHOD_RETURN, ERROR or SIGNAL
    sender: str
    path: str
    interface: str
    member: str
    error_name: str
    signature: str
    serial: int
    reply_serial: int
    args: list


class _DBusError(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("message", c_char_p), ("dummy", c_uint), ("padding", c_void_p)]


_Iter = c_uint64 * 16  # DBusMessageIter: an opaque stack structure (72 bytes in libdbus); larger is harmless
_BASIC = {"y": c_ubyte, "b": c_uint32, "n": c_int16, "q": c_uint16, "i": c_int32, "u": c_uint32, "x": c_int64,
          "t": c_uint64, "d": c_double}
_STRINGS = "sog"  # string, object path, signature: all passed as char *


@functools.cache
def libdbus() -> ctypes.CDLL:
    """libdbus-1 with the signatures used here; OSError when it is not installed."""
    lib = ctypes.CDLL("libdbus-1.so.3")
    error, it = POINTER(_DBusError), POINTER(_Iter)
    signatures = {
        "dbus_error_init": (None, [error]),
        "dbus_error_free": (None, [error]),
        "dbus_error_is_set": (c_uint32, [error]),
        "dbus_bus_get_private": (c_void_p, [c_int, error]),
        "dbus_connection_open_private": (c_void_p, [c_char_p, error]),
        "dbus_bus_register": (c_uint32, [c_void_p, error]),
        "dbus_bus_get_unique_name": (c_char_p, [c_void_p]),
        "dbus_bus_add_match": (None, [c_void_p, c_char_p, error]),
        "dbus_bus_remove_match": (None, [c_void_p, c_char_p, error]),
        "dbus_connection_set_exit_on_disconnect": (None, [c_void_p, c_uint32]),
        "dbus_connection_get_unix_fd": (c_uint32, [c_void_p, POINTER(c_int)]),
        "dbus_connection_get_is_connected": (c_uint32, [c_void_p]),
        "dbus_connection_read_write": (c_uint32, [c_void_p, c_int]),
        "dbus_connection_pop_message": (c_void_p, [c_void_p]),
        "dbus_connection_send": (c_uint32, [c_void_p, c_void_p, POINTER(c_uint32)]),
        "dbus_connection_flush": (None, [c_void_p]),
        "dbus_connection_close": (None, [c_void_p]),
        "dbus_connection_unref": (None, [c_void_p]),
        "dbus_message_new": (c_void_p, [c_int]),
        "dbus_message_unref": (None, [c_void_p]),
        "dbus_message_set_destination": (c_uint32, [c_void_p, c_char_p]),
        "dbus_message_set_path": (c_uint32, [c_void_p, c_char_p]),
        "dbus_message_set_interface": (c_uint32, [c_void_p, c_char_p]),
        "dbus_message_set_member": (c_uint32, [c_void_p, c_char_p]),
        "dbus_message_set_error_name": (c_uint32, [c_void_p, c_char_p]),
        "dbus_message_set_reply_serial": (c_uint32, [c_void_p, c_uint32]),
        "dbus_message_get_type": (c_int, [c_void_p]),
        "dbus_message_get_sender": (c_char_p, [c_void_p]),
        "dbus_message_get_path": (c_char_p, [c_void_p]),
        "dbus_message_get_interface": (c_char_p, [c_void_p]),
        "dbus_message_get_member": (c_char_p, [c_void_p]),
        "dbus_message_get_error_name": (c_char_p, [c_void_p]),
        "dbus_message_get_signature": (c_char_p, [c_void_p]),
        "dbus_message_get_serial": (c_uint32, [c_void_p]),
        "dbus_message_get_reply_serial": (c_uint32, [c_void_p]),
        "dbus_message_iter_init": (c_uint32, [c_void_p, it]),
        "dbus_message_iter_init_append": (None, [c_void_p, it]),
        "dbus_message_iter_append_basic": (c_uint32, [it, c_int, c_void_p]),
        "dbus_message_iter_open_container": (c_uint32, [it, c_int, c_char_p, it]),
        "dbus_message_iter_close_container": (c_uint32, [it, it]),
        "dbus_message_iter_get_arg_type": (c_int, [it]),
        "dbus_message_iter_get_element_type": (c_int, [it]),
        "dbus_message_iter_get_basic": (None, [it, c_void_p]),
        "dbus_message_iter_recurse": (None, [it, it]),
        "dbus_message_iter_next": (c_uint32, [it]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def split_signature(signature: str) -> list[str]:
    """The complete types one after another in ``signature``: "oa(sa{sv})sa{sv}" -> ["o", "a(sa{sv})", "s", ...]."""
    types, start = [], 0
    while start < len(signature):
        end = _type_end(signature, start)
        types.append(signature[start:end])
        start = end
    return types


def _type_end(signature: str, start: int) -> int:
    code = signature[start]
    if code == "a":
        return _type_end(signature, start + 1)
    if code in "({":
        close, at = ")" if code == "(" else "}", start + 1
        while signature[at] != close:
            at = _type_end(signature, at)
        return at + 1
    return start + 1


def _append(lib: ctypes.CDLL, it: _Iter, signature: str, value: object) -> None:
    """Write ``value`` as the single complete type ``signature``; the signature, not the Python type, decides."""
    code = signature[0]
    if code in _BASIC:
        lib.dbus_message_iter_append_basic(it, ord(code), byref(_BASIC[code](value)))
        return
    if code in _STRINGS:
        lib.dbus_message_iter_append_basic(it, ord(code), byref(c_char_p(str(value).encode())))
        return
    sub = _Iter()
    if code == "v":
        inner = value if isinstance(value, Variant) else Variant("s", value)
        lib.dbus_message_iter_open_container(it, ord("v"), inner.signature.encode(), sub)
        _append(lib, sub, inner.signature, inner.value)
    elif code == "a" and signature[1] == "{":
        key_type, value_type = split_signature(signature[2:-1])
        lib.dbus_message_iter_open_container(it, ord("a"), signature[1:].encode(), sub)
        for key, item in value.items():
            entry = _Iter()
            lib.dbus_message_iter_open_container(sub, ord("e"), None, entry)
            _append(lib, entry, key_type, key)
            _append(lib, entry, value_type, item)
            lib.dbus_message_iter_close_container(sub, entry)
    elif code == "a":
        lib.dbus_message_iter_open_container(it, ord("a"), signature[1:].encode(), sub)
        for item in value:
            _append(lib, sub, signature[1:], item)
    elif code == "(":
        lib.dbus_message_iter_open_container(it, ord("r"), None, sub)
        for field_type, field in zip(split_signature(signature[1:-1]), value, strict=True):
            _append(lib, sub, field_type, field)
    else:
        raise ValueError(f"D-Bus type {signature!r} is not supported here")
    lib.dbus_message_iter_close_container(it, sub)


def _read_all(lib: ctypes.CDLL, it: _Iter) -> list:
    values = []
    while code := lib.dbus_message_iter_get_arg_type(it):
        values.append(_read(lib, it, chr(code)))
        lib.dbus_message_iter_next(it)
    return values


def _read(lib: ctypes.CDLL, it: _Iter, code: str) -> object:
    if code in _BASIC:
        box = _BASIC[code]()
        lib.dbus_message_iter_get_basic(it, byref(box))
        return bool(box.value) if code == "b" else box.value
    if code in _STRINGS:
        text = c_char_p()
        lib.dbus_message_iter_get_basic(it, byref(text))
        return text.value.decode()
    if code not in "vrea":  # a file descriptor: no message this backend reads carries one
        raise ValueError(f"D-Bus type {code!r} is not supported here")
    sub = _Iter()
    lib.dbus_message_iter_recurse(it, sub)
    content = _read_all(lib, sub)
    if code == "v":
        return content[0]
    if code in "re":  # a structure, or a dictionary entry (its key and value)
        return tuple(content)
    return dict(content) if lib.dbus_message_iter_get_element_type(it) == ord("e") else content


def _text(value: bytes | None) -> str:
    return value.decode() if value else ""


class DBusConnection:
    """A private connection to a message bus: ``bus_address``, or the session bus when None. OSError when there is
    none. Not thread-safe: used on one thread, reading only when ``fileno()`` is readable."""

    def __init__(self, bus_address: str | None = None) -> None:
        self._lib = lib = libdbus()
        error = _DBusError()
        lib.dbus_error_init(byref(error))
        if bus_address is None:
            connection = lib.dbus_bus_get_private(0, byref(error))  # 0: DBUS_BUS_SESSION
        else:
            connection = lib.dbus_connection_open_private(bus_address.encode(), byref(error))
            if connection:
                lib.dbus_bus_register(connection, byref(error))  # the bus's Hello: one short round trip
        if lib.dbus_error_is_set(byref(error)):
            why = _text(error.message)
            lib.dbus_error_free(byref(error))
            if connection:
                lib.dbus_connection_close(connection)
                lib.dbus_connection_unref(connection)
            raise OSError(f"cannot connect to the session bus: {why}")
        lib.dbus_connection_set_exit_on_disconnect(connection, 0)  # libdbus would end the whole program otherwise
        self._connection = connection
        self.unique_name = _text(lib.dbus_bus_get_unique_name(connection))

    def fileno(self) -> int:
        fd = c_int(-1)
        self._lib.dbus_connection_get_unix_fd(self._connection, byref(fd))
        return fd.value

    def add_match(self, rule: str) -> None:
        """Receive the signals ``rule`` matches. Sent without waiting for the bus's answer; the bus handles this
        connection's messages in order, so a call sent afterwards cannot be answered before the rule is in place."""
        self._lib.dbus_bus_add_match(self._connection, rule.encode(), None)

    def remove_match(self, rule: str) -> None:
        self._lib.dbus_bus_remove_match(self._connection, rule.encode(), None)

    def send(self, kind: int, *, destination: str = "", path: str = "", interface: str = "", member: str = "",
             signature: str = "", args: Sequence[object] = (), reply_to: int = 0, error_name: str = "") -> int:
        """Send a message whose arguments are ``args`` written as ``signature``; its serial, for matching the
        reply. ``reply_to``: the serial a METHOD_RETURN or ERROR answers."""
        lib = self._lib
        message = lib.dbus_message_new(kind)
        try:
            for setter, text in ((lib.dbus_message_set_destination, destination), (lib.dbus_message_set_path, path),
                                 (lib.dbus_message_set_interface, interface), (lib.dbus_message_set_member, member),
                                 (lib.dbus_message_set_error_name, error_name)):
                if text:
                    setter(message, text.encode())
            if reply_to:
                lib.dbus_message_set_reply_serial(message, reply_to)
            it = _Iter()
            lib.dbus_message_iter_init_append(message, it)
            for arg_type, arg in zip(split_signature(signature), args, strict=True):
                _append(lib, it, arg_type, arg)
            serial = c_uint32()
            if not lib.dbus_connection_send(self._connection, message, byref(serial)):
                raise OSError("the session bus connection is out of memory")
            lib.dbus_connection_flush(self._connection)  # a local socket: written at once
            return serial.value
        finally:
            lib.dbus_message_unref(message)

    def receive(self) -> list[Message]:
        """The messages that have arrived, without waiting; ConnectionError when the bus has gone."""
        lib = self._lib
        lib.dbus_connection_read_write(self._connection, 0)
        messages = []
        while message := lib.dbus_connection_pop_message(self._connection):
            try:
                messages.append(self._decoded(message))
            except ValueError:
                pass  # a type no portal message has: not one of ours
            finally:
                lib.dbus_message_unref(message)
        if not messages and not lib.dbus_connection_get_is_connected(self._connection):
            raise ConnectionError("the session bus connection was closed")
        return messages

    def _decoded(self, message: int) -> Message:
        lib = self._lib
        it = _Iter()
        args = _read_all(lib, it) if lib.dbus_message_iter_init(message, it) else []
        return Message(lib.dbus_message_get_type(message), _text(lib.dbus_message_get_sender(message)),
                       _text(lib.dbus_message_get_path(message)), _text(lib.dbus_message_get_interface(message)),
                       _text(lib.dbus_message_get_member(message)), _text(lib.dbus_message_get_error_name(message)),
                       _text(lib.dbus_message_get_signature(message)), lib.dbus_message_get_serial(message),
                       lib.dbus_message_get_reply_serial(message), args)

    def close(self) -> None:
        if self._connection:
            self._lib.dbus_connection_close(self._connection)
            self._lib.dbus_connection_unref(self._connection)
            self._connection = None
