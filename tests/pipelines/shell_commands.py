"""Checking that every command a pipeline script runs exists: in this repository, or on the agent.

A script is split into simple commands (pipes, ``&&``, ``;``, control keywords and command substitutions
taken apart). Each command must be one of:

* ``python -m <module> <subcommand> [--options]`` of this repository: the module's own argparse parser
  must know the subcommand, every option used, and every literal choice; required options must be given;
* ``python -m pip`` / ``python -m venv`` (installing this repository), ``python .pipelines/scripts/<file>``;
* ``make <target>`` with the target in the Makefile;
* ``./path``, ``bash path`` or ``sh path``: a file in the repository;
* a tool the hosted agent provides or the pipeline installs (``AGENT_TOOLS``) or a shell builtin.

Any other argument naming a path inside the repository must exist too.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from dataclasses import dataclass
from functools import cache

from tests.pipelines.pipeline_files import REPO_ROOT

# Tools on Microsoft-hosted Ubuntu agents (or installed by templates/steps/install-pulumi.yml), allowed by name.
AGENT_TOOLS = {
    "pulumi", "az", "argocd", "docker", "git", "curl", "kubectl", "kubelogin", "jq", "sh", "date", "sleep", "mkdir",
    "chmod", "grep", "true",
}  # fmt: skip
SHELL_BUILTINS = {
    "set",
    "export",
    "echo",
    "exit",
    ".",
    "source",
    "[",
    "[[",
    "test",
    "true",
    "false",
    "cd",
    "printf",
    "break",
    "continue",
}
# `python -m <module>` of this repository, and the function building its argument parser.
REPOSITORY_MODULES = {
    "training": "training.cli:_parser",
    "delivery": "delivery.cli:_parser",
    "infra": "infra.cli:_parser",
    "estimation_engine": "estimation_engine.cli:_parser",
}
PYTHON_TOOL_MODULES = {"pip", "venv"}
# Scripts of the pipelines themselves (stdlib only), which `python <path>` may run.
PIPELINE_SCRIPTS = ".pipelines/scripts/"
# Top-level folders of the repository: an argument starting with one of them is a path that must exist.
REPOSITORY_FOLDERS = (
    ".pipelines/",
    "estimation_engine/",
    "model_contract/",
    "delivery/",
    "training/",
    "infra/",
    "gitops/",
    "environments/",
    "scripts/",
)

SKIP_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
END_KEYWORDS = {"fi", "done", "esac", "}", "then", "else", "do", "in"}
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
REDIRECTIONS = {">", ">>", "<", "<<", ">&", "&>", ">|", "<&"}
DYNAMIC = "\0dynamic\0"  # stands for a value known only when the pipeline runs
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")


@dataclass(frozen=True)
class Problem:
    command: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason}: `{self.command}`"


def commands(script: str) -> list[list[str]]:
    """The simple commands of a script, as word lists; values known only at run time become DYNAMIC."""
    text = script.replace("\\\n", " ")
    found: list[list[str]] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        line, substitutions = _extract_substitutions(line)
        for inner in substitutions:
            found.extend(commands(inner))
        found.extend(_split(line))
    return found


def check(words: list[str]) -> list[Problem]:
    """Why ``words`` would not run as intended here, if it would not."""
    shown = " ".join("…" if w == DYNAMIC else w for w in words)
    name = words[0]
    problems = [
        Problem(shown, f"{arg} does not exist in the repository") for arg in words[1:] if _missing_path(arg)
    ]
    if name in ("python", "python3") or name.endswith(("/python", "/python3")):
        return problems + _check_python(words, shown)
    if name == "make":
        targets = _make_targets()
        problems += [
            Problem(shown, f"no make target {w!r}")
            for w in words[1:]
            if not w.startswith("-") and "=" not in w and w not in targets
        ]
        return problems
    if name in ("bash", "sh") and len(words) > 1 and not words[1].startswith("-"):
        return problems + (
            [] if (REPO_ROOT / words[1]).is_file() else [Problem(shown, f"no script {words[1]}")]
        )
    if name.startswith("./"):
        return problems + ([] if (REPO_ROOT / name).is_file() else [Problem(shown, f"no script {name}")])
    if name in AGENT_TOOLS or name in SHELL_BUILTINS:
        return problems
    return [*problems, Problem(shown, f"{name!r} is neither a repository command nor an allowed agent tool")]


def _check_python(words: list[str], shown: str) -> list[Problem]:
    if len(words) >= 2 and words[1].startswith(PIPELINE_SCRIPTS):
        return [] if (REPO_ROOT / words[1]).is_file() else [Problem(shown, f"no script {words[1]}")]
    if len(words) < 3 or words[1] != "-m":
        return [
            Problem(shown, "python must run a module of this repository (python -m ...) or a pipeline script")
        ]
    module = words[2]
    if module in PYTHON_TOOL_MODULES:
        return []
    if module not in REPOSITORY_MODULES:
        return [Problem(shown, f"module {module!r} is not a command module of this repository")]
    parser = _parser(module)
    subcommands = _subcommands(parser)
    if len(words) < 4 or words[3] not in subcommands:
        return [
            Problem(shown, f"`python -m {module}` has no subcommand {words[3] if len(words) > 3 else ''!r}")
        ]
    return _check_options(subcommands[words[3]], words[4:], shown)


def _check_options(parser: argparse.ArgumentParser, args: list[str], shown: str) -> list[Problem]:
    options = {option: action for action in parser._actions for option in action.option_strings}
    problems, given = [], set()
    for index, arg in enumerate(args):
        if not arg.startswith("-") or arg == DYNAMIC:
            continue
        flag, _, inline = arg.partition("=")
        action = options.get(flag)
        if action is None:
            problems.append(Problem(shown, f"no option {flag} (known: {', '.join(sorted(options))})"))
            continue
        given.add(action.dest)
        value = inline or (args[index + 1] if index + 1 < len(args) and action.nargs != 0 else None)
        if action.choices and value and DYNAMIC not in value and value not in action.choices:
            problems.append(Problem(shown, f"{flag} {value}: not one of {sorted(action.choices)}"))
    for action in parser._actions:
        if action.required and action.option_strings and action.dest not in given:
            problems.append(Problem(shown, f"required option {action.option_strings[-1]} is missing"))
    for group in parser._mutually_exclusive_groups:
        if group.required and not any(action.dest in given for action in group._group_actions):
            names = [action.option_strings[-1] for action in group._group_actions]
            problems.append(Problem(shown, f"one of {', '.join(names)} is required"))
    return problems


@cache
def _parser(module: str) -> argparse.ArgumentParser:
    module_name, _, function = REPOSITORY_MODULES[module].partition(":")
    return getattr(importlib.import_module(module_name), function)()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@cache
def _make_targets() -> frozenset[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def _missing_path(arg: str) -> bool:
    if DYNAMIC in arg or not arg.startswith(REPOSITORY_FOLDERS):
        return False
    return not (REPO_ROOT / arg).exists()


def _split(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote on one line of a multi-line string: nothing to check
        return []
    found, current, skip_next, in_array, depth = [], [], False, False, 0
    for token in [*tokens, ";"]:
        if skip_next:
            skip_next = False
            continue
        if in_array:  # the elements of `name=( ... )`: values, not commands
            in_array = token != ")"
            continue
        if token == "(" and current and current[-1].endswith("="):
            in_array = True
            continue
        if token in REDIRECTIONS:
            if current and current[-1].isdigit():
                current.pop()
            skip_next = True
            continue
        if (
            token == ")" and depth == 0
        ):  # closes a `case` pattern (`healthy)`, `*)`): a pattern, not a command
            current = []
            continue
        if token in OPERATORS or set(token) <= set("&|;()"):
            depth += token.count("(") - token.count(")")
            found.append(current)
            current = []
            continue
        current.append(token)
    return [words for words in map(_command_words, found) if words]


def _command_words(words: list[str]) -> list[str]:
    """Drop control keywords and leading variable assignments; keep the command and its arguments."""
    while words and (words[0] in SKIP_KEYWORDS or ASSIGNMENT.match(words[0])):
        words = words[1:]
    if not words or words[0] in END_KEYWORDS or words[0] in ("for", "case", "]]", "]"):
        return []
    return words


def _extract_substitutions(line: str) -> tuple[str, list[str]]:
    """Replace ``$(command)`` by DYNAMIC and return the commands; ``$(Macro.Name)`` and ``${{ }}`` too."""
    substitutions: list[str] = []
    out, index = [], 0
    while index < len(line):
        if line.startswith("${{", index):
            end = line.find("}}", index)
            out.append(DYNAMIC)
            index = len(line) if end < 0 else end + 2
        elif line.startswith("$(", index):
            end = _closing_parenthesis(line, index + 1)
            inner = line[index + 2 : end]
            if inner.startswith("("):  # $(( arithmetic )): only its command substitutions run
                substitutions.extend(_extract_substitutions(inner[1:-1])[1])
            elif re.fullmatch(r"[A-Za-z_][\w.]*", inner) is None:  # not an Azure Pipelines macro $(Name)
                substitutions.append(inner)
            out.append(DYNAMIC)
            index = end + 1
        elif (
            line[index] == "$"
            and index + 1 < len(line)
            and (line[index + 1] == "{" or line[index + 1].isalpha() or line[index + 1] == "_")
        ):
            match = re.match(r"\$(\{[^}]*\}|[A-Za-z_]\w*)", line[index:])
            out.append(DYNAMIC)
            index += match.end() if match else 1
        else:
            out.append(line[index])
            index += 1
    return "".join(out), substitutions


def _closing_parenthesis(line: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start`` (or the end of the line)."""
    depth = 0
    for end in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[end], 0)
        if depth == 0:
            return end
    return len(line)
