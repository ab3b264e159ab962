"""The docs stay true: every relative link in README.md and docs/ resolves (anchors included), and every `cream`
command in their shell blocks parses, with flags the command has and config keys that exist."""

import re
import shlex
from pathlib import Path

import pytest

from cream import cli
from cream.assemble import make_config
from cream.config import RetrainRun, SearchRun
from cream.errors import CreamError

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUN_CLASSES = {"search": SearchRun, "retrain": RetrainRun}


def without_code(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text()), re.M)
    return {github_anchor(h) for h in headings}


def links(path: Path) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text()))
            if not re.match(r"[a-z]+:", t)]


def shell_commands(path: Path) -> list[list[str]]:
    """The argument lists of the `cream` commands in ``path``'s sh blocks (also ``torchrun ... -m cream.cli``),
    with the block's shell variables expanded and comments left out."""
    commands = []
    for lang, block in FENCE.findall(path.read_text()):
        if lang not in ("sh", "bash", "shell"):
            continue
        variables = {}
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 1 and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                name, value = words[0].split("=", 1)
                variables[name] = value
                continue
            words = [w for word in words for w in (shlex.split(variables[word[1:]]) if word[1:] in variables
                                                   else [word])]
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # PYTHONPATH=. cream ...
                words = words[1:]
            if words[:1] == ["cream"]:
                commands.append(words[1:])
            elif "cream.cli" in words:
                commands.append(words[words.index("cream.cli") + 1:])
    return commands


def test_the_docs_exist_and_open_with_what_a_reader_can_do():
    pages = {p.name for p in DOCS}
    assert {"configs.md", "many-gpus.md", "latency.md", "search-space.md", "training-rules.md", "python-api.md",
            "paper-code.md"} <= pages
    for page in DOCS[1:]:
        first = page.read_text().split("\n\n")[1]
        assert first.startswith("What you can do with this page"), page.name


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in links(page):
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        assert resolved.exists(), f"{page.name}: {target} names no file"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: {target} names no heading of {resolved.name}"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_cream_command_parses_with_valid_flags_and_keys(page):
    parser = cli.build_parser()
    for argv in shell_commands(page):
        try:
            args = parser.parse_args(argv)
        except CreamError as e:
            pytest.fail(f"{page.name}: cream {shlex.join(argv)}: {e}")
        overrides = list(getattr(args, "overrides", None) or [])
        preset = getattr(args, "config", None)
        if preset is not None and "=" in preset:
            preset, overrides = None, [preset, *overrides]
        if args.command not in RUN_CLASSES or any(o.startswith("search.rule_module=") for o in overrides):
            continue  # a user's rule module brings its own keys; other commands take no overrides to check here
        try:
            make_config(RUN_CLASSES[args.command], preset, overrides)
        except CreamError as e:
            pytest.fail(f"{page.name}: cream {shlex.join(argv)}: {e}")


def test_the_command_check_fails_on_a_wrong_flag_and_a_wrong_key(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```sh\ncream search --data DIR\ncream search search.epochz=3\ncream test --chekpoint x\n```\n")
    assert shell_commands(page) == [["search", "--data", "DIR"], ["search", "search.epochz=3"],
                                    ["test", "--chekpoint", "x"]]
    with pytest.raises(CreamError):
        make_config(SearchRun, None, ["search.epochz=3"])
    with pytest.raises(CreamError):
        cli.build_parser().parse_args(["test", "--chekpoint", "x"])


def test_github_anchors_follow_githubs_rule():
    assert github_anchor("Coming from the paper's code") == "coming-from-the-papers-code"
    assert github_anchor("A longer retrain: `fashion_mnist_full`") == "a-longer-retrain-fashion_mnist_full"
    assert github_anchor("How long does the demo take, and how accurate is its model?") == \
        "how-long-does-the-demo-take-and-how-accurate-is-its-model"
