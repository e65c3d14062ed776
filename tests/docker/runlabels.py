"""Labels on every container the image and compose tests start (stdlib only,
shared by conftest.py and measure.py).

dev.smtpsink.test=docker names the suite; dev.smtpsink.run=$SMTPSINK_CI_RUN
names the CI stage run (.ci/lib.sh sets the variable), whose cleanup removes
exactly the containers and networks carrying its id, even after a crash."""
import os
import re

RUN = os.environ.get("SMTPSINK_CI_RUN", "")
LABELS = {"dev.smtpsink.test": "docker", **({"dev.smtpsink.run": RUN} if RUN else {})}
LABEL_ARGS = [arg for k, v in LABELS.items() for arg in ("--label", f"{k}={v}")]
# One compose project per CI run, so that concurrent runs on one engine do not
# tear down each other's stack; outside CI a fixed name, so that the next run's
# "down" removes what a crashed one left.
COMPOSE_PROJECT = "smtpsink-smoke-" + re.sub(r"[^a-z0-9_-]", "-", RUN.lower()) if RUN else "smtpsink-smoke"
