"""The demo's HTML transcript: mrkdwn and Block Kit rendering, escaping, and the page in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from bot.demo_html import (
    BOT_NAME,
    ChannelLog,
    PostedFile,
    PostedMessage,
    Transcript,
    mrkdwn_to_html,
    plain_text_to_html,
    render_block,
    render_message,
    render_transcript_html,
    write_transcript,
)
from tests.bot.browser import BrowserPage, chromium_page  # noqa: F401  (fixture)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Elements(HTMLParser):
    """Every start tag with its attributes, to check what a browser would actually build."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _assert_inert(page: str) -> None:
    """No script, no inline event handler, no javascript: URL anywhere in the markup."""
    for tag, attrs in _Elements(page).tags:
        assert tag != "script"
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            assert not (attrs.get(name) or "").lower().startswith("javascript:"), (tag, attrs)


def _message(**overrides) -> PostedMessage:
    fields = {"ts": "1763300000.000100", "author": BOT_NAME, "text": "fallback", "blocks": None, "replies": [], "files": []}
    return PostedMessage(**{**fields, **overrides})


# --------------------------------------------------------------------------------------------
# mrkdwn
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*bold*", "<b>bold</b>"),
        ("_italic_", "<i>italic</i>"),
        ("~gone~", "<s>gone</s>"),
        ("*bold _and italic_*", "<b>bold <i>and italic</i></b>"),
        ("run `a*b*c`", "run <code>a*b*c</code>"),
        ("```\nx = *y*\n_z_\n```", '<pre class="code-block">x = *y*\n_z_</pre>'),
        ("<@U123>", '<span class="mention">@U123</span>'),
        ("<@U123|dana>", '<span class="mention">@dana</span>'),
        ("<#C1|fraud-ml>", '<span class="mention">#fraud-ml</span>'),
        ("<!here>", '<span class="mention">@here</span>'),
        ("<https://x.test/a_b_c|the notes>",
         '<a href="https://x.test/a_b_c" target="_blank" rel="noopener noreferrer">the notes</a>'),
        ("<https://x.test>", '<a href="https://x.test" target="_blank" rel="noopener noreferrer">https://x.test</a>'),
        ("one\ntwo", "one<br>two"),
        ("• first\n• second", "<ul><li>first</li><li>second</li></ul>"),
        ("intro\n- a\n- b\nafter", "intro<ul><li>a</li><li>b</li></ul>after"),
        ("> quoted\n&gt; still", "<blockquote>quoted<br>still</blockquote>"),
        (":warning: careful", '<span class="emoji" title=":warning:">⚠️</span> careful'),
        (":red_circle:", '<span class="dot dot-red" title=":red_circle:"></span>'),
        (":not_an_emoji:", ":not_an_emoji:"),
    ],
)
def test_mrkdwn_to_html(source: str, expected: str) -> None:
    assert mrkdwn_to_html(source) == expected


@pytest.mark.parametrize("source", ["snake_case_name", "2*3*4", "a~b~c", "x_", "* not bold *", "un*fin"])
def test_markers_inside_words_or_unclosed_stay_literal(source: str) -> None:
    assert mrkdwn_to_html(source) == source


def test_slack_entities_show_as_the_characters_they_stand_for_once_escaped() -> None:
    # Builders escape with Slack's &lt; &gt; &amp;; the reader must see "<b> & co", not "&lt;b&gt;".
    assert mrkdwn_to_html("&lt;b&gt; &amp; co") == "&lt;b&gt; &amp; co"
    assert mrkdwn_to_html("&amp;lt;") == "&amp;lt;"


@pytest.mark.parametrize("payload", [SCRIPT, IMG, '"><svg onload=alert(1)>', "<a href='javascript:alert(1)'>x</a>"])
def test_raw_html_in_mrkdwn_is_escaped(payload: str) -> None:
    rendered = mrkdwn_to_html(f"*hi* {payload} `{payload}` ```{payload}```")
    assert "<script" not in rendered and "<img" not in rendered and "<svg" not in rendered
    _assert_inert(rendered)


def test_unsafe_link_schemes_are_not_linked() -> None:
    rendered = mrkdwn_to_html("<javascript:alert(1)|click me> <data:text/html,hi|data>")
    assert "<a " not in rendered
    _assert_inert(rendered)


def test_link_labels_and_urls_are_escaped() -> None:
    rendered = mrkdwn_to_html('<https://x.test/?q="a"&amp;b=1|A &amp; &lt;b&gt;>')
    assert rendered == ('<a href="https://x.test/?q=&quot;a&quot;&amp;b=1" target="_blank" '
                        'rel="noopener noreferrer">A &amp; &lt;b&gt;</a>')


