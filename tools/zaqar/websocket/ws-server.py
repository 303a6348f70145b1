#!/usr/bin/python3
"""Zaqar 15's WebSocket server (zaqar-server with the websocket transport), fixed in-process.

Usage: /usr/bin/python3 ws-server.py --config-file ZAQAR_CONF --config-file WS_OVERLAY_CONF

Debian 12's zaqar 15 needs two fixes here; both are applied to this process only, by running a
patched copy of the module's source under its real name (no system file changes):
  ws-py311.diff           the server does not start on Python 3.11: driver.listen() hands a bare
                          coroutine to asyncio.wait(); gather() wraps it and also fails start-up
                          when a port cannot be bound.
  redis-expired-sub.diff  the first subscription_create on a queue after one of its
                          subscriptions expired answers 500 (_is_duplicated_subscriber reads the
                          expired record).
Each fix names the exact text it replaces: if a later zaqar changes it, the server refuses to
start instead of running unfixed.
"""
import importlib
import sys

FIXES = [
    ("zaqar.transport.websocket.driver",
     "loop.run_until_complete(asyncio.wait([coro, task]))",
     "loop.run_until_complete(asyncio.gather(coro, task))"),
    ("zaqar.storage.redis.subscriptions",
     "                    self._client.zrem(subset_key, s_id)\n"
     "                if encodeutils",
     "                    self._client.zrem(subset_key, s_id)\n"
     "                    continue\n"
     "                if encodeutils"),
]


def apply_fix(name, old, new):
    module = importlib.import_module(name)
    with open(module.__file__, encoding="utf-8") as f:
        source = f.read()
    if source.count(old) != 1:
        sys.exit(f"ws-server.py: {module.__file__} does not hold the text this fix replaces; "
                 "this zaqar is not the one the bed knows")
    before = dict(vars(module))
    # Re-run the fixed source in the module's own namespace, then point every alias taken at
    # import time (the package's Driver, the redis controllers' SubscriptionController) at the
    # fixed objects.
    exec(compile(source.replace(old, new), module.__file__, "exec"), vars(module))
    replaced = {id(v): vars(module)[k] for k, v in before.items()
                if k in vars(module) and vars(module)[k] is not v and isinstance(v, type)}
    for other in list(sys.modules.values()):
        if other is None or not getattr(other, "__name__", "").startswith("zaqar"):
            continue
        for attr, value in list(vars(other).items()):
            if id(value) in replaced:
                setattr(other, attr, replaced[id(value)])


for fix in FIXES:
    apply_fix(*fix)

sys.argv[0] = "zaqar-server"
from zaqar.cmd import server  # noqa: E402
sys.exit(server.run())
