"""The package's own PEP 517 build backend, standard library only.

Why not setuptools: a fresh venv of Debian's python3 has setuptools without `wheel` (3.11) or no
setuptools at all (3.12), and there is often no package index on a training cluster, so
`pip install ./clients/python` failed there (`invalid command 'bdist_wheel'`). This package is
pure Python with no dependencies: its wheel is a zip of `artifact_bus/` and a few metadata files,
which `zipfile` writes. With `requires = []`, pip's isolated build environment needs nothing from
an index either. Metadata comes from pyproject.toml's [project] table (tomllib where there, else
the few line forms that table uses).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "artifact_bus"
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return _parse_project(raw.decode("utf-8"))
    return tomllib.loads(raw.decode("utf-8"))["project"]


def _parse_project(text):
    """[project] and [project.scripts] as this package writes them: `key = "string"`,
    `key = { text = "string" }`, `key = []`."""
    project, table = {}, None
    for line in text.splitlines():
        line = line.strip()
        header = re.match(r"^\[(.+)\]$", line)
        if header:
            table = {"project": project, "project.scripts": project.setdefault("scripts", {})}.get(header.group(1))
            continue
        pair = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*(.+)$', line)
        if table is None or not pair:
            continue
        value = re.search(r'"([^"]*)"', pair.group(2))
        table[pair.group(1)] = value.group(1) if value else []
    return project


def _metadata(project):
    license_ = project.get("license")
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % project["name"],
        "Version: %s" % project["version"],
        "Summary: %s" % project.get("description", ""),
        "Requires-Python: %s" % project.get("requires-python", ">=3"),
        "License: %s" % (license_.get("text", "") if isinstance(license_, dict) else license_ or ""),
        "Description-Content-Type: text/markdown",
    ]
    with open(os.path.join(ROOT, project.get("readme", "README.md")), encoding="utf-8") as f:
        return "\n".join(lines) + "\n\n" + f.read()


def _dist_info(project):
    name = "%s-%s.dist-info" % (project["name"].replace("-", "_"), project["version"])
    scripts = project.get("scripts") or {}
    files = {
        "METADATA": _metadata(project),
        "WHEEL": "Wheel-Version: 1.0\nGenerator: artifact-bus _build\nRoot-Is-Purelib: true\nTag: %s\n" % TAG,
    }
    if scripts:
        files["entry_points.txt"] = "[console_scripts]\n" + "".join("%s = %s\n" % kv for kv in sorted(scripts.items()))
    return name, {"%s/%s" % (name, k): v.encode("utf-8") for k, v in files.items()}


def _sources():
    """The package's .py files: relative path -> bytes (no caches, nothing else)."""
    out = {}
    for folder, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, ROOT).replace(os.sep, "/")] = f.read()
    return out


def _write_wheel(directory, files):
    project = _project()
    dist_info, meta = _dist_info(project)
    files = dict(files, **meta)
    record = "%s/RECORD" % dist_info
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    files[record] = ("\n".join(lines + ["%s,," % record]) + "\n").encode()
    name = "%s-%s-%s.whl" % (project["name"].replace("-", "_"), project["version"], TAG)
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in files.items():
            whl.writestr(path, data)
    return name


# -- PEP 517 ----------------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info, files = _dist_info(_project())
    for path, data in files.items():
        os.makedirs(os.path.join(metadata_directory, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(metadata_directory, path), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _sources())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660 (`pip install -e`): a .pth file that puts this folder on sys.path."""
    return _write_wheel(wheel_directory, {"__editable__.%s.pth" % PACKAGE: (ROOT + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = "%s-%s" % (project["name"].replace("-", "_"), project["version"])
    files = dict(_sources())
    for extra in ("pyproject.toml", "README.md", "_build/backend.py"):
        with open(os.path.join(ROOT, extra), "rb") as f:
            files[extra] = f.read()
    files["PKG-INFO"] = _metadata(project).encode()
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo("%s/%s" % (base, path))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return name