def test_plain_text_is_escaped_and_keeps_line_breaks() -> None:
    assert plain_text_to_html(f"{SCRIPT}\n*not bold* :x:") == (
        '&lt;script&gt;alert(1)&lt;/script&gt;<br>*not bold* <span class="emoji" title=":x:">❌</span>')
    assert plain_text_to_html(":x:", emoji=False) == ":x:"


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


def _button(label: str, style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": label.lower(), "value": "1"}
    return {**button, "style": style} if style else button


def test_header_block_is_plain_text() -> None:
    rendered = render_block({"type": "header", "text": {"type": "plain_text", "text": "Launch *now* <b>"}})
    assert rendered == '<div class="block block-header">Launch *now* &lt;b&gt;</div>'


def test_section_renders_text_fields_and_accessory() -> None:
    rendered = render_block({
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Ship*"},
        "fields": [{"type": "mrkdwn", "text": "*Precision*\n0.91"}, {"type": "plain_text", "text": "Recall 0.80"}],
        "accessory": _button("Open"),
    })
    assert '<div class="section-text"><b>Ship</b></div>' in rendered
    assert ('<div class="fields"><div class="field"><b>Precision</b><br>0.91</div>'
            '<div class="field">Recall 0.80</div></div>') in rendered
    assert '<div class="accessory"><button type="button" class="btn" disabled' in rendered
    assert rendered.index("fields") < rendered.index("accessory")


def test_divider_block() -> None:
    assert render_block({"type": "divider"}) == '<hr class="block block-divider">'


def test_context_block_renders_text_and_images_small() -> None:
    rendered = render_block({"type": "context", "elements": [
        {"type": "mrkdwn", "text": "by <@U1>"},
        {"type": "image", "image_url": "https://x.test/a.png", "alt_text": "logo"},
    ]})
    assert rendered.startswith('<div class="block block-context">')
    assert '<span class="context-item">by <span class="mention">@U1</span></span>' in rendered
    assert '<img class="element-image" src="https://x.test/a.png" alt="logo"' in rendered


def test_actions_block_renders_styled_static_buttons_and_selects() -> None:
    rendered = render_block({"type": "actions", "elements": [
        _button("Approve", "primary"), _button("Reject", "danger"), _button("Override…"),
        {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick a contract"}, "options": []},
    ]})
    assert 'class="btn btn-primary" disabled title="Static transcript">Approve</button>' in rendered
    assert 'class="btn btn-danger" disabled title="Static transcript">Reject</button>' in rendered
    assert 'class="btn" disabled title="Static transcript">Override…</button>' in rendered
    assert '<span class="select" title="Static transcript">Pick a contract' in rendered


def test_image_block_and_unsafe_image_urls() -> None:
    rendered = render_block({"type": "image", "image_url": "charts/a b.png", "alt_text": "chart",
                             "title": {"type": "plain_text", "text": "Cost"}})
    assert '<div class="image-title">Cost</div>' in rendered
    assert 'src="charts/a%20b.png" alt="chart"' in rendered
    unsafe = render_block({"type": "image", "image_url": "javascript:alert(1)", "alt_text": "x"})
    assert "<img" not in unsafe
    _assert_inert(unsafe)


def test_unknown_blocks_are_marked_not_dropped() -> None:
    assert render_block({"type": "rich_text", "elements": []}) == '<div class="block block-unsupported">[rich_text block]</div>'


# --------------------------------------------------------------------------------------------
# Messages and page
# --------------------------------------------------------------------------------------------


def test_message_falls_back_to_text_only_without_blocks() -> None:
    assert "*fallback*" not in render_message(_message(text="*fallback*"))
    assert "<b>fallback</b>" in render_message(_message(text="*fallback*"))
    with_blocks = render_message(_message(text="fallback text", blocks=[{"type": "divider"}]))
    assert "fallback text" not in with_blocks and "block-divider" in with_blocks
    assert render_message(_message(text="x", blocks=[])).count("block") == 0


def test_message_meta_bot_badge_time_and_edited() -> None:
    bot = render_message(_message(edited=True))
    assert 'class="avatar avatar-bot"' in bot and '<span class="app-badge">APP</span>' in bot
    assert '<time class="time" title="2025-11-16 13:33:20 UTC">13:33</time>' in bot
    assert '<span class="edited">(edited)</span>' in bot
    person = render_message(_message(author="dana", ts="not-a-ts"))
    assert "app-badge" not in person and ">D</div>" in person
    assert '<time class="time" title="not-a-ts"></time>' in person


def test_thread_replies_are_counted_and_nested() -> None:
    one = render_message(_message(replies=[_message(text="first reply")]))
    assert '<div class="thread-summary">1 reply</div>' in one
    assert '<article class="message reply"' in one and "first reply" in one
    two = render_message(_message(replies=[_message(text="a"), _message(text="b")]))
    assert '<div class="thread-summary">2 replies</div>' in two


def test_ephemeral_message_is_tagged() -> None:
    rendered = render_message(_message(ephemeral_to="U0ANALYST"))
    assert 'class="message ephemeral"' in rendered and "Only visible to you</div>" in rendered
    assert "Only visible to you" not in render_message(_message())


def test_files_render_as_thumbnails_with_comment_shown_once() -> None:
    chart = PostedFile("Cost by threshold", "charts/tradeoff.png", "*See* the chart")
    rendered = render_message(_message(files=[chart]))
    assert '<div class="file-comment"><b>See</b> the chart</div>' in rendered
    assert '<img class="file-image" src="charts/tradeoff.png" alt="Cost by threshold"' in rendered
    assert '<figcaption class="file-title">Cost by threshold</figcaption>' in rendered
    upload = render_message(_message(text=chart.initial_comment, files=[chart]))
    assert upload.count("<b>See</b> the chart") == 1
    assert "section-text" not in render_message(_message(text="", files=[chart]))


def test_every_text_field_of_a_transcript_is_escaped() -> None:
    hostile = f"{SCRIPT}{IMG}"
    message = _message(
        author=hostile, text=hostile, ephemeral_to=hostile, ts=hostile,
        files=[PostedFile(title=hostile, filename=f"charts/{hostile}.png", initial_comment=hostile)],
        replies=[_message(text=hostile, author=hostile, blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": hostile}},
            {"type": "section", "text": {"type": "mrkdwn", "text": hostile},
             "fields": [{"type": "mrkdwn", "text": hostile}], "accessory": _button(hostile)},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": hostile},
                                             {"type": "image", "image_url": hostile, "alt_text": hostile}]},
            {"type": "actions", "elements": [_button(hostile, "danger"),
                                             {"type": "static_select", "placeholder": {"type": "plain_text", "text": hostile}}]},
            {"type": "image", "image_url": hostile, "alt_text": hostile, "title": {"type": "plain_text", "text": hostile}},
            {"type": hostile},
        ])],
    )
    page = render_transcript_html(Transcript(hostile, [ChannelLog(hostile, [message])], hostile), title=hostile)
    assert page.count("<script") == 0 and page.count("<img src=x") == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    _assert_inert(page)


