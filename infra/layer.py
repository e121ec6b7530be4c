"""The engine layer: the `jobqueue` and `workloads` packages and their pinned dependencies, bundled without Docker.

`EngineLayer(stack, "Engine").layer` is a LayerVersion whose `python/` holds `jobqueue` (its catalog validated
here, at build time: `jobqueue.prebuilt`), `workloads` (with its templates) and the wheels of pyproject.toml's
`[project].dependencies` plus the `push` extra (Web Push for the notification worker), installed by pip for
Lambda's platform (manylinux2014, arm64). http-ece, which pywebpush needs, is published only as an sdist: it is
pure Python, so `pip wheel --no-deps` builds its wheel here first and the binary-only install finds it with
`--find-links`.

Lambda cannot write bytecode beside a layer's read-only files, so a layer without `.pyc` files compiles every
module it imports at every cold start (the worker's imports: about 1.9 s instead of 0.45 s here, measured with
`python -B -X pycache_prefix=<an empty directory>`). The layer is compiled by an interpreter of the runtime's own
Python (`bytecode_python`), into unchecked hash-based `.pyc` files, which no file time stamp can invalidate.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from typing import cast
from warnings import warn

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from jobqueue.prebuilt import write_prebuilt

__all__ = [
    "ARCHITECTURE", "ASSET_EXCLUDE", "LAYER_EXTRAS", "PACKAGES", "REPO", "RUNTIME", "SDIST_ONLY", "EngineLayer",
    "PipLayerBundling", "bytecode_python", "runtime_deps",
]

REPO = Path(__file__).resolve().parents[1]
RUNTIME = lambda_.Runtime.PYTHON_3_13
"""The newest Python runtime whose bytecode the build can write. Lambda's 3.14 is newer, but no Python 3.14
installs here (pyenv has none, nor do Debian's packages), and an uncompiled layer costs a cold start far more than
the newer runtime saves."""
ARCHITECTURE = lambda_.Architecture.ARM_64

PACKAGES = ("jobqueue", "workloads")
"""The packages under layers/ that the layer ships (the stand-ins are local only)."""
LAYER_EXTRAS = ("push",)
"""Optional-dependency groups of pyproject.toml that the layer installs too."""
SDIST_ONLY = ("http-ece",)
"""Pinned pure-Python dependencies without a wheel on the index: built into one before the binary-only install."""

# The asset is what the layer is built from: pyproject.toml's pins and the packages it ships. The rest of the
# repository stays out of its hash, above all the local venvs (.venv, .localstack, .checkov: about 1.8 GB), which
# CDK would otherwise read in full at every synth (about 30 s each) and whose presence would change the hash, so a
# deploy from a machine that ran the tests would publish a new layer for nothing.
ASSET_EXCLUDE = [
    "*", "!pyproject.toml", "!layers", *(f"!layers/{package}{tail}" for package in PACKAGES for tail in ("", "/**")),
    "**/__pycache__", "*.pyc", "layers/jobqueue/catalog.json",
]

_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+$")
_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def runtime_deps(pyproject: Path = REPO / "pyproject.toml", extras: tuple[str, ...] = LAYER_EXTRAS) -> list[str]:
    """`[project].dependencies` of pyproject.toml and those of `extras`; each must be an exact `name==version` pin."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    deps: list[str] = [*project["dependencies"], *(d for extra in extras for d in optional.get(extra, []))]
    loose = [d for d in deps if not _PIN.match(d)]
    if loose:
        raise ValueError(f"{pyproject}: runtime dependencies must be pinned exactly (name==version): {loose}")
    return deps


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Builds the layer in this process: `pip install --platform ... --target <out>/python`, then copies the engine.

    pip installs only binary wheels for the target platform, so no Docker and no compiler is needed.
    """

    def __init__(self, *, python_version: str, architecture: str, source: Path = REPO,
                 compiler: str | None = None) -> None:
        self.python_version = python_version
        self.platform = _PLATFORMS[architecture]
        self.source = source
        self.compiler = compiler

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        """jsii passes the options as one struct; they hold nothing pip needs."""
        target = Path(output_dir) / "python"
        deps = runtime_deps(self.source / "pyproject.toml")
        pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
        with tempfile.TemporaryDirectory(prefix="layer-wheels-") as wheels:
            sdists = [d for d in deps if d.split("==")[0] in SDIST_ONLY]
            if sdists:
                subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", wheels, *sdists], check=True)
            subprocess.run(
                [
                    *pip, "install", "--platform", self.platform, "--implementation", "cp",
                    "--python-version", self.python_version, "--only-binary=:all:", "--no-compile",
                    "--find-links", wheels, "--target", str(target), *deps,
                ],
                check=True,
            )
        for package in PACKAGES:
            shutil.copytree(self.source / "layers" / package, target / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "catalog.json"))
        write_prebuilt(target / "jobqueue" / "catalog.json")  # the catalog validated here, not at each cold start
        if self.compiler:
            subprocess.run([self.compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                            "unchecked-hash", str(target)], check=True, stdout=subprocess.DEVNULL)
        return True


@cache  # several subprocesses: once per synth process, not once per stack
def bytecode_python(version: str) -> str | None:
    """An interpreter of Python `version` ("3.13") to compile the layer with: $LAYER_PYTHON, `python<version>` on
    PATH, or pyenv's latest `version`; None when this machine has none."""
    candidates = [os.environ.get("LAYER_PYTHON"), f"python{version}"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        latest = subprocess.run([pyenv, "latest", version], capture_output=True, text=True, check=False)
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if latest.returncode == 0 and root.returncode == 0:
            candidates.append(f"{root.stdout.strip()}/versions/{latest.stdout.strip()}/bin/python{version}")
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, check=False, timeout=30)
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.strip() == version:
            return candidate
    return None


class EngineLayer(Construct):
    """The `jobqueue` engine as a Lambda layer for `runtime` on `architecture` (default: what the functions run).

    Exposed as `.layer`. Arch and Python version are in the bundling `environment`, so the asset hash (computed
    from the source and the bundling options) changes with either.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: lambda_.Runtime = RUNTIME,
        architecture: lambda_.Architecture = ARCHITECTURE,
    ) -> None:
        super().__init__(scope, id)
        python_version = runtime.name.removeprefix("python")
        arch = architecture.name
        compiler = bytecode_python(python_version)
        if compiler is None:
            warn(f"no Python {python_version} here (LAYER_PYTHON, python{python_version} on PATH, pyenv): the layer "
                 "ships without bytecode, and every cold start compiles what it imports", stacklevel=2)
        code = lambda_.Code.from_asset(
            str(REPO),
            exclude=ASSET_EXCLUDE,
            bundling=BundlingOptions(
                image=DockerImage.from_registry("unused"),  # never pulled: local bundling always succeeds
                # jsii calls try_bundle(output_dir, options) positionally, unlike the kwargs its stubs declare.
                local=cast("ILocalBundling", PipLayerBundling(python_version=python_version, architecture=arch,
                                                              compiler=compiler)),
                # in the asset hash: a layer with bytecode is not the layer without it
                environment={"LAYER_PYTHON_VERSION": python_version, "LAYER_ARCHITECTURE": arch,
                             "LAYER_BYTECODE": "yes" if compiler else "no"},
            ),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=f"jobqueue engine, seed workloads and their pinned dependencies ({runtime.name}, {arch})",
        )
