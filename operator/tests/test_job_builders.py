"""The pure RayJob builders: child cluster, submitter Job and its command, HTTP submission;
and the spec checks that refuse what cannot run."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from job_factory import UID, cluster_spec, rayjob

from ray_operator.job.builders import (
    child_cluster,
    generated_name,
    submission,
    submit_script,
    submitter_job,
)
from ray_operator.job.observations import cluster_view, submitter_view
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job

ADDRESS = "http://c-head-svc.ns.svc.cluster.local:8265"


def spec_of(**fields: Any) -> JobSpec:
    return JobSpec.of(rayjob(**fields))


def test_child_cluster_is_owned_labelled_and_a_copy_of_the_spec() -> None:
    body = rayjob()
    body["metadata"]["annotations"] = {
        "note": "kept",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    cluster = child_cluster(JobSpec.of(body), "job-abcde")
    assert cluster["kind"] == "RayCluster"
    assert cluster["metadata"]["name"] == "job-abcde"
    assert cluster["metadata"]["namespace"] == "ns"
    assert cluster["metadata"]["labels"] == {
        "team": "a",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/originated-from-cr-name": "job",
    }
    assert cluster["metadata"]["annotations"] == {"note": "kept"}
    assert cluster["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "name": "job",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert cluster["spec"] == cluster_spec()
    cluster["spec"]["headGroupSpec"]["rayStartParams"]["x"] = "1"
    assert body["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"] == {}


def test_generated_names_fit_a_cluster_name() -> None:
    assert generated_name("job", "abcde") == "job-abcde"
    long = generated_name("a" * 60, "abcde")
    assert len(long) <= 53
    assert long.endswith("-abcde")


def test_default_submitter_job() -> None:
    job = submitter_job(spec_of(), "job-1", ADDRESS, cluster_spec())
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"] == "job"
    assert job["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayJob"
    assert job["metadata"]["ownerReferences"][0]["uid"] == UID
    assert job["spec"]["backoffLimit"] == 2
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == "rayproject/ray:2.41.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["/bin/bash", "-ec"]
    assert container["args"] == [submit_script(spec_of())]
    assert container["env"] == [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "RAY_DASHBOARD_ADDRESS", "value": ADDRESS},
        {"name": "RAY_JOB_SUBMISSION_ID", "value": "job-1"},
    ]


def test_user_template_and_submitter_backoff_limit() -> None:
    template = {
        "metadata": {"labels": {"app": "submit"}},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [
                {
                    "name": "mine",
                    "image": "my/submitter:1",
                    "env": [{"name": "RAY_JOB_SUBMISSION_ID", "value": "stale"}],
                }
            ],
        },
    }
    spec = spec_of(submitterPodTemplate=template, submitterConfig={"backoffLimit": 0})
    job = submitter_job(spec, "job-1", ADDRESS, cluster_spec())
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["metadata"] == {"labels": {"app": "submit"}}
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "my/submitter:1"
    assert container["args"] == [submit_script(spec)]
    ids = [e["value"] for e in container["env"] if e["name"] == "RAY_JOB_SUBMISSION_ID"]
    assert ids == ["job-1"]
    assert template["spec"]["containers"][0]["env"] == [  # type: ignore[index]
        {"name": "RAY_JOB_SUBMISSION_ID", "value": "stale"}
    ]


def test_a_template_with_its_own_command_is_left_alone() -> None:
    template = {"spec": {"containers": [{"name": "x", "image": "i", "command": ["my-submit"]}]}}
    job = submitter_job(spec_of(submitterPodTemplate=template), "j", ADDRESS, cluster_spec())
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["my-submit"]
    assert "args" not in container


def test_script_carries_every_submission_option() -> None:
    spec = spec_of(
        entrypoint="python -c 'print(\"a b\")'",
        runtimeEnvYAML="pip: [requests]\nenv_vars: {A: '1'}\n",
        metadata={"owner": "me"},
        entrypointNumCpus=1.5,
        entrypointNumGpus=1,
        entrypointResources='{"custom": 2}',
    )
    script = submit_script(spec)
    assert script.splitlines()[0] == (
        'if ! ray job status --address "$RAY_DASHBOARD_ADDRESS" "$RAY_JOB_SUBMISSION_ID"'
        " >/dev/null 2>&1; then"
    )
    assert "--no-wait" in script
    assert """--runtime-env-json '{"env_vars": {"A": "1"}, "pip": ["requests"]}'""" in script
    assert """--metadata-json '{"owner": "me"}'""" in script
    assert "--entrypoint-num-cpus 1.5 --entrypoint-num-gpus 1 " in script
    assert """--entrypoint-resources '{"custom": 2.0}'""" in script
    assert script.splitlines()[-1] == (
        'ray job logs --address "$RAY_DASHBOARD_ADDRESS" --follow "$RAY_JOB_SUBMISSION_ID"'
    )


def fake_ray(tmp_path: Path, *, known: bool) -> Path:
    """A `ray` that records its arguments and knows the job or not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ray = bin_dir / "ray"
    ray.write_text(
        "#!/bin/bash\n"
        'for a in "$@"; do printf "%s\\n" "$a"; done > "$CALLS/$(date +%s%N)-$2"\n'
        f'if [ "$2" = status ]; then exit {0 if known else 1}; fi\n'
    )
    ray.chmod(ray.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "calls").mkdir()
    return bin_dir


