"""The README's "Using it" walkthrough, run as a newcomer would: in a terminal, on a fresh virtualenv.

The commands are read from README.md itself (the first ```bash block of "Using it", the ```python
block after it and the ``$ prodcat ...`` console examples), so the test fails when the README and the
product drift apart. They run one by one in a tmux session (a real terminal: Rich tables, Keras
progress bars, uvicorn); each command's exit code and output are checked against what the README
says beside it. What the commands need is made in a temporary directory: ``catalog.csv`` and
``other.csv`` (small labelled catalogs of real rows of the reference data, headerless like the
published file: a few hundred rows, so the default LSTM trains in seconds), ``catalog.parquet`` and a
``keys`` file. The ``prodcat serve`` lines run in their own tmux window on a free port (the machine
is shared, 8000 may be taken); their page, API docs and API are tried, then they are stopped.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import NORMALIZED, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test.sh installs Debian's tmux)"),
]

README = ROOT / "README.md"
ROWS_PER_LABEL = 100            # catalog.csv: 400 rows, the default LSTM trains in about half a minute on 2 cores
OTHER_ROWS_PER_LABEL = 50       # other.csv: 200 other rows of the same four categories
KEY = "walkthrough-key-5f1c2e"
TF_NOISE = re.compile(r"^[EWI]0000 |oneDNN custom operations|Unable to register cu|TF-TRT Warning|absl::InitializeLog", re.M)
NUMBER = re.compile(r"[+-]?\d+\.\d+")


# --- what the README says ------------------------------------------------------------------------

@dataclass
class Line:
    command: str
    comment: str


def using_it() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Using it\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def fenced_blocks(section: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", section, re.M | re.S)]


def readme_walkthrough() -> tuple[list[Line], str, list[tuple[str, list[str]]]]:
    """The first bash block's commands (with their comments), the python block after it, and the
    console examples: (command, expected output lines)."""
    blocks = fenced_blocks(using_it())
    first_bash = next(i for i, (lang, _) in enumerate(blocks) if lang == "bash")
    assert blocks[first_bash + 1][0] == "python", "README 'Using it': the first bash block is no longer followed by the python block"
    lines = []
    for raw in blocks[first_bash][1].splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = re.match(r"^(.*?)\s{2,}#\s(.*)$", raw)
        lines.append(Line(match.group(1).strip(), match.group(2).strip()) if match else Line(raw.strip(), ""))
    consoles = []
    for lang, body in blocks:
        if lang == "console":
            first, *rest = body.rstrip("\n").splitlines()
            assert first.startswith("$ "), first
            consoles.append((first[2:], rest))
    return lines, blocks[first_bash + 1][1], consoles


# --- a terminal --------------------------------------------------------------------------------

class Terminal:
    """A tmux server of its own (its own socket), one shell per window."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir, self.env, self.count = workdir, env, 0
        self.socket = f"prodcat-walkthrough-{os.getpid()}"
        conf = workdir.parent / "tmux.conf"
        conf.write_text("set -g history-limit 200000\nset -g remain-on-exit off\n")
        self.tmux("-f", str(conf), "new-session", "-d", "-s", "walk", "-n", "main", "-x", "220", "-y", "50",
                  "-c", str(workdir), "bash --norc --noprofile")
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=30)
        assert result.returncode == 0, f"tmux {' '.join(args)}: {result.stderr}"
        return result.stdout

    def new_window(self, name: str) -> None:
        self.tmux("new-window", "-d", "-t", "walk", "-n", name, "-c", str(self.workdir), "bash --norc --noprofile")

    def capture(self, window: str = "main", everything: bool = True) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", f"walk:{window}", *(["-S", "-"] if everything else []))

    def start(self, command: str, window: str = "main") -> int:
        """Type ``command`` (framed by markers carrying its number and exit code) and press Enter."""
        self.count += 1
        n = self.count
        framed = f"printf '\\n__BEGIN_%s__\\n' {n}; {command}; printf '__END_%s_%s__\\n' {n} $?"
        self.tmux("send-keys", "-t", f"walk:{window}", "-l", framed)
        self.tmux("send-keys", "-t", f"walk:{window}", "Enter")
        return n

    def finished(self, n: int, window: str = "main", everything: bool = False) -> tuple[int, str] | None:
        screen = self.capture(window, everything=everything)
        end = re.search(rf"^__END_{n}_(\d+)__$", screen, re.M)
        if not end:
            return None
        full = self.capture(window) if not everything else screen
        begin = [m for m in re.finditer(rf"^__BEGIN_{n}__$", full, re.M)][-1]
        end = re.search(rf"^__END_{n}_(\d+)__$", full[begin.end():], re.M)
        return int(end.group(1)), full[begin.end():begin.end() + end.start()].strip("\n")

    def wait(self, n: int, timeout: float, window: str = "main") -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.finished(n, window)
            if done:
                return done
            time.sleep(0.25)
        raise AssertionError(f"command {n} did not finish within {timeout:.0f} s; the terminal shows:\n{self.capture(window)[-4000:]}")

    def run(self, command: str, timeout: float = 120, window: str = "main") -> tuple[int, str, float]:
        began = time.monotonic()
        rc, output = self.wait(self.start(command, window), timeout, window)
        return rc, output, time.monotonic() - began

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, env=self.env, timeout=30)
        self.socket_path.unlink(missing_ok=True)


