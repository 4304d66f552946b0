"""Who is asking: API keys (several, hashed in a file), browser sessions, trusted hosts, the Origin
check on cookie-authenticated writes, and per-owner rate limits on submissions.

Every request gets a :class:`Principal` whose ``owner`` its jobs are filed under:

- an API key (``X-API-Key`` header or ``Authorization: Bearer``) → ``key:NAME``;
- a browser session (the ``impasto_session`` cookie, made by ``POST /login`` with a key) → the
  key's owner, so the UI and a script with the same key see the same jobs;
- with no key configured at all (the loopback default) a browser gets a session of its own on its
  first page load (owner ``session:ID``) and API clients share the owner ``anonymous``.

An admin key sees every job. Keys in the file are stored as salted scrypt hashes; a verified key is
remembered (by its SHA-256) so the KDF runs once per key and process, not once per request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ImpastoError

log = logging.getLogger("impasto.service")

SESSION_COOKIE = "impasto_session"
ANONYMOUS = "anonymous"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
KEY_PREFIX = "imp"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# scrypt at N=2^14, r=8, p=1: 16 MiB and ~50 ms per hash (the parameters OWASP lists for scrypt).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class Access:
    """Who may use the service and how (each configurable with ``impasto serve --...``)."""

    admin_key: str | None = None
    """A key (in clear, or $IMPASTO_ADMIN_KEY) whose holder sees and cancels every job."""
    keys_file: Path | None = None
    """File of named, hashed API keys (``impasto keys add NAME``)."""
    session_hours: float = 12.0
    """Lifetime of a browser session made by POST /login, in hours."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names clients may use (the Host header) besides the bound address; ``*.example.com`` matches subdomains."""
    secure_cookie: bool = False
    """Mark the session cookie Secure even on plain-http requests (TLS ends at a proxy that does not
    send X-Forwarded-Proto)."""
    rate_limit: float | None = None
    """Most job submissions per minute and owner (→ 429; default: no limit)."""
    header_timeout: float = 10.0
    """Seconds a client may take to send a request's headers (slowloris)."""
    body_timeout: float = 30.0
    """Seconds a request body may pause between chunks; it must also average 16 KiB/s after that long."""
    keep_alive: float = 5.0
    """Seconds an idle keep-alive connection stays open."""

    def __post_init__(self) -> None:
        for name in ("session_hours", "header_timeout", "body_timeout", "keep_alive"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}", field=name
                )
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ConfigError(f"rate-limit must be positive, got {self.rate_limit}", field="rate_limit")
        for pattern in self.allowed_hosts:
            if "*" in pattern[1:] or (
                pattern.startswith("*") and pattern != "*" and not pattern.startswith("*.")
            ):
                raise ConfigError(
                    f"allowed-host: wildcards look like '*.example.com', got {pattern!r}",
                    field="allowed_host",
                )


def parse_rate(text: str) -> float:
    """``10/min``, ``2/s``, ``100/h`` (or a bare number: per minute) → submissions per minute."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*", text.lower())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"expected a rate such as 10/min, 2/s or 100/h; got {text!r}", field="rate_limit")
    per = {"s": 1 / 60, "sec": 1 / 60, "h": 60, "hour": 60}.get(m.group(2) or "min", 1)
    return float(m.group(1)) / per


# -- hashed keys -----------------------------------------------------------------------------------
def hash_key(key: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$SALT$HASH`` (base64) of ``key`` with a fresh random salt."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(key.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    salt_b64, digest_b64 = (base64.b64encode(b).decode() for b in (salt, digest))
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt_b64}${digest_b64}"


def verify_key(key: str, stored: str) -> bool:
    """Constant-time comparison of ``key`` against a :func:`hash_key` string."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            key.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class KeyEntry:
    """One named key: ``kid`` (public, inside the key itself) finds its ``hash`` without trying them all."""

    name: str
    admin: bool
    kid: str
    hash: str
    created_at: float = 0.0


def new_key() -> tuple[str, str]:
    """A fresh key ``imp_<kid>_<secret>`` and its key id."""
    kid = secrets.token_hex(4)
    return f"{KEY_PREFIX}_{kid}_{secrets.token_urlsafe(32)}", kid


def key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == KEY_PREFIX else None


