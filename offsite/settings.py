"""The one settings object: environment variables prefixed ``OFFSITE_``, nothing scattered in code."""

from __future__ import annotations

import re
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _host_name() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64] or "gateway"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFSITE_", extra="ignore")

    database_url: str = "sqlite:///offsite.db"
    """SQLAlchemy URL. ``postgresql://…`` is read with psycopg 3; SQLite runs in WAL mode."""

    owner_database_url: str | None = None
    """PostgreSQL: URL of the role that owns the schema, used by ``offsite db upgrade`` and
    ``offsite db grant`` (``offsite store retire``, which drops partitions, is given it as
    ``--database-url``); ``database_url`` is then the application's role, which may append to the
    archive but not change it, drop it or alter the schema. Production sets both (README,
    "Database roles"); unset: ``database_url`` migrates too, one role doing it all."""

    data_dir: Path = Path("offsite-data")
    """The one directory the platform writes files to: keys, the gateway's spool, quarantined
    packets, exports. Resolved to an absolute path when the settings are read; long-running
    commands print it."""

    secret_key: str | None = None
    """Fernet key that encrypts device access passwords at rest. Unset: ``secret_key_file``."""

    secret_key_file: Path | None = None
    """Where the device-password key is kept; unset: ``device-passwords.key`` in ``data_dir``,
    made at first use with mode 0600. A key file that others may read is refused."""

    archive_writer: str = Field(default_factory=_host_name, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """Name of this process's raw-packet archive chain; each writer appends to its own chain, and
    the name stays the same across restarts (the host name by default: give each of several
    gateways on one host a name of its own)."""

    archive_checkpoint_every: int = 1000
    """Records between checkpoints of a chain's head hash."""

    archive_checkpoint_seconds: float = Field(default=300.0, gt=0)
    """Seconds after which the gateway also takes a checkpoint (signed) at its next append, however
    few records came: a quiet chain's newest records are signed, and published, within it."""

    archive_publish_every: float = Field(default=3600.0, gt=0)
    """Seconds between two publications of the archive's signed chain heads by the worker."""

    archive_witness_dir: Path | None = None
    """Where the worker appends the signed heads (a file a day); unset: ``heads`` in ``data_dir``.
    Best on another disk or host, out of reach of whoever administers the database."""

    archive_witness_email: str | None = None
    """An e-mail address (a witness outside the bureau's IT, e.g. a notary) sent every publication."""

    archive_witness_webhook: str | None = None
    """An https webhook posted every publication."""

    realtime_retention_days: int = 30
    """How long real-time (2011) values are kept before their partitions may be exported and dropped."""

    partition_months_ahead: int = 2
    """PostgreSQL: monthly partitions created ahead of time."""

    log_format: str = "text"
    """``text`` for people, ``json`` (one object per line) for log collectors."""

    gateway_host: str = "127.0.0.1"
    """Where the gateway listens; 0.0.0.0 to accept loggers from outside the machine."""

    gateway_port: int = 9212
    gateway_statement_timeout: float = Field(default=10.0, gt=0)
    """Seconds one database statement of the gateway, or its wait for a lock, may take before it
    counts as an outage and packets go to the spool."""

    gateway_idle_timeout: float = 600.0
    """Seconds without a frame (a packet, or bytes rejected as one) before a connection is closed
    (a few real-time intervals); separators alone (CR, LF, blanks) do not keep it open."""

    gateway_auth_deadline: float = Field(default=300.0, gt=0)
    """Seconds a connection may stay open without one accepted packet (a registered MN with its
    right password) before it is closed."""

    gateway_flush_after: float = 0.2
    """Seconds of silence after which a frame with no CRLF is taken as complete."""

    gateway_max_length: int = 4096
    """Longest data segment accepted (real loggers send 1,045 and 1,623 bytes)."""

    gateway_max_rejections: int = 5
    """Packets rejected (unknown MN, wrong password, malformed) before a connection is closed."""

    gateway_max_connections_per_peer: int | None = None
    """Cap on connections from one IP; off by default (cellular loggers share carrier NAT)."""

    gateway_batch_size: int = 500
    """Most packets committed in one transaction (group commit)."""

    gateway_batch_wait: float = 0.01
    """Seconds the writer waits for more packets before committing a batch."""

    gateway_spool_dir: Path | None = None
    """Where packets are fsynced while the database is unreachable, to be replayed in order;
    unset: ``spool/<archive_writer>`` in ``data_dir``."""

    gateway_split_timeout: float = 60.0
    """Seconds to wait for the rest of a split message (PNUM/PNO) before counting it incomplete."""

    gateway_ack_deadline: float = Field(default=5.0, gt=0)
    """Seconds the gateway waits for the database to commit a batch before it spools the batch
    instead and acknowledges from the spool (a hung database returns no error to wait for)."""

    gateway_queue_limit: int = Field(default=20000, ge=1)
    """Packets waiting for the archive beyond which sessions stop reading from their sockets."""

    gateway_spool_retry: float = 2.0
    """Seconds between attempts to replay the spool while the database is away and traffic is quiet."""

    gateway_reply_timeout: float = 10.0
    """Seconds to wait for a device's 9011 before sending a request again (HJ 212-2017 Table 1)."""

    gateway_retries: int = 3
    """Times a request is sent again before the link counts as unusable (HJ 212-2017 Table 1)."""

    gateway_execution_timeout: float = 300.0
    """Seconds from a 9011 (accepted) to the 9012 (result) before the command counts as timed out."""

    gateway_clock_bound: float = 60.0
    """Clock drift (seconds) beyond which the gateway sets a device's clock with 1012."""

    gateway_clock_period: float = 3600.0
    """At most one 1012 per device in this many seconds."""

    gateway_backfill_every: float = 300.0
    """At most one backfill request (2051/2061) per device in this many seconds."""

    gateway_backfill_max_hours: float = 48.0
    """Longest span one backfill request asks for (loggers keep limited history)."""

    gateway_offline_after: float = 900.0
    """Seconds without a packet before a device counts as offline."""

    gateway_metrics_port: int | None = None
    """Port of the Prometheus metrics endpoint; none if unset."""

    gateway_max_connections: int = 10_000
    """Cap on open device connections in all. At the cap, a newcomer takes the place of the oldest
    connection that has not sent an accepted packet; if every one has, it is closed at once."""

    gateway_junk_archived: int = 5
    """Rejected frames of one connection archived one by one; later ones (and the rest of a read
    once the rejection cap is reached) are counted and hashed into one ``junk_summary`` record,
    archived when the connection closes."""

    gateway_junk_per_address: int = Field(default=50, ge=0)
    """Rejected frames from one address, over all its connections, archived one by one within
    ``gateway_password_window``; past it, that address's rejected frames only go into its
    connections' ``junk_summary`` records."""

    gateway_junk_connections: int = Field(default=10, ge=1)
    """Connections from one address ending with rejected frames and no accepted packet, within
    ``gateway_password_window``, before the address is refused new connections for a back-off
    (``gateway_password_backoff``, doubling up to ``gateway_password_backoff_max``). An address
    that sent an accepted packet within the window (a carrier NAT) is never refused."""

    gateway_password_attempts: int = 5
    """Wrong passwords for one MN from one address (over all its connections) within
    ``gateway_password_window`` before that MN and address are backed off."""

    gateway_password_attempts_per_mn: int = 20
    """Wrong passwords for one MN from all addresses together within ``gateway_password_window``
    before the MN is backed off (except from addresses that recently sent its right password)."""

    gateway_password_window: float = 600.0
    """Seconds over which wrong passwords are counted."""

    gateway_password_backoff: float = 60.0
    """Seconds of the first back-off; each further one for the same MN (or MN and address) doubles."""

    gateway_password_backoff_max: float = 900.0
    """Longest back-off, in seconds: a guesser behind a device's own carrier address locks it out
    for no longer than this at a time."""

    gateway_password_trust: float = 86400.0
    """Seconds an address that sent an MN's right password stays exempt from that MN's back-off."""

    gateway_frame_deadline: float = 30.0
    """Seconds within which a frame that has started must be complete, else the connection is
    closed (the idle timeout alone would let one byte at a time hold a socket for ever)."""

    gateway_write_timeout: float = 30.0
    """Seconds a write to a device may wait for the device to read before the connection is closed."""

    gateway_send_buffer: int = 262_144
    """Bytes waiting to be written to one device (acks, requests) before its connection is closed."""

    notify_allow_internal_webhooks: bool = False
    """Post webhooks to addresses of no public network (a bureau's intranet robot at 10.x): off,
    so that a contact's webhook cannot make the platform call its own services or a cloud's
    metadata endpoint."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "offsite@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS (port 587) before logging in; the server's
    certificate and host name are verified."""

    smtp_implicit_tls: bool = False
    """Speak SMTP inside TLS from the first byte (SMTPS, port 465), certificate verified; takes
    the place of ``smtp_starttls``. With ``smtp_user`` set, one of the two is required: a password
    is never sent over a connection without TLS."""

    smtp_ca_file: Path | None = None
    """PEM file of the CA certificates the SMTP server's certificate is verified against (a
    bureau's own mail relay); unset: the system's."""

    sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    """SMS gateway speaking the Aliyun ``SendSms`` API (RPC style, HMAC-SHA1 signed)."""

    sms_access_key_id: str | None = None
    sms_access_key_secret: str | None = None
    sms_sign_name: str = "Offsite"
    """Approved signature (签名) shown before every SMS."""

    sms_alarm_template: str = "SMS_ALARM"
    """Approved template of an alarm SMS (parameters ``unit``, ``level``, ``days``, ``alarm``)."""

    sms_digest_template: str = "SMS_DIGEST"
    """Approved template of the SMS digest of held-back messages (parameters ``count``, ``day``)."""

    sms_param_max_chars: int = Field(default=20, ge=2)
    """Longest unit or outlet name an SMS template parameter carries; a longer one is cut, ending
    in …, since providers reject a message whose variable is too long (Aliyun's limit for a name
    variable as recalled: 20 characters [R]; configurable)."""

    alarm_window_days: int = 30
    """Days of the rolling window exceedance days are counted in (the bands are in ``alarms.grading``)."""

    alarm_offline_after: float = 86400.0
    """Seconds a networked device may go unheard before its unit gets an offline alarm (a working
    default: the bureaus' own thresholds are not published)."""

    furnace_factors: tuple[str, ...] = ("a01901", "a01902")
    """Furnace-temperature codes of waste incinerators (炉膛温度; HJ 212-2017 code table [R]), in order
    of preference: a furnace-day is judged on the first code the device sent valid minutes of that day
    (MEE Order No. 10 names the thermocouples' mean, a01901; the DCS's a01902 only where it is absent [R])."""

    furnace_min_records: int = Field(default=3, ge=1)
    """Valid minute records a furnace-temperature window needs to have a mean (3 of 5 [D]); fewer
    where the device's declared interval cannot hold that many in a window."""

    furnace_min_temperature: float = 850.0
    """℃ a furnace's 5-minute mean must not fall below (MEE Order No. 10 of 2019, 生活垃圾焚烧发电厂
    自动监测数据应用管理规定, art. 11 as recalled [R]; GB 18485-2014 §6 sets the same 850 ℃)."""

    furnace_mean_minutes: int = Field(default=5, ge=1)
    """Minutes each furnace-temperature mean covers (MEE Order No. 10: 5-minute means [R])."""

    furnace_max_below_per_day: int = Field(default=5, ge=0)
    """A day with more 5-minute means below the minimum than this is a violation of its own,
    未采取减少持久性有机污染物排放措施 (MEE Order No. 10: more than five a natural day [R])."""

    furnace_counts_toward_grading: bool = False
    """Whether a furnace-temperature breach day counts as an exceedance day in the 30-day grading
    (off: Order No. 10 makes it a violation of its own, not an exceedance) [D]."""

    screen_workers: int | None = Field(default=None, ge=1)
    """Processes that screen batches of devices in the database mode (the worker's hourly and
    nightly passes, ``offsite screen --from``, the demo); unset: one per core."""

    mark_late_after: float = 86400.0
    """Seconds after a mark's window began beyond which its filing counts as late (rule R16, [D])."""

    mark_active_share: float = 0.1
    """A stop mark is contradicted where flow exceeds this share of the outlet's normal (median)
    flow, or production power this share of the meter's rated power (rule R16, [D])."""

    mark_active_hours: int = 1
    """Hours of such activity inside a stop mark that make it contradicted (rule R16: overlap ≥ 1 h, [D])."""

    mark_takes_effect: Literal["approved", "filed"] = "approved"
    """When a mark leaves its hours out of exceedance judgement: once the county bureau approves it
    (``approved``), or as soon as it is filed (``filed``: pending marks count too; rejected never) [D]."""

    mark_decide_within: float = Field(default=72.0, gt=0)
    """Hours the bureau has to decide a filed mark; a pending mark past it is escalated to the city
    bureau, never approved by default [D]."""

    mark_escalate_every: float = Field(default=24.0, gt=0)
    """Hours after which a mark still pending past its deadline is escalated again; an escalation
    nobody could be told of is retried at the next run [D]."""

    mark_max_window: float = Field(default=744.0, gt=0)
    """Hours a mark's window may span at most (31 days [D]): a longer one is refused at filing."""

    mark_backdate_limit: float = Field(default=720.0, gt=0)
    """Hours before filing a mark's window may begin at the earliest (30 days [D]); its end may not
    lie beyond its decision deadline."""

    mark_caps_enforced: bool = True
    """Whether marked hours beyond the caps of the outlet's standard (``mark_caps_file``; GB 18485:
    ≤ 4 h a fault, ≤ 60 h a year [R]) stay judged; off: caps are only shown."""

    sms_mark_template: str = "SMS_MARK_OVERDUE"
    """Approved SMS template of an overdue-mark escalation (parameters ``unit``, ``mark``, ``deadline``)."""

    mark_kinds_file: Path | None = None
    """A TOML table of mark kinds used instead of the packaged one (``offsite/quality/data/mark_kinds.toml``)."""

    mark_caps_file: Path | None = None
    """A TOML table of per-standard caps on marked hours used instead of the packaged one
    (``offsite/quality/data/mark_caps.toml``)."""

    notify_timeout: float = 10.0
    """Seconds one delivery attempt may take."""

    notify_retry_base: float = 60.0
    """Seconds before the first retry; each further retry waits twice as long."""

    notify_retry_max: float = 3600.0
    """Longest wait between two attempts."""

    notify_max_attempts: int = 8
    """Attempts after which a message counts as failed (it stays in the outbox with every attempt)."""

    notify_daily_cap: int = 20
    """Messages one person receives on one channel per China day; the rest wait for a digest."""

    notify_group: bool = True
    """Messages due together for the same e-mail address or webhook go out as one."""

    notify_allow_loopback_http: bool = False
    """Allow plain ``http`` webhooks to this machine (localhost, 127.0.0.0/8, ::1) — for tests and
    local sinks. Off: every webhook must be ``https``, wherever it points."""

    @field_validator("data_dir", "secret_key_file", "gateway_spool_dir", "archive_witness_dir")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # resolved once, at start: a command started from another directory names the same files
        return None if path is None else path.expanduser().resolve()

    @property
    def key_file(self) -> Path:
        """The device-password key file in use."""
        return self.secret_key_file or self.data_dir / "device-passwords.key"

    @property
    def spool_dir(self) -> Path:
        """The gateway's spool directory in use."""
        return self.gateway_spool_dir or self.data_dir / "spool" / self.archive_writer


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def with_database_url(url: str | None) -> Settings:
    """The settings, with a ``--database-url`` option taking precedence when given."""
    base = get_settings()
    return base if url is None else base.model_copy(update={"database_url": url})
