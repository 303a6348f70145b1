#!/usr/bin/python3
"""Garbage-collector loop for Zaqar 15.0.0 with the Redis store.

Why: Zaqar never garbage-collects by itself, and /usr/bin/zaqar-gc is a
no-op in 15.0.0 (it calls Bootstrap.storage.gc(), but storage is a
pipeline.DataDriver, which does not forward gc() to the Redis driver, so
DataDriverBase.gc() -- "does nothing" -- runs). Without GC, once a claim
EXPIRES (instead of being released) its id stays in <project>.<queue>.claims
while its hash is gone, and then GET/PATCH/DELETE of that claim and
GET /v2/queues/<q>/stats answer 503 (TypeError on None).

This calls the Redis DataDriver's own gc() (MessageController.gc(), which
also runs ClaimController._gc() per queue) every INTERVAL seconds, in one
long-lived process.

Usage: gc-loop.py --config-file zaqar.conf [--interval 5] [--once]
"""
import argparse
import sys
import time

from oslo_config import cfg
from oslo_log import log

from zaqar import bootstrap

parser = argparse.ArgumentParser()
parser.add_argument('--config-file', required=True)
parser.add_argument('--interval', type=float, default=5.0)
parser.add_argument('--once', action='store_true')
args = parser.parse_args()

conf = cfg.CONF
log.register_options(conf)
conf(project='zaqar', prog='zaqar-gc-loop',
     args=['--config-file', args.config_file])
log.setup(conf, 'zaqar')

storage = bootstrap.Bootstrap(conf).storage
driver = getattr(storage, '_storage', storage)     # unwrap the pipeline

while True:
    try:
        removed = driver.message_controller.gc()
        if removed:
            print('gc: removed %s expired message ids' % removed, flush=True)
    except Exception as exc:                          # keep looping
        print('gc failed: %r' % (exc,), file=sys.stderr, flush=True)
    if args.once:
        break
    time.sleep(args.interval)
