"""The strict validator against the reference validator skills-ref, input by input."""
# ruff: noqa: RUF001 - look-alike Unicode characters are what these variants test

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import skills_ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memfun_skills import Rule, load_skill_properties, validate_skill
from memfun_skills.testing import write_skill_md

# skills-ref's messages, mapped to our rule ids (full-string matches, so names in quotes
# cannot confuse them).
_REFERENCE_RULES: tuple[tuple[str, Rule], ...] = (
    (r"Path does not exist: .*", Rule.PATH_MISSING),
    (r"Not a directory: .*", Rule.NOT_A_DIRECTORY),
    (r"Missing required file: SKILL\.md", Rule.SKILL_MD_MISSING),
    (r"SKILL\.md must start with YAML frontmatter \(---\)", Rule.FRONTMATTER_MISSING),
    (r"SKILL\.md frontmatter not properly closed with ---", Rule.FRONTMATTER_UNCLOSED),
    (r"Invalid YAML in frontmatter: .*", Rule.YAML_INVALID),
    (r"SKILL\.md frontmatter must be a YAML mapping", Rule.FRONTMATTER_NOT_MAPPING),
    (r"Unexpected fields in frontmatter: .*", Rule.UNEXPECTED_FIELDS),
    (r"Missing required field in frontmatter: (name|description)", Rule.REQUIRED),
    (r"Field '(name|description)' must be a non-empty string", Rule.NON_EMPTY_STRING),
    (r"Skill name '.*' exceeds 64 character limit \(\d+ chars\)", Rule.NAME_TOO_LONG),
    (r"Skill name '.*' must be lowercase", Rule.NAME_LOWERCASE),
    (r"Skill name cannot start or end with a hyphen", Rule.NAME_HYPHEN_EDGE),
    (r"Skill name cannot contain consecutive hyphens", Rule.NAME_CONSECUTIVE_HYPHENS),
    (r"Skill name '.*' contains invalid characters\. .*", Rule.NAME_CHARACTERS),
    (r"Directory name '.*' must match skill name '.*'", Rule.NAME_FOLDER_MISMATCH),
    (r"Description exceeds 1024 character limit \(\d+ chars\)", Rule.DESCRIPTION_TOO_LONG),
    (r"Field 'compatibility' must be a string", Rule.COMPATIBILITY_TYPE),
    (r"Compatibility exceeds 500 character limit \(\d+ chars\)", Rule.COMPATIBILITY_TOO_LONG),
)
CRASH = "crash"


def _reference_rules(folder: Path) -> list[str]:
    """skills-ref's verdict as sorted rule ids; a crash (it raises) counts as invalid."""
    try:
        messages = skills_ref.validate(folder)
    except Exception:  # skills-ref raises on non-UTF-8 text or a SKILL.md folder
        return [CRASH]
    rules: list[str] = []
    for message in messages:
        for pattern, rule in _REFERENCE_RULES:
            if re.fullmatch(pattern, message, flags=re.DOTALL):
                rules.append(str(rule))
                break
        else:
            pytest.fail(f"unmapped skills-ref message: {message!r}")
    return sorted(rules)


def _assert_same_verdict(folder: Path) -> None:
    reference = _reference_rules(folder)
    report = validate_skill(folder)
    ours = sorted(str(error.rule) for error in report.errors)
    for error in report.errors:
        assert error.field, error
        assert error.rule, error
        assert error.location, error
    if reference == [CRASH]:
        assert not report.valid, f"skills-ref crashed on {folder} but we accept it"
        return
    assert ours == reference, f"{folder}: ours {ours} != skills-ref {reference}"
    cut_short = any(w.rule == Rule.LENIENT_FRONTMATTER for w in report.warnings)
    if report.valid and not cut_short:
        # The lenient loader reads the same name and description as skills-ref.
        expected = skills_ref.read_properties(folder)
        properties, _ = load_skill_properties(folder)
        assert (properties.name, properties.description) == (
            expected.name,
            expected.description,
        )


def test_corpus_agrees_with_skills_ref(corpus_dir: Path) -> None:
    folders = sorted(path for path in corpus_dir.iterdir() if path.is_dir())
    assert folders, f"{corpus_dir} holds no skill folders"
    for folder in folders:
        _assert_same_verdict(folder)


