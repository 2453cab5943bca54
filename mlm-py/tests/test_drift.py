"""Drift from Python: baselines of captured traffic or of given samples, reports that render
as tables and DataFrames, on the local backend and through a server (sync and async)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import mlm
from mlm.aio import AsyncClient

from conftest import BUSINESS, MODEL_DIR, OPERATOR_TOKEN, RUNTIME, SPORTS, Server

CAPTURE = {"destination_uri": "file:news", "sampling_percent": 100}
SPORTS_SENTENCES = [
    "The striker scored twice in the final",
    "The home team won the championship game",
    "The coach praised the goalkeeper after the match",
]
BUSINESS_SENTENCES = [
    "Stocks rallied after the earnings report",
    "The central bank raised interest rates again",
    "Shares of the retailer fell on weak sales",
]


def test_reports_on_captured_traffic(client: mlm.Client, version: mlm.ModelVersion) -> None:
    client.create_endpoint("drifty", version, instance_type="ml.m5.large", data_capture=CAPTURE,
                           wait=True, progress=False)
    start = datetime.now(timezone.utc)
    for sentence in SPORTS_SENTENCES + BUSINESS_SENTENCES:
        client.invoke("drifty", {"sentence": sentence})
    baseline = client.create_baseline("drifty", "launch", start=start)
    assert baseline.sample_count == 6
    assert baseline.window_start == start
    assert baseline.fields["sentence"].kind is mlm.FieldKind.TEXT
    assert baseline.labels is not None and sum(baseline.labels.counts.values()) == 6
    assert [b.name for b in client.list_baselines("drifty")] == ["launch"]
    assert client.get_baseline("drifty", "launch") == baseline
    assert "launch" in baseline._repr_html_()

    # The same traffic again: no drift.
    same = client.drift_report("drifty", "launch", start=start)
    assert (same.sample_count, same.drifted, same.drift_score) == (6, False, 0.0)

    # Sports only, from given samples: the labels moved.
    sports = [{"input": {"sentence": s}, "output": {"label": 2}} for s in SPORTS_SENTENCES * 10]
    report = client.drift_report("drifty", "launch", samples=sports,
                                 thresholds={"js_distance": 0.9})
    assert report.drifted and report.drift_score > 1
    assert report.labels is not None and report.labels.check.drifted
    assert report.labels.window == {"2": 30}
    assert report.thresholds["js_distance"] == 0.9

    table = report.to_pandas()
    assert list(table.columns) == ["field", "kind", "statistic", "value", "threshold",
                                   "severity", "drifted"]
    assert table.iloc[-1]["field"] == "(labels)" and bool(table.iloc[-1]["drifted"])
    text = str(report)
    assert text.splitlines()[0].split() == ["field", "kind", "statistic", "value", "threshold",
                                            "severity", "drifted"]
    assert "DRIFTED" in text and text.endswith("(drifted)")
    assert "<table>" in report._repr_html_()

    client.delete_baseline("drifty", "launch")
    with pytest.raises(mlm.NotFoundError):
        client.get_baseline("drifty", "launch")
    client.delete_endpoint("drifty", wait=True)


def test_bad_drift_requests_say_why(client: mlm.Client, version: mlm.ModelVersion,
                                    tmp_path: Path) -> None:
    client.create_endpoint("plain", version, instance_type="ml.m5.large", wait=True,
                           progress=False)
    client.invoke("plain", {"sentence": SPORTS})
    with pytest.raises(mlm.InvalidArgumentError, match="captured no traffic"):
        client.create_baseline("plain", "launch")
    with pytest.raises(mlm.InvalidArgumentError, match="not both"):
        client.create_baseline("plain", "launch", samples=[{"input": 1}],
                               start=datetime.now(timezone.utc))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence": "ok"}\n{not json\n')
    with pytest.raises(mlm.InvalidArgumentError, match="line 2"):
        client.create_baseline("plain", "launch", samples=bad)
    with pytest.raises(mlm.InvalidArgumentError, match="baseline name"):
        client.create_baseline("plain", "bad_name", samples=[{"input": 1}])
    with pytest.raises(mlm.InvalidArgumentError):
        client.drift_report("plain", "launch", samples=[{"input": 1}], thresholds={"ks": -1})
    with pytest.raises(mlm.NotFoundError):
        client.drift_report("plain", "missing", samples=[{"input": 1}])
    client.delete_endpoint("plain", wait=True)


def test_drift_through_a_server(http_client: mlm.Client, server: Server,
                                tmp_path: Path) -> None:
    client = http_client
    assert client.capabilities.drift
    client.create_model("drift-model")
    version = client.create_version("drift-model", str(MODEL_DIR), RUNTIME)
    client.create_endpoint("drift-http", version, instance_type="ml.m5.large",
                           data_capture=CAPTURE, wait=True, progress=False)
    lines = tmp_path / "launch.jsonl"
    lines.write_text("\n".join(
        json.dumps({"sentence": s}) for s in SPORTS_SENTENCES + BUSINESS_SENTENCES + [BUSINESS]
    ))
    baseline = client.create_baseline("drift-http", "upload", samples=lines)
    assert baseline.sample_count == 7 and baseline.labels is None

    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    for sentence in BUSINESS_SENTENCES:
        client.invoke("drift-http", {"sentence": sentence})

    async def through_asyncio() -> mlm.DriftReport:
        async with await AsyncClient.http(server.url, token=OPERATOR_TOKEN) as aclient:
            assert [b.name async for b in aclient.list_baselines("drift-http")] == ["upload"]
            return await aclient.drift_report("drift-http", "upload", start=start)

    report = asyncio.run(through_asyncio())
    assert report.sample_count == 3
    assert report.window_start == start
    assert report.fields[0].field == "sentence"
    client.delete_baseline("drift-http", "upload")
    client.delete_endpoint("drift-http", wait=True)