class KeyFile:
    """The keys file: a header comment, then one key a line, ``NAME ROLE KID HASH CREATED``.

    Written atomically (temporary file + rename) with mode 0600; the keys themselves are never stored.
    """

    HEADER = (
        "# impasto API keys: name, role (user|admin), key id, salted scrypt hash, created (unix time).\n"
        "# Edit with `impasto keys add|list|remove`; the server re-reads this file when it changes.\n"
    )

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> list[KeyEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ImpastoError(
                f"cannot read keys file '{self.path}': {getattr(exc, 'strerror', exc)}"
            ) from None
        entries = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 5 or parts[1] not in ("user", "admin") or not NAME_RE.fullmatch(parts[0]):
                raise ImpastoError(
                    f"keys file '{self.path}' line {n} is not 'NAME ROLE KID HASH CREATED'; "
                    "fix or remove it (impasto keys remove NAME)"
                )
            try:
                created = float(parts[4])
            except ValueError:
                created = 0.0
            entries.append(KeyEntry(parts[0], parts[1] == "admin", parts[2], parts[3], created))
        return entries

    def save(self, entries: list[KeyEntry]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.HEADER)
                for e in entries:
                    f.write(
                        f"{e.name} {'admin' if e.admin else 'user'} {e.kid} {e.hash} {e.created_at:.0f}\n"
                    )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ImpastoError(f"cannot write keys file '{self.path}': {exc.strerror}") from None

    def add(self, name: str, *, admin: bool = False) -> str:
        """Store a new key under ``name`` and return it (the only time it is seen)."""
        if not NAME_RE.fullmatch(name):
            raise ConfigError(
                f"key name must be 1-64 letters, digits or _.@- (starting with a letter or digit), "
                f"got {name!r}",
                field="name",
            )
        entries = self.load()
        if any(e.name == name for e in entries):
            raise ConfigError(
                f"a key named '{name}' already exists in '{self.path}'; "
                f"remove it first (impasto keys remove {name})",
                field="name",
            )
        key, kid = new_key()
        entries.append(KeyEntry(name, admin, kid, hash_key(key), time.time()))
        self.save(entries)
        return key

    def remove(self, name: str) -> None:
        entries = self.load()
        if not any(e.name == name for e in entries):
            raise ConfigError(f"no key named '{name}' in '{self.path}'", field="name")
        self.save([e for e in entries if e.name != name])


@dataclass(frozen=True)
class Principal:
    """Who made a request: ``owner`` files its jobs; ``admin`` sees all of them."""

    owner: str
    admin: bool = False
    key: str | None = None
    """The key's name, when a key (or a session made with one) authenticated the request."""
    session: str | None = None
    """The session token, when the request came with a valid session cookie."""

    def sees(self, owner: str) -> bool:
        return self.admin or owner == self.owner


class KeyRing:
    """Every key the server accepts: ``--api-key``/``--admin-key`` in clear and the keys file (re-read
    when its modification time or size changes, so ``impasto keys remove`` takes effect at once)."""

    CACHE = 1024  # verified (and refused) keys remembered, by SHA-256

    def __init__(
        self, *, api_key: str | None = None, admin_key: str | None = None, keys_file: Path | None = None
    ) -> None:
        self.clear = [
            (k, name, admin)
            for k, name, admin in ((api_key, "api-key", False), (admin_key, "admin", True))
            if k
        ]
        self.file = KeyFile(keys_file) if keys_file is not None else None
        self._stamp: tuple[float, int] | None = None
        self._entries: dict[str, KeyEntry] = {}
        self._cache: OrderedDict[bytes, KeyEntry | None] = OrderedDict()
        self._lock = threading.Lock()
        self._reload()

    @property
    def required(self) -> bool:
        """Whether requests need a key (any key configured, or a keys file named even if empty)."""
        return bool(self.clear) or self.file is not None

    def _reload(self) -> None:
        if self.file is None:
            return
        try:
            st = self.file.path.stat()
            stamp = (st.st_mtime, st.st_size)
        except FileNotFoundError:
            stamp = (0.0, -1)
        if stamp != self._stamp:
            try:
                entries = self.file.load()
            except ImpastoError as exc:
                if self._stamp is None:  # at start-up: `impasto serve` refuses with this one line
                    raise
                log.error("%s; no key from that file is accepted until it is fixed", exc)
                entries = []  # fail closed: a half-edited file must not keep a revoked key alive
            with self._lock:
                self._entries = {e.kid: e for e in entries}
                self._cache.clear()
                self._stamp = stamp

    def names(self) -> list[str]:
        self._reload()
        return [name for _, name, _ in self.clear] + [e.name for e in self._entries.values()]

    def identify(self, key: str) -> KeyEntry | None:
        """The entry ``key`` belongs to, or None. Runs the KDF at most once per distinct key (cached)."""
        for clear, name, admin in self.clear:
            if hmac.compare_digest(key.encode(), clear.encode()):
                return KeyEntry(name, admin, "", "")
        if self.file is None:
            return None
        self._reload()
        digest = hashlib.sha256(key.encode()).digest()
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return self._cache[digest]
            entry = self._entries.get(key_id(key) or "")
        found = entry if entry is not None and verify_key(key, entry.hash) else None
        with self._lock:
            self._cache[digest] = found
            while len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        return found

    def still_valid(self, name: str, kid: str) -> KeyEntry | None:
        """The current entry of a key a session was made with (None once it is removed or replaced)."""
        for _, clear_name, admin in self.clear:
            if clear_name == name and kid == "":
                return KeyEntry(name, admin, "", "")
        self._reload()
        entry = self._entries.get(kid)
        return entry if entry is not None and entry.name == name else None


# -- sessions --------------------------------------------------------------------------------------
_SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    key_name TEXT,
    key_id TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
"""


@dataclass(frozen=True)
class Session:
    owner: str
    key_name: str | None
    key_id: str | None
    expires_at: float


class SessionStore:
    """Browser sessions in ``DATA_DIR/sessions.sqlite3``: only the SHA-256 of each token is stored, so
    the file alone lets nobody in. A session ends at logout, at its expiry, or when the key that made it
    is removed from the keys file; it survives a server restart (a restart should not log people out)."""

    MAX = 20_000
    """Sessions kept at most (the oldest go first): page loads on a keyless server each make one."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "sessions.sqlite3"
        self._local = threading.local()
        self._db().executescript(_SESSIONS)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(
        self, owner: str | None, lifetime: float, *, key: KeyEntry | None = None, now: float | None = None
    ) -> tuple[str, Session]:
        """A new random token (``owner`` None: a session that owns its own jobs)."""
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        owner = owner or f"session:{secrets.token_hex(8)}"
        session = Session(owner, key.name if key else None, key.kid if key else None, now + lifetime)
        db = self._db()
        db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        db.execute(
            "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions ORDER BY created_at "
            "DESC LIMIT -1 OFFSET ?)",
            (self.MAX - 1,),
        )
        db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            (self._hash(token), owner, session.key_name, session.key_id, now, session.expires_at),
        )
        return token, session

    def get(self, token: str, *, now: float | None = None) -> Session | None:
        now = time.time() if now is None else now
        row = (
            self._db()
            .execute(
                "SELECT owner, key_name, key_id, expires_at FROM sessions WHERE token_hash = ?",
                (self._hash(token),),
            )
            .fetchone()
        )
        if row is None or row[3] <= now:
            return None
        return Session(*row)

    def delete(self, token: str) -> None:
        self._db().execute("DELETE FROM sessions WHERE token_hash = ?", (self._hash(token),))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# -- rate limits -----------------------------------------------------------------------------------