# --- generated variants ------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    id: str
    folder: str
    content: bytes | None  # None: no SKILL.md at all
    filename: str = "SKILL.md"


def _doc(frontmatter: str, body: str = "# Steps\n\nDo it.\n") -> bytes:
    return f"---\n{frontmatter}---\n{body}".encode()


_NAMES = [
    "pdf-tools",
    "a",
    "x1",
    "123",
    "PDF-Tools",
    "pdfTools",
    "-pdf",
    "pdf-",
    "pdf--tools",
    "pdf_tools",
    "pdf tools",
    "pdf.tools",
    "café",
    "日本語",
    "ǅungla",
    "ｆｏｏ",
    "ﬁle-tools",
    "e\u0301clair",
    "straße",
    "İstanbul",
    "emoji-😀",
    "a\u200db",
    "٣-digits",
    "x" * 64,
    "x" * 65,
    "ﬀ" * 33,
    "null",
    "yes",
    "1.0",
    "-",
    "ｐｄｆ－ｔｏｏｌｓ",
    "tab\tname",
    "Ä-upper",
    "ß-lower",
    "x²",
]


def _name_variants() -> Iterator[Variant]:
    for index, name in enumerate(_NAMES):
        quoted = name.replace("'", "''")
        yield Variant(f"name-{index}", name, _doc(f"name: '{quoted}'\ndescription: Does things.\n"))
        yield Variant(f"name-plain-{index}", name, _doc(f"name: {name}\ndescription: Does.\n"))
    yield Variant("name-padded", "pad", _doc("name: '  pad  '\ndescription: d\n"))
    yield Variant("name-empty", "empty", _doc("name:\ndescription: d\n"))
    yield Variant("name-blank", "blank", _doc("name: '   '\ndescription: d\n"))
    yield Variant("name-list", "lst", _doc("name:\n  - lst\ndescription: d\n"))
    yield Variant("name-map", "mp", _doc("name:\n  a: b\ndescription: d\n"))
    yield Variant("folder-mismatch", "other-folder", _doc("name: pdf-tools\ndescription: d\n"))
    yield Variant("folder-case", "Pdf-Tools", _doc("name: pdf-tools\ndescription: d\n"))
    yield Variant("folder-nfkc", "ｐｄｆ", _doc("name: pdf\ndescription: d\n"))


_DESCRIPTIONS = [
    "d",
    "Use when the user asks about PDFs.",
    "x" * 1024,
    "x" * 1025,
    "é" * 1024,
    "é" * 1025,
    "😀" * 1025,
]


def _description_variants() -> Iterator[Variant]:
    for index, text in enumerate(_DESCRIPTIONS):
        yield Variant(f"desc-{index}", "s", _doc(f"name: s\ndescription: '{text}'\n"))
    shapes = {
        "desc-empty": "description:\n",
        "desc-blank": "description: '   '\n",
        "desc-quoted-empty": 'description: ""\n',
        "desc-colon": "description: Use for a: b\n",
        "desc-colon-quoted": "description: 'Use for a: b'\n",
        "desc-hash": "description: Use #1 tool # comment\n",
        "desc-literal": "description: |\n  line one\n  line two\n",
        "desc-folded": "description: >\n  line one\n  line two\n",
        "desc-folded-long": "description: >\n" + "  word word\n" * 110,
        "desc-escapes": 'description: "tab\\there \\u00e9"\n',
        "desc-dashes": "description: use a---b split\n",
        "desc-dashes-spaced": "description: see --- here\n",
        "desc-list": "description:\n  - a\n  - b\n",
        "desc-map": "description:\n  a: b\n",
        "desc-number": "description: 42\n",
        "desc-bool": "description: true\n",
        "desc-null": "description: null\n",
        "desc-tilde": "description: ~\n",
        "desc-multiline-plain": "description: first\n  second line\n",
        "desc-angle": "description: <b>bold</b> & more\n",
        "desc-missing": "",
        "desc-trailing-space": "description: 'padded   '\n",
    }
    for key, text in shapes.items():
        yield Variant(key, "s", _doc(f"name: s\n{text}"))


