"""A tiny document model (headings, paragraphs, tables, images) and its two renderings: HTML and Markdown.

The report is built once as blocks, so the HTML and Markdown files always say the same thing.
The HTML is one self-contained file: inline CSS, images as base64 PNG, no scripts, nothing fetched.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
td.best { font-weight: bold; }
td.ns { color: #999; }
td.sig { color: #000; }
p.banner { background: #fff3cd; border: 1px solid #e0b400; padding: 0.6em 1em; font-weight: bold; }
p.note { color: #555; font-size: 0.9em; }
div.scroll { overflow-x: auto; }
img { max-width: 100%; display: block; margin: 0.5em 0 1em; }
"""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: str = ""  # "", "banner" (stands out) or "note" (small print)


@dataclass(frozen=True)
class TableCell:
    text: str
    classes: tuple[str, ...] = ()  # "best" (bold), "ns" (not significant: grey), "sig"
    background: str | None = None  # "#rrggbb" for heat-coloured cells


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[TableCell]]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    png: bytes
    alt: str


Block = Heading | Paragraph | Table | Image


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def cell(text: str, *classes: str, background: str | None = None) -> TableCell:
    return TableCell(text, tuple(c for c in classes if c), background)


def _text_colour(background: str) -> str:
    """Black or white text, whichever reads better on the background."""
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def _html_cell(c: TableCell) -> str:
    attrs = f' class="{" ".join(c.classes)}"' if c.classes else ""
    if c.background:
        attrs += f' style="background:{c.background};color:{_text_colour(c.background)}"'
    return f"<td{attrs}>{html.escape(c.text)}</td>"


def to_html(doc: Document) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            kind = f' class="{block.kind}"' if block.kind else ""
            parts.append(f"<p{kind}>{esc(block.text)}</p>")
        elif isinstance(block, Table):
            # The caption goes in a paragraph above: a <caption> wraps to the table's (often narrow) width.
            caption = f'<p class="note">{esc(block.caption)}</p>' if block.caption else ""
            head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in block.rows)
            parts.append(
                f'{caption}<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
            )
        else:
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(f'<img alt="{esc(block.alt)}" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(c: TableCell) -> str:
    text = _md_text(c.text)
    return f"**{text}**" if "best" in c.classes and text else text


def to_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [f"> **{block.text}**" if block.kind == "banner" else block.text, ""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"_{_md_text(block.caption)}_", ""]
            lines.append("| " + " | ".join(_md_text(h) for h in block.header) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(block.header) - 1)) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        else:
            lines += [f"_(plot: {block.alt}; see report.html)_", ""]
    return "\n".join(lines)