def run_script(script: str, tmp_path: Path, bin_dir: Path) -> dict[str, list[str]]:
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "RAY_DASHBOARD_ADDRESS": "http://dash:8265",
        "RAY_JOB_SUBMISSION_ID": "job-1",
    }
    subprocess.run(["/bin/bash", "-ec", script], env=env, check=True, timeout=30)
    calls = sorted((tmp_path / "calls").iterdir())
    return {p.name.split("-", 1)[1]: p.read_text().splitlines() for p in calls}


@pytest.mark.parametrize(
    ("entrypoint", "words"),
    [
        ("python -c 'print(\"a  b\")'", ["python", "-c", 'print("a  b")']),
        ("python main.py --epochs 3", ["python", "main.py", "--epochs", "3"]),
        ('python a.py && echo "$HOME"', ["sh", "-c", 'python a.py && echo "$HOME"']),
        ("ls *.py", ["sh", "-c", "ls *.py"]),
        ('echo "double quoted"', ["sh", "-c", 'echo "double quoted"']),
        ("echo 'unbalanced", ["sh", "-c", "echo 'unbalanced"]),
    ],
)
def test_script_submits_an_unknown_job_so_that_ray_runs_the_exact_entrypoint(
    tmp_path: Path, entrypoint: str, words: list[str]
) -> None:
    script = submit_script(spec_of(entrypoint=entrypoint))
    calls = run_script(script, tmp_path, fake_ray(tmp_path, known=False))
    assert sorted(calls) == ["logs", "status", "submit"]
    submit = calls["submit"]
    assert submit[:6] == [
        "job",
        "submit",
        "--address",
        "http://dash:8265",
        "--submission-id",
        "job-1",
    ]
    after = submit[submit.index("--") + 1 :]
    assert after == words
    # The CLI sends shlex.join(after) to Ray, which runs it with a shell: the entrypoint
    # itself, or `sh -c <entrypoint>`.
    assert shlex.join(after) in (entrypoint, shlex.join(["sh", "-c", entrypoint]))
    assert calls["logs"] == ["job", "logs", "--address", "http://dash:8265", "--follow", "job-1"]


def test_script_does_not_submit_a_known_job_again(tmp_path: Path) -> None:
    calls = run_script(submit_script(spec_of()), tmp_path, fake_ray(tmp_path, known=True))
    assert sorted(calls) == ["logs", "status"]


def test_http_submission() -> None:
    spec = spec_of(
        runtimeEnvYAML="working_dir: /tmp\n",
        entrypointNumGpus=2,
        entrypointResources='{"tpu": 1}',
        metadata={"a": 1},
    )
    body = submission(spec, "job-1").body()
    assert body == {
        "entrypoint": "python -c 'print(1)'",
        "submission_id": "job-1",
        "runtime_env": {"working_dir": "/tmp"},
        "metadata": {"a": "1"},
        "entrypoint_num_gpus": 2.0,
        "entrypoint_resources": {"tpu": 1.0},
    }


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"suspend": True}, "shutdownAfterJobFinishes"),
        ({"rayClusterSpec": None}, "one of rayClusterSpec or clusterSelector"),
        ({"clusterSelector": {"other": "x"}, "rayClusterSpec": None}, "ray.io/cluster"),
        (
            {
                "clusterSelector": {"ray.io/cluster": "c"},
                "suspend": True,
                "shutdownAfterJobFinishes": True,
            },
            "suspend operation",
        ),
        ({"submissionMode": "SidecarMode"}, "SidecarMode is not supported"),
        ({"submissionMode": "InteractiveMode", "backoffLimit": 1}, "InteractiveMode"),
        ({"activeDeadlineSeconds": 0}, "activeDeadlineSeconds"),
        ({"backoffLimit": -1}, "backoffLimit"),
        ({"ttlSecondsAfterFinished": -1}, "ttlSecondsAfterFinished"),
        ({"runtimeEnvYAML": "- a list"}, "runtimeEnvYAML must be a YAML mapping"),
        ({"runtimeEnvYAML": "a: [unclosed"}, "runtimeEnvYAML is not YAML"),
        ({"entrypointResources": '{"x": "many"}'}, "entrypointResources"),
        ({"deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"}}}, "deletionStrategy"),
        ({"preRunningDeadlineSeconds": 60}, "preRunningDeadlineSeconds"),
        ({"submitterPodTemplate": {"spec": {"containers": []}}}, "submitterPodTemplate"),
        (
            {"rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"containers": []}}}}},
            "rayClusterSpec:",
        ),
    ],
)
def test_invalid_specs_are_refused(fields: dict[str, Any], needle: str) -> None:
    problems = validate_job(spec_of(**fields))
    assert [p.reason for p in problems] == ["InvalidRayJobSpec"] * len(problems)
    assert any(needle in p.message for p in problems), problems


