"""Static checks of deploy/: the Kubernetes manifests and the compose file
parse, use only environment variables smtpsink knows (asked from the image's
--help), and keep the probes, limits and security settings the README promises."""
import os
import re

import yaml

from conftest import IMAGE, LABEL_ARGS, ROOT, docker

DEPLOY = os.path.join(ROOT, "deploy")


def load(*path):
    with open(os.path.join(DEPLOY, *path)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def known_env():
    help_text = docker("run", "--rm", *LABEL_ARGS, IMAGE, "--help").stdout
    names = set(re.findall(r"env (SMTPSINK_[A-Z0-9_]+)", help_text))
    assert "SMTPSINK_SMTP_LISTEN" in names
    return names


def image_user():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        [user] = re.findall(r"^USER\s+(\d+):(\d+)\s*$", f.read(), re.M)
    return int(user[0]), int(user[1])


def test_kubernetes_deployment_and_service():
    [dep] = load("k8s", "deployment.yaml")
    [svc] = load("k8s", "service.yaml")
    assert dep["apiVersion"] == "apps/v1" and dep["kind"] == "Deployment"
    assert svc["apiVersion"] == "v1" and svc["kind"] == "Service"
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()

    [c] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"smtp": 1025, "grpc": 50051, "http": 8025}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports)

    # native gRPC probes on the health service
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == 50051, probe

    limits = c["resources"]["limits"]
    assert limits["memory"] and limits["cpu"]
    assert c["resources"]["requests"]["memory"]

    uid, gid = image_user()
    psc, csc = pod["spec"]["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and csc["runAsNonRoot"] is True
    assert csc["runAsUser"] == uid and csc["runAsGroup"] == gid
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"]

    [kust] = load("k8s", "kustomization.yaml")
    assert sorted(kust["resources"]) == ["deployment.yaml", "service.yaml"]

    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["SMTPSINK_SMTP_LISTEN"].startswith("0.0.0.0:")
    assert set(env) <= known_env()


def test_compose_file():
    [doc] = load("docker-compose.yml")
    assert "version" not in doc  # Compose Specification: v1 (1.27+) and v2
    sink, app = doc["services"]["smtpsink"], doc["services"]["app"]
    assert app["depends_on"]["smtpsink"]["condition"] == "service_healthy"
    assert sink["healthcheck"]["test"][:3] == ["CMD", "smtpsinkctl", "health"]
    assert set(sink["environment"]) <= known_env()


def test_readme_compose_snippet_publishes_what_the_file_does():
    """Issue 12: the README's compose excerpt published 1025:1025 while
    deploy/docker-compose.yml leaves the host ports to Docker."""
    [doc] = load("docker-compose.yml")
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("**docker-compose**", 1)[1]
    snippet = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    shown = yaml.safe_load(snippet)["services"]["smtpsink"]
    assert shown["ports"] == doc["services"]["smtpsink"]["ports"]
    assert shown["healthcheck"]["test"] == doc["services"]["smtpsink"]["healthcheck"]["test"]
