"""A walkthrough of the runs in the MLflow UI, in a real browser, with screenshots.

Starts `make ui` on a store (the workspace's by default), or opens a tracking server's own UI
when the store is one (`http(s)://`, e.g. `make server`'s; with the basic-auth app, the
browser gives MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD as an Authorization
header, never in a URL), drives headless Chromium (Debian's `chromium` and
`chromium-driver`; no browser is downloaded) through what a user looks at, and saves a
screenshot of each page, with what the page said in `walkthrough.json`:

- `runs.png`: the experiment as it opens: its training runs, with their dataset;
- `grid.png`: the newest run's fixed-latent sample grid, with its step slider;
- `compare.png`: the two newest runs side by side;
- `plots.png`: `dvc plots show`'s page (with `--plots`, in a DVC workspace).

It says each step as it finishes, with the seconds it took (kept in `walkthrough.json`'s
`seconds`). Every wait ends as soon as what it waits for is there; its bound only matters
when something hangs, and a wait that runs out says what it waited for and for how long.

    python tools/walkthrough.py --out docs/ui --plots      # or: make walkthrough
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import mlflow
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from ganops.tracking import tracking_uri

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1440, 900)
# the MLflow 3 UI's own switch between GenAI and model-training pages
TRAINING = "workflowType=machine_learning"
CLOSE_ASSISTANT = "[data-component-id='mlflow.assistant.chat_panel.close']"
FULLSCREEN = "[data-component-id='fullscreen_button_chartcard']"
SEARCH_CHARTS = "input[placeholder='Search metric charts']"
THUMBNAIL_SHOWN = (
    "return [...arguments[0].querySelectorAll('img')].some(i => i.complete && i.naturalWidth)"
)
FULL_SIZE_SHOWN = (
    "return [...document.querySelectorAll('img[src*=get-artifact]')]"
    ".some(i => !i.src.includes('compressed') && i.complete && i.naturalWidth)"
)
# from a chart's fullscreen button up to its card: the nearest block with a step input
STEP_ID = "mlflow.experiment_tracking.common.line_smooth_slider"
STEP_INPUT = f"input[data-component-id='{STEP_ID}']"
CARD = f"./ancestor::*[.//input[@data-component-id='{STEP_ID}']][1]"
# The bounds of the waits. Each wait ends as soon as what it waits for is there, so a bound
# only stops a step that hangs: room for a machine several times slower than 2 cores beside
# three other test runs and 2 CPU burners (load 10), where `make ui` answered in 29 s and
# the slowest page showed in 27 s.
UI_START_S = 300
PAGE_S = 180


class WalkthroughError(Exception):
    """A page did not show what it should, or the browser or the UI could not start."""


class Steps:
    """How long each step took: said as it finishes (the output of a walkthrough stopped
    from outside shows how far it got) and kept for `walkthrough.json`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.monotonic()

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(now - self._since, 1)
        self._since = now
        print(f"walkthrough: {step}: {self.seconds[step]:.1f} s", flush=True)


def browser_paths() -> tuple[str, str]:
    """The system Chromium and its driver; a one-line error naming the packages otherwise."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise WalkthroughError(
            "missing system packages: chromium chromium-driver "
            "(install them: sudo apt-get install -y chromium chromium-driver)"
        )
    return binary, driver


def basic_auth_header() -> dict[str, str]:
    """The Authorization header of MLFLOW_TRACKING_USERNAME and _PASSWORD, if both are set."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if not user or not password:
        return {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextmanager
def browser(
    headers: dict[str, str] | None = None,
    extra_flags: tuple[str, ...] = (),
    offline: bool = False,
) -> Iterator[WebDriver]:
    """Headless Chromium at a fixed window size, sending `headers` with every request;
    `extra_flags` go on its command line, and `offline` sets its network offline."""
    binary, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                 *extra_flags):  # fmt: skip
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    if offline:
        chrome.execute_cdp_cmd("Network.enable", {})
        chrome.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    if headers:
        chrome.execute_cdp_cmd("Network.enable", {})
        chrome.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    try:
        yield chrome
    finally:
        chrome.quit()


@contextmanager
def mlflow_ui(store: str, port: int) -> Iterator[str]:
    """`make ui` on `store` at 127.0.0.1:`port`, stopped on exit; yields its base URL. A
    tracking server is its own UI: its URL, nothing started."""
    if store.startswith(("http://", "https://")):
        yield store.rstrip("/")
        return
    env = dict(os.environ, MLFLOW_TRACKING_URI=store)
    command = ["make", "--no-print-directory", "ui", "HOST=127.0.0.1", f"PORT={port}"]
    url = f"http://127.0.0.1:{port}"
    # its log in a file, not a pipe: a pipe nobody reads while the UI serves fills and stalls it
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            started = time.monotonic()
            while not _answers(f"{url}/health"):
                waited = time.monotonic() - started
                if server.poll() is not None or waited > UI_START_S:
                    log.seek(0)
                    said = log.read().decode(errors="replace").strip()[-300:]
                    state = (
                        f"exited with {server.returncode}"
                        if server.poll() is not None
                        else f"no answer at {url}/health within {UI_START_S} s"
                    )
                    raise WalkthroughError(f"make ui did not start ({state}): {said}")
                time.sleep(0.5)
            yield url
        finally:
            _stop(server)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:  # not listening yet, or busy starting
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group; SIGKILL if it has not ended a minute later."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:  # the whole group has ended already
        server.wait()