# --- the files the walkthrough needs --------------------------------------------------------------

def prepare(workdir: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)
    frame[1] = frame[1].str.slice(0, 300)  # shorter texts: the same words up front, faster epochs
    chosen = frame.groupby(0).sample(ROWS_PER_LABEL + OTHER_ROWS_PER_LABEL, random_state=0).sample(frac=1.0, random_state=1)
    catalog, other = chosen.groupby(0).head(ROWS_PER_LABEL), chosen.groupby(0).tail(OTHER_ROWS_PER_LABEL)
    catalog.to_csv(workdir / "catalog.csv", header=False, index=False)
    other.to_csv(workdir / "other.csv", header=False, index=False)
    catalog.rename(columns={0: "category", 1: "text"}).to_parquet(workdir / "catalog.parquet", index=False)
    # The same texts under categories no model here knows: evaluate must refuse them (exit 2).
    unrelated = other.copy()
    unrelated[0] = "Toys & Games"
    unrelated.to_csv(workdir / "unrelated.csv", header=False, index=False)
    (workdir / "keys").write_text(f"# API keys of the walkthrough\n{KEY}\n")
    (workdir / "keys").chmod(0o600)


def source_copy(target: Path) -> Path:
    """The project's sources, so that pip builds outside the repository (no build/ or egg-info there)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def clean_environment() -> dict[str, str]:
    """The user's environment: no test-suite settings (conftest silences TensorFlow), no virtualenv,
    and Python's bytecode cache on (a machine that turns it off would compile TensorFlow's sources
    again in every command: 20 s a command instead of 9)."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "TMUX", "TMUX_PANE", "TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND", "PYTHONHOME", "PYTEST_CURRENT_TEST",
            "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PRODCAT_")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    env["PS1"] = "$ "
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, key: str | None = None) -> tuple[int, str, str]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


# --- checks of each README line ---------------------------------------------------------------------

def first_lines(output: str) -> list[str]:
    """The command's stdout-looking lines: stderr notes (reading, treating row 1 as ...) left out."""
    notes = ("using the bundled default model", "treating row 1 as", "reading ")
    return [line for line in output.splitlines() if line.strip() and not line.startswith(notes)]


def columns(line: str) -> list[str]:
    """A line's tab-separated fields as the terminal shows them (tmux gives tabs back as spaces)."""
    return re.split(r"\t| {2,}", line.strip())


