"""The harness itself, against a plain apache2 without our module: the log
scan really catches error lines and crashed children, expected tags excuse
error lines, a graceful restart starts a new generation, and stop() leaves
no process behind."""

import os
import signal
import time

from httpd_fixture import Httpd

CONF = """
<Location "/denied/">
    Require all denied
</Location>
"""


def setup_module():
    h = Httpd("fixture", conf=CONF, with_mutual=False)
    h.write_file("denied/index.html", "never\n")
    return h.start()


def teardown_module(h):
    h.cleanup()


def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # field 4 of stat: ppid
                kids.append(int(entry))
    return kids


def test_static_request(h):
    r = h.get("/alive.txt")
    assert r.status == 200 and r.body == b"alive\n", r


def test_error_lines_fail_unless_expected(h):
    r = h.get("/denied/index.html")
    assert r.status == 403, r
    problems = h.end_case()
    assert any("AH01630" in p for p in problems), problems
    assert h.get("/denied/index.html").status == 403
    assert h.end_case(expected=("AH01630",)) == []


def test_crashed_child_is_detected(h):
    kids = children_of(h.proc.pid)
    assert kids, "no children"
    os.kill(kids[0], signal.SIGSEGV)
    deadline = time.time() + 10
    problems = []
    while time.time() < deadline and not problems:
        time.sleep(0.2)
        problems = h.end_case(expected=("AH00052", "exit signal"))  # crashes are never excused
    assert any("exit signal Segmentation fault" in p for p in problems), problems


def test_graceful_restart_new_generation(h):
    before = h.count_log("resuming normal operations")
    h.graceful()
    assert h.count_log("resuming normal operations") == before + 1
    assert h.get("/alive.txt").status == 200


def test_stop_leaves_no_process(h):
    other = Httpd("fixture-stop", with_mutual=False, mpm="prefork").start()
    pgid = other.proc.pid
    assert children_of(pgid)
    other.cleanup()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return
    raise AssertionError("processes left in group %d" % pgid)
