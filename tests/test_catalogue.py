"""The source catalogue, the resources that fetch its files, and the deployment profiles."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import threading
import urllib.error
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest

from assets.readers import READERS
from checks.schemas import STAGING_SPECS
from pipelines.catalogue import CatalogueError, FileSpec, load_catalogue, parse_catalogue
from pipelines.definitions import all_assets
from pipelines.profiles import Settings, resources_for
from pipelines.resources import PathOutsideDataDirError, SourceFiles, confined

REPO = Path(__file__).resolve().parents[1]
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------------------------
# The shipped catalogue
# --------------------------------------------------------------------------------------------


def test_every_source_has_a_staging_spec_and_every_spec_a_source():
    assert set(load_catalogue()) == set(STAGING_SPECS)
    # The sources the foundation was built on are all still there.
    assert {
        "council_register",
        "council_gss_lookup",
        "council_name_lookup",
        "data_explorer_metrics",
        "nearest_neighbours",
        "revenue_outturn",
        "council_tax_receipts",
        "section114_notices",
        "interventions",
        "audit_findings",
        "peer_challenges",
    } <= set(STAGING_SPECS)


def test_every_source_has_a_raw_and_a_validated_asset():
    keys = {key.to_user_string() for a in all_assets for key in a.keys}
    for source_id in load_catalogue():
        assert f"raw/{source_id}" in keys
        assert f"validated/{source_id}" in keys
    assert "validated/council_code_map" in keys


@pytest.mark.parametrize("source_id", sorted(load_catalogue()))
def test_catalogue_entry_is_usable(source_id):
    spec = load_catalogue()[source_id]
    assert IDENTIFIER.match(spec.id)
    assert spec.layout in READERS
    assert spec.files, "a source without files loads nothing"
    for name, pattern in spec.columns.items():
        assert IDENTIFIER.match(name)
        re.compile(pattern)
    assert spec.optional_columns <= set(spec.columns)
    if spec.stop_at_blank is not None:
        assert spec.stop_at_blank in spec.columns
        assert spec.stop_at_blank not in spec.optional_columns
    for file in spec.files:
        # Every shipped file is where the catalogue says, inside the data directory.
        path = confined(REPO / "data", file.path)
        assert path.is_file(), file.path
        if spec.layout == "xlsx_table":
            assert file.sheet and file.header_row > 1
        if file.url is not None:
            assert file.url.startswith("https://")
            # A space in a file name is percent-encoded in its URL.
            assert unquote(Path(file.url).name) == Path(file.path).name


def test_catalogue_values_are_typed():
    catalogue = load_catalogue()
    receipts = catalogue["council_tax_receipts"].files[0]
    assert receipts.published == date(2023, 6, 21)
    assert receipts.sheet == "Table_5" and receipts.header_row == 6
    periods = [f.period for f in catalogue["revenue_outturn"].files]
    assert periods == [
        "2015-16",
        "2016-17",
        "2017-18",
        *[f"{y}-{y - 1999}" for y in range(2010, 2015)],
    ]
    assert catalogue["data_explorer_metrics"].files[0].theme == "adult_social_care"
    assert catalogue["council_register"].files[0].header_row == 1


def test_raw_columns_follow_the_layout():
    catalogue = load_catalogue()
    receipts = catalogue["council_tax_receipts"]
    assert receipts.raw_columns == [
        "ecode",
        "council_code",
        "council_name",
        "authority_class",
        "quarter_label",
        "receipts",
    ]
    assert catalogue["nearest_neighbours"].raw_columns == ["council_code", "neighbour_codes"]
    assert catalogue["section114_notices"].raw_table == "raw.section114_notices"


# --------------------------------------------------------------------------------------------
# parse_catalogue on small documents
# --------------------------------------------------------------------------------------------


def _document(**source) -> dict:
    base = {"layout": "csv_table", "files": [{"path": "sources/x.csv"}], "columns": {"a": "^a$"}}
    return {"sources": {"example": {**base, **source}}}


def test_parse_catalogue_defaults_and_conversions():
    spec = parse_catalogue(
        _document(
            files=[{"path": "sources/x.csv", "published": "2024-02-29", "period": 2016}],
            optional_columns=["a"],
        )
    )["example"]
    file = spec.files[0]
    assert file == FileSpec(path="sources/x.csv", published=date(2024, 2, 29), period="2016")
    assert file.header_row == 1 and file.url is None and file.sheet is None
    assert spec.title == "example"
    assert spec.optional_columns == frozenset({"a"})
    assert spec.unpivot is None and spec.raw_columns == ["a"]


def test_parse_catalogue_unpivot_adds_name_and_value_columns():
    spec = parse_catalogue(
        _document(
            unpivot={"header_pattern": "^Q\\d$", "name_column": "quarter", "value_column": "v"}
        )
    )["example"]
    assert spec.raw_columns == ["a", "quarter", "v"]


@pytest.mark.parametrize(
    "document",
    [
        {"sources": {"Bad-Name": _document()["sources"]["example"]}},
        _document(columns={"Not An Identifier": "^x$"}),
        _document(files=[{"url": "https://example.org/x.csv"}]),
        _document(unpivot={"header_pattern": ".", "name_column": "x; DROP", "value_column": "v"}),
    ],
    ids=["source id", "column name", "file without path", "unpivot column"],
)
def test_parse_catalogue_rejects_what_would_reach_sql_or_break_loading(document):
    with pytest.raises(CatalogueError, match=r"example|Bad-Name"):
        parse_catalogue(document)


@pytest.mark.parametrize(
    "document",
    [
        {"sources": {"example": {"files": [{"path": "x.csv"}], "columns": {"a": "^a$"}}}},
        _document(layout="csv_tabel"),
        _document(stop_at_blank="ecode"),
    ],
    ids=["missing layout", "unknown layout", "stop_at_blank not a column"],
)
def test_parse_catalogue_rejects_layout_and_stop_column_errors(document):
    with pytest.raises(CatalogueError, match="example"):
        parse_catalogue(document)


# --------------------------------------------------------------------------------------------
# Paths stay inside the data directory
# --------------------------------------------------------------------------------------------


def test_confined_accepts_paths_inside(tmp_path):
    assert confined(tmp_path, "sources/a.csv") == (tmp_path / "sources" / "a.csv").resolve()
    assert confined(tmp_path, "sources/../b.csv") == (tmp_path / "b.csv").resolve()


@pytest.mark.parametrize("relative", ["../../etc/passwd", "/etc/passwd", "sources/../../x.csv"])
def test_confined_refuses_paths_outside(tmp_path, relative):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(PathOutsideDataDirError, match="outside the data directory"):
        confined(data_dir, relative)


def test_confined_refuses_a_link_out_of_the_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n", encoding="utf-8")
    (data_dir / "link.csv").symlink_to(outside)
    with pytest.raises(PathOutsideDataDirError):
        confined(data_dir, "link.csv")


def test_local_source_files_refuse_an_escaping_path(tmp_path):
    files = SourceFiles(data_dir=str(tmp_path))
    with pytest.raises(PathOutsideDataDirError):
        files.fetch("council_register", FileSpec(path="../../etc/passwd"))
    assert files.fetch("x", FileSpec(path="sources/a.csv")) == (tmp_path / "sources/a.csv")


# --------------------------------------------------------------------------------------------
# The production (http) profile, against a local server
# --------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def web_root(tmp_path) -> Iterator[tuple[Path, str]]:
    """A directory served on 127.0.0.1 by a thread, shut down after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_fetch_downloads_into_the_landing_dir_by_hash(tmp_path, web_root):
    root, base = web_root
    payload = b"gss_code,authority\nE06000001,Hartlepool\n"
    (root / "file.csv").write_bytes(payload)
    landing = tmp_path / "landing"
    files = SourceFiles(
        data_dir=str(tmp_path / "data"), mode="http", landing_dir=str(landing), timeout_seconds=10
    )
    spec = FileSpec(path="sources/registers/file.csv", url=f"{base}/file.csv")

    first = files.fetch("section114_notices", spec)
    digest = hashlib.sha256(payload).hexdigest()
    assert first == landing / "section114_notices" / f"{digest[:16]}-file.csv"
    assert first.read_bytes() == payload
    # Fetching the same bytes again lands on the same name; no partial file is left behind.
    assert files.fetch("section114_notices", spec) == first
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]

    # A new version is kept beside the old one.
    (root / "file.csv").write_bytes(payload + b"E06000002,Middlesbrough\n")
    second = files.fetch("section114_notices", spec)
    assert second != first and first.exists() and second.exists()
    assert second.name.endswith("-file.csv")