def prediction_line(line: str, labels: list[str]) -> tuple[str, float]:
    fields = columns(line)
    assert fields[0] in labels and len(fields) in (2, 3), f"not '<category>\\t<confidence>[\\tneeds review]': {line!r}"
    assert len(fields) == 2 or fields[2] == "needs review", line
    confidence = float(fields[1])
    assert 0 < confidence <= 1 and re.fullmatch(r"\d\.\d{4}", fields[1]), line
    return fields[0], confidence


def same_shape(actual: list[str], expected: list[str], tolerance: float = 0.011) -> None:
    """The same lines up to spacing, every number within ``tolerance`` of the README's."""
    assert len(actual) == len(expected), "\n".join(["README:", *expected, "got:", *actual])
    for got, want in zip(actual, expected):
        assert NUMBER.sub("#", " ".join(got.split())) == NUMBER.sub("#", " ".join(want.split())), f"README: {want!r}\ngot:    {got!r}"
        for g, w in zip(NUMBER.findall(got), NUMBER.findall(want)):
            assert abs(float(g) - float(w)) <= tolerance, f"README: {want!r}\ngot:    {got!r}"


PYTHON_RUNNER = r'''
import ast, json, sys
statements = json.load(open(sys.argv[1]))
results, namespace = [], {}
def plain(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None), dict)) else repr(value)
for source, is_expression in statements:
    if is_expression:
        value = eval(source, namespace)
        results.append({"source": source, "value": plain(value), "repr": repr(value)})
    else:
        exec(source, namespace)
import prodcat
categorizer = namespace["categorizer"]
results.append({"labels": list(categorizer.labels), "family": categorizer.family,
                "default_labels": list(prodcat.load().labels)})
json.dump(results, open(sys.argv[2], "w"), indent=1)
print("python block: %d statements run" % len(statements))
'''


def python_statements(block: str) -> list[tuple[str, bool, str]]:
    """(source, is an expression, its trailing comment) for each top-level statement of the block."""
    lines = block.splitlines()
    statements = []
    for node in ast.parse(block).body:
        source = ast.get_source_segment(block, node)
        rest = lines[node.end_lineno - 1][node.end_col_offset:]
        comment = rest.split("#", 1)[1].strip() if "#" in rest else ""
        statements.append((source, isinstance(node, ast.Expr), comment))
    return statements


# --- the walkthrough ----------------------------------------------------------------------------------

def test_readme_using_it_walkthrough_in_a_terminal(tmp_path):
    commands, python_block, consoles = readme_walkthrough()
    workdir = tmp_path / "shop"
    workdir.mkdir()
    prepare(workdir)
    source = source_copy(tmp_path / "prodcat-src")
    env = clean_environment()
    timings: dict[str, float] = {}
    terminal = Terminal(workdir, env)
    try:
        # A fresh virtualenv with the extras the block needs: the default `prodcat train` family is the LSTM.
        python = Path(sys.base_prefix) / "bin" / "python3"
        rc, output, timings["venv + pip install"] = terminal.run(
            f"{python} -m venv .venv && . .venv/bin/activate && pip install --quiet --no-compile '{source}[lstm]'", timeout=600)
        assert rc == 0, output[-3000:]
        rc, output, _ = terminal.run("command -v prodcat python")
        assert rc == 0 and all(line.startswith(str(workdir / ".venv" / "bin")) for line in output.splitlines()), output

        labels: list[str] = []
        top_two: list[str] = []
        served = 0
        for line in commands:
            if line.command.startswith("prodcat serve"):
                served += 1
                check_serve(terminal, line, served, labels, timings)
                continue
            rc, output, timings[line.command] = terminal.run(line.command, timeout=300)
            assert not TF_NOISE.search(output), f"{line.command}: TensorFlow log noise\n{output}"
            check_line(line, rc, output, workdir, labels, top_two, timings)
            if line.command.startswith("prodcat evaluate"):
                # The comment's other half: a file none of whose labels is the model's exits 2.
                wrong = line.command.replace("other.csv", "unrelated.csv").replace("reports/other", "reports/unrelated")
                rc, output, timings[wrong] = terminal.run(wrong, timeout=120)
                assert rc == 2, f"{wrong}: exit {rc}, the README says exit 2\n{output}"
                assert not (workdir / "reports" / "unrelated").exists()
        assert served == 2 and labels and top_two, "README 'Using it': the bash block lost its train, predict or serve lines"

        check_python_block(terminal, python_block, workdir, timings)
        check_consoles(terminal, consoles, commands, workdir, env, timings)
    finally:
        terminal.close()
        total = sum(timings.values())
        print("\nREADME walkthrough, seconds per command:\n" + "\n".join(f"{t:7.1f}  {c}" for c, t in timings.items()) + f"\n{total:7.1f}  in all")


