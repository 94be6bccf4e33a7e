#!/bin/sh
# Fails when the module exports any dynamic symbol but its module record.
# httpd loads modules with RTLD_GLOBAL, so a stray C++ symbol (an inline
# function, a template instance, OpenSSL code linked in) could collide with
# another module's; module.map and -fvisibility=hidden keep them local.
# Usage: module_exports.sh path/to/mod_auth_mutual.so
set -eu
so=${1:?usage: module_exports.sh MODULE.so}
[ -f "$so" ] || { echo "module_exports: $so does not exist" >&2; exit 1; }
exports=$(nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | sort)
if [ "$exports" != "auth_mutual_module" ]; then
    echo "module_exports: $so must export only auth_mutual_module; it exports:" >&2
    printf '%s\n' "$exports" | sed 's/^/  /' >&2
    exit 1
fi
echo "module exports: auth_mutual_module only"
