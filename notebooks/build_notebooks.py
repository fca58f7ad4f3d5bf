"""Write the example notebooks of this folder (run: ``python notebooks/build_notebooks.py``).

The notebooks are generated so that their source stays reviewable as plain Python here; they
are saved without outputs and executed top to bottom by ``tests/report/test_report_notebooks.py``.
Both read the sample captures of ``captures/`` (written by the simulator).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

FIND_CAPTURES = '''\
from pathlib import Path

def find_captures_dir(start: Path = Path.cwd()) -> Path:
    """The repository's captures/ folder, from the notebook's folder or any parent."""
    for folder in (start, *start.parents):
        if (folder / "captures").is_dir() and any((folder / "captures").glob("*.pcap*")):
            return folder / "captures"
    raise FileNotFoundError("no captures/ folder with pcaps above " + str(start))

CAPTURES = find_captures_dir()
sorted(p.name for p in CAPTURES.glob("*.pcap*"))'''


def explore_capture() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Exploring a CTI capture\n\n"
            "Load a GED-188 capture from `captures/`, look at it as pandas DataFrames, filter it, plot the "
            "request latency and draw the ladder of one call across sessions.\n\n"
            "Column meanings (and units) are documented in `docs/columns.md`; times are epoch seconds, "
            "durations seconds."
        ),
        new_code_cell(
            "%matplotlib inline\n"
            "import pandas as pd\n"
            "from ctidissect.capture import CaptureStats, read_capture\n"
            "from ctidissect.analysis import analyze\n"
            "from ctidissect.report.frames import messages_frame, sessions_frame, pairs_frame, fanout_frame, "
            "fanout_recipients_frame, calls_frame\n"
            "from ctidissect.report.latency import latency_table, slowest_requests\n"
            "from ctidissect.report.plots import latency_over_time_figure, latency_cdf_figure, call_ladder_figure\n"
            "pd.set_option('display.width', 160)"
        ),
        new_code_cell(FIND_CAPTURES),
        new_markdown_cell("## Messages\n\n`read_capture` streams decoded messages; `messages_frame` builds one row per message."),
        new_code_cell(
            'capture = CAPTURES / "emergency-supervisor-found.pcap"\n'
            "stats = CaptureStats()\n"
            "messages = messages_frame(read_capture(capture, stats=stats))\n"
            "print(stats.summary())\n"
            "messages.head()"
        ),
        new_code_cell("messages['name'].value_counts().head(15)"),
        new_markdown_cell("## Sessions, pairs, fan-out\n\nOne pass of the analysis gives every table."),
        new_code_cell(
            "result = analyze(read_capture(capture, connection_events=True))\n"
            "sessions = sessions_frame(result)\n"
            "pairs = pairs_frame(result)\n"
            "sessions[['conn', 'role', 'client_id', 'protocol_version', 'services_granted', 'end_reason', "
            "'heartbeat_interval_s']]"
        ),
        new_markdown_cell("### Filters"),
        new_code_cell(
            "bridges = sessions[sessions['role'].isin(['bridge', 'recording'])]\n"
            "not_ok = pairs[pairs['status'] != 'ok']\n"
            "slow = pairs.query('latency_s > 0.005')\n"
            "heartbeats = pairs[pairs['request'] == 'HEARTBEAT_REQ']\n"
            "print(len(bridges), 'bridge/recording sessions;', len(not_ok), 'pairs not ok;', len(slow), "
            "'slower than 5 ms;', len(heartbeats), 'heartbeats')\n"
            "slow[['conn', 'request', 'response', 'latency_s', 'status']].head(10)"
        ),
        new_code_cell(
            "fanout = fanout_frame(result)\n"
            "recipients = fanout_recipients_frame(result)\n"
            "fanout[['request', 'request_frame', 'requester_client_id', 'outcome', 'outcome_latency_s', "
            "'expected', 'delivered', 'missed', 'max_delay_s']]"
        ),
        new_code_cell("recipients[['request_frame', 'conn', 'role', 'client_id', 'kind', 'delivered', 'delay_s']]"),
        new_markdown_cell(
            "## Latency\n\nStatistics per request type (seconds; percentiles by linear interpolation, numpy's "
            "`'linear'` method), the slowest requests, and two plots."
        ),
        new_code_cell("latency_table(pairs, by='type', sessions=sessions, total=True)"),
        new_code_cell("latency_table(pairs, by='client', sessions=sessions)"),
        new_code_cell("slowest_requests(pairs, 5)"),
        new_code_cell("latency_over_time_figure(pairs)"),
        new_code_cell("latency_cdf_figure(pairs)"),
        new_markdown_cell("## A call ladder\n\nThe emergency call, across the agent, supervisor and bridge sessions."),
        new_code_cell(
            "calls = calls_frame(result)\n"
            "emergency = calls[calls['emergency']]\n"
            "call = (emergency if not emergency.empty else calls.sort_values('session_count', ascending=False)).iloc[0]\n"
            "ladder = result.ladder(int(call['connection_call_id']), int(call['peripheral_id']))\n"
            "call_ladder_figure(ladder)"
        ),
        new_code_cell(
            "# sanity checks, so that running this notebook in the test suite means something\n"
            "assert len(messages) == stats.messages + stats.anomaly_records\n"
            "assert set(sessions['role']) >= {'agent', 'bridge'}\n"
            "assert (pairs['status'] == 'ok').any()\n"
            "assert len(ladder.rows) > 0\n"
            "print('ok')"
        ),
    ]
    return new_notebook(cells=cells, metadata=_metadata())


def audit_from_api() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Rebuilding the audit report from the API\n\n"
            "`ctidissect report CAPTURE -o report.html` is a thin wrapper: this notebook builds the same "
            "audit step by step - capture, analysis, DataFrames, latency, compliance rules - and then with "
            "the one-call API, and checks that both agree."
        ),
        new_code_cell(
            "%matplotlib inline\n"
            "import tempfile\n"
            "import pandas as pd\n"
            "from ctidissect.capture import CaptureStats, ConnectionEvent, read_capture\n"
            "from ctidissect.analysis import Analyzer\n"
            "from ctidissect.report import compliance as cmp\n"
            "from ctidissect.report.frames import sessions_frame, pairs_frame, fanout_frame, fanout_recipients_frame\n"
            "from ctidissect.report.latency import latency_table\n"
            "from ctidissect.report.audit import build_audit, render_html, write_report\n"
            "pd.set_option('display.width', 160)"
        ),
        new_code_cell(FIND_CAPTURES),
        new_markdown_cell("## Step by step\n\nOne streaming pass feeds the analyzer and keeps the small per-message facts the rules read."),
        new_code_cell(
            'capture = CAPTURES / "emergency-no-supervisor.pcap"\n'
            "settings = cmp.load_rules()   # the packaged defaults; cmp.load_rules('site.toml') to override\n"
            "stats = CaptureStats()\n"
            "analyzer = Analyzer()\n"
            "facts, events = [], []\n"
            "for record in read_capture(capture, connection_events=True, stats=stats):\n"
            "    analyzer.feed(record)\n"
            "    if isinstance(record, ConnectionEvent):\n"
            "        events.append(record)\n"
            "    else:\n"
            "        facts.append(cmp.MessageFacts.from_message(record, {'CLIENT_PASSWORD', 'AGENT_PASSWORD'}))\n"
            "result = analyzer.result()\n"
            "sessions, pairs = sessions_frame(result), pairs_frame(result)\n"
            "fanout, recipients = fanout_frame(result), fanout_recipients_frame(result)\n"
            "print(stats.summary())"
        ),
        new_code_cell("latency_table(pairs, by='type', sessions=sessions, total=True)"),
        new_code_cell(
            "ctx = cmp.ComplianceInput(messages=facts, sessions=sessions, pairs=pairs, fanout=fanout, recipients=recipients,\n"
            "                          capture=capture.name, start_ts=stats.first_ts, end_ts=stats.last_ts,\n"
            "                          connection_events=events)\n"
            "results = cmp.run_rules(ctx, settings)\n"
            "cmp.results_frame(results)[['id', 'verdict', 'checked', 'failed', 'warned', 'summary']]"
        ),
        new_code_cell("cmp.evidence_frame(results)[['rule', 'verdict', 'frame', 'conn', 'client_id', 'detail']]"),
        new_markdown_cell("## The same in one call, and the report"),
        new_code_cell(
            "audit = build_audit([capture])\n"
            "assert [r.verdict for r in audit.compliance] == [r.verdict for r in results]\n"
            "print('overall verdict:', audit.verdict)\n"
            "audit.sessions[['capture', 'conn', 'role', 'client_id', 'end_reason']]"
        ),
        new_code_cell(
            "out = tempfile.mkdtemp()\n"
            "write_report(audit, out + '/report.html')   # sensitive values redacted; '.pdf' for a PDF\n"
            "html = open(out + '/report.html', encoding='utf-8').read()\n"
            "print(len(html), 'bytes of HTML,', html.count('data:image/png;base64'), 'embedded plots')"
        ),
        new_code_cell(
            "# what the report contains, section by section\n"
            "import re\n"
            "re.findall(r'<h2>(.*?)</h2>', html)"
        ),
        new_code_cell(
            "fanout_rule = next(r for r in audit.compliance if r.id == 'emergency.fanout')\n"
            "assert fanout_rule.verdict == 'fail'   # the scenario skips one recorder (an injected fault)\n"
            "assert '<section id=\"findings\">' in html and 'emergency.fanout' in html\n"
            "print('ok')"
        ),
    ]
    return new_notebook(cells=cells, metadata=_metadata())


def _metadata() -> dict:
    return {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }


NOTEBOOKS = {"explore_capture.ipynb": explore_capture, "audit_from_api.ipynb": audit_from_api}


def main() -> None:
    for name, build in NOTEBOOKS.items():
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
