"""Headless Chromium (Debian's ``chromium-headless-shell`` or ``chromium``) driven over the DevTools protocol with
aiohttp's websocket client (already a dependency of DVC): load a page from disk, run a script in it, collect console
errors, uncaught exceptions and failed loads, take a screenshot. Used by tests/test_report_html.py and to make the
screenshot in docs/ (``python tests/chromium.py PAGE.html OUT.png``)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser")
MISSING = ("headless Chromium not found (tried: " + ", ".join(BINARIES) + "). It is a declared system dependency: "
           "`make system-deps` installs Debian's chromium-headless-shell")


def find_binary() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


async def _session(url: str, script: str, width: int, height: int, full_page: bool, timeout: float) -> dict:
    import aiohttp

    binary = find_binary()
    if binary is None:
        raise RuntimeError(MISSING)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.Popen([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                 "--disable-extensions", "--mute-audio", "--remote-debugging-port=0",
                                 f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start (exit status {proc.poll()})")
                await asyncio.sleep(0.05)
            port = port_file.read_text().split()[0]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                    targets = await r.json()
                ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                    return await _drive(ws, url, script, width, height, full_page, deadline)
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop the browser and everything it started. Debian's chromium-headless-shell is a shell script that runs the
    real binary as its child (no exec), and Chromium forks its own helpers, so ending only ``proc`` would leave the
    browser running without a parent: the whole process group (a session of its own, ``start_new_session``) gets
    SIGTERM, and SIGKILL for whatever is still there 5 s later."""
    def signal_group(sig: int) -> bool:
        try:
            os.killpg(proc.pid, sig)
            return True
        except ProcessLookupError:
            return False

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + 5
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    while time.monotonic() < deadline and signal_group(0):
        time.sleep(0.05)
    signal_group(signal.SIGKILL)
    proc.wait()


async def _drive(ws, url, script, width, height, full_page, deadline) -> dict:
    ids = iter(range(1, 10 ** 6))
    errors: list[str] = []
    loaded = asyncio.Event()
    pending: dict[int, asyncio.Future] = {}

    async def reader():
        async for msg in ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Page.loadEventFired":
                loaded.set()
            elif method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                e = params["entry"]
                errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())

    async def call(method: str, **params):
        i = next(ids)
        fut = asyncio.get_running_loop().create_future()
        pending[i] = fut
        await ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        reply = await asyncio.wait_for(fut, max(1.0, deadline - time.monotonic()))
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    task = asyncio.create_task(reader())
    try:
        for domain in ("Page", "Runtime", "Log"):
            await call(f"{domain}.enable")
        await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), max(1.0, deadline - time.monotonic()))
        result = await call("Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        return {"value": result["result"].get("value"), "errors": errors,
                "screenshot": base64.b64decode(shot["data"])}
    finally:
        task.cancel()


def load(page: Path, script: str, *, width: int = 1280, height: int = 900, full_page: bool = False,
         timeout: float = 30.0) -> dict:
    """Open ``page`` (a file) in headless Chromium, evaluate ``script`` (an expression; a promise is awaited) and take
    a screenshot: ``{"value": <the script's JSON value>, "errors": [...], "screenshot": <PNG bytes>}``."""
    return asyncio.run(_session(Path(page).resolve().as_uri(), script, width, height, full_page, timeout))


if __name__ == "__main__":
    out = load(Path(sys.argv[1]), "document.title", height=int(sys.argv[3]) if len(sys.argv) > 3 else 900)
    Path(sys.argv[2]).write_bytes(out["screenshot"])
    print(out["value"], out["errors"] or "no console errors")
