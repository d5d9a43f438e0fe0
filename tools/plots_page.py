"""`dvc plots show`'s page with no network: the HTML template with Vega inlined, and the page
rendered in headless Chromium.

DVC's own page loads Vega, Vega-Lite and vega-embed from a CDN, so with no network it draws
no chart. `tools/plots_template.html` holds the three libraries (the versions
`package-lock.json` pins) inlined, and is committed, so a fresh clone draws its charts
offline without npm; `make plots` passes it to `dvc plots show --html-template`.

    python tools/plots_page.py template                   # or: make plots-template (npm ci first)
    python tools/plots_page.py screenshot docs/ui/plots.png   # make plots, then this

`template` rebuilds the template from `node_modules/`. `screenshot` runs `dvc plots show`
with it in the workspace, opens the page in Chromium cut off from the network, waits until
every chart has drawn, saves a screenshot and prints what the page showed (as JSON): its
charts, their titles and its pictures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walkthrough import browser

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tools" / "plots_template.html"
# package name -> its browser build, in the order the page loads them
LIBRARIES = {
    "vega": "build/vega.min.js",
    "vega-lite": "build/vega-lite.min.js",
    "vega-embed": "build/vega-embed.min.js",
}
VERSIONS_META = "ganops-plots-libraries"
# how long the page may take to draw every chart (it took about a second on 2 cores)
RENDER_S = 120

# DVC fills {refresh_tag} and {plot_divs}; there is no {scripts}, so its CDN tags never go in.
# Each chart is drawn as SVG (its title and axes are text a test can read), with no menu of
# links to the online Vega editor; a chart that fails says so in place of a blank.
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="{meta}" content="{versions}">
{{refresh_tag}}
<title>ganops: dvc plots show</title>
<!--
{licences}
-->
{scripts}
<script>
(function () {{
  var embed = window.vegaEmbed;
  window.vegaEmbed = function (target, spec, options) {{
    var shown = embed(target, spec, Object.assign({{renderer: "svg", actions: false}}, options));
    return shown.catch(function (error) {{
      var box = document.querySelector(target);
      box.classList.add("plot-error");
      box.append("This chart could not be drawn: " + error);
      throw error;
    }});
  }};
}})();
</script>
<style>
body {{ font-family: sans-serif; margin: 16px; }}
body > div {{ display: inline-block; vertical-align: top; margin: 8px; }}
body > div[style] {{ border: 1px solid #ccc !important; padding: 4px; }}
img {{ max-width: calc(100vw - 90px); height: auto; }}
.plot-error {{ color: #b00020; }}
</style>
</head>
<body>
<h1>ganops: dvc plots show</h1>
{{plot_divs}}
</body>
</html>
"""


class PlotsPageError(Exception):
    """The template cannot be built, or the page did not render."""


def versions(lock: Path = ROOT / "package-lock.json") -> dict[str, str]:
    """The version `package-lock.json` pins for each library."""
    packages = json.loads(lock.read_text())["packages"]
    return {name: packages[f"node_modules/{name}"]["version"] for name in LIBRARIES}


def template_versions(template: Path = TEMPLATE) -> dict[str, str]:
    """The versions a built template says it inlines."""
    found = re.search(f'<meta name="{VERSIONS_META}" content="([^"]*)"', template.read_text())
    if found is None:
        raise PlotsPageError(f"{template} names no library versions: rebuild it")
    return dict(item.rsplit("@", 1) for item in found.group(1).split())


def build_template(node_modules: Path = ROOT / "node_modules") -> str:
    """The page template with each library of `node_modules` inlined, with its licence."""
    scripts, licences, listed = [], [], []
    for name, build in LIBRARIES.items():
        package = node_modules / name
        if not (package / build).is_file():
            raise PlotsPageError(f"{package / build} is missing: run npm ci first")
        about = json.loads((package / "package.json").read_text())
        listed.append(f"{name}@{about['version']}")
        # inside a <script> element only "</script" would end it early
        source = (package / build).read_text().replace("</script", "<\\/script")
        scripts.append(f"<script>\n{source}\n</script>")
        licence = package / "LICENSE"
        text = licence.read_text().strip() if licence.is_file() else ""
        licences.append(f"{name} {about['version']} ({about['license']})\n{text}".strip())
    page = PAGE.format(
        meta=VERSIONS_META,
        versions=" ".join(listed),
        licences="\n\n".join(licences).replace("--", "- -"),
        scripts="\n".join(scripts),
    )
    if "{scripts}" in page.replace("{{", ""):
        raise PlotsPageError("a library holds DVC's {scripts} placeholder")
    return page