def test_http_fetch_defaults_the_landing_dir_under_the_data_dir(tmp_path, web_root):
    root, base = web_root
    (root / "NN.json").write_text('{"E06000001": ["E06000001"]}', encoding="utf-8")
    files = SourceFiles(data_dir=str(tmp_path / "data"), mode="http")
    fetched = files.fetch("nearest_neighbours", FileSpec(path="x/NN.json", url=f"{base}/NN.json"))
    assert fetched.parent == tmp_path / "data" / "landing" / "nearest_neighbours"


def test_http_fetch_error_leaves_no_partial_file(tmp_path, web_root):
    _, base = web_root
    landing = tmp_path / "landing"
    files = SourceFiles(data_dir=str(tmp_path), mode="http", landing_dir=str(landing))
    with pytest.raises(urllib.error.HTTPError) as raised:
        files.fetch("s", FileSpec(path="sources/missing.csv", url=f"{base}/missing.csv"))
    assert raised.value.code == 404
    assert list((landing / "s").iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "url", "message"),
    [
        ("http", None, "has no url"),
        ("http", "ftp://example.org/x.csv", "only http"),
        ("http", "file:///etc/passwd", "only http"),
        ("s3", "https://example.org/x.csv", "unknown source mode"),
    ],
)
def test_source_files_refuse_what_they_cannot_fetch(tmp_path, mode, url, message):
    files = SourceFiles(data_dir=str(tmp_path), mode=mode)
    with pytest.raises(ValueError, match=message):
        files.fetch("s", FileSpec(path="sources/x.csv", url=url))


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("EARLY_WARNING_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_local_profile_reads_shipped_files(clean_environment, tmp_path):
    clean_environment.setenv("EARLY_WARNING_DATA_DIR", str(tmp_path))
    settings = Settings.from_environment()
    assert settings.profile == "local"
    assert settings.warehouse_path == tmp_path / "warehouse" / "early_warning.duckdb"
    source_files = resources_for(settings)["source_files"]
    assert source_files.mode == "local" and source_files.data_dir == str(tmp_path)


def test_production_profile_downloads(clean_environment, tmp_path):
    clean_environment.setenv("EARLY_WARNING_PROFILE", "production")
    clean_environment.setenv("EARLY_WARNING_DATA_DIR", str(tmp_path))
    clean_environment.setenv("EARLY_WARNING_WAREHOUSE", str(tmp_path / "w.duckdb"))
    settings = Settings.from_environment()
    chosen = resources_for(settings)
    assert chosen["source_files"].mode == "http"
    assert chosen["source_files"].landing_dir == str(tmp_path / "landing")
    assert chosen["warehouse"].database == str(tmp_path / "w.duckdb")


def test_unknown_profile_is_refused(clean_environment):
    clean_environment.setenv("EARLY_WARNING_PROFILE", "staging")
    with pytest.raises(ValueError, match="staging"):
        Settings.from_environment()
