"""A static, Slack-like HTML page of the messages the demo posted.

Pure rendering: a :class:`Transcript` in, one self-contained HTML document out (inline CSS, no
scripts, fonts or CDNs, so the page opens offline from the demo's output folder). Only
:func:`write_transcript` touches the disk.

Every piece of message text is HTML-escaped before any markup is added; Slack's own control
sequences (``<@U123>``, ``<url|label>``) are recognised first and rebuilt from escaped parts.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

BOT_NAME = "Northstar"


@dataclass
class PostedFile:
    """An uploaded file; ``filename`` is the path of a PNG relative to the output folder."""

    title: str
    filename: str
    initial_comment: str = ""


@dataclass
class PostedMessage:
    """One message as the Web API stand-in recorded it."""

    ts: str
    author: str
    text: str
    blocks: list[dict] | None = None
    replies: list[PostedMessage] = field(default_factory=list)
    files: list[PostedFile] = field(default_factory=list)
    ephemeral_to: str | None = None
    edited: bool = False


@dataclass
class ChannelLog:
    name: str
    messages: list[PostedMessage] = field(default_factory=list)


@dataclass
class Transcript:
    workspace: str
    channels: list[ChannelLog]
    generated_at: str


# --------------------------------------------------------------------------------------------
# mrkdwn
# --------------------------------------------------------------------------------------------

# Emoji the builders use. The coloured circles are drawn with CSS rather than emoji glyphs, so a
# status reads the same on a machine without an emoji font.
_EMOJI = {
    "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌", "warning": "⚠️", "no_entry": "⛔",
    "information_source": "ℹ️", "thinking_face": "🤔", "hourglass": "⌛", "grey_question": "❔",
    "double_vertical_bar": "⏸️", "rotating_light": "🚨", "point_right": "👉", "moneybag": "💰",
    "bar_chart": "📊", "chart_with_upwards_trend": "📈", "chart_with_downwards_trend": "📉",
    "tada": "🎉", "eyes": "👀", "memo": "📝", "lock": "🔒", "bell": "🔔", "rocket": "🚀",
}
_CIRCLES = {"red_circle": "red", "large_green_circle": "green", "large_yellow_circle": "yellow",
            "white_circle": "white", "large_blue_circle": "blue"}

_CONTROL = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```\n?(.*?)\n?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+):")
# Slack applies *bold*, _italic_ and ~strike~ only at word edges, never inside a word.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")
_BULLET = re.compile(r"^\s*(?:•|◦|-)\s+(.*)$")
_QUOTE = re.compile(r"^&gt;\s?(.*)$")
_TOKEN = re.compile(r"\x00(\d+)\x00")
_SAFE_SCHEMES = {"http", "https", "mailto"}


class _Stash:
    """Finished HTML fragments kept out of the way of later substitutions."""

    def __init__(self) -> None:
        self.fragments: list[str] = []

    def put(self, fragment: str) -> str:
        self.fragments.append(fragment)
        return f"\x00{len(self.fragments) - 1}\x00"

    def restore(self, text: str) -> str:
        # Fragments may hold tokens of their own (a link inside a code span), hence the loop.
        while _TOKEN.search(text):
            text = _TOKEN.sub(lambda m: self.fragments[int(m.group(1))], text)
        return text


def _unslack(text: str) -> str:
    """Turn Slack's three entities back into the characters they stand for."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _safe_href(url: str) -> str | None:
    """The URL if it is safe to link to (http, https, mailto or a relative path), else None."""
    url = url.strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme and scheme not in _SAFE_SCHEMES:
        return None
    return url


def _control_html(body: str) -> str | None:
    """HTML for one ``<...>`` control sequence, or None when Slack would not recognise it."""
    target, _, label = body.partition("|")
    label = _unslack(label)
    if target.startswith("@"):
        return f'<span class="mention">@{_escape(label or target[1:])}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_escape(label or target[1:])}</span>'
    if target.startswith("!"):
        command = target[1:].split("^", 1)[0]
        if command in {"here", "channel", "everyone"}:
            return f'<span class="mention">@{command}</span>'
        if command == "subteam":
            return f'<span class="mention">{_escape(label or "@group")}</span>'
        if command == "date":
            return _escape(label)
        return None
    href = _safe_href(_unslack(target))
    if href is None or not urlsplit(href).scheme:
        return None
    return f'<a href="{_escape(href)}" target="_blank" rel="noopener noreferrer">{_escape(label or href)}</a>'