def check_line(line: Line, rc: int, output: str, workdir: Path, labels: list[str], top_two: list[str], timings) -> None:
    command = line.command
    assert rc == 0, f"{command}: exit {rc}\n{output}"
    lines = first_lines(output)
    if command.startswith("prodcat predict") and "--model" not in command and "--input" not in command:
        # "the bundled default model": its four departments, said on stderr
        assert "using the bundled default model" in output, output
        category, _ = prediction_line(lines[0], ["Books", "Clothing & Accessories", "Electronics", "Household"])
        if "headphones" in command:
            assert category == "Electronics", output
    elif command.startswith("prodcat data inspect"):
        # "rows, labels, empty texts, duplicates, lengths, tree" (a tree only for category paths; these are flat)
        rows = 4 * ROWS_PER_LABEL
        for expected in (f"catalog.csv: {rows} rows", "4 labels", "empty texts: 0", "empty labels: 0", "exact duplicates:",
                         "near-duplicate groups:", "text length", "characters", "words"):
            assert expected in output, f"{command}: no {expected!r}\n{output}"
    elif command.startswith("prodcat train"):
        out = re.search(r"--out (\S+)", command)
        family = re.search(r"--family (\S+)", command)
        family = family.group(1) if family else "lstm"
        model = workdir / (out.group(1) if out else f"models/catalog-{family}")
        manifest = json.loads((model / "prodcat.json").read_text())
        assert manifest["family"] == family, manifest["family"]
        assert (model / "report" / "report.md").is_file() and (model / "report" / "metrics.json").is_file()
        assert f"model: {model.relative_to(workdir)}" in output and f"report: {model.relative_to(workdir)}/report" in output, output
        assert re.search(r"test \(leakage-free split\): \d+ rows, accuracy 0\.\d{4}", output), output
        if "seconds" in line.comment:
            assert timings[command] < 60, f"{command}: {timings[command]:.0f} s; the README says seconds"
        if out:
            labels[:] = manifest["labels"]
            assert sorted(labels) == ["Books", "Clothing & Accessories", "Electronics", "Household"]
    elif command.startswith("prodcat evaluate"):
        report = workdir / re.search(r"--report (\S+)", command).group(1)
        assert (report / "metrics.json").is_file() and (report / "report.md").is_file()
        assert re.search(rf"{4 * OTHER_ROWS_PER_LABEL} rows: accuracy 0\.\d{{4}}", output), output
    elif command.startswith("prodcat predict") and "--input" in command:
        target = re.search(r"--output (\S+)", command).group(1)
        k = int(re.search(r"--top-k (\d+)", command).group(1))
        assert re.search(rf"read {4 * ROWS_PER_LABEL} rows from catalog\.parquet; wrote {4 * ROWS_PER_LABEL} rows to {re.escape(target)}", output), output
        assert "accuracy on the input's label column category:" in output, output
        import pandas as pd

        written = pd.read_csv(workdir / target, keep_default_na=False)
        expected = ["category", "text", "predicted_category", "predicted_confidence", "predicted_needs_review",
                    *[c for i in range(2, k + 1) for c in (f"predicted_category_{i}", f"predicted_confidence_{i}")], "predicted_reason"]
        assert list(written.columns) == expected
        assert len(written) == 4 * ROWS_PER_LABEL and set(written["predicted_category"]) <= set(labels)
    elif command.startswith("prodcat predict") and "--top-k" in command:
        # "the best 2 categories": the best, then the runner-up indented
        k = int(re.search(r"--top-k (\d+)", command).group(1))
        assert len(lines) == k, output
        best, p1 = prediction_line(lines[0], labels)
        assert lines[1].startswith("  ")
        second, p2 = columns(lines[1])
        assert second in labels and second != best and float(p2) <= p1, output
        top_two[:] = [lines[0], second]
    elif command.startswith("prodcat predict") and "--explain" in command:
        # "and the words behind the category": the same first line, why it and not the runner-up, the words
        assert lines[0] == top_two[0], f"--explain's first line differs from --top-k's:\n{lines[0]!r}\n{top_two[0]!r}"
        category = columns(lines[0])[0]
        assert lines[1].startswith(f"  why {category}, not {top_two[1]}: "), output
        words = [re.fullmatch(r"    (\S.*?)\s+([+-]\d\.\d{3})", w) for w in lines[2:]]
        assert words and all(words), output
        text = re.search(r'"([^"]+)"', command).group(1).lower()
        assert all(w.group(1) in text for w in words), f"words not in the product's text: {[w.group(1) for w in words]}"
    else:
        raise AssertionError(f"README 'Using it' has a line this test does not know how to check: {command}")


