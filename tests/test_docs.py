"""The documentation stands on its own: no link out of the repository, no word that only makes
sense to its authors, no placeholder left unfilled, internal links that resolve, and the API
page's examples run."""

import dataclasses
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "studies").glob("*.md"),
                REPO / "sltsim" / "torch_backend" / "README.md"])
# words that point at material outside the repository or mean nothing to a reader
PRIVATE = re.compile(r"\bseeds? ?0\d\d\b|seeds/|shared/|our copy|\bhelpers?\b|\bissues? #?\d+\b", re.IGNORECASE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
WEB = re.compile(r"\b(?:https?|ftp)://|\bwww\.", re.IGNORECASE)
# a placeholder left for later: an all-caps token with an underscore (BENCH_TEXT) or a to-do word;
# all-caps words (DDP, CPU, NOTE) and names in code (`NUMBA_CACHE_DIR`, code blocks) are not
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b|\b(?:TODO|TBD|FIXME|XXX)\b")


def _params():
    for page in PAGES:
        yield pytest.param(page, id=page.relative_to(REPO).as_posix())


def _targets(page: Path):
    """(line number, link target) of every markdown link of ``page`` that is not a web address."""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        for target in LINK.findall(line):
            if not re.match(r"^(https?|mailto):", target) and not target.startswith("#"):
                yield number, target


def _outside_code(page: Path):
    """(line number, line) of ``page`` with fenced code blocks and inline code spans left out."""
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "", line)


def _links_out(page: Path, root: Path = REPO) -> list[str]:
    """Every private word, web address and link out of ``root`` on ``page``, one line each."""
    found = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        for match in PRIVATE.finditer(line):
            found.append(f"line {number}: {match.group(0)!r}")
        for match in WEB.finditer(line):  # a web address is a link out too, in a link or in text
            found.append(f"line {number}: web address {match.group(0)!r}")
    for number, target in _targets(page):
        path = target.split("#")[0]
        if path.startswith(("/", "file:", "~")):
            found.append(f"line {number}: absolute link {target!r}")
            continue
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(root):
            found.append(f"line {number}: link out of the repository {target!r}")
    return found


def _placeholders(page: Path) -> list[str]:
    return [f"line {number}: {match.group(0)!r}" for number, line in _outside_code(page)
            for match in PLACEHOLDER.finditer(line)]


def test_the_pages_exist():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    for name in ("docs/index.md", "docs/glossary.md", "docs/data-flow.md", "docs/planted.md", "docs/api.md",
                 "studies/README.md", "sltsim/torch_backend/README.md"):
        assert name in names


@pytest.mark.parametrize("page", list(_params()))
def test_no_link_leaves_the_repository_and_no_private_word(page):
    assert _links_out(page) == []


@pytest.mark.parametrize("page", list(_params()))
def test_no_placeholder_is_left(page):
    assert _placeholders(page) == []


@pytest.mark.parametrize("page", list(_params()))
def test_internal_links_resolve(page):
    broken = []
    for number, target in _targets(page):
        resolved = (page.parent / target.split("#")[0]).resolve()
        if not resolved.is_relative_to(REPO):
            continue  # reported by the test above
        if not resolved.exists():
            broken.append(f"line {number}: {target!r}")
    assert broken == []


def test_the_checker_catches_what_it_should(tmp_path):
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("See [design](../../shared/DESIGN.md), seed 000 and our copy of the paper (issue 6).\n"
                    "Fine: [glossary](glossary.md), seeds 0, 1, 2, [web](https://example.org/x).\n")
    words = [m.group(0) for m in PRIVATE.finditer(page.read_text())]
    assert words == ["shared/", "seed 000", "our copy", "issue 6"]
    assert [t for _, t in _targets(page)] == ["../../shared/DESIGN.md", "glossary.md"]
    assert _links_out(page, root=tmp_path) == [
        "line 1: 'shared/'", "line 1: 'seed 000'", "line 1: 'our copy'", "line 1: 'issue 6'",
        "line 2: web address 'https://'", "line 1: link out of the repository '../../shared/DESIGN.md'"]


def test_the_placeholder_check_catches_what_it_should(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("BENCH_TEXT\n"
                    "DDP on a CPU or GPU, SGD on an MLP, EP: see README, CUDA, TOML, JSON, BLAS. NOTE: fine.\n"
                    "TODO: measure; the rate is TBD (FIXME, XXX).\n"
                    "Set `NUMBA_CACHE_DIR` or `OMP_NUM_THREADS` in code; a_snake_case name; Fig_3 is fine.\n"
                    "```\nOMP_NUM_THREADS=1 python -m sltsim  # TODO in a code block is code\n```\n"
                    "A forgotten RESULT_TABLE_2 here.\n")
    assert _placeholders(page) == ["line 1: 'BENCH_TEXT'", "line 3: 'TODO'", "line 3: 'TBD'", "line 3: 'FIXME'",
                                   "line 3: 'XXX'", "line 8: 'RESULT_TABLE_2'"]


def test_every_record_word_of_the_cli_summary_is_in_the_glossary():
    """The fields the single-run summary prints and the config's fields are all explained."""
    from sltsim.config import RunConfig

    glossary = (REPO / "docs" / "glossary.md").read_text(encoding="utf-8")
    for name in ("test_acc", "dying_ratio", "k_minus_d", "reverted_ratio", "false_negative_dying",
                 "true_negative_dying", "recall", "teacher_agreement", "prune_rate", "enrichment",
                 "recall_above_chance", "aligned_recall", "ticket_feasible", "status", "key", "cycles"):
        assert f"`{name}`" in glossary, name
    for f in dataclasses.fields(RunConfig):
        if f.name in ("prune_rate", "shrinkage", "cycles", "global_topk", "random_labels", "coats",
                      "weight_init", "score_init", "ticket_width", "ticket_remaining"):
            assert f"`{f.name}`" in glossary, f.name


def test_the_api_page_examples_run(tmp_path, monkeypatch):
    """Every Python block of docs/api.md runs as written (from an empty folder), and its TOML
    block is a valid run config."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    from sltsim.config import RunConfig

    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), {})
    assert (tmp_path / "ticket.npz").exists() and (tmp_path / "runs.jsonl").exists()
    (toml,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    config = RunConfig.from_dict(tomllib.loads(toml))
    assert config.method == "soft-lr" and config.final_prune_rate == pytest.approx(0.9375)


def test_every_field_of_the_committed_records_is_in_the_glossary():
    """Every key of a stored record and of its cycle summaries is explained in docs/glossary.md."""
    import json

    glossary = (REPO / "docs" / "glossary.md").read_text(encoding="utf-8")
    keys = set()
    stores = sorted((REPO / "studies" / "records").glob("*/*.jsonl"))
    assert stores
    for store in stores:
        for line in store.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            keys |= set(record)
            for cycle in record.get("cycles") or []:
                keys |= set(cycle)
    assert sorted(k for k in keys if f"`{k}`" not in glossary) == []