def _emoji_html(name: str) -> str | None:
    if name in _CIRCLES:
        return f'<span class="dot dot-{_CIRCLES[name]}" title=":{name}:"></span>'
    if name in _EMOJI:
        return f'<span class="emoji" title=":{name}:">{_EMOJI[name]}</span>'
    return None


def _replace_emoji(text: str, stash: _Stash) -> str:
    def swap(match: re.Match[str]) -> str:
        fragment = _emoji_html(match.group(1))
        return match.group(0) if fragment is None else stash.put(fragment)

    return _EMOJI_CODE.sub(swap, text)


def _lines_html(text: str) -> str:
    """Group quote lines into blockquotes and bullet lines into lists; other lines break with <br>."""
    out: list[str] = []
    plain: list[str] = []
    group: list[str] = []
    group_kind = ""

    def flush_plain() -> None:
        if plain:
            out.append("<br>".join(plain))
            plain.clear()

    def flush_group() -> None:
        nonlocal group_kind
        if group_kind == "quote":
            out.append(f'<blockquote>{"<br>".join(group)}</blockquote>')
        elif group_kind == "list":
            out.append("<ul>" + "".join(f"<li>{item}</li>" for item in group) + "</ul>")
        group.clear()
        group_kind = ""

    for line in text.split("\n"):
        quote_match, bullet_match = _QUOTE.match(line), _BULLET.match(line)
        kind, content = ("quote", quote_match.group(1)) if quote_match else (
            ("list", bullet_match.group(1)) if bullet_match else ("", line))
        if kind != group_kind:
            flush_group()
        if kind:
            flush_plain()
            group_kind = kind
            group.append(content)
        else:
            plain.append(content)
    flush_group()
    flush_plain()
    return "".join(out)


def mrkdwn_to_html(text: str) -> str:
    """Render Slack mrkdwn as HTML, escaping everything that is not Slack markup.

    >>> mrkdwn_to_html("*Ship* it, <@U1>: <https://x.test|notes> & `a<b`")
    '<b>Ship</b> it, <span class="mention">@U1</span>: <a href="https://x.test" target="_blank" \
rel="noopener noreferrer">notes</a> &amp; <code>a&lt;b</code>'
    """
    stash = _Stash()
    text = str(text).replace("\x00", "")

    def control(match: re.Match[str]) -> str:
        fragment = _control_html(match.group(1))
        return match.group(0) if fragment is None else stash.put(fragment)

    text = _CONTROL.sub(control, text)
    # From here on the text is escaped; only stash tokens are not, and they hold finished HTML.
    text = _escape(_unslack(text))
    text = _CODE_BLOCK.sub(lambda m: stash.put(f'<pre class="code-block">{m.group(1)}</pre>'), text)
    text = _INLINE_CODE.sub(lambda m: stash.put(f"<code>{m.group(1)}</code>"), text)
    text = _replace_emoji(text, stash)
    text = _BOLD.sub(r"<b>\1</b>", text)
    text = _ITALIC.sub(r"<i>\1</i>", text)
    text = _STRIKE.sub(r"<s>\1</s>", text)
    return stash.restore(_lines_html(text))


def plain_text_to_html(text: str, *, emoji: bool = True) -> str:
    """Render a ``plain_text`` object: escaped, line breaks kept, ``:emoji:`` codes drawn."""
    stash = _Stash()
    text = _escape(str(text).replace("\x00", ""))
    if emoji:
        text = _replace_emoji(text, stash)
    return stash.restore(text.replace("\n", "<br>"))