def check_serve(terminal: Terminal, line: Line, number: int, labels: list[str], timings) -> None:
    # The README's line on a free port: 8000 may be taken on a shared machine; the comment's URL is checked with that port.
    port = free_port()
    window = f"serve{number}"
    terminal.new_window(window)
    terminal.start(". .venv/bin/activate", window)
    began = time.monotonic()
    n = terminal.start(f"{line.command} --port {port}", window)
    base = f"http://127.0.0.1:{port}"
    while True:
        done = terminal.finished(n, window)
        assert not done, f"{line.command}: exited {done[0]} before serving\n{done[1]}" if done else ""
        try:
            if http("GET", base + "/healthz")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() - began < 90, f"{line.command}: no /healthz after 90 s\n{terminal.capture(window)}"
        time.sleep(0.25)
    timings[line.command + " (until /healthz)"] = time.monotonic() - began
    screen = terminal.capture(window)
    keyed = "--api-key-file" in line.command
    model = re.search(r"--model (\S+)", line.command).group(1)
    announced = f"serving {model} on {base}/ (API docs at /docs{'; /v1 needs an API key' if keyed else ''})"
    assert announced in screen, screen
    assert "http://127.0.0.1:8000/" in line.comment or keyed, line.comment  # the comment's URL, on the default port

    status, kind, page = http("GET", base + "/")
    assert status == 200 and kind.startswith("text/html") and "<html" in page.lower(), (status, kind)
    status, kind, docs = http("GET", base + "/docs")
    assert status == 200 and "swagger" in docs.lower(), status
    request = {"items": [{"id": 1, "text": "Levi's 511 slim fit jeans"}], "top_k": 2}
    if keyed:
        # "/v1 then needs 'Authorization: Bearer <key>'": 401 without it or with a wrong one
        assert "Authorization: Bearer <key>" in line.comment, line.comment
        assert http("POST", base + "/v1/categorize", request)[0] == 401
        assert http("POST", base + "/v1/categorize", request, key="not-the-key")[0] == 401
        assert http("GET", base + "/v1/model")[0] == 401
    status, _, body = http("POST", base + "/v1/categorize", request, key=KEY if keyed else None)
    assert status == 200, body
    item = json.loads(body)["items"][0]
    assert item["id"] == 1 and item["category"] in labels and len(item["top_k"]) == 2, item
    status, _, body = http("GET", base + "/v1/model", key=KEY if keyed else None)
    assert status == 200 and sorted(json.loads(body)["labels"]) == sorted(labels), body

    terminal.tmux("send-keys", "-t", f"walk:{window}", "C-c")
    rc, output = terminal.wait(n, 30, window)
    assert "Traceback" not in output, output


