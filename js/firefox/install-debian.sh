#!/bin/sh
# Installs the extension for every user of Debian's firefox-esr, the way
# Debian's webext-* packages do: the unpacked extension in /usr/share/webext/,
# a symlink named by its ID in Firefox's system extension directory, and a
# preference file in /etc/firefox-esr/. Run as root from js/ after `npm ci`:
#   sh firefox/install-debian.sh            install (or update)
#   sh firefox/install-debian.sh --remove   uninstall
# The build is unsigned: firefox-esr (unlike release Firefox) honours
# xpinstall.signatures.required=false, which the preference file sets. With
# an AMO-signed .xpi (js/README.md, "Signing") that line can be dropped.
set -eu
cd "$(dirname "$0")/.."
ID="mutual-auth@mod-auth-mutual.invalid"
FIREFOX_APP_ID="{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"
DEST=/usr/share/webext/mutual-auth-firefox
LINK="/usr/share/mozilla/extensions/$FIREFOX_APP_ID/$ID"
PREFS=/etc/firefox-esr/mutual-auth.js

if [ "${1:-}" = "--remove" ]; then
    rm -f "$LINK" "$PREFS"
    rm -rf "$DEST"
    rmdir /usr/share/webext 2>/dev/null || true
    echo "removed $DEST, $LINK, $PREFS"
    exit 0
fi
[ -d node_modules/@noble/curves ] || npm ci --no-audit --no-fund --loglevel=error
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
node firefox/build.mjs --out "$staging/firefox" >/dev/null
rm -rf "$DEST"
install -d "$(dirname "$DEST")" "$(dirname "$LINK")" "$(dirname "$PREFS")"
cp -r "$staging/firefox" "$DEST"
chmod -R u=rwX,go=rX "$DEST"
ln -sfn "$DEST" "$LINK"
cat > "$PREFS" <<'PREFS_EOF'
// HTTP Mutual authentication extension (mod_auth_mutual js/firefox).
// An unsigned extension: ESR honours this; drop it for an AMO-signed build.
pref("xpinstall.signatures.required", false);
// Extensions in the system scope (/usr/share/mozilla/extensions, writable by
// root only) start enabled instead of waiting for each user to enable them.
pref("extensions.autoDisableScopes", 7);
PREFS_EOF
chmod 644 "$PREFS"
echo "installed $DEST, linked as $LINK, preferences in $PREFS"
echo "restart firefox-esr; the key icon appears in the toolbar"