def test_invalid_names_are_metadata_problems() -> None:
    assert validate_job(spec_of()) == []
    for name in ("a" * 48, "Upper", "1starts-with-digit"):
        problems = validate_job(JobSpec.of(rayjob(name=name)))
        assert [p.reason for p in problems] == ["InvalidRayJobMetadata"]


def test_spec_defaults() -> None:
    spec = JobSpec.of({"metadata": {"name": "j"}, "spec": {}})
    assert spec.mode == "K8sJobMode"
    assert (spec.backoff_limit, spec.submitter_backoff_limit, spec.ttl_seconds_after_finished) == (
        0,
        2,
        0,
    )
    assert spec.active_deadline_seconds is None
    assert spec.runtime_env() is None
    assert spec.resources() is None


def test_cluster_and_submitter_views() -> None:
    owned = {
        "metadata": {"name": "c", "ownerReferences": [{"uid": UID}]},
        "status": {"state": "ready"},
        "spec": {"x": 1},
    }
    view = cluster_view("c", owned, UID)
    assert (view.exists, view.ready, view.deleting, view.spec) == (True, True, False, {"x": 1})
    assert cluster_view("c", owned, "someone-else").exists is False
    assert cluster_view("c", owned, None).exists is True  # a selected cluster has no owner
    assert cluster_view("c", None, UID).exists is False
    failed = {
        "metadata": {"name": "j", "deletionTimestamp": "t"},
        "spec": {
            "template": {
                "spec": {"containers": [{"env": [{"name": "RAY_JOB_SUBMISSION_ID", "value": "s"}]}]}
            }
        },
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "m",
                }
            ]
        },
    }
    submitter = submitter_view(failed)
    assert submitter.failed
    assert submitter.deleting
    assert submitter.submission_id == "s"
    assert submitter.failure == "Reason: BackoffLimitExceeded. Message: m"
    assert submitter_view(None).exists is False


LIGHT_WEIGHT_SUBMITTER = {
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "my-custom-rayjob-submitter",
                "image": "kuberay/submitter:nightly",
                "command": ["/submitter"],
                "args": ["--", "python", "/home/ray/samples/sample_code.py"],
            }
        ],
    }
}


@pytest.mark.parametrize("template", [LIGHT_WEIGHT_SUBMITTER, None])
@pytest.mark.parametrize("mode", ["K8sJobMode", "HTTPMode"])
def test_no_entrypoint_is_accepted_as_kuberay_accepts_it(
    template: dict[str, Any] | None, mode: str
) -> None:
    fields: dict[str, Any] = {"entrypoint": None, "submissionMode": mode}
    if template is not None:
        fields["submitterPodTemplate"] = template
    assert validate_job(spec_of(**fields)) == []


def test_the_light_weight_submitter_runs_its_own_command_with_the_job_env() -> None:
    spec = spec_of(entrypoint=None, submitterPodTemplate=LIGHT_WEIGHT_SUBMITTER)
    job = submitter_job(spec, "job-1", ADDRESS, cluster_spec())
    container = job["spec"]["template"]["spec"]["containers"][0]
    wanted = LIGHT_WEIGHT_SUBMITTER["spec"]["containers"][0]
    assert (container["command"], container["args"]) == (wanted["command"], wanted["args"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "PYTHONUNBUFFERED": "1",
        "RAY_DASHBOARD_ADDRESS": ADDRESS,
        "RAY_JOB_SUBMISSION_ID": "job-1",
    }


def test_without_entrypoint_the_default_submitter_passes_nothing_after_the_separator(
    tmp_path: Path,
) -> None:
    # KubeRay's command ends in `-- ;` then: Ray's CLI is left to refuse the empty entrypoint.
    script = submit_script(spec_of(entrypoint=None))
    calls = run_script(script, tmp_path, fake_ray(tmp_path, known=False))
    assert calls["submit"][-1] == "--"


def test_the_submitter_view_knows_when_the_job_finished() -> None:
    def job(*conditions: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"name": "j"}, "status": {"conditions": list(conditions)}}

    running = submitter_view(job({"type": "SuccessCriteriaMet", "status": "True"}))
    assert running.finished_at is None
    done = submitter_view(
        job(
            {"type": "Complete", "status": "False", "lastTransitionTime": "2025-01-01T00:00:01Z"},
            {"type": "Failed", "status": "True", "lastTransitionTime": "2025-01-01T00:00:09Z"},
        )
    )
    assert done.failed
    assert done.finished_at is not None
    assert done.finished_at.isoformat() == ("2025-01-01T00:00:09+00:00")
