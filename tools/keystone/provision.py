#!/usr/bin/python3
"""Provision the keystone bed over the v3 API (run by start.sh after bootstrap).

Creates, in the default domain:
  role    service            (member, reader and admin come from keystone-manage bootstrap)
  project tenant-a, tenant-b, service
  user    user-a  (member on tenant-a), user-b (member on tenant-b),
          zaqar   (service on service: enough for keystonemiddleware to validate
                   user tokens; it is NOT admin)
  service zaqar (type messaging) with public/internal/admin endpoints

Reads from the environment: KEYSTONE_URL (..../v3), ZAQAR_URL, ADMIN_PASSWORD,
TENANT_A_PASSWORD, TENANT_B_PASSWORD, ZAQAR_SERVICE_PASSWORD.
Expects the fresh database start.sh has just bootstrapped. Prints KEY=VALUE
lines (the ids) for the bed's env file. Fails loudly on any HTTP error.
Stdlib only: run it with Debian's /usr/bin/python3 like the rest.
"""
import json
import os
import sys
import urllib.error
import urllib.request

KS = os.environ["KEYSTONE_URL"].rstrip("/")
DOMAIN = "default"


def call(method, path, body=None, token=None, expect=(200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(KS + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, headers, text = resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, text = e.code, e.headers, e.read().decode(errors="replace")
    if status not in expect:
        sys.exit(f"provision.py: {method} {path} -> HTTP {status}: {text[:500]}")
    return headers, (json.loads(text) if text.strip() else {})


def admin_token():
    headers, _ = call("POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": DOMAIN}, "password": os.environ["ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": DOMAIN}}}}})
    return headers["X-Subject-Token"]


def main():
    tok = admin_token()

    def create(collection, body):
        _, made = call("POST", f"/{collection}", body, token=tok)
        return next(iter(made.values()))["id"]

    # start.sh provisions a fresh database: create, do not look up (except
    # what bootstrap made: the admin project and the member role).
    _, found = call("GET", "/roles?name=member", token=tok)
    member = found["roles"][0]["id"]
    service_role = create("roles", {"role": {"name": "service"}})
    _, found = call("GET", f"/projects?name=admin&domain_id={DOMAIN}", token=tok)
    ids = {"admin": found["projects"][0]["id"]}
    for name in ("tenant-a", "tenant-b", "service"):
        ids[name] = create("projects", {"project": {
            "name": name, "domain_id": DOMAIN, "description": "GuestAgent keystone bed"}})
    users = {
        "user-a": ("tenant-a", member, os.environ["TENANT_A_PASSWORD"]),
        "user-b": ("tenant-b", member, os.environ["TENANT_B_PASSWORD"]),
        "zaqar": ("service", service_role, os.environ["ZAQAR_SERVICE_PASSWORD"]),
    }
    user_ids = {}
    for user, (project, role, password) in users.items():
        uid = create("users", {"user": {
            "name": user, "domain_id": DOMAIN, "default_project_id": ids[project], "password": password}})
        call("PUT", f"/projects/{ids[project]}/users/{uid}/roles/{role}", token=tok)
        user_ids[user] = uid

    # Catalog entry for Zaqar (keystonemiddleware does not need it; clients may).
    service = create("services", {"service": {
        "name": "zaqar", "type": "messaging", "description": "GuestAgent bed Zaqar"}})
    for interface in ("public", "internal", "admin"):
        create("endpoints", {"endpoint": {
            "service_id": service, "interface": interface,
            "region_id": "RegionOne", "url": os.environ["ZAQAR_URL"]}})

    print(f"ADMIN_PROJECT_ID={ids['admin']}")
    print(f"TENANT_A_PROJECT_ID={ids['tenant-a']}")
    print(f"TENANT_A_USER_ID={user_ids['user-a']}")
    print(f"TENANT_B_PROJECT_ID={ids['tenant-b']}")
    print(f"TENANT_B_USER_ID={user_ids['user-b']}")
    print(f"SERVICE_PROJECT_ID={ids['service']}")


if __name__ == "__main__":
    main()