def _field_variants() -> Iterator[Variant]:
    base = "name: s\ndescription: d\n"
    fields = {
        "license": "license: MIT\n",
        "license-list": "license:\n  - MIT\n  - Apache-2.0\n",
        "compat": "compatibility: Requires git\n",
        "compat-500": f"compatibility: {'c' * 500}\n",
        "compat-501": f"compatibility: {'c' * 501}\n",
        "compat-empty": "compatibility:\n",
        "compat-list": "compatibility:\n  - git\n",
        "compat-map": "compatibility:\n  git: yes\n",
        "tools-str": "allowed-tools: Read Grep Bash(git:*)\n",
        "tools-list": "allowed-tools:\n  - Read\n  - Grep\n",
        "tools-flow": "allowed-tools: [Read, Grep]\n",
        "tools-comma": "allowed-tools: Read, Grep, Glob\n",
        "meta": "metadata:\n  author: me\n  version: '1.0'\n",
        "meta-nested": "metadata:\n  a:\n    b: c\n",
        "meta-list": "metadata:\n  - a\n",
        "meta-str": "metadata: text\n",
        "meta-flow": "metadata: {a: b}\n",
        "meta-empty": "metadata:\n",
        "extra-version": "version: 1.0\n",
        "extra-two": "version: 1\nauthor: me\n",
        "extra-Name": "Name: s\n",
        "extra-underscore": "allowed_tools: Read\n",
        "extra-empty-key": "'': x\n",
        "extra-tags": "tags:\n  - a\n",
        "all-fields": "license: MIT\ncompatibility: any\nallowed-tools: Read\nmetadata:\n  k: v\n",
    }
    for key, text in fields.items():
        yield Variant(f"field-{key}", "s", _doc(base + text))


def _yaml_variants() -> Iterator[Variant]:
    shapes = {
        "anchor": "name: &n s\ndescription: *n\n",
        "tag": "name: !!str s\ndescription: d\n",
        "dup": "name: s\nname: s\ndescription: d\n",
        "flow-map": "{name: s, description: d}\n",
        "list-doc": "- name\n- s\n",
        "scalar-doc": "just text\n",
        "empty": "",
        "comment-only": "# nothing\n",
        "comments": "# c\nname: s # trailing\ndescription: d\n",
        "tab-indent": "name: s\ndescription:\n\t- d\n",
        "bad-indent": "name: s\n  description: d\n",
        "unclosed-quote": "name: 's\ndescription: d\n",
        "complex-key": "? name\n: s\ndescription: d\n",
        "doc-end": "name: s\ndescription: d\n...\n",
        "directive": "%YAML 1.2\nname: s\ndescription: d\n",
        "nul": "name: s\ndescription: d\x00\n",
        "control": "name: s\ndescription: d\x07\n",
        "inconsistent-maps": "metadata:\n  a: b\nname: s\ndescription: d\nlicense:\n    x: y\n",
        "merge-key": "<<: x\nname: s\ndescription: d\n",
        "quoted-keys": "'name': s\n\"description\": d\n",
        "crlf-inside": "name: s\r\ndescription: d\r\n",
        "deep": "metadata:\n"
        + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(30))
        + "  " * 31
        + "v: x\n",
        "unicode-key": "näme: s\nname: s\ndescription: d\n",
        "block-seq-map": "name: s\ndescription: d\nmetadata:\n  - a: b\n",
    }
    for key, text in shapes.items():
        yield Variant(f"yaml-{key}", "s", _doc(text))


