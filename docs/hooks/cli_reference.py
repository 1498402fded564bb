"""MkDocs hook: the CLI reference page is written from the parser, which is generated from the
option declarations in core/config.py, so the page cannot drift from the code."""

from __future__ import annotations

import argparse

MARKER = "<!-- cli-reference -->"


def _row(action: argparse.Action) -> str:
    flags = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
    text = (action.help or "").replace("%%", "%").replace("|", "\\|")
    if "%(default)s" in text:
        text = text.replace("%(default)s", str(action.default))
    if action.choices and not isinstance(action.choices, dict):
        text += " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
    return f"| {flags} | {text} |"


def reference() -> str:
    from impasto.cli.commands import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in commands._choices_actions}
    out = []
    for name, sub in commands.choices.items():
        out += [f"## impasto {name}", "", helps.get(name, "") or "", "", "```text", sub.format_usage().strip(), "```", "",
                "| argument | what it does |", "| --- | --- |"]
        out += [_row(a) for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