def wait_for(chrome: WebDriver, text: str, timeout_s: float = PAGE_S) -> None:
    """Wait until `text` is on the page; a `WalkthroughError` saying what was there if not."""
    deadline = time.monotonic() + timeout_s
    while text not in page_text(chrome):
        if time.monotonic() > deadline:
            shown = " ".join(page_text(chrome).split())[:300]
            raise WalkthroughError(
                f"{chrome.current_url}: {text!r} did not appear within {timeout_s:.0f} s ({shown})"
            )
        time.sleep(0.5)


def wait_until(chrome: WebDriver, script: str, what: str, *args: object) -> None:
    """Wait until a JavaScript predicate holds (`PAGE_S` at most)."""
    deadline = time.monotonic() + PAGE_S
    while not chrome.execute_script(script, *args):
        if time.monotonic() > deadline:
            raise WalkthroughError(f"{chrome.current_url}: {what} did not load within {PAGE_S} s")
        time.sleep(0.5)


def page_text(chrome: WebDriver) -> str:
    try:
        return str(chrome.find_element(By.TAG_NAME, "body").text)
    except WebDriverException:
        return ""


# what a control that has just appeared raises while it cannot take a click yet: a dialog or
# card still animating in, another layer over it, a node the page has just replaced
NOT_READY = (
    ElementNotInteractableException,
    ElementClickInterceptedException,
    StaleElementReferenceException,
    NoSuchElementException,
)


def click_when_ready(
    chrome: WebDriver, find: Callable[[], WebElement], what: str, timeout_s: float = PAGE_S
) -> WebElement:
    """Find and click a control as soon as it takes the click; the control. A fullscreen
    chart's step input can be in the page before it takes input (on a busy machine, the
    dialog is still opening), so a click that finds it not ready finds it again and retries."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            element = find()
            element.click()
            return element
        except NOT_READY as error:
            if time.monotonic() > deadline:
                said = (error.msg or type(error).__name__).splitlines()[0]
                raise WalkthroughError(
                    f"{chrome.current_url}: {what} took no click within {timeout_s:.0f} s ({said})"
                ) from error
            time.sleep(0.5)


def close_assistant(chrome: WebDriver) -> None:
    """The MLflow Assistant panel opens on first load and covers a third of the page."""
    for button in chrome.find_elements(By.CSS_SELECTOR, CLOSE_ASSISTANT):
        button.click()
        time.sleep(0.5)


def fullscreen_button(chrome: WebDriver, title: str, timeout_s: float = PAGE_S) -> WebElement:
    """The fullscreen button of the chart card titled `title`, once the card has rendered:
    the page can show the title before the card (on a busy machine, seconds before)."""
    path = (
        f"//*[text()='{title}']/ancestor::*[.//*[@data-component-id='fullscreen_button_chartcard']]"
        "[1]//*[@data-component-id='fullscreen_button_chartcard']"
    )
    deadline = time.monotonic() + timeout_s
    while not (found := chrome.find_elements(By.XPATH, path)):
        if time.monotonic() > deadline:
            raise WalkthroughError(
                f"{chrome.current_url}: no chart titled {title!r} within {timeout_s:.0f} s"
            )
        time.sleep(0.5)
    return found[0]


def last_step(chrome: WebDriver, chart: WebElement) -> None:
    """Move an image chart's step slider to the last step (the UI starts it at 0, before the
    first image: "No image logged at this step") and bring the image into view."""
    step = click_when_ready(
        chrome, lambda: chart.find_element(By.CSS_SELECTOR, STEP_INPUT), "the step slider's input"
    )
    step.send_keys(Keys.CONTROL, "a")
    step.send_keys(str(step.get_attribute("max")), Keys.TAB)
    wait_until(chrome, THUMBNAIL_SHOWN, "the sample grid", chart)
    image = chart.find_element(By.CSS_SELECTOR, "img")
    chrome.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)  # under params
    time.sleep(2)  # the UI fades the image in


def newest_runs(store: str, experiment: str, count: int = 2) -> tuple[str, list[tuple[str, str]]]:
    """The experiment's id and its `count` newest finished runs as (run id, run name)."""
    client = mlflow.MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise WalkthroughError(f"{store}: no experiment {experiment!r}; run make repro first")
    runs = client.search_runs(
        [found.experiment_id], "attributes.status = 'FINISHED'", order_by=["start_time DESC"]
    )[:count]
    if len(runs) < count:
        raise WalkthroughError(f"{store}: {experiment} has {len(runs)} finished runs, not {count}")
    return found.experiment_id, [(run.info.run_id, run.info.run_name) for run in runs]


