"""A self-contained HTML page showing tagged articles right to left, entities coloured by type."""
from __future__ import annotations

import html

PALETTE = ["#f4a6a6", "#a6c8f4", "#b8e6a6", "#f4d7a6", "#d6b3f0", "#a6efe4", "#f0b3d9", "#d9d9a6"]


def render_html(articles: list[dict], entity_types: list[str], title: str = "Entities") -> str:
    """`articles`: dicts with `id`, `text` and `entities` (`start`, `end`, `label`, `score`)."""
    colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(entity_types)}
    style = "\n".join(f"mark.{_css(t)} {{ background: {c}; }}" for t, c in colours.items())
    legend = " ".join(f'<mark class="{_css(t)}">{html.escape(t)}</mark>' for t in entity_types)
    body = []
    for article in articles:
        body.append(f'<article><h2 dir="ltr">{html.escape(str(article["id"]))}</h2>'
                    f'<p dir="rtl">{_marked(article["text"], article["entities"])}</p></article>')
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: "Noto Naskh Arabic", "Amiri", "Arial", sans-serif; max-width: 60em; margin: 2em auto; line-height: 2; }}
p {{ white-space: pre-wrap; font-size: 1.15em; }}
mark {{ border-radius: 3px; }}  /* no padding: a mark may begin inside a word (after a clitic), which must still join */
mark sub {{ font-size: 0.6em; font-family: monospace; direction: ltr; unicode-bidi: isolate; }}
h2 {{ font-size: 0.9em; color: #555; text-align: left; }}
.legend {{ position: sticky; top: 0; background: white; padding: 0.5em 0; border-bottom: 1px solid #ccc; }}
{style}
</style>
</head>
<body>
<div class="legend">{legend}</div>
{chr(10).join(body)}
</body>
</html>
"""


def _marked(text: str, entities: list[dict]) -> str:
    out, pos = [], 0
    for e in sorted(entities, key=lambda e: e["start"]):
        out.append(html.escape(text[pos:e["start"]]))
        score = f' title="{e["label"]} {e["score"]:.2f}"' if "score" in e else f' title="{e["label"]}"'
        out.append(f'<mark class="{_css(e["label"])}"{score}>{html.escape(text[e["start"]:e["end"]])}'
                   f'<sub>{html.escape(e["label"])}</sub></mark>')
        pos = e["end"]
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _css(label: str) -> str:
    return "t-" + "".join(c if c.isalnum() else "_" for c in label)
