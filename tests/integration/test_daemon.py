"""The smtpsink binary as a program: flags, environment, ready file,
readiness line, logs, --print, signals."""
import json
import os
import resource
import signal
import smtplib
import subprocess
import time

import pytest

from conftest import HARNESS_WAIT, SMTPSINK_BIN, VALGRIND, Sink

# valgrind takes 12 descriptors of the sink's limit for itself (300 -> 288)
# and keeps the soft limit it started with
VALGRIND_FDS = pytest.mark.skipif(VALGRIND, reason="valgrind changes the descriptor limits")


def run(*args, env=None, timeout=HARNESS_WAIT):
    """The binary run to its end; the harness's wait (10 s, 60 s under valgrind)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([SMTPSINK_BIN, *args], capture_output=True, timeout=timeout, env=e)


def test_help_lists_every_flag_with_its_env_var():
    r = run("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for flag, env in [("--smtp-listen", "SMTPSINK_SMTP_LISTEN"), ("--max-message-size", "SMTPSINK_MAX_MESSAGE_SIZE"),
                      ("--max-messages", "SMTPSINK_MAX_MESSAGES"), ("--max-bytes", "SMTPSINK_MAX_BYTES"),
                      ("--max-sessions", "SMTPSINK_MAX_SESSIONS"), ("--idle-timeout", "SMTPSINK_IDLE_TIMEOUT"),
                      ("--print", "SMTPSINK_PRINT"), ("--log-format", "SMTPSINK_LOG_FORMAT"),
                      ("--ready-file", "SMTPSINK_READY_FILE"), ("--grpc-listen", "SMTPSINK_GRPC_LISTEN"),
                      ("--no-pipelining", "SMTPSINK_NO_PIPELINING"), ("--no-chunking", "SMTPSINK_NO_CHUNKING")]:
        assert flag in out and env in out, flag


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.decode().startswith("smtpsink ")


def test_bad_flag_and_bad_value_exit_2_with_a_message():
    r = run("--no-such-flag")
    assert r.returncode == 2
    assert b"no-such-flag" in r.stderr
    r = run("--max-message-size", "lots")
    assert r.returncode == 2
    assert b"lots" in r.stderr
    r = run(env={"SMTPSINK_IDLE_TIMEOUT": "never"})
    assert r.returncode == 2
    assert b"SMTPSINK_IDLE_TIMEOUT" in r.stderr


def test_port_in_use_is_a_clear_startup_error(sink):
    r = run("--smtp-listen", sink.smtp_addr, "--grpc-listen", "off")
    assert r.returncode == 1
    assert sink.smtp_addr.encode() in r.stderr or b"in use" in r.stderr.lower()


def test_issue_8_ports_out_of_range_are_refused_not_wrapped():
    # 99999 used to listen on 34463, 70000 on 4464
    r = run("--smtp-listen", "127.0.0.1:99999", "--grpc-listen", "off")
    assert r.returncode == 1
    assert b"127.0.0.1:99999" in r.stderr and b"0-65535" in r.stderr
    r = run("--smtp-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:70000")
    assert r.returncode == 1
    assert b"127.0.0.1:70000" in r.stderr and b"0-65535" in r.stderr


def test_issue_8_grpc_port_in_use_is_one_clear_line(sink):
    r = run("--smtp-listen", "127.0.0.1:0", "--grpc-listen", sink.grpc_addr)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "cannot listen on %s" % sink.grpc_addr in err
    assert "UNKNOWN" not in err and "grpc_status" not in err, err   # no gRPC error blob


def test_issue_8_unwritable_ready_file_is_named(tmp_path):
    path = tmp_path / "missing-dir" / "ready.json"
    r = run("--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off", "--ready-file", str(path))
    assert r.returncode == 1
    assert ("ready file %s:" % path).encode() in r.stderr
    assert b".tmp." not in r.stderr


def test_ready_file_and_readiness_line(sink):
    host, port = sink.smtp_host, sink.smtp_port
    assert host == "127.0.0.1" and port > 0
    assert sink.ready["smtp_addresses"] == [sink.smtp_addr]
    line = sink.proc.stdout.readline().decode()
    assert line.startswith("smtpsink ready ")
    assert "smtp=%s" % sink.smtp_addr in line
    if sink.grpc_addr:
        assert "grpc=%s" % sink.grpc_addr in line


def test_ready_file_escapes_the_addresses(sink_factory, tmp_path):
    # a quote or a backslash in the gRPC socket path made the file invalid JSON
    path = "unix:%s" % (tmp_path / 'g"rpc\\.sock')
    s = sink_factory("--grpc-listen", path)       # Sink json.load()s the file
    assert s.ready["grpc"] == path


def test_two_listeners_ipv4_and_ipv6(sink_factory):
    s = sink_factory("--smtp-listen", "127.0.0.1:0", "--smtp-listen", "[::1]:0", grpc=False)
    addrs = s.ready["smtp_addresses"]
    assert len(addrs) == 2
    assert addrs[0].startswith("127.0.0.1:")
    assert addrs[1].startswith("[::1]:")
    for a in addrs:
        host, _, port = a.rpartition(":")
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=5) as c:
            assert c.noop()[0] == 250
    assert s.stop()[0] == 0


def test_env_configures_the_listener(sink_factory):
    s = sink_factory("--smtp-listen", "127.0.0.1:0", grpc=False, env={"SMTPSINK_HOSTNAME": "mx.test.example"})
    c = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=5)
    code, msg = c.ehlo("client.example")
    assert code == 250
    assert msg.decode().startswith("mx.test.example")
    c.quit()
    assert s.stop()[0] == 0


def test_json_logs_are_one_object_per_line(sink_factory):
    s = sink_factory("--log-format", "json", grpc=False)
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=5) as c:
        c.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nhi\r\n")
    assert s.stop()[0] == 0
    lines = [l for l in s.stderr().splitlines() if l.strip()]
    assert lines
    events = [json.loads(l) for l in lines]
    for e in events:
        assert "time" in e and "level" in e and "event" in e
    assert any(e.get("event") == "message stored" and e.get("id") == "1" for e in events), lines


def test_print_writes_debuggingserver_format(sink_factory):
    s = sink_factory("--print", grpc=False)
    body = b"From: a@example.com\r\nSubject: printed\r\n\r\nline one\r\nline two\r\n"
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=5) as c:
        c.sendmail("a@example.com", ["b@example.com", "c@example.com"], body)
    rc, out = s.stop()
    assert rc == 0
    text = out.decode()
    start = text.index("---------- MESSAGE FOLLOWS ----------")
    end = text.index("------------ END MESSAGE ------------")
    block = text[start:end].splitlines()
    # the envelope, with the ESMTP parameters smtplib sent (SIZE=...)
    assert any(l == "mail from: <a@example.com>" or l.startswith("mail from: <a@example.com> SIZE=") for l in block), block
    assert "rcpt to: <b@example.com>" in block and "rcpt to: <c@example.com>" in block
    i = block.index("Subject: printed")
    assert block[i + 1] == "X-Peer: 127.0.0.1"
    assert block[i + 2] == ""
    assert block[i + 3:i + 5] == ["line one", "line two"]


def test_sigint_and_sigterm_exit_0_promptly(sink_factory):
    for sig in (signal.SIGINT, signal.SIGTERM):
        s = sink_factory(grpc=False)
        t0 = time.monotonic()
        rc, _ = s.stop(sig)
        assert rc == 0
        assert time.monotonic() - t0 < 3


def test_sigterm_lets_a_transaction_in_flight_finish(sink_factory):
    s = sink_factory("--shutdown-grace", "5", grpc=False)
    c = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10)
    c.ehlo()
    c.mail("a@example.com")
    c.rcpt("b@example.com")
    code, _ = c.docmd("DATA")
    assert code == 354
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert s.proc.poll() is None, "exited with a transaction in flight"
    c.send(b"second half\r\n.\r\n")
    code, msg = c.getreply()
    assert code == 250, msg
    # after its transaction the session is told the service is closing
    code, msg = c.docmd("NOOP")
    assert code == 421
    rc, _ = s.stop()
    assert rc == 0


def test_idle_client_that_never_closes_does_not_hold_up_the_exit(sink_factory):
    # a connection pool keeps idle sessions open; on SIGTERM they get 421 and
    # the sink exits without waiting out the 2 s lingering close
    s = sink_factory(grpc=False)
    idle = s.connect()
    assert idle.recv(512).startswith(b"220 ")
    t0 = time.monotonic()
    rc, _ = s.stop(signal.SIGTERM)
    assert rc == 0
    assert time.monotonic() - t0 < 1.5
    idle.settimeout(2)
    assert idle.recv(512).startswith(b"421 4.3.2")
    idle.close()


def _soft_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open files limit")


@VALGRIND_FDS
def test_issue_8_descriptor_limit_is_raised_for_max_sessions():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 10000 + 64                       # default --max-sessions + reserve
    if hard != resource.RLIM_INFINITY and hard < want:
        import pytest
        pytest.skip("hard descriptor limit %d is below %d" % (hard, want))

    def low_soft():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    p = subprocess.Popen([SMTPSINK_BIN, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=low_soft)
    try:
        assert p.stdout.readline().startswith(b"smtpsink ready ")
        assert _soft_limit(p.pid) >= want
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)


@VALGRIND_FDS
def test_issue_8_max_sessions_lowered_to_fit_the_descriptors():
    def tight():
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))
    p = subprocess.Popen([SMTPSINK_BIN, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=tight)
    assert p.stdout.readline().startswith(b"smtpsink ready ")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0
    assert b"max_sessions lowered to 236: descriptor limit 300" in err


def test_issue_8_startup_failure_is_logged_as_an_error():
    r = run("--smtp-listen", "127.0.0.1:99999", "--grpc-listen", "off")
    assert r.returncode == 1
    lines = [x for x in r.stderr.decode().splitlines() if "startup failed" in x]
    assert lines and " error startup failed " in lines[0], lines