def test_page_has_a_sidebar_link_for_every_channel_anchor() -> None:
    transcript = Transcript("Acme", [ChannelLog("fraud-ml", [_message()]), ChannelLog("#Fraud ML", []),
                                     ChannelLog("general", [])], "2026-11-16 09:00 UTC")
    page = render_transcript_html(transcript, title="Demo")
    tags = _Elements(page).tags
    links = [attrs["href"] for tag, attrs in tags if tag == "a" and (attrs.get("href") or "").startswith("#")]
    sections = [attrs["id"] for tag, attrs in tags if tag == "section"]
    assert links == [f"#{anchor}" for anchor in sections]
    assert sections == ["channel-fraud-ml", "channel-fraud-ml-2", "channel-general"]
    assert "<title>Demo</title>" in page and "No messages." in page


def test_page_is_self_contained() -> None:
    page = render_transcript_html(Transcript("Acme", [ChannelLog("general", [_message()])], "now"))
    tags = _Elements(page).tags
    assert not [tag for tag, _ in tags if tag in {"script", "link", "iframe"}]
    assert "@import" not in page and "url(" not in page and "@font-face" not in page


def test_write_transcript_writes_index_html(tmp_path: Path) -> None:
    transcript = Transcript("Acme", [ChannelLog("general", [_message(text="héllo")])], "now")
    path = write_transcript(tmp_path / "out", transcript)
    assert path == tmp_path / "out" / "index.html"
    assert path.read_text(encoding="utf-8") == render_transcript_html(transcript)


# --------------------------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------------------------


