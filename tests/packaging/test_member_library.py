"""The member library as its users get it (issue 20): the tarball `npm pack` makes
(scripts/pack-member.sh), installed outside the repository, never a path into it.

- the tarball holds the library only (index.js, index.d.ts, lib/), with an `exports` map, its types
  and no prom-client;
- the example app (examples/kv-app), copied out of the repository, installs the tarball and passes
  its tests; its image's build context (its own directory) installs and starts;
- `tsc --noEmit` (TypeScript pinned in the library's devDependencies) accepts the typed example
  against the packed declarations, and rejects it against loose ones;
- the ten lines of docs/your-app.md, in a new directory with the tarball installed, run a member
  against a real host on a loopback DHT: /readyz 200, a writer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging_support import REPO

LIBRARY = REPO / "images" / "swarm-peer"
PEER_BIN = LIBRARY / "program" / "bin" / "swarm-peer.js"
KV_APP = REPO / "examples" / "kv-app"
TARBALL = "swarm-operator-member.tgz"
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.timeout(600)


def sh(*args: str | Path, cwd: Path, timeout: float = 300, check: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def npm_install(cwd: Path, *args: str) -> None:
    sh(NPM, "install", "--no-audit", "--no-fund", "--loglevel=error", *args, cwd=cwd)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert NODE and NPM, "node and npm are needed"
    out = tmp_path_factory.mktemp("packed")
    printed = sh("bash", REPO / "scripts" / "pack-member.sh", out, cwd=REPO).stdout.strip()
    assert printed == str(out / TARBALL)
    return out / TARBALL


def tracked(directory: Path) -> list[str]:
    """The files git has of a directory, relative to it (no node_modules, no tarball)."""
    out = sh("git", "ls-files", "--cached", "--others", "--exclude-standard", ".", cwd=directory).stdout
    return [line for line in out.splitlines() if line]


def copy_files(src: Path, files: list[str], dest: Path) -> None:
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)


# -- the tarball -------------------------------------------------------------------------------


def test_the_tarball_holds_the_library_only(packed: Path) -> None:
    with tarfile.open(packed) as tar:
        names = sorted(m.name.removeprefix("package/") for m in tar.getmembers() if m.isfile())
        manifest = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
    lib = sorted(f"lib/{p.name}" for p in (LIBRARY / "lib").glob("*.js"))
    assert names == sorted(["README.md", "index.d.ts", "index.js", "package.json", *lib])
    assert manifest["name"] == "@swarm-operator/member" and "private" not in manifest
    assert manifest["exports"] == {".": {"types": "./index.d.ts", "default": "./index.js"},
                                   "./package.json": "./package.json"}
    assert manifest["types"] == "index.d.ts" and "bin" not in manifest
    deps = manifest["dependencies"]
    assert "prom-client" not in deps and all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in deps.values()), deps
    assert set(manifest["devDependencies"]) == {"typescript", "@types/node"}
    print(f"\nFIGURE {packed.name}: {packed.stat().st_size} bytes, {len(names)} files")


# -- the example app ---------------------------------------------------------------------------


def test_the_example_app_installs_the_tarball_and_passes_its_tests(packed: Path, tmp_path: Path) -> None:
    app = tmp_path / "kv-app"
    files = tracked(KV_APP)
    sources = [f for f in files if f.endswith(".js")]
    for rel in sources:  # nothing of the app reaches back into the repository
        assert not re.search(r"require\(['\"]\.\./\.\.", (KV_APP / rel).read_text()), rel
    copy_files(KV_APP, files, app)
    shutil.copy2(packed, app / TARBALL)
    npm_install(app, "--no-save", f"./{TARBALL}")
    installed = app / "node_modules" / "@swarm-operator" / "member"
    assert installed.is_dir() and not installed.is_symlink()
    version = json.loads((LIBRARY / "package.json").read_text())["version"]
    assert json.loads((app / "package.json").read_text())["dependencies"]["@swarm-operator/member"] == f"^{version}"
    proc = sh(NPM, "test", cwd=app, timeout=400, check=False)
    assert proc.returncode == 0 and "# fail 0" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]


def _context_files(context: Path) -> list[str]:
    spec = importlib.util.spec_from_file_location("context_hash", REPO / "scripts" / "containers" / "context_hash.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [rel for rel, _ in module.context_files(context)]


def _run_steps(dockerfile: Path) -> list[str]:
    """The RUN lines of a Dockerfile, continuations joined."""
    text = dockerfile.read_text().replace("\\\n", " ")
    return [" ".join(line[4:].split()) for line in text.splitlines() if line.startswith("RUN ")]


def test_the_example_image_context_is_its_own_directory(packed: Path, tmp_path: Path) -> None:
    """What `podman build examples/kv-app` does without a container engine: the files its
    .dockerignore sends (with the tarball in place), every COPY source among them, its npm step
    run on exactly those files; the app then starts (and stops at the missing configuration)."""
    work = tmp_path / "src"
    copy_files(KV_APP, tracked(KV_APP), work)
    shutil.copy2(packed, work / TARBALL)
    (work / "node_modules").mkdir()  # left over from a local install: the context must not send it
    context = _context_files(work)
    assert TARBALL in context and not [f for f in context if f.startswith(("node_modules", "test/"))], context
    dockerfile = KV_APP / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert source in context, source
    assert not re.search(r"^COPY .*\.\./", dockerfile.read_text(), re.M)
    image = tmp_path / "app"
    copy_files(work, context, image)
    (npm_step,) = [s for s in _run_steps(dockerfile) if s.startswith("npm install")]
    sh("sh", "-c", npm_step.split("&&")[0], cwd=image)
    assert (image / "node_modules" / "prom-client").is_dir()
    assert not (image / "node_modules" / "typescript").exists()
    proc = sh(NODE, "index.js", cwd=image, check=False, env={"SWARM_TOPIC": ""})
    assert proc.returncode == 1 and proc.stderr.strip() == \
        "autokv: configuration error: SWARM_TOPIC is required but missing or empty", proc.stderr


def test_the_peer_image_context_holds_the_library_and_the_program(tmp_path: Path) -> None:
    """The swarm-peer image (images/swarm-peer/Dockerfile, context images/swarm-peer) without a
    container engine: the context its .dockerignore sends, every COPY source in it, its two
    `npm ci --omit=dev` steps (/app the library, /app/program the program on it as "file:.."); the
    program then runs, and nothing of the tests or of TypeScript is installed."""
    context = _context_files(LIBRARY)
    assert "program/bin/swarm-peer.js" in context and "lib/member.js" in context
    assert not [f for f in context if f.startswith(("test/", "program/test/", "bench/")) or "node_modules" in f]
    dockerfile = (LIBRARY / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in context), source
    npm_ci = "npm ci --omit=dev --no-audit --no-fund && npm cache clean --force"
    assert _run_steps(LIBRARY / "Dockerfile").count(npm_ci) == 2
    app = tmp_path / "app"
    copy_files(LIBRARY, context, app)  # each COPY keeps the context's layout under /app
    for directory in (app, app / "program"):
        sh(NPM, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error", cwd=directory)
    assert (app / "program" / "node_modules" / "prom-client").is_dir()
    assert not (app / "node_modules" / "prom-client").exists() and not (app / "node_modules" / "typescript").exists()
    usage = sh(NODE, "program/bin/swarm-peer.js", "--help", cwd=app).stdout
    assert usage.startswith("usage: swarm-peer host|client|dht-bootstrap")
    proc = sh(NODE, "program/bin/swarm-peer.js", "client", cwd=app, check=False, env={"SWARM_TOPIC": ""})
    assert proc.returncode == 1 and "configuration error: SWARM_TOPIC is required" in proc.stderr, proc.stderr


# -- TypeScript --------------------------------------------------------------------------------


@pytest.fixture
def typed_project(packed: Path, tmp_path: Path) -> Path:
    """A TypeScript project with the packed library (unpacked as npm would) and the typed example;
    tsc and @types/node are the library's pinned devDependencies."""
    project = tmp_path / "typed"
    package = project / "node_modules" / "@swarm-operator" / "member"
    package.mkdir(parents=True)
    with tarfile.open(packed) as tar:
        for member in tar.getmembers():
            if member.isfile():
                target = package / member.name.removeprefix("package/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    for types in ("@types/node", "undici-types"):  # @types/node and what it imports
        shutil.copytree(LIBRARY / "node_modules" / types, project / "node_modules" / types, symlinks=True)
    for name in ("app.ts", "tsconfig.json"):
        shutil.copy2(LIBRARY / "test" / "typed" / name, project / name)
    (project / "package.json").write_text('{"name": "typed-example", "private": true}\n')
    return project


def tsc(project: Path) -> subprocess.CompletedProcess[str]:
    return sh(LIBRARY / "node_modules" / ".bin" / "tsc", "-p", ".", cwd=project, check=False, timeout=120)


def test_tsc_accepts_the_typed_example(typed_project: Path) -> None:
    version = json.loads((LIBRARY / "package.json").read_text())["devDependencies"]["typescript"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "TypeScript is pinned"
    proc = tsc(typed_project)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tsc_rejects_the_typed_example_against_loose_declarations(typed_project: Path) -> None:
    """The example's @ts-expect-error lines are misuses: with `any` declarations they are unused
    directives, so the check above can fail."""
    declarations = typed_project / "node_modules" / "@swarm-operator" / "member" / "index.d.ts"
    declarations.write_text("declare const lib: any\nexport = lib\n")
    proc = tsc(typed_project)
    assert proc.returncode != 0 and "Unused '@ts-expect-error' directive" in proc.stdout, proc.stdout


# -- the ten lines of docs/your-app.md ---------------------------------------------------------


def ten_lines() -> str:
    """The first js block of docs/your-app.md's section 1."""
    doc = (REPO / "docs" / "your-app.md").read_text()
    section = doc.split("## 1.", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```js\n(.*?)```", section, re.S)[:1]
    assert "require('@swarm-operator/member')" in code
    assert len(code.strip().splitlines()) <= 10, "the docs promise ten lines"
    return code


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as rsp:
            return rsp.status, json.loads(rsp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:
        return 0, None


def wait_for(what: str, probe: Any, proc: subprocess.Popen[bytes], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what}: the process exited {proc.returncode}"
        if value := probe():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], env: dict[str, str], cwd: Path, name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, cwd=cwd, env={"PATH": os.environ["PATH"], **env}, stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def secret(path: Path) -> str:
    path.write_text(os.urandom(32).hex() + "\n")
    return str(path)


def test_the_ten_lines_of_your_app_run_a_member(packed: Path, tmp_path: Path, processes: Any) -> None:
    # A new app: `npm install @swarm-operator/member`, the tarball standing in for the registry.
    app = tmp_path / "my-app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "my-app", "version": "1.0.0", "private": true}\n')
    npm_install(app, str(packed))
    (app / "app.js").write_text(ten_lines())

    # The topic's DHT node and host (the reference peer), as the operator runs them.
    udp, boot_status, host_status, app_status = free_port(socket.SOCK_DGRAM), free_port(), free_port(), free_port()
    boot = processes([NODE, str(PEER_BIN), "dht-bootstrap", "--host", "127.0.0.1", "--port", str(udp)],
                     {"SWARM_STATUS_PORT": str(boot_status)}, REPO, "dht")
    wait_for("the DHT node", lambda: http_json(boot_status, "/readyz")[0] == 200, boot)
    topic = f"ten-lines-{os.getpid()}"
    shared = {"SWARM_TOPIC": topic, "SWARM_DHT_BOOTSTRAP": f"127.0.0.1:{udp}", "SWARM_DHT_HOST": "127.0.0.1",
              "SWARM_MEMBER_SEED_FILE": secret(tmp_path / "invite-seed"),
              "SWARM_ENCRYPTION_KEY_FILE": secret(tmp_path / "encryption-key")}
    host = processes([NODE, str(PEER_BIN), "host"],
                     {**shared, "SWARM_DATA_DIR": str(tmp_path / "host"), "SWARM_STATUS_PORT": str(host_status),
                      "SWARM_APP_PORT": "0", "SWARM_IDENTITY_SEED_FILE": secret(tmp_path / "seed")}, REPO, "host")
    wait_for("the host", lambda: http_json(host_status, "/readyz")[0] == 200, host)
    report = json.loads(http_json(host_status, "/status")[1]["payload"])

    started = time.monotonic()
    member = processes([NODE, "app.js"], {**shared, "SWARM_BASE_KEY": report["baseKey"],
                                          "SWARM_HOST_PUBLIC_KEY": http_json(host_status, "/status")[1]["publicKey"],
                                          "SWARM_REQUIRE_BOOTSTRAP": "true", "SWARM_STATUS_PORT": str(app_status)},
                       app, "app")
    wait_for("the member's /readyz", lambda: http_json(app_status, "/readyz")[0] == 200, member)
    ready = time.monotonic() - started
    status = wait_for("the member a writer", lambda: (s := http_json(app_status, "/status")[1]) and s["writable"]
                      and s, member, timeout=60)
    print(f"\nFIGURE the ten lines of docs/your-app.md: /readyz 200 after {ready:.2f} s, a writer after "
          f"{time.monotonic() - started:.2f} s (process start included)")
    assert status["baseKey"] == report["baseKey"] and status["replicated"] is True
    member.send_signal(signal.SIGTERM)
    assert member.wait(timeout=25) == 0
