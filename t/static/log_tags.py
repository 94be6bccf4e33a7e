#!/usr/bin/env python3
"""Fails when a log tag literal ("MUTnnnnn") appears at more than one place.

Every log call site has its own tag, so a tag names one line of code that
tests and fail2ban can match (docs/security.md). The scan covers the module
(mod_auth_mutual.c++), the core, client and tools (src/) and the benchmarks
(bench/): every string literal "MUT" + five digits counts, comments do not.

t/static/log-tags-allowed.txt lists known repeats being fixed (one tag a
line, '#' comments); a listed tag that is no longer repeated fails too, so
the list only shrinks.

Usage: log_tags.py [SRCDIR]
"""
import os
import re
import sys

TAG = re.compile(r'"(MUT[0-9]{5})"')
SCANNED = ("mod_auth_mutual.c++", "src", "bench")
EXTENSIONS = (".c++", ".h", ".cc", ".c")


def strip_comments(text):
    """Removes // and /* */ comments, keeping string literals intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def files(root):
    for entry in SCANNED:
        path = os.path.join(root, entry)
        if os.path.isfile(path):
            yield path
        for directory, _, names in os.walk(path):
            for name in sorted(names):
                if name.endswith(EXTENSIONS):
                    yield os.path.join(directory, name)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    sites = {}
    for path in files(root):
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        for match in TAG.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            rel = os.path.relpath(path, root)
            sites.setdefault(match.group(1), []).append("%s:%d" % (rel, line))

    allowed = set()
    with open(os.path.join(root, "t/static/log-tags-allowed.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                allowed.add(line)

    status = 0
    for tag in sorted(sites):
        if len(sites[tag]) > 1 and tag not in allowed:
            print("log tag %s is used at %d places: %s" % (tag, len(sites[tag]), ", ".join(sites[tag])))
            status = 1
    for tag in sorted(allowed):
        if len(sites.get(tag, [])) <= 1:
            print("log tag %s is listed in t/static/log-tags-allowed.txt but no longer repeated:"
                  " remove it from the list" % tag)
            status = 1
    if len(sites) == 0:
        print("no log tags found under %s: wrong directory?" % root)
        status = 1
    if status == 0:
        print("log tags: %d tags, each at one call site (%d known repeats allowed)"
              % (len(sites), len(allowed)))
    return status


if __name__ == "__main__":
    sys.exit(main())