def write_chart(path: Path) -> None:
    """A small real chart, drawn the way bot.charts draws (Figure on Agg, no pyplot)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 3.2), dpi=80)
    axis = figure.add_subplot(1, 1, 1)
    thresholds = [0.1 * i for i in range(1, 10)]
    axis.plot(thresholds, [9 - 7 * t + 6 * t * t for t in thresholds], color="#c0392b", label="cost per week (k$)")
    axis.axvline(0.5, color="#555555", linestyle="--", label="current")
    axis.set_xlabel("threshold")
    axis.legend(fontsize=8)
    axis.set_title("Card fraud: cost by threshold")
    figure.tight_layout()
    figure.savefig(path, format="png")


def sample_transcript() -> Transcript:
    """Three channels with one of every kind of thing the demo posts."""
    launch = PostedMessage(
        ts="1763300000.000100", author=BOT_NAME, text="Launch decision for Card fraud: Ship.",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "Launch decision · Card fraud · exp-42"}},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                "*Ship* · score +2\nRecall improved with no guardrail breached. :white_check_mark:"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Recall*\n0.81 → *0.86* (+6.2%)"},
                {"type": "mrkdwn", "text": "*Precision*\n0.92 → 0.91 (−1.1%)"},
                {"type": "mrkdwn", "text": "*Cost per week*\n$41,200 → $37,900"},
                {"type": "mrkdwn", "text": "*Split check*\n:large_green_circle: p = 0.41"},
            ]},
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                "*Signers:* <@U0PM> (product), <@U0ML> (ML) — every signer must approve; one rejection rejects.\n"
                "• `recall` is the north star\n• `precision` must stay ≥ 0.90"},
             "accessory": _button("View contract")},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                "Contract v3 · α = 0.05 · requested by <@U0ANALYST> · <https://example.test/exp-42|experiment notes>"}]},
            {"type": "actions", "elements": [_button("Approve", "primary"), _button("Reject", "danger")]},
        ],
        replies=[PostedMessage(ts="1763300060.000200", author=BOT_NAME, blocks=None, replies=[], files=[],
                               text="<@U0PM> approved: _numbers look right, shipping Monday._")],
    )
    audit = PostedMessage(
        ts="1763303600.000300", author=BOT_NAME, text="Weekly audit, Card fraud", edited=True,
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "Weekly audit: Card fraud — week ending 2026-11-16"}},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                ":warning: *Precision fell below its floor* (0.88 < 0.90)\n> Alert volume rose 14% after the holiday rule change."}},
            {"type": "image", "image_url": "charts/tradeoff.png", "alt_text": "cost by threshold",
             "title": {"type": "plain_text", "text": "Cost by threshold"}},
        ],
        replies=[], files=[PostedFile("Cost and accuracy by threshold", "charts/tradeoff.png", "The trade-off this week:")],
    )
    notice = PostedMessage(
        ts="1763307200.000400", author=BOT_NAME, ephemeral_to="U0ANALYST", replies=[], files=[],
        text="Usage: `/contract show <name>`\n```/contract show card-fraud```", blocks=None,
    )
    person = PostedMessage(ts="1763307100.000350", author="dana", blocks=None, replies=[], files=[],
                           text="Who owns the *precision* floor? <!here>")
    return Transcript(
        workspace="Acme AI",
        channels=[ChannelLog("fraud-ml", [launch]), ChannelLog("model-audits", [audit]),
                  ChannelLog("general", [person, notice])],
        generated_at="2026-11-16 09:00 UTC",
    )


@pytest.mark.chromium
def test_transcript_renders_in_chromium(chromium_page: BrowserPage, tmp_path: Path) -> None:  # noqa: F811
    write_chart(tmp_path / "charts" / "tradeoff.png")
    transcript = sample_transcript()
    index = write_transcript(tmp_path, transcript)

    chromium_page.open(index)
    page = chromium_page.page

    assert chromium_page.errors == []
    assert all(url.startswith("file://") for url in chromium_page.requested_urls), chromium_page.requested_urls
    for channel in transcript.channels:
        assert page.locator(".sidebar a", has_text=channel.name).is_visible()
        assert page.locator(f".channel-header h2:has-text('{channel.name}')").is_visible()
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
    assert images and all(complete and width > 0 for _, complete, width in images), images
    assert page.locator(".ephemeral-tag").inner_text() == "Only visible to you"
    assert page.locator(".thread-summary").inner_text() == "1 reply"
    assert page.locator(".btn-primary").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 122, 90)"

    screenshot = tmp_path / "screenshot.png"
    page.screenshot(path=str(screenshot), full_page=True)
    data = screenshot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
