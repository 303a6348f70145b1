#!/bin/bash
# validate.sh FILE... -- checks cloud-init user-data with Debian's cloud-init schema check
# (`cloud-init schema --config-file FILE`, run by /usr/bin/python3 from the package unpacked by
# tools/cloud-init/install.sh). Exit 0 when every file is valid; otherwise 1, with cloud-init's
# reasons. Without FILE: tools/cloud-init/user-data.example.yaml.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(( $# )) || set -- "$HERE/user-data.example.yaml"
dir="$("$HERE/install.sh")"
status=0
for f in "$@"; do
    if PYTHONPATH="$dir/usr/lib/python3/dist-packages" /usr/bin/python3 "$dir/usr/bin/cloud-init" schema --config-file "$f"; then
        :
    else
        status=1
    fi
done
exit "$status"