def _file_variants() -> Iterator[Variant]:
    good = "name: s\ndescription: d\n"
    yield Variant("file-lower", "s", _doc(good), filename="skill.md")
    yield Variant("file-mixed", "s", _doc(good), filename="Skill.md")
    yield Variant("file-upper-ext", "s", _doc(good), filename="SKILL.MD")
    yield Variant("file-missing", "s", None)
    yield Variant("file-crlf", "s", _doc(good).replace(b"\n", b"\r\n"))
    yield Variant("file-cr", "s", _doc(good).replace(b"\n", b"\r"))
    yield Variant("file-bom", "s", b"\xef\xbb\xbf" + _doc(good))
    yield Variant(
        "file-latin1", "s", _doc("name: s\ndescription: caf\xe9\n").replace(b"\xc3\xa9", b"\xe9")
    )
    yield Variant("file-binary-body", "s", _doc(good) + b"\xff\xfe\x00")
    yield Variant("file-no-frontmatter", "s", b"# Title\n\nname: s\n")
    yield Variant("file-empty", "s", b"")
    yield Variant("file-unclosed", "s", b"---\nname: s\ndescription: d\n")
    yield Variant("file-four-dashes", "s", b"----\nname: s\ndescription: d\n---\n")
    yield Variant("file-dash-suffix", "s", b"---yaml\nname: s\ndescription: d\n---\n")
    yield Variant("file-trailing-space", "s", b"--- \nname: s\ndescription: d\n--- \nbody")
    yield Variant("file-leading-blank", "s", b"\n---\nname: s\ndescription: d\n---\n")
    yield Variant("file-no-body", "s", b"---\nname: s\ndescription: d\n---")
    yield Variant("file-body-dashes", "s", _doc(good, "a\n---\nb --- c\n"))
    yield Variant("file-dots-close", "s", b"---\nname: s\ndescription: d\n...\nbody\n")


_QUOTING_TEXTS = ["Does things", "Use: for x", "yes", "a # b", "  spaced  ", "it's", 'say "hi"']


def _quoting_variants() -> Iterator[Variant]:
    styles = {
        "plain": lambda text: text,
        "single": lambda text: "'" + text.replace("'", "''") + "'",
        "double": lambda text: '"' + text.replace('"', '\\"') + '"',
        "literal": lambda text: "|\n  " + text,
        "folded": lambda text: ">-\n  " + text,
    }
    for index, text in enumerate(_QUOTING_TEXTS):
        for style, render in styles.items():
            front = f"name: s\ndescription: {render(text)}\ncompatibility: {render(text)}\n"
            yield Variant(f"quote-{style}-{index}", "s", _doc(front))


def _variants() -> list[Variant]:
    return [
        *_quoting_variants(),
        *_name_variants(),
        *_description_variants(),
        *_field_variants(),
        *_yaml_variants(),
        *_file_variants(),
    ]


VARIANTS = _variants()


def test_enough_variants() -> None:
    assert len(VARIANTS) >= 200, len(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=[variant.id for variant in VARIANTS])
def test_variant_agrees_with_skills_ref(tmp_path: Path, variant: Variant) -> None:
    folder = tmp_path / variant.folder
    if variant.content is None:
        folder.mkdir()
    else:
        write_skill_md(folder, variant.content, filename=variant.filename)
    _assert_same_verdict(folder)


def test_both_files_prefers_upper_case(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, _doc("name: s\ndescription: d\n"))
    write_skill_md(folder, _doc("name: other\ndescription: d\n"), filename="skill.md")
    _assert_same_verdict(folder)
    assert validate_skill(folder).valid


def test_path_errors_agree(tmp_path: Path) -> None:
    _assert_same_verdict(tmp_path / "absent")
    file = tmp_path / "plain.txt"
    file.write_text("x", encoding="utf-8")
    _assert_same_verdict(file)
    folder = tmp_path / "s"
    (folder / "SKILL.md").mkdir(parents=True)
    _assert_same_verdict(folder)


# --- property-based: random names and values, same verdict --------------------------------


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\")
    | st.sampled_from("-- ABCaz09ǅﬁ²٣é\u0301 :#'\"[]{}&*!|>%@`"),
    max_size=70,
)


def _usable_folder(name: str) -> str:
    ok = name not in {"", ".", ".."} and "\x00" not in name and len(name.encode()) < 200
    return name if ok and not name.startswith(".") else "folder"


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=_TEXT, description=_TEXT, quoting=st.sampled_from(["plain", "single", "double"]))
def test_random_values_agree(
    tmp_path_factory: pytest.TempPathFactory, name: str, description: str, quoting: str
) -> None:
    def render(value: str) -> str:
        if quoting == "single":
            return "'" + value.replace("'", "''") + "'"
        if quoting == "double":
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return value

    folder = tmp_path_factory.mktemp("h") / _usable_folder(name.strip())
    front = f"name: {render(name)}\ndescription: {render(description)}\n"
    write_skill_md(folder, _doc(front))
    _assert_same_verdict(folder)
