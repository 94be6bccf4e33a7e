#!/usr/bin/env python3
"""Integration test runner.

Runs every t/integration/test_*.py module and every t/integration/test_*.sh
script (sorted by name), prints one line per case and ends with exactly

    N passed, M failed[, K skipped]

and a non-zero exit status when anything failed.

A module may define setup_module() returning a context (usually an Httpd or
Servers) and teardown_module(context); its cases are the functions named
test_* in source order, called with the context when setup_module exists.
After each case the runner asks the context for error-log problems
(context.end_case(expected)); any problem fails the case. Cases may carry
`expected_log` (patterns excused in the log) and `timeout` attributes, see
httpd_fixture.expect_log / httpd_fixture.timeout. Raising httpd_fixture.Skip
skips a case (or, from setup_module, the whole module).

A .sh script passes with exit 0, is skipped with exit 77, fails otherwise;
it gets B, HTTPD and PYTHON in its environment.

Usage: run.py [-k SUBSTRING] [-x] [FILE...]
"""

import argparse
import glob
import importlib
import inspect
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import httpd_fixture  # noqa: E402

DEFAULT_TIMEOUT = 120


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout("case exceeded its time limit")


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def report(self, name, outcome, seconds, detail=""):
        print("%-4s %s (%.1fs)%s" % (outcome, name, seconds,
                                      " -- " + detail if detail and outcome == "SKIP" else ""),
              flush=True)
        if outcome == "PASS":
            self.passed += 1
        elif outcome == "SKIP":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(name)
            if detail:
                print("\n".join("     | " + l for l in detail.rstrip().splitlines()), flush=True)


def cases_of(module):
    funcs = [f for n, f in vars(module).items()
             if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == module.__name__]
    return sorted(funcs, key=lambda f: (f.__code__.co_firstlineno, getattr(f, "case_order", 0)))


def run_with_timeout(func, args, seconds):
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        return func(*args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_module(path, results, keyword, stop_on_fail):
    modname = os.path.splitext(os.path.basename(path))[0]
    cases = None
    try:
        module = importlib.import_module(modname)
        cases = [c for c in cases_of(module) if not keyword or keyword in "%s::%s" % (modname, c.__name__)]
    except Exception:
        results.report(modname + "::<import>", "FAIL", 0, traceback.format_exc())
        return
    if not cases:
        return
    ctx = None
    has_setup = hasattr(module, "setup_module")
    if has_setup:
        t0 = time.time()
        try:
            ctx = run_with_timeout(module.setup_module, (), DEFAULT_TIMEOUT)
        except httpd_fixture.Skip as e:
            for c in cases:
                results.report("%s::%s" % (modname, c.__name__), "SKIP", 0, str(e))
            return
        except Exception:
            results.report(modname + "::<setup>", "FAIL", time.time() - t0, traceback.format_exc())
            for c in cases:
                results.report("%s::%s" % (modname, c.__name__), "FAIL", 0, "setup failed")
            return
    try:
        for case in cases:
            name = "%s::%s" % (modname, case.__name__)
            expected = getattr(case, "expected_log", ())
            t0 = time.time()
            outcome, detail = "PASS", ""
            if ctx is not None and hasattr(ctx, "begin_case"):
                ctx.begin_case()
            try:
                run_with_timeout(case, (ctx,) if has_setup else (),
                                 getattr(case, "timeout", DEFAULT_TIMEOUT))
            except httpd_fixture.Skip as e:
                outcome, detail = "SKIP", str(e)
            except Exception:
                outcome, detail = "FAIL", traceback.format_exc()
            if ctx is not None and hasattr(ctx, "end_case"):
                problems = ctx.end_case(expected)
                if problems:
                    outcome = "FAIL"
                    detail += "error log:\n" + "\n".join(problems)
            results.report(name, outcome, time.time() - t0, detail)
            if outcome == "FAIL" and stop_on_fail:
                break
    finally:
        t0 = time.time()
        detail = ""
        # crashes logged after the last case's scan (cleanup() checks shutdown)
        if ctx is not None and hasattr(ctx, "end_case"):
            problems = [p for p in ctx.end_case((), final=True)
                        if httpd_fixture.CRASH.search(p)]
            if problems:
                detail += "error log after the last case:\n" + "\n".join(problems) + "\n"
        try:
            if hasattr(module, "teardown_module"):
                module.teardown_module(ctx)
            elif ctx is not None and hasattr(ctx, "cleanup"):
                ctx.cleanup()
        except Exception:
            detail += traceback.format_exc()
        if detail:
            results.report(modname + "::<teardown>", "FAIL", time.time() - t0, detail)


def default_signals():
    """Scripts start with default signal dispositions even when this runner
    was started with SIGINT/SIGQUIT ignored (background jobs, some CI)."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def script_command(path):
    """The interpreter named by the script's #! line (sh without one)."""
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", "replace").strip()
    if first.startswith("#!"):
        return first[2:].split() + [path]
    return ["sh", path]


def run_script(path, results, keyword):
    name = os.path.basename(path)
    if keyword and keyword not in name:
        return
    env = dict(os.environ, B=httpd_fixture.build_dir(), HTTPD=httpd_fixture.httpd_binary(),
               PYTHON=sys.executable)
    t0 = time.time()
    try:
        p = subprocess.run(script_command(path), capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=DEFAULT_TIMEOUT * 2,
                           cwd=httpd_fixture.REPO, preexec_fn=default_signals)
        out = (p.stdout + p.stderr)[-6000:]
        if p.returncode == 0:
            results.report(name, "PASS", time.time() - t0)
        elif p.returncode == 77:
            results.report(name, "SKIP", time.time() - t0, out.strip().splitlines()[-1] if out.strip() else "")
        else:
            results.report(name, "FAIL", time.time() - t0, "exit %d\n%s" % (p.returncode, out))
    except subprocess.TimeoutExpired as e:
        results.report(name, "FAIL", time.time() - t0, "timed out\n%s" % (e.stdout or ""))


def main():
    ap = argparse.ArgumentParser(description="mod_auth_mutual integration tests")
    ap.add_argument("-k", dest="keyword", help="run only cases whose name contains this")
    ap.add_argument("-x", dest="stop", action="store_true", help="stop a module at its first failure")
    ap.add_argument("files", nargs="*", help="test files (default: all test_*.py and test_*.sh)")
    opts = ap.parse_args()
    files = opts.files or sorted(glob.glob(os.path.join(HERE, "test_*.py")) +
                                 glob.glob(os.path.join(HERE, "test_*.sh")))
    results = Results()
    t0 = time.time()
    for path in files:
        if path.endswith(".sh"):
            run_script(path, results, opts.keyword)
        else:
            run_module(path, results, opts.keyword, opts.stop)
    print("-- %.0fs" % (time.time() - t0))
    if results.failures:
        print("failed: " + ", ".join(results.failures))
    summary = "%d passed, %d failed" % (results.passed, results.failed)
    if results.skipped:
        summary += ", %d skipped" % results.skipped
    print(summary)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
