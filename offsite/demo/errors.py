"""The demo's one error: it cannot start or go on, and the message says why and what to do."""


class DemoError(RuntimeError):
    pass
