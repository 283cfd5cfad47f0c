"""Notifications: an outbox delivered by e-mail, webhooks and SMS with retries, caps and digests."""
