"""Prometheus metrics of one gateway: connections, packets by outcome, ack latency, spool depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("offsite_gateway_connections", "Open device connections", registry=self.registry)
        self.packets = Counter(
            "offsite_gateway_packets", "Packets received, by outcome", ["outcome"], registry=self.registry
        )
        self.ack_latency = Histogram(
            "offsite_gateway_ack_latency_seconds",
            "From a packet's arrival to its durable write (when its ack can be sent)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.spool_depth = Gauge(
            "offsite_gateway_spool_depth", "Packets waiting in the spool for the database", registry=self.registry
        )
        self.overdue = Counter(
            "offsite_gateway_overdue_writes",
            "Archive writes the database did not answer by the ack deadline (their packets were spooled)",
            registry=self.registry,
        )
        self.tampered = Counter(
            "offsite_gateway_foreign_chain_writes",
            "Writes refused because the archive chain holds records this gateway did not write (spooled)",
            registry=self.registry,
        )
        self.quarantined = Counter(
            "offsite_gateway_quarantined_packets",
            "Packets the archive refused even without their header fields, kept in the quarantine spool",
            registry=self.registry,
        )
        self.unstorable = Counter(
            "offsite_gateway_unstorable_packets",
            "Packets the archive refused as received, archived without their header fields",
            registry=self.registry,
        )
        self.incomplete = Counter(
            "offsite_gateway_incomplete_messages",
            "Split messages whose parts did not all arrive in time",
            registry=self.registry,
        )
        self.unreplied = Counter(
            "offsite_gateway_unreplied_packets",
            "Packets archived but not answered because their reply could not be encoded",
            registry=self.registry,
        )
        self.unarchived = Counter(
            "offsite_gateway_unarchived_frames",
            "Frames folded into a connection's junk summary instead of being archived one by one",
            registry=self.registry,
        )
        self.command_writes_dropped = Counter(
            "offsite_gateway_command_writes_dropped",
            "Platform command rows (and the requests waiting for theirs) dropped: too many waited for the database",
            registry=self.registry,
        )
        self.closed = Counter(
            "offsite_gateway_closed_connections",
            "Connections closed by the gateway, by reason",
            ["reason"],
            registry=self.registry,
        )