def walk(
    chrome: WebDriver,
    url: str,
    experiment_id: str,
    runs: list[tuple[str, str]],
    out: Path,
    steps: Steps,
) -> dict[str, dict[str, object]]:
    """Visit the runs table, the newest run's sample grid and the compare view; screenshots
    into `out`. Returns what each page showed (URL, text, images)."""
    seen: dict[str, dict[str, object]] = {}

    def record(name: str) -> None:
        chrome.save_screenshot(str(out / f"{name}.png"))
        images = chrome.find_elements(
            By.CSS_SELECTOR, "img[src^='data:image'], img[src*='get-artifact']"
        )
        seen[name] = {"url": chrome.current_url, "text": page_text(chrome), "images": len(images)}
        steps.done(f"{name} page")

    # the experiment's link, as the UI's experiment list gives it
    chrome.get(f"{url}/#/experiments/{experiment_id}?{TRAINING}")
    wait_for(chrome, runs[0][1])
    close_assistant(chrome)
    record("runs")

    run_id, run_name = runs[0]
    chrome.get(f"{url}/#/experiments/{experiment_id}/runs/{run_id}/model-metrics?{TRAINING}")
    wait_for(chrome, run_name)
    close_assistant(chrome)
    search = chrome.find_element(By.CSS_SELECTOR, SEARCH_CHARTS)
    search.send_keys("samples")
    wait_for(chrome, "samples")
    click_when_ready(chrome, lambda: fullscreen_button(chrome, "samples"), "the fullscreen button")
    last_step(chrome, chrome.find_element(By.CSS_SELECTOR, "[role='dialog']"))
    record("grid")
    # the chart shows MLflow's 256 px thumbnail; a click on it (outside the fullscreen
    # view, whose layer hides the preview) opens the logged grid itself
    click_when_ready(
        chrome,
        lambda: chrome.find_element(By.CSS_SELECTOR, "[role='dialog'] [aria-label='Close']"),
        "the fullscreen view's Close button",
    )
    time.sleep(1)
    card = fullscreen_button(chrome, "samples").find_element(By.XPATH, CARD)
    last_step(chrome, card)
    click_when_ready(chrome, lambda: card.find_element(By.CSS_SELECTOR, "img"), "the sample grid")
    wait_until(chrome, FULL_SIZE_SHOWN, "the full-size grid")
    time.sleep(2)  # the preview zooms in
    record("grid_full")

    ids = quote(json.dumps([run for run, _ in runs]))
    experiments = quote(json.dumps([experiment_id]))
    chrome.set_window_size(WINDOW[0], 2 * WINDOW[1])  # the runs' details are below the plots
    chrome.get(f"{url}/#/compare-runs?runs={ids}&experiments={experiments}&{TRAINING}")
    for _, name in runs:
        wait_for(chrome, name)
    close_assistant(chrome)
    for switch in chrome.find_elements(By.CSS_SELECTOR, "[role='switch']")[:1]:
        switch.click()  # "Show diff only": the params that differ, not all eighty
    record("compare")
    return seen


def dvc_plots(out: Path) -> dict[str, object]:
    """`make plots`' page (`dvc plots show` with Vega inlined) in the workspace, drawn in
    Chromium cut off from the network, captured whole (tools/plots_page.py)."""
    sys.path.insert(0, str(ROOT / "tools"))
    import plots_page

    try:
        seen = plots_page.screenshot(out / "plots.png", len(plots_page.vega_plots()))
    except plots_page.PlotsPageError as error:
        raise WalkthroughError(str(error)) from error
    return {"url": "dvc plots show", "text": " ".join(seen["titles"]),
            "images": len(seen["pictures"])}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="MLflow tracking URI (default: the workspace's)")
    parser.add_argument("--experiment", default="ganops", help="experiment name")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui", help="screenshots")
    parser.add_argument("--port", type=int, default=5077, help="port for make ui")
    parser.add_argument("--plots", action="store_true", help="also capture dvc plots show")
    args = parser.parse_args(argv)
    # stopped from outside (a test's bound, a CI job's), it still stops the make ui it started
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    store = args.store or tracking_uri(ROOT)  # MLFLOW_TRACKING_URI, else the workspace's
    try:
        experiment_id, runs = newest_runs(store, args.experiment)
        args.out.mkdir(parents=True, exist_ok=True)
        steps = Steps()
        with mlflow_ui(store, args.port) as url:
            steps.done("make ui answers")
            with browser(basic_auth_header()) as chrome:
                steps.done("browser starts")
                seen = walk(chrome, url, experiment_id, runs, args.out, steps)
            if args.plots:
                seen["plots"] = dvc_plots(args.out)
                steps.done("plots page")
    except WalkthroughError as error:
        print(f"walkthrough: error: {error}", file=sys.stderr)
        return 1
    pages = ", ".join(f"{name}.png" for name in seen)
    (args.out / "walkthrough.json").write_text(
        json.dumps({**seen, "seconds": steps.seconds}, indent=2) + "\n"
    )
    print(f"walkthrough: {pages} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