def text_object_html(obj: dict | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(obj.get("text", ""))
    return plain_text_to_html(obj.get("text", ""), emoji=obj.get("emoji", True))


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


def _image_src(url: str) -> str | None:
    """An image URL safe to put in ``src``: http(s) or a path relative to the page."""
    url = str(url).strip()
    parts = urlsplit(url)
    if parts.scheme:
        return url if parts.scheme.lower() in {"http", "https"} else None
    return quote(url, safe="/#?=&%")


def _img(url: str, alt: str, css_class: str) -> str:
    src = _image_src(url)
    if src is None:
        return f'<span class="{css_class} missing-image">{_escape(alt)}</span>'
    return f'<img class="{css_class}" src="{_escape(src)}" alt="{_escape(alt)}">'


def render_element(element: dict) -> str:
    """An interactive or image element; interactive ones are drawn but do nothing."""
    kind = element.get("type")
    if kind == "button":
        style = element.get("style")
        css = "btn" + (f" btn-{style}" if style in {"primary", "danger"} else "")
        label = text_object_html(element.get("text"))
        return f'<button type="button" class="{css}" disabled title="Static transcript">{label}</button>'
    if kind == "image":
        return _img(element.get("image_url", ""), element.get("alt_text", ""), "element-image")
    if kind == "overflow":
        return '<button type="button" class="btn btn-overflow" disabled title="Static transcript">⋮</button>'
    if kind in {"mrkdwn", "plain_text"}:
        return text_object_html(element)
    # Selects, date pickers and the like: Slack draws them as a box showing the placeholder.
    placeholder = element.get("initial_option", {}).get("text") or element.get("placeholder")
    label = text_object_html(placeholder) if placeholder else _escape(str(kind))
    return f'<span class="select" title="Static transcript">{label}<span class="caret">▾</span></span>'


def _render_header(block: dict) -> str:
    return f'<div class="block block-header">{text_object_html(block.get("text"))}</div>'


def _render_section(block: dict) -> str:
    parts = []
    if block.get("text"):
        parts.append(f'<div class="section-text">{text_object_html(block["text"])}</div>')
    if block.get("fields"):
        cells = "".join(f'<div class="field">{text_object_html(f)}</div>' for f in block["fields"])
        parts.append(f'<div class="fields">{cells}</div>')
    body = f'<div class="section-body">{"".join(parts)}</div>'
    accessory = block.get("accessory")
    if accessory:
        body += f'<div class="accessory">{render_element(accessory)}</div>'
    return f'<div class="block block-section">{body}</div>'


def _render_divider(block: dict) -> str:
    return '<hr class="block block-divider">'


def _render_context(block: dict) -> str:
    items = "".join(f'<span class="context-item">{render_element(e)}</span>' for e in block.get("elements", []))
    return f'<div class="block block-context">{items}</div>'


def _render_actions(block: dict) -> str:
    return f'<div class="block block-actions">{"".join(render_element(e) for e in block.get("elements", []))}</div>'


def _render_image(block: dict) -> str:
    title = block.get("title")
    caption = f'<div class="image-title">{text_object_html(title)}</div>' if title else ""
    image = _img(block.get("image_url", ""), block.get("alt_text", ""), "block-image-img")
    return f'<figure class="block block-image">{caption}{image}</figure>'


def _render_unsupported(block: dict) -> str:
    # Shown rather than dropped, so a gap in the page is not mistaken for a gap in the message.
    return f'<div class="block block-unsupported">[{_escape(str(block.get("type")))} block]</div>'


_BLOCK_RENDERERS: dict[str, Callable[[dict], str]] = {
    "header": _render_header,
    "section": _render_section,
    "divider": _render_divider,
    "context": _render_context,
    "actions": _render_actions,
    "image": _render_image,
}


def render_block(block: dict) -> str:
    return _BLOCK_RENDERERS.get(block.get("type", ""), _render_unsupported)(block)


def render_blocks(blocks: Iterable[dict]) -> str:
    return "".join(render_block(block) for block in blocks)


# --------------------------------------------------------------------------------------------
# Messages and page
# --------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower().lstrip("#")).strip("-") or "channel"


def _time_of(ts: str) -> tuple[str, str]:
    """(short time, full UTC timestamp) of a Slack ``ts``; no short time when it is not one."""
    try:
        moment = datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "", str(ts)
    return moment.strftime("%H:%M"), moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _avatar(author: str) -> str:
    if author == BOT_NAME:
        return '<div class="avatar avatar-bot" aria-hidden="true">★</div>'
    hue = zlib.crc32(author.encode()) % 360  # stable per person, across runs
    initial = _escape(author[:1].upper() or "?")
    return f'<div class="avatar" style="background:hsl({hue},45%,42%)" aria-hidden="true">{initial}</div>'


def _render_file(posted: PostedFile, *, comment_shown: bool) -> str:
    comment = ""
    if posted.initial_comment and not comment_shown:
        comment = f'<div class="file-comment">{mrkdwn_to_html(posted.initial_comment)}</div>'
    image = _img(posted.filename, posted.title, "file-image")
    return (f'{comment}<figure class="file">{image}'
            f'<figcaption class="file-title">{_escape(posted.title)}</figcaption></figure>')


def render_message(message: PostedMessage, *, reply: bool = False) -> str:
    short, full = _time_of(message.ts)
    badge = '<span class="app-badge">APP</span>' if message.author == BOT_NAME else ""
    edited = '<span class="edited">(edited)</span>' if message.edited else ""
    if message.blocks is not None:
        body = render_blocks(message.blocks)
    elif message.text:
        body = f'<div class="block block-section"><div class="section-text">{mrkdwn_to_html(message.text)}</div></div>'
    else:
        body = ""
    # An upload's comment usually arrives as the message text too; Slack shows it once.
    shown = message.text if message.blocks is None else None
    files = "".join(_render_file(f, comment_shown=f.initial_comment == shown) for f in message.files)
    ephemeral = ""
    if message.ephemeral_to is not None:
        ephemeral = (f'<div class="ephemeral-tag" title="Sent to {_escape(message.ephemeral_to)} only">'
                     f'<span class="eye" aria-hidden="true"></span>Only visible to you</div>')
    thread = ""
    if message.replies and not reply:
        count = len(message.replies)
        noun = "reply" if count == 1 else "replies"
        replies = "".join(render_message(r, reply=True) for r in message.replies)
        thread = (f'<div class="thread"><div class="thread-summary">{count} {noun}</div>'
                  f'<div class="replies">{replies}</div></div>')
    classes = "message" + (" ephemeral" if ephemeral else "") + (" reply" if reply else "")
    return (
        f'<article class="{classes}">{_avatar(message.author)}'
        f'<div class="message-content">{ephemeral}<div class="meta">'
        f'<span class="author">{_escape(message.author)}</span>{badge}'
        f'<time class="time" title="{_escape(full)}">{_escape(short)}</time>{edited}</div>'
        f"{body}{files}{thread}</div></article>"
    )


def _channel_ids(channels: list[ChannelLog]) -> list[str]:
    """One unique anchor per channel, even when two names slug alike."""
    ids: list[str] = []
    for channel in channels:
        base = candidate = f"channel-{_slug(channel.name)}"
        number = 2
        while candidate in ids:
            candidate, number = f"{base}-{number}", number + 1
        ids.append(candidate)
    return ids


def render_transcript_html(transcript: Transcript, *, title: str = "Northstar demo") -> str:
    """The whole page: a channel sidebar and every channel's messages, in posting order."""
    ids = _channel_ids(transcript.channels)
    sidebar = "".join(
        f'<li><a href="#{anchor}"><span class="hash">#</span>{_escape(channel.name.lstrip("#"))}'
        f'<span class="count">{len(channel.messages)}</span></a></li>'
        for channel, anchor in zip(transcript.channels, ids)
    )
    sections = []
    for channel, anchor in zip(transcript.channels, ids):
        messages = "".join(render_message(m) for m in channel.messages) or '<p class="empty">No messages.</p>'
        noun = "message" if len(channel.messages) == 1 else "messages"
        sections.append(
            f'<section class="channel" id="{anchor}"><header class="channel-header">'
            f'<h2><span class="hash">#</span>{_escape(channel.name.lstrip("#"))}</h2>'
            f'<span class="channel-meta">{len(channel.messages)} {noun}</span></header>'
            f'<div class="messages">{messages}</div></section>'
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<div class="workspace">
<nav class="sidebar">
<div class="workspace-name">{_escape(transcript.workspace)}</div>
<div class="sidebar-heading">Channels</div>
<ul class="channel-list">{sidebar}</ul>
<div class="generated">Generated {_escape(transcript.generated_at)}</div>
</nav>
<main class="main">{"".join(sections)}</main>
</div>
</body>
</html>
"""


def write_transcript(out_dir: Path, transcript: Transcript, *, title: str = "Northstar demo") -> Path:
    """Write ``index.html`` into ``out_dir`` (created if needed) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(render_transcript_html(transcript, title=title), encoding="utf-8")
    return path


_CSS = """
*,*::before,*::after{box-sizing:border-box}
html,body{margin:0;padding:0}
body{font:15px/1.46668 Lato,-apple-system,BlinkMacSystemFont,"Segoe UI","Helvetica Neue","Liberation Sans",Arial,sans-serif;
  color:#1d1c1d;background:#fff;-webkit-font-smoothing:antialiased}
a{color:#1264a3;text-decoration:none}
a:hover{text-decoration:underline}
/* The sidebar colour is painted on the grid too, so a full-page screenshot keeps it below the fold. */
.workspace{display:grid;grid-template-columns:240px minmax(0,1fr);min-height:100vh;
  background:linear-gradient(to right,#3f0e40 240px,#fff 240px)}
.sidebar{background:#3f0e40;color:#cfc3cf;position:sticky;top:0;height:100vh;overflow-y:auto;padding-bottom:16px}
.workspace-name{color:#fff;font-weight:900;font-size:18px;padding:14px 16px;border-bottom:1px solid #5d3d5e}
.sidebar-heading{font-size:14px;padding:14px 16px 6px;color:#cfc3cf;opacity:.85}
.channel-list{list-style:none;margin:0;padding:0}
.channel-list a{display:flex;align-items:center;gap:6px;padding:4px 16px 4px 18px;color:#cfc3cf;font-size:15px}
.channel-list a:hover{background:#350d36;text-decoration:none}
.channel-list .hash{opacity:.7;width:12px}
.channel-list .count{margin-left:auto;font-size:12px;opacity:.6}
.generated{font-size:12px;padding:16px;opacity:.6}
.main{min-width:0;background:#fff}
.channel{border-bottom:8px solid #f4f4f4}
.channel-header{position:sticky;top:0;z-index:1;background:#fff;display:flex;align-items:baseline;gap:10px;
  padding:12px 20px;border-bottom:1px solid #e2e2e2}
.channel-header h2{margin:0;font-size:18px;font-weight:900}
.channel-header .hash{color:#616061;font-weight:400;margin-right:2px}
.channel-meta{font-size:13px;color:#616061}
.messages{padding:8px 0 16px}
.empty{color:#616061;padding:8px 20px;margin:0}
.message{display:grid;grid-template-columns:36px minmax(0,1fr);column-gap:8px;padding:8px 20px}
.message:hover{background:#f8f8f8}
.message.reply{padding:6px 0;grid-template-columns:28px minmax(0,1fr)}
.message.reply:hover{background:transparent}
.message.ephemeral{background:#f8f8f8;border-left:3px solid #ababad;padding-left:17px}
.avatar{width:36px;height:36px;border-radius:6px;color:#fff;font-weight:700;font-size:16px;
  display:flex;align-items:center;justify-content:center}
.avatar-bot{background:linear-gradient(135deg,#1d2b64,#3a6fd8);font-size:20px}
.reply .avatar{width:28px;height:28px;font-size:14px}
/* Long lines are hard to read; Slack's wide window leaves accessories stranded far right. */
.message-content{min-width:0;max-width:820px}
.meta{display:flex;align-items:baseline;gap:6px;line-height:1.3}
.author{font-weight:900}
.app-badge{font-size:10px;font-weight:700;color:rgba(29,28,29,.7);background:rgba(29,28,29,.13);
  border-radius:2px;padding:1px 3px;line-height:1.25;align-self:center}
.time,.edited{font-size:12px;color:#616061}
.ephemeral-tag{font-size:12px;color:#616061;margin-bottom:2px;display:flex;align-items:center;gap:6px}
.eye{display:inline-block;width:12px;height:8px;border:1.5px solid #616061;border-radius:50%/60%;position:relative}
.eye::after{content:"";position:absolute;width:4px;height:4px;border-radius:50%;background:#616061;left:2.5px;top:0.5px}
.block{margin:4px 0}
.block-header{font-size:18px;font-weight:900;line-height:1.33;margin:6px 0 8px}
.block-section{display:flex;gap:12px;align-items:flex-start}
.section-body{flex:1;min-width:0;overflow-wrap:anywhere}
.fields{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:8px 16px;max-width:640px;margin-top:4px}
.section-text+.fields{margin-top:8px}
.accessory{flex:none}
.block-divider{border:0;border-top:1px solid #ddd;margin:10px 0}
.block-context{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;font-size:12px;color:#616061;line-height:1.5}
.block-context .element-image{width:20px;height:20px;border-radius:4px}
.block-actions{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 4px}
.block-image{margin:8px 0}
.block-image-img{display:block;max-width:min(100%,520px);max-height:400px;border-radius:8px;border:1px solid rgba(29,28,29,.13)}
.image-title{font-size:13px;color:#616061;margin-bottom:4px}
.block-unsupported{font-size:12px;color:#616061;font-style:italic}
.element-image{width:88px;height:88px;object-fit:cover;border-radius:6px}
.btn{font:inherit;font-size:13px;font-weight:700;height:28px;padding:0 12px;border-radius:4px;
  border:1px solid rgba(29,28,29,.3);background:#fff;color:#1d1c1d;cursor:not-allowed;display:inline-flex;
  align-items:center;gap:4px;white-space:nowrap}
.btn-primary{background:#007a5a;border-color:#007a5a;color:#fff}
.btn-danger{background:#e01e5a;border-color:#e01e5a;color:#fff}
.btn-overflow{padding:0 8px}
.btn:disabled{opacity:.9}
.select{display:inline-flex;align-items:center;gap:8px;height:28px;padding:0 10px;border:1px solid rgba(29,28,29,.3);
  border-radius:4px;font-size:13px;color:#616061}
.caret{font-size:10px}
b{font-weight:700}
code{font:12px/1.5 Monaco,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;color:#c01343;
  background:rgba(29,28,29,.04);border:1px solid rgba(29,28,29,.13);border-radius:3px;padding:1px 3px}
.code-block{font:12px/1.5 Monaco,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;margin:4px 0;
  padding:8px;background:rgba(29,28,29,.04);border:1px solid rgba(29,28,29,.13);border-radius:4px;
  white-space:pre-wrap;overflow-wrap:anywhere}
blockquote{margin:4px 0;padding-left:12px;border-left:4px solid #ddd}
ul{margin:2px 0;padding-left:22px}
li{margin:1px 0}
.mention{color:#1264a3;background:rgba(29,155,209,.1);border-radius:3px;padding:0 2px}
.emoji{font-family:"Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji",sans-serif}
.dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;vertical-align:-.05em;margin:0 .1em}
.dot-red{background:#e01e5a}.dot-green{background:#2eb67d}.dot-yellow{background:#ecb22e}
.dot-blue{background:#36c5f0}.dot-white{background:#fff;border:1px solid #ababad}
.file-comment{margin:4px 0}
.file{margin:6px 0;display:inline-block;max-width:min(100%,480px);border:1px solid rgba(29,28,29,.13);
  border-radius:8px;overflow:hidden;background:#fff}
.file-image{display:block;max-width:100%;max-height:360px}
.file-title{font-size:13px;font-weight:700;padding:6px 10px;color:#1d1c1d;border-top:1px solid rgba(29,28,29,.13)}
.missing-image{display:block;padding:12px;color:#616061;font-size:13px}
.thread{margin-top:6px}
.thread-summary{font-size:13px;font-weight:700;color:#1264a3;margin-bottom:2px}
.replies{border-left:2px solid #e8e8e8;padding-left:12px;margin-left:2px}
"""
