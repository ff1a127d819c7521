#!/usr/bin/env bash
# PostgreSQL's server binaries for the distributed suite, from Debian's packages, when they are missing.
# The package must not start a server of its own (the suite starts and stops its own, on a free port):
# a policy-rc.d that refuses every start is in place while it installs, unless the machine has one already.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL's server is not installed; as root: apt-get install postgresql" >&2
    exit 1
fi
policy=/usr/sbin/policy-rc.d
ours=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    ours=1
fi
trap '[ -n "$ours" ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