def show(out: Path, template: Path = TEMPLATE, cwd: Path = ROOT) -> Path:
    """`dvc plots show` in `cwd` with the offline template, its page written under `out`."""
    command = [sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(template),
               "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlotsPageError(f"dvc plots show: {done.stderr.strip()[-300:]}")
    return out / "index.html"


# what the page showed once drawn: the Vega charts (an <svg> each), their titles, the
# pictures (and whether each has loaded), the charts that failed
SEEN = """
return {
  charts: document.querySelectorAll(".vega-embed svg.marks").length,
  titles: [...document.querySelectorAll(".vega-embed svg .role-title-text text")]
    .map(t => t.textContent),
  pictures: [...document.querySelectorAll("img")].map(i => ({
    src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0})),
  failed: [...document.querySelectorAll(".plot-error")].map(e => e.textContent),
};
"""


def offline_browser() -> AbstractContextManager[WebDriver]:
    """Headless Chromium (the walkthrough's) that reaches no network: every request goes
    to a closed port on 127.0.0.1, no host name resolves, and the browser is set offline."""
    flags = ("--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             "--host-resolver-rules=MAP * ~NOTFOUND")  # fmt: skip
    return browser(extra_flags=flags, offline=True)


def render(
    chrome: WebDriver, page: Path, charts: int, timeout_s: float = RENDER_S
) -> dict[str, Any]:
    """Open `page` and wait until `charts` charts have drawn (or one has failed, or
    `timeout_s` has passed); what the page showed."""
    chrome.get(page.resolve().as_uri())
    deadline = time.monotonic() + timeout_s
    while True:
        seen: dict[str, Any] = chrome.execute_script(SEEN)
        if seen["charts"] >= charts or seen["failed"] or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def screenshot(picture: Path, charts: int) -> dict[str, Any]:
    """The workspace's plots page, drawn offline, captured into `picture` (full height)."""
    with tempfile.TemporaryDirectory() as folder, offline_browser() as chrome:
        seen = render(chrome, show(Path(folder)), charts)
        if seen["charts"] != charts or seen["failed"]:
            raise PlotsPageError(f"the page drew {seen['charts']} of {charts} charts: {seen}")
        height = chrome.execute_script("return document.body.scrollHeight")
        chrome.set_window_size(1440, min(int(height) + 40, 4000))
        time.sleep(1)
        chrome.save_screenshot(str(picture))
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("template", help=f"rebuild {TEMPLATE.relative_to(ROOT)} from node_modules")
    shot = commands.add_parser("screenshot", help="the workspace's page, drawn offline, as a PNG")
    shot.add_argument("picture", type=Path)
    shot.add_argument("--charts", type=int, default=None, help="charts to wait for "
                      "(default: the Vega plots dvc.yaml defines)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.command == "template":
            TEMPLATE.write_text(build_template())
            listed = " ".join(f"{name}@{version}" for name, version in versions().items())
            print(f"{TEMPLATE.relative_to(ROOT)}: {listed}")
            return 0
        seen = screenshot(args.picture, args.charts or len(vega_plots()))
    except PlotsPageError as error:
        print(f"plots_page: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(seen, indent=2))
    return 0


def vega_plots(dvc_yaml: Path = ROOT / "dvc.yaml") -> dict[str, str]:
    """The top-level plots of `dvc_yaml` that Vega draws (not pictures): id -> title."""
    from ruamel.yaml import YAML

    plots = YAML(typ="safe").load(dvc_yaml.read_text())["plots"]
    found = {}
    for entry in plots:
        if isinstance(entry, dict):
            ((name, props),) = entry.items()
            found[name] = props.get("title", "")
    return found


if __name__ == "__main__":
    sys.exit(main())