class RateLimiter:
    """At most ``per_minute`` events per owner in any 60 s window (a sliding log of timestamps)."""

    WINDOW = 60.0

    def __init__(self, per_minute: float) -> None:
        self.limit = max(1, int(per_minute)) if per_minute >= 1 else 1
        self.window = self.WINDOW if per_minute >= 1 else self.WINDOW / per_minute
        self._log: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, owner: str, *, now: float | None = None) -> float:
        """Count one event; returns 0 when allowed, else the seconds to wait before the next one."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._log) > 10_000:  # forget owners with nothing in the window
                self._log = {k: v for k, v in self._log.items() if v and v[-1] > now - self.window}
            log = self._log.setdefault(owner, deque())
            while log and log[0] <= now - self.window:
                log.popleft()
            if len(log) >= self.limit:
                return log[0] + self.window - now
            log.append(now)
            return 0.0


# -- hosts -----------------------------------------------------------------------------------------
def allowed_hosts(bind: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The Host header values accepted for a server bound to ``bind``: the bound address (and the
    loopback names for a loopback bind; this machine's names and addresses for a wildcard bind),
    plus ``extra``. Checked on every bind: on loopback it also stops DNS-rebinding pages."""
    import ipaddress
    import socket

    hosts = [bind.strip("[]").lower()] if bind not in WILDCARD_BINDS else []
    try:
        loopback = bind in ("localhost",) or ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if loopback or bind in WILDCARD_BINDS:
        hosts += LOOPBACK_HOSTS
    if bind in WILDCARD_BINDS:
        name = socket.gethostname()
        hosts += [name.lower(), socket.getfqdn().lower()]
        try:
            hosts += [str(info[4][0]).lower() for info in socket.getaddrinfo(name, None)]
        except OSError:
            pass
        for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
            try:  # the address of the default route (connecting a UDP socket sends nothing)
                with socket.socket(family, socket.SOCK_DGRAM) as s:
                    s.connect((probe, 9))
                    hosts.append(s.getsockname()[0].lower())
            except OSError:
                pass
    hosts += [h.lower() for h in extra]
    # Starlette compares the Host header's host part, which keeps the brackets of an IPv6 literal.
    return list(dict.fromkeys(f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts if h))