def check_python_block(terminal: Terminal, block: str, workdir: Path, timings) -> None:
    statements = python_statements(block)
    (workdir / "python_block.json").write_text(json.dumps([(source, is_expr) for source, is_expr, _ in statements]))
    (workdir / "python_block_runner.py").write_text(PYTHON_RUNNER)
    rc, output, timings["the python block"] = terminal.run("python python_block_runner.py python_block.json python_block_results.json", timeout=180)
    assert rc == 0, output
    assert not TF_NOISE.search(output), output
    *results, facts = json.loads((workdir / "python_block_results.json").read_text())
    expressions = [(source, comment) for source, is_expr, comment in statements if is_expr]
    assert [r["source"] for r in results] == [source for source, _ in expressions]
    predicted = None
    for (source, comment), result in zip(expressions, results):
        value = result["value"]
        try:
            literal = ast.literal_eval(comment)
        except (ValueError, SyntaxError):
            literal = None
        if literal is not None:  # e.g. "# ['Electronics']": the value shown
            assert value == literal, f"{source}: README shows {comment}, got {result['repr']}"
        if ".predict(" in source:
            predicted = value[0]
        elif ".predict_proba(" in source:  # "columns follow categorizer.labels"
            assert "categorizer.labels" in comment and len(value) == 1 and len(value[0]) == len(facts["labels"])
            assert abs(sum(value[0]) - 1) < 1e-6 and facts["labels"][max(range(len(value[0])), key=value[0].__getitem__)] == predicted
        elif ".categorize(" in source:  # "category, confidence, needs_review, top_k"
            k = int(re.search(r"top_k=(\d+)", source).group(1))
            for field in re.findall(r"\w+", comment):
                assert field in value[0], f"{source}: no {field!r} in {value[0]}"
            assert len(value[0]["top_k"]) == k or value[0]["category"] is None and value[0]["reason"], value[0]
        elif ".explain(" in source:  # "the words for the category and for the runner-up"
            top = int(re.search(r"top=(\d+)", source).group(1))
            assert value["category"] == predicted and value["runner_up"] in facts["labels"] and value["runner_up"] != predicted, value
            assert 0 < len(value["supporting"]) <= top and len(value["opposing"]) <= top, value
    # The block trains the linear family into models/shop (replacing the CLI's LSTM there: the Python
    # API has no --force) and loads it; "prodcat.load() alone: the default model".
    family = re.search(r'prodcat\.train\(.*family="(\w+)"', block).group(1)
    assert facts["family"] == family, facts
    assert any("prodcat.load(" in source and "the default model" in comment for source, _, comment in statements)
    assert sorted(facts["default_labels"]) == ["Books", "Clothing & Accessories", "Electronics", "Household"]


def check_consoles(terminal: Terminal, consoles, commands: list[Line], workdir: Path, env: dict[str, str], timings) -> None:
    checked = 0
    for command, expected in consoles:
        model = re.search(r"--model (\S+)", command)
        if model and not any(f"--out {model.group(1)}" in line.command for line in commands):
            # The category-path example needs a model of category paths (models/grocery) that the
            # README's walkthrough does not build; the hierarchy tests cover that output.
            continue
        rc, output, timings[command] = terminal.run(command, timeout=120)
        assert rc == 0, output
        lines = first_lines(output)
        same_shape(lines, expected)
        # The terminal shows tabs as spaces: the tab of '<category>\t<confidence>' is checked on stdout itself.
        user_env = {**env, "PATH": f"{workdir / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}
        first = subprocess.run(command, shell=True, cwd=workdir, env=user_env, capture_output=True, text=True, timeout=120).stdout.splitlines()[0]
        assert "\t" in expected[0] and re.fullmatch(r"[^\t]+\t\d\.\d{4}(\tneeds review)?", first), first
        assert first.split("\t")[0] == expected[0].split("\t")[0], first
        checked += 1
    assert checked, "README 'Using it' shows no console example this test can run"
