#!/bin/bash
# provision.sh -- give one guest of one tenant its own credentials and queues on the bed in DIR.
#
# Usage: tools/rabbitmq/provision.sh DIR TENANT GUEST [--password PW]
#   TENANT, GUEST: 1-64 of [A-Za-z0-9_-], starting with a letter or digit (no dots and no regex
#   metacharacters, so a name can never widen the permission patterns built from it).
#
# Creates, in one rabbitmqctl import_definitions (one CLI start instead of five):
#   vhost    TENANT (one per tenant: another tenant's credentials cannot even open it); the bed's
#            administrator gets all permissions on it
#   user     TENANT.GUEST, no tags, password PW or a fresh random one
#   queues   ga.GUEST.commands, ga.GUEST.queries (status, cancel and ping: the agent's amqp.query-queue)
#            and ga.GUEST.replies: classic, durable, declared now so that a command published
#            before the guest first connects is kept
#   exchanges ga.GUEST.commands, ga.GUEST.queries and ga.GUEST.replies (direct, durable), each bound to the queue
#            of the same name with that name as the routing key: the only way in for a guest,
#            see below
#   permissions of TENANT.GUEST on TENANT: configure, write and read all ^ga\.GUEST\.(commands|queries|replies)$
#            Queues and exchanges are matched by name, so the guest may declare, delete, bind,
#            consume from and publish to its own three queues and three exchanges and nothing else.
#            Publishing to the default exchange needs write on "amq.default", which the pattern
#            does not match: without that, any user of the vhost could publish straight into any
#            queue of the vhost (the default exchange routes to every queue by name).
# Prints KEY=value lines: RABBITMQ_VHOST RABBITMQ_USER RABBITMQ_PASSWORD RABBITMQ_PERMISSION
#   COMMAND_QUEUE QUERY_QUEUE REPLY_QUEUE COMMAND_EXCHANGE QUERY_EXCHANGE REPLY_EXCHANGE. Provisioning again is harmless
#   (the user's password is set anew; queues and their messages stay).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: provision.sh RUN_DIR TENANT GUEST [--password PW]}"
TENANT="${2:?usage: provision.sh RUN_DIR TENANT GUEST [--password PW]}"
GUEST="${3:?usage: provision.sh RUN_DIR TENANT GUEST [--password PW]}"
shift 3
PASSWORD=""
while (( $# )); do
    case "$1" in
        --password) PASSWORD="$2"; shift 2;;
        *) echo "provision.sh: unknown argument $1" >&2; exit 2;;
    esac
done
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'
[[ "$TENANT" =~ $NAME_RE && "$GUEST" =~ $NAME_RE ]] || { echo "provision.sh: TENANT and GUEST must match $NAME_RE" >&2; exit 2; }
[[ -n "$PASSWORD" ]] || PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DIR="$(cd "$DIR" && pwd)"
# shellcheck source=common.sh
source "$HERE/common.sh"
load_env

DEFS="$(mktemp "$DIR/provision.XXXXXX.json")"
trap 'rm -f "$DEFS"' EXIT
# The user's password goes in as RabbitMQ's own salted SHA-256 hash (4 random salt bytes, then
# sha256(salt + password), base64), so the definitions file never holds the password itself.
TENANT="$TENANT" GUEST="$GUEST" PASSWORD="$PASSWORD" ADMIN="$ADMIN_USER" /usr/bin/python3 - > "$DEFS" <<'PY'
import base64, hashlib, json, os
t, g, pw, admin = os.environ["TENANT"], os.environ["GUEST"], os.environ["PASSWORD"], os.environ["ADMIN"]
salt = os.urandom(4)
h = base64.b64encode(salt + hashlib.sha256(salt + pw.encode()).digest()).decode()
names = [f"ga.{g}.commands", f"ga.{g}.queries", f"ga.{g}.replies"]
perm = rf"^ga\.{g}\.(commands|queries|replies)$"
print(json.dumps({
    "vhosts": [{"name": t}],
    "users": [{"name": f"{t}.{g}", "password_hash": h, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}],
    "permissions": [
        {"user": f"{t}.{g}", "vhost": t, "configure": perm, "write": perm, "read": perm},
        {"user": admin, "vhost": t, "configure": ".*", "write": ".*", "read": ".*"},
    ],
    "queues": [{"name": n, "vhost": t, "durable": True, "auto_delete": False, "arguments": {}} for n in names],
    "exchanges": [{"name": n, "vhost": t, "type": "direct", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": {}} for n in names],
    "bindings": [{"source": n, "vhost": t, "destination": n, "destination_type": "queue",
                  "routing_key": n, "arguments": {}} for n in names],
}))
PY
ctl import_definitions "$DEFS" >/dev/null
cat <<ENV
RABBITMQ_VHOST=$TENANT
RABBITMQ_USER=$TENANT.$GUEST
RABBITMQ_PASSWORD=$PASSWORD
RABBITMQ_PERMISSION=^ga\\.$GUEST\\.(commands|queries|replies)\$
COMMAND_QUEUE=ga.$GUEST.commands
QUERY_QUEUE=ga.$GUEST.queries
REPLY_QUEUE=ga.$GUEST.replies
COMMAND_EXCHANGE=ga.$GUEST.commands
QUERY_EXCHANGE=ga.$GUEST.queries
REPLY_EXCHANGE=ga.$GUEST.replies
ENV
