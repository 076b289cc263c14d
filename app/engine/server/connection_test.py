"""Settings → Engine → *Test connection*: what a server is, said in words (reachable or not, the models it serves,
the realtime model's delay, the round-trip time)."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.server.address import ServerAddress, ServerError, parse_address
from app.engine.server.http_client import probe
from app.engine.server.realtime_client import connect
from app.engine.server.server_facts import probe_delay_ms

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    message: str  # for the user
    models: tuple[str, ...] = ()  # what the server serves
    realtime_model: str = ""  # the live-captions model: the one chosen, else the one whose name says Realtime
    chat_model: str = ""  # the questions model: the one chosen, else a Voxtral that is not the realtime one
    delay_ms: int | None = None  # the realtime model's delay, when it could be measured
    rtt_ms: float | None = None


def guess_models(names: tuple[str, ...]) -> tuple[str, str]:
    """(live, questions) model names as the served names suggest them ("" where none does)."""
    live = next((n for n in names if "realtime" in n.lower()), "")
    chat = next((n for n in names if n != live and "voxtral" in n.lower()), "")
    if not live and len(names) == 1:
        live = names[0]
    return live, chat


def unencrypted_warning(address: ServerAddress) -> str | None:
    """The warning due before audio goes to ``address`` over a network without encryption, else None."""
    if address.encrypted or address.loopback:
        return None
    return (f"Audio sent to {address.describe()} is not encrypted (http://): anyone on the network between here and "
            "the server can listen to it. Use an https:// address (a proxy with TLS in front of vLLM) where that "
            "matters.")


def _delay(address: ServerAddress, model: str) -> tuple[int | None, str]:
    """The realtime model's delay and a sentence about live captions with it."""
    try:
        connection = connect(address, model, open_timeout=TIMEOUT_S)
        try:
            delay = probe_delay_ms(connection, TIMEOUT_S)
        finally:
            connection.close()
    except ServerError as exc:
        return None, f"Live captions with “{model}” do not work: {exc}"
    except TimeoutError:
        return None, f"Live captions with “{model}”: the server did not answer a test transcription in time."
    if delay is None:
        return None, f"Live captions with “{model}” work; the server's caption delay could not be measured."
    return delay, f"Live captions with “{model}” work, with the server's caption delay of {delay} ms."


def _chat_lines(address: ServerAddress, served: tuple[str, ...], chat: str) -> tuple[bool, list[str]]:
    if not chat:
        return True, ["No model for questions is chosen: questions about recordings and transcribing them again "
                      "with Voxtral Mini 3B then run on this computer."]
    if chat not in served:
        return False, [f"The server at {address.describe()} does not serve “{chat}”, the model chosen for questions."]
    return True, [f"Questions and transcribing again use “{chat}”."]


def check_connection(address: str, api_key: str | None, live_model: str, chat_model: str,
                     chat_address: str = "") -> ConnectionReport:
    """Ask the server at ``address`` (and the questions server at ``chat_address`` when it is another one); never
    raises: a failure is a report that says what went wrong."""
    try:
        where = parse_address(address, api_key)
        chat_where = parse_address(chat_address, api_key) if chat_address.strip() else where
    except ServerError as exc:
        return ConnectionReport(False, str(exc))
    found = probe(where)
    if not found.reachable:
        return ConnectionReport(False, found.message)
    names = tuple(m.name for m in found.models)
    lines = [found.message]
    chat_names = names
    if chat_where != where:
        chat_found = probe(chat_where)
        lines.append(chat_found.message)
        if not chat_found.reachable:
            return ConnectionReport(False, " ".join(lines), names)
        chat_names = tuple(m.name for m in chat_found.models)
    guessed_live, _ = guess_models(names)
    live = live_model or guessed_live
    chat = chat_model or guess_models(chat_names)[1] or (chat_names[0] if chat_where != where and
                                                         len(chat_names) == 1 else "")
    ok, delay = True, None
    if not live:
        lines.append("Choose which of its models gives live captions (Voxtral Mini 4B Realtime).")
        ok = False
    elif live not in names:
        lines.append(f"It does not serve “{live}”, the model chosen for live captions.")
        ok = False
    else:
        delay, said = _delay(where, live)
        lines.append(said)
        ok = said.startswith(f"Live captions with “{live}” work")
    chat_ok, said = _chat_lines(chat_where, chat_names, chat)
    lines += said
    for server in dict.fromkeys((where, chat_where)):
        warning = unencrypted_warning(server)
        if warning:
            lines.append(warning)
    models = tuple(dict.fromkeys((*names, *chat_names)))
    return ConnectionReport(ok and chat_ok, " ".join(lines), models, live, chat, delay, found.rtt_ms)
