"""The Web API stand-in rejects what Slack rejects, so tests that pass against it mean something."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError


@pytest.fixture
def client(slack_standin) -> WebClient:
    return WebClient(token="xoxb-standin-token", base_url=slack_standin.api_url)


def _error(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def test_rejects_too_many_blocks_a_missing_channel_and_an_empty_message(client):
    divider = {"type": "divider"}
    assert _error(lambda: client.chat_postMessage(channel="C1", text="t", blocks=[divider] * 51)) == "invalid_blocks"
    assert _error(lambda: client.chat_postMessage(channel="", text="t")) == "channel_not_found"
    with pytest.warns(UserWarning, match="text"):  # slack-sdk warns too; Slack itself refuses
        assert _error(lambda: client.chat_postMessage(channel="C1")) == "no_text"
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}
    assert _error(lambda: client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=[long_section])) == "invalid_blocks"


def test_fails_on_demand_then_recovers(client, slack_standin):
    slack_standin.fail("chat.postMessage", error="channel_not_found")
    assert _error(lambda: client.chat_postMessage(channel="C1", text="t")) == "channel_not_found"
    assert client.chat_postMessage(channel="C1", text="t")["ok"]
    slack_standin.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="t")
    assert caught.value.response.status_code == 429 and caught.value.response.headers["Retry-After"] == "7"


def test_records_a_v2_file_upload_end_to_end(client, slack_standin):
    client.files_upload_v2(channel="C1", file=b"\x89PNG-bytes", filename="chart.png", title="Chart", initial_comment="here")
    methods = [c.method for c in slack_standin.calls]
    assert methods[:3] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert slack_standin.calls_to("upload")[0].body == b"\x89PNG-bytes"
    assert slack_standin.calls_to("files.completeUploadExternal")[0].params["initial_comment"] == "here"


def test_contract_new_opens_the_editor_with_a_template(slack_http, slack_standin):
    slack_http.command("/contract", "new")
    view = slack_standin.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == "contract_editor"
    assert view["blocks"][1]["element"]["initial_value"].startswith("name: my-feature")
