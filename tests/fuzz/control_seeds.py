#!/usr/bin/python3
"""Writes the seed corpus of fuzz_control (tests/fuzz/corpus/fuzz_control/).

Run from the top of the tree after a build, with Debian's python3 (it imports
the stubs generated in build/gen/python): tests/fuzz/control_seeds.py [BUILD].
The input format is fuzz_control.c's: a settings byte, then per call a
method index, a flags byte, a 2-byte little-endian length and the request.
"""
import os
import struct
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
sys.path.insert(0, os.path.join(build, "gen", "python"))
from smtpsink.v1 import smtpsink_pb2 as pb  # noqa: E402
import health_pb2  # noqa: E402

# Indexes into control_rpc.c's method table
LIST, GET, WAIT, WATCH, CLEAR, SETRULE, LISTRULES, DELRULE, INFO, HCHECK, HWATCH, UNKNOWN = range(12)
NO_MSG, DEADLINE, FLIP, STORE, SHUTDOWN = 0x01, 0x02, 0x04, 0x08, 0x10


def call(method, req, flags=0):
    data = req if isinstance(req, bytes) else req.SerializeToString()
    return bytes([method, flags]) + struct.pack("<H", len(data)) + data


F = pb.Filter
SEEDS = {
    "list_all": [call(LIST, pb.ListMessagesRequest())],
    "list_filter": [call(LIST, pb.ListMessagesRequest(filter=F(mail_from="*@example.com", subject="h*"), limit=1, include_raw=True))],
    "list_body_header": [call(LIST, pb.ListMessagesRequest(filter=F(body="*text*", header_name="subject", header_value="*", after_id=1)))],
    "list_bad_glob": [call(LIST, pb.ListMessagesRequest(filter=F(rcpt_to="[abc")))],
    "list_small_max": [call(LIST, pb.ListMessagesRequest(include_raw=True))],
    "get": [call(GET, pb.GetMessageRequest(id=2, include_raw=True, include_attachments=True))],
    "get_missing": [call(GET, pb.GetMessageRequest(id=99))],
    "wait_satisfied": [call(WAIT, pb.WaitForMessagesRequest(filter=F(subject="hello"), count=1))],
    "wait_parked": [call(WAIT, pb.WaitForMessagesRequest(count=5, include_raw=True), STORE),
                    call(INFO, pb.GetServerInfoRequest(), STORE)],
    "wait_timeout_zero": [call(WAIT, pb.WaitForMessagesRequest(count=9, timeout={"seconds": 0}))],
    "wait_bad_timeout": [call(WAIT, pb.WaitForMessagesRequest(timeout={"seconds": -1}))],
    "wait_deadline": [call(WAIT, pb.WaitForMessagesRequest(count=9), DEADLINE | 0x40)],
    "wait_shutdown": [call(WAIT, pb.WaitForMessagesRequest(count=9), SHUTDOWN), call(LIST, pb.ListMessagesRequest())],
    "watch": [call(WATCH, pb.WatchMessagesRequest(after_id=1), STORE), call(CLEAR, pb.ClearRequest(), STORE)],
    "watch_filter": [call(WATCH, pb.WatchMessagesRequest(filter=F(rcpt_to="b@*"), include_raw=True), STORE)],
    "clear_filter": [call(CLEAR, pb.ClearRequest(filter=F(mail_from="")))],
    "rules": [call(SETRULE, pb.RejectRule(stage=1, match="*", code=550, message="no", times=2)),
              call(SETRULE, pb.RejectRule(stage=4, match="*@bad", code=451, enhanced_code="4.7.1", delay_ms=10, disconnect=True)),
              call(SETRULE, pb.RejectRule(stage=2, code=0, delay_ms=5)),
              call(LISTRULES, pb.ListRejectRulesRequest()),
              call(DELRULE, pb.DeleteRejectRuleRequest(id="1")),
              call(DELRULE, pb.DeleteRejectRuleRequest(id="nope")),
              call(DELRULE, pb.DeleteRejectRuleRequest())],
    "rule_bad": [call(SETRULE, pb.RejectRule(stage=9, match="[z-a]", code=250, enhanced_code="4.0.0", message="a\r\nb"))],
    "server_info": [call(INFO, pb.GetServerInfoRequest())],
    "health": [call(HCHECK, health_pb2.HealthCheckRequest()),
               call(HCHECK, health_pb2.HealthCheckRequest(service="smtpsink.v1.Sink"), FLIP),
               call(HCHECK, health_pb2.HealthCheckRequest(service="nope"))],
    "health_watch": [call(HWATCH, health_pb2.HealthCheckRequest(), FLIP), call(HCHECK, health_pb2.HealthCheckRequest(), FLIP | SHUTDOWN)],
    "unknown_method": [call(UNKNOWN, b"/smtpsink.v1.Sink/Nope")],
    "no_message": [call(LIST, b"", NO_MSG), call(GET, b"\xff\xff\xff")],
    "garbage": [call(WAIT, b"\x0a\x05\x0a\x03\x5b\x61\x62"), call(SETRULE, b"\x22\xff\xff\xff\xff\x0f")],
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_control")
os.makedirs(out, exist_ok=True)
for name, calls in SEEDS.items():
    settings = b"\x01" if name == "list_small_max" else b"\x00"
    with open(os.path.join(out, name), "wb") as f:
        f.write(settings + b"".join(calls))
print(f"{len(SEEDS)} seeds in {out}")