# -- the request's principal -------------------------------------------------------------------------
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Authenticator:
    """Finds the :class:`Principal` of a request from its headers (blocking: a first KDF, SQLite)."""

    def __init__(self, ring: KeyRing, sessions: SessionStore, access: Access) -> None:
        self.ring, self.sessions, self.access = ring, sessions, access

    @property
    def required(self) -> bool:
        return self.ring.required

    def identify(self, headers: dict[str, str]) -> tuple[Principal | None, bool]:
        """(principal or None, whether a session cookie authenticated it). A key in a header wins over
        a cookie; with no key configured a header key is ignored and the request is anonymous."""
        key = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if key is None and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if key is not None and self.required:
            entry = self.ring.identify(key)
            return (Principal(f"key:{entry.name}", entry.admin, key=entry.name) if entry else None), False
        token = cookie(headers, SESSION_COOKIE)
        if token:
            session = self.sessions.get(token)
            if session is not None:
                if session.key_name is None:
                    if not self.required:  # an anonymous browser session (no keys configured)
                        return Principal(session.owner, session=token), True
                else:
                    entry = self.ring.still_valid(session.key_name, session.key_id or "")
                    if entry is not None:
                        return Principal(session.owner, entry.admin, key=entry.name, session=token), True
        return None, False

    def login(self, key: str) -> tuple[str, Session] | None:
        """A new session for the holder of ``key`` (None: not a key of this server)."""
        entry = self.ring.identify(key) if self.required else None
        if entry is None:
            return None
        return self.sessions.create(f"key:{entry.name}", self.access.session_hours * 3600, key=entry)

    def anonymous_session(self) -> tuple[str, Session]:
        """With no keys configured: a browser session owning its own jobs."""
        return self.sessions.create(None, self.access.session_hours * 3600)


def cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        k, _, value = part.strip().partition("=")
        if k == name:
            return value.strip('"')
    return None


def same_origin(scope, headers: dict[str, str], *, https: bool = False) -> bool | None:
    """Whether the request's Origin (else Referer) is this server's own origin: its scheme (``https``
    when TLS ends at a proxy that does not say so) and its Host header (already checked against the
    allowed hosts). None when the request carries neither."""
    from urllib.parse import urlsplit

    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return None
    scheme = "https" if https else scope.get("scheme", "http")
    default = {"http": 80, "https": 443}
    try:
        theirs = urlsplit(source)
        ours = urlsplit(f"{scheme}://{headers.get('host', '')}")
        return (
            theirs.scheme == scheme
            and theirs.hostname is not None
            and theirs.hostname == ours.hostname
            and (theirs.port or default.get(theirs.scheme)) == (ours.port or default.get(scheme))
        )
    except ValueError:  # a malformed port
        return False
