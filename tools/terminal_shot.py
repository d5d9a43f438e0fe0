"""What `ganops exps` and the guide's cut of `dvc exp show` print, as a picture of a
160-column terminal drawn by headless Chromium (offline), for docs/ui/exps.png.

Runs both commands in the project at `--root`, writes their output into a page of
monospaced text exactly `--columns` characters wide, and saves a screenshot of it; the text
it drew is printed, so a test can compare it with the commands' own output.

Usage: python tools/terminal_shot.py [--root .] [--columns 160] [--out docs/ui/exps.png]
"""

from __future__ import annotations

import argparse
import html
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plots_page import offline_browser

ROOT = Path(__file__).resolve().parents[1]
CUT = (
    "--only-changed",
    "--drop",
    "src/|pipeline/|real_floor",
    "--keep",
    "fid$|precision|recall|cas$",
)
PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; background: #1e1e1e; }}
pre {{ margin: 0; padding: 12px; color: #e0e0e0; font: 13px/1.35 'DejaVu Sans Mono', monospace;
      width: {columns}ch; white-space: pre; }}
b {{ color: #8fd18f; font-weight: normal; }}
</style><pre id="screen">{body}</pre>"""


def commands(columns: int) -> list[list[str]]:
    """The two command lines the picture shows."""
    return [
        [sys.executable, "-m", "ganops.cli", "exps", "--width", str(columns)],
        [sys.executable, "-m", "dvc", "exp", "show", "--no-pager", *CUT],
    ]


def transcript(root: Path, columns: int) -> str:
    """Each command as typed at a prompt, then what it printed."""
    parts = []
    for command in commands(columns):
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False,
                              env=None)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"terminal_shot: {' '.join(command[1:])} failed: {done.stderr}")
        shown = ["ganops" if "ganops.cli" in command else "dvc", *command[3:]]
        typed = " ".join(f"'{word}'" if "|" in word else word for word in shown)
        parts.append(f"$ {typed}\n{done.stdout.rstrip()}\n")
    return "\n".join(parts)


def shoot(text: str, columns: int, picture: Path) -> str:
    """Draw `text` as a `columns`-wide terminal into `picture`; the text the page shows."""
    lines = [html.escape(line) for line in text.splitlines()]
    body = "\n".join(f"<b>{line}</b>" if line.startswith("$ ") else line for line in lines)
    with tempfile.TemporaryDirectory() as folder, offline_browser() as chrome:
        page = Path(folder) / "terminal.html"
        page.write_text(PAGE.format(columns=columns, body=body), encoding="utf-8")
        chrome.get(page.as_uri())
        width, height = chrome.execute_script(
            "const r = document.getElementById('screen').getBoundingClientRect();"
            "return [Math.ceil(r.width), Math.ceil(r.height)];"
        )
        chrome.set_window_size(int(width), int(height) + 140)  # the window's frame
        shown: str = chrome.execute_script("return document.getElementById('screen').innerText")
        chrome.get_screenshot_as_file(str(picture))
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the project to run them in")
    parser.add_argument("--columns", type=int, default=160, help="the terminal's width")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui" / "exps.png")
    args = parser.parse_args(argv)
    text = transcript(args.root, args.columns)
    too_wide = [line for line in text.splitlines() if len(line) > args.columns]
    if too_wide:
        print(f"terminal_shot: error: a line is {len(too_wide[0])} columns: {too_wide[0][:60]}…",
              file=sys.stderr)  # fmt: skip
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(shoot(text, args.columns, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
